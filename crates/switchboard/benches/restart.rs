//! Restart to ready after kill -9 with 1,000,000 events in the log and chats in flight:
//! time from spawning `switchboard serve` to `/readyz` answering 200 (which waits for
//! live contacts to be recovered). Target: ≤ 2 s. Two cases: 500 chats waiting at the
//! menu; and 500 chats each transferred once by its agent (waiting in line again, the
//! contact before each in after-contact work), whose recovery also reads the chain of
//! contacts behind every transferred chat.
//!
//! Run: cargo bench -p switchboard --bench restart

use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../tests/e2e/load_instance.rs"]
#[allow(dead_code)]
mod load_instance;

use support::{block_on, Server};

const EVENTS: usize = 1_000_000;
const CHATS: usize = 500;
/// Agents who take and transfer the chats of the second case, `SLOTS` at a time each.
const AGENTS: usize = 50;
const SLOTS: usize = 10;

/// Start the server and wait for `/readyz`; the time from spawn to ready.
fn start_timed(data: &std::path::Path) -> (Server, Duration) {
    let started = Instant::now();
    let server = Server::start(data, &[]);
    let client = server.client();
    let url = format!("{}/readyz", server.url);
    block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(Instant::now() < deadline, "not ready within 30 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    (server, started.elapsed())
}

/// A long history: one million contact events, through the real event-log writer.
fn fill_history(data: &std::path::Path) {
    let (log, writer) = sb_store::EventLog::start(data).unwrap();
    let filled = Instant::now();
    block_on(async {
        for chunk in 0..EVENTS / 5_000 {
            let batch = (0..5_000)
                .map(|i| sb_store::NewEvent {
                    at_ms: (chunk * 5_000 + i) as i64,
                    stream: "contact".into(),
                    key: format!("history-{}", (chunk * 5_000 + i) / 6),
                    kind: "QUEUED".into(),
                    payload: r#"{"ContactId":"history","Queue":{"Name":"Billing"}}"#.into(),
                })
                .collect();
            log.append(batch).await.unwrap();
        }
    });
    drop(log);
    writer.join();
    println!(
        "filled {EVENTS} events in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
}

/// Kill the server, then start it three times (killing it again each time), printing
/// the time to ready and how many contacts in each stage came back.
fn time_restarts(case: &str, mut server: Server, data: &std::path::Path, reader: &str) {
    server
        .stop_with("KILL", Duration::from_secs(5))
        .expect("killed");
    for round in 1..=3 {
        let (mut server, ready) = start_timed(data);
        let client = server.client();
        let live: Vec<Value> = block_on(async {
            client
                .get(format!("{}/v1/contacts/live", server.url))
                .bearer_auth(reader)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        let mut stages = std::collections::BTreeMap::<String, usize>::new();
        for contact in &live {
            *stages
                .entry(contact["stage"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
        println!(
            "{case}, start {round}: ready {:.0} ms after spawn; live contacts recovered: {stages:?}",
            ready.as_secs_f64() * 1000.0,
        );
        server
            .stop_with("KILL", Duration::from_secs(5))
            .expect("killed");
    }
}

/// Chats waiting at the menu (see `steady_acme`) when the server is killed.
fn chats_at_the_menu() {
    let data = support::steady_deployment();
    let website = support::credential(data.path(), "website", "Integration");
    let analyst = support::credential(data.path(), "frank", "Analyst");
    fill_history(data.path());
    let (server, _) = start_timed(data.path());
    let client = server.client();
    let url = server.url.clone();
    block_on(async {
        for _ in 0..CHATS {
            let r = client
                .post(format!("{url}/v1/chat"))
                .bearer_auth(&website)
                .json(&json!({"display_name": "x"}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    time_restarts("500 chats at the menu", server, data.path(), &analyst);
}

/// Chats that agents took and transferred back to the queue (over the REST desk), each
/// waiting in line again while the agent wraps up the contact before it.
fn transferred_chats() {
    let load = load_instance::load_instance(AGENTS, SLOTS);
    fill_history(load.data.path());
    let (server, _) = start_timed(load.data.path());
    let client = server.client();
    let url = server.url.clone();
    block_on(async {
        let call = |token: &str, action: Option<Value>| {
            let request = match &action {
                Some(body) => client.post(format!("{url}/v1/agent/actions")).json(body),
                None => client.get(format!("{url}/v1/agent")),
            };
            let request = request.bearer_auth(token.to_string());
            async move {
                let response = request.send().await.unwrap();
                assert!(
                    response.status().is_success(),
                    "{action:?}: {}",
                    response.status()
                );
                response.json::<Value>().await.unwrap()
            }
        };
        for _ in 0..CHATS {
            let r = client
                .post(format!("{url}/v1/chat"))
                .bearer_auth(&load.website)
                .json(&json!({"display_name": "x"}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
        let mut transferred = 0;
        for agent in &load.agents {
            call(
                agent,
                Some(json!({"type": "set_status", "status": "Available"})),
            )
            .await;
            // Offers are made as the agent's status is taken: they are on its desk.
            let mut offered = Vec::new();
            for _ in 0..1_000 {
                let desk = call(agent, None).await;
                offered = desk["contacts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["stage"] == "offered")
                    .map(|c| c["contact"].as_str().unwrap().to_string())
                    .collect();
                if offered.len() == SLOTS {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(offered.len(), SLOTS, "offers on {agent}'s desk");
            for contact in &offered {
                call(agent, Some(json!({"type": "accept", "contact": contact}))).await;
            }
            // Offline first, so that the transferred chats wait for the next agent.
            call(
                agent,
                Some(json!({"type": "set_status", "status": "Offline"})),
            )
            .await;
            for contact in &offered {
                call(
                    agent,
                    Some(json!({"type": "transfer", "contact": contact, "queue": "Load"})),
                )
                .await;
                transferred += 1;
            }
        }
        assert_eq!(transferred, CHATS);
    });
    time_restarts(
        "500 chats transferred once",
        server,
        load.data.path(),
        &load.supervisor,
    );
}

fn main() {
    chats_at_the_menu();
    transferred_chats();
}
