pub(crate) mod agent_desk;
pub(crate) mod agent_socket;
pub(crate) mod agents;
pub(crate) mod audit;
pub(crate) mod auth_token;
pub(crate) mod chat;
pub(crate) mod config;
pub(crate) mod contacts;
pub(crate) mod historical;
pub(crate) mod login;
pub(crate) mod metrics;
pub(crate) mod ops;
pub(crate) mod query;
pub(crate) mod sealed;
pub(crate) mod sockets;
pub(crate) mod sse_gzip;
pub(crate) mod stream_tail;
pub(crate) mod streams;
pub(crate) mod tasks;

/// A comma-separated query parameter as its items, blanks dropped; `None` when absent.
pub(crate) fn comma_list(value: &Option<String>) -> Option<Vec<String>> {
    value.as_ref().map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// A filter naming a queue or agent the deployed spec does not have, when nothing was
/// found: most likely a typo, so it gets the 400 that current metrics give, not an empty
/// 200 that reads as "no contacts". A name with data under it (a queue since removed from
/// the spec) is answered as asked.
pub(crate) fn refuse_unknown_names_when_empty(
    state: &crate::server::AppState,
    found_nothing: bool,
    queues: &[String],
    agents: &[String],
) -> Result<(), crate::error::ApiError> {
    if !found_nothing {
        return Ok(());
    }
    let Some(config) = state.deployer.live().current() else {
        return Ok(());
    };
    let spec = &config.spec;
    let unknown = queues
        .iter()
        .find(|q| !spec.queues.contains_key(q.as_str()))
        .map(|q| ("queue", q))
        .or_else(|| {
            agents
                .iter()
                .find(|a| !spec.users.contains_key(a.as_str()))
                .map(|a| ("agent", a))
        });
    match unknown {
        Some((what, name)) => Err(crate::error::ApiError::BadRequest(format!(
            "no {what} named '{name}': the deployed spec has none, and nothing is recorded under it"
        ))),
        None => Ok(()),
    }
}

/// Largest WebSocket message (and frame) accepted from a client: room for the longest
/// chat message an instance may allow (32,768 characters, each up to 6 bytes as a JSON
/// escape) in its frame, so that an over-long chat message gets the instance's own clear
/// error; anything larger is a broken or hostile client, and its socket is closed.
const MAX_CLIENT_MESSAGE_BYTES: usize = 256 * 1024;
/// Read buffer per WebSocket. Clients send small frames; the library's default (128 KiB
/// per socket) is memory held by every open chat and agent desk, and it zero-fills the
/// buffer's free room on every read (a 128 KiB fill for a 100-byte frame).
const SOCKET_READ_BUFFER_BYTES: usize = 8 * 1024;

/// A WebSocket upgrade with the server's limits for what clients send.
pub(crate) fn with_client_limits(
    ws: axum::extract::ws::WebSocketUpgrade,
) -> axum::extract::ws::WebSocketUpgrade {
    ws.read_buffer_size(SOCKET_READ_BUFFER_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        // Selected when offered (a browser offering its credential as a subprotocol
        // must offer this too, and gets it back; the credential is never echoed).
        .protocols([crate::auth::SOCKET_PROTOCOL])
}

/// Run store or deployment work off the async workers.
pub(crate) async fn blocking<
    T: Send + 'static,
    E: Into<crate::error::ApiError> + Send + 'static,
>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, crate::error::ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?
        .map_err(Into::into)
}
