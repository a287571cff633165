//! The interpreter's view of the instance at run time: the contact's configuration
//! version, and live queue figures from the routing engine.

use sb_flow::interpret::{Env, Flow};
use sb_model::Name;
use sb_routing::Engine;

use crate::live::DeployedConfig;

pub(crate) struct RuntimeEnv<'a> {
    pub config: &'a DeployedConfig,
    pub engine: &'a Engine,
    pub now: jiff::Timestamp,
}

impl Env for RuntimeEnv<'_> {
    fn flow(&self, name: &str) -> Option<&Flow> {
        self.config.flows.get(name)
    }
    fn now_ms(&self) -> i64 {
        self.now.as_millisecond()
    }
    fn hours_open(&self, hours: &str) -> Option<bool> {
        self.config
            .spec
            .hours_of_operation
            .get(hours)?
            .is_open(self.now)
            .ok()
    }
    fn queue_hours(&self, queue: &str) -> Option<String> {
        Some(self.config.spec.queues.get(queue)?.hours.to_string())
    }
    fn queue_exists(&self, queue: &str) -> bool {
        self.config.spec.queues.contains_key(queue)
    }
    fn agent_exists(&self, agent: &str) -> bool {
        self.config.spec.users.contains_key(agent)
    }
    fn prompt_exists(&self, prompt: &str) -> bool {
        self.config.spec.prompts.contains_key(prompt)
    }
    fn function_named(&self, reference: &str) -> Option<String> {
        self.config
            .spec
            .function_for(reference)
            .map(Name::to_string)
    }
    fn metric(&self, queue: &str, metric: &str) -> Option<f64> {
        let m = self.engine.queue_metrics(queue)?;
        Some(match metric {
            "NumberOfContactsInQueue" => m.contacts_in_queue as f64,
            "OldestContactInQueueAgeSeconds" => (m.oldest_contact_age_ms / 1000) as f64,
            "NumberOfAgentsAvailable" => m.agents_available as f64,
            "NumberOfAgentsStaffed" | "NumberOfAgentsOnline" => f64::from(m.agents_staffed),
            _ => return None,
        })
    }
    fn tracing(&self) -> bool {
        false
    }
}
