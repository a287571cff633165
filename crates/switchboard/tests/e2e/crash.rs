//! The server killed with SIGKILL again and again while customers start chats and
//! customers and agents send messages: whatever was acknowledged before a kill is
//! there exactly once afterwards, and every chat reaches an end.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::clients::*;
use crate::load::tag;
use crate::load_instance::{client_runtime, load_instance};
use crate::support::*;

const AGENTS: usize = 10;
const SLOTS: usize = 5;
const KILLS: usize = 3;
/// Chats started in each life of the server: over the lives, more than the agents'
/// slots (50), so some wait in line across kills.
const NEW_CHATS: usize = 30;
/// Each customer and each agent sends one message per chat this often (under the
/// 5 a second per chat limit).
const PACE: Duration = Duration::from_millis(250);

/// What the server acknowledged: chats it answered, messages it confirmed durable
/// (a customer's echoed back to it, an agent's answered `ok`).
#[derive(Default)]
struct Ledger {
    chats: BTreeMap<String, String>,
    messages: BTreeMap<String, BTreeSet<String>>,
}

#[test]
fn what_was_acknowledged_survives_repeated_kill_9_under_load_exactly_once() {
    let load = load_instance(AGENTS, SLOTS);
    let (agent_tokens, website, supervisor) = (&load.agents, &load.website, &load.supervisor);
    let data = &load.data;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let runtime = client_runtime();

    for life in 0..KILLS {
        let server = Arc::new(Server::start(data.path(), &[]));
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for token in agent_tokens {
                let (server, token, ledger) = (server.clone(), token.clone(), ledger.clone());
                tasks.push(tokio::spawn(async move {
                    agent(&server, &token, &ledger, life, false).await
                }));
            }
            let open: Vec<(String, String)> = ledger
                .lock()
                .unwrap()
                .chats
                .iter()
                .map(|(c, t)| (c.clone(), t.clone()))
                .collect();
            for (contact, token) in open {
                let (server, ledger) = (server.clone(), ledger.clone());
                tasks.push(tokio::spawn(async move {
                    customer(&server, &contact, &token, &ledger, life).await
                }));
            }
            for _ in 0..NEW_CHATS {
                let (server, website, ledger) = (server.clone(), website.clone(), ledger.clone());
                tasks.push(tokio::spawn(async move {
                    let Some((contact, token)) = start_chat(&server, &website).await else {
                        return;
                    };
                    ledger
                        .lock()
                        .unwrap()
                        .chats
                        .insert(contact.clone(), token.clone());
                    customer(&server, &contact, &token, &ledger, life).await
                }));
            }
            // Killed in the middle of it all, at a different moment each time.
            tokio::time::sleep(Duration::from_millis(900 + 400 * life as u64)).await;
            std::process::Command::new("kill")
                .args(["-KILL", &server.pid().to_string()])
                .status()
                .unwrap();
            for task in tasks {
                tokio::time::timeout(Duration::from_secs(30), task)
                    .await
                    .expect("clients notice the server is gone")
                    .unwrap();
            }
        });
        // The last handle reaps the killed process.
        drop(Arc::into_inner(server).expect("no client holds the server"));
    }

    // The last life: the agents take every chat still open or waiting, end it and
    // complete it.
    let server = Arc::new(Server::start(data.path(), &[]));
    runtime.block_on(async {
        let agents: Vec<_> = agent_tokens
            .iter()
            .map(|token| {
                let (server, token, ledger) = (server.clone(), token.clone(), ledger.clone());
                tokio::spawn(async move { agent(&server, &token, &ledger, KILLS, true).await })
            })
            .collect();
        let live = live_contacts_settled(&server, supervisor, Duration::from_secs(120)).await;
        assert_eq!(live, json!([]), "every chat reaches an end");
        for a in agents {
            a.abort();
        }

        let ledger = std::mem::take(&mut *ledger.lock().unwrap());
        assert!(
            ledger.chats.len() >= NEW_CHATS,
            "only {} chats acknowledged over {KILLS} lives",
            ledger.chats.len()
        );
        let acknowledged_messages: usize = ledger.messages.values().map(BTreeSet::len).sum();
        assert!(
            acknowledged_messages > 300,
            "only {acknowledged_messages} messages acknowledged: not much of a load"
        );
        for contact in ledger.chats.keys() {
            let (status, record) =
                get(&server, &format!("/v1/contacts/{contact}"), supervisor).await;
            assert_eq!(status, 200, "{contact}: {record}");
            assert!(
                record["DisconnectTimestamp"].is_string(),
                "{contact} ended: {record}"
            );
            let (status, transcript) = get(
                &server,
                &format!("/v1/contacts/{contact}/transcript"),
                supervisor,
            )
            .await;
            assert_eq!(status, 200, "{contact}: {transcript}");
            let mut stored: BTreeMap<String, usize> = BTreeMap::new();
            for line in transcript.as_array().unwrap() {
                *stored
                    .entry(line["text"].as_str().unwrap_or_default().to_string())
                    .or_default() += 1;
            }
            for (text, n) in &stored {
                assert!(
                    *n == 1 || !is_ours(text),
                    "{contact}: '{text}' stored {n} times"
                );
            }
            for text in ledger.messages.get(contact).into_iter().flatten() {
                assert_eq!(
                    stored.get(text),
                    Some(&1),
                    "{contact}: acknowledged '{text}' is in the transcript once"
                );
            }
        }
    });
}

/// The test's own messages (the flow's greeting is said once per life of a chat in
/// the flow, and is not what this test counts).
fn is_ours(text: &str) -> bool {
    text.starts_with("customer ") || text.starts_with("agent ")
}

/// Start a chat; `None` unless the server answered it (a kill may come first).
async fn start_chat(server: &Server, website: &str) -> Option<(String, String)> {
    let response = server
        .client()
        .post(format!("{}/v1/chat", server.url))
        .bearer_auth(website)
        .json(&json!({"display_name": "crash"}))
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    let started: Value = response.json().await.ok()?;
    Some((
        started["contact_id"].as_str()?.to_string(),
        started["participant_token"].as_str()?.to_string(),
    ))
}

/// A customer: connects (again) and sends a message every `PACE` until the server is
/// gone; its own messages echoed back are the acknowledged ones.
async fn customer(
    server: &Server,
    contact: &str,
    token: &str,
    ledger: &Mutex<Ledger>,
    life: usize,
) {
    let Ok(mut socket) = connect(server, &format!("/v1/chat/ws?contact={contact}"), token).await
    else {
        return;
    };
    let mut tick = tokio::time::interval(PACE);
    for n in 0.. {
        tokio::select! {
            frame = socket.next() => {
                let Some(Ok(Message::Text(text))) = frame else { return };
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "message" && frame["from"] == "CUSTOMER" {
                    acknowledged(ledger, contact, frame["text"].as_str().unwrap_or_default());
                }
            }
            _ = tick.tick() => {
                let text = format!("customer {} life {life} #{n}", tag(contact));
                let frame = json!({"type": "message", "text": text}).to_string();
                if futures_util::SinkExt::send(&mut socket, Message::Text(frame.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// An agent: accepts every offer; in a life that ends in a kill, sends a message on
/// each of its chats every `PACE`; in the last, ends and completes them. Its answers
/// come in the order of its commands, which is how an `ok` is matched to a message.
async fn agent(server: &Server, token: &str, ledger: &Mutex<Ledger>, life: usize, last: bool) {
    let Ok(mut socket) = connect(server, "/v1/agent/ws", token).await else {
        return;
    };
    // Per command sent, in order: the message it carried, if it was one.
    let mut sent: VecDeque<Option<(String, String)>> = VecDeque::new();
    let mut holding = BTreeSet::new();
    let mut tick = tokio::time::interval(PACE);
    let mut n = 0;
    macro_rules! command {
        ($frame:expr, $message:expr) => {{
            let frame = $frame.to_string();
            if futures_util::SinkExt::send(&mut socket, Message::Text(frame.into()))
                .await
                .is_err()
            {
                return;
            }
            sent.push_back($message);
        }};
    }
    command!(json!({"type": "set_status", "status": "Available"}), None);
    loop {
        tokio::select! {
            frame = socket.next() => {
                let Some(Ok(Message::Text(text))) = frame else { return };
                let frame: Value = serde_json::from_str(&text).unwrap();
                let contact = frame["contact"].as_str().unwrap_or_default().to_string();
                match frame["type"].as_str() {
                    Some("offer") => command!(json!({"type": "accept", "contact": contact}), None),
                    Some("connected") => {
                        holding.insert(contact);
                    }
                    Some("contact_ended") => {
                        holding.remove(&contact);
                    }
                    Some("ok") => {
                        if let Some(Some((contact, text))) = sent.pop_front() {
                            acknowledged(ledger, &contact, &text);
                        }
                    }
                    Some("error") => {
                        sent.pop_front();
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                for contact in std::mem::take(&mut holding) {
                    if last {
                        command!(json!({"type": "end", "contact": contact}), None);
                        command!(json!({"type": "complete", "contact": contact}), None);
                    } else {
                        n += 1;
                        let text = format!("agent {} life {life} #{n}", tag(&contact));
                        command!(
                            json!({"type": "message", "contact": contact, "text": text}),
                            Some((contact.clone(), text))
                        );
                        holding.insert(contact);
                    }
                }
            }
        }
    }
}

fn acknowledged(ledger: &Mutex<Ledger>, contact: &str, text: &str) {
    ledger
        .lock()
        .unwrap()
        .messages
        .entry(contact.to_string())
        .or_default()
        .insert(text.to_string());
}

/// A server killed at any moment of its very first start (while it makes its data
/// directory and its keys: right after its banner, or before) starts next time: no
/// half-written key is left behind to refuse it.
#[test]
fn a_kill_during_the_first_start_never_stops_the_next_one() {
    use std::io::BufRead;
    for attempt in 0..24u64 {
        let data = tempfile::tempdir().unwrap();
        let mut first = command()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if attempt % 2 == 0 {
            // The moment the banner is out, the keys are being made.
            let out = std::io::BufReader::new(first.stdout.take().unwrap());
            for line in out.lines() {
                if line.map_or(true, |l| l.starts_with("Stop with")) {
                    break;
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(attempt * 8));
        }
        let _ = first.kill();
        let _ = first.wait();
        let server = Server::start(data.path(), &[]);
        let (status, body) = server.get("/readyz", None);
        assert_eq!(
            status, 503,
            "killed in attempt {attempt}, the next start serves (nothing deployed yet): {body}"
        );
    }
}
