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

impl Engine {
    /// Visit every contact waiting in a queue's line on a channel, in order, with its
    /// position and estimated wait: one pass, no allocation, for pushing positions.
    pub fn visit_line(
        &self,
        queue: &str,
        channel: sb_model::Channel,
        mut visit: impl FnMut(&str, QueuePosition),
    ) {
        let Some(&q) = self.queue_ix.get(queue) else {
            return;
        };
        let q = &self.queues[q as usize];
        let ch = crate::config::channel_index(channel);
        let per_contact = q.aht_ms / f64::from(q.staffed[ch].max(1));
        for (i, key) in q.waiting[ch].iter().enumerate() {
            if let Some(c) = self.contacts.get(key.contact) {
                visit(
                    &c.id,
                    QueuePosition {
                        position: i + 1,
                        estimated_wait_ms: ((i + 1) as f64 * per_contact) as Millis,
                    },
                );
            }
        }
    }
}

/// Real-time figures for one queue, as flows ask for them (`CheckMetricData`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMetrics {
    pub contacts_in_queue: usize,
    pub oldest_contact_age_ms: Millis,
    pub agents_available: usize,
    pub agents_staffed: u32,
}

impl Engine {
    pub fn queue_metrics(&self, queue: &str) -> Option<QueueMetrics> {
        let q = &self.queues[*self.queue_ix.get(queue)? as usize];
        let oldest = q
            .waiting
            .iter()
            .flat_map(|w| w.iter())
            .filter_map(|k| self.contacts.get(k.contact))
            .map(|c| self.now - c.enqueued_at)
            .max()
            .unwrap_or(0);
        let mut available: Vec<u32> = q
            .available
            .iter()
            .flat_map(|s| s.iter().map(|&(_, a)| a))
            .collect();
        available.sort_unstable();
        available.dedup();
        Some(QueueMetrics {
            contacts_in_queue: q.waiting.iter().map(|w| w.len()).sum(),
            oldest_contact_age_ms: oldest,
            agents_available: available.len(),
            agents_staffed: q.staffed.iter().copied().max().unwrap_or(0),
        })
    }
}
