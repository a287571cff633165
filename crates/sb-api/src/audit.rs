//! Which calls are audited, and what their records hold. Every mutating call, every
//! sensitive read, and every refused credential or authorization is recorded before
//! its answer leaves, with secrets redacted from the parameters.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{header, Request};
use sb_runtime::audit::AuditRecord;
use sb_security::{Action, Principal};

/// Query parameters whose values are never recorded: secrets, and a customer's
/// identity (a privacy request must not copy it into a trail that outlives erasure).
const SECRET_PARAMETERS: [&str; 6] = ["token", "secret", "password", "key", "code", "customer"];

pub(crate) fn audited(action: Action) -> bool {
    action.is_mutating() || action.is_sensitive_read()
}

/// The record of a request, before its outcome is known.
pub(crate) fn record_of<B>(request: &Request<B>, action: &str) -> AuditRecord {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect::<String>())
    };
    let parameters: serde_json::Map<String, serde_json::Value> = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| {
                    let secret = SECRET_PARAMETERS
                        .iter()
                        .any(|s| k.to_ascii_lowercase().contains(s));
                    let value = if secret { "***".into() } else { v.into_owned() };
                    (k.into_owned(), serde_json::Value::String(value))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut record = AuditRecord::now(action);
    record.method = Some(request.method().to_string());
    record.path = Some(request.uri().path().to_string());
    record.parameters = if parameters.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::Value::Object(parameters)
    };
    record.user_agent = header(header::USER_AGENT.as_str());
    record.request_id = header("x-request-id");
    record.client_request_id = header(crate::telemetry::CLIENT_REQUEST_ID);
    record.source_address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    record
}

pub(crate) fn identify(record: &mut AuditRecord, principal: &Principal) {
    record.credential = Some(principal.id.clone());
    record.user = Some(principal.user.clone());
    record.role = Some(principal.role.name.clone());
    record.authenticated_by = if principal.id.contains('/') {
        "session_token"
    } else {
        "api_key"
    }
    .into();
}
