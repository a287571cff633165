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

    /// Whether this role allows `action`.
    pub fn allows_action(self, action: Action) -> bool {
        self.allows(action)
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
                    | ContactReadTranscript
                    | ContactReadSensitive
                    | MetricsGetCurrent
                    | MetricsGetHistorical
                    | AuthToken
            ),
            Role::Agent => matches!(action, ApiDescribe | AgentConnect | AuthToken),
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
                    | AuthToken
            ),
            Role::Auditor => matches!(
                action,
                ConfigListVersions | ConfigGetVersion | ApiDescribe | AuditRead | AuthToken
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
                    | AuthToken
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
    /// A session policy from a short-lived token: only these actions, even if the
    /// role allows more.
    pub session_actions: Option<Vec<Action>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{principal} (role {role}) is not allowed to perform {action}")]
pub struct Denied {
    pub principal: String,
    pub role: &'static str,
    pub action: &'static str,
}

pub fn authorize(principal: &Principal, action: Action) -> Result<(), Denied> {
    let in_session = principal
        .session_actions
        .as_ref()
        .is_none_or(|allowed| allowed.contains(&action));
    if principal.role.allows(action) && in_session {
        Ok(())
    } else {
        Err(Denied {
            principal: principal.name.clone(),
            role: principal.role.as_str(),
            action: action.as_str(),
        })
    }
}
