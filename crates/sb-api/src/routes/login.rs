//! Signing in with a password and, where required, a one-time code: the answer is a
//! short-lived token. Ten failures in a row lock the user out for 30 minutes; every
//! attempt is audited.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::Extension;
use axum::Json;
use sb_runtime::audit::AuditRecord;
use sb_security::password;
use sb_security::token::{Claims, MAX_SECONDS, MIN_SECONDS};
use sb_security::totp::{recovery_code_hash, TotpSecret};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::server::AppState;

/// PCI DSS 8.3.4: lock out after this many failures, for at least 30 minutes.
const MAX_FAILURES: u32 = 10;
const LOCKOUT_MS: i64 = 30 * 60_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    user: String,
    password: String,
    /// The current six-digit code from the user's authenticator, when MFA applies.
    code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginResponse {
    token: String,
    expires_at: String,
    role: String,
}

/// Sign in; MFA is required for the roles in `security.mfa_required_roles` and for
/// anyone enrolled.
#[utoipa::path(post, path = "/v1/auth/login", tag = "operations",
    request_body = LoginRequest,
    responses((status = 200, body = LoginResponse),
        (status = 401, description = "wrong user, password or code, or locked out")))]
pub(crate) async fn login(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(request): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let mut record = AuditRecord::now("auth:Login");
    record.user = Some(request.user.chars().take(128).collect());
    record.authenticated_by = "password".into();
    record.source_address = connection.map(|Extension(ConnectInfo(addr))| addr.ip().to_string());
    record.user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    record.request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let outcome = attempt(&state, &request).await;
    match &outcome {
        Ok(_) => record.status = Some(200),
        Err(e) => {
            record.outcome = "denied".into();
            record.status = Some(401);
            record.error = Some(e.clone());
        }
    }
    if let Err(e) = state.runtime.audit(&record).await {
        tracing::error!(error = %e, "audit record not written");
    }
    outcome.map(Json).map_err(ApiError::Unauthorized)
}

async fn attempt(state: &AppState, request: &LoginRequest) -> Result<LoginResponse, String> {
    let wrong = || "the user, password or code is wrong".to_string();
    let config = state.deployer.live().current().ok_or_else(wrong)?;
    let spec_user = config
        .spec
        .users
        .get(request.user.as_str())
        .ok_or_else(wrong)?;
    let role = state
        .roles
        .grant(state, spec_user.role.as_str())
        .ok_or_else(wrong)?
        .name;
    let store = state.store.clone();
    let user = request.user.clone();
    let mut login = tokio::task::spawn_blocking(move || store.user_login(&user))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
        .ok_or_else(wrong)?;
    let now = jiff::Timestamp::now();
    if login.locked_until_ms > now.as_millisecond() {
        return Err(format!(
            "locked out after {MAX_FAILURES} failed sign-ins until {}",
            jiff::Timestamp::from_millisecond(login.locked_until_ms).unwrap_or(now)
        ));
    }
    let mfa_required = config
        .spec
        .security
        .mfa_required_roles
        .iter()
        .any(|r| r.as_str() == role.as_str())
        || login.totp_secret.is_some();
    let mut checked = password::matches(&request.password, &login.password_hash);
    let second_factor = checked && mfa_required;
    if second_factor {
        checked = match (&login.totp_secret, &request.code) {
            (Some(secret), Some(code)) => {
                let by_code = sb_runtime::vault::open_text(Some(state.vault.users_key()), secret)
                    .ok()
                    .and_then(|secret| TotpSecret::from_base32(&secret).ok())
                    .and_then(|s| s.verify(code, now.as_second(), login.totp_last_step).ok())
                    .map(|step| login.totp_last_step = Some(step))
                    .is_some();
                // A recovery code stands in for a code, once.
                let hash = recovery_code_hash(code);
                let by_recovery = !by_code && login.recovery_code_hashes.contains(&hash);
                if by_recovery {
                    login.recovery_code_hashes.retain(|h| *h != hash);
                }
                by_code || by_recovery
            }
            _ => false,
        };
    }
    let result = if checked {
        login.failures = 0;
        Ok(())
    } else {
        login.failures += 1;
        if login.failures >= MAX_FAILURES {
            login.failures = 0;
            login.locked_until_ms = now.as_millisecond() + LOCKOUT_MS;
        }
        Err(if mfa_required && login.totp_secret.is_none() {
            "multi-factor authentication is required for this role: enrol with `switchboard user enrol-totp`".to_string()
        } else {
            wrong()
        })
    };
    let store = state.store.clone();
    let saved = login.clone();
    tokio::task::spawn_blocking(move || store.save_user_login(&saved))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    result?;
    let seconds = (i64::from(config.spec.security.session_duration_minutes) * 60)
        .clamp(MIN_SECONDS, MAX_SECONDS);
    let claims = Claims {
        credential: format!("user:{}", request.user),
        user: request.user.clone(),
        role,
        actions: None,
        issued_at: now.as_second(),
        expires_at: now.as_second() + seconds,
        id: sb_security::random_id().map_err(|e| e.to_string())?,
        assumed_from: None,
        // Reached only when the code (or a recovery code) checked out.
        mfa: second_factor,
    };
    Ok(LoginResponse {
        token: state.token_key.issue(&claims),
        expires_at: jiff::Timestamp::from_second(claims.expires_at)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        role: claims.role,
    })
}
