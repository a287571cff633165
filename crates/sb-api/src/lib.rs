//! The HTTPS API: routes, authentication, TLS, OpenAPI, health and Prometheus metrics.
//!
//! Architecture invariant: only this crate knows HTTP and JSON on the wire. It turns
//! requests into calls on the runtime and never touches the store's tables itself.

mod audit;
mod auth;
mod connection_limits;
mod error;
mod routes;
mod server;
mod socket_frames;
pub mod socket_requests;
mod telemetry;
pub mod tls;
mod wire;

pub use auth::{
    endpoint_actions, ensure_bootstrap_credential, BootstrapCredential, PARTICIPANT_ENDPOINTS,
    PUBLIC_ENDPOINTS,
};
pub use connection_limits::ConnectionLimits;
pub use error::ApiError;
pub use routes::metrics::RealtimeViews;
pub use routes::stream_tail::StreamTails;
pub use server::{build_router, serve, AppState, ServeOptions, Signals};
pub use telemetry::install_metrics_recorder;
