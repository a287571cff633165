//! Effects wait for durability. The owner collects the events a batch of commands
//! produced and the effects they allow (replies, frames to sockets, function calls);
//! `flush` hands the events to the log and the effects to one dispatcher task, which
//! runs them only after their events are committed, strictly in order.

use sb_store::{EventLog, NewEvent};
use tokio::sync::{mpsc, oneshot};

/// An effect; `durable` says whether its events reached the log.
pub(crate) type Deferred = Box<dyn FnOnce(bool) + Send>;

type Committed = oneshot::Receiver<Result<std::ops::Range<u64>, String>>;

pub(crate) struct Outbox {
    log: EventLog,
    events: Vec<NewEvent>,
    effects: Vec<Deferred>,
    dispatcher: mpsc::UnboundedSender<(Option<Committed>, Vec<Deferred>)>,
}

impl Outbox {
    pub(crate) fn start(log: EventLog) -> Self {
        let (dispatcher, mut batches) =
            mpsc::unbounded_channel::<(Option<Committed>, Vec<Deferred>)>();
        tokio::spawn(async move {
            while let Some((committed, effects)) = batches.recv().await {
                let durable = match committed {
                    None => true,
                    Some(waiting) => match waiting.await {
                        Ok(Ok(_)) => true,
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "event log write failed; effects of the batch are not performed");
                            false
                        }
                        Err(_) => false,
                    },
                };
                for effect in effects {
                    effect(durable);
                }
            }
        });
        Outbox {
            log,
            events: Vec::new(),
            effects: Vec::new(),
            dispatcher,
        }
    }

    pub(crate) fn event(&mut self, event: NewEvent) {
        self.events.push(event);
    }

    /// Do `effect` once this batch's events are durable, and never if they are not:
    /// every frame, relay, publication and call to the outside goes this way, so no
    /// effect is seen before its cause is on disk.
    pub(crate) fn when_durable(&mut self, effect: impl FnOnce() + Send + 'static) {
        self.effects.push(Box::new(move |durable| {
            if durable {
                effect()
            }
        }));
    }

    /// Do `effect` once this batch's commit is decided, told whether it succeeded: only
    /// for answering a caller, who must hear of a failure too.
    pub(crate) fn after_commit(&mut self, effect: impl FnOnce(bool) + Send + 'static) {
        self.effects.push(Box::new(effect));
    }

    pub(crate) fn flush(&mut self) {
        if self.events.is_empty() && self.effects.is_empty() {
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
        let _ = self
            .dispatcher
            .send((committed, std::mem::take(&mut self.effects)));
    }
}
