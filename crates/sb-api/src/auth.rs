//! Every request but the health probes carries a credential, and every endpoint
//! declares the one action it performs. The table below is that declaration; a route
//! missing from it is refused, so forgetting to declare an action fails closed.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use sb_security::policy::{Policy, RequestContext};
use sb_security::{authorize, Action, ApiKey, Principal, Role, RoleGrant};
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
    ("GET", "/v1/agent", Action::AgentConnect),
    ("POST", "/v1/agent/actions", Action::AgentConnect),
    ("GET", "/v1/agents", Action::AgentList),
    ("POST", "/v1/agents/{agent}/status", Action::AgentSetStatus),
    ("GET", "/v1/contacts", Action::ContactRead),
    ("GET", "/v1/contacts/live", Action::ContactRead),
    ("GET", "/v1/contacts/{contact}", Action::ContactRead),
    (
        "GET",
        "/v1/contacts/{contact}/routing",
        Action::RoutingExplain,
    ),
    ("POST", "/v1/contacts/{contact}/stop", Action::ContactStop),
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
    ("POST", "/v1/auth/sign-out", Action::AuthToken),
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

/// The action a request performs. HEAD is GET without the body. A route declared for
/// other methods only is a 405 naming them; a route not declared at all is a bug, and
/// fails closed.
fn action_for(method: &Method, route: &str) -> Result<Action, ApiError> {
    let declared_as = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    let mut allowed = Vec::new();
    for (m, r, action) in ENDPOINT_ACTIONS {
        if *r == route {
            if *m == declared_as.as_str() {
                return Ok(*action);
            }
            allowed.push(*m);
        }
    }
    if allowed.is_empty() {
        return Err(ApiError::Internal(format!(
            "route {route} declares no action"
        )));
    }
    Err(ApiError::MethodNotAllowed {
        method: method.to_string(),
        route: route.to_string(),
        allowed,
    })
}

/// The credential in an `Authorization: Bearer …` header.
pub(crate) fn bearer_header(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

/// The WebSocket subprotocol every socket speaks, and the one the server selects.
pub(crate) const SOCKET_PROTOCOL: &str = "switchboard.v1";
/// A browser, which cannot set headers on a WebSocket, offers its credential as a
/// second subprotocol, `bearer.<credential>`, beside [`SOCKET_PROTOCOL`]: the header is
/// not logged, kept in history or sent on by proxies as a URL is, and the server never
/// selects (echoes) it.
const PROTOCOL_CREDENTIAL_PREFIX: &str = "bearer.";

/// The credential offered as a `bearer.…` WebSocket subprotocol, if any.
pub(crate) fn subprotocol_credential(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(PROTOCOL_CREDENTIAL_PREFIX))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The request's credential: `Authorization: Bearer …`, or — for a WebSocket upgrade
/// only, since a browser cannot set headers on one — a `bearer.…` subprotocol or a
/// `token` query parameter (as the customer's chat socket takes; audit records show it
/// as `***`).
fn bearer_of(request: &Request) -> Option<String> {
    let from_header = bearer_header(request.headers());
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    from_header.or_else(|| {
        if !upgrade {
            return None;
        }
        subprotocol_credential(request.headers()).or_else(|| {
            request.uri().query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.into_owned())
            })
        })
    })
}

/// How often a long-lived connection's credential is checked again.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The credential a request came with, for a connection that outlives the request
/// (an agent's socket, a pushed-metrics socket, a stream subscription): [`Self::ended`]
/// resolves when the credential no longer holds — revoked, its user signed out,
/// removed or given another role, or its token expired — so the connection is closed.
#[derive(Clone)]
pub(crate) struct CredentialWatch {
    bearer: String,
    role: String,
    expires_at: Option<i64>,
}

impl CredentialWatch {
    pub(crate) async fn ended(self, state: AppState) {
        loop {
            let mut wait = RECHECK_EVERY;
            if let Some(expires_at) = self.expires_at {
                let left = expires_at - jiff::Timestamp::now().as_second();
                if left <= 0 {
                    return;
                }
                wait = wait.min(std::time::Duration::from_secs(left as u64));
            }
            tokio::time::sleep(wait).await;
            match authenticate(&state, Some(self.bearer.clone()), Use::Watch).await {
                Ok(p) if p.role.name == self.role => {}
                _ => return,
            }
        }
    }
}

/// Why a credential is being checked: a request (which counts as use of a signed-in
/// session), or a watch on an open connection (which does not, so an open socket does
/// not keep an idle session alive by itself).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Request,
    Watch,
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
    // A method the route does not take is told only to an authenticated caller, so
    // routes and methods cannot be listed without a credential.
    let action = action_for(request.method(), route);
    let audited_as = action.as_ref().map_or("none", |a| a.as_str());
    let mut record = crate::audit::record_of(&request, audited_as);
    let bearer = bearer_of(&request);
    let principal = match authenticate(&state, bearer.clone(), Use::Request).await {
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
    let action = action?;
    crate::audit::identify(&mut record, &principal);
    let context = RequestContext {
        resource: resource_of(request.uri().path())?,
        mfa_present: principal.mfa_present,
        source: request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip()),
        now: jiff::Timestamp::now(),
    };
    if let Err(denied) = authorize(&principal, action, &context) {
        let e = ApiError::from(denied);
        record.outcome = "denied".into();
        record.status = Some(e.status().as_u16());
        record.error = Some(e.to_string());
        write_audit(&state, &record).await;
        return Err(e);
    }
    let caller = CallerName(principal.name.clone());
    if let Some(bearer) = bearer_of(&request) {
        request.extensions_mut().insert(CredentialWatch {
            bearer,
            role: principal.role.name.clone(),
            expires_at: principal.session.map(|s| s.expires_at),
        });
    }
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

/// What a request acts on, for policies' `resources`: its path below `/v1/`
/// (`contacts/abc/transcript`), or the path without its slash (`metrics`), each segment
/// percent-decoded as the router decodes the names it hands to handlers — so a policy
/// decides on the very names the handler serves (`contact%2Devents` is
/// `contact-events`). A segment that decodes to a slash or to bytes that are not UTF-8
/// names nothing a handler serves, and is refused rather than guessed at.
pub(crate) fn resource_of(path: &str) -> Result<String, ApiError> {
    let path = path.strip_prefix("/v1/").unwrap_or(path);
    let path = path.trim_start_matches('/');
    let mut resource = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| {
                ApiError::BadRequest("a path segment is not valid UTF-8 once decoded".into())
            })?;
        if decoded.contains('/') {
            return Err(ApiError::BadRequest(
                "a path segment may not contain an encoded slash (%2F)".into(),
            ));
        }
        if i > 0 {
            resource.push('/');
        }
        resource.push_str(&decoded);
    }
    Ok(resource)
}

/// The policies of the roles callers act in: the built-in ones, and the custom roles
/// of the deployed spec, compiled once per configuration version.
#[derive(Default)]
pub struct RoleCache {
    compiled: std::sync::Mutex<(u64, std::collections::HashMap<String, Arc<Policy>>)>,
}

impl RoleCache {
    /// The role named `name`, if it exists now.
    pub fn grant(&self, state: &AppState, name: &str) -> Option<RoleGrant> {
        if let Some(role) = Role::parse(name) {
            return Some(RoleGrant::built_in(role));
        }
        let config = state.deployer.live().current()?;
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if compiled.0 != config.version {
            let policies = config
                .spec
                .roles
                .values()
                .filter_map(|r| {
                    Policy::compile(r)
                        .ok()
                        .map(|p| (r.name.to_string(), Arc::new(p)))
                })
                .collect();
            *compiled = (config.version, policies);
        }
        compiled.1.get(name).map(|policy| RoleGrant {
            name: name.to_string(),
            policy: policy.clone(),
        })
    }
}

async fn authenticate(
    state: &AppState,
    bearer: Option<String>,
    usage: Use,
) -> Result<Principal, ApiError> {
    let token = bearer.ok_or(ApiError::Unauthenticated)?;
    if token.starts_with(sb_security::token::TOKEN_PREFIX) {
        return from_session_token(state, &token, usage).await;
    }
    let key = ApiKey::parse(&token).map_err(|_| ApiError::Unauthenticated)?;
    verify(state, key).await
}

/// Record before answering. A record that cannot be written is logged as an error:
/// the call it describes has already happened and is answered truthfully.
async fn write_audit(state: &AppState, record: &sb_runtime::audit::AuditRecord) {
    if let Err(e) = state.runtime.audit(record).await {
        tracing::error!(action = %record.action, error = %e, "audit record not written");
    }
}

/// A key of a role that must sign in with a second factor, where the instance says
/// such roles use no keys (`security.allow_api_keys_for_mfa_roles: false`).
fn refuse_key_of_mfa_role(state: &AppState, id: &str, role: &str) -> Result<(), ApiError> {
    let Some(config) = state.deployer.live().current() else {
        return Ok(());
    };
    let security = &config.spec.security;
    if security.allow_api_keys_for_mfa_roles
        || !security
            .mfa_required_roles
            .iter()
            .any(|r| r.as_str() == role)
    {
        return Ok(());
    }
    tracing::warn!(credential = %id, role, "API key of a role that must sign in with MFA");
    Err(ApiError::Forbidden(format!(
        "credential {id} is an API key of role '{role}', which must sign in with a second \
         factor (security.mfa_required_roles), and this instance allows no API keys for it \
         (security.allow_api_keys_for_mfa_roles: false): sign in with POST /v1/auth/login"
    )))
}

async fn verify(state: &AppState, key: ApiKey) -> Result<Principal, ApiError> {
    // A point lookup on the store's own lookup connection, made inline: a blocking
    // thread would add two hand-offs to every API call, and on the shared connection it
    // would queue behind whatever long read (a report, a stream page) holds it.
    let stored = state.store.credential(&key.id)?;
    let Some(stored) = stored.filter(|s| key.matches(&s.secret_sha256)) else {
        tracing::warn!(credential = %key.id, "rejected credential");
        return Err(ApiError::BadCredential);
    };
    // A key of a person follows them: while they are locked out, their keys are too
    // (and so are the tokens exchanged for them).
    if locked_out(state, &stored.principal)? {
        tracing::warn!(credential = %key.id, user = %stored.principal, "credential of a locked-out user");
        return Err(ApiError::BadCredential);
    }
    refuse_key_of_mfa_role(state, &stored.id, &stored.role)?;
    // A custom role removed from the spec leaves its credentials with no rights.
    let role = state.roles.grant(state, &stored.role).ok_or_else(|| {
        ApiError::Forbidden(format!(
            "credential {} has role '{}', which the deployed spec no longer defines",
            stored.id, stored.role
        ))
    })?;
    Ok(Principal {
        name: format!("{} ({})", stored.principal, stored.id),
        user: stored.principal,
        id: stored.id,
        role,
        assumed_from: None,
        session_actions: None,
        mfa_present: false,
        session: None,
    })
}

/// Whether `user` is locked out of signing in now (after ten failures).
fn locked_out(state: &AppState, user: &str) -> Result<bool, ApiError> {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    Ok(state
        .store
        .user_login(user)?
        .is_some_and(|l| l.locked_until_ms > now_ms))
}

/// A short-lived token's holder, while the credential it came from still exists.
async fn from_session_token(
    state: &AppState,
    token: &str,
    usage: Use,
) -> Result<Principal, ApiError> {
    let claims = state
        .token_key
        .verify(token, jiff::Timestamp::now().as_second())
        .map_err(|e| {
            tracing::warn!(error = %e, "rejected session token");
            ApiError::BadCredential
        })?;
    // Point lookups, made inline like the key's in `verify`. A token lives only while
    // what it was issued for still holds: the user is in the deployed spec with the
    // role they signed in with, not locked out, and has not ended their sessions since
    // (a new password, "sign out everywhere", a lockout); an API key's token while the
    // key exists with the role it had.
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let live = match claims.credential.strip_prefix("user:") {
        Some(user) => {
            let in_spec = state.deployer.live().current().is_some_and(|c| {
                c.spec
                    .users
                    .get(user)
                    .is_some_and(|u| u.role.as_str() == claims.base_role())
            });
            in_spec
                && state
                    .store
                    .user_login(user)?
                    .is_some_and(|l| l.locked_until_ms <= now_ms && l.session_epoch == claims.epoch)
        }
        None => match state.store.credential(&claims.credential)? {
            Some(c) => c.role == claims.base_role() && !locked_out(state, &c.principal)?,
            None => false,
        },
    };
    if !live {
        // Revoking a credential revokes every token exchanged for it.
        return Err(ApiError::BadCredential);
    }
    if claims.credential.starts_with("user:") && usage == Use::Request {
        let idle_minutes = state
            .deployer
            .live()
            .current()
            .map_or(15, |c| c.spec.security.idle_timeout_minutes);
        state
            .sessions
            .touch(&claims, i64::from(idle_minutes) * 60_000)?;
    }
    let role = state
        .roles
        .grant(state, &claims.role)
        .ok_or(ApiError::BadCredential)?;
    let assumed_from = match &claims.assumed_from {
        None => None,
        Some(name) => Some(
            state
                .roles
                .grant(state, name)
                .ok_or(ApiError::BadCredential)?,
        ),
    };
    let session = claims.session();
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
        assumed_from,
        session_actions,
        mfa_present: claims.mfa,
        session: Some(session),
    })
}

/// When each signed-in user's session was last used: a session idle longer than the
/// instance's `idle_timeout_minutes` (15 by default, PCI DSS 8.2.8) is over, whatever
/// its token's expiry. Kept in memory: after a restart, a session counts as last used
/// when its token was issued, so a restart never lengthens one.
#[derive(Default)]
pub struct SessionActivity {
    last_used_ms: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

impl SessionActivity {
    fn touch(&self, claims: &sb_security::token::Claims, idle_ms: i64) -> Result<(), ApiError> {
        let now = jiff::Timestamp::now().as_millisecond();
        let mut seen = self.last_used_ms.lock().unwrap_or_else(|e| e.into_inner());
        let last = *seen.get(&claims.id).unwrap_or(&(claims.issued_at * 1000));
        if now - last > idle_ms {
            seen.remove(&claims.id);
            return Err(ApiError::SessionIdle(idle_ms / 60_000));
        }
        // Forget sessions that can no longer be used, now and then.
        if seen.len() > 10_000 {
            seen.retain(|_, &mut at| now - at <= idle_ms);
        }
        seen.insert(claims.id.clone(), now);
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(issued_at: i64) -> sb_security::token::Claims {
        sb_security::token::Claims {
            credential: "user:frank".into(),
            user: "frank".into(),
            role: "Analyst".into(),
            actions: None,
            issued_at,
            expires_at: issued_at + 3600,
            id: format!("t{issued_at}"),
            assumed_from: None,
            mfa: false,
            epoch: 0,
            authenticated_at: 0,
        }
    }

    #[test]
    fn a_session_unused_past_the_idle_limit_is_over() {
        let sessions = SessionActivity::default();
        let now = jiff::Timestamp::now().as_second();
        let fresh = claims(now - 60);
        assert!(sessions.touch(&fresh, 15 * 60_000).is_ok());
        assert!(
            sessions.touch(&fresh, 15 * 60_000).is_ok(),
            "used again: still on"
        );
        // Issued 20 minutes ago and not used since (or not since a restart).
        let stale = claims(now - 20 * 60);
        assert!(matches!(
            sessions.touch(&stale, 15 * 60_000),
            Err(ApiError::SessionIdle(15))
        ));
        // Last used 2 seconds ago, limit 1 second.
        let used = claims(now);
        sessions.touch(&used, 60_000).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            sessions.touch(&used, 10).is_err(),
            "idle longer than the limit"
        );
    }

    #[test]
    fn resources_are_paths_below_v1() {
        assert_eq!(
            resource_of("/v1/contacts/abc/transcript").unwrap(),
            "contacts/abc/transcript"
        );
        assert_eq!(resource_of("/metrics").unwrap(), "metrics");
    }

    #[test]
    fn resources_are_decoded_as_handlers_see_them() {
        assert_eq!(
            resource_of("/v1/streams/contact%2Devents").unwrap(),
            "streams/contact-events"
        );
        assert_eq!(
            resource_of("/v1/streams/%63ontact-events/subscribe").unwrap(),
            "streams/contact-events/subscribe"
        );
        assert!(resource_of("/v1/contacts/a%2Fb/transcript").is_err());
        assert!(resource_of("/v1/contacts/a%2fb").is_err());
        assert!(resource_of("/v1/contacts/%ff").is_err());
    }
}
