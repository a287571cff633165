//! The Amazon Connect flow language (`"Version": "2019-10-30"`): parse and validate.
//!
//! Architecture invariant: no I/O, no clock, no async. Everything here is a pure
//! function of its inputs so that validation gives the same answer in `validate`,
//! `plan`, `apply` and the server.

pub mod catalog;
pub mod document;
pub mod import;
pub mod interpret;
pub mod references;
pub mod simulate;
pub mod validate;

pub use catalog::{ActionSupport, UNSUPPORTED_ACTION_TYPES};
pub use document::{parse, Action, FlowDocument, ParseError};
pub use references::{references, Reference, ReferenceKind};
pub use validate::{validate, Finding, Severity};
