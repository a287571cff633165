//! The routing engine: scenarios with Connect's semantics, property tests of its
//! invariants, and seeded simulations of whole days.
mod properties;
mod realtime;
mod scenarios;
mod simulation;
mod support;
