//! Probes, metrics and the API description.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;

use crate::server::AppState;

/// The OpenAPI document, rendered once when the router is built.
#[derive(Clone)]
pub(crate) struct OpenApiJson(pub Arc<String>);

/// Alive: the process answers. Needs no credential.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is alive", body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    ready: bool,
    /// The configuration version contacts start on.
    #[serde(skip_serializing_if = "Option::is_none")]
    config_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Ready to take contacts: live contacts are recovered, a configuration is deployed and
/// the server is not draining.
/// Needs no credential.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; `reason` says why", body = Readiness)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let config_version = state.deployer.live().current().map(|c| c.version);
    let reason = if state.draining.load(Ordering::Acquire) {
        Some("shutting down")
    } else if config_version.is_none() {
        Some("no configuration deployed yet: run `switchboard apply`")
    } else if !state.runtime.is_ready() {
        Some("recovering live contacts")
    } else {
        None
    };
    let status = if reason.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready: reason.is_none(),
            config_version,
            reason,
        }),
    )
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(current) = state.deployer.live().current() {
        metrics::gauge!("switchboard_config_version").set(current.version as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// This API's OpenAPI 3 description, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub(crate) async fn openapi(Extension(doc): Extension<OpenApiJson>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
}
