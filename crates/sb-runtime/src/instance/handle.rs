//! The handle callers use to send the owner commands: cheap to clone, every clone
//! talks to the same owner.

use tokio::sync::{mpsc, oneshot};

use super::{
    AgentAction, AgentDesk, AgentFrame, Answer, ChatStarted, Command, ContactStopped,
    ContactSummary, CustomerEvent, CustomerFrame, NewChat, NewTask, Reply, RuntimeError,
};

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
