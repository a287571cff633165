//! Push latency against the real server (HTTPS, event log on disk), with agents
//! changing status 1,000 times a second in total:
//! - real-time metrics: 1,000 WebSocket subscribers; latency from the first change a
//!   view shows (`changed_at_ms`, stamped by the runtime) to the view arriving;
//! - event streams: 1,000 server-sent-event subscribers to agent-events; latency from
//!   the event's time to its arrival.
//!
//! Client and server share this machine's 2 cores. Run: cargo bench -p switchboard --bench push

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Enough agents that none changes more often than its event window (50 ms), so each
/// change is one agent event.
const AGENTS: usize = 200;
/// Defaults; PUSH_SUBSCRIBERS and PUSH_RATE override them.
const SUBSCRIBERS: usize = 1_000;
const CHANGES_PER_SECOND: usize = 1_000;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
const SECONDS: u64 = 20;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

const SPEC: &str = r#"
instance: { name: push }
agent_statuses:
  - { name: Available, type: ROUTABLE }
  - { name: Break, type: CUSTOM }
  - { name: Offline, type: OFFLINE }
hours_of_operation:
  - { name: Always, time_zone: UTC, weekly: [{ day: MONDAY, start: "00:00", end: "24:00" }] }
queues:
  - { name: Load, hours: Always }
routing_profiles:
  - { name: Chat, concurrency: { chat: 2 }, default_outbound_queue: Load, queues: [{ queue: Load, channel: CHAT, priority: 1 }] }
"#;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn percentiles(mut v: Vec<i64>) -> String {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    format!(
        "p50 {} ms, p90 {} ms, p99 {} ms, max {} ms (n = {})",
        at(0.5),
        at(0.9),
        at(0.99),
        v[v.len() - 1],
        v.len()
    )
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_switchboard");
    let data = tempfile::tempdir().unwrap();
    let spec = tempfile::tempdir().unwrap();
    std::fs::write(spec.path().join("instance.yaml"), SPEC).unwrap();
    let mut users = String::from("users:\n");
    for a in 0..AGENTS {
        users.push_str(&format!(
            "  - {{ username: agent{a}, role: Agent, routing_profile: Chat }}\n"
        ));
    }
    std::fs::write(spec.path().join("users.yaml"), users).unwrap();
    let d = data.path().to_str().unwrap();
    assert!(Command::new(bin)
        .args(["apply", spec.path().to_str().unwrap(), "--data", d])
        .output()
        .unwrap()
        .status
        .success());
    let credential = |user: &str, role: &str| support::credential(data.path(), user, role);
    let agent_tokens: Vec<String> = (0..AGENTS)
        .map(|a| credential(&format!("agent{a}"), "Agent"))
        .collect();
    let board = credential("wallboard", "Integration");
    let server = support::Server::start(data.path(), &[]);
    let url = server.url.clone();
    let ca = std::fs::read(data.path().join("tls/ca.pem")).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let subscribers_wanted = setting("PUSH_SUBSCRIBERS", SUBSCRIBERS);
    let rate_wanted = setting("PUSH_RATE", CHANGES_PER_SECOND);
    runtime.block_on(async move {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca.as_slice()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let ws_url = url.replace("https://", "wss://");
        let connect = |path: String, token: String| {
            let tls = tls.clone();
            let ws_url = ws_url.clone();
            async move {
                let mut req = format!("{ws_url}{path}").into_client_request().unwrap();
                req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
                tokio_tungstenite::connect_async_tls_with_config(req, None, true, Some(tokio_tungstenite::Connector::Rustls(tls))).await.unwrap().0
            }
        };
        let connect_agents = || async {
            let mut agents = Vec::new();
            for token in &agent_tokens {
                let mut socket = connect("/v1/agent/ws".into(), token.clone()).await;
                socket.send(Message::Text(json!({"type": "set_status", "status": "Available"}).to_string().into())).await.unwrap();
                agents.push(socket);
            }
            agents
        };
        let drive = |agents: Vec<Socket>| async move {
            // Each agent toggles Available/Break; together CHANGES_PER_SECOND changes a second.
            let per_agent = Duration::from_micros((1_000_000 * AGENTS / rate_wanted) as u64);
            let mut tasks = Vec::new();
            for (i, socket) in agents.into_iter().enumerate() {
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(per_agent * i as u32 / AGENTS as u32).await;
                    let mut tick = tokio::time::interval(per_agent);
                    let started = Instant::now();
                    let mut n = 0u64;
                    let (mut sink, mut stream) = socket.split();
                    let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
                    while started.elapsed() < Duration::from_secs(SECONDS) {
                        tick.tick().await;
                        let status = if n % 2 == 0 { "Break" } else { "Available" };
                        n += 1;
                        sink.send(Message::Text(json!({"type": "set_status", "status": status}).to_string().into())).await.unwrap();
                    }
                    reader.abort();
                    n
                }));
            }
            let started = Instant::now();
            let mut sent = 0;
            for t in tasks {
                sent += t.await.unwrap();
            }
            sent as f64 / started.elapsed().as_secs_f64()
        };
        let phase = std::env::var("PUSH_PHASE").unwrap_or_default();

        if phase.is_empty() || phase == "metrics" {
            // Phase 1: real-time metrics over WebSockets.
            let latencies = Arc::new(Mutex::new(Vec::new()));
            let measuring = Arc::new(AtomicBool::new(false));
            let mut subscribers = Vec::new();
            for _ in 0..subscribers_wanted {
                let mut socket = connect("/v1/metrics/current/ws?metrics=AGENTS_AVAILABLE,AGENTS_NON_PRODUCTIVE".into(), board.clone()).await;
                let (latencies, measuring) = (latencies.clone(), measuring.clone());
                subscribers.push(tokio::spawn(async move {
                    while let Some(Ok(message)) = socket.next().await {
                        let Message::Text(text) = message else { continue };
                        if !measuring.load(Ordering::Relaxed) {
                            continue;
                        }
                        let view: Value = serde_json::from_str(&text).unwrap();
                        let latency = now_ms() - view["changed_at_ms"].as_i64().unwrap();
                        latencies.lock().unwrap().push(latency);
                    }
                }));
            }
            let agents = connect_agents().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            measuring.store(true, Ordering::Relaxed);
            let rate = drive(agents).await;
            measuring.store(false, Ordering::Relaxed);
            for s in &subscribers {
                s.abort();
            }
            let samples = latencies.lock().unwrap().clone();
            println!(
                "metrics push: {rate:.0} status changes/s for {SECONDS} s, {subscribers_wanted} WebSocket subscribers: change -> view {}",
                percentiles(samples)
            );
        }

        if phase.is_empty() || phase == "streams" {
            // Phase 2: the agent-events stream over server-sent events.
            let http = reqwest::Client::builder()
                .use_rustls_tls()
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .build()
                .unwrap();
            let head: Value = http
                .get(format!("{url}/v1/streams/agent-events?limit=1000&wait_seconds=0"))
                .bearer_auth(&board)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mut after = head["next_after"].as_u64().unwrap();
            // Start at the newest event so the backlog is not measured.
            loop {
                let page: Value = http
                    .get(format!("{url}/v1/streams/agent-events?after={after}&limit=1000"))
                    .bearer_auth(&board)
                    .send().await.unwrap().json().await.unwrap();
                let next = page["next_after"].as_u64().unwrap();
                if next == after { break; }
                after = next;
            }
            let latencies = Arc::new(Mutex::new(Vec::new()));
            let mut subscribers = Vec::new();
            for _ in 0..subscribers_wanted {
                let mut response = http
                    .get(format!("{url}/v1/streams/agent-events/subscribe?after={after}"))
                    .bearer_auth(&board)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                let latencies = latencies.clone();
                subscribers.push(tokio::spawn(async move {
                    // The client shares the cores with the server, so it does as little
                    // as it can: find each event's `"at":"…"` in the raw bytes (a short
                    // carry-over covers a marker split across chunks) and keep the
                    // samples locally until the end.
                    const MARKER: &[u8] = b"\"at\":\"";
                    let mut samples = Vec::new();
                    let mut carry: Vec<u8> = Vec::new();
                    let mut done = false;
                    while !done {
                        // Quiet for two seconds once events flowed (or a minute before) ends it.
                        let quiet = Duration::from_secs(if samples.is_empty() { 60 } else { 2 });
                        let chunk = match tokio::time::timeout(quiet, response.chunk()).await {
                            Ok(Ok(Some(chunk))) => chunk,
                            _ => {
                                done = true;
                                continue;
                            }
                        };
                        let arrived = now_ms();
                        carry.extend_from_slice(&chunk);
                        let mut from = 0;
                        while let Some(i) = memchr::memmem::find(&carry[from..], MARKER) {
                            let start = from + i + MARKER.len();
                            let Some(len) = carry[start..].iter().position(|&b| b == b'"') else {
                                from += i;
                                break;
                            };
                            if let Some(at) = millis_of_day(&carry[start..start + len]) {
                                samples.push((arrived.rem_euclid(86_400_000) - at + 86_400_000) % 86_400_000);
                            }
                            from = start + len;
                        }
                        carry.drain(..from.min(carry.len()).max(carry.len().saturating_sub(MARKER.len() + 40)));
                    }
                    let received = samples.len();
                    latencies.lock().unwrap().extend(samples);
                    received
                }));
            }
            let agents = connect_agents().await;
            let rate = drive(agents).await;
            // Subscribers stop after two quiet seconds and hand in their samples.
            let mut counts = Vec::new();
            for s in subscribers {
                counts.push(s.await.unwrap_or(0));
            }
            counts.sort_unstable();
            println!(
                "events received per subscriber: min {}, median {}, max {}",
                counts[0],
                counts[counts.len() / 2],
                counts[counts.len() - 1]
            );
            let samples = latencies.lock().unwrap().clone();
            println!(
                "stream push: {rate:.0} agent events/s for {SECONDS} s, {subscribers_wanted} SSE subscribers: event -> subscriber {}",
                percentiles(samples)
            );
        }
    });
    drop(server);
}

/// The milliseconds since midnight (UTC) of an RFC 3339 time like
/// `2026-11-26T17:55:01.123Z`, read by hand: the client shares the cores with the
/// server it measures.
fn millis_of_day(text: &[u8]) -> Option<i64> {
    let t = text.iter().position(|&b| b == b'T')?;
    let clock = &text[t + 1..];
    let number = |from: usize, len: usize| -> Option<i64> {
        let digits = clock.get(from..from + len)?;
        digits.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (h, m, s) = (number(0, 2)?, number(3, 2)?, number(6, 2)?);
    let mut ms = 0;
    if clock.get(8) == Some(&b'.') {
        for (i, &d) in clock[9..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .take(3)
            .enumerate()
        {
            ms += i64::from(d - b'0') * [100, 10, 1][i];
        }
    }
    Some(((h * 60 + m) * 60 + s) * 1000 + ms)
}
