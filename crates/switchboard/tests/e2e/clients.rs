//! Real clients for the end-to-end tests: WebSocket sockets over TLS (tokio-tungstenite)
//! and HTTPS requests (reqwest) against a running server, and a reader of every file a
//! test must search.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::Server;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) fn tls(server: &Server) -> tokio_tungstenite::Connector {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&server.ca).unwrap();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_tungstenite::Connector::Rustls(Arc::new(config))
}

pub(crate) async fn connect(server: &Server, path: &str, bearer: &str) -> Result<Socket, String> {
    let url = format!("{}{path}", server.url.replace("https://", "wss://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {bearer}").parse().unwrap());
    tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(tls(server)))
        .await
        .map(|(s, _)| s)
        .map_err(|e| e.to_string())
}

pub(crate) async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// The next frame matching `want`, skipping others; fails after 10 s.
pub(crate) async fn expect(socket: &mut Socket, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a frame within 10 s");
        let Some(Ok(Message::Text(text))) = next else {
            panic!("socket closed: {next:?}")
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if want(&frame) {
            return frame;
        }
    }
}

pub(crate) fn is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |f| f["type"] == kind
}

pub(crate) fn says(text: &'static str) -> impl Fn(&Value) -> bool {
    move |f| f["type"] == "message" && f["text"].as_str().is_some_and(|t| t.contains(text))
}

pub(crate) async fn post(server: &Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = server
        .client()
        .post(format!("{}{path}", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn get(server: &Server, path: &str, token: &str) -> (u16, Value) {
    let response = server
        .client()
        .get(format!("{}{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Poll `/v1/contacts/live` until no contact is live or `limit` passes; the list last
/// read (empty once every contact has ended).
pub(crate) async fn live_contacts_settled(server: &Server, token: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (_, live) = get(server, "/v1/contacts/live", token).await;
        if live == json!([]) || tokio::time::Instant::now() >= deadline {
            return live;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every file under `dir`, read whole.
pub(crate) fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// Wait for an agent's `ok` (answers and events travel different paths to the socket,
/// so other frames may come first).
pub(crate) async fn ok(agent: &mut Socket) {
    let answer = expect(agent, |f| f["type"] == "ok" || f["type"] == "error").await;
    assert_eq!(answer["type"], "ok", "refused: {answer}");
}

pub(crate) async fn available(server: &Server, token: &str) -> Socket {
    let mut agent = connect(server, "/v1/agent/ws", token).await.unwrap();
    expect(&mut agent, is("state")).await;
    send(
        &mut agent,
        json!({"type": "set_status", "status": "Available"}),
    )
    .await;
    ok(&mut agent).await;
    agent
}

/// Start a chat with `body` as `integration`, connect the customer's socket and wait
/// for the sample menu: the contact id, the participant token, the socket.
pub(crate) async fn chat_at_menu(
    server: &Server,
    integration: &str,
    body: Value,
) -> (String, String, Socket) {
    let (status, started) = post(server, "/v1/chat", integration, body).await;
    assert_eq!(status, 200, "{started}");
    let contact = started["contact_id"].as_str().unwrap().to_string();
    let token = started["participant_token"].as_str().unwrap().to_string();
    let mut customer = connect(server, &format!("/v1/chat/ws?contact={contact}"), &token)
        .await
        .unwrap();
    expect(&mut customer, says("For billing, press 3")).await;
    (contact, token, customer)
}

/// A chat through the sample menu's billing choice, offered to `agent` (available, the
/// only one): the contact id and the customer's socket.
pub(crate) async fn billing_chat_offered(
    server: &Server,
    integration: &str,
    agent: &mut Socket,
) -> (String, Socket) {
    let (contact, _, mut customer) =
        chat_at_menu(server, integration, json!({"display_name": "Ana"})).await;
    send(&mut customer, json!({"type": "message", "text": "3"})).await;
    let offer = expect(agent, is("offer")).await;
    assert_eq!(offer["contact"], contact.as_str(), "{offer}");
    (contact, customer)
}
