//! Agents as supervisors see them: every agent's state, and setting one's status.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sb_security::Principal;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;

/// Every logged-in agent's state, live.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", responses((status = 200, body = Vec<Object>)))]
pub(crate) async fn list_agents(State(state): State<AppState>) -> Result<Response, ApiError> {
    let agents = state.runtime.list_agents().await?;
    let views: Vec<crate::wire::AgentState> = agents.iter().map(Into::into).collect();
    Ok(Json(views).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetStatusRequest {
    /// An agent status by its name in the spec (Available, Break, Offline, ...).
    status: String,
}

/// Set a logged-in agent's status for them (Connect's PutUserStatus), as if they had
/// chosen it: during a contact it applies once the contact is done.
#[utoipa::path(post, path = "/v1/agents/{agent}/status", tag = "agents",
    params(("agent" = String, Path)), request_body = SetStatusRequest,
    responses((status = 200, body = Object, description = "the agent's state afterwards"),
        (status = 400, body = ErrorBody, description = "no such status"),
        (status = 404, body = ErrorBody, description = "no agent by that name"),
        (status = 409, body = ErrorBody, description = "the agent is not logged in")))]
pub(crate) async fn set_agent_status(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(agent): Path<String>,
    Json(r): Json<SetStatusRequest>,
) -> Result<Response, ApiError> {
    let snapshot = state
        .runtime
        .set_agent_status(agent, r.status, principal.user.clone())
        .await?;
    Ok(Json(crate::wire::AgentState::from(&snapshot)).into_response())
}
