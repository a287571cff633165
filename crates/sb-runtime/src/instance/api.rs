//! The owner's commands, and the handle callers use to send them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

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

pub(crate) type Reply<T> = oneshot::Sender<Result<T, RuntimeError>>;

/// The answer to a command handed to the runtime, to wait for later.
pub struct Answer<T>(oneshot::Receiver<Result<T, RuntimeError>>);

impl<T> Answer<T> {
    pub async fn wait(self) -> Result<T, RuntimeError> {
        self.0.await.map_err(|_| RuntimeError::Stopped)?
    }
}

pub enum Command {
    StartChat {
        chat: NewChat,
        reply: Reply<ChatStarted>,
    },
    CreateTask {
        task: NewTask,
        reply: Reply<String>,
    },
    AttachCustomer {
        contact: String,
        token: String,
        after: u64,
        frames: mpsc::Sender<CustomerFrame>,
        reply: Reply<u64>,
    },
    Customer {
        contact: String,
        session: u64,
        event: CustomerEvent,
        reply: Reply<()>,
    },
    DetachCustomer {
        contact: String,
        session: u64,
    },
    AttachAgent {
        user: String,
        frames: mpsc::Sender<AgentFrame>,
        reply: Reply<u64>,
    },
    /// An agent over REST: log in without a socket if needed, optionally act, and
    /// answer with the desk as it is then.
    AgentDesk {
        user: String,
        action: Option<AgentAction>,
        reply: Reply<AgentDesk>,
    },
    Agent {
        user: String,
        action: AgentAction,
        reply: Reply<()>,
    },
    DetachAgent {
        user: String,
        session: u64,
    },
    FunctionDone {
        contact: String,
        epoch: u64,
        result: sb_flow::interpret::FunctionResult,
    },
    ListAgents {
        reply: Reply<Vec<sb_routing::AgentSnapshot>>,
    },
    ListContacts {
        reply: Reply<Vec<ContactSummary>>,
    },
    Explain {
        contact: String,
        reply: Reply<sb_routing::ContactExplanation>,
    },
    SetAgentStatus {
        agent: String,
        status: String,
        /// Who asked (for the log; the audit trail has the request).
        by: String,
        reply: Reply<sb_routing::AgentSnapshot>,
    },
    StopContact {
        contact: String,
        /// Who asked (for the log; the audit trail has the request).
        by: String,
        reply: Reply<ContactStopped>,
    },
    LiveRecord {
        contact: String,
        reply: Reply<sb_model::record::ContactRecord>,
    },
    Tick {
        reply: Reply<()>,
    },
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

/// Cheap to clone; every clone talks to the same owner.
#[derive(Clone)]
pub struct RuntimeHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    /// Set once live contacts are recovered and the owner takes commands.
    pub(crate) ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(crate) committed: tokio::sync::watch::Receiver<u64>,
    pub(crate) log: sb_store::EventLog,
    pub(crate) realtime:
        tokio::sync::watch::Receiver<std::sync::Arc<sb_routing::realtime::RealtimeSnapshot>>,
}

impl RuntimeHandle {
    /// What real-time metrics are computed from; a new snapshot at most every 25 ms
    /// while things change.
    pub fn realtime(
        &self,
    ) -> tokio::sync::watch::Receiver<std::sync::Arc<sb_routing::realtime::RealtimeSnapshot>> {
        self.realtime.clone()
    }

    /// Record `record` in the audit trail; resolves once it is durable and chained.
    pub async fn audit(&self, record: &crate::audit::AuditRecord) -> Result<(), RuntimeError> {
        crate::audit::append(&self.log, record).await.map_err(|e| {
            RuntimeError::Internal(format!("the audit trail could not record this: {e}"))
        })
    }

    /// Events submitted to the log and not yet durable.
    pub fn event_log_pending(&self) -> u64 {
        self.log.pending()
    }

    /// The newest durable event-log position; changes after every commit.
    pub fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.clone()
    }

    /// The newest durable position of an event of `stream`; changes only when one of
    /// its events commits.
    pub fn stream_committed(
        &self,
        stream: sb_store::PublicStream,
    ) -> tokio::sync::watch::Receiver<u64> {
        self.log.stream_committed(stream)
    }

    /// Whether the runtime has recovered and is serving.
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, RuntimeError> {
        self.submit(make).await?.wait().await
    }

    /// Hand a command to the owner now; its answer comes later.
    async fn submit<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<Answer<T>, RuntimeError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| RuntimeError::Stopped)?;
        Ok(Answer(answer))
    }

    pub async fn start_chat(&self, chat: NewChat) -> Result<ChatStarted, RuntimeError> {
        self.ask(|reply| Command::StartChat { chat, reply }).await
    }

    pub async fn create_task(&self, task: NewTask) -> Result<String, RuntimeError> {
        self.ask(|reply| Command::CreateTask { task, reply }).await
    }

    /// Attach a customer socket; missed messages after `after` are replayed first.
    /// Returns the session number to use for the socket's events.
    pub async fn attach_customer(
        &self,
        contact: String,
        token: String,
        after: u64,
        frames: mpsc::Sender<CustomerFrame>,
    ) -> Result<u64, RuntimeError> {
        self.ask(|reply| Command::AttachCustomer {
            contact,
            token,
            after,
            frames,
            reply,
        })
        .await
    }

    pub async fn customer(
        &self,
        contact: String,
        session: u64,
        event: CustomerEvent,
    ) -> Result<(), RuntimeError> {
        self.submit_customer(contact, session, event)
            .await?
            .wait()
            .await
    }

    /// Hand what a customer's socket sent to the owner now, to be answered later: a
    /// socket reads on while earlier messages wait for their commit.
    pub async fn submit_customer(
        &self,
        contact: String,
        session: u64,
        event: CustomerEvent,
    ) -> Result<Answer<()>, RuntimeError> {
        self.submit(|reply| Command::Customer {
            contact,
            session,
            event,
            reply,
        })
        .await
    }

    pub async fn detach_customer(&self, contact: String, session: u64) {
        let _ = self
            .tx
            .send(Command::DetachCustomer { contact, session })
            .await;
    }

    pub async fn attach_agent(
        &self,
        user: String,
        frames: mpsc::Sender<AgentFrame>,
    ) -> Result<u64, RuntimeError> {
        self.ask(|reply| Command::AttachAgent {
            user,
            frames,
            reply,
        })
        .await
    }

    pub async fn agent(&self, user: String, action: AgentAction) -> Result<(), RuntimeError> {
        self.submit_agent(user, action).await?.wait().await
    }

    /// Hand an agent's action to the runtime now and get its answer later, once what it
    /// changed is durable. Actions take effect in the order they are handed in, so a
    /// desktop that sends several at once (`end`, then `complete`) waits for them
    /// together instead of one commit after another.
    pub async fn submit_agent(
        &self,
        user: String,
        action: AgentAction,
    ) -> Result<Answer<()>, RuntimeError> {
        self.submit(|reply| Command::Agent {
            user,
            action,
            reply,
        })
        .await
    }

    /// The agent's desk over REST, after `action` if one is given; logs the agent in
    /// (without a socket) on first use.
    pub async fn agent_desk(
        &self,
        user: String,
        action: Option<AgentAction>,
    ) -> Result<AgentDesk, RuntimeError> {
        self.ask(|reply| Command::AgentDesk {
            user,
            action,
            reply,
        })
        .await
    }

    pub async fn detach_agent(&self, user: String, session: u64) {
        let _ = self.tx.send(Command::DetachAgent { user, session }).await;
    }

    pub async fn list_agents(&self) -> Result<Vec<sb_routing::AgentSnapshot>, RuntimeError> {
        self.ask(|reply| Command::ListAgents { reply }).await
    }

    pub async fn list_contacts(&self) -> Result<Vec<ContactSummary>, RuntimeError> {
        self.ask(|reply| Command::ListContacts { reply }).await
    }

    pub async fn explain(
        &self,
        contact: String,
    ) -> Result<sb_routing::ContactExplanation, RuntimeError> {
        self.ask(|reply| Command::Explain { contact, reply }).await
    }

    /// End a live contact on a supervisor's word (Connect's StopContact); answered once
    /// the end is durable.
    pub async fn stop_contact(
        &self,
        contact: String,
        by: String,
    ) -> Result<ContactStopped, RuntimeError> {
        self.ask(|reply| Command::StopContact { contact, by, reply })
            .await
    }

    /// Set a logged-in agent's status on a supervisor's word (Connect's PutUserStatus);
    /// the agent's state afterwards.
    pub async fn set_agent_status(
        &self,
        agent: String,
        status: String,
        by: String,
    ) -> Result<sb_routing::AgentSnapshot, RuntimeError> {
        self.ask(|reply| Command::SetAgentStatus {
            agent,
            status,
            by,
            reply,
        })
        .await
    }

    /// The record of a contact that has not ended yet.
    pub async fn live_record(
        &self,
        contact: String,
    ) -> Result<sb_model::record::ContactRecord, RuntimeError> {
        self.ask(|reply| Command::LiveRecord { contact, reply })
            .await
    }

    /// Fire every timer due by the runtime's clock now. On the system clock the owner
    /// does this by itself; after moving a test's clock, this makes it look.
    pub async fn tick(&self) -> Result<(), RuntimeError> {
        self.ask(|reply| Command::Tick { reply }).await
    }
}
