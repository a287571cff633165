//! Publishing what real-time metrics are computed from: after changes, at most every
//! [`REALTIME_PERIOD_MS`], the owner takes a snapshot of routing and hands it to every
//! reader at once through a watch channel. Readers compute their own views from it, so
//! a thousand wallboards cost the owner one snapshot per period, not a thousand.

use std::sync::Arc;

use super::output::Effect;
use super::Owner;

/// Bursts of changes within this window go out as one snapshot; a subscriber's
/// view is at most this much older than the state it shows, plus its own work.
pub(crate) const REALTIME_PERIOD_MS: i64 = 25;

impl Owner {
    /// Something routing sees may have changed: the next snapshot is due, and the
    /// first change since the last one is when its clock starts.
    pub(crate) fn mark_realtime_changed(&mut self) {
        if !self.realtime_dirty {
            self.realtime_dirty = true;
            self.realtime_changed_at = self.now;
        }
    }

    /// Publish a fresh snapshot if something changed and the period has passed.
    pub(crate) fn publish_realtime(&mut self) {
        if !self.realtime_dirty {
            return;
        }
        let now = self.now;
        if now < self.realtime_due {
            return;
        }
        self.realtime_due = now + REALTIME_PERIOD_MS;
        self.realtime_dirty = false;
        self.realtime_generation += 1;
        let mut snapshot = self.engine.realtime_snapshot(self.realtime_generation);
        snapshot.changed_at = self.realtime_changed_at;
        // Like any effect, readers see a state only once the events behind it are durable.
        self.out.effect(Effect::Publish(Arc::new(snapshot)));
    }

    /// When the next snapshot is due, if one is waiting.
    pub(crate) fn realtime_deadline(&self) -> Option<i64> {
        self.realtime_dirty.then_some(self.realtime_due)
    }
}
