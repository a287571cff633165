//! The instance owner: one task owns every live contact, the routing engine and the
//! agent sessions, and is fed by a command channel. Handlers send a command and await
//! the reply; nothing on this path takes a lock.
//!
//! Every state change becomes an event in the log. Replies, socket frames and function
//! calls are released only after the events that caused them are durable, in the order
//! they were produced (see [`outbox`]).

mod agent_audit;
mod agent_feed;
mod agent_status;
mod agents;
mod api;
mod callbacks;
mod clock;
mod contact_events;
mod contacts;
mod criteria;
mod dispatch;
mod env;
mod outbox;
mod realtime;
mod recovery;
mod supervisor;
mod transfer;
mod unheard;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sb_routing::realtime::RealtimeSnapshot;
use sb_routing::{Engine, RoutingConfig};
use sb_store::{EventLog, Store};
use tokio::sync::mpsc;

pub use api::*;
pub use clock::Clock;

use crate::functions::FunctionInvoker;
use crate::live::{DeployedConfig, LiveConfig};
use crate::vault::Vault;
use contacts::LiveContact;
use outbox::Outbox;

/// Commands waiting are handled in batches of at most this many before a flush.
const BATCH: usize = 256;

pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

struct AgentSession {
    frames: Option<mpsc::Sender<AgentFrame>>,
    session: u64,
    /// The agent event stream's last word on the agent was LOGIN, not LOGOUT.
    logged_in: bool,
}

pub(crate) struct Owner {
    live: LiveConfig,
    config: Option<Arc<DeployedConfig>>,
    engine: Engine,
    invoker: Option<FunctionInvoker>,
    function_ca: Option<Vec<u8>>,
    contacts: HashMap<String, LiveContact>,
    agents: HashMap<String, AgentSession>,
    /// Finished contacts of chats that were transferred → the contact the chat went on
    /// to, so a customer reconnecting with an old id finds the conversation.
    chat_aliases: HashMap<String, String>,
    /// Chats that ended before their customer connected (see `unheard`).
    unheard: unheard::UnheardEndings,
    /// Chats whose customer has no socket open, since when (see `customer_absent`).
    customer_absent_since: HashMap<String, i64>,
    /// Flow timers: (deadline ms, timer id, contact).
    timers: BTreeSet<(i64, u64, String)>,
    next_id: u64,
    outbox: Outbox,
    commands: mpsc::WeakSender<Command>,
    /// Contacts changed since the last flush; their state goes to the `live` stream.
    dirty: BTreeSet<String>,
    /// Queues whose line moved since the last flush: their chat customers hear where
    /// they stand now.
    moved: BTreeSet<String>,
    /// When positions may next be pushed.
    positions_due: i64,
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    realtime: Arc<tokio::sync::watch::Sender<Arc<RealtimeSnapshot>>>,
    /// Something changed since the last real-time snapshot.
    realtime_dirty: bool,
    realtime_due: i64,
    realtime_generation: u64,
    /// When the first change not yet in a published snapshot happened.
    realtime_changed_at: i64,
    agent_feeds: agent_feed::AgentFeeds,
    /// Agents that changed since the last STATE_CHANGE window, and when it ends.
    agent_feed_dirty: BTreeSet<String>,
    agent_feed_due: i64,
    /// The newest state of each agent that changed in this turn, sent at its end.
    agent_states_due: std::collections::BTreeMap<String, sb_routing::AgentSnapshot>,
    heartbeat_due: i64,
    statuses: agent_status::Statuses,
    clock: Clock,
    /// Contacts that joined a line so far (see `LiveContact::line_order`).
    arrivals: u64,
}

/// Start the owner for an instance on `clock` (the system's, or a test's to move time
/// along). It runs until every handle is dropped. Only [`crate::open`] calls this: an
/// instance is put together in one place.
pub(crate) fn start_with_clock(
    live: LiveConfig,
    store: Arc<dyn Store>,
    log: EventLog,
    vault: Arc<Vault>,
    function_ca: Option<Vec<u8>>,
    clock: Clock,
) -> RuntimeHandle {
    let (tx, rx) = mpsc::channel(4096);
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let committed = log.committed();
    let log_pending = log.pending();
    let audit_log = log.clone();
    crate::retention::spawn(live.clone(), store.clone());
    let (realtime, realtime_rx) =
        tokio::sync::watch::channel(Arc::new(RealtimeSnapshot::default()));
    let empty = RoutingConfig {
        queues: vec![],
        profiles: vec![],
        offer_timeout_ms: [20_000; 3],
        agent_queue_limit: 10,
        custom_statuses: vec![],
    };
    let owner = Owner {
        live,
        config: None,
        engine: Engine::new(empty).expect("an empty configuration is valid"),
        invoker: None,
        function_ca,
        contacts: HashMap::new(),
        agents: HashMap::new(),
        chat_aliases: HashMap::new(),
        unheard: Default::default(),
        customer_absent_since: HashMap::new(),
        timers: BTreeSet::new(),
        next_id: 0,
        outbox: Outbox::start(log),
        commands: tx.downgrade(),
        dirty: BTreeSet::new(),
        moved: BTreeSet::new(),
        positions_due: 0,
        store,
        vault,
        ready: ready.clone(),
        realtime: Arc::new(realtime),
        realtime_dirty: true,
        realtime_due: 0,
        realtime_generation: 0,
        realtime_changed_at: 0,
        agent_feeds: Default::default(),
        agent_feed_dirty: BTreeSet::new(),
        agent_feed_due: 0,
        agent_states_due: Default::default(),
        heartbeat_due: 0,
        statuses: Default::default(),
        clock,
        arrivals: 0,
    };
    tokio::spawn(owner.run(rx));
    RuntimeHandle {
        tx,
        ready,
        committed,
        log_pending,
        log: audit_log,
        realtime: realtime_rx,
    }
}

impl Owner {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut config_changes = self.live.subscribe();
        self.take_config();
        self.recover().await;
        self.flush_agent_changes(true);
        self.persist_dirty();
        self.send_agent_states();
        self.outbox.flush();
        self.ready.store(true, std::sync::atomic::Ordering::Release);
        loop {
            let deadline = self.next_deadline();
            let sleep = async {
                match deadline {
                    Some(ms) => {
                        let wait = (ms - self.clock.now_ms()).max(0) as u64;
                        tokio::time::sleep(std::time::Duration::from_millis(wait)).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = rx.recv() => match command {
                    Some(command) => {
                        self.mark_realtime_changed();
                        self.handle(command);
                        for _ in 1..BATCH {
                            match rx.try_recv() {
                                Ok(more) => self.handle(more),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                () = sleep => self.fire_due(),
                Ok(()) = config_changes.changed() => {
                    self.mark_realtime_changed();
                    self.take_config()
                }
            }
            self.flush_agent_changes(false);
            self.persist_dirty();
            self.push_positions();
            self.heartbeats();
            self.publish_realtime();
            // Last: everything above may change an agent.
            self.send_agent_states();
            self.outbox.flush();
        }
    }

    fn next_deadline(&self) -> Option<i64> {
        let flow = self.timers.first().map(|t| t.0);
        let routing = self.engine.next_timer();
        // Positions held back by the once-a-second limit still go out.
        let positions = (!self.moved.is_empty()).then_some(self.positions_due);
        [
            flow,
            routing,
            positions,
            self.realtime_deadline(),
            self.heartbeat_deadline(),
            self.agent_feed_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn fire_due(&mut self) {
        let now = self.clock.now_ms();
        // Waking only to publish a snapshot or positions changes nothing routing sees.
        if self.engine.next_timer().is_some_and(|t| t <= now)
            || self.timers.first().is_some_and(|t| t.0 <= now)
        {
            self.mark_realtime_changed();
        }
        self.engine.tick(now);
        self.route();
        while let Some(first) = self.timers.first().cloned() {
            if first.0 > now {
                break;
            }
            self.timers.pop_first();
            self.flow_timer_fired(&first.2, first.1);
        }
    }

    /// A new configuration version: routing follows it at once; contacts keep the
    /// version they started on.
    fn take_config(&mut self) {
        let Some(config) = self.live.current() else {
            return;
        };
        if self
            .config
            .as_ref()
            .is_some_and(|c| c.version == config.version)
        {
            return;
        }
        let spec = &config.spec;
        let routing = RoutingConfig::from_model(
            spec.queues.values(),
            spec.routing_profiles.values(),
            spec.agent_statuses.values(),
        );
        if let Err(e) = self.engine.reconfigure(self.clock.now_ms(), routing) {
            tracing::error!(error = %e, version = config.version, "routing cannot take the new configuration; keeping the old one");
            return;
        }
        match FunctionInvoker::new(spec.functions.values(), self.function_ca.as_deref()) {
            Ok(invoker) => self.invoker = Some(invoker),
            Err(e) => tracing::error!(error = %e, "cannot set up external functions"),
        }
        tracing::info!(version = config.version, "runtime on configuration version");
        self.config = Some(config);
        self.route();
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}
