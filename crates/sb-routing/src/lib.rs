//! The routing engine (ACD): which agent gets which contact, when.
//!
//! A sans-IO state machine. Inputs are commands (agents log in and change status,
//! contacts are enqueued, offers are accepted, rejected or missed, contacts end, after-
//! contact work completes, configuration changes) each stamped with the current time
//! in milliseconds; outputs are [`Output`]s (offers, withdrawals, agent state changes,
//! contacts leaving queues). No clock, no I/O, no randomness: the same inputs give the
//! same outputs, so a day can be simulated from a seed and replayed exactly.
//!
//! Semantics follow Amazon Connect: per-channel concurrency from the routing profile;
//! queues in a profile by priority (lower first), a queue's delay holds contacts back
//! from that profile until they have waited that long; within a queue, FIFO by enqueue
//! time adjusted by the contact's priority and time adjustment; among eligible agents,
//! the one available longest.
//!
//! Architecture invariant: no I/O, no clock, no async; only `sb-model` below it.

mod config;
mod criteria;
mod engine;
mod explain;
mod invariants;
mod position;
pub mod realtime;
mod select;
pub mod sim;
mod types;

pub use config::{AgentConfig, ProfileConfig, ProfileEntry, QueueConfig, RoutingConfig};
pub use criteria::{Expression, RoutingCriteria, RoutingStep};
pub use engine::{Engine, HeldContact, DECLINE_COOLDOWN_MS};
pub use explain::{ContactExplanation, OfferExplanation, OfferRule};
pub use position::{QueueMetrics, QueuePosition};
pub use types::*;
