//! Durable event streams for consumers: page by position with long-polling, subscribe
//! with server-sent events, and keep named checkpoints (like a Kinesis consumer).
//!
//! Readers read the store, never the runtime: a slow consumer only lags its own
//! cursor, and the runtime never waits on anyone.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sb_store::{EventRecord, PublicStream, StreamPage};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::sse_gzip::{accepts_gzip, DeflatePiece, GzipBody};
use super::stream_tail::{Rendered, TailBatch};
use crate::error::ApiError;
use crate::server::AppState;

/// At most this many events per page (and per server-sent batch).
const MAX_PAGE: usize = 1_000;
/// The longest a long-poll waits for a first event.
const MAX_WAIT_SECONDS: u64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct PageQuery {
    /// Return events after this position (exclusive). Default: the named checkpoint's
    /// position if `checkpoint` is given, else 0 (the oldest retained).
    after: Option<u64>,
    /// Resume from this consumer's saved checkpoint.
    checkpoint: Option<String>,
    /// 1 to 1000; default 100.
    limit: Option<usize>,
    /// Long-poll: when nothing is there yet, wait up to this many seconds (0 to 30;
    /// default 0) for the first event.
    wait_seconds: Option<u64>,
}

/// One event as consumers see it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamEvent {
    /// Position in the stream; strictly increasing, also the event's unique id.
    seq: u64,
    /// For de-duplication by consumers (delivery is at least once).
    id: String,
    stream: String,
    /// What the event is about (contact or agent id); order is kept per key.
    key: String,
    /// `INITIATED`, `QUEUED`, `STATE_CHANGE`, `CONTACT_RECORD`, ...
    #[serde(rename = "type")]
    kind: String,
    /// RFC 3339.
    at: String,
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamPageBody {
    events: Vec<StreamEvent>,
    /// Pass as `after` for the next page (unchanged when the page is empty).
    next_after: u64,
    /// Positions at or below this were removed by retention.
    earliest_after: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamInfo {
    name: &'static str,
    description: &'static str,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Checkpoint {
    /// The last position the consumer processed.
    seq: u64,
}

pub(crate) fn parse_stream(name: &str) -> Result<PublicStream, ApiError> {
    PublicStream::parse(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no stream named '{name}'; streams: {}",
            PublicStream::ALL.map(|s| s.name()).join(", ")
        ))
    })
}

fn event_view(stream: PublicStream, e: EventRecord) -> StreamEvent {
    StreamEvent {
        seq: e.seq,
        id: format!("{}-{}", stream.name(), e.seq),
        stream: stream.name().to_string(),
        key: e.event.key,
        kind: e.event.kind,
        at: jiff::Timestamp::from_millisecond(e.event.at_ms)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        data: serde_json::from_str(&e.event.payload).unwrap_or(serde_json::Value::Null),
    }
}

async fn read_page(
    state: &AppState,
    stream: PublicStream,
    after: u64,
    limit: usize,
) -> Result<StreamPage, ApiError> {
    let store = state.store.clone();
    super::blocking(move || store.read_stream(stream, after, limit)).await
}

async fn saved_checkpoint(
    state: &AppState,
    consumer: String,
    stream: PublicStream,
) -> Result<Option<u64>, ApiError> {
    let store = state.store.clone();
    super::blocking(move || store.checkpoint(&consumer, stream)).await
}

fn check_consumer(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "consumer name '{name}' must be 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// The streams consumers can read.
#[utoipa::path(get, path = "/v1/streams", tag = "streams",
    responses((status = 200, body = Vec<StreamInfo>)))]
pub(crate) async fn list_streams() -> Json<Vec<StreamInfo>> {
    Json(
        PublicStream::ALL
            .into_iter()
            .map(|s| StreamInfo {
                name: s.name(),
                description: match s {
                    PublicStream::ContactEvents => "contact lifecycle events: INITIATED, CONNECTED_TO_SYSTEM, QUEUED, CONNECTED_TO_AGENT, DISCONNECTED, ...",
                    PublicStream::AgentEvents => "agent events: LOGIN, STATE_CHANGE, DISCONNECTED, ..., ordered per agent",
                    PublicStream::ContactRecords => "each contact record as written, and again when it changes",
                    PublicStream::FlowLogs => "executed flow actions of contacts with flow logging on",
                },
            })
            .collect(),
    )
}

/// A page of a stream after a position. With `wait_seconds`, an empty read waits for
/// the first new event (long-polling) instead of returning at once.
#[utoipa::path(get, path = "/v1/streams/{stream}", tag = "streams",
    params(("stream" = String, Path), PageQuery),
    responses((status = 200, body = StreamPageBody),
        (status = 404, description = "unknown stream"),
        (status = 410, description = "the position is before retention; the error names the earliest")))]
pub(crate) async fn read_stream(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let stream = parse_stream(&stream)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}, not {limit}"
        )));
    }
    let wait = query.wait_seconds.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::BadRequest(format!(
            "wait_seconds must be at most {MAX_WAIT_SECONDS}, not {wait}"
        )));
    }
    let after = match (query.after, query.checkpoint) {
        (Some(after), _) => after,
        (None, Some(consumer)) => {
            check_consumer(&consumer)?;
            saved_checkpoint(&state, consumer.clone(), stream)
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "consumer '{consumer}' has no checkpoint in {stream}; start with after=0"
                    ))
                })?
        }
        (None, None) => 0,
    };
    let mut committed = state.runtime.stream_committed(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let page = loop {
        // Mark the current position seen before reading, so a commit between the read
        // and the wait still wakes us.
        committed.borrow_and_update();
        let page = read_page(&state, stream, after, limit).await?;
        if !page.events.is_empty() || wait == 0 {
            break page;
        }
        match tokio::time::timeout_at(deadline, committed.changed()).await {
            Ok(Ok(())) => continue,
            _ => break page,
        }
    };
    let next_after = page.events.last().map_or(after, |e| e.seq);
    let earliest_after = page.floor;
    let events = page
        .events
        .into_iter()
        .map(|e| event_view(stream, e))
        .collect();
    Ok(Json(StreamPageBody {
        events,
        next_after,
        earliest_after,
    })
    .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct SubscribeQuery {
    /// Start after this position; a reconnecting client's `Last-Event-ID` header wins.
    after: Option<u64>,
}

/// Subscribe with server-sent events: every event after the position, then each new
/// one as it becomes durable. Each SSE `id` is the event's `seq`, so a client that
/// reconnects with `Last-Event-ID` continues exactly where it stopped. With
/// `Accept-Encoding: gzip` the body is gzip, flushed after every batch.
#[utoipa::path(get, path = "/v1/streams/{stream}/subscribe", tag = "streams",
    params(("stream" = String, Path), SubscribeQuery),
    responses((status = 200, description = "text/event-stream of StreamEvent"),
        (status = 410, description = "the position is before retention")))]
pub(crate) async fn subscribe_stream(
    State(state): State<AppState>,
    axum::Extension(watch): axum::Extension<crate::auth::CredentialWatch>,
    Path(stream): Path<String>,
    Query(query): Query<SubscribeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let stream = parse_stream(&stream)?;
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("Last-Event-ID '{v}' is not a position")))
        })
        .transpose()?;
    let after = resumed.or(query.after).unwrap_or(0);
    // Refuse a position before retention now, with a status, rather than mid-stream.
    read_page(&state, stream, after, 1).await?;
    let tail = state.stream_tails.subscribe(
        stream,
        state.store.clone(),
        state.runtime.stream_committed(stream),
        render,
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(SUBSCRIBER_BUFFER);
    let gzip = accepts_gzip(&headers);
    // The subscription ends with its credential.
    let credential_ended = Box::pin(watch.ended(state.clone()));
    tokio::spawn(feed_subscriber(
        state,
        stream,
        after,
        tail,
        Subscriber::new(tx, gzip),
    ));
    let frames =
        futures_util::stream::unfold((rx, credential_ended), |(mut rx, mut ended)| async move {
            tokio::select! {
                bytes = rx.recv() => bytes.map(|b| (Ok::<_, Infallible>(b), (rx, ended))),
                () = &mut ended => None,
            }
        });
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "accept-encoding"),
        ],
        Body::from_stream(frames),
    )
        .into_response();
    if gzip {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    Ok(response)
}

/// Where a subscriber's bytes go: straight, or as gzip when the client accepts it.
struct Subscriber {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    gzip: Option<GzipBody>,
    /// The gzip header, sent with the first write.
    head: Option<Bytes>,
}

impl Subscriber {
    fn new(tx: tokio::sync::mpsc::Sender<Bytes>, gzip: bool) -> Self {
        let (gzip, head) = match gzip {
            true => {
                let (body, head) = GzipBody::start();
                (Some(body), Some(head))
            }
            false => (None, None),
        };
        Subscriber { tx, gzip, head }
    }

    /// Send the events of `batch` after `after`; false once the client is gone.
    async fn batch(&mut self, batch: &TailBatch, after: u64) -> bool {
        let bytes = match self.gzip.as_mut() {
            // The whole batch: the piece every gzip subscriber shares.
            Some(gzip) if after <= batch.prev => gzip.piece(batch.deflated()),
            Some(gzip) => gzip.piece(&DeflatePiece::of(&batch.after(after))),
            None => batch.after(after),
        };
        self.send(bytes).await
    }

    /// A comment frame that keeps proxies from closing a quiet connection.
    async fn keep_alive(&mut self) -> bool {
        const FRAME: &[u8] = b": keep-alive\n\n";
        // Deflated once for every gzip subscriber, like a tail batch.
        static DEFLATED: std::sync::OnceLock<DeflatePiece> = std::sync::OnceLock::new();
        let bytes = match self.gzip.as_mut() {
            Some(gzip) => gzip.piece(DEFLATED.get_or_init(|| DeflatePiece::of(FRAME))),
            None => Bytes::from_static(FRAME),
        };
        self.send(bytes).await
    }

    async fn send(&mut self, bytes: Bytes) -> bool {
        if let Some(head) = self.head.take() {
            if self.tx.send(head).await.is_err() {
                return false;
            }
        }
        self.tx.send(bytes).await.is_ok()
    }

    /// The server ends the stream: a gzip body gets its trailer.
    async fn end(mut self) {
        if let Some(gzip) = self.gzip.take() {
            let _ = self.send(gzip.finish()).await;
        }
    }
}

/// Writes a subscriber's connection may have queued before its feeder waits: the
/// bound on what a slow consumer costs.
const SUBSCRIBER_BUFFER: usize = 64;
/// Silence longer than this gets a comment frame, so proxies keep the connection.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn render(stream: PublicStream, e: EventRecord) -> Rendered {
    let view = event_view(stream, e);
    let json = serde_json::to_string(&view).expect("events serialise");
    // JSON from serde has no raw newlines, so one `data:` line holds it.
    let frame = format!("id: {}\nevent: {}\ndata: {json}\n\n", view.seq, view.kind);
    Rendered {
        seq: view.seq,
        frame: Bytes::from(frame),
    }
}

/// Send one subscriber everything after `after`: its backlog from the store, then the
/// shared tail, going back to the store whenever the tail has moved past it.
async fn feed_subscriber(
    state: AppState,
    stream: PublicStream,
    after: u64,
    mut tail: tokio::sync::broadcast::Receiver<std::sync::Arc<TailBatch>>,
    mut out: Subscriber,
) {
    if feed(&state, stream, after, &mut tail, &mut out).await {
        out.end().await;
    }
}

/// Feed `out` until the client leaves (false) or the stream must end (true).
async fn feed(
    state: &AppState,
    stream: PublicStream,
    mut after: u64,
    tail: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<TailBatch>>,
    out: &mut Subscriber,
) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    /// How a catch-up from the store ended.
    enum CaughtUp {
        Yes,
        /// Retention overtook a consumer that lagged past it: the stream ends;
        /// reconnecting gets the 410 that names the earliest position.
        Overtaken,
        ClientGone,
    }
    // Read the store from `after` up to `until` (or to its end), a page per write.
    async fn catch_up(
        state: &AppState,
        stream: PublicStream,
        after: &mut u64,
        until: Option<u64>,
        out: &mut Subscriber,
    ) -> CaughtUp {
        while until.is_none_or(|u| *after < u) {
            let Ok(page) = read_page(state, stream, *after, MAX_PAGE).await else {
                return CaughtUp::Overtaken;
            };
            let events: Vec<Rendered> = page
                .events
                .into_iter()
                .filter(|e| until.is_none_or(|u| e.seq <= u))
                .map(|e| render(stream, e))
                .collect();
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            let batch = TailBatch::new(*after, events);
            if !out.batch(&batch, *after).await {
                return CaughtUp::ClientGone;
            }
            *after = last;
        }
        CaughtUp::Yes
    }
    macro_rules! caught_up {
        ($until:expr) => {
            match catch_up(state, stream, &mut after, $until, out).await {
                CaughtUp::Yes => {}
                CaughtUp::Overtaken => return true,
                CaughtUp::ClientGone => return false,
            }
        };
    }
    caught_up!(None);
    loop {
        match tokio::time::timeout(KEEP_ALIVE, tail.recv()).await {
            Err(_) => {
                if !out.keep_alive().await {
                    return false;
                }
            }
            Ok(Ok(batch)) => {
                if batch.last() <= after {
                    continue;
                }
                if batch.prev > after {
                    caught_up!(Some(batch.prev));
                }
                if !out.batch(&batch, after).await {
                    return false;
                }
                after = batch.last();
            }
            Ok(Err(RecvError::Lagged(_))) => caught_up!(None),
            Ok(Err(RecvError::Closed)) => return true,
        }
    }
}

/// A consumer's saved position in a stream.
#[utoipa::path(get, path = "/v1/streams/{stream}/checkpoints/{consumer}", tag = "streams",
    params(("stream" = String, Path), ("consumer" = String, Path)),
    responses((status = 200, body = Checkpoint), (status = 404, description = "no checkpoint saved")))]
pub(crate) async fn get_checkpoint(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
) -> Result<Json<Checkpoint>, ApiError> {
    let stream = parse_stream(&stream)?;
    check_consumer(&consumer)?;
    let seq = saved_checkpoint(&state, consumer.clone(), stream)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "consumer '{consumer}' has no checkpoint in {stream}"
            ))
        })?;
    Ok(Json(Checkpoint { seq }))
}

/// Save a consumer's position, to resume from with `?checkpoint=NAME`.
#[utoipa::path(put, path = "/v1/streams/{stream}/checkpoints/{consumer}", tag = "streams",
    params(("stream" = String, Path), ("consumer" = String, Path)),
    request_body = Checkpoint,
    responses((status = 200, body = Checkpoint)))]
pub(crate) async fn put_checkpoint(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<sb_security::Principal>,
    Path((stream, consumer)): Path<(String, String)>,
    Json(body): Json<Checkpoint>,
) -> Result<Json<Checkpoint>, ApiError> {
    let stream = parse_stream(&stream)?;
    check_consumer(&consumer)?;
    let newest = *state.runtime.committed().borrow();
    if body.seq > newest {
        return Err(ApiError::BadRequest(format!(
            "position {} is beyond the newest event ({newest})",
            body.seq
        )));
    }
    let store = state.store.clone();
    let seq = body.seq;
    // A checkpoint is its first writer's: one pipeline cannot make another replay or
    // skip. An administrator may move any (to repair a pipeline).
    let administrator = principal.role.name == sb_security::Role::Admin.as_str();
    let user = principal.user.clone();
    let saved = super::blocking(move || {
        let by = if administrator {
            sb_store::CheckpointWriter::Administrator(&user)
        } else {
            sb_store::CheckpointWriter::Owner(&user)
        };
        store.save_checkpoint(&consumer, stream, seq, by)
    })
    .await?;
    if let sb_store::CheckpointSaved::OwnedBy(owner) = saved {
        return Err(ApiError::Forbidden(format!(
            "this checkpoint belongs to {owner}; choose a consumer name of your own"
        )));
    }
    Ok(Json(Checkpoint { seq }))
}
