//! Historical metrics over the pre-aggregated intervals.

use axum::extract::{Query, State};
use axum::Json;
use sb_runtime::historical::{answer, HistoricalQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::server::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct HistoricalParams {
    /// RFC 3339, on a 15-minute boundary. A record counts in the interval of its
    /// disconnect time.
    from: String,
    /// RFC 3339, on a 15-minute boundary, after `from`.
    to: String,
    /// FIFTEEN_MIN, THIRTY_MIN, HOUR, DAY, WEEK or TOTAL (default).
    interval: Option<String>,
    /// IANA time zone the intervals are cut in; default UTC.
    time_zone: Option<String>,
    /// Comma-separated: QUEUE, CHANNEL, AGENT, ROUTING_PROFILE.
    groupings: Option<String>,
    /// Comma-separated metric names; default all.
    metrics: Option<String>,
    /// Comma-separated filters.
    queues: Option<String>,
    channels: Option<String>,
    agents: Option<String>,
    /// Seconds, for SERVICE_LEVEL: 15, 20, 25, 30, 45, 60, 90, 120, 180, 240, 300 or 600.
    service_level_threshold: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoricalBody {
    /// One per interval and group: `interval_start`, `interval_end`, `dimensions`,
    /// `metrics` (seconds for AVG_*, percent for rates, counts otherwise; null when
    /// there is nothing to divide by).
    #[schema(value_type = Vec<Object>)]
    rows: Vec<sb_runtime::historical::HistoricalRow>,
}

/// Historical metrics with Amazon Connect's names and definitions.
#[utoipa::path(get, path = "/v1/metrics/historical", tag = "metrics",
    params(HistoricalParams),
    responses((status = 200, body = HistoricalBody),
        (status = 400, description = "bad time range, interval, zone, grouping, metric or threshold")))]
pub(crate) async fn get_historical_metrics(
    State(state): State<AppState>,
    Query(params): Query<HistoricalParams>,
) -> Result<Json<HistoricalBody>, ApiError> {
    let groupings = super::comma_list(&params.groupings).unwrap_or_default();
    let metrics = super::comma_list(&params.metrics);
    let mut query = HistoricalQuery::new(
        &params.from,
        &params.to,
        params.interval.as_deref(),
        params.time_zone.as_deref(),
        &groupings,
        metrics.as_deref(),
        params.service_level_threshold,
        jiff::Timestamp::now(),
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    query.queues = super::comma_list(&params.queues).map(|v| v.into_iter().collect());
    query
        .only_channels(super::comma_list(&params.channels))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    query.agents = super::comma_list(&params.agents).map(|v| v.into_iter().collect());
    let named_queues: Vec<String> = query.queues.iter().flatten().cloned().collect();
    let named_agents: Vec<String> = query.agents.iter().flatten().cloned().collect();
    let store = state.store.clone();
    let rows = super::blocking(move || answer(&*store, &query)).await?;
    let found_nothing = rows
        .iter()
        .all(|row| row.metrics.values().all(|v| v.unwrap_or(0.0) == 0.0));
    super::refuse_unknown_names_when_empty(&state, found_nothing, &named_queues, &named_agents)?;
    Ok(Json(HistoricalBody { rows }))
}
