//! What the WebSocket endpoints share: buffer sizes, answering commands in order while
//! more are read, writing a burst of frames with one flush, the close codes, and the
//! error code of a runtime error.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use sb_runtime::instance::RuntimeError;
use tokio::sync::mpsc;

/// Frames waiting for a slow socket, beyond which frames are dropped.
pub(crate) const SOCKET_BUFFER: usize = 1024;

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

/// Unanswered commands one socket may have in flight; a client with this many is read
/// no further until the oldest is answered.
pub(crate) const COMMANDS_IN_FLIGHT: usize = 32;

/// A command's answer, in the order the commands came: at once (a frame that is not a
/// command), or once the runtime has made the command durable.
pub(crate) enum Answering<F> {
    Now(F),
    Later(sb_runtime::instance::Answer<()>),
}

/// Commands are handed to the runtime as they are read and answered in the same order
/// once each is durable, so commands sent together share a commit instead of waiting
/// for one another. Queue each command's [`Answering`] on the returned sender; the task
/// sends `answer(outcome)` of each (when it is a frame) to `answers`, in order.
pub(crate) fn answer_in_order<F: Send + 'static>(
    answers: mpsc::Sender<F>,
    answer: impl Fn(Result<(), RuntimeError>) -> Option<F> + Send + 'static,
) -> (mpsc::Sender<Answering<F>>, tokio::task::JoinHandle<()>) {
    let (in_flight_tx, mut in_flight) = mpsc::channel::<Answering<F>>(COMMANDS_IN_FLIGHT);
    let task = tokio::spawn(async move {
        while let Some(answering) = in_flight.recv().await {
            let frame = match answering {
                Answering::Now(frame) => Some(frame),
                Answering::Later(waiting) => {
                    let outcome = waiting.wait().await;
                    answer(outcome)
                }
            };
            if let Some(frame) = frame {
                if answers.send(frame).await.is_err() {
                    break;
                }
            }
        }
    });
    (in_flight_tx, task)
}

/// Frames already waiting that go out with the one just received, at most.
const BURST_FRAMES: usize = 64;

/// Send `first` and the frames already waiting behind it on `queues` with one flush, so
/// that a burst (an offer, the agent's new state, a transcript) is one write to the
/// socket rather than one each. Stops after a frame that `is_last`; returns whether one
/// was.
pub(crate) async fn send_burst<F>(
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

/// The close frame of a socket whose credential ended: 1008, policy violation.
pub(crate) fn credential_ended_frame() -> axum::extract::ws::CloseFrame {
    axum::extract::ws::CloseFrame {
        code: 1008,
        reason: "the credential ended (revoked, signed out or expired): sign in again".into(),
    }
}

/// The code a socket's `error` frame carries: the same as the HTTP body's for the same
/// error, so a desktop and a script read one table.
pub(crate) fn error_code(e: &RuntimeError) -> &'static str {
    crate::error::runtime_status_and_code(e).1
}
