//! Load run against the real server (HTTPS + WebSockets, event log on disk):
//! - chats per second through flow → queue → agent (created, routed, accepted);
//! - agent available → offer arriving on its socket (contacts waiting);
//! - customer → agent message relay.
//!
//! Client and server share this machine's 2 cores. Run: cargo bench -p switchboard --bench chat_load

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const AGENTS: usize = 40;
const CHATS: usize = 6_000;
/// Customers starting chats at once, each waiting for its answer before the next.
const CREATORS: usize = 160;
/// The sustained phase: chats started a second, for this many seconds.
const SUSTAINED_RATE: u64 = 2_000;
const SUSTAINED_SECS: u64 = 10;
/// Chats the relay is measured on at once (one agent, one slot each).
const RELAY_CHATS: usize = 10;
/// Messages per relay chat, paced under the per-chat limit of 5 a second.
const RELAY_MESSAGES: usize = 100;

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../tests/e2e/load_instance.rs"]
#[allow(dead_code)]
mod load_instance;

// The load client allocates like the server does, so that it takes as little of the
// shared cores as it can.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What the load agents read of a frame: its type and its contact (always a string at
/// the top level). The rest is skipped, not built into a tree.
#[derive(serde::Deserialize)]
struct FrameHead<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    contact: Option<&'a str>,
}

/// The server's own commits (log write and disk flush) over a phase of the run, from
/// its `switchboard_event_log_commit_seconds` histogram scraped before and after: the
/// floor under the phase's latencies, measured in the same minutes.
struct CommitWindow {
    before: Vec<(f64, u64)>,
}

impl CommitWindow {
    async fn start(http: &reqwest::Client, url: &str, token: &str) -> CommitWindow {
        CommitWindow {
            before: commit_buckets(http, url, token).await,
        }
    }

    /// "n commits, p50 ≤ a ms, p99 ≤ b ms, slowest ≤ c ms": each as the bucket bound it
    /// falls under.
    async fn report(self, http: &reqwest::Client, url: &str, token: &str) -> String {
        let after = commit_buckets(http, url, token).await;
        let counts: Vec<(f64, u64)> = after
            .iter()
            .map(|&(le, n)| {
                (
                    le,
                    n - self
                        .before
                        .iter()
                        .find(|(b, _)| *b == le)
                        .map_or(0, |(_, m)| *m),
                )
            })
            .collect();
        let total = counts.last().map_or(0, |(_, n)| *n);
        let under = |q: f64| {
            let rank = (total as f64 * q).ceil() as u64;
            counts
                .iter()
                .find(|(_, n)| *n >= rank)
                .map_or(f64::INFINITY, |(le, _)| le * 1000.0)
        };
        // The slowest commit tells a phase whose tail is one stall of the disk from one
        // whose commits were all quick.
        let largest_bound = counts
            .iter()
            .map(|(le, _)| le * 1000.0)
            .filter(|le| le.is_finite())
            .fold(0.0, f64::max);
        let slowest = match under(1.0) {
            le if le.is_finite() => format!("≤ {le} ms"),
            _ => format!("> {largest_bound} ms"),
        };
        format!(
            "server commits in this phase: n = {total}, p50 ≤ {} ms, p99 ≤ {} ms, slowest {slowest}",
            under(0.5),
            under(0.99)
        )
    }
}

/// The cumulative buckets (upper bound in seconds, count) of the commit histogram.
async fn commit_buckets(http: &reqwest::Client, url: &str, token: &str) -> Vec<(f64, u64)> {
    let text = http
        .get(format!("{url}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("switchboard_event_log_commit_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            Some((
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                },
                count.trim().parse().ok()?,
            ))
        })
        .collect()
}

fn percentiles(mut v: Vec<u64>) -> String {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)] as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms (n = {})",
        at(0.5),
        at(0.9),
        at(0.99),
        v.len()
    )
}

/// CPU time a process has used so far (all threads, user + system), in clock ticks of
/// 10 ms; and the machine's stolen time (the hypervisor's), which is what makes runs
/// here swing.
fn cpu_ticks(pid: u32) -> u64 {
    ticks_of_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap())
}

/// utime + stime from a /proc stat line: the 14th and 15th fields, counted after the
/// parenthesised command name.
fn ticks_of_stat(stat: &str) -> u64 {
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// CPU ticks of the server's threads by thread name (the async workers, the event-log
/// writer, the checkpointer): which part of the server a chat's CPU goes to.
fn ticks_by_thread(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut by_name = std::collections::BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let name = stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()].to_string();
        *by_name.entry(name).or_insert(0) += ticks_of_stat(&stat);
    }
    by_name
}

fn stolen_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    stat.lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(8)
        .unwrap()
        .parse()
        .unwrap()
}

/// The cores the hypervisor took from this machine since `start`: how noisy a phase
/// was, printed beside its figures.
struct Stolen {
    ticks: u64,
    at: Instant,
}

impl Stolen {
    fn start() -> Stolen {
        Stolen {
            ticks: stolen_ticks(),
            at: Instant::now(),
        }
    }

    fn cores(&self) -> f64 {
        (stolen_ticks() - self.ticks) as f64 / 100.0 / self.at.elapsed().as_secs_f64()
    }
}

fn main() {
    let load = load_instance::load_instance(AGENTS, 10);
    let data = &load.data;
    let agent_tokens = load.agents.clone();
    let website = load.website.clone();
    let probe = support::credential(data.path(), "probe", "Agent");
    let watcher = support::credential(data.path(), "watcher", "Analyst");

    let server = support::Server::start(data.path(), &[]);
    let url = server.url.clone();
    let server_pid = server.pid();
    let ca = std::fs::read(data.path().join("tls/ca.pem")).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
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
        let http = reqwest::Client::builder().use_rustls_tls().add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap()).build().unwrap();
        let ws_url = url.replace("https://", "wss://");
        let connect = |path: String, token: String| {
            let tls = tls.clone();
            let ws_url = ws_url.clone();
            async move {
                let mut req = format!("{ws_url}{path}").into_client_request().unwrap();
                req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
                // Small frames arrive: the library's 128 KiB read buffer would be
                // zero-filled on every read.
                let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8 * 1024);
                tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, Some(tokio_tungstenite::Connector::Rustls(tls))).await.unwrap().0
            }
        };

        // Agents: accept every offer, end it, complete it. Offer latency: from sending
        // `complete` (the agent has room again) to the next offer, while chats wait.
        let connected = Arc::new(AtomicU64::new(0));
        let offer_latency = Arc::new(Mutex::new(Vec::new()));
        // An agent's `accept` → its `connected`: one command's round trip under load.
        let accept_round_trips = Arc::new(Mutex::new(Vec::new()));
        let backlog = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut agent_tasks = Vec::new();
        for token in &agent_tokens {
            let mut socket = connect("/v1/agent/ws".into(), token.clone()).await;
            socket.send(Message::Text(json!({"type": "set_status", "status": "Available"}).to_string().into())).await.unwrap();
            let (connected, latency, backlog, stop) = (connected.clone(), offer_latency.clone(), backlog.clone(), stop.clone());
            let round_trips = accept_round_trips.clone();
            agent_tasks.push(tokio::spawn(async move {
                let mut freed_at: Option<Instant> = None;
                let mut accepted_at: std::collections::HashMap<String, Instant> = Default::default();
                let mut own_round_trips = Vec::new();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await else {
                        continue;
                    };
                    let frame: FrameHead = serde_json::from_str(&text).unwrap();
                    match frame.kind {
                        "offer" => {
                            if let Some(t) = freed_at.take() {
                                if backlog.load(Ordering::Relaxed) > 50 {
                                    latency.lock().unwrap().push(t.elapsed().as_micros() as u64);
                                }
                            }
                            let c = frame.contact.unwrap();
                            accepted_at.insert(c.to_string(), Instant::now());
                            socket.send(Message::Text(json!({"type": "accept", "contact": c}).to_string().into())).await.unwrap();
                        }
                        "connected" => {
                            if let Some(t) = accepted_at.remove(frame.contact.unwrap()) {
                                own_round_trips.push(t.elapsed().as_micros() as u64);
                            }
                            connected.fetch_add(1, Ordering::Relaxed);
                            let c = frame.contact.unwrap().to_string();
                            socket.send(Message::Text(json!({"type": "end", "contact": c}).to_string().into())).await.unwrap();
                            socket.send(Message::Text(json!({"type": "complete", "contact": c}).to_string().into())).await.unwrap();
                            freed_at = Some(Instant::now());
                        }
                        _ => {}
                    }
                }
                let _ = socket.close(None).await;
                round_trips.lock().unwrap().extend(own_round_trips);
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;

        // Customers: chats created as fast as the server takes them.
        let started = Instant::now();
        let cpu_before = (cpu_ticks(server_pid), cpu_ticks(std::process::id()));
        let burst_stolen = Stolen::start();
        let threads_before = ticks_by_thread(server_pid);
        let created = Arc::new(AtomicU64::new(0));
        let creators: Vec<_> = (0..CREATORS)
            .map(|_| {
                let (http, url, website, created, backlog, connected) = (http.clone(), url.clone(), website.clone(), created.clone(), backlog.clone(), connected.clone());
                tokio::spawn(async move {
                    while created.fetch_add(1, Ordering::Relaxed) < CHATS as u64 {
                        let r = http.post(format!("{url}/v1/chat")).bearer_auth(&website).json(&json!({"display_name": "load"})).send().await.unwrap();
                        assert!(r.status().is_success(), "{}", r.status());
                        let made = created.load(Ordering::Relaxed);
                        backlog.store(made.saturating_sub(connected.load(Ordering::Relaxed)), Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for c in creators {
            c.await.unwrap();
        }
        while connected.load(Ordering::Relaxed) < CHATS as u64 {
            if started.elapsed() > Duration::from_secs(120) {
                panic!("only {} of {CHATS} chats reached an agent", connected.load(Ordering::Relaxed));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = started.elapsed();
        let (server_cpu, client_cpu) = (
            cpu_ticks(server_pid) - cpu_before.0,
            cpu_ticks(std::process::id()) - cpu_before.1,
        );
        println!("chat load: {CHATS} chats created, routed and accepted by {AGENTS} agents in {:.2} s = {:.0} chats/s", elapsed.as_secs_f64(), CHATS as f64 / elapsed.as_secs_f64());
        let per_chat = |ticks: u64| ticks as f64 * 10_000.0 / CHATS as f64;
        println!(
            "CPU per chat: server {:.0} µs, load client {:.0} µs; cores busy: server {:.2}, client {:.2}; stolen by the hypervisor: {:.2} cores",
            per_chat(server_cpu),
            per_chat(client_cpu),
            server_cpu as f64 / 100.0 / elapsed.as_secs_f64(),
            client_cpu as f64 / 100.0 / elapsed.as_secs_f64(),
            burst_stolen.cores(),
        );
        let by_thread: Vec<String> = ticks_by_thread(server_pid)
            .into_iter()
            .map(|(name, ticks)| (name.clone(), ticks.saturating_sub(*threads_before.get(&name).unwrap_or(&0))))
            .filter(|(_, ticks)| *ticks > 0)
            .map(|(name, ticks)| format!("{name} {:.0} µs", per_chat(ticks)))
            .collect();
        println!("server CPU per chat by thread: {}", by_thread.join(", "));
        let latency = offer_latency.lock().unwrap().clone();
        if !latency.is_empty() {
            println!("agent has room again -> next offer on its socket (chats waiting): {}", percentiles(latency));
        }

        // Sustained: customers start chats on a schedule of SUSTAINED_RATE a second (a
        // burst shows the most the server takes; this shows whether it keeps up). The
        // rate through to agents is counted after the first two seconds; the backlog
        // (started, not yet with an agent) is what the server failed to keep up with.
        let connected_before = connected.load(Ordering::Relaxed);
        let scheduled = Arc::new(AtomicU64::new(0));
        let total = SUSTAINED_RATE * SUSTAINED_SECS;
        let sustained_stolen = Stolen::start();
        let begin = tokio::time::Instant::now() + Duration::from_millis(50);
        let sustained: Vec<_> = (0..CREATORS)
            .map(|_| {
                let (http, url, website, scheduled) = (http.clone(), url.clone(), website.clone(), scheduled.clone());
                tokio::spawn(async move {
                    loop {
                        let k = scheduled.fetch_add(1, Ordering::Relaxed);
                        if k >= total {
                            break;
                        }
                        tokio::time::sleep_until(begin + Duration::from_secs_f64(k as f64 / SUSTAINED_RATE as f64)).await;
                        let r = http.post(format!("{url}/v1/chat")).bearer_auth(&website).json(&json!({"display_name": "steady"})).send().await.unwrap();
                        assert!(r.status().is_success(), "{}", r.status());
                    }
                })
            })
            .collect();
        tokio::time::sleep_until(begin + Duration::from_secs(2)).await;
        let (window_start, connected_at_start) = (Instant::now(), connected.load(Ordering::Relaxed));
        // The window closes before the customers stop starting chats: a window that ran
        // past the schedule's end would count idle time against the server.
        let window_closes_after = Duration::from_millis(SUSTAINED_SECS * 1_000 - 500);
        let window_end = begin + window_closes_after;
        let mut worst_backlog = 0i64;
        while tokio::time::Instant::now() < window_end {
            tokio::time::sleep_until((tokio::time::Instant::now() + Duration::from_millis(100)).min(window_end)).await;
            let started = (begin.elapsed().as_secs_f64() * SUSTAINED_RATE as f64).min(total as f64) as i64;
            worst_backlog = worst_backlog.max(started - (connected.load(Ordering::Relaxed) - connected_before) as i64);
        }
        // The window's length is read with its count: waiting for the customers to
        // finish first would stretch it past what was counted.
        let (through, window) = (connected.load(Ordering::Relaxed) - connected_at_start, window_start.elapsed());
        for c in sustained {
            c.await.unwrap();
        }
        println!(
            "sustained: chats started at {SUSTAINED_RATE}/s for {SUSTAINED_SECS} s; through to agents {:.0} chats/s (seconds 2 to {:.1}); most waiting at once: {worst_backlog}; stolen by the hypervisor: {:.2} cores",
            through as f64 / window.as_secs_f64(),
            window_closes_after.as_secs_f64(),
            sustained_stolen.cores()
        );
        let draining = Instant::now();
        while connected.load(Ordering::Relaxed) < connected_before + total {
            if draining.elapsed() > Duration::from_secs(120) {
                panic!("only {} of the {total} sustained chats reached an agent", connected.load(Ordering::Relaxed) - connected_before);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Latency without the flood: the load agents leave; 300 chats wait; one agent
        // with a single chat slot takes them one by one. Offer latency: from `complete` (room again) to the
        // next offer on its socket.
        stop.store(true, Ordering::Relaxed);
        let offers_stolen = Stolen::start();
        let offers_commits = CommitWindow::start(&http, &url, &watcher).await;
        for t in agent_tasks {
            let _ = t.await;
        }
        println!("agent accept -> connected on its socket, under the burst and sustained load: {}", percentiles(accept_round_trips.lock().unwrap().clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut waiting = Vec::new();
        for _ in 0..300 {
            waiting.push(start_chat(&http, &url, &website).await);
        }
        // A probe agent with one chat slot: each `complete` is answered by exactly one offer.
        let mut agent = connect("/v1/agent/ws".into(), probe.clone()).await;
        agent.send(Message::Text(json!({"type": "set_status", "status": "Available"}).to_string().into())).await.unwrap();
        let mut offers = Vec::new();
        // Each `complete` frees a slot; the next offer fills it.
        let mut freed: std::collections::VecDeque<Instant> = Default::default();
        let mut connected_count = 0;
        let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
        while connected_count < waiting.len() {
            let Ok(frame) = tokio::time::timeout(Duration::from_secs(10), next_frame(&mut agent)).await else {
                panic!("stalled after {} offers; frames seen: {seen:?}", offers.len());
            };
            *seen.entry(frame["type"].as_str().unwrap_or("?").to_string()).or_default() += 1;

            match frame["type"].as_str() {
                Some("offer") => {
                    if let Some(t) = freed.pop_front() {
                        offers.push(t.elapsed().as_micros() as u64);
                    }
                    let c = frame["contact"].as_str().unwrap().to_string();
                    agent.send(Message::Text(json!({"type": "accept", "contact": c}).to_string().into())).await.unwrap();
                }
                Some("connected") => {
                    let c = frame["contact"].as_str().unwrap().to_string();
                    if waiting.iter().any(|(id, _)| *id == c) {
                        connected_count += 1;
                    }
                    agent.send(Message::Text(json!({"type": "end", "contact": c}).to_string().into())).await.unwrap();
                    agent.send(Message::Text(json!({"type": "complete", "contact": c}).to_string().into())).await.unwrap();
                    freed.push_back(Instant::now());
                }
                _ => {}
            }
        }
        println!("agent has room again -> next offer on its socket (chats waiting, no flood): {}; stolen by the hypervisor: {:.2} cores", percentiles(offers), offers_stolen.cores());
        println!("    {}", offers_commits.report(&http, &url, &watcher).await);

        // Relay: the probe goes offline; one agent with ten chat slots takes ten chats
        // and their customers each send RELAY_MESSAGES messages, paced under the per-chat
        // limit. Per message: sent on the customer's socket -> on the agent's socket.
        agent.send(Message::Text(json!({"type": "set_status", "status": "Offline"}).to_string().into())).await.unwrap();
        let relay_stolen = Stolen::start();
        let mut relay_agent = connect("/v1/agent/ws".into(), agent_tokens[0].clone()).await;
        relay_agent.send(Message::Text(json!({"type": "set_status", "status": "Available"}).to_string().into())).await.unwrap();
        let mut relay_chats = Vec::new();
        for _ in 0..RELAY_CHATS {
            relay_chats.push(start_chat(&http, &url, &website).await);
        }
        let mut connected_relays = 0;
        while connected_relays < RELAY_CHATS {
            let Ok(f) = tokio::time::timeout(Duration::from_secs(10), next_frame(&mut relay_agent)).await else {
                panic!("only {connected_relays} of {RELAY_CHATS} relay chats reached the agent within 10 s");
            };
            let is_relay = |c: &Value| relay_chats.iter().any(|(id, _)| c == id.as_str());
            // Leftovers of the flood (chats still waiting, or the agent's own from the
            // load phase, which its desk resumes) are taken and finished so that the
            // relay chats get its slots; actions that do not apply are refused harmlessly.
            let leftovers: Vec<String> = match f["type"].as_str() {
                Some("state") => f["snapshot"]["contacts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| !is_relay(&c["contact"]))
                    .filter_map(|c| c["contact"].as_str().map(str::to_string))
                    .collect(),
                Some("connected") if !is_relay(&f["contact"]) => vec![f["contact"].as_str().unwrap().to_string()],
                _ => Vec::new(),
            };
            for c in leftovers {
                for action in ["accept", "end", "complete"] {
                    relay_agent.send(Message::Text(json!({"type": action, "contact": c}).to_string().into())).await.unwrap();
                }
            }
            match f["type"].as_str() {
                Some("offer") => {
                    let c = f["contact"].as_str().unwrap();
                    relay_agent.send(Message::Text(json!({"type": "accept", "contact": c}).to_string().into())).await.unwrap();
                }
                Some("connected") if is_relay(&f["contact"]) => connected_relays += 1,
                _ => {}
            }
        }
        let relay_commits = CommitWindow::start(&http, &url, &watcher).await;
        let sent_at: Arc<Mutex<std::collections::HashMap<String, Instant>>> = Default::default();
        let mut customers = Vec::new();
        for (i, (contact, token)) in relay_chats.into_iter().enumerate() {
            let mut customer = connect(format!("/v1/chat/ws?contact={contact}"), token).await;
            let sent_at = sent_at.clone();
            customers.push(tokio::spawn(async move {
                // Staggered so that the chats' messages interleave evenly.
                tokio::time::sleep(Duration::from_millis(21 * i as u64)).await;
                for n in 0..RELAY_MESSAGES {
                    tokio::time::sleep(Duration::from_millis(210)).await;
                    let text = format!("c{i}m{n}");
                    sent_at.lock().unwrap().insert(text.clone(), Instant::now());
                    customer.send(Message::Text(json!({"type": "message", "text": text}).to_string().into())).await.unwrap();
                }
                customer
            }));
        }
        let mut samples = Vec::with_capacity(RELAY_CHATS * RELAY_MESSAGES);
        while samples.len() < RELAY_CHATS * RELAY_MESSAGES {
            let Ok(f) = tokio::time::timeout(Duration::from_secs(10), next_frame(&mut relay_agent)).await else {
                panic!("{} of {} relayed messages arrived", samples.len(), RELAY_CHATS * RELAY_MESSAGES);
            };
            if f["type"] == "message" {
                if let Some(t) = f["item"]["text"].as_str().and_then(|text| sent_at.lock().unwrap().remove(text)) {
                    samples.push(t.elapsed().as_micros() as u64);
                }
            }
        }
        for c in customers {
            let _ = c.await;
        }
        println!("message relay, customer socket -> agent socket (durable first), {RELAY_CHATS} chats at once: {}; stolen by the hypervisor: {:.2} cores", percentiles(samples), relay_stolen.cores());
        println!("    {}", relay_commits.report(&http, &url, &watcher).await);
    });
    drop(server);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("agent socket ended: {other:?}"),
        }
    }
}

async fn start_chat(http: &reqwest::Client, url: &str, website: &str) -> (String, String) {
    let r: Value = http
        .post(format!("{url}/v1/chat"))
        .bearer_auth(website)
        .json(&json!({"display_name": "relay"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        r["contact_id"].as_str().unwrap().to_string(),
        r["participant_token"].as_str().unwrap().to_string(),
    )
}
