//! The flow interpreter: a sans-IO state machine.
//!
//! The runtime owns a contact's [`FlowRun`] (where the flow is) and [`ContactData`]
//! (what the flow reads and writes). It calls [`resume`] with an [`Input`]; the
//! interpreter executes actions until it needs something from outside — customer
//! input, a function's result, a timer, the routing engine — and returns a [`Step`]:
//! the effects to perform in order, and what to wait for next. Both structs serialise,
//! so a contact in the middle of a flow survives a restart.
//!
//! Nothing here reads a clock or draws a random number: the current time and metric
//! values come from [`Env`], and `DistributeByPercentage` draws from a hash of the
//! contact id, so the same inputs always give the same steps.

mod actions;
mod conditions;
mod state;
mod values;

use std::collections::HashMap;

use sb_model::config::FlowType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::{Action, FlowDocument};

pub use state::{ContactData, FlowRun, ModuleReturn, Waiting};
pub use values::resolve_path;

/// Actions one `resume` may execute before the flow is ended as runaway (a loop with
/// no wait in it). A flow that waits (input, timer, function) gets a fresh budget.
pub const STEP_BUDGET: u32 = 1_000;
/// Nested TransferToFlow / InvokeFlowModule hops allowed for one contact.
pub const MAX_FLOW_DEPTH: u32 = 16;
/// Connect's limit on a contact's attributes, keys and values together.
pub const MAX_ATTRIBUTE_BYTES: usize = 32 * 1024;

/// A flow ready to run: the document with its actions indexed by identifier.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub kind: FlowType,
    pub document: FlowDocument,
    index: HashMap<String, usize>,
}

impl Flow {
    pub fn new(name: impl Into<String>, kind: FlowType, document: FlowDocument) -> Self {
        let index = document
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.identifier.clone(), i))
            .collect();
        Flow {
            name: name.into(),
            kind,
            document,
            index,
        }
    }

    /// Whether any action reads the contact's standing in its queue (`$.Queue.Position`,
    /// `$.Queue.EstimatedWait…`), which the runtime otherwise need not work out.
    pub fn reads_queue_standing(&self) -> bool {
        fn mentions(value: &serde_json::Value) -> bool {
            match value {
                serde_json::Value::String(s) => {
                    s.contains("$.Queue.Position") || s.contains("$.Queue.EstimatedWait")
                }
                serde_json::Value::Array(items) => items.iter().any(mentions),
                serde_json::Value::Object(map) => map.values().any(mentions),
                _ => false,
            }
        }
        self.document
            .actions
            .iter()
            .any(|a| a.parameters.values().any(mentions))
    }

    pub fn action(&self, identifier: &str) -> Option<&Action> {
        self.index
            .get(identifier)
            .map(|&i| &self.document.actions[i])
    }
}

/// What the interpreter may ask of the instance, as of now. Implemented by the runtime
/// over its live state, and by the simulator over scripted values.
pub trait Env {
    fn flow(&self, name: &str) -> Option<&Flow>;
    /// Whether the named hours of operation are open now; `None` if unknown.
    fn hours_open(&self, hours: &str) -> Option<bool>;
    /// The hours of operation a queue uses.
    fn queue_hours(&self, queue: &str) -> Option<String>;
    fn queue_exists(&self, queue: &str) -> bool;
    fn agent_exists(&self, agent: &str) -> bool;
    fn prompt_exists(&self, prompt: &str) -> bool;
    /// The instance function a flow's reference (a name, or an ARN, possibly
    /// computed at run time) stands for; `None` if there is none.
    fn function_named(&self, reference: &str) -> Option<String>;
    /// A real-time metric by the flow language's name (`NumberOfAgentsAvailable`,
    /// `NumberOfContactsInQueue`, `OldestContactInQueueAgeSeconds`, ...) for a queue.
    fn metric(&self, queue: &str, metric: &str) -> Option<f64>;
    /// Whether to record each executed action in [`Step::trace`].
    fn tracing(&self) -> bool {
        false
    }
    /// The current time in Unix milliseconds, used only to say how long an action
    /// waited (flow logs); 0 where time does not matter.
    fn now_ms(&self) -> i64 {
        0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Input {
    /// Start executing (after [`FlowRun::start`]).
    Begin,
    /// DTMF digits or chat text from the customer.
    Customer {
        text: String,
    },
    /// The customer sent nothing within the time limit.
    InputTimeout,
    FunctionResult {
        result: FunctionResult,
    },
    /// A Wait's time limit or an iterative message's interrupt period passed.
    TimerElapsed,
    /// The routing engine's answer to [`Next::Enqueue`].
    Enqueue {
        accepted: bool,
    },
    ThirdParty {
        result: ThirdPartyResult,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum FunctionResult {
    Ok {
        response: Value,
    },
    /// Timed out, throttled, failed or answered something unusable.
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThirdPartyResult {
    Connected,
    TimedOut,
    Failed,
}

/// Something to show or play to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssml: Option<String>,
    /// A prompt name, or a dynamic value that resolved to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResponseType {
    StringMap,
    Json,
}

/// Done in order, without an answer to the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Effect {
    Message(Message),
    SetLogging {
        enabled: bool,
    },
    SetRecording {
        behavior: Value,
    },
    CreateCallback {
        queue: String,
        number: String,
        initial_delay_seconds: u64,
        max_attempts: u32,
        retry_delay_seconds: u64,
    },
    CreateTask {
        name: String,
        description: String,
        flow: String,
        attributes: std::collections::BTreeMap<String, String>,
    },
    InvokeFunctionAsync {
        function: String,
        event: Value,
    },
}

/// What the interpreter waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Next {
    Input {
        timeout_seconds: u32,
        /// Stop collecting after this many digits (stored input).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_digits: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terminator: Option<String>,
        /// Stored input is sensitive: encrypt it and never log it.
        encrypt: bool,
    },
    Function {
        function: String,
        event: Value,
        timeout_seconds: f64,
        response: ResponseType,
    },
    Timer {
        seconds: u64,
    },
    /// Play `messages` in a loop; interrupt after `interrupt_seconds` if set.
    MessageLoop {
        messages: Vec<Message>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interrupt_seconds: Option<u64>,
    },
    /// Put the contact in a queue (`from_queue_flow`: dequeue from the current one).
    Enqueue {
        queue: String,
        from_queue_flow: bool,
    },
    ThirdParty {
        number: String,
        timeout_seconds: u64,
        continue_flow: bool,
    },
    Done(Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Disconnected,
    /// EndFlowExecution: the flow is over, the contact stays where it is (in queue, with an agent).
    Ended,
    TransferredToQueue {
        queue: String,
    },
    TransferredToAgent {
        agent: String,
    },
    TransferredToThirdParty {
        number: String,
    },
    /// The flow could not go on: a missing error branch, a runaway loop, too deep a recursion.
    Error {
        reason: String,
    },
}

/// One executed action, for flow logs and the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executed {
    pub flow: String,
    pub identifier: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `next`, `condition:<operand>`, `error:<ErrorType>`, `wait`, or `end`.
    pub branch: String,
    /// Parameters as resolved; values of sensitive attributes are redacted.
    pub parameters: Value,
    /// How long the action took, from its start to its branch: 0 for actions that
    /// decide at once, the wait for actions that wait for input, a function or a timer.
    #[serde(default)]
    pub duration_ms: u64,
    /// How many of the step's effects had happened when this action was done: the
    /// effects from the previous entry's count to this one are this action's, so a
    /// trace can show each message under the action that sent it.
    #[serde(skip)]
    pub effects_so_far: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub effects: Vec<Effect>,
    pub trace: Vec<Executed>,
    pub next: Next,
}

/// Feed `input` to the flow and run until it waits or ends.
pub fn resume(env: &dyn Env, run: &mut FlowRun, contact: &mut ContactData, input: Input) -> Step {
    actions::Machine::new(env, run, contact).resume(input)
}

#[cfg(test)]
mod tests;
