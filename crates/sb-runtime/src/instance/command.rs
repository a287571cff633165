//! The owner's commands, each with the reply its caller waits on.

use tokio::sync::{mpsc, oneshot};

use super::{
    AgentAction, AgentDesk, AgentFrame, ChatStarted, ContactStopped, ContactSummary, CustomerEvent,
    CustomerFrame, NewChat, NewTask, RuntimeError,
};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, RuntimeError>>;

/// The answer to a command handed to the runtime, to wait for later.
pub struct Answer<T>(pub(super) oneshot::Receiver<Result<T, RuntimeError>>);

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
