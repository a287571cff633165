//! One error type for every endpoint, with one JSON body shape:
//! `{"error": {"code": "...", "message": "...", "problems": [...]}}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sb_runtime::DeployError;
use sb_spec::Problems;
use sb_store::StoreError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed credential: send `Authorization: Bearer <credential>`")]
    Unauthenticated,
    #[error("the credential is not valid")]
    BadCredential,
    /// A sign-in refused, with why (never which part was wrong).
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the spec is invalid ({} error(s))", .0.errors().count())]
    InvalidSpec(Problems),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The request ran past its time limit.
    #[error("{0}")]
    Timeout(String),
    /// Asked for data retention already removed.
    #[error("{0}")]
    Gone(String),
    #[error("the session ended after {0} minutes without use; sign in again")]
    SessionIdle(i64),
    /// The data was erased on the customer's request.
    #[error("{0}")]
    Erased(String),
    /// The path exists, not with this method: the ones it takes.
    #[error("{method} is not allowed on {route}; it takes {}", .allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        route: String,
        allowed: Vec<&'static str>,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// What the instance owner answered; its status and code come from one table,
    /// [`runtime_status_and_code`], which the sockets' error frames use too.
    #[error("{0}")]
    Runtime(sb_runtime::instance::RuntimeError),
}

/// What the routing engine refused, for a caller: a status name it does not know is the
/// caller's mistake, a configuration routing cannot use is the server's, and the rest
/// (no such offer, not connected, not waiting, already routed, queue full or closing,
/// the contact gone) are conflicts with the contact's state as it is now.
fn routing_status_and_code(e: &sb_routing::RoutingError) -> (StatusCode, &'static str) {
    use sb_routing::RoutingError as R;
    match e {
        R::UnknownStatus(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        R::InvalidConfig(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        R::UnknownAgent(_)
        | R::UnknownContact(_)
        | R::UnknownQueue(_)
        | R::UnknownProfile(_)
        | R::DuplicateContact(_)
        | R::NotWaiting(_)
        | R::AlreadyLoggedIn(_)
        | R::QueueAtCapacity { .. }
        | R::QueueDraining(_)
        | R::NoSuchOffer { .. }
        | R::NotConnected { .. }
        | R::AgentBusy(_) => (StatusCode::CONFLICT, "conflict"),
    }
}

/// The HTTP status and error code of a runtime error.
pub(crate) fn runtime_status_and_code(
    e: &sb_runtime::instance::RuntimeError,
) -> (StatusCode, &'static str) {
    use sb_runtime::instance::RuntimeError as E;
    match e {
        E::NotReady | E::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        E::UnknownContact(_) | E::UnknownAgent(_) => (StatusCode::NOT_FOUND, "not_found"),
        E::BadToken => (StatusCode::UNAUTHORIZED, "bad_credential"),
        E::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        E::NotAnAgent(_) => (StatusCode::FORBIDDEN, "forbidden"),
        E::Routing(routing) => routing_status_and_code(routing),
        E::NotLoggedIn(_) => (StatusCode::CONFLICT, "conflict"),
        E::MessageTooLong { .. } => (StatusCode::BAD_REQUEST, "message_too_long"),
        E::UnknownFlow(_) | E::NotAContactFlow(_) | E::UnknownStatus(_) | E::Invalid(_) => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
        E::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_spec`, `conflict`, `unauthenticated`.
    code: &'static str,
    message: String,
    /// For `invalid_spec`: every problem, each with file, location and message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    problems: Option<Problems>,
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::BadCredential => (StatusCode::UNAUTHORIZED, "bad_credential"),
            ApiError::SessionIdle(_) => (StatusCode::UNAUTHORIZED, "session_idle"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "sign_in_refused"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::InvalidSpec(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_spec"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Gone(_) => (StatusCode::GONE, "before_retention"),
            ApiError::Erased(_) => (StatusCode::GONE, "erased"),
            ApiError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timed_out"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Runtime(e) => runtime_status_and_code(e),
        }
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        match e {
            DeployError::Invalid(problems) => ApiError::InvalidSpec(problems),
            DeployError::Store(StoreError::Conflict { .. }) => ApiError::Conflict(e.to_string()),
            DeployError::UnknownVersion(_) => ApiError::NotFound(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BeforeRetention(_) => ApiError::Gone(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<sb_security::Denied> for ApiError {
    fn from(e: sb_security::Denied) -> Self {
        ApiError::Forbidden(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let message = bounded(self.to_string());
        let allow = match &self {
            ApiError::MethodNotAllowed { allowed, .. } => Some(allowed.join(", ")),
            _ => None,
        };
        let problems = match self {
            ApiError::InvalidSpec(p) => Some(p),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                problems,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(value) = allow.and_then(|a| header::HeaderValue::from_str(&a).ok()) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}

/// An error's message is a sentence; one that echoes a client's input is cut, so a
/// large request is never reflected back whole.
const MESSAGE_LIMIT: usize = 1024;

fn bounded(mut message: String) -> String {
    if message.len() > MESSAGE_LIMIT {
        let mut cut = MESSAGE_LIMIT;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("… (cut)");
    }
    message
}

/// axum's extractors refuse a request in plain text (a body that is not JSON or not
/// sent as JSON, a path segment that is not a number, a query string that does not
/// parse): here such a refusal gets the error body every other error has, its status
/// kept (400, or for a body 413, 415 and 422), whichever extractor a handler uses.
pub(crate) async fn refusals_in_the_error_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !(response.status().is_client_error() && plain_text) {
        return response;
    }
    let status = response.status();
    // An extractor's message is a line; more than this is not one.
    let text = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => status.canonical_reason().unwrap_or("refused").to_string(),
    };
    let mut refusal = ApiError::BadRequest(text).into_response();
    *refusal.status_mut() = status;
    refusal
}

impl From<sb_runtime::instance::RuntimeError> for ApiError {
    fn from(e: sb_runtime::instance::RuntimeError) -> Self {
        ApiError::Runtime(e)
    }
}
