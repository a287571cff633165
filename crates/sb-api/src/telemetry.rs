//! Prometheus metrics and the access log: one middleware measures and logs every
//! request, with the route template (not the raw path) as the label, so the number
//! of series stays bounded.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::CallerName;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the process-wide metrics recorder once and return its handle.
pub fn install_metrics_recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .expect("static buckets are valid")
                // Finer where the durability floor sits: a relayed message or an offer
                // waits for one commit, and its budget is a few milliseconds.
                .set_buckets_for_metric(
                    Matcher::Full(sb_store::COMMIT_SECONDS_METRIC.to_string()),
                    &[
                        0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005,
                        0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                    ],
                )
                .expect("static buckets are valid")
                .set_buckets_for_metric(
                    Matcher::Full(sb_store::BATCH_EVENTS_METRIC.to_string()),
                    &[
                        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
                        4096.0, 8192.0,
                    ],
                )
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests in one process); then
            // ours still renders what it records.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("switchboard_http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "switchboard_http_request_duration_seconds",
        &[("method", method.to_string()), ("route", route.clone())]
    )
    .record(elapsed.as_secs_f64());
    let caller = response
        .extensions()
        .get::<CallerName>()
        .map(|c| c.0.as_str())
        .unwrap_or("-");
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        caller,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// The client's own request id, kept beside ours (bounded, printable characters only).
pub(crate) const CLIENT_REQUEST_ID: &str = "x-client-request-id";

/// Before everything else: a request id is always the server's own (a fresh one is set
/// next), so ids in logs and audit records cannot collide or be forged; a client's id is
/// kept as `x-client-request-id`, cut to 64 characters of `[A-Za-z0-9._:-]`. After: the
/// response says the API is HTTPS only (HSTS) and that its types are what they say.
pub(crate) async fn edge_headers(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    if let Some(given) = request.headers_mut().remove("x-request-id") {
        let kept: String = given
            .to_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
            .take(64)
            .collect();
        if let Ok(value) = HeaderValue::from_str(&kept) {
            if !kept.is_empty() {
                request.headers_mut().insert(CLIENT_REQUEST_ID, value);
            }
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
