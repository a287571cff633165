//! Instance specs as code: a directory of YAML files (plus flow JSON and prompt audio)
//! becomes a validated [`InstanceSpec`]; two specs give a [`Plan`].
//!
//! Architecture invariant: the only I/O here is [`SourceBundle::read_dir`], which turns
//! a directory into bytes. Everything after it works on the bundle, so the server
//! validates exactly what the CLI validated, and a stored version can be re-read
//! without the files it came from.

mod check;
mod document;
pub mod flow_env;
pub mod instance;
pub mod plan;
mod problem;
pub mod source;
pub mod yaml_guard;

pub use flow_env::{FlowSet, SpecEnv};
pub use instance::{load, InstanceSpec, LoadedFlow};
pub use plan::{Plan, ResourceChange};
pub use problem::{Problem, Problems};
pub use source::{BundleError, SourceBundle};
