//! The owner's time. A running server reads the system clock; a test holds the clock
//! and moves it, so that timers of minutes and days (missed offers, after-contact work,
//! task expiry, callbacks) are tested without waiting for them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that stands at `start_ms` (Unix milliseconds) until it is moved.
    pub fn manual(start_ms: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(start_ms))))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            None => jiff::Timestamp::now().as_millisecond(),
            Some(at) => at.load(Ordering::Relaxed),
        }
    }

    /// Move a manual clock forward (the system clock moves by itself).
    pub fn advance(&self, ms: i64) {
        if let Some(at) = &self.0 {
            at.fetch_add(ms, Ordering::Relaxed);
        }
    }
}
