//! Domain types shared by every Switchboard crate.
//!
//! Architecture invariant: this crate does no I/O and knows no storage, transport or
//! clock. Types here are plain data (serde) plus pure functions over them, such as
//! "is this hours-of-operation schedule open at instant T".

pub mod channel;
pub mod config;
pub mod hours;
pub mod name;
pub mod pci;
pub mod record;

pub use channel::Channel;
pub use name::{Name, NameError};
