//! Chats, tasks, agents and contact records over HTTP and WebSocket.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::{SinkExt, StreamExt};
use sb_runtime::instance::{
    AgentAction, AgentFrame, ChatStarted, CustomerEvent, CustomerFrame, NewChat, NewTask,
    RuntimeError,
};
use sb_security::Principal;
use sb_store::{RecordCursor, RecordFilter};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;

/// An agent socket that sends nothing (not even a heartbeat) for this long is dead.
/// Before any configuration is deployed (the instance's `agent_silence_limit_seconds`).
const DEFAULT_AGENT_SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// Frames waiting for a slow socket, beyond which frames are dropped.
const SOCKET_BUFFER: usize = 1024;

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        ApiError::Runtime(e)
    }
}

/// The code a socket's `error` frame carries: the same as the HTTP body's for the same
/// error, so a desktop and a script read one table.
fn error_code(e: &RuntimeError) -> &'static str {
    crate::error::runtime_status_and_code(e).1
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartChatRequest {
    /// A contact flow by name (default: the instance's inbound flow).
    #[serde(default)]
    flow: Option<String>,
    display_name: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    /// Who the customer is, if known: `{"Address": "...", "Type": "EMAIL_ADDRESS" |
    /// "TELEPHONE_NUMBER"}`. Kept sealed; privacy export and erasure find the
    /// customer's contacts by it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    customer_endpoint: Option<sb_model::record::Endpoint>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct StartChatResponse {
    contact_id: String,
    /// The customer's credential for this contact's socket. Shown once.
    participant_token: String,
    /// Where the customer's socket connects.
    websocket: String,
}

/// Start a chat: the contact enters its flow, which talks to the customer first.
#[utoipa::path(post, path = "/v1/chat", tag = "contacts", request_body = StartChatRequest,
    responses((status = 200, body = StartChatResponse), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn start_chat(
    State(state): State<AppState>,
    Json(r): Json<StartChatRequest>,
) -> Result<Json<StartChatResponse>, ApiError> {
    if r.display_name.trim().is_empty() || r.display_name.chars().count() > 256 {
        return Err(ApiError::BadRequest(
            "display_name must be 1 to 256 characters".into(),
        ));
    }
    let ChatStarted {
        contact_id,
        participant_token,
    } = state
        .runtime
        .start_chat(NewChat {
            flow: r.flow,
            display_name: r.display_name,
            attributes: r.attributes,
            customer_endpoint: r.customer_endpoint,
        })
        .await?;
    Ok(Json(StartChatResponse {
        websocket: format!("/v1/chat/ws?contact={contact_id}"),
        contact_id,
        participant_token,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatSocketQuery {
    contact: String,
    /// Resume after this transcript sequence number: every later message is replayed.
    #[serde(default)]
    after: u64,
    /// The participant token, for clients that cannot set headers (browsers).
    #[serde(default)]
    token: Option<String>,
}

/// The customer's chat socket. Authenticated by the participant token (header
/// `Authorization: Bearer <token>` or `token=`), good for this contact only. Frames in:
/// `{"type":"message","text":...}`, `typing`, `read`, `disconnect`. Frames out:
/// `message` (with `seq`), `typing`, `error`, `ended`.
#[utoipa::path(get, path = "/v1/chat/ws", tag = "contacts", params(ChatSocketQuery), security(("participant_token" = [])),
    responses((status = 101, description = "WebSocket"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn chat_socket(
    State(state): State<AppState>,
    Query(q): Query<ChatSocketQuery>,
    connection: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let token = crate::auth::bearer_header(&headers)
        .or_else(|| crate::auth::subprotocol_credential(&headers))
        .or(q.token);
    let (tx, rx) = mpsc::channel(SOCKET_BUFFER);
    let attached = match token {
        None => Err(ApiError::Unauthenticated),
        Some(token) => state
            .runtime
            .attach_customer(q.contact.clone(), token, q.after, tx)
            .await
            .map_err(ApiError::from),
    };
    let session = match attached {
        Ok(session) => session,
        Err(e) => {
            // A refused participant token is a refused credential: recorded like any.
            let mut record = sb_runtime::audit::AuditRecord::now("chat:Connect");
            record.outcome = "denied".into();
            record.status = Some(e.status().as_u16());
            record.error = Some(e.to_string());
            record.authenticated_by = "participant_token".into();
            record.parameters = serde_json::json!({ "contact": q.contact });
            record.source_address =
                connection.map(|Extension(axum::extract::ConnectInfo(a))| a.ip().to_string());
            record.request_id = headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if let Err(failure) = state.runtime.audit(&record).await {
                tracing::error!(error = %failure, "audit record not written");
            }
            return Err(e);
        }
    };
    let runtime = state.runtime.clone();
    let contact = q.contact;
    Ok(super::with_client_limits(ws)
        .on_upgrade(move |socket| customer_loop(socket, runtime, contact, session, rx)))
}

/// The close a read error calls for: 1009 for a message over the size limit (the peer
/// learns why it was cut off); none for a connection that simply broke.
pub(crate) fn close_code_for(e: &axum::Error) -> Option<CloseFrame> {
    let text = e.to_string();
    (text.contains("Space limit exceeded")
        || text.contains("too long")
        || text.contains("Capacity"))
    .then(|| CloseFrame {
        code: 1009,
        reason: "a message was over the 256 KiB limit".into(),
    })
}

/// Frames already waiting that go out with the one just received, at most.
const BURST_FRAMES: usize = 64;

/// Send `first` and the frames already waiting behind it on `queues` with one flush, so
/// that a burst (an offer, the agent's new state, a transcript) is one write to the
/// socket rather than one each. Stops after a frame that `is_last`; returns whether one
/// was.
async fn send_burst<F>(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    first: F,
    mut queues: [&mut mpsc::Receiver<F>; 2],
    to_text: impl Fn(&F) -> String,
    is_last: impl Fn(&F) -> bool,
) -> Result<bool, axum::Error> {
    let mut next = Some(first);
    let mut fed = 0;
    while let Some(frame) = next.take() {
        let text = to_text(&frame);
        sink.feed(Message::Text(text.into())).await?;
        if is_last(&frame) {
            sink.flush().await?;
            return Ok(true);
        }
        fed += 1;
        if fed < BURST_FRAMES {
            next = queues.iter_mut().find_map(|q| q.try_recv().ok());
        }
    }
    sink.flush().await?;
    Ok(false)
}

fn customer_frame_text(frame: &CustomerFrame) -> String {
    serde_json::to_string(frame).expect("frames serialise")
}

async fn customer_loop(
    socket: WebSocket,
    runtime: sb_runtime::instance::RuntimeHandle,
    contact: String,
    session: u64,
    mut frames: mpsc::Receiver<CustomerFrame>,
) {
    let (mut sink, mut stream) = socket.split();
    let (errors_tx, mut errors) = mpsc::channel::<CustomerFrame>(16);
    // How the reader asks the writer to close: a message over the size limit is 1009.
    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel::<CloseFrame>();
    let writer = tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                Some(f) = frames.recv() => f,
                Some(f) = errors.recv() => f,
                Ok(close) = &mut close_rx => {
                    let _ = sink.send(Message::Close(Some(close))).await;
                    break;
                }
                else => break,
            };
            let sent = send_burst(
                &mut sink,
                frame,
                [&mut frames, &mut errors],
                customer_frame_text,
                |f| *f == CustomerFrame::Ended,
            )
            .await;
            match sent {
                Ok(false) => {}
                // The chat ended: a normal close (1000), with why.
                Ok(true) => {
                    let ended = CloseFrame {
                        code: 1000,
                        reason: "the chat ended".into(),
                    };
                    let _ = sink.send(Message::Close(Some(ended))).await;
                    break;
                }
                Err(_) => break,
            }
        }
    });
    let mut close_tx = Some(close_tx);
    while let Some(read) = stream.next().await {
        let message = match read {
            Ok(message) => message,
            Err(e) => {
                if let (Some(close), Some(code)) = (close_tx.take(), close_code_for(&e)) {
                    let _ = close.send(code);
                }
                break;
            }
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            Message::Binary(_) => {
                let _ = errors_tx
                    .send(CustomerFrame::Error {
                        code: "bad_frame".into(),
                        message: "send chat frames as text (JSON), not binary".into(),
                    })
                    .await;
                continue;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let event = match serde_json::from_str::<CustomerEvent>(&text) {
            Ok(e) => e,
            Err(e) => {
                let _ = errors_tx
                    .send(CustomerFrame::Error {
                        code: "bad_frame".into(),
                        message: format!("not a chat frame: {e}"),
                    })
                    .await;
                continue;
            }
        };
        let leaving = event == CustomerEvent::Disconnect;
        if let Err(e) = runtime.customer(contact.clone(), session, event).await {
            let _ = errors_tx
                .send(CustomerFrame::Error {
                    code: error_code(&e).into(),
                    message: e.to_string(),
                })
                .await;
        }
        if leaving {
            break;
        }
    }
    drop(errors_tx);
    runtime.detach_customer(contact, session).await;
    let _ = writer.await;
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TaskCreated {
    contact_id: String,
}

/// Create a task: routed like a chat, it expires after the instance's task expiry.
#[utoipa::path(post, path = "/v1/tasks", tag = "contacts", request_body = Object,
    responses((status = 200, body = TaskCreated), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_task(
    State(state): State<AppState>,
    Json(task): Json<NewTask>,
) -> Result<Json<TaskCreated>, ApiError> {
    let contact_id = state.runtime.create_task(task).await?;
    Ok(Json(TaskCreated { contact_id }))
}

/// The agent's socket (what an agent desktop keeps open). Frames in: `set_status`,
/// `accept`, `reject`, `message`, `typing`, `read`, `set_attributes`, `transfer`, `end`,
/// `complete`, `callback_failed`, `heartbeat`. Frames out: `state`, `offer`,
/// `offer_withdrawn`, `connected`, `message`, `typing`, `read`, `contact_ended`,
/// `error`, `ok`. Silent for the instance's
/// `agent_silence_limit_seconds` (90) means dead:
/// offers go back in line and the agent goes Offline after its current contacts.
#[utoipa::path(get, path = "/v1/agent/ws", tag = "agents",
    responses((status = 101, description = "WebSocket"), (status = 403, body = ErrorBody)))]
pub(crate) async fn agent_socket(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(watch): Extension<crate::auth::CredentialWatch>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (tx, rx) = mpsc::channel(SOCKET_BUFFER);
    let user = principal.user.clone();
    let session = state.runtime.attach_agent(user.clone(), tx).await?;
    let runtime = state.runtime.clone();
    let silence_limit = state
        .deployer
        .live()
        .current()
        .map_or(DEFAULT_AGENT_SILENCE_LIMIT, |c| {
            Duration::from_secs(c.spec.instance.agent_silence_limit_seconds.into())
        });
    let credential_ended = Box::pin(watch.ended(state.clone()));
    Ok(super::with_client_limits(ws).on_upgrade(move |socket| {
        agent_loop(
            socket,
            runtime,
            user,
            session,
            rx,
            silence_limit,
            credential_ended,
        )
    }))
}

async fn agent_loop(
    socket: WebSocket,
    runtime: sb_runtime::instance::RuntimeHandle,
    user: String,
    session: u64,
    mut frames: mpsc::Receiver<AgentFrame>,
    silence_limit: Duration,
    mut credential_ended: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) {
    let (mut sink, mut stream) = socket.split();
    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel::<()>();
    let (answers_tx, mut answers) = mpsc::channel::<AgentFrame>(64);
    // Commands are handed to the runtime as they are read and answered in the same
    // order once each is durable: `end` and `complete` sent together wait for one
    // commit, not two in turn. A desktop with this many unanswered is read no further.
    let (in_flight_tx, mut in_flight) = mpsc::channel::<Answering>(COMMANDS_IN_FLIGHT);
    let answerer = tokio::spawn(async move {
        while let Some(answering) = in_flight.recv().await {
            let frame = match answering {
                Answering::Now(frame) => frame,
                Answering::Later(answer) => match answer.wait().await {
                    Ok(()) => AgentFrame::Ok,
                    Err(e) => error_frame(&e),
                },
            };
            if answers_tx.send(frame).await.is_err() {
                break;
            }
        }
    });
    let writer = tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                Some(f) = frames.recv() => f,
                Some(f) = answers.recv() => f,
                _ = &mut close_rx => {
                    let _ = sink.send(Message::Close(Some(credential_ended_frame()))).await;
                    break;
                }
                else => break,
            };
            if send_burst(
                &mut sink,
                frame,
                [&mut frames, &mut answers],
                crate::wire::agent_frame_text,
                |_| false,
            )
            .await
            .is_err()
            {
                break;
            }
        }
    });
    let mut close_tx = Some(close_tx);
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(silence_limit, stream.next()) => next,
            () = &mut credential_ended => {
                tracing::info!(agent = %user, "agent socket closed: its credential ended");
                if let Some(close) = close_tx.take() {
                    let _ = close.send(());
                }
                // Give the writer a moment to send the close frame.
                tokio::time::sleep(Duration::from_millis(100)).await;
                break;
            }
        };
        let message = match next {
            Ok(Some(Ok(m))) => m,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::info!(agent = %user, error = %e, "agent socket broke");
                break;
            }
            Err(_) => {
                tracing::warn!(agent = %user, "agent socket silent for {} s; treating the agent as gone", silence_limit.as_secs());
                break;
            }
        };
        let Message::Text(text) = message else {
            if matches!(message, Message::Close(_)) {
                break;
            }
            continue;
        };
        let answering = match serde_json::from_str::<AgentAction>(&text) {
            Err(e) => Answering::Now(AgentFrame::Error {
                code: "bad_frame".into(),
                message: format!("not an agent frame: {e}"),
            }),
            Ok(action) => match runtime.submit_agent(user.clone(), action).await {
                Ok(answer) => Answering::Later(answer),
                Err(e) => Answering::Now(error_frame(&e)),
            },
        };
        if in_flight_tx.send(answering).await.is_err() {
            break;
        }
    }
    drop(in_flight_tx);
    runtime.detach_agent(user, session).await;
    answerer.abort();
    writer.abort();
}

/// The close frame of a socket whose credential ended: 1008, policy violation.
pub(crate) fn credential_ended_frame() -> axum::extract::ws::CloseFrame {
    axum::extract::ws::CloseFrame {
        code: 1008,
        reason: "the credential ended (revoked, signed out or expired): sign in again".into(),
    }
}

/// Unanswered commands one agent socket may have in flight.
const COMMANDS_IN_FLIGHT: usize = 32;

/// An agent command's answer, in the order the commands came: at once (a frame that is
/// not a command), or once the runtime has made the command durable.
enum Answering {
    Now(AgentFrame),
    Later(sb_runtime::instance::Answer<()>),
}

fn error_frame(e: &RuntimeError) -> AgentFrame {
    AgentFrame::Error {
        code: error_code(e).into(),
        message: e.to_string(),
    }
}

/// Every logged-in agent's state, live.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", responses((status = 200, body = Vec<Object>)))]
pub(crate) async fn list_agents(
    State(state): State<AppState>,
) -> Result<Json<Vec<crate::wire::AgentState>>, ApiError> {
    let agents = state.runtime.list_agents().await?;
    Ok(Json(agents.iter().map(Into::into).collect()))
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
) -> Result<Json<crate::wire::AgentState>, ApiError> {
    let snapshot = state
        .runtime
        .set_agent_status(agent, r.status, principal.user.clone())
        .await?;
    Ok(Json((&snapshot).into()))
}

/// Every live contact with its stage, queue, agent, and position and estimated wait.
#[utoipa::path(get, path = "/v1/contacts/live", tag = "contacts", responses((status = 200, body = Vec<Object>)))]
pub(crate) async fn live_contacts(
    State(state): State<AppState>,
) -> Result<Json<Vec<crate::wire::LiveContact>>, ApiError> {
    let contacts = state.runtime.list_contacts().await?;
    Ok(Json(contacts.into_iter().map(Into::into).collect()))
}

/// End a live contact wherever it is (Connect's StopContact): in a flow, scheduled, in
/// line or offered it ends at once; with an agent it ends and the agent does its
/// after-contact work; in after-contact work the work is completed. The record's
/// DisconnectReason is `API`.
#[utoipa::path(post, path = "/v1/contacts/{contact}/stop", tag = "contacts",
    params(("contact" = String, Path)),
    responses((status = 200, body = Object, description = "`contact_id`, the stage it `was` in, the one it is in `now`"),
        (status = 404, body = ErrorBody, description = "no live contact by this id (it may have ended)")))]
pub(crate) async fn stop_contact(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(contact): Path<String>,
) -> Result<Json<sb_runtime::instance::ContactStopped>, ApiError> {
    Ok(Json(
        state
            .runtime
            .stop_contact(contact, principal.user.clone())
            .await?,
    ))
}

/// Why a contact is where it is: its place in line, and each agent's reason for not
/// taking it; for an offered contact, why that agent got it.
#[utoipa::path(get, path = "/v1/contacts/{contact}/routing", tag = "contacts",
    params(("contact" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn explain(
    State(state): State<AppState>,
    Path(contact): Path<String>,
) -> Result<Json<crate::wire::RoutingAnswer>, ApiError> {
    Ok(Json(state.runtime.explain(contact).await?.into()))
}

/// A contact's record (Connect's field names); for a contact still going on, its
/// record so far.
#[utoipa::path(get, path = "/v1/contacts/{contact}", tag = "contacts",
    params(("contact" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_contact(
    State(state): State<AppState>,
    Path(contact): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let id = contact.clone();
    let stored = super::blocking(move || store.contact_record(&id)).await?;
    if let Some(json) = stored {
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(Json(value).into_response());
    }
    Ok(Json(state.runtime.live_record(contact).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchQuery {
    /// Initiated at or after (RFC 3339). Default: 24 hours ago.
    from: Option<String>,
    /// Initiated before (RFC 3339). Default: now.
    to: Option<String>,
    queue: Option<String>,
    agent: Option<String>,
    /// VOICE, CHAT or TASK.
    channel: Option<String>,
    /// `key:value`: the attribute must have this value.
    attribute: Option<String>,
    /// At most this many (1 to 1000, default 100).
    limit: Option<usize>,
    /// The `next_token` of the page before: the records after it, in the time window
    /// of the search's first page (`from` and `to` may be left out).
    next_token: Option<String>,
}

/// A page of contact records.
#[derive(Serialize, ToSchema)]
pub(crate) struct ContactPage {
    /// Records in Connect's field names, by initiation time.
    #[schema(value_type = Vec<Object>)]
    contacts: Vec<serde_json::Value>,
    /// Present when there may be more: pass it as `next_token` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn cursor_of_token(token: &str) -> Result<RecordCursor, ApiError> {
    RecordCursor::from_token(token).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "next_token '{token}' is not one this search gave; start again without it"
        ))
    })
}

/// Search contact records by time, queue, agent, channel and attribute, a page at a
/// time.
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", params(SearchQuery),
    responses((status = 200, body = ContactPage), (status = 400, body = ErrorBody)))]
pub(crate) async fn search_contacts(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let time = |t: &Option<String>, default: jiff::Timestamp| -> Result<i64, ApiError> {
        match t {
            None => Ok(default.as_millisecond()),
            Some(text) => text
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|_| ApiError::BadRequest(format!("'{text}' is not an RFC 3339 time"))),
        }
    };
    let now = jiff::Timestamp::now();
    let from = time(&q.from, now - jiff::SignedDuration::from_hours(24))?;
    let to = time(&q.to, now + jiff::SignedDuration::from_secs(1))?;
    let cursor = q.next_token.as_deref().map(cursor_of_token).transpose()?;
    // A later page keeps the first page's window; a window given again must be the same.
    let (from, to) = match &cursor {
        None => (from, to),
        Some(c) => {
            let moved =
                (q.from.is_some() && from != c.from_ms) || (q.to.is_some() && to != c.to_ms);
            if moved {
                let at = |ms: i64| {
                    jiff::Timestamp::from_millisecond(ms).map_or(ms.to_string(), |t| t.to_string())
                };
                return Err(ApiError::BadRequest(format!(
                    "next_token continues the search from {} to {}: leave out from and to, \
                     give those, or start again without next_token",
                    at(c.from_ms),
                    at(c.to_ms)
                )));
            }
            (c.from_ms, c.to_ms)
        }
    };
    if let Some(c) = &q.channel {
        if !["VOICE", "CHAT", "TASK"].contains(&c.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "channel '{c}' is not VOICE, CHAT or TASK"
            )));
        }
    }
    let attribute = match &q.attribute {
        None => None,
        Some(a) => Some(
            a.split_once(':')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| ApiError::BadRequest("attribute must be key:value".into()))?,
        ),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 1000".into()));
    }
    let first_page = cursor.is_none();
    let (named_queue, named_agent): (Vec<String>, Vec<String>) = (
        q.queue.iter().cloned().collect(),
        q.agent.iter().cloned().collect(),
    );
    let filter = RecordFilter {
        from_ms: from,
        to_ms: to,
        queue: q.queue,
        agent: q.agent,
        channel: q.channel,
        attribute,
        limit,
        after: cursor.map(|c| c.after),
    };
    let store = state.store.clone();
    let page = super::blocking(move || store.search_records(&filter)).await?;
    super::refuse_unknown_names_when_empty(
        &state,
        first_page && page.records.is_empty(),
        &named_queue,
        &named_agent,
    )?;
    Ok(Json(ContactPage {
        contacts: page
            .records
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect(),
        next_token: page.next.map(|after| {
            RecordCursor {
                from_ms: from,
                to_ms: to,
                after,
            }
            .token()
        }),
    })
    .into_response())
}

/// The contact's flow log: each executed action with its resolved parameters (sensitive
/// values redacted) and the branch it took, for every step while logging was enabled
/// (UpdateFlowLoggingBehavior).
#[utoipa::path(get, path = "/v1/contacts/{contact}/flow-logs", tag = "contacts",
    params(("contact" = String, Path)), responses((status = 200, body = Vec<Object>)))]
pub(crate) async fn flow_logs(
    State(state): State<AppState>,
    Path(contact): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let rows = super::blocking(move || store.events_for("flow-log", &contact, 10_000)).await?;
    let mut entries = Vec::new();
    for row in rows {
        let actions: Vec<serde_json::Value> =
            serde_json::from_str(&row.event.payload).unwrap_or_default();
        let at = jiff::Timestamp::from_millisecond(row.event.at_ms)
            .map(|t| t.to_string())
            .unwrap_or_default();
        for mut action in actions {
            if let Some(map) = action.as_object_mut() {
                map.insert("at".into(), serde_json::Value::String(at.clone()));
            }
            entries.push(action);
        }
    }
    Ok(Json(entries).into_response())
}
