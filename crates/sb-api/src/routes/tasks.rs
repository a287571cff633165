//! Tasks, created over HTTP and routed like chats.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;

#[derive(Serialize, ToSchema)]
pub(crate) struct TaskCreated {
    contact_id: String,
}

/// Create a task: routed like a chat, it expires after the instance's task expiry.
#[utoipa::path(post, path = "/v1/tasks", tag = "contacts", request_body = Object,
    responses((status = 200, body = TaskCreated), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_task(
    State(state): State<AppState>,
    Json(task): Json<crate::socket_requests::NewTaskBody>,
) -> Result<Json<TaskCreated>, ApiError> {
    let contact_id = state.runtime.create_task(task.into()).await?;
    Ok(Json(TaskCreated { contact_id }))
}
