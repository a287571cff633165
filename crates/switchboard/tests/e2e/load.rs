//! Load with real clients: a thousand chats at once, through the flow and the queue to
//! two hundred agents, each message across exactly once, nothing lost, nothing doubled.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::clients::*;
use crate::load_instance::{client_runtime, load_instance};
use crate::support::*;

const AGENTS: usize = 200;
/// Chat slots per agent: every chat can be with an agent at the same time.
const SLOTS: usize = 5;
const CHATS: usize = AGENTS * SLOTS;

/// What the agents saw, per contact.
#[derive(Default)]
struct AgentsSaw {
    /// `connected` frames.
    connected: BTreeMap<String, usize>,
    /// The customer's message.
    from_customer: BTreeMap<String, usize>,
    /// Commands refused.
    refused: Vec<Value>,
}

/// Every chat with an agent at once, then all ended: each accepted exactly once, each
/// message delivered exactly once each way, a record for every chat with its agent,
/// and nothing left live.
#[test]
fn a_thousand_chats_at_once_with_two_hundred_agents_lose_and_double_nothing() {
    let load = load_instance(AGENTS, SLOTS);
    let (agent_tokens, website, supervisor) = (&load.agents, &load.website, &load.supervisor);
    let server = Server::start(load.data.path(), &[]);
    let runtime = client_runtime();
    runtime.block_on(async {
        let server = Arc::new(server);
        let saw = Arc::new(Mutex::new(AgentsSaw::default()));
        let end_now = Arc::new(AtomicBool::new(false));
        let mut agents = Vec::new();
        for token in agent_tokens {
            let mut socket = connect(&server, "/v1/agent/ws", token).await.unwrap();
            send(&mut socket, json!({"type": "set_status", "status": "Available"})).await;
            ok(&mut socket).await;
            agents.push(tokio::spawn(agent(socket, saw.clone(), end_now.clone())));
        }

        // Every customer at once: start, connect, wait for the agent, answer, wait for
        // the end.
        let customers: Vec<_> = (0..CHATS)
            .map(|_| {
                let (server, website) = (server.clone(), website.clone());
                tokio::spawn(async move { customer(&server, &website).await })
            })
            .collect();

        // All chats with an agent and both messages across, at the same time.
        let all_across = eventually_async(Duration::from_secs(120), || {
            let saw = saw.lock().unwrap();
            saw.from_customer.len() == CHATS
        })
        .await;
        if !all_across {
            let (stuck, connected, refused) = {
                let saw = saw.lock().unwrap();
                let stuck: Vec<String> = saw
                    .connected
                    .keys()
                    .filter(|c| !saw.from_customer.contains_key(*c))
                    .cloned()
                    .collect();
                (stuck, saw.connected.len(), saw.refused.clone())
            };
            let mut transcripts = Vec::new();
            for contact in stuck.iter().take(3) {
                let (_, t) = get(&server, &format!("/v1/contacts/{contact}/transcript"), supervisor).await;
                transcripts.push(format!("{contact}: {t}"));
            }
            panic!(
                "{} of {CHATS} chats connected ({connected}) but not answered; transcripts: {transcripts:?}; refused: {refused:?}",
                stuck.len()
            );
        }
        let (_, live) = get(&server, "/v1/contacts/live", supervisor).await;
        assert_eq!(
            live.as_array().map(Vec::len),
            Some(CHATS),
            "every chat is live with its agent at once"
        );
        end_now.store(true, Ordering::Relaxed);
        let mut started = BTreeSet::new();
        for c in customers {
            let (contact, from_agent) = tokio::time::timeout(Duration::from_secs(120), c)
                .await
                .expect("every customer's chat ends")
                .unwrap();
            assert_eq!(from_agent, 1, "{contact}: the agent's message arrived once");
            assert!(started.insert(contact), "a contact id given twice");
        }
        // The agents' `complete`s may still be on their way: the agents stay until
        // nothing is live.
        let live = live_contacts_settled(&server, supervisor, Duration::from_secs(60)).await;
        assert_eq!(live, json!([]), "nothing stuck");
        for a in agents {
            a.abort();
        }
        let saw = std::mem::take(&mut *saw.lock().unwrap());
        assert!(saw.refused.is_empty(), "refused: {:?}", saw.refused);
        assert_eq!(started.len(), CHATS);
        assert_eq!(
            saw.connected.keys().cloned().collect::<BTreeSet<_>>(),
            started,
            "the chats the agents took are the chats started"
        );
        assert!(
            saw.connected.values().all(|n| *n == 1),
            "a chat connected twice"
        );
        assert!(
            saw.from_customer.values().all(|n| *n == 1),
            "a customer's message delivered twice"
        );

        // A record for every chat, with its agent, its end and its after-contact work.
        for contact in &started {
            let (status, record) =
                get(&server, &format!("/v1/contacts/{contact}"), supervisor).await;
            assert_eq!(status, 200, "{record}");
            assert!(
                record["Agent"]["Username"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("agent")),
                "{record}"
            );
            assert!(record["DisconnectTimestamp"].is_string(), "{record}");
            assert!(
                record["Agent"]["AfterContactWorkEndTimestamp"].is_string(),
                "{record}"
            );
        }
        // Page through the search: every record once, none twice, in initiation order.
        let mut recorded = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page_path = match &next {
                None => "/v1/contacts?channel=CHAT&limit=300".to_string(),
                Some(token) => format!("/v1/contacts?channel=CHAT&limit=300&next_token={token}"),
            };
            let (status, page) = get(&server, &page_path, supervisor).await;
            assert_eq!(status, 200, "{page}");
            for r in page["contacts"].as_array().unwrap() {
                let initiated: jiff::Timestamp =
                    r["InitiationTimestamp"].as_str().unwrap().parse().unwrap();
                recorded.push((initiated, r["ContactId"].as_str().unwrap().to_string()));
            }
            match page["next_token"].as_str() {
                Some(token) => next = Some(token.to_string()),
                None => break,
            }
        }
        // The token carries the first page's window (its defaults were the clock's):
        // a later page may not ask for another.
        let (status, first) = get(&server, "/v1/contacts?channel=CHAT&limit=1", supervisor).await;
        assert_eq!(status, 200, "{first}");
        let token = first["next_token"].as_str().expect("more than one record");
        let (status, refused) = get(
            &server,
            &format!("/v1/contacts?channel=CHAT&limit=1&from=2000-01-01T00:00:00Z&next_token={token}"),
            supervisor,
        )
        .await;
        assert_eq!(status, 400, "{refused}");
        assert!(refused.to_string().contains("continues the search from"), "{refused}");
        // A later page searches the token's window, not the default one: closed at the
        // place the first page ended, it holds nothing more.
        let [from, _to, place_ms, place_id] = token.splitn(4, '.').collect::<Vec<_>>()[..] else {
            panic!("a token of four parts: {token}");
        };
        let closed = format!("{from}.{place_ms}.{place_ms}.{place_id}");
        let (status, rest) = get(
            &server,
            &format!("/v1/contacts?channel=CHAT&limit=1&next_token={closed}"),
            supervisor,
        )
        .await;
        assert_eq!(status, 200, "{rest}");
        assert_eq!(rest["contacts"], json!([]), "{rest}");
        assert!(rest["next_token"].is_null(), "{rest}");
        assert!(recorded.windows(2).all(|w| w[0].0 <= w[1].0), "pages in initiation order");
        let ids: BTreeSet<String> = recorded.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(ids.len(), recorded.len(), "a record on two pages");
        assert_eq!(ids, started, "one record per chat, no other");
    });
}

/// A load agent: accepts every offer, greets the customer, and once told ends and
/// completes every chat it holds.
async fn agent(mut socket: Socket, saw: Arc<Mutex<AgentsSaw>>, end_now: Arc<AtomicBool>) {
    let mut holding = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        let frame = tokio::select! {
            frame = socket.next() => frame,
            _ = tick.tick() => {
                if end_now.load(Ordering::Relaxed) {
                    for contact in holding.drain(..) {
                        send(&mut socket, json!({"type": "end", "contact": contact})).await;
                        send(&mut socket, json!({"type": "complete", "contact": contact})).await;
                    }
                }
                continue;
            }
        };
        let Some(Ok(Message::Text(text))) = frame else {
            return;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        let contact = frame["contact"].as_str().unwrap_or_default().to_string();
        match frame["type"].as_str() {
            Some("offer") => {
                send(&mut socket, json!({"type": "accept", "contact": contact})).await;
            }
            Some("connected") => {
                *saw.lock()
                    .unwrap()
                    .connected
                    .entry(contact.clone())
                    .or_default() += 1;
                send(
                    &mut socket,
                    json!({"type": "message", "contact": contact, "text": format!("to {}", tag(&contact))}),
                )
                .await;
            }
            Some("message") if frame["item"]["text"] == format!("from {}", tag(&contact)) => {
                *saw.lock()
                    .unwrap()
                    .from_customer
                    .entry(contact.clone())
                    .or_default() += 1;
                holding.push(contact);
            }
            Some("error") => saw.lock().unwrap().refused.push(frame),
            _ => {}
        }
    }
}

/// A load customer: its contact id and how many times the agent's message arrived.
async fn customer(server: &Server, website: &str) -> (String, usize) {
    let (status, started) =
        post(server, "/v1/chat", website, json!({"display_name": "load"})).await;
    assert_eq!(status, 200, "{started}");
    let contact = started["contact_id"].as_str().unwrap().to_string();
    let token = started["participant_token"].as_str().unwrap();
    let mut socket = connect(server, &format!("/v1/chat/ws?contact={contact}"), token)
        .await
        .unwrap();
    let greeting = format!("to {}", tag(&contact));
    let mut from_agent = 0;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(240), socket.next())
            .await
            .unwrap_or_else(|_| panic!("{contact}: silent for 240 s"));
        let Some(Ok(Message::Text(text))) = next else {
            panic!("{contact}: socket closed before the chat ended: {next:?}");
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        match frame["type"].as_str() {
            Some("message") if frame["text"] == greeting.as_str() => {
                from_agent += 1;
                if from_agent == 1 {
                    socket
                        .send(Message::Text(
                            json!({"type": "message", "text": format!("from {}", tag(&contact))})
                                .to_string()
                                .into(),
                        ))
                        .await
                        .unwrap();
                }
            }
            Some("ended") => return (contact, from_agent),
            _ => {}
        }
    }
}

/// A contact's id with its digits spelled as letters, to put in a message: a run of
/// digits in an id can pass for a card number, which the server masks.
pub(crate) fn tag(contact: &str) -> String {
    contact
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from(b'g' + d as u8),
            None => c,
        })
        .collect()
}

/// Poll `check` until it holds or `limit` passes, without blocking the runtime.
async fn eventually_async(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}
