//! Event streams read by curl, a client nobody here wrote.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::clients::post;
use crate::support::{block_on, credential, have_tool, steady_deployment, Server};

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
