//! What the owner asks of the world, as data. The owner never touches a socket, the
//! log or the network: each decision it makes is queued here as an [`Output`], in the
//! order it was made, and the driver takes them with [`Owner::poll_output`]. Events are
//! appended to the log; every other output is an [`Effect`] that the driver performs
//! only once the events queued before it are durable (see `driver`).

use std::collections::VecDeque;
use std::sync::Arc;

use sb_routing::realtime::RealtimeSnapshot;
use sb_store::NewEvent;

use super::{AgentFrame, CustomerFrame, Owner};

/// A participant's connection (a customer's or an agent's socket today, a call leg
/// tomorrow), by number. The owner keeps numbers; only the driver holds the sockets,
/// so a contact's state is plain data and a dropped socket is the driver's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct EndpointId(pub(crate) u64);

#[derive(Debug)]
pub(crate) enum Output {
    /// Append this event to the log, in this batch.
    Append(NewEvent),
    /// Once what came before is durable, do this.
    Effect(Effect),
}

/// Everything the owner's decisions do outside it, besides writing events.
#[derive(Debug)]
pub(crate) enum Effect {
    ToCustomer(EndpointId, CustomerFrame),
    ToAgent {
        endpoint: EndpointId,
        frame: AgentFrame,
    },
    /// The owner is done with this endpoint: its socket is closed once the frames
    /// before this are sent.
    Close(EndpointId),
    CallFunction(FunctionCall),
    /// Hand real-time readers this snapshot.
    Publish(Arc<RealtimeSnapshot>),
}

/// A flow's call to an external function (InvokeLambdaFunction).
#[derive(Debug)]
pub(crate) struct FunctionCall {
    pub(crate) contact: String,
    /// Which call of the contact this is: an answer to an older one is ignored.
    pub(crate) epoch: u64,
    pub(crate) function: String,
    pub(crate) event: serde_json::Value,
    pub(crate) timeout: std::time::Duration,
    pub(crate) response: sb_flow::interpret::ResponseType,
    /// The flow waits for the answer (otherwise it is fire-and-forget).
    pub(crate) answer_wanted: bool,
}

/// The owner's outputs not yet taken, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Outputs(VecDeque<Output>);

impl Outputs {
    pub(crate) fn event(&mut self, event: NewEvent) {
        self.0.push_back(Output::Append(event));
    }

    pub(crate) fn effect(&mut self, effect: Effect) {
        self.0.push_back(Output::Effect(effect));
    }
}

impl Owner {
    /// The next output, oldest first; `None` when the owner has said everything.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.0.pop_front()
    }

    /// Send `frame` to a customer's endpoint, after what caused it is durable. A socket
    /// that cannot keep up loses frames rather than slowing the owner.
    pub(crate) fn send_customer(&mut self, endpoint: EndpointId, frame: CustomerFrame) {
        self.out.effect(Effect::ToCustomer(endpoint, frame));
    }

    /// The owner lets go of `endpoint` (the contact ended, or another socket took its
    /// place).
    pub(crate) fn close_endpoint(&mut self, endpoint: EndpointId) {
        self.out.effect(Effect::Close(endpoint));
    }
}
