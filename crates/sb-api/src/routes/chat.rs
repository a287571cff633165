//! The customer's side of a chat: starting one, and its socket.

use std::collections::BTreeMap;

use crate::socket_requests::CustomerRequest;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use futures_util::{SinkExt, StreamExt};
use sb_runtime::instance::{ChatStarted, CustomerEvent, CustomerFrame, NewChat};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::sockets::{close_code_for, error_code, send_burst, Answering, SOCKET_BUFFER};
use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;

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

async fn customer_loop(
    socket: WebSocket,
    runtime: sb_runtime::instance::RuntimeHandle,
    contact: String,
    session: u64,
    mut frames: mpsc::Receiver<CustomerFrame>,
) {
    let (mut sink, mut stream) = socket.split();
    let (errors_tx, mut errors) = mpsc::channel::<CustomerFrame>(16);
    // What the customer says is handed to the runtime as it is read, and an error (a
    // message too long, too many) answered in order once each is decided: a customer
    // typing fast waits for one commit, not one per message.
    let (in_flight, answerer) = super::sockets::answer_in_order(errors_tx, |outcome| {
        outcome.err().map(|e| CustomerFrame::Error {
            code: error_code(&e).into(),
            message: e.to_string(),
        })
    });
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
                crate::socket_frames::customer_frame_text,
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
                let refused = CustomerFrame::Error {
                    code: "bad_frame".into(),
                    message: "send chat frames as text (JSON), not binary".into(),
                };
                let _ = in_flight.send(Answering::Now(refused)).await;
                continue;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let event: CustomerEvent = match serde_json::from_str::<CustomerRequest>(&text) {
            Ok(e) => e.into(),
            Err(e) => {
                let refused = CustomerFrame::Error {
                    code: "bad_frame".into(),
                    message: format!("not a chat frame: {e}"),
                };
                let _ = in_flight.send(Answering::Now(refused)).await;
                continue;
            }
        };
        let leaving = event == CustomerEvent::Disconnect;
        let answering = match runtime
            .submit_customer(contact.clone(), session, event)
            .await
        {
            Ok(answer) => Answering::Later(answer),
            Err(e) => Answering::Now(CustomerFrame::Error {
                code: error_code(&e).into(),
                message: e.to_string(),
            }),
        };
        if in_flight.send(answering).await.is_err() || leaving {
            break;
        }
    }
    drop(in_flight);
    runtime.detach_customer(contact, session).await;
    let _ = answerer.await;
    let _ = writer.await;
}
