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
    autoscaling_gauges(&state);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// What an autoscaler or alert needs, set from the runtime's latest real-time snapshot
/// at scrape time (the runtime does no work per scrape).
fn autoscaling_gauges(state: &AppState) {
    use sb_routing::AgentStatus;
    use std::collections::BTreeMap;
    let snapshot = state.runtime.realtime().borrow().clone();
    let mut in_queue: BTreeMap<&str, u64> = BTreeMap::new();
    for queue in snapshot.serving.keys().map(|(q, _)| q.as_str()) {
        in_queue.entry(queue).or_default();
    }
    for c in snapshot.contacts.iter().filter(|c| c.in_queue) {
        *in_queue.entry(c.queue.as_str()).or_default() += 1;
    }
    for (queue, n) in in_queue {
        metrics::gauge!("switchboard_contacts_in_queue", "queue" => queue.to_string())
            .set(n as f64);
    }
    for (ix, channel) in sb_model::Channel::ALL.into_iter().enumerate() {
        let active: u32 = snapshot.agents.iter().map(|a| a.slots[ix].1).sum();
        metrics::gauge!("switchboard_active_contacts", "channel" => channel.as_str())
            .set(f64::from(active));
    }
    let mut by_state: BTreeMap<&str, u64> = [
        "available",
        "on_contact",
        "after_contact_work",
        "non_productive",
        "error",
        "offline",
    ]
    .into_iter()
    .map(|s| (s, 0))
    .collect();
    for a in &snapshot.agents {
        let state = if a.missed {
            "error"
        } else if a.connected {
            "on_contact"
        } else if a.after_work {
            "after_contact_work"
        } else {
            match a.status {
                AgentStatus::Routable(_) => "available",
                AgentStatus::Custom(_) => "non_productive",
                AgentStatus::Offline => "offline",
            }
        };
        *by_state.entry(state).or_default() += 1;
    }
    for (agent_state, n) in by_state {
        metrics::gauge!("switchboard_agents", "state" => agent_state).set(n as f64);
    }
    let lag = state.runtime.event_log_pending();
    metrics::gauge!("switchboard_event_log_pending_events").set(lag as f64);
    metrics::gauge!("switchboard_event_log_committed_seq")
        .set(*state.runtime.committed().borrow() as f64);
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
