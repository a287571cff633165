//! Run a flow offline with scripted inputs: the engine behind `switchboard flow run`
//! and the fixture tests. Pure: the script stands in for the customer, the functions,
//! the routing engine and the clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sb_model::Channel;
use serde::Serialize;
use serde_json::Value;

use crate::interpret::{
    resume, ContactData, Effect, Env, Executed, FlowRun, FunctionResult, Input, Next, Outcome,
    ThirdPartyResult,
};

/// Waits a simulation answers before it stops a flow that never ends (a queue flow
/// that loops until an agent answers, by design).
pub const MAX_WAITS: usize = 200;

#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Answers to successive GetParticipantInput actions; when they run out, the
    /// customer stays silent (a timeout).
    pub inputs: VecDeque<String>,
    /// Function name → its JSON response. A function without one fails.
    pub functions: BTreeMap<String, Value>,
    /// Queues that refuse contacts as full.
    pub full_queues: BTreeSet<String>,
}

/// Serialises as the outcome object, or `{"outcome": "still_running", "waits": N}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SimulationEnd {
    Finished(Outcome),
    /// Still waiting after `waits` waits (a hold loop), or in a message loop that only
    /// an agent answering ends.
    StillRunning {
        outcome: StillRunning,
        waits: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StillRunning {
    StillRunning,
}

fn still_running(waits: usize) -> SimulationEnd {
    SimulationEnd::StillRunning {
        outcome: StillRunning::StillRunning,
        waits,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub trace: Vec<Executed>,
    pub effects: Vec<Effect>,
    pub end: SimulationEnd,
    /// The contact as the flow left it.
    pub contact: ContactData,
}

/// Run `flow` for a new contact on `channel` with `attributes`, answering every wait
/// from `script`.
pub fn simulate(
    env: &dyn Env,
    flow: &str,
    channel: Channel,
    attributes: BTreeMap<String, String>,
    mut script: Script,
) -> Simulation {
    let mut contact = ContactData::new("simulated-contact", channel);
    contact.customer_endpoint = Some("+15555550100".into());
    contact.system_endpoint = Some("+15555550199".into());
    contact.attributes = attributes;
    let mut run = FlowRun::start(flow);
    let mut trace = Vec::new();
    let mut effects = Vec::new();
    let mut input = Input::Begin;
    for _ in 0..MAX_WAITS {
        let step = resume(env, &mut run, &mut contact, input);
        trace.extend(step.trace);
        effects.extend(step.effects);
        input = match step.next {
            Next::Done(outcome) => {
                return Simulation {
                    trace,
                    effects,
                    end: SimulationEnd::Finished(outcome),
                    contact,
                };
            }
            Next::Input { .. } => match script.inputs.pop_front() {
                Some(text) => Input::Customer { text },
                None => Input::InputTimeout,
            },
            Next::Function { function, .. } => Input::FunctionResult {
                result: match script.functions.get(&function) {
                    Some(response) => FunctionResult::Ok {
                        response: response.clone(),
                    },
                    None => FunctionResult::Failed {
                        reason: format!("no result scripted for function '{function}'"),
                    },
                },
            },
            Next::Timer { .. }
            | Next::MessageLoop {
                interrupt_seconds: Some(_),
                ..
            } => Input::TimerElapsed,
            Next::MessageLoop {
                interrupt_seconds: None,
                ..
            } => {
                return Simulation {
                    trace,
                    effects,
                    end: still_running(0),
                    contact,
                };
            }
            Next::Enqueue { queue, .. } => Input::Enqueue {
                accepted: !script.full_queues.contains(&queue),
            },
            Next::ThirdParty { .. } => Input::ThirdParty {
                result: ThirdPartyResult::Connected,
            },
        };
    }
    Simulation {
        trace,
        effects,
        end: still_running(MAX_WAITS),
        contact,
    }
}
