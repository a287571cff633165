//! Real-time metrics: pulled with `GET /v1/metrics/current`, or pushed over a
//! WebSocket that sends a fresh view after any change, at the runtime's snapshot
//! period (25 ms) (bursts coalesce: a slow reader only ever gets the newest view).
//!
//! Views are computed here from the runtime's published snapshot, never by the
//! runtime; subscribers asking the same question share one computation per snapshot.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use sb_model::Channel;
use sb_routing::realtime::{current_metrics, Grouping, MetricFilter, RealtimeSnapshot, METRICS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::server::AppState;

/// Even without changes, a subscriber gets a fresh view this often (contact ages grow).
const REFRESH: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub(crate) struct CurrentQuery {
    /// Comma-separated queue names; default all.
    queues: Option<String>,
    /// Comma-separated: VOICE, CHAT, TASK; default all.
    channels: Option<String>,
    /// Comma-separated routing profile names; default all.
    routing_profiles: Option<String>,
    /// Comma-separated: QUEUE, CHANNEL, ROUTING_PROFILE; default none (one row).
    groupings: Option<String>,
    /// Comma-separated metric names; default all twelve.
    metrics: Option<String>,
}

/// The question, checked and in canonical form (also the cache key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Question {
    queues: Option<BTreeSet<String>>,
    channels: Option<BTreeSet<Channel>>,
    routing_profiles: Option<BTreeSet<String>>,
    groupings: Vec<Grouping>,
    metrics: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CurrentMetrics {
    /// RFC 3339: when this view was computed.
    generated_at: String,
    /// Unix ms of the oldest change this view is the first to show.
    changed_at_ms: i64,
    /// One per group; each has `dimensions` and `metrics` (Connect's names; counts,
    /// and OLDEST_CONTACT_AGE in seconds).
    #[schema(value_type = Vec<Object>)]
    rows: Vec<serde_json::Value>,
}

/// Views already computed for the current snapshot, shared by every subscriber.
#[derive(Default)]
pub struct RealtimeViews {
    cache: Mutex<ViewCache>,
}

#[derive(Default)]
struct ViewCache {
    /// (snapshot generation, second) the entries were computed for.
    at: (u64, i64),
    /// Shared bytes: every subscriber sends the same buffer, none copies it.
    views: HashMap<Question, Utf8Bytes>,
}

fn question(state: &AppState, query: &CurrentQuery) -> Result<Question, ApiError> {
    let config = state
        .deployer
        .live()
        .current()
        .ok_or_else(|| ApiError::Unavailable("no configuration is deployed yet".into()))?;
    let spec = &config.spec;
    let names = |given: Option<Vec<String>>,
                 what: &str,
                 known: &dyn Fn(&str) -> bool|
     -> Result<Option<BTreeSet<String>>, ApiError> {
        let Some(given) = given else { return Ok(None) };
        if let Some(unknown) = given.iter().find(|n| !known(n)) {
            return Err(ApiError::BadRequest(format!("no {what} named '{unknown}'")));
        }
        Ok(Some(given.into_iter().collect()))
    };
    let queues = names(super::comma_list(&query.queues), "queue", &|n| {
        spec.queues.contains_key(n)
    })?;
    let routing_profiles = names(
        super::comma_list(&query.routing_profiles),
        "routing profile",
        &|n| spec.routing_profiles.contains_key(n),
    )?;
    let channels = super::comma_list(&query.channels)
        .map(|given| {
            given
                .iter()
                .map(|c| {
                    Channel::ALL
                        .into_iter()
                        .find(|ch| ch.as_str() == c)
                        .ok_or_else(|| {
                            ApiError::BadRequest(format!(
                                "unknown channel '{c}'; channels: VOICE, CHAT, TASK"
                            ))
                        })
                })
                .collect::<Result<BTreeSet<_>, _>>()
        })
        .transpose()?;
    let mut groupings = Vec::new();
    for g in super::comma_list(&query.groupings).unwrap_or_default() {
        let grouping = Grouping::parse(&g).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown grouping '{g}'; groupings: QUEUE, CHANNEL, ROUTING_PROFILE"
            ))
        })?;
        if !groupings.contains(&grouping) {
            groupings.push(grouping);
        }
    }
    let metrics = match super::comma_list(&query.metrics) {
        None => METRICS.to_vec(),
        Some(given) => given
            .iter()
            .map(|m| {
                METRICS.into_iter().find(|k| k == m).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown metric '{m}'; metrics: {}",
                        METRICS.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Question {
        queues,
        channels,
        routing_profiles,
        groupings,
        metrics,
    })
}

fn compute(snapshot: &RealtimeSnapshot, question: &Question, now: jiff::Timestamp) -> String {
    let filter = MetricFilter {
        queues: question.queues.clone(),
        channels: question.channels.clone(),
        routing_profiles: question.routing_profiles.clone(),
    };
    let rows = current_metrics(snapshot, &filter, &question.groupings, now.as_millisecond())
        .into_iter()
        .map(|row| {
            let metrics: serde_json::Map<String, serde_json::Value> = question
                .metrics
                .iter()
                .map(|m| ((*m).to_string(), row.metrics[m].into()))
                .collect();
            serde_json::json!({"dimensions": row.dimensions, "metrics": metrics})
        })
        .collect();
    serde_json::to_string(&CurrentMetrics {
        generated_at: now.to_string(),
        changed_at_ms: snapshot.changed_at,
        rows,
    })
    .expect("metrics serialise")
}

impl RealtimeViews {
    /// The view of `snapshot` for `question`, computed once per snapshot and second.
    fn view(&self, snapshot: &RealtimeSnapshot, question: &Question) -> Utf8Bytes {
        let now = jiff::Timestamp::now();
        let at = (snapshot.generation, now.as_second());
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.at == at {
                if let Some(view) = cache.views.get(question) {
                    return view.clone();
                }
            }
        }
        let view = Utf8Bytes::from(compute(snapshot, question, now));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.at != at {
            cache.at = at;
            cache.views.clear();
        }
        cache.views.insert(question.clone(), view.clone());
        view
    }
}

/// Real-time metrics with Amazon Connect's names and definitions, filtered and grouped
/// by queue, channel and routing profile.
#[utoipa::path(get, path = "/v1/metrics/current", tag = "metrics",
    params(CurrentQuery),
    responses((status = 200, body = CurrentMetrics), (status = 400, description = "unknown metric, grouping, channel, queue or profile")))]
pub(crate) async fn get_current_metrics(
    State(state): State<AppState>,
    Query(query): Query<CurrentQuery>,
) -> Result<Response, ApiError> {
    let question = question(&state, &query)?;
    let snapshot = state.runtime.realtime().borrow().clone();
    let view = state.realtime_views.view(&snapshot, &question);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        view.to_string(),
    )
        .into_response())
}

/// Subscribe to real-time metrics (same parameters as `GET /v1/metrics/current`): the
/// view now, then a fresh one after every change (at most every 25 ms) and at least
/// every 5 s. A reader that falls behind skips to the newest view.
#[utoipa::path(get, path = "/v1/metrics/current/ws", tag = "metrics",
    params(CurrentQuery),
    responses((status = 101, description = "WebSocket of CurrentMetrics messages")))]
pub(crate) async fn subscribe_current_metrics(
    State(state): State<AppState>,
    axum::Extension(watch): axum::Extension<crate::auth::CredentialWatch>,
    Query(query): Query<CurrentQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let question = question(&state, &query)?;
    Ok(super::with_client_limits(ws)
        .on_upgrade(move |socket| push_loop(socket, state, question, watch)))
}

async fn push_loop(
    socket: WebSocket,
    state: AppState,
    question: Question,
    watch: crate::auth::CredentialWatch,
) {
    let (mut sink, mut incoming) = socket.split();
    let credential_ended = watch.ended(state.clone());
    tokio::pin!(credential_ended);
    let mut snapshots = state.runtime.realtime();
    let mut last: Option<Utf8Bytes> = None;
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                false
            }
            _ = refresh.tick() => true,
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            () = &mut credential_ended => {
                let close = super::sockets::credential_ended_frame();
                let _ = sink.send(Message::Close(Some(close))).await;
                break;
            }
        };
        let snapshot = snapshots.borrow_and_update().clone();
        let view = state.realtime_views.view(&snapshot, &question);
        let unchanged = last
            .as_ref()
            .is_some_and(|l| same_rows(l.as_str(), view.as_str()));
        if unchanged && !forced {
            continue;
        }
        if sink.send(Message::Text(view.clone())).await.is_err() {
            break;
        }
        last = Some(view);
    }
}

/// Whether two views differ only in `generated_at` (which leads the JSON).
fn same_rows(a: &str, b: &str) -> bool {
    let rows = |s: &str| s.find("\"rows\"").map(|i| s[i..].to_string());
    rows(a) == rows(b)
}
