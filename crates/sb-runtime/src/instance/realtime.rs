//! Publishing what real-time metrics are computed from: after changes, at most every
//! [`REALTIME_PERIOD_MS`], the owner takes a snapshot of routing and hands it to every
//! reader at once (the dispatcher's watch channel). Readers compute their own views
//! from it, so a thousand wallboards cost the owner one snapshot per period, not a
//! thousand.

use std::sync::Arc;

use sb_routing::realtime::RealtimeSnapshot;
use sb_routing::Engine;

use super::output::Effect;
use super::Owner;

/// Bursts of changes within this window go out as one snapshot; a subscriber's
/// view is at most this much older than the state it shows, plus its own work.
pub(crate) const REALTIME_PERIOD_MS: i64 = 25;

/// The owner's part that decides when a snapshot is due: it reads routing, and
/// touches nothing else.
#[derive(Debug)]
pub(crate) struct RealtimePublisher {
    /// Something changed since the last snapshot.
    dirty: bool,
    /// When the next snapshot may go out.
    due: i64,
    generation: u64,
    /// When the first change not yet in a published snapshot happened.
    changed_at: i64,
}

impl Default for RealtimePublisher {
    /// The first snapshot is due at once.
    fn default() -> Self {
        RealtimePublisher {
            dirty: true,
            due: 0,
            generation: 0,
            changed_at: 0,
        }
    }
}

impl RealtimePublisher {
    /// Something routing sees may have changed at `now`: the next snapshot is due, and
    /// the first change since the last one is when its clock starts.
    pub(crate) fn mark_changed(&mut self, now: i64) {
        if !self.dirty {
            self.dirty = true;
            self.changed_at = now;
        }
    }

    /// A fresh snapshot of `engine`, if something changed and the period has passed.
    pub(crate) fn take(&mut self, now: i64, engine: &Engine) -> Option<RealtimeSnapshot> {
        if !self.dirty || now < self.due {
            return None;
        }
        self.due = now + REALTIME_PERIOD_MS;
        self.dirty = false;
        self.generation += 1;
        let mut snapshot = engine.realtime_snapshot(self.generation);
        snapshot.changed_at = self.changed_at;
        Some(snapshot)
    }

    /// When the next snapshot is due, if one is waiting.
    pub(crate) fn deadline(&self) -> Option<i64> {
        self.dirty.then_some(self.due)
    }
}

impl Owner {
    pub(crate) fn mark_realtime_changed(&mut self) {
        self.realtime.mark_changed(self.now);
    }

    /// Publish a fresh snapshot if one is due. Like any effect, readers see a state
    /// only once the events behind it are durable.
    pub(crate) fn publish_realtime(&mut self) {
        if let Some(snapshot) = self.realtime.take(self.now, &self.engine) {
            self.out.effect(Effect::Publish(Arc::new(snapshot)));
        }
    }
}
