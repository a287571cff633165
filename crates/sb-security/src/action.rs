/// Everything a caller can ask Switchboard to do. Each HTTP endpoint (and, later, each
/// socket message) maps to exactly one of these; policies name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    ConfigPlan,
    ConfigApply,
    ConfigRollback,
    ConfigListVersions,
    ConfigGetVersion,
    MetricsRead,
    ApiDescribe,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::ConfigPlan,
        Action::ConfigApply,
        Action::ConfigRollback,
        Action::ConfigListVersions,
        Action::ConfigGetVersion,
        Action::MetricsRead,
        Action::ApiDescribe,
    ];

    /// The name policies and audit records use, `service:Verb`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ConfigPlan => "config:Plan",
            Action::ConfigApply => "config:Apply",
            Action::ConfigRollback => "config:Rollback",
            Action::ConfigListVersions => "config:ListVersions",
            Action::ConfigGetVersion => "config:GetVersion",
            Action::MetricsRead => "metrics:Read",
            Action::ApiDescribe => "api:Describe",
        }
    }

    /// Whether the action changes state (and so is always audited).
    pub fn is_mutating(self) -> bool {
        matches!(self, Action::ConfigApply | Action::ConfigRollback)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
