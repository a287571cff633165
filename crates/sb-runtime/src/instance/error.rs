//! What the owner answers when it cannot do what was asked.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("no configuration is deployed yet")]
    NotReady,
    #[error("unknown flow '{0}'")]
    UnknownFlow(String),
    #[error("flow '{0}' is not a contact flow")]
    NotAContactFlow(String),
    #[error("unknown or ended contact '{0}'")]
    UnknownContact(String),
    #[error("the participant token is not valid for this contact")]
    BadToken,
    #[error("message of {len} characters is over the limit of {max}")]
    MessageTooLong { len: usize, max: usize },
    #[error("too many messages: at most {per_second} per second")]
    RateLimited { per_second: u32 },
    #[error("'{0}' is not an agent of this instance (a user with a routing profile)")]
    NotAnAgent(String),
    #[error("unknown agent status '{0}'")]
    UnknownStatus(String),
    #[error("agent '{0}' is not logged in; a status is set for an agent who is")]
    NotLoggedIn(String),
    #[error("no agent named '{0}' in the deployed spec (a user with a routing profile)")]
    UnknownAgent(String),
    /// What the routing engine refused, with its kind kept.
    #[error("{0}")]
    Routing(#[from] sb_routing::RoutingError),
    /// The caller's mistake: what it asked for cannot be done as asked.
    #[error("{0}")]
    Invalid(String),
    /// The server's own failure (storage, randomness): nothing the caller can change,
    /// so never answered as a client error.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the runtime has stopped")]
    Stopped,
}
