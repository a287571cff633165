//! Built-in roles and what each may do: deny by default, allow only what the job needs.

use crate::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
    Analyst,
    Auditor,
    Integration,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Supervisor,
        Role::Agent,
        Role::Analyst,
        Role::Auditor,
        Role::Integration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Supervisor => "Supervisor",
            Role::Agent => "Agent",
            Role::Analyst => "Analyst",
            Role::Auditor => "Auditor",
            Role::Integration => "Integration",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The actions this role allows. Anything not listed is denied.
    fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Admin => true,
            Role::Supervisor => matches!(
                action,
                ConfigPlan
                    | ConfigListVersions
                    | ConfigGetVersion
                    | MetricsRead
                    | ApiDescribe
                    | AgentConnect
                    | ContactRead
                    | RoutingExplain
                    | AgentList
                    | MetricsGetCurrent
                    | MetricsGetHistorical
            ),
            Role::Agent => matches!(action, ApiDescribe | AgentConnect),
            Role::Analyst => matches!(
                action,
                MetricsRead
                    | ApiDescribe
                    | ContactRead
                    | StreamRead
                    | StreamCheckpoint
                    | MetricsGetCurrent
                    | MetricsGetHistorical
                    | QueryRun
            ),
            Role::Auditor => matches!(
                action,
                ConfigListVersions | ConfigGetVersion | ApiDescribe | AuditRead
            ),
            // A CI/CD pipeline plans and reads history; deploying takes an Admin key.
            // Data pipelines and wallboards consume streams and metrics.
            Role::Integration => matches!(
                action,
                ConfigPlan
                    | ConfigListVersions
                    | ConfigGetVersion
                    | ApiDescribe
                    | ChatStart
                    | TaskCreate
                    | StreamRead
                    | StreamCheckpoint
                    | MetricsGetCurrent
                    | MetricsGetHistorical
            ),
        }
    }
}

/// Who is calling, once their credential checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The credential id (`K…`) or user name.
    pub id: String,
    /// The user (or integration) the credential belongs to, e.g. `alice`.
    pub user: String,
    /// A human-readable name for logs and the version history.
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{principal} (role {role}) is not allowed to perform {action}")]
pub struct Denied {
    pub principal: String,
    pub role: &'static str,
    pub action: &'static str,
}

pub fn authorize(principal: &Principal, action: Action) -> Result<(), Denied> {
    if principal.role.allows(action) {
        Ok(())
    } else {
        Err(Denied {
            principal: principal.name.clone(),
            role: principal.role.as_str(),
            action: action.as_str(),
        })
    }
}
