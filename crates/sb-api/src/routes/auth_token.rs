//! The token exchange (like AWS STS): a credential buys a short-lived token, optionally
//! for a narrower role and with a session policy that narrows further.

use axum::extract::State;
use axum::{Extension, Json};
use sb_security::token::{narrow, Claims, DEFAULT_SECONDS, MAX_SECONDS, MIN_SECONDS};
use sb_security::Principal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::server::AppState;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// 900 to 43,200 seconds; default 3,600.
    duration_seconds: Option<i64>,
    /// Assume this built-in role; it must allow nothing the caller's does not.
    role: Option<String>,
    /// A session policy: only these actions (each allowed by the role and the caller).
    actions: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`, to any endpoint and socket.
    token: String,
    /// RFC 3339.
    expires_at: String,
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    actions: Option<Vec<String>>,
}

/// Exchange the caller's credential for a short-lived token.
#[utoipa::path(post, path = "/v1/auth/token", tag = "operations",
    request_body = TokenRequest,
    responses((status = 200, body = TokenResponse),
        (status = 400, description = "a duration out of range, or a role or session policy wider than the caller")))]
pub(crate) async fn get_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Json(request): Json<TokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let seconds = request.duration_seconds.unwrap_or(DEFAULT_SECONDS);
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(ApiError::BadRequest(format!(
            "duration_seconds must be {MIN_SECONDS} to {MAX_SECONDS}, not {seconds}"
        )));
    }
    let asked = match request.role.as_deref() {
        None => None,
        Some(name) => Some(
            state
                .roles
                .grant(&state, name)
                .ok_or_else(|| ApiError::BadRequest(format!("no role named '{name}'")))?,
        ),
    };
    let (role, actions) = narrow(&principal, asked, request.actions.as_deref())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Assuming another role keeps the conditions of the one the caller came with.
    let assumed_from = principal
        .assumed_from
        .clone()
        .map(|r| r.name)
        .or_else(|| (role.name != principal.role.name).then(|| principal.role.name.clone()));
    let now = jiff::Timestamp::now().as_second();
    let id = sb_security::random_id().map_err(|e| ApiError::Internal(e.to_string()))?;
    let actions: Option<Vec<String>> =
        actions.map(|a| a.iter().map(|a| a.as_str().to_string()).collect());
    let claims = Claims {
        credential: principal
            .id
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        user: principal.user.clone(),
        role: role.name.clone(),
        actions: actions.clone(),
        issued_at: now,
        expires_at: sb_security::token::exchanged_expiry(&principal, now, seconds),
        id,
        assumed_from,
        // The second factor and the session's start and epoch carry over unchanged.
        mfa: principal.mfa_present,
        epoch: principal.session.map_or(0, |s| s.epoch),
        authenticated_at: principal.session.map_or(now, |s| s.authenticated_at),
    };
    Ok(Json(TokenResponse {
        token: state.token_key.issue(&claims),
        expires_at: jiff::Timestamp::from_second(claims.expires_at)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        role: claims.role,
        actions,
    }))
}

/// Sign out everywhere: every token from the caller's sign-ins, and every token
/// exchanged from one, is refused from now on, and their open sockets and streams close.
#[utoipa::path(post, path = "/v1/auth/sign-out", tag = "operations",
    responses((status = 204, description = "every session of the caller has ended"),
        (status = 400, description = "the caller is an API key, which has no sessions: revoke it instead")))]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<axum::http::StatusCode, ApiError> {
    if !principal.id.starts_with("user:") {
        return Err(ApiError::BadRequest(
            "an API key has no sign-in sessions to end: revoke the key with `switchboard credential revoke`".into(),
        ));
    }
    let store = state.store.clone();
    let user = principal.user.clone();
    super::blocking(move || store.update_user_login(&user, &mut |login| login.session_epoch += 1))
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
