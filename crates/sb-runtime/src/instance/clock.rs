//! The owner's time. A running server reads the system clock; a test holds the clock
//! and moves it, so that timers of minutes and days (missed offers, after-contact work,
//! task expiry, callbacks) are tested without waiting for them.
//!
//! Contact ids carry their start time, so they come from here too: the system clock's
//! are the time and random bits; a held clock numbers contacts in the order they start,
//! so that a test driven from a seed makes the same contacts in the same order on every
//! run and a failure replays exactly.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<Held>>);

#[derive(Debug)]
struct Held {
    at: AtomicI64,
    contacts: AtomicU64,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that stands at `start_ms` (Unix milliseconds) until it is moved.
    pub fn manual(start_ms: i64) -> Clock {
        Clock(Some(Arc::new(Held {
            at: AtomicI64::new(start_ms),
            contacts: AtomicU64::new(0),
        })))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            None => jiff::Timestamp::now().as_millisecond(),
            Some(held) => held.at.load(Ordering::Relaxed),
        }
    }

    /// Move a manual clock forward (the system clock moves by itself).
    pub fn advance(&self, ms: i64) {
        if let Some(held) = &self.0 {
            held.at.fetch_add(ms, Ordering::Relaxed);
        }
    }

    /// A new contact's id: 12 hex digits of its start time, then 20 more (random on the
    /// system clock, a count of contacts on a held one).
    /// `now` is the owner's time for the turn (on a held clock, the clock's).
    pub(crate) fn contact_id(&self, now: i64) -> Result<String, sb_security::ApiKeyError> {
        match &self.0 {
            None => sb_security::time_ordered_id(now),
            Some(held) => Ok(format!(
                "{:012x}{:020x}",
                (now.max(0) as u64) & 0xffff_ffff_ffff,
                held.contacts.fetch_add(1, Ordering::Relaxed) + 1
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_clock_numbers_contacts_in_order_in_the_shape_of_real_ids() {
        let held = Clock::manual(1_795_000_000_000);
        let first = held.contact_id(held.now_ms()).unwrap();
        let second = held.contact_id(held.now_ms()).unwrap();
        held.advance(1);
        let third = held.contact_id(held.now_ms()).unwrap();
        assert!(first < second && second < third, "{first} {second} {third}");
        let real = Clock::system()
            .contact_id(Clock::system().now_ms())
            .unwrap();
        for id in [&first, &second, &third, &real] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        assert_ne!(
            real,
            Clock::system()
                .contact_id(Clock::system().now_ms())
                .unwrap()
        );
    }
}
