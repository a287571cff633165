//! Performing the owner's effects, after their causes are durable. The driver hands
//! over one [`Batch`] per turn: the commit it waits on and what that turn released, in
//! order. This task waits for the commit, then does each thing: a frame goes to its
//! endpoint's socket, a function is called, a snapshot published, a caller answered.
//! If the commit failed, nothing is sent or called and every caller hears so.
//!
//! It is the only holder of the sockets' senders: the owner names endpoints by number,
//! and a socket is closed here when the owner lets go of it.

use std::collections::HashMap;
use std::sync::Arc;

use sb_routing::realtime::RealtimeSnapshot;
use tokio::sync::{mpsc, oneshot, watch};

use super::output::{Effect, EndpointId, FunctionCall};
use super::{AgentFrame, Command, CustomerFrame};
use crate::functions::FunctionInvoker;

/// Turns waiting for their commit, at most. A slow disk fills this queue; the driver
/// then waits to hand over its next turn, stops taking commands, and the command
/// channel's own bound holds back the callers: back-pressure reaches the edges instead
/// of memory growing.
pub(crate) const TURNS_IN_FLIGHT: usize = 64;

/// The commit a turn waits on: the positions of its events, or why they failed.
pub(crate) type Committed = oneshot::Receiver<Result<std::ops::Range<u64>, String>>;

/// An answer to a caller, told whether its turn's events are durable.
pub(crate) type Answer = Box<dyn FnOnce(bool) + Send>;

/// A socket the owner may address, as the driver opened it.
pub(crate) enum Sink {
    Customer(mpsc::Sender<CustomerFrame>),
    /// With the agent's name, for the warning when the socket cannot keep up.
    Agent {
        agent: String,
        frames: mpsc::Sender<AgentFrame>,
    },
}

/// One thing a turn released, in the order the turn produced it.
pub(crate) enum Release {
    /// A socket the owner now knows as `EndpointId`.
    Open(EndpointId, Sink),
    Effect(Effect),
    Answer(Answer),
    /// Functions of a newly deployed version, for calls from here on.
    Functions(FunctionInvoker),
}

pub(crate) struct Batch {
    /// `None` when the turn wrote no events (nothing to wait for).
    pub(crate) committed: Option<Committed>,
    pub(crate) releases: Vec<Release>,
}

/// Start the dispatcher; it stops when the returned sender is dropped. Function
/// answers go back to the owner through `commands`.
pub(crate) fn start(
    realtime: watch::Sender<Arc<RealtimeSnapshot>>,
    commands: mpsc::WeakSender<Command>,
) -> mpsc::Sender<Batch> {
    let (tx, rx) = mpsc::channel(TURNS_IN_FLIGHT);
    let dispatcher = Dispatcher {
        sinks: HashMap::new(),
        invoker: None,
        realtime,
        commands,
    };
    tokio::spawn(dispatcher.run(rx));
    tx
}

struct Dispatcher {
    sinks: HashMap<EndpointId, Sink>,
    invoker: Option<FunctionInvoker>,
    realtime: watch::Sender<Arc<RealtimeSnapshot>>,
    commands: mpsc::WeakSender<Command>,
}

impl Dispatcher {
    async fn run(mut self, mut batches: mpsc::Receiver<Batch>) {
        while let Some(batch) = batches.recv().await {
            let durable = match batch.committed {
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
            for release in batch.releases {
                self.release(release, durable);
            }
        }
    }

    fn release(&mut self, release: Release, durable: bool) {
        match release {
            // Bookkeeping happens whether or not the turn's events are durable: a
            // socket the owner let go of is closed either way.
            Release::Open(endpoint, sink) => {
                self.sinks.insert(endpoint, sink);
            }
            Release::Functions(invoker) => self.invoker = Some(invoker),
            Release::Answer(answer) => answer(durable),
            Release::Effect(Effect::Close(endpoint)) => {
                self.sinks.remove(&endpoint);
            }
            Release::Effect(_) if !durable => {}
            Release::Effect(Effect::ToCustomer(endpoint, frame)) => {
                if let Some(Sink::Customer(tx)) = self.sinks.get(&endpoint) {
                    // A customer that cannot keep up loses frames; on reconnecting it
                    // gets every message it missed.
                    let _ = tx.try_send(frame);
                }
            }
            Release::Effect(Effect::ToAgent { endpoint, frame }) => {
                if let Some(Sink::Agent { agent, frames }) = self.sinks.get(&endpoint) {
                    if frames.try_send(frame).is_err() {
                        tracing::warn!(%agent, "agent socket is not keeping up; frame dropped");
                    }
                }
            }
            Release::Effect(Effect::CallFunction(call)) => self.call(call),
            Release::Effect(Effect::Publish(snapshot)) => {
                self.realtime.send_replace(snapshot);
            }
        }
    }

    /// Call a function on its own task; its answer comes back as a command.
    fn call(&self, call: FunctionCall) {
        let invoker = self.invoker.clone();
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let result = match invoker {
                Some(invoker) => {
                    invoker
                        .invoke(&call.function, &call.event, call.timeout, call.response)
                        .await
                }
                None => sb_flow::interpret::FunctionResult::Failed {
                    reason: "the deployed version's functions could not be set up".into(),
                },
            };
            if let (true, Some(tx)) = (call.answer_wanted, commands.upgrade()) {
                let _ = tx
                    .send(Command::FunctionDone {
                        contact: call.contact,
                        epoch: call.epoch,
                        result,
                    })
                    .await;
            }
        });
    }
}
