//! The owner's driver: the thin tokio part around the state machine. It owns the
//! command channel, the clock, the event log and the configuration watch; it gives
//! the owner the time, calls it, collects what it decided, appends the turn's events
//! and hands everything else to the [`dispatcher`](super::dispatcher), which releases
//! it only once those events are durable. That hand-over is the one place where "no
//! effect before its cause is durable" is kept: an effect has no other way out.
//!
//! A turn is up to [`BATCH`] waiting commands (or a timer, or a new configuration),
//! then the owner's end-of-turn work, then one append.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sb_routing::realtime::RealtimeSnapshot;
use sb_store::{EventLog, NewEvent, Store};
use tokio::sync::{mpsc, oneshot};

use super::dispatcher::{Batch, Release, Sink};
use super::output::{EndpointId, Output};
use super::{Clock, Command, Owner, Reply, RuntimeError, RuntimeHandle};
use crate::functions::FunctionInvoker;
use crate::live::LiveConfig;
use crate::vault::Vault;

/// Commands waiting are handled in turns of at most this many before an append.
const BATCH: usize = 256;

/// Commands waiting for the owner, at most; a caller beyond waits to send.
const COMMAND_QUEUE: usize = 4096;

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
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let ready = Arc::new(AtomicBool::new(false));
    let committed = log.committed();
    let audit_log = log.clone();
    crate::retention::spawn(live.clone(), store.clone());
    let (realtime, realtime_rx) =
        tokio::sync::watch::channel(Arc::new(RealtimeSnapshot::default()));
    let driver = Driver {
        owner: Owner::new(vault.clone(), clock.clone(), clock.now_ms()),
        clock,
        live,
        store,
        vault,
        log,
        function_ca,
        dispatcher: super::dispatcher::start(realtime, tx.downgrade()),
        events: Vec::new(),
        releases: Vec::new(),
        ready: ready.clone(),
    };
    tokio::spawn(driver.run(rx));
    RuntimeHandle {
        tx,
        ready,
        committed,
        log: audit_log,
        realtime: realtime_rx,
    }
}

pub(super) struct Driver {
    pub(super) owner: Owner,
    clock: Clock,
    live: LiveConfig,
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    log: EventLog,
    /// Trusted for the TLS of external functions, besides the system's roots.
    function_ca: Option<Vec<u8>>,
    dispatcher: mpsc::Sender<Batch>,
    /// This turn's events and releases so far.
    events: Vec<NewEvent>,
    releases: Vec<Release>,
    ready: Arc<AtomicBool>,
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut config_changes = self.live.subscribe();
        self.take_config();
        self.recover().await;
        self.tick_clock();
        self.owner.end_start();
        self.end_turn().await;
        self.ready.store(true, Ordering::Release);
        loop {
            let deadline = self.owner.poll_timeout();
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
                        self.tick_clock();
                        self.owner.mark_realtime_changed();
                        self.handle(command);
                        for _ in 1..BATCH {
                            match rx.try_recv() {
                                Ok(more) => {
                                    self.tick_clock();
                                    self.handle(more);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                () = sleep => {
                    self.tick_clock();
                    self.owner.fire_due();
                }
                Ok(()) = config_changes.changed() => {
                    self.tick_clock();
                    self.owner.mark_realtime_changed();
                    self.take_config();
                }
            }
            self.tick_clock();
            self.owner.end_turn();
            self.end_turn().await;
        }
    }

    fn tick_clock(&mut self) {
        self.owner.set_now(self.clock.now_ms());
    }

    /// Give the owner the deployed configuration if it is new, with its functions.
    fn take_config(&mut self) {
        let Some(config) = self.live.current() else {
            return;
        };
        self.tick_clock();
        if !self.owner.take_config(config.clone()) {
            return;
        }
        self.collect();
        match FunctionInvoker::new(config.spec.functions.values(), self.function_ca.as_deref()) {
            Ok(invoker) => self.releases.push(Release::Functions(invoker)),
            Err(e) => tracing::error!(error = %e, "cannot set up external functions"),
        }
    }

    /// Read what survived the last run, off this task, and rebuild the owner from it.
    async fn recover(&mut self) {
        let (store, vault, current) = (self.store.clone(), self.vault.clone(), self.live.current());
        let read = tokio::task::spawn_blocking(move || {
            super::recovery_read::read_recovered(store.as_ref(), &vault, current)
        })
        .await;
        match read {
            Ok(Ok(recovered)) => {
                self.tick_clock();
                self.owner.recover(recovered);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read live contacts; starting without them")
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read live contacts; starting without them")
            }
        }
    }

    /// Take everything the owner decided so far into this turn, in order.
    pub(super) fn collect(&mut self) {
        while let Some(output) = self.owner.poll_output() {
            match output {
                Output::Append(event) => self.events.push(event),
                Output::Effect(effect) => self.releases.push(Release::Effect(effect)),
            }
        }
    }

    /// A socket the owner accepted as `endpoint`; it is known to the dispatcher before
    /// anything the owner sends it.
    pub(super) fn open(&mut self, endpoint: EndpointId, sink: Sink) {
        self.releases.push(Release::Open(endpoint, sink));
    }

    /// Answer the caller once this turn's events (and all before them) are durable; if
    /// they could not be made so, the caller hears that instead.
    pub(super) fn answer<T: Send + 'static>(
        &mut self,
        reply: Reply<T>,
        result: Result<T, RuntimeError>,
    ) {
        self.collect();
        self.releases.push(Release::Answer(Box::new(move |durable| {
            let _ = reply.send(if durable {
                result
            } else {
                Err(RuntimeError::Internal(
                    "the event log could not record this".into(),
                ))
            });
        })));
    }

    /// Append the turn's events and hand its releases to the dispatcher; waits while
    /// the dispatcher has [`TURNS_IN_FLIGHT`](super::dispatcher::TURNS_IN_FLIGHT)
    /// turns waiting for their commits.
    async fn end_turn(&mut self) {
        self.collect();
        if self.events.is_empty() && self.releases.is_empty() {
            return;
        }
        let committed = if self.events.is_empty() {
            None
        } else {
            match self.log.submit(std::mem::take(&mut self.events)) {
                Ok(waiting) => Some(waiting),
                Err(e) => {
                    tracing::error!(error = %e, "event log unavailable");
                    let (tx, rx) = oneshot::channel();
                    let _ = tx.send(Err(e.to_string()));
                    Some(rx)
                }
            }
        };
        let batch = Batch {
            committed,
            releases: std::mem::take(&mut self.releases),
        };
        if self.dispatcher.send(batch).await.is_err() {
            tracing::error!("the effect dispatcher has stopped");
        }
    }
}
