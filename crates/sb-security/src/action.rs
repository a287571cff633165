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
    ChatStart,
    TaskCreate,
    AgentConnect,
    AgentList,
    ContactRead,
    RoutingExplain,
    StreamRead,
    StreamCheckpoint,
    MetricsGetCurrent,
    MetricsGetHistorical,
    QueryRun,
    AuditRead,
    AuthToken,
    ContactReadTranscript,
    ContactReadSensitive,
    PrivacyExport,
    PrivacyErase,
    ContactStop,
    AgentSetStatus,
}

impl Action {
    pub const ALL: [Action; 26] = [
        Action::ConfigPlan,
        Action::ConfigApply,
        Action::ConfigRollback,
        Action::ConfigListVersions,
        Action::ConfigGetVersion,
        Action::MetricsRead,
        Action::ApiDescribe,
        Action::ChatStart,
        Action::TaskCreate,
        Action::AgentConnect,
        Action::AgentList,
        Action::ContactRead,
        Action::RoutingExplain,
        Action::StreamRead,
        Action::StreamCheckpoint,
        Action::MetricsGetCurrent,
        Action::MetricsGetHistorical,
        Action::QueryRun,
        Action::AuditRead,
        Action::AuthToken,
        Action::ContactReadTranscript,
        Action::ContactReadSensitive,
        Action::PrivacyExport,
        Action::PrivacyErase,
        Action::ContactStop,
        Action::AgentSetStatus,
    ];

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

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
            Action::ChatStart => "chat:Start",
            Action::TaskCreate => "task:Create",
            Action::AgentConnect => "agent:Connect",
            Action::AgentList => "agent:List",
            Action::ContactRead => "contact:Read",
            Action::RoutingExplain => "routing:Explain",
            Action::StreamRead => "stream:Read",
            Action::StreamCheckpoint => "stream:Checkpoint",
            Action::MetricsGetCurrent => "metrics:GetCurrent",
            Action::MetricsGetHistorical => "metrics:GetHistorical",
            Action::QueryRun => "query:Run",
            Action::AuditRead => "audit:Read",
            Action::AuthToken => "auth:GetToken",
            Action::ContactReadTranscript => "contact:ReadTranscript",
            Action::ContactReadSensitive => "contact:ReadSensitive",
            Action::PrivacyExport => "privacy:Export",
            Action::PrivacyErase => "privacy:Erase",
            Action::ContactStop => "contact:Stop",
            Action::AgentSetStatus => "agent:SetStatus",
        }
    }

    /// The part before the colon: `contact` for `contact:Read`.
    pub fn service(self) -> &'static str {
        self.as_str().split(':').next().unwrap_or_default()
    }

    /// Whether the action reads what regulations treat as sensitive (transcripts,
    /// records, SQL over them, the audit trail itself), and so is always audited.
    pub fn is_sensitive_read(self) -> bool {
        matches!(
            self,
            Action::ContactRead
                | Action::QueryRun
                | Action::AuditRead
                | Action::StreamRead
                | Action::ContactReadTranscript
                | Action::ContactReadSensitive
                | Action::PrivacyExport
        )
    }

    /// Whether the action changes state (and so is always audited).
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Action::ConfigApply
                | Action::ConfigRollback
                | Action::ChatStart
                | Action::TaskCreate
                | Action::StreamCheckpoint
                | Action::AuthToken
                | Action::PrivacyErase
                | Action::ContactStop
                | Action::AgentSetStatus
        )
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
