//! The flow interpreter's view of an instance: flows compiled once per version, and
//! the instance's queues, hours, prompts and functions, as of a given instant.

use std::collections::{BTreeMap, HashMap};

use sb_flow::interpret::{Env, Flow};
use sb_model::Name;

use crate::InstanceSpec;

/// Every flow of a spec, indexed for the interpreter. Build once per deployed version.
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    flows: HashMap<String, Flow>,
    reads_queue_standing: bool,
}

impl FlowSet {
    pub fn compile(spec: &InstanceSpec) -> Self {
        let flows = spec
            .flows
            .iter()
            .map(|(name, f)| {
                (
                    name.to_string(),
                    Flow::new(name.as_str(), f.entry.kind, f.document.clone()),
                )
            })
            .collect::<HashMap<_, _>>();
        let reads_queue_standing = flows.values().any(Flow::reads_queue_standing);
        FlowSet {
            flows,
            reads_queue_standing,
        }
    }

    /// Add (or replace) a flow that is not part of the spec, e.g. one being simulated.
    pub fn insert(&mut self, flow: Flow) {
        self.reads_queue_standing |= flow.reads_queue_standing();
        self.flows.insert(flow.name.clone(), flow);
    }

    /// Whether some flow reads a contact's standing in its queue. Flows transfer to
    /// one another mid-step, so the set answers rather than the running flow.
    pub fn reads_queue_standing(&self) -> bool {
        self.reads_queue_standing
    }

    pub fn get(&self, name: &str) -> Option<&Flow> {
        self.flows.get(name)
    }
}

/// Where live queue figures (`CheckMetricData`, `$.Metrics.*`) come from: the routing
/// engine on a server, scripted values in the simulator.
pub trait QueueFigures {
    /// A metric by the flow language's name for a queue; `None` if unknown.
    fn metric(&self, queue: &str, metric: &str) -> Option<f64>;
}

/// Real-time metric values by (queue, flow-language metric name).
pub type MetricValues = BTreeMap<(String, String), f64>;

/// Scripted figures: per queue, else a value for every queue (the simulator's
/// `--metric NAME=VALUE`).
pub struct ScriptedFigures<'a> {
    pub values: &'a MetricValues,
    pub defaults: &'a BTreeMap<String, f64>,
}

impl QueueFigures for ScriptedFigures<'_> {
    fn metric(&self, queue: &str, metric: &str) -> Option<f64> {
        self.values
            .get(&(queue.to_string(), metric.to_string()))
            .or_else(|| self.defaults.get(metric))
            .copied()
    }
}

/// The interpreter's view of an instance: one spec version, its compiled flows, an
/// instant, and live figures — the same for the simulator and for a live contact.
pub struct SpecEnv<'a> {
    pub spec: &'a InstanceSpec,
    pub flows: &'a FlowSet,
    pub now: jiff::Timestamp,
    pub figures: &'a dyn QueueFigures,
    pub tracing: bool,
}

impl Env for SpecEnv<'_> {
    fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.get(name)
    }

    fn now_ms(&self) -> i64 {
        self.now.as_millisecond()
    }

    fn hours_open(&self, hours: &str) -> Option<bool> {
        self.spec
            .hours_of_operation
            .get(hours)?
            .is_open(self.now)
            .ok()
    }

    fn queue_hours(&self, queue: &str) -> Option<String> {
        Some(self.spec.queues.get(queue)?.hours.to_string())
    }

    fn queue_exists(&self, queue: &str) -> bool {
        self.spec.queues.contains_key(queue)
    }

    fn agent_exists(&self, agent: &str) -> bool {
        self.spec.users.contains_key(agent)
    }

    fn prompt_exists(&self, prompt: &str) -> bool {
        self.spec.prompts.contains_key(prompt)
    }

    fn function_named(&self, reference: &str) -> Option<String> {
        self.spec.function_for(reference).map(Name::to_string)
    }

    fn metric(&self, queue: &str, metric: &str) -> Option<f64> {
        self.figures.metric(queue, metric)
    }

    fn tracing(&self) -> bool {
        self.tracing
    }
}
