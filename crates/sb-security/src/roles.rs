//! Built-in roles and what each may do: deny by default, allow only what the job needs.

use std::sync::{Arc, OnceLock};

use crate::policy::{Decision, Policy, RequestContext};
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
                    | ContactReadTranscript
                    | ContactReadSensitive
                    | MetricsGetCurrent
                    | MetricsGetHistorical
                    | AuthToken
                    | ContactStop
                    | AgentSetStatus
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
            // The audit trail and nothing else (configuration changes are in it).
            Role::Auditor => matches!(action, ApiDescribe | AuditRead | AuthToken),
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

/// The policies of the built-in roles, compiled once.
fn built_in_policies() -> &'static [(Role, Arc<Policy>)] {
    static POLICIES: OnceLock<Vec<(Role, Arc<Policy>)>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        Role::ALL
            .into_iter()
            .map(|r| {
                let actions = Action::ALL.into_iter().filter(move |&a| r.allows(a));
                (r, Arc::new(Policy::allowing(actions)))
            })
            .collect()
    })
}

impl Role {
    /// This built-in role as a policy: one unconditional allow of its actions.
    pub fn policy(self) -> Arc<Policy> {
        built_in_policies()
            .iter()
            .find(|(r, _)| *r == self)
            .map(|(_, p)| p.clone())
            .expect("every built-in role has a policy")
    }
}

/// A role a caller acts in: its name and its compiled policy (built-in or from the
/// instance spec).
#[derive(Debug, Clone)]
pub struct RoleGrant {
    pub name: String,
    pub policy: Arc<Policy>,
}

impl RoleGrant {
    pub fn built_in(role: Role) -> RoleGrant {
        RoleGrant {
            name: role.as_str().into(),
            policy: role.policy(),
        }
    }
}

/// Who is calling, once their credential checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The credential id (`K…`) or user name.
    pub id: String,
    /// The user (or integration) the credential belongs to, e.g. `alice`.
    pub user: String,
    /// A human-readable name for logs and the version history.
    pub name: String,
    pub role: RoleGrant,
    /// When a token assumed another role, the role of the credential it came from:
    /// a request must be allowed by both, so assuming a role never lifts a condition.
    pub assumed_from: Option<RoleGrant>,
    /// A session policy from a short-lived token: only these actions, even if the
    /// role allows more.
    pub session_actions: Option<Vec<Action>>,
    /// Signed in with a second factor (a token from a sign-in with TOTP).
    pub mfa_present: bool,
    /// For a short-lived token's holder: the session it belongs to, which bounds every
    /// token exchanged from it. `None` for an API key.
    pub session: Option<Session>,
}

/// The bounds a token carries to the tokens exchanged from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Unix seconds; an exchanged token never outlives it.
    pub expires_at: i64,
    /// Unix seconds: when the holder signed in (or the API key was exchanged), kept
    /// through every exchange.
    pub authenticated_at: i64,
    /// The user's session epoch the sign-in was made in (0 for API keys).
    pub epoch: u64,
}

impl Principal {
    /// Whether some request could be allowed `action` (conditions aside).
    pub fn may_ever(&self, action: Action) -> bool {
        self.role.policy.may_ever(action)
            && self
                .assumed_from
                .as_ref()
                .is_none_or(|r| r.policy.may_ever(action))
            && self
                .session_actions
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&action))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{principal} (role {role}) is not allowed to perform {action}{why}")]
pub struct Denied {
    pub principal: String,
    pub role: String,
    pub action: &'static str,
    /// Why, when it is more than "nothing allows it".
    pub why: String,
}

/// Decide `action` for `principal` in `context`: the role's policy (deny beats allow,
/// nothing by default), then the token's session policy, which only narrows.
pub fn authorize(
    principal: &Principal,
    action: Action,
    context: &RequestContext,
) -> Result<(), Denied> {
    let in_session = principal
        .session_actions
        .as_ref()
        .is_none_or(|allowed| allowed.contains(&action));
    let decision = match principal.role.policy.decide(action, context) {
        Decision::Allowed => match &principal.assumed_from {
            Some(base) => base.policy.decide(action, context),
            None => Decision::Allowed,
        },
        other => other,
    };
    let why = match (&decision, in_session) {
        (Decision::Allowed, true) => return Ok(()),
        (Decision::DeniedBy(i), _) => format!(
            " on {}: explicitly denied by statement {i} of the role",
            context.resource
        ),
        (Decision::Allowed, false) => ": the token's session policy leaves it out".into(),
        (Decision::NotAllowed, _) if principal.may_ever(action) => format!(
            " on {} here and now: the role allows it only under conditions not met (resource, second factor, source address or time)",
            context.resource
        ),
        (Decision::NotAllowed, _) => String::new(),
    };
    Err(Denied {
        principal: principal.name.clone(),
        role: principal.role.name.clone(),
        action: action.as_str(),
        why,
    })
}
