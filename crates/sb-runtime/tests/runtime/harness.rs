//! One instance on a temporary data directory, its runtime driven through the handle:
//! start, restart (the owner and the log's writer stopped and started again on the same
//! directory; what was not durable is lost, as in a crash), agents and customers as the
//! runtime sees their sockets.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sb_runtime::instance::{
    AgentAction, AgentFrame, ChatItem, Clock, CustomerEvent, CustomerFrame, NewChat, RuntimeError,
    RuntimeHandle,
};
use sb_runtime::{Deployer, LiveConfig};
use sb_security::envelope::{Kek, Keyring};
use sb_spec::SourceBundle;
use sb_store::{EventLogWriter, SqliteStore, Store};
use serde_json::Value;
use tokio::sync::mpsc;

/// The sample instance, independent of the clock and the network, with carol's
/// after-contact work limited to `carol_acw_seconds`.
pub(crate) fn steady_acme(carol_acw_seconds: u32) -> SourceBundle {
    acme_with(carol_acw_seconds, 600)
}

/// The sample, main menu open around the clock and waiting `menu_seconds` for input.
pub(crate) fn acme_with(carol_acw_seconds: u32, menu_seconds: u32) -> SourceBundle {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    let mut bundle = SourceBundle::read_dir(&dir).unwrap();
    let mut edit = |path: &str, from: &str, to: &str| {
        let text = bundle.text(path).unwrap();
        assert!(text.contains(from), "{path} has no {from}");
        bundle
            .insert(path.into(), text.replacen(from, to, 1).into_bytes())
            .unwrap();
    };
    edit(
        "flows/main-ivr.json",
        "\"HoursOfOperationId\": \"Store Hours\"",
        "\"HoursOfOperationId\": \"Around The Clock\"",
    );
    edit(
        "flows/main-ivr.json",
        "\"InputTimeLimitSeconds\": \"8\"",
        &format!("\"InputTimeLimitSeconds\": \"{menu_seconds}\""),
    );
    edit(
        "functions.yaml",
        "https://crm.acme.example/switchboard/customer-lookup",
        "https://127.0.0.1:9/lookup",
    );
    edit(
        "users.yaml",
        "routing_profile: Billing Specialists\n    after_contact_work_timeout_seconds: 120",
        &format!(
            "routing_profile: Billing Specialists\n    after_contact_work_timeout_seconds: {carol_acw_seconds}"
        ),
    );
    bundle
}

/// One instance's data directory and the runtime running on it.
pub(crate) struct Instance {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) kek: [u8; 32],
    pub(crate) store: Arc<dyn Store>,
    pub(crate) runtime: Option<RuntimeHandle>,
    pub(crate) writer: Option<EventLogWriter>,
    /// The runtime's clock: it stands still until a test moves it, across restarts.
    pub(crate) clock: Clock,
}

impl Instance {
    pub(crate) async fn start(bundle: SourceBundle) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        Deployer::new(store.clone(), LiveConfig::new())
            .apply(&bundle, "erin", None)
            .unwrap();
        let mut instance = Instance {
            dir,
            kek: Kek::generate_secret().unwrap(),
            store,
            runtime: None,
            writer: None,
            clock: Clock::manual(jiff::Timestamp::now().as_millisecond()),
        };
        instance.run().await;
        instance
    }

    /// Start the runtime as `serve` does: the deployed version, the log, the data keys.
    pub(crate) async fn run(&mut self) {
        let keyring = Keyring::new(Kek::from_bytes(&self.kek).unwrap(), vec![]);
        let running = sb_runtime::open::InstanceData::open(self.dir.path())
            .unwrap()
            .start(sb_runtime::open::StartOptions {
                clock: self.clock.clone(),
                ..sb_runtime::open::StartOptions::new(keyring)
            })
            .unwrap();
        assert!(
            running.ready_within(Duration::from_secs(10)).await,
            "the runtime recovered within 10 s"
        );
        self.store = running.data.store;
        self.runtime = Some(running.runtime);
        self.writer = Some(running.writer);
    }

    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        self.run().await;
    }

    /// Stop the owner and the log's writer, as a crash would (what was durable stays).
    async fn stop(&mut self) {
        drop(self.runtime.take());
        let writer = self.writer.take().unwrap();
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .unwrap();
    }

    /// Restart with `bundle` deployed while the runtime was down.
    pub(crate) async fn restart_with(&mut self, bundle: &SourceBundle) {
        self.stop().await;
        Deployer::new(self.store.clone(), LiveConfig::new())
            .apply(bundle, "erin", None)
            .unwrap();
        self.run().await;
    }

    /// Move the runtime's clock on by `ms` and let it fire what came due.
    pub(crate) async fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        self.rt().tick().await.unwrap();
    }

    pub(crate) fn rt(&self) -> &RuntimeHandle {
        self.runtime.as_ref().unwrap()
    }

    /// The agent's socket, as the runtime sees it: its session and its frames.
    pub(crate) async fn agent(&self, user: &str) -> Agent {
        let (tx, frames) = mpsc::channel(1024);
        let session = self.rt().attach_agent(user.into(), tx).await.unwrap();
        Agent {
            user: user.into(),
            session,
            frames,
        }
    }

    /// The agent connected, available, and on the next chat offered to it.
    pub(crate) async fn agent_on_next_chat(&self, user: &str) -> Agent {
        let mut agent = self.agent(user).await;
        self.act(&agent, status("Available")).await.unwrap();
        let contact = offers(&mut agent, 1).await.remove(0);
        self.act(&agent, AgentAction::Accept { contact })
            .await
            .unwrap();
        agent
    }

    pub(crate) async fn act(&self, agent: &Agent, action: AgentAction) -> Result<(), RuntimeError> {
        self.rt().agent(agent.user.clone(), action).await
    }

    /// A chat started as `chat` says, its customer connected, the menu asking.
    pub(crate) async fn chat_at_menu(&self, chat: NewChat) -> (Customer, ChatItem) {
        let started = self.rt().start_chat(chat).await.unwrap();
        let (tx, mut frames) = mpsc::channel(4096);
        let contact = started.contact_id;
        let token = started.participant_token;
        let session = self
            .rt()
            .attach_customer(contact.clone(), token.clone(), 0, tx)
            .await
            .unwrap();
        let CustomerFrame::Message(menu) = next_frame(
            &mut frames,
            |f| matches!(f, CustomerFrame::Message(m) if m.text.contains("For billing, press 3")),
        )
        .await
        else {
            unreachable!()
        };
        let customer = Customer {
            contact,
            token,
            session,
            frames,
        };
        (customer, menu)
    }

    /// A chat through the menu's billing choice: in the Billing queue.
    pub(crate) async fn chat_to_billing(&self, name: &str) -> Customer {
        let chat = NewChat {
            display_name: name.into(),
            ..Default::default()
        };
        let (customer, _) = self.chat_at_menu(chat).await;
        self.say(&customer, "3").await.unwrap();
        self.wait_for_stage(&customer.contact, "queued").await;
        customer
    }

    pub(crate) async fn say(&self, customer: &Customer, text: &str) -> Result<(), RuntimeError> {
        self.rt()
            .customer(
                customer.contact.clone(),
                customer.session,
                CustomerEvent::Message { text: text.into() },
            )
            .await
    }

    pub(crate) async fn stage(&self, contact: &str) -> Option<(String, Option<usize>)> {
        let live = self.rt().list_contacts().await.unwrap();
        live.into_iter()
            .find(|c| c.contact_id == contact)
            .map(|c| (c.stage, c.position.map(|p| p.position)))
    }

    pub(crate) async fn wait_for_stage(&self, contact: &str, stage: &str) {
        for _ in 0..1_000 {
            if self.stage(contact).await.is_some_and(|(s, _)| s == stage) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{contact} never reached {stage}: {:?}",
            self.stage(contact).await
        );
    }

    /// The stored record, once it has what `done` asks for.
    pub(crate) async fn record(&self, contact: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..1_000 {
            if let Some(text) = self.store.contact_record(contact).unwrap() {
                let record: Value = serde_json::from_str(&text).unwrap();
                if done(&record) {
                    return record;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the record of {contact} never got there: {:?}",
            self.store.contact_record(contact)
        );
    }
}

pub(crate) struct Agent {
    pub(crate) user: String,
    pub(crate) session: u64,
    pub(crate) frames: mpsc::Receiver<AgentFrame>,
}

pub(crate) struct Customer {
    pub(crate) contact: String,
    pub(crate) token: String,
    pub(crate) session: u64,
    pub(crate) frames: mpsc::Receiver<CustomerFrame>,
}

/// The next frame that `want`s, skipping others; within 10 s.
pub(crate) async fn next_frame<F>(frames: &mut mpsc::Receiver<F>, want: impl Fn(&F) -> bool) -> F {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, frames.recv())
            .await
            .expect("the frame within 10 s")
            .expect("the runtime is running");
        if want(&frame) {
            return frame;
        }
    }
}

/// The contacts of the next `n` offers, in the order they came.
pub(crate) async fn offers(agent: &mut Agent, n: usize) -> Vec<String> {
    let mut offered = Vec::new();
    while offered.len() < n {
        if let AgentFrame::Offer { contact, .. } =
            next_frame(&mut agent.frames, |f| matches!(f, AgentFrame::Offer { .. })).await
        {
            offered.push(contact);
        }
    }
    offered
}

pub(crate) fn status(status: &str) -> AgentAction {
    AgentAction::SetStatus {
        status: status.into(),
    }
}
