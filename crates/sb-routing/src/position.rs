//! Position in queue and estimated wait time, for every waiting contact.

use serde::{Deserialize, Serialize};

use crate::engine::{ContactState, Engine};
use crate::types::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePosition {
    /// 1 for the next contact to be served.
    pub position: usize,
    /// Estimated wait from now: contacts ahead and this one, times the queue's average
    /// handle time, spread over the agents staffed for it.
    pub estimated_wait_ms: Millis,
}

impl Engine {
    /// Where a waiting contact stands, or `None` if it is not waiting.
    pub fn position(&self, contact: &str) -> Option<QueuePosition> {
        let c = *self.contact_ix.get(contact)?;
        let x = self.contacts.get(c)?;
        if x.state != ContactState::Waiting || x.target.is_some() {
            return None;
        }
        let queue = &self.queues[x.queue as usize];
        let ahead = queue.waiting[x.channel].range(..x.key).count();
        let staffed = queue.staffed[x.channel].max(1) as f64;
        let estimated_wait_ms = ((ahead + 1) as f64 * queue.aht_ms / staffed) as Millis;
        Some(QueuePosition {
            position: ahead + 1,
            estimated_wait_ms,
        })
    }
}
