//! Run a flow offline with scripted inputs: the engine behind `switchboard flow run`
//! and the fixture tests. Pure: the script stands in for the customer, the functions,
//! the routing engine and the clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sb_model::Channel;
use serde::Serialize;
use serde_json::Value;

use crate::interpret::{
    resume, ContactData, Effect, Env, Executed, Flow, FlowRun, FunctionResult, Input, Next,
    Outcome, Step, ThirdPartyResult,
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
    /// Each resume of the interpreter, with the answer the script gave to its wait.
    pub steps: Vec<(Step, Option<Input>)>,
    pub trace: Vec<Executed>,
    pub effects: Vec<Effect>,
    pub end: SimulationEnd,
    /// The contact as the flow left it.
    pub contact: ContactData,
    /// Scripted inputs the flow never asked for (it took another branch, or ended).
    pub unused_inputs: Vec<String>,
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
    let mut steps: Vec<(Step, Option<Input>)> = Vec::new();
    let finish = |steps: Vec<(Step, Option<Input>)>, end, contact, unused: VecDeque<String>| {
        let trace = steps
            .iter()
            .flat_map(|(s, _)| s.trace.iter().cloned())
            .collect();
        let effects = steps
            .iter()
            .flat_map(|(s, _)| s.effects.iter().cloned())
            .collect();
        Simulation {
            steps,
            trace,
            effects,
            end,
            contact,
            unused_inputs: unused.into(),
        }
    };
    let mut input = Input::Begin;
    for _ in 0..MAX_WAITS {
        let step = resume(env, &mut run, &mut contact, input);
        input = match &step.next {
            Next::Done(outcome) => {
                let end = SimulationEnd::Finished(outcome.clone());
                steps.push((step, None));
                return finish(steps, end, contact, std::mem::take(&mut script.inputs));
            }
            Next::Input { .. } => match script.inputs.pop_front() {
                Some(text) => Input::Customer { text },
                None => Input::InputTimeout,
            },
            Next::Function { function, .. } => Input::FunctionResult {
                result: match script.functions.get(function) {
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
                steps.push((step, None));
                return finish(
                    steps,
                    still_running(0),
                    contact,
                    std::mem::take(&mut script.inputs),
                );
            }
            Next::Enqueue { queue, .. } => Input::Enqueue {
                accepted: !script.full_queues.contains(queue),
            },
            Next::ThirdParty { .. } => Input::ThirdParty {
                result: ThirdPartyResult::Connected,
            },
        };
        steps.push((step, Some(input.clone())));
    }
    finish(steps, still_running(MAX_WAITS), contact, script.inputs)
}

/// An environment for a flow run without an instance: every name the flow uses is
/// taken to exist, hours are open unless `closed`, metrics come from `metrics`.
pub struct StandaloneEnv {
    pub flows: BTreeMap<String, Flow>,
    pub closed: bool,
    pub metrics: BTreeMap<String, f64>,
}

impl Env for StandaloneEnv {
    fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.get(name)
    }
    fn hours_open(&self, _hours: &str) -> Option<bool> {
        Some(!self.closed)
    }
    fn queue_hours(&self, queue: &str) -> Option<String> {
        Some(queue.to_string())
    }
    fn queue_exists(&self, queue: &str) -> bool {
        !queue.is_empty()
    }
    fn agent_exists(&self, agent: &str) -> bool {
        !agent.is_empty()
    }
    fn prompt_exists(&self, prompt: &str) -> bool {
        !prompt.is_empty()
    }
    fn function_named(&self, reference: &str) -> Option<String> {
        // Without an instance, a Lambda ARN stands for its function name, so
        // `--function NAME=JSON` stubs it.
        let name = crate::import::lambda_function_name(reference).unwrap_or(reference);
        (!name.is_empty()).then(|| name.to_string())
    }
    fn metric(&self, _queue: &str, metric: &str) -> Option<f64> {
        self.metrics.get(metric).copied()
    }
    fn tracing(&self) -> bool {
        true
    }
}
