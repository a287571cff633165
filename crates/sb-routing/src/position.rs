//! Position in queue and estimated wait time, for every waiting contact.

use serde::{Deserialize, Serialize};

use crate::engine::{ContactState, Engine};
use crate::types::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePosition {
    /// 1 for the next contact to be served.
    pub position: usize,
    /// Estimated wait from now: contacts ahead and this one, times the queue's average
    /// handle time, spread over the agents staffed for it. `None` when no agent is
    /// staffed for the queue on this channel: there is nothing to estimate from, and a
    /// figure would be a promise nobody is there to keep.
    pub estimated_wait_ms: Option<Millis>,
}

/// The wait for the contact at `place` in line (1 = next), or `None` unstaffed.
fn estimate(place: usize, aht_ms: f64, staffed: u32) -> Option<Millis> {
    (staffed > 0).then(|| (place as f64 * aht_ms / f64::from(staffed)) as Millis)
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
        Some(QueuePosition {
            position: ahead + 1,
            estimated_wait_ms: estimate(ahead + 1, queue.aht_ms, queue.staffed[x.channel]),
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
        for (i, key) in q.waiting[ch].iter().enumerate() {
            if let Some(c) = self.contacts.get(key.contact) {
                visit(
                    &c.id,
                    QueuePosition {
                        position: i + 1,
                        estimated_wait_ms: estimate(i + 1, q.aht_ms, q.staffed[ch]),
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
