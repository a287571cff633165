//! The live figures a running contact's flow reads: the routing engine's, by the flow
//! language's metric names. The rest of the flow's view of the instance is the spec's
//! (`sb_spec::SpecEnv`), the same as the simulator's.

use sb_routing::Engine;
use sb_spec::flow_env::QueueFigures;

pub(crate) struct EngineFigures<'a>(pub &'a Engine);

impl QueueFigures for EngineFigures<'_> {
    fn metric(&self, queue: &str, metric: &str) -> Option<f64> {
        let m = self.0.queue_metrics(queue)?;
        Some(match metric {
            "NumberOfContactsInQueue" => m.contacts_in_queue as f64,
            "OldestContactInQueueAgeSeconds" => (m.oldest_contact_age_ms / 1000) as f64,
            "NumberOfAgentsAvailable" => m.agents_available as f64,
            "NumberOfAgentsStaffed" | "NumberOfAgentsOnline" => f64::from(m.agents_staffed),
            _ => return None,
        })
    }
}
