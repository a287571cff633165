use sb_model::Channel;
use serde::{Deserialize, Serialize};

/// Milliseconds on the caller's clock (e.g. since the Unix epoch). Only differences matter.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum AgentStatus {
    /// Takes contacts (Connect's "Available"), under the name the spec gives it: a spec
    /// may define several routable statuses, and a supervisor must see which is set.
    Routable(String),
    /// A non-productive status such as Break or Lunch.
    Custom(String),
    Offline,
}

impl AgentStatus {
    /// Connect's default routable status, "Available".
    pub fn available() -> Self {
        AgentStatus::Routable("Available".into())
    }

    /// The status's name from the spec (`Offline` for the built-in offline status).
    pub fn name(&self) -> &str {
        match self {
            AgentStatus::Routable(name) | AgentStatus::Custom(name) => name,
            AgentStatus::Offline => "Offline",
        }
    }

    /// Whether this status takes contacts, whatever its name.
    pub fn is_routable(&self) -> bool {
        matches!(self, AgentStatus::Routable(_))
    }
}

/// The agent's state as routing sees it, for agent events and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    pub agent: String,
    pub status: AgentStatus,
    /// A status to apply once the agent's contacts are done.
    pub next_status: Option<AgentStatus>,
    /// Missed an offer: not routable until the agent sets a status again.
    pub missed: bool,
    pub contacts: Vec<AgentContact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentContact {
    pub contact: String,
    pub channel: Channel,
    pub state: SlotState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    Offered,
    Connected,
    AfterContactWork,
}

/// Why a contact left its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DequeueReason {
    ConnectedToAgent,
    /// The customer left before an agent connected.
    Abandoned,
    /// Moved to another queue.
    Transferred,
    /// A queued callback used up its attempts.
    Expired,
}

/// Options for a contact entering a queue, as the flow set them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnqueueOptions {
    /// Lower is served first; Connect's default is 5.
    pub priority: Option<u32>,
    /// Pretend the contact arrived this much earlier (positive) or later.
    pub time_adjustment_seconds: i64,
    pub criteria: Option<crate::RoutingCriteria>,
    /// A queued callback: not offered before this time.
    pub not_before: Option<Millis>,
    /// A queued callback: attempts to make, and the gap between them.
    pub callback: Option<CallbackPolicy>,
    /// Time already spent in this line (a contact coming back after a restart): it
    /// keeps its place, and the routing profiles' queue delays count it.
    #[serde(default)]
    pub waited_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackPolicy {
    pub attempts_left: u32,
    pub retry_gap_ms: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Output {
    /// Reserve `agent` for `contact`; the agent has until `expires_at` to accept.
    Offer {
        contact: String,
        agent: String,
        queue: String,
        channel: Channel,
        expires_at: Millis,
    },
    /// An offer no longer stands (missed, rejected, the contact left, the agent went away).
    OfferWithdrawn {
        contact: String,
        agent: String,
        reason: WithdrawReason,
    },
    AgentChanged {
        snapshot: AgentSnapshot,
    },
    Dequeued {
        contact: String,
        queue: String,
        reason: DequeueReason,
    },
    /// A queued callback is due: dial the customer (the contact is offered to agents
    /// from here on as usual).
    CallbackDue {
        contact: String,
        queue: String,
    },
    /// After-contact work ended by its timeout.
    AfterContactWorkTimedOut {
        contact: String,
        agent: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    Missed,
    Rejected,
    ContactLeft,
    AgentUnavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("unknown agent '{0}'")]
    UnknownAgent(String),
    #[error("unknown contact '{0}'")]
    UnknownContact(String),
    #[error("unknown queue '{0}'")]
    UnknownQueue(String),
    #[error("unknown routing profile '{0}'")]
    UnknownProfile(String),
    #[error("contact '{0}' is already routed")]
    DuplicateContact(String),
    #[error("contact '{0}' is not waiting in line (an agent has it, or it is offered)")]
    NotWaiting(String),
    #[error("agent '{0}' is already logged in")]
    AlreadyLoggedIn(String),
    #[error("queue '{queue}' is at capacity ({max} contacts)")]
    QueueAtCapacity { queue: String, max: u32 },
    #[error("queue '{0}' is being removed and takes no new contacts")]
    QueueDraining(String),
    #[error("agent '{agent}' has no offer for contact '{contact}' (withdrawn, or never made)")]
    NoSuchOffer { agent: String, contact: String },
    #[error("contact '{contact}' is not connected to agent '{agent}'")]
    NotConnected { agent: String, contact: String },
    #[error("agent '{0}' still has contacts; end them before logging out")]
    AgentBusy(String),
    #[error("unknown status '{0}': not one of the instance's agent statuses")]
    UnknownStatus(String),
    #[error("the configuration is invalid: {0}")]
    InvalidConfig(String),
}
