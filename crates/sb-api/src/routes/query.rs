//! Read-only SQL over contact records, contact and agent events and metric intervals.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use sb_store::query::{QueryError, QueryResult, QUERYABLE_TABLES};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::server::AppState;

const DEFAULT_ROWS: usize = 1_000;
const MAX_ROWS: usize = 10_000;
const DEFAULT_SECONDS: u64 = 5;
const MAX_SECONDS: u64 = 30;
/// Queries running at once, each on a blocking thread: more would take the cores from
/// contacts. A query that finds none free within a few seconds is told to retry.
const MAX_RUNNING: usize = 2;
const WAIT_FOR_TURN: Duration = Duration::from_secs(3);
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_RUNNING);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryRequest {
    /// One SELECT over contact_records, contact_events, agent_events, metric_intervals.
    sql: String,
    /// At most this many rows (1 to 10,000; default 1,000).
    max_rows: Option<usize>,
    /// Stop after this many seconds (1 to 30; default 5).
    time_limit_seconds: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueryResponse {
    columns: Vec<String>,
    #[schema(value_type = Vec<Vec<Object>>)]
    rows: Vec<Vec<serde_json::Value>>,
    /// More rows matched than `max_rows`.
    truncated: bool,
}

impl From<QueryResult> for QueryResponse {
    fn from(r: QueryResult) -> Self {
        QueryResponse {
            columns: r.columns,
            rows: r.rows,
            truncated: r.truncated,
        }
    }
}

/// Run one read-only SQL statement (SQLite dialect on the embedded store).
#[utoipa::path(post, path = "/v1/query", tag = "metrics",
    request_body = QueryRequest,
    responses((status = 200, body = QueryResponse),
        (status = 400, description = "not a single read over the documented tables, or invalid SQL"),
        (status = 408, description = "ran past its time limit"),
        (status = 429, description = "as many queries as may run at once are running")))]
pub(crate) async fn run_query(
    State(state): State<AppState>,
    Json(request): Json<QueryRequest>,
) -> Result<Json<QueryResponse>, ApiError> {
    let rows = request.max_rows.unwrap_or(DEFAULT_ROWS);
    if !(1..=MAX_ROWS).contains(&rows) {
        return Err(ApiError::BadRequest(format!(
            "max_rows must be 1 to {MAX_ROWS}, not {rows}"
        )));
    }
    let seconds = request.time_limit_seconds.unwrap_or(DEFAULT_SECONDS);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(ApiError::BadRequest(format!(
            "time_limit_seconds must be 1 to {MAX_SECONDS}, not {seconds}"
        )));
    }
    let store = state.store.clone();
    let sql = request.sql;
    let sensitive = state
        .deployer
        .live()
        .current()
        .map(|c| c.spec.security.sensitive_attributes.clone())
        .unwrap_or_default();
    let turn = tokio::time::timeout(WAIT_FOR_TURN, RUNNING.acquire())
        .await
        .map_err(|_| {
            ApiError::TooManyRequests(format!(
                "{MAX_RUNNING} queries are running; try again when one has finished"
            ))
        })?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let result = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        store.query(&sql, &sensitive, rows, Duration::from_secs(seconds))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    match result {
        Ok(result) => Ok(Json(result.into())),
        Err(e @ QueryError::TimedOut(_)) => Err(ApiError::Timeout(e.to_string())),
        Err(e @ (QueryError::Refused(_) | QueryError::Invalid(_))) => {
            let tables: Vec<&str> = QUERYABLE_TABLES.iter().map(|(t, _)| *t).collect();
            Err(ApiError::BadRequest(format!(
                "{e} (readable: {})",
                tables.join(", ")
            )))
        }
        Err(e @ QueryError::TooLarge) => Err(ApiError::BadRequest(e.to_string())),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}
