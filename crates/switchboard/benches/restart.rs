//! Restart to ready after kill -9 with 1,000,000 events in the log and 500 chats in
//! flight: time from spawning `switchboard serve` to `/readyz` answering 200 (which
//! waits for live contacts to be recovered).
//! Target: ≤ 2 s. Run: cargo bench -p switchboard --bench restart

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EVENTS: usize = 1_000_000;

fn main() {
    let bin = env!("CARGO_BIN_EXE_switchboard");
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    // The sample instance, independent of the clock and the network: the menu runs
    // around the clock and the CRM lookup fails fast, so chats wait at the menu.
    let spec = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme"));
    copy_dir(source, spec.path());
    edit(
        &spec.path().join("flows/main-ivr.json"),
        "\"HoursOfOperationId\": \"Store Hours\"",
        "\"HoursOfOperationId\": \"Around The Clock\"",
    );
    edit(
        &spec.path().join("functions.yaml"),
        "https://crm.acme.example/switchboard/customer-lookup",
        "https://127.0.0.1:9/lookup",
    );
    edit(
        &spec.path().join("flows/main-ivr.json"),
        "\"InputTimeLimitSeconds\": \"8\"",
        "\"InputTimeLimitSeconds\": \"600\"",
    );
    let applied = Command::new(bin)
        .args(["apply", spec.path().to_str().unwrap(), "--data", d])
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    // A long history: one million contact events.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (log, writer) = sb_store::EventLog::start(data.path()).unwrap();
    let filled = Instant::now();
    runtime.block_on(async {
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

    let start = |data: &str| {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data", data])
            .env("SWITCHBOARD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut url = String::new();
        for line in BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.strip_prefix("Switchboard is listening on ") {
                url = rest.split_whitespace().next().unwrap().to_string();
            }
            if line.starts_with("Stop with") {
                break;
            }
        }
        std::fs::write(format!("{data}/url"), &url).unwrap();
        let ca = std::fs::read(format!("{data}/tls/ca.pem")).unwrap();
        let client = reqwest::blocking_free_client(&ca);
        let ready = runtime_ready(&client, &url);
        (child, started, ready)
    };
    // Contacts in flight: 500 chats started, then the server is killed.
    let cred = Command::new(bin)
        .args([
            "credential",
            "create",
            "--user",
            "website",
            "--role",
            "Integration",
            "--data",
            d,
        ])
        .output()
        .unwrap();
    let website = String::from_utf8_lossy(&cred.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let (mut child, _, _) = start(d);
    let (rt, http) =
        reqwest::blocking_free_client(&std::fs::read(format!("{d}/tls/ca.pem")).unwrap());
    let url = std::fs::read_to_string(format!("{d}/url")).unwrap();
    rt.block_on(async {
        for _ in 0..500 {
            // (each chat reaches the menu and waits there for input)
            let r = http
                .post(format!("{url}/v1/chat"))
                .bearer_auth(&website)
                .json(&serde_json::json!({"display_name": "x"}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    let cred = Command::new(bin)
        .args([
            "credential",
            "create",
            "--user",
            "frank",
            "--role",
            "Analyst",
            "--data",
            d,
        ])
        .output()
        .unwrap();
    let analyst = String::from_utf8_lossy(&cred.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    for round in 1..=3 {
        let (mut child, started, ready) = start(d);
        let elapsed = ready.duration_since(started);
        let url = std::fs::read_to_string(format!("{d}/url")).unwrap();
        let live: Vec<serde_json::Value> = rt.block_on(async {
            http.get(format!("{url}/v1/contacts/live"))
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
            elapsed.as_secs_f64() * 1000.0,
            live.len()
        );
        // kill -9, then start again on the same data.
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Poll /readyz until 200; the instant it first answered ready.
fn runtime_ready(client: &(tokio::runtime::Runtime, reqwest::Client), url: &str) -> Instant {
    let (rt, http) = client;
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{url}/readyz")).send().await {
                if r.status().is_success() {
                    return Instant::now();
                }
            }
            assert!(Instant::now() < deadline, "not ready within 30 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

mod reqwest {
    pub(crate) use ::reqwest::*;

    pub(crate) fn blocking_free_client(ca: &[u8]) -> (tokio::runtime::Runtime, Client) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = Client::builder()
            .use_rustls_tls()
            .add_root_certificate(Certificate::from_pem(ca).unwrap())
            .build()
            .unwrap();
        (rt, client)
    }
}
