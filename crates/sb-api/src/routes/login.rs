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
        (status = 401, description = "wrong user, password or code, or locked out"),
        (status = 429, description = "too many failed sign-ins from this address lately")))]
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
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    record.request_id = header("x-request-id");
    record.client_request_id = header(crate::telemetry::CLIENT_REQUEST_ID);
    let source = connection.map(|Extension(ConnectInfo(addr))| addr.ip());
    // An address that keeps failing is slowed before any account is: guessing, and
    // locking known users out, from one address are bounded by it.
    // Each attempt takes its place as a failure before it runs (so parallel attempts
    // cannot all pass a check made before any had failed), and gives it back if it
    // signs in.
    let outcome = if source.is_some_and(|s| !THROTTLE.admit(s)) {
        Err(Refused::Throttled)
    } else {
        let outcome = attempt(&state, &request).await.map_err(Refused::Account);
        if let (Ok(_), Some(source)) = (&outcome, source) {
            THROTTLE.succeeded(source);
        }
        outcome
    };
    match &outcome {
        Ok(_) => record.status = Some(200),
        Err(e) => {
            record.outcome = "denied".into();
            record.status = Some(e.status());
            record.error = Some(e.to_string());
        }
    }
    if let Err(e) = state.runtime.audit(&record).await {
        tracing::error!(error = %e, "audit record not written");
    }
    outcome.map(Json).map_err(|refused| match refused {
        Refused::Account(why) => ApiError::Unauthorized(why),
        Refused::Throttled => ApiError::TooManyRequests(Refused::Throttled.to_string()),
    })
}

/// Failed sign-ins one address may make in [`THROTTLE_WINDOW`] before it must wait.
const FAILURES_PER_SOURCE: usize = 30;
const THROTTLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

static THROTTLE: SourceThrottle = SourceThrottle {
    failures: std::sync::Mutex::new(None),
};

/// Recent failed sign-ins per source address, in memory (a restart forgets them; the
/// per-account lockout is durable).
struct SourceThrottle {
    failures: std::sync::Mutex<
        Option<std::collections::HashMap<std::net::IpAddr, Vec<std::time::Instant>>>,
    >,
}

impl SourceThrottle {
    fn recent(
        map: &mut std::collections::HashMap<std::net::IpAddr, Vec<std::time::Instant>>,
        source: std::net::IpAddr,
    ) -> &mut Vec<std::time::Instant> {
        let times = map.entry(source).or_default();
        times.retain(|t| t.elapsed() < THROTTLE_WINDOW);
        times
    }

    /// Whether `source` may try now; if so, the try counts as a failure until
    /// [`Self::succeeded`] takes it back.
    fn admit(&self, source: std::net::IpAddr) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let map = failures.get_or_insert_with(Default::default);
        let recent = Self::recent(map, source);
        if recent.len() >= FAILURES_PER_SOURCE {
            return false;
        }
        recent.push(std::time::Instant::now());
        // Forget addresses that stopped failing, now and then.
        if map.len() > 10_000 {
            map.retain(|_, times| times.iter().any(|t| t.elapsed() < THROTTLE_WINDOW));
        }
        true
    }

    fn succeeded(&self, source: std::net::IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(times) = failures.as_mut().and_then(|m| m.get_mut(&source)) {
            times.pop();
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Refused {
    /// Why, never which part was wrong.
    #[error("{0}")]
    Account(String),
    #[error("too many failed sign-ins from this address; wait a few minutes")]
    Throttled,
}

impl Refused {
    fn status(&self) -> u16 {
        match self {
            Refused::Account(_) => 401,
            Refused::Throttled => 429,
        }
    }
}

/// How one attempt ended, decided inside the sign-in state's transaction.
enum Decision {
    SignedIn { epoch: u64, second_factor: bool },
    LockedOut(i64),
    MfaNotEnrolled,
    Wrong,
}

/// A hash to check passwords against when the user has none, so that an attempt takes
/// as long whether or not the user exists (otherwise the time tells).
fn stand_in_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash("no user has this password").unwrap_or_default())
}

async fn attempt(state: &AppState, request: &LoginRequest) -> Result<LoginResponse, String> {
    let wrong = || "the user, password or code is wrong".to_string();
    let config = state.deployer.live().current().ok_or_else(wrong)?;
    let role = config
        .spec
        .users
        .get(request.user.as_str())
        .and_then(|u| state.roles.grant(state, u.role.as_str()))
        .map(|grant| grant.name);
    let store = state.store.clone();
    let user = request.user.clone();
    let login = match role {
        Some(_) => tokio::task::spawn_blocking(move || store.user_login(&user))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?,
        None => None,
    };
    // argon2 runs once on every path, off the async workers.
    let hash = login
        .as_ref()
        .map(|l| l.password_hash.clone())
        .filter(|h| !h.is_empty());
    let given = request.password.clone();
    let password_matches = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => password::matches(&given, &hash),
        None => {
            let _ = password::matches(&given, stand_in_hash());
            false
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    let (Some(role), Some(_)) = (role, login) else {
        return Err(wrong());
    };
    let now = jiff::Timestamp::now();
    let role_requires_mfa = config
        .spec
        .security
        .mfa_required_roles
        .iter()
        .any(|r| r.as_str() == role.as_str());
    // Everything that reads and changes the sign-in state — the lock, the failure
    // count, the one-time code's step, the spent recovery code — happens in one
    // transaction, so parallel attempts cannot undo a lock or reuse a code.
    let store = state.store.clone();
    let vault = state.vault.clone();
    let user = request.user.clone();
    let code = request.code.clone();
    let decision = tokio::task::spawn_blocking(move || {
        let mut decision = Decision::Wrong;
        store
            .update_user_login(&user, &mut |login| {
                decision = decide(
                    login,
                    password_matches,
                    role_requires_mfa,
                    code.as_deref(),
                    &vault,
                    now,
                );
            })
            .map(|_| decision)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let (epoch, second_factor) = match decision {
        Decision::SignedIn {
            epoch,
            second_factor,
        } => (epoch, second_factor),
        Decision::LockedOut(until_ms) => {
            return Err(format!(
                "locked out after {MAX_FAILURES} failed sign-ins until {}",
                jiff::Timestamp::from_millisecond(until_ms).unwrap_or(now)
            ))
        }
        Decision::MfaNotEnrolled => return Err(
            "multi-factor authentication is required for this role: enrol with `switchboard user enrol-totp`".to_string(),
        ),
        Decision::Wrong => return Err(wrong()),
    };
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
        epoch,
        authenticated_at: now.as_second(),
    };
    Ok(LoginResponse {
        token: state.token_key.issue(&claims),
        expires_at: jiff::Timestamp::from_second(claims.expires_at)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        role: claims.role,
    })
}

/// One attempt against the user's current sign-in state, changing it as the attempt
/// requires (failures counted, a lock set, a code's step or a recovery code spent).
fn decide(
    login: &mut sb_store::UserLogin,
    password_matches: bool,
    role_requires_mfa: bool,
    code: Option<&str>,
    vault: &sb_runtime::vault::Vault,
    now: jiff::Timestamp,
) -> Decision {
    if login.locked_until_ms > now.as_millisecond() {
        return Decision::LockedOut(login.locked_until_ms);
    }
    let mfa_required = role_requires_mfa || login.totp_secret.is_some();
    let mut checked = password_matches;
    if checked && mfa_required {
        checked = match (&login.totp_secret, code) {
            (Some(secret), Some(code)) => {
                let step = sb_runtime::vault::open_text(Some(vault.users_key()), secret)
                    .ok()
                    .and_then(|secret| TotpSecret::from_base32(&secret).ok())
                    .and_then(|s| s.verify(code, now.as_second(), login.totp_last_step).ok());
                if let Some(step) = step {
                    login.totp_last_step = Some(step);
                    true
                } else {
                    // A recovery code stands in for a code, once.
                    let hash = recovery_code_hash(code);
                    let unused = login.recovery_code_hashes.contains(&hash);
                    login.recovery_code_hashes.retain(|h| *h != hash);
                    unused
                }
            }
            _ => false,
        };
    }
    if checked {
        login.failures = 0;
        return Decision::SignedIn {
            epoch: login.session_epoch,
            second_factor: mfa_required,
        };
    }
    login.failures += 1;
    if login.failures >= MAX_FAILURES {
        login.failures = 0;
        login.locked_until_ms = now.as_millisecond() + LOCKOUT_MS;
        // A lockout ends the user's sessions for good, not only while it lasts.
        login.session_epoch += 1;
    }
    if mfa_required && login.totp_secret.is_none() {
        Decision::MfaNotEnrolled
    } else {
        Decision::Wrong
    }
}
