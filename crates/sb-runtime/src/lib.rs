//! The instance runtime. For now it owns configuration deployment and the live
//! configuration that new contacts start on; the contact and routing owner joins it.
//!
//! Architecture invariant: no HTTP and no SQL here. Storage is reached through the
//! `sb_store::Store` trait; callers (the API, the CLI) reach the runtime through its
//! own types.

pub mod audit;
pub mod deploy;
pub mod functions;
pub mod historical;
pub mod instance;
pub mod keys;
pub mod live;
pub mod open;
pub mod privacy;
pub mod retention;
pub mod vault;

pub use deploy::{Applied, DeployError, Deployer, PlanOutcome};
pub use functions::FunctionInvoker;
pub use live::{DeployedConfig, LiveConfig};
