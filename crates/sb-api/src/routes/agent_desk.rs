//! The REST equivalent of the agent socket, for scripts: the same frames, one request
//! each, and the desk (state and contacts) in every answer.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sb_security::Principal;

use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;
use crate::wire::AgentDeskView;

/// The calling agent's desk: its state, and every contact offered to it, connected to
/// it or in after-contact work (with attributes and the conversation so far). The
/// first call logs the agent in (Offline) without a socket.
#[utoipa::path(get, path = "/v1/agent", tag = "agents",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub(crate) async fn desk(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    let desk = state.runtime.agent_desk(principal.user, None).await?;
    Ok(Json(AgentDeskView::from(&desk)).into_response())
}

/// Do what one agent-socket frame does — `{"type": "set_status", "status": "Available"}`,
/// `accept`, `reject`, `message`, `set_attributes`, `transfer`, `end`, `complete`,
/// `callback_failed` — and
/// answer with the desk afterwards. Errors are the socket's, as HTTP statuses.
#[utoipa::path(post, path = "/v1/agent/actions", tag = "agents", request_body = Object,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn act(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Json(action): Json<crate::socket_requests::AgentRequest>,
) -> Result<Response, ApiError> {
    let desk = state
        .runtime
        .agent_desk(principal.user, Some(action.into()))
        .await?;
    Ok(Json(AgentDeskView::from(&desk)).into_response())
}
