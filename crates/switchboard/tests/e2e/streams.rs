//! Event streams read by curl, a client nobody here wrote.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::clients::{available, billing_chat_offered, expect, get, is, ok, post, send};
use crate::support::{block_on, credential, have_tool, repo, steady_deployment, Server};

/// A `curl --compressed` subscription: its event ids and types, as curl prints them.
struct Curl {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Curl {
    fn subscribe(server: &Server, token: &str, after: u64) -> Curl {
        let mut child = Command::new("curl")
            .args([
                "--silent",
                "--no-buffer",
                "--compressed",
                "--include",
                "--cacert",
            ])
            .arg(&server.ca)
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .arg(format!(
                "{}/v1/streams/contact-events/subscribe?after={after}",
                server.url
            ))
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Curl { child, lines }
    }

    /// Lines until one satisfies `done`, or panic after 15 s.
    fn until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("curl printed no awaited line; it printed {seen:#?}"));
            let stop = done(&line);
            seen.push(line);
            if stop {
                return seen;
            }
        }
    }
}

impl Drop for Curl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ids(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect()
}

#[test]
fn gzip_subscribers_from_the_backlog_or_mid_stream_get_every_event_once() {
    if !have_tool("curl") {
        return;
    }
    let data = steady_deployment();
    let website = credential(data.path(), "website", "Integration");
    let server = Server::start(data.path(), &[]);
    let task = |name: &str| {
        let (status, body) = block_on(post(
            &server,
            "/v1/tasks",
            &website,
            json!({ "name": name }),
        ));
        assert_eq!(status, 200, "{body}");
        body["contact_id"].as_str().unwrap().to_string()
    };
    let initiated = |contact: String| {
        move |line: &str| {
            line.starts_with("data: ")
                && line.contains(&contact)
                && line.contains("\"type\":\"INITIATED\"")
        }
    };

    // A backlog first: the first subscriber reads it from the store, compressed for it
    // alone, then follows the shared tail.
    let before = task("Return A-1");
    let first = Curl::subscribe(&server, &website, 0);
    let head = first.until(|l| l.is_empty());
    let head = head.join("\n").to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    let mut seen_first = first.until(initiated(before));

    // A second subscriber joins at the newest position; both then receive live events.
    let newest = *ids(&seen_first).last().unwrap();
    let second = Curl::subscribe(&server, &website, newest);
    let live: Vec<String> = (0..5).map(|i| task(&format!("Return B-{i}"))).collect();
    let last = live.last().unwrap().clone();
    seen_first.extend(first.until(initiated(last.clone())));
    let seen_second = second.until(initiated(last));

    for (name, seen) in [("first", &seen_first), ("second", &seen_second)] {
        let ids = ids(seen);
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{name}: every event once, in order: {ids:?}"
        );
        for contact in &live {
            assert!(
                seen.iter().any(|l| l.contains(contact.as_str())),
                "{name} missed {contact}"
            );
        }
    }
    // The second subscriber got exactly the first one's events after its position.
    let tail_of_first: Vec<u64> = ids(&seen_first)
        .into_iter()
        .filter(|&i| i > newest)
        .collect();
    assert_eq!(
        ids(&seen_second),
        tail_of_first,
        "both read the same stream"
    );
}

/// The types documented for `stream` in docs/metrics.md: the backquoted upper-case
/// words of its row in the streams table, and for `contact-events` the first column of
/// its own table.
fn documented_types(stream: &str) -> Vec<String> {
    let docs = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let words = |line: &str| -> Vec<String> {
        line.split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(str::to_string)
            .collect()
    };
    if stream == "contact-events" {
        return docs
            .lines()
            .filter(|l| l.contains("| Connect |") || l.contains("| Switchboard |"))
            .flat_map(|l| words(l.split('|').nth(1).unwrap()).into_iter().take(1))
            .collect();
    }
    let row = docs
        .lines()
        .find(|l| l.starts_with(&format!("| `{stream}` |")))
        .unwrap_or_else(|| panic!("docs/metrics.md has no row for {stream}"));
    words(row.split('|').nth(2).unwrap())
}

/// Security review item 18: a contact through the sample's flows to an agent and back
/// writes only documented event types on every public stream.
#[test]
fn every_public_stream_carries_only_its_documented_types() {
    let data = steady_deployment();
    let integration = credential(data.path(), "website", "Integration");
    let agent_key = credential(data.path(), "carol", "Agent");
    let admin = credential(data.path(), "erin", "Admin");
    let server = Server::start(data.path(), &[]);
    block_on(async {
        let mut agent = available(&server, &agent_key).await;
        let (contact, mut customer) = billing_chat_offered(&server, &integration, &mut agent).await;
        send(
            &mut agent,
            serde_json::json!({"type": "accept", "contact": contact}),
        )
        .await;
        expect(&mut agent, is("connected")).await;
        send(
            &mut agent,
            serde_json::json!({"type": "set_attributes", "contact": contact, "attributes": {"resolution": "refund"}}),
        )
        .await;
        ok(&mut agent).await;
        send(
            &mut agent,
            serde_json::json!({"type": "end", "contact": contact}),
        )
        .await;
        expect(&mut customer, is("ended")).await;
        send(
            &mut agent,
            serde_json::json!({"type": "complete", "contact": contact}),
        )
        .await;
        // The record after after-contact work is the last thing written.
        for _ in 0..100 {
            let (_, page) = get(&server, "/v1/streams/contact-records?limit=1000", &admin).await;
            if page["events"].as_array().is_some_and(|e| e.len() >= 2) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        for stream in [
            "contact-events",
            "agent-events",
            "contact-records",
            "flow-logs",
        ] {
            let documented = documented_types(stream);
            let (status, page) =
                get(&server, &format!("/v1/streams/{stream}?limit=1000"), &admin).await;
            assert_eq!(status, 200, "{page}");
            let events = page["events"].as_array().unwrap();
            assert!(!events.is_empty(), "{stream} is empty");
            for event in events {
                let kind = event["type"].as_str().unwrap();
                assert!(
                    documented.iter().any(|d| d == kind),
                    "{stream} carries {kind}, which docs/metrics.md does not list ({documented:?})"
                );
            }
        }
    });
}
