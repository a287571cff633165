//! Restart to ready after kill -9 with 1,000,000 events in the log and 500 chats in
//! flight: time from spawning `switchboard serve` to `/readyz` answering 200 (which
//! waits for live contacts to be recovered). Target: ≤ 2 s.
//!
//! Run: cargo bench -p switchboard --bench restart

use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

use support::{block_on, Server};

const EVENTS: usize = 1_000_000;
const CHATS: usize = 500;

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

fn main() {
    // Chats wait at the menu: see `steady_acme`.
    let data = support::steady_deployment();
    let website = support::credential(data.path(), "website", "Integration");
    let analyst = support::credential(data.path(), "frank", "Analyst");

    // A long history: one million contact events, through the real event-log writer.
    let (log, writer) = sb_store::EventLog::start(data.path()).unwrap();
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

    // Contacts in flight: chats waiting at the menu when the server is killed.
    let (mut server, _) = start_timed(data.path());
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
    server
        .stop_with("KILL", Duration::from_secs(5))
        .expect("killed");

    for round in 1..=3 {
        let (mut server, ready) = start_timed(data.path());
        let client = server.client();
        let live: Vec<Value> = block_on(async {
            client
                .get(format!("{}/v1/contacts/live", server.url))
                .bearer_auth(&analyst)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        println!(
            "start {round}: ready {:.0} ms after spawn, {} live contacts recovered",
            ready.as_secs_f64() * 1000.0,
            live.len()
        );
        server
            .stop_with("KILL", Duration::from_secs(5))
            .expect("killed");
    }
}
