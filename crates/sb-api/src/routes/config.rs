//! Configuration as code over HTTP: what `switchboard plan|apply|rollback|versions
//! --server` call.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use sb_runtime::{Applied, PlanOutcome};
use sb_security::Principal;
use sb_spec::SourceBundle;
use sb_store::VersionSummary;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanRequest {
    /// The spec directory's files: `{"files": {"queues.yaml": {"text": "..."}}}`.
    #[schema(value_type = Object)]
    bundle: SourceBundle,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PlanResponse {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    outcome: PlanOutcome,
    /// The plan as `switchboard plan` prints it.
    rendered: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyRequest {
    #[schema(value_type = Object)]
    bundle: SourceBundle,
    /// Refuse with 409 unless the deployed version is exactly this (0: none yet).
    #[serde(default)]
    expect_version: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackRequest {
    /// The version whose content to deploy again.
    to: u64,
    #[serde(default)]
    expect_version: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AppliedResponse {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    applied: Applied,
    rendered: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct VersionDetail {
    #[schema(value_type = Object)]
    summary: VersionSummary,
    #[schema(value_type = Object)]
    bundle: SourceBundle,
}

/// Validate a spec and show what applying it would change.
#[utoipa::path(post, path = "/v1/config/plan", tag = "configuration", request_body = PlanRequest,
    responses(
        (status = 200, description = "The plan", body = PlanResponse),
        (status = 422, description = "The spec is invalid; every problem is listed", body = ErrorBody)))]
pub(crate) async fn plan(
    State(state): State<AppState>,
    Json(request): Json<PlanRequest>,
) -> Result<Json<PlanResponse>, ApiError> {
    let deployer = state.deployer.clone();
    let outcome = blocking(move || deployer.plan(&request.bundle)).await?;
    Ok(Json(PlanResponse {
        rendered: outcome.plan.to_string(),
        outcome,
    }))
}

/// Deploy a spec as the next version, atomically. Contacts already in a flow finish
/// on the version they started with.
#[utoipa::path(post, path = "/v1/config/apply", tag = "configuration", request_body = ApplyRequest,
    responses(
        (status = 200, description = "Applied (or nothing to change)", body = AppliedResponse),
        (status = 409, description = "The deployed version is not `expect_version`", body = ErrorBody),
        (status = 422, description = "The spec is invalid", body = ErrorBody)))]
pub(crate) async fn apply(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Json(request): Json<ApplyRequest>,
) -> Result<Json<AppliedResponse>, ApiError> {
    let deployer = state.deployer.clone();
    let applied =
        blocking(move || deployer.apply(&request.bundle, &principal.name, request.expect_version))
            .await?;
    if let Some(v) = &applied.version {
        tracing::info!(version = v.version, actor = %v.actor, summary = %v.summary, "configuration applied");
    }
    Ok(Json(AppliedResponse {
        rendered: applied.plan.to_string(),
        applied,
    }))
}

/// Deploy an earlier version's content as a new version.
#[utoipa::path(post, path = "/v1/config/rollback", tag = "configuration", request_body = RollbackRequest,
    responses(
        (status = 200, description = "Rolled back", body = AppliedResponse),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "The deployed version is not `expect_version`", body = ErrorBody)))]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Json(request): Json<RollbackRequest>,
) -> Result<Json<AppliedResponse>, ApiError> {
    let deployer = state.deployer.clone();
    let applied =
        blocking(move || deployer.rollback(request.to, &principal.name, request.expect_version))
            .await?;
    if let Some(v) = &applied.version {
        tracing::info!(version = v.version, actor = %v.actor, summary = %v.summary, "configuration rolled back");
    }
    Ok(Json(AppliedResponse {
        rendered: applied.plan.to_string(),
        applied,
    }))
}

/// The configuration history, oldest first.
#[utoipa::path(get, path = "/v1/config/versions", tag = "configuration",
    responses((status = 200, description = "Every version", body = Vec<Object>)))]
pub(crate) async fn versions(
    State(state): State<AppState>,
) -> Result<Json<Vec<VersionSummary>>, ApiError> {
    let deployer = state.deployer.clone();
    Ok(Json(blocking(move || deployer.versions()).await?))
}

/// One version with its full spec content.
#[utoipa::path(get, path = "/v1/config/versions/{version}", tag = "configuration",
    params(("version" = u64, Path, description = "Version number")),
    responses(
        (status = 200, description = "The version", body = VersionDetail),
        (status = 404, description = "No such version", body = ErrorBody)))]
pub(crate) async fn version(
    State(state): State<AppState>,
    Path(number): Path<u64>,
) -> Result<Json<VersionDetail>, ApiError> {
    let deployer = state.deployer.clone();
    let (summary, bundle) = blocking(move || deployer.version_bundle(number)).await?;
    Ok(Json(VersionDetail { summary, bundle }))
}
