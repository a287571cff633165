//! Every request but the health probes carries a credential, and every endpoint
//! declares the one action it performs. The table below is that declaration; a route
//! missing from it is refused, so forgetting to declare an action fails closed.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use sb_security::{authorize, Action, ApiKey, Principal, Role};
use sb_store::{Store, StoredCredential};

use crate::error::ApiError;
use crate::server::AppState;

/// (method, route, action) for every authenticated endpoint.
const ENDPOINT_ACTIONS: &[(&str, &str, Action)] = &[
    ("GET", "/metrics", Action::MetricsRead),
    ("GET", "/openapi.json", Action::ApiDescribe),
    ("POST", "/v1/config/plan", Action::ConfigPlan),
    ("POST", "/v1/config/apply", Action::ConfigApply),
    ("POST", "/v1/config/rollback", Action::ConfigRollback),
    ("GET", "/v1/config/versions", Action::ConfigListVersions),
    (
        "GET",
        "/v1/config/versions/{version}",
        Action::ConfigGetVersion,
    ),
    ("POST", "/v1/chat", Action::ChatStart),
    ("POST", "/v1/tasks", Action::TaskCreate),
    ("GET", "/v1/agent/ws", Action::AgentConnect),
    ("GET", "/v1/agents", Action::AgentList),
    ("GET", "/v1/contacts", Action::ContactRead),
    ("GET", "/v1/contacts/live", Action::ContactRead),
    ("GET", "/v1/contacts/{contact}", Action::ContactRead),
    (
        "GET",
        "/v1/contacts/{contact}/routing",
        Action::RoutingExplain,
    ),
    (
        "GET",
        "/v1/contacts/{contact}/flow-logs",
        Action::ContactRead,
    ),
    (
        "GET",
        "/v1/contacts/{contact}/transcript",
        Action::ContactReadTranscript,
    ),
    (
        "GET",
        "/v1/contacts/{contact}/sensitive",
        Action::ContactReadSensitive,
    ),
    ("GET", "/v1/privacy/export", Action::PrivacyExport),
    ("POST", "/v1/privacy/erase", Action::PrivacyErase),
    ("GET", "/v1/metrics/current", Action::MetricsGetCurrent),
    ("GET", "/v1/metrics/current/ws", Action::MetricsGetCurrent),
    (
        "GET",
        "/v1/metrics/historical",
        Action::MetricsGetHistorical,
    ),
    ("POST", "/v1/query", Action::QueryRun),
    ("GET", "/v1/audit", Action::AuditRead),
    ("POST", "/v1/auth/token", Action::AuthToken),
    ("GET", "/v1/streams", Action::StreamRead),
    ("GET", "/v1/streams/{stream}", Action::StreamRead),
    ("GET", "/v1/streams/{stream}/subscribe", Action::StreamRead),
    (
        "GET",
        "/v1/streams/{stream}/checkpoints/{consumer}",
        Action::StreamRead,
    ),
    (
        "PUT",
        "/v1/streams/{stream}/checkpoints/{consumer}",
        Action::StreamCheckpoint,
    ),
];

/// Endpoints anyone may reach: probes, and signing in (which is how a credential is got).
pub const PUBLIC_ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/v1/auth/login"),
];

/// Endpoints a customer reaches with a participant token instead of a credential:
/// the token is good for one contact only.
pub const PARTICIPANT_ENDPOINTS: &[(&str, &str)] = &[("GET", "/v1/chat/ws")];

/// The declared actions, for the OpenAPI document and tests.
pub fn endpoint_actions() -> impl Iterator<Item = (&'static str, &'static str, Action)> {
    ENDPOINT_ACTIONS.iter().copied()
}

fn action_for(method: &Method, route: &str) -> Option<Action> {
    ENDPOINT_ACTIONS
        .iter()
        .find(|(m, r, _)| *m == method.as_str() && *r == route)
        .map(|(_, _, a)| *a)
}

/// The authenticated caller's name, attached to the response so the access log has it.
#[derive(Clone)]
pub(crate) struct CallerName(pub String);

pub(crate) async fn require_credential(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let route = matched
        .as_ref()
        .map(MatchedPath::as_str)
        .unwrap_or_default();
    let action = action_for(request.method(), route)
        .ok_or_else(|| ApiError::Internal(format!("route {route} declares no action")))?;
    let mut record = crate::audit::record_of(&request, action.as_str());
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let principal = match authenticate(&state, bearer).await {
        Ok(principal) => principal,
        Err(e) => {
            // Failed sign-ins are always recorded, whatever the action.
            record.outcome = "denied".into();
            record.status = Some(e.status().as_u16());
            record.error = Some(e.to_string());
            write_audit(&state, &record).await;
            return Err(e);
        }
    };
    crate::audit::identify(&mut record, &principal);
    if let Err(denied) = authorize(&principal, action) {
        let e = ApiError::from(denied);
        record.outcome = "denied".into();
        record.status = Some(e.status().as_u16());
        record.error = Some(e.to_string());
        write_audit(&state, &record).await;
        return Err(e);
    }
    let caller = CallerName(principal.name.clone());
    request.extensions_mut().insert(principal);
    let mut response = next.run(request).await;
    if crate::audit::audited(action) {
        let status = response.status();
        record.status = Some(status.as_u16());
        record.outcome = if status.is_success() || status.is_informational() {
            "allowed"
        } else if status.is_client_error() {
            "failed"
        } else {
            "error"
        }
        .into();
        write_audit(&state, &record).await;
    }
    response.extensions_mut().insert(caller);
    Ok(response)
}

async fn authenticate(state: &AppState, bearer: Option<String>) -> Result<Principal, ApiError> {
    let token = bearer.ok_or(ApiError::Unauthenticated)?;
    if token.starts_with(sb_security::token::TOKEN_PREFIX) {
        return from_session_token(state, &token).await;
    }
    let key = ApiKey::parse(&token).map_err(|_| ApiError::Unauthenticated)?;
    verify(state.store.clone(), key).await
}

/// Record before answering. A record that cannot be written is logged as an error:
/// the call it describes has already happened and is answered truthfully.
async fn write_audit(state: &AppState, record: &sb_runtime::audit::AuditRecord) {
    if let Err(e) = state.runtime.audit(record).await {
        tracing::error!(action = %record.action, error = %e, "audit record not written");
    }
}

async fn verify(store: Arc<dyn Store>, key: ApiKey) -> Result<Principal, ApiError> {
    let id = key.id.clone();
    let stored = tokio::task::spawn_blocking(move || store.credential(&id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let Some(stored) = stored.filter(|s| key.matches(&s.secret_sha256)) else {
        tracing::warn!(credential = %key.id, "rejected credential");
        return Err(ApiError::BadCredential);
    };
    let role = Role::parse(&stored.role)
        .ok_or_else(|| ApiError::Internal(format!("credential {} has unknown role", stored.id)))?;
    Ok(Principal {
        name: format!("{} ({})", stored.principal, stored.id),
        user: stored.principal,
        id: stored.id,
        role,
        session_actions: None,
    })
}

/// A short-lived token's holder, while the credential it came from still exists.
async fn from_session_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state
        .token_key
        .verify(token, jiff::Timestamp::now().as_second())
        .map_err(|e| {
            tracing::warn!(error = %e, "rejected session token");
            ApiError::BadCredential
        })?;
    let store = state.store.clone();
    let credential = claims.credential.clone();
    let live = tokio::task::spawn_blocking(move || match credential.strip_prefix("user:") {
        // A signed-in user's token lives while the user is not locked out.
        Some(user) => store.user_login(user).map(|l| {
            l.filter(|l| l.locked_until_ms <= jiff::Timestamp::now().as_millisecond())
                .is_some()
        }),
        None => store.credential(&credential).map(|c| c.is_some()),
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    if !live {
        // Revoking a credential revokes every token exchanged for it.
        return Err(ApiError::BadCredential);
    }
    let role = Role::parse(&claims.role).ok_or(ApiError::BadCredential)?;
    let session_actions = match &claims.actions {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| Action::parse(n).ok_or(ApiError::BadCredential))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(Principal {
        name: format!(
            "{} ({}, token {})",
            claims.user, claims.credential, claims.id
        ),
        id: format!("{}/{}", claims.credential, claims.id),
        user: claims.user,
        role,
        session_actions,
    })
}

/// A credential made on first start, when none exists. Its token is shown once.
pub struct BootstrapCredential {
    pub id: String,
    pub token: String,
}

/// Create the bootstrap administrator credential if the store has no credential yet.
pub fn ensure_bootstrap_credential(
    store: &dyn Store,
) -> anyhow::Result<Option<BootstrapCredential>> {
    if store.credential_count()? > 0 {
        return Ok(None);
    }
    let issued = ApiKey::issue()?;
    store.insert_credential(&StoredCredential {
        id: issued.id.clone(),
        secret_sha256: issued.secret_sha256,
        principal: "bootstrap-admin".into(),
        role: Role::Admin.as_str().into(),
        description: "created on first start".into(),
        created_at: jiff::Timestamp::now().to_string(),
    })?;
    Ok(Some(BootstrapCredential {
        id: issued.id,
        token: issued.token,
    }))
}
