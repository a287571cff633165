//! Push latency against the real server (HTTPS, event log on disk), with agents
//! changing status 1,000 times a second in total:
//! - real-time metrics: 1,000 WebSocket subscribers; latency from the first change a
//!   view shows (`changed_at_ms`, stamped by the runtime) to the view arriving;
//! - event streams: 1,000 server-sent-event subscribers to agent-events, asking for gzip
//!   unless PUSH_GZIP=0; latency from the event's time to its arrival, for the steady
//!   state and for every event.
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
            // Subscribers ask for gzip unless PUSH_GZIP=0.
            let gzip = setting("PUSH_GZIP", 1) != 0;
            let authority = url.trim_start_matches("https://").to_string();
            for _ in 0..subscribers_wanted {
                let mut body = SseBody::open(
                    &authority,
                    tls.clone(),
                    &format!("/v1/streams/agent-events/subscribe?after={after}"),
                    &board,
                    gzip,
                )
                .await;
                let latencies = latencies.clone();
                subscribers.push(tokio::spawn(async move {
                    // The client shares the cores with the server, so it does as little
                    // as it can: find each event's `"at":"…"` in the bytes as they come
                    // and keep the samples locally until the end.
                    let mut scanner = Scanner::new();
                    // Sized for the whole run up front: a thousand subscribers growing
                    // their vectors at the same moment stall the client for a while.
                    let mut samples = Vec::with_capacity(rate_wanted * (SECONDS as usize + 5));
                    let mut bytes = 0usize;
                    loop {
                        // Quiet for two seconds once events flowed (or a minute before) ends it.
                        let quiet = Duration::from_secs(if samples.is_empty() { 60 } else { 2 });
                        let mut arrived = None;
                        let read = body.read(|data| {
                            let arrived = *arrived.get_or_insert_with(now_ms);
                            bytes += data.len();
                            scanner.feed(data, |at| {
                                if let Some(at) = millis_of_day(at) {
                                    samples.push((arrived, (arrived.rem_euclid(86_400_000) - at + 86_400_000) % 86_400_000));
                                }
                            });
                        });
                        match tokio::time::timeout(quiet, read).await {
                            Ok(true) => {}
                            _ => break,
                        }
                    }
                    let received = samples.len();
                    latencies.lock().unwrap().extend(samples);
                    (received, bytes, body.wire)
                }));
            }
            let agents = connect_agents().await;
            let drive_started = now_ms();
            let rate = drive(agents).await;
            // Subscribers stop after two quiet seconds and hand in their samples.
            let mut counts = Vec::new();
            let (mut bytes, mut wire) = (0, 0);
            for s in subscribers {
                let (events, read, received) = s.await.unwrap_or((0, 0, 0));
                counts.push(events);
                bytes += read;
                wire += received;
            }
            counts.sort_unstable();
            assert_eq!(
                counts[0],
                counts[counts.len() - 1],
                "every subscriber receives every event (a subscriber quiet for 2 s stops early)"
            );
            println!(
                "events received per subscriber: min {}, median {}, max {}; {} body bytes per event, {} on the wire",
                counts[0],
                counts[counts.len() / 2],
                counts[counts.len() - 1],
                bytes / counts.iter().sum::<usize>().max(1),
                wire / counts.iter().sum::<usize>().max(1)
            );
            let timed: Vec<(i64, i64)> = latencies.lock().unwrap().clone();
            if std::env::var("PUSH_TIMELINE").is_ok() {
                // The worst latency of each second, to tell a steady state from spikes.
                let first = timed.iter().map(|t| t.0).min().unwrap_or(0);
                let mut worst = std::collections::BTreeMap::new();
                for (arrived, latency) in &timed {
                    let w = worst.entry((arrived - first) / 1000).or_insert(0);
                    *w = (*w).max(*latency);
                }
                println!("worst latency per second: {worst:?}");
                let last = worst.keys().last().copied().unwrap_or(0);
                let mut tenths = std::collections::BTreeMap::new();
                for (arrived, latency) in &timed {
                    let t = (arrived - first) / 100;
                    if t >= (last - 2) * 10 {
                        let w = tenths.entry(t).or_insert((0, 0));
                        w.0 = w.0.max(*latency);
                        w.1 += 1;
                    }
                }
                println!("last seconds, per 100 ms (worst, count): {tenths:?}");
            }
            // The steady state: events made while every agent runs at its pace, after
            // the first second and before the last half (the agents' sockets close at
            // the end, a burst of its own).
            let steady_from = drive_started + 1_000;
            let steady_to = drive_started + SECONDS as i64 * 1_000 - 500;
            let steady: Vec<i64> = timed
                .iter()
                .filter(|(arrived, latency)| (steady_from..steady_to).contains(&(arrived - latency)))
                .map(|t| t.1)
                .collect();
            let samples: Vec<i64> = timed.into_iter().map(|t| t.1).collect();
            println!(
                "stream push: {rate:.0} agent events/s for {SECONDS} s, {subscribers_wanted} SSE subscribers{}: event -> subscriber, steady state {}; every event {}",
                if gzip { " (gzip)" } else { "" },
                percentiles(steady),
                percentiles(samples)
            );
        }
    });
    drop(server);
}

const MARKER: &[u8] = b"\"at\":\"";

/// A server-sent-event response read straight off a TLS socket: the HTTP/1.1 head is
/// checked, then the chunked body is unframed (and inflated, for gzip) and handed to
/// the caller slice by slice. A general HTTP client (hyper under reqwest) copies each
/// byte several times on its way to the caller; with a thousand subscribers on the
/// same two cores as the server, that copying would be measured as the server's
/// latency.
struct SseBody {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    buf: Vec<u8>,
    chunk: Chunked,
    /// For a gzip body: the inflater, the header bytes still to skip, and the
    /// unframed compressed bytes not yet inflated.
    gzip: Option<Gunzip>,
    /// Body bytes that came with the response head.
    pending: Vec<u8>,
    /// Body bytes received, before inflating.
    wire: usize,
}

struct Gunzip {
    inflater: flate2::Decompress,
    header_left: usize,
    compressed: Vec<u8>,
    out: Vec<u8>,
}

/// Where the reader is in the chunked transfer coding.
enum Chunked {
    /// Reading a chunk-size line; the size so far.
    Size(usize),
    /// In a chunk's extension or the rest of its size line.
    SizeLine(usize),
    /// Inside a chunk's data, this many bytes left.
    Data(usize),
    /// The CRLF after a chunk's data, this many bytes left.
    DataEnd(usize),
}

impl SseBody {
    async fn open(
        authority: &str,
        tls: Arc<rustls::ClientConfig>,
        path: &str,
        token: &str,
        gzip: bool,
    ) -> SseBody {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = authority.rsplit_once(':').unwrap().0.to_string();
        let tcp = tokio::net::TcpStream::connect(authority).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = rustls::pki_types::ServerName::try_from(host).unwrap();
        let mut stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n{}\r\n",
            if gzip { "Accept-Encoding: gzip\r\n" } else { "" }
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut head = Vec::new();
        let body_starts = loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed before answering");
            head.extend_from_slice(&buf[..n]);
            if let Some(i) = memchr::memmem::find(&head, b"\r\n\r\n") {
                break i + 4;
            }
        };
        let text = String::from_utf8_lossy(&head[..body_starts]).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 200"), "subscribe failed: {text}");
        assert!(
            text.contains("transfer-encoding: chunked"),
            "expected a chunked body: {text}"
        );
        assert_eq!(
            text.contains("content-encoding: gzip"),
            gzip,
            "gzip as asked: {text}"
        );
        let gzip = gzip.then(|| Gunzip {
            inflater: flate2::Decompress::new(false),
            header_left: 10,
            compressed: Vec::new(),
            out: vec![0; 64 * 1024],
        });
        SseBody {
            tls: stream,
            buf,
            chunk: Chunked::Size(0),
            gzip,
            pending: head[body_starts..].to_vec(),
            wire: 0,
        }
    }

    /// Read once more from the socket and hand the body's bytes to `on_data`; false
    /// when the stream ended.
    async fn read(&mut self, mut on_data: impl FnMut(&[u8])) -> bool {
        use tokio::io::AsyncReadExt;
        let pending = std::mem::take(&mut self.pending);
        let read: &[u8] = if !pending.is_empty() {
            &pending
        } else {
            match self.tls.read(&mut self.buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => &self.buf[..n],
            }
        };
        let wire = &mut self.wire;
        match self.gzip.as_mut() {
            None => unframe(&mut self.chunk, read, &mut |data| {
                *wire += data.len();
                on_data(data)
            }),
            Some(gzip) => {
                unframe(&mut self.chunk, read, &mut |data| {
                    *wire += data.len();
                    gzip.compressed.extend_from_slice(data)
                });
                gzip.inflate(&mut on_data);
            }
        }
        true
    }
}

impl Gunzip {
    fn inflate(&mut self, on_data: &mut impl FnMut(&[u8])) {
        let header = self.header_left.min(self.compressed.len());
        self.compressed.drain(..header);
        self.header_left -= header;
        // Through a fixed buffer: `decompress_vec` would zero a vector's whole spare
        // capacity on every call.
        let mut taken = 0;
        loop {
            let (was_in, was_out) = (self.inflater.total_in(), self.inflater.total_out());
            self.inflater
                .decompress(
                    &self.compressed[taken..],
                    &mut self.out,
                    flate2::FlushDecompress::Sync,
                )
                .expect("valid deflate data");
            taken += (self.inflater.total_in() - was_in) as usize;
            let produced = (self.inflater.total_out() - was_out) as usize;
            on_data(&self.out[..produced]);
            // Room left over: everything the input held is out.
            if produced < self.out.len() {
                break;
            }
        }
        self.compressed.drain(..taken);
    }
}

/// Take the chunked transfer coding off `input`, handing the data to `on_data`.
fn unframe(chunk: &mut Chunked, mut input: &[u8], on_data: &mut impl FnMut(&[u8])) {
    while !input.is_empty() {
        *chunk = match *chunk {
            Chunked::Size(size) => {
                let b = input[0];
                input = &input[1..];
                match (b as char).to_digit(16) {
                    Some(d) => Chunked::Size(size * 16 + d as usize),
                    None if b == b'\n' => Chunked::Data(size),
                    None => Chunked::SizeLine(size),
                }
            }
            Chunked::SizeLine(size) => {
                let b = input[0];
                input = &input[1..];
                if b == b'\n' {
                    Chunked::Data(size)
                } else {
                    Chunked::SizeLine(size)
                }
            }
            Chunked::Data(0) => Chunked::DataEnd(2),
            Chunked::Data(left) => {
                let take = left.min(input.len());
                on_data(&input[..take]);
                input = &input[take..];
                Chunked::Data(left - take)
            }
            Chunked::DataEnd(left) => {
                input = &input[1..];
                if left == 1 {
                    Chunked::Size(0)
                } else {
                    Chunked::DataEnd(left - 1)
                }
            }
        };
    }
}

/// Finds every `"at":"…"` value in a byte stream fed in arbitrary slices, copying
/// only the few bytes of a marker or value cut at a slice's end.
struct Scanner {
    finder: memchr::memmem::Finder<'static>,
    carry: Vec<u8>,
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            finder: memchr::memmem::Finder::new(MARKER),
            carry: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8], mut found: impl FnMut(&[u8])) {
        let mut from = 0;
        if !self.carry.is_empty() {
            // The carry is a cut marker or value: at most a few dozen bytes finish it.
            let carried = self.carry.len();
            let extra = bytes.len().min(64);
            self.carry.extend_from_slice(&bytes[..extra]);
            match self.finder.find(&self.carry).filter(|&i| i < carried) {
                None => {}
                Some(i) => {
                    let start = i + MARKER.len();
                    match memchr::memchr(b'"', &self.carry[start..]) {
                        Some(len) => {
                            found(&self.carry[start..start + len]);
                            from = (start + len).saturating_sub(carried);
                        }
                        None if extra == bytes.len() => return, // still cut: keep carrying
                        None => {}
                    }
                }
            }
            self.carry.clear();
        }
        loop {
            let Some(i) = self.finder.find(&bytes[from..]) else {
                // A marker may begin in the last few bytes.
                let keep = bytes.len().saturating_sub(MARKER.len() - 1).max(from);
                self.carry.extend_from_slice(&bytes[keep..]);
                return;
            };
            let start = from + i + MARKER.len();
            let Some(len) = memchr::memchr(b'"', &bytes[start..]) else {
                self.carry.extend_from_slice(&bytes[from + i..]);
                return;
            };
            found(&bytes[start..start + len]);
            from = start + len;
        }
    }
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
