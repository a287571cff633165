//! What goes into the owner and comes out of it: new contacts, chat lines, what a
//! customer's and an agent's sockets send and are sent, the desk, contact summaries.
//! These are the runtime's types; the API gives each its wire shape (`sb-api`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A new chat's contact and the customer's credential for it.
#[derive(Debug, Clone)]
pub struct ChatStarted {
    pub contact_id: String,
    /// Good for this contact only, while it lasts. Shown once.
    pub participant_token: String,
}

#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub name: String,
    pub description: String,
    pub references: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
    /// A flow by name (default: the instance's inbound flow).
    pub flow: Option<String>,
    /// Start no earlier than this (RFC 3339).
    pub scheduled_at: Option<String>,
    /// The customer the task is about, if known (sealed at rest; how privacy export
    /// and erasure find it).
    pub customer_endpoint: Option<sb_model::record::Endpoint>,
}

/// A chat to start.
#[derive(Debug, Clone, Default)]
pub struct NewChat {
    /// A contact flow by name (default: the instance's inbound flow).
    pub flow: Option<String>,
    pub display_name: String,
    pub attributes: BTreeMap<String, String>,
    pub customer_endpoint: Option<sb_model::record::Endpoint>,
}

/// Who said a line of a chat: the customer, the agent, or the instance itself (what a
/// flow says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChatSender {
    Customer,
    Agent,
    System,
}

impl ChatSender {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatSender::Customer => "CUSTOMER",
            ChatSender::Agent => "AGENT",
            ChatSender::System => "SYSTEM",
        }
    }
}

/// One line of a chat transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatItem {
    pub seq: u64,
    /// CUSTOMER, AGENT or SYSTEM.
    pub from: ChatSender,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub text: String,
    /// RFC 3339.
    pub at: String,
}

/// What the server sends a customer's chat socket.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerFrame {
    Message(ChatItem),
    /// Where the customer stands in line, sent when it changes.
    Position {
        position: usize,
        /// `null` while no agent is staffed for the queue: the wait is unknown.
        estimated_wait_seconds: Option<i64>,
    },
    Typing {
        from: ChatSender,
    },
    Read {
        seq: u64,
    },
    Error {
        code: String,
        message: String,
    },
    /// An agent transferred the chat: it goes on as this contact (the socket stays; use
    /// this id to reconnect).
    Transferred {
        contact: String,
    },
    Ended,
}

/// What a customer's chat socket sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerEvent {
    Message { text: String },
    Typing,
    Read { seq: u64 },
    Disconnect,
}

/// What an agent's socket sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAction {
    /// A status by its name in the spec (e.g. Available, Break, Offline).
    SetStatus {
        status: String,
    },
    Accept {
        contact: String,
    },
    Reject {
        contact: String,
    },
    Message {
        contact: String,
        text: String,
    },
    Typing {
        contact: String,
    },
    /// The agent has read the chat up to line `seq`; the customer is told.
    Read {
        contact: String,
        seq: u64,
    },
    SetAttributes {
        contact: String,
        attributes: BTreeMap<String, String>,
    },
    /// End the conversation (after-contact work starts).
    End {
        contact: String,
    },
    /// After-contact work is done.
    Complete {
        contact: String,
    },
    /// The call of a queued callback did not reach the customer: the agent is free at
    /// once, and the callback is tried again after its retry gap (or ends when no
    /// attempts are left).
    CallbackFailed {
        contact: String,
    },
    /// Hand the contact on: to a queue, an agent, or a quick connect (exactly one).
    Transfer {
        contact: String,
        queue: Option<String>,
        agent: Option<String>,
        quick_connect: Option<String>,
    },
    Heartbeat,
}

/// What the server sends an agent's socket.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentFrame {
    State {
        snapshot: sb_routing::AgentSnapshot,
    },
    Offer {
        contact: String,
        channel: sb_model::Channel,
        queue: String,
        expires_at: i64,
        attributes: BTreeMap<String, String>,
        customer: Option<String>,
        /// For a queued callback: the number to call.
        callback_number: Option<String>,
    },
    OfferWithdrawn {
        contact: String,
        reason: sb_routing::WithdrawReason,
    },
    /// The agent is connected to the contact; everything said so far.
    Connected {
        contact: String,
        transcript: Vec<ChatItem>,
    },
    Message {
        contact: String,
        item: ChatItem,
    },
    Typing {
        contact: String,
    },
    /// The customer has read the chat up to line `seq`.
    Read {
        contact: String,
        seq: u64,
    },
    ContactEnded {
        contact: String,
    },
    Error {
        code: String,
        message: String,
    },
    Ok,
}

/// What an agent sees, for scripts using the REST equivalent of the agent socket (the
/// API gives it its wire shape, `sb-api/src/wire.rs`).
#[derive(Debug, Clone)]
pub struct AgentDesk {
    pub snapshot: sb_routing::AgentSnapshot,
    /// Contacts offered to, connected to, or in after-contact work with the agent.
    pub contacts: Vec<DeskContact>,
}

#[derive(Debug, Clone)]
pub struct DeskContact {
    pub contact: String,
    pub channel: sb_model::Channel,
    /// `offered`, `connected` or `after_contact_work`.
    pub stage: String,
    pub queue: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub customer: Option<String>,
    /// The conversation so far (connected chats).
    pub transcript: Vec<ChatItem>,
}

/// A live contact, for supervisors (its wire shape is the API's, `sb-api/src/wire.rs`).
#[derive(Debug, Clone)]
pub struct ContactSummary {
    pub contact_id: String,
    pub channel: sb_model::Channel,
    pub stage: String,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub position: Option<sb_routing::QueuePosition>,
}

/// A contact a supervisor stopped: the stage it was in and the one it is in now
/// (`ended`, or `after_contact_work` with its agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactStopped {
    pub contact_id: String,
    pub was: String,
    pub now: String,
}
