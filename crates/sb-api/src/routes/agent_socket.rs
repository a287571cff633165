//! The agent's socket: what an agent desktop keeps open.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use futures_util::{SinkExt, StreamExt};
use sb_runtime::instance::{AgentFrame, RuntimeError};
use sb_security::Principal;
use tokio::sync::mpsc;

use super::sockets::{credential_ended_frame, error_code, send_burst, Answering, SOCKET_BUFFER};
use crate::error::{ApiError, ErrorBody};
use crate::server::AppState;

/// An agent socket that sends nothing (not even a heartbeat) for this long is dead.
/// Before any configuration is deployed (the instance's `agent_silence_limit_seconds`).
const DEFAULT_AGENT_SILENCE_LIMIT: Duration = Duration::from_secs(90);

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
    // Each command is answered `ok` or `error`, in order: `end` and `complete` sent
    // together wait for one commit, not two in turn.
    let (in_flight_tx, answerer) = super::sockets::answer_in_order(answers_tx, |outcome| {
        Some(match outcome {
            Ok(()) => AgentFrame::Ok,
            Err(e) => error_frame(&e),
        })
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
                crate::socket_frames::agent_frame_text,
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
        let answering = match serde_json::from_str::<crate::socket_requests::AgentRequest>(&text) {
            Err(e) => Answering::Now(AgentFrame::Error {
                code: "bad_frame".into(),
                message: format!("not an agent frame: {e}"),
            }),
            Ok(action) => match runtime.submit_agent(user.clone(), action.into()).await {
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

fn error_frame(e: &RuntimeError) -> AgentFrame {
    AgentFrame::Error {
        code: error_code(e).into(),
        message: e.to_string(),
    }
}
