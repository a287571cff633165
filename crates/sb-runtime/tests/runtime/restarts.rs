//! Restarts between random steps of a busy hour, bad input among them: after each,
//! every contact is where it was — in the same line and in the same order, with the
//! same agent, with the same conversation — and the agents who reconnect carry on.
//! Every bad frame is refused and the runtime keeps serving.

use std::collections::BTreeMap;
use std::time::Duration;

use sb_runtime::instance::{AgentAction, CustomerEvent, CustomerFrame, NewChat};
use tokio::sync::mpsc;

use crate::harness::*;

const AGENTS: [&str; 3] = ["carol", "alice", "bob"];

/// A small generator of its own (xorshift64*), so a seed replays the same hour.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// Where a contact is, as a restart must give it back: an offer is not kept (the
/// contact goes back in line), so an offered contact counts as waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    stage: String,
    queue: Option<String>,
    agent: Option<String>,
}

struct Hour {
    instance: Instance,
    rng: Rng,
    agents: BTreeMap<&'static str, Agent>,
    /// Every chat started: (first contact id, participant token).
    chats: Vec<(String, String)>,
    /// The customer session each chat is on now, by its first contact id.
    sessions: BTreeMap<String, (u64, mpsc::Receiver<CustomerFrame>)>,
    said: usize,
}

impl Hour {
    async fn places(&self) -> (BTreeMap<String, Place>, BTreeMap<String, Vec<String>>) {
        let mut places = BTreeMap::new();
        let mut lines: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
        for c in self.instance.rt().list_contacts().await.unwrap() {
            let waiting = c.stage == "queued" || c.stage == "offered";
            if let (true, Some(p), Some(q)) = (c.stage == "queued", &c.position, &c.queue) {
                lines
                    .entry(q.clone())
                    .or_default()
                    .push((p.position, c.contact_id.clone()));
            }
            places.insert(
                c.contact_id,
                Place {
                    stage: if waiting { "queued".into() } else { c.stage },
                    queue: c.queue,
                    agent: if waiting { None } else { c.agent },
                },
            );
        }
        let lines = lines
            .into_iter()
            .map(|(q, mut line)| {
                line.sort();
                (q, line.into_iter().map(|(_, id)| id).collect())
            })
            .collect();
        (places, lines)
    }

    /// Each live chat's conversation as a customer reconnecting from the start gets it,
    /// by its first contact id. The chat's customer session moves to this connection.
    async fn conversations(&mut self) -> BTreeMap<String, Vec<String>> {
        let mut attached = Vec::new();
        for (first, token) in &self.chats {
            let (tx, frames) = mpsc::channel(4096);
            // A chat that is over has nothing to replay.
            if let Ok(session) = self
                .instance
                .rt()
                .attach_customer(first.clone(), token.clone(), 0, tx)
                .await
            {
                attached.push((first.clone(), session, frames));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut out = BTreeMap::new();
        for (first, session, mut frames) in attached {
            let mut lines = Vec::new();
            while let Ok(frame) = frames.try_recv() {
                if let CustomerFrame::Message(m) = frame {
                    lines.push(format!("{} {} {}", m.seq, m.from.as_str(), m.text));
                }
            }
            out.insert(first.clone(), lines);
            self.sessions.insert(first, (session, frames));
        }
        out
    }

    async fn restart_and_compare(&mut self) {
        let (places, lines) = self.places().await;
        let conversations = self.conversations().await;
        self.instance.restart().await;
        self.sessions.clear();
        let (places_after, lines_after) = self.places().await;
        assert_eq!(places_after, places, "contacts moved across the restart");
        for (queue, before) in &lines {
            let after = &lines_after[queue];
            let kept: Vec<&String> = after.iter().filter(|id| before.contains(id)).collect();
            assert_eq!(
                kept,
                before.iter().collect::<Vec<_>>(),
                "the line of {queue} changed order"
            );
        }
        assert_eq!(
            self.conversations().await,
            conversations,
            "a conversation changed across the restart"
        );
        self.agents.clear();
        for user in AGENTS {
            self.agents.insert(user, self.instance.agent(user).await);
        }
    }

    async fn contacts_in(&self, stage: &str) -> Vec<(String, String)> {
        self.instance
            .rt()
            .list_contacts()
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.stage == stage)
            .filter_map(|c| Some((c.contact_id, c.agent?)))
            .collect()
    }

    async fn agent_does(&self, user: &str, action: AgentAction) {
        let agent = &self.agents[user];
        if let Err(e) = self.instance.act(agent, action).await {
            panic!("{user}: {e}");
        }
    }

    /// Something an agent or a customer must not be able to do: it is refused, the
    /// runtime goes on, and (checked at the next restart) nothing moved.
    async fn bad_input(&mut self) {
        let live = self.instance.rt().list_contacts().await.unwrap();
        let any = self
            .rng
            .pick(&live)
            .map_or_else(|| "no-such-contact".to_string(), |c| c.contact_id.clone());
        let user = AGENTS[self.rng.below(AGENTS.len())];
        let huge = "x".repeat(40 * 1024);
        let action = match self.rng.below(10) {
            0 => AgentAction::Accept {
                contact: "no-such-contact".into(),
            },
            // Only after-contact work can be completed.
            1 => AgentAction::Complete {
                contact: live
                    .iter()
                    .find(|c| c.stage != "after_contact_work")
                    .map_or_else(|| any.clone(), |c| c.contact_id.clone()),
            },
            2 => AgentAction::Read {
                contact: any.clone(),
                seq: u64::MAX,
            },
            3 => AgentAction::Transfer {
                contact: any.clone(),
                queue: Some("No Such Queue".into()),
                agent: None,
                quick_connect: None,
            },
            4 => AgentAction::Transfer {
                contact: any.clone(),
                queue: None,
                agent: Some("mallory".into()),
                quick_connect: None,
            },
            5 => AgentAction::Transfer {
                contact: any.clone(),
                queue: Some("Returns".into()),
                agent: Some("alice".into()),
                quick_connect: None,
            },
            6 => AgentAction::SetAttributes {
                contact: any.clone(),
                attributes: [("notes".to_string(), huge.clone())].into(),
            },
            7 => status("Lunchtime"),
            8 => AgentAction::Message {
                contact: any.clone(),
                text: huge.clone(),
            },
            _ => AgentAction::CallbackFailed {
                contact: any.clone(),
            },
        };
        let refused = self.instance.act(&self.agents[user], action.clone()).await;
        assert!(refused.is_err(), "{user} was allowed {action:?}");
        let firsts: Vec<String> = self.sessions.keys().cloned().collect();
        if let Some(first) = self.rng.pick(&firsts).cloned() {
            let session = self.sessions[&first].0;
            for event in [
                CustomerEvent::Read { seq: 0 },
                CustomerEvent::Read { seq: u64::MAX },
                CustomerEvent::Message { text: huge.clone() },
            ] {
                let refused = self
                    .instance
                    .rt()
                    .customer(first.clone(), session, event)
                    .await;
                assert!(refused.is_err());
            }
        }
    }

    async fn step(&mut self) {
        match self.rng.below(12) {
            0 | 1 => {
                let chat = NewChat {
                    display_name: format!("customer {}", self.chats.len()),
                    ..Default::default()
                };
                let (customer, _) = self.instance.chat_at_menu(chat).await;
                // Orders, returns, billing, or nothing yet (waiting at the menu).
                if let Some(choice) = ["1", "2", "3", ""][self.rng.below(4)].chars().next() {
                    self.instance
                        .say(&customer, &choice.to_string())
                        .await
                        .unwrap();
                }
                let Customer {
                    contact,
                    token,
                    session,
                    frames,
                } = customer;
                self.sessions.insert(contact.clone(), (session, frames));
                self.chats.push((contact, token));
            }
            2 => {
                let user = AGENTS[self.rng.below(AGENTS.len())];
                let choice = ["Available", "Available", "Break"][self.rng.below(3)];
                self.agent_does(user, status(choice)).await;
            }
            3 | 4 => {
                let offered = self.contacts_in("offered").await;
                if let Some((contact, agent)) = self.rng.pick(&offered).cloned() {
                    self.agent_does(&agent, AgentAction::Accept { contact })
                        .await;
                }
            }
            5 => {
                // A customer says something, wherever the chat is (a flood or an ended
                // chat is refused, fine).
                let firsts: Vec<String> = self.sessions.keys().cloned().collect();
                if let Some(first) = self.rng.pick(&firsts).cloned() {
                    let session = self.sessions[&first].0;
                    self.said += 1;
                    let text = format!("said {}", self.said);
                    let _ = self
                        .instance
                        .rt()
                        .customer(first, session, CustomerEvent::Message { text })
                        .await;
                }
            }
            6 => {
                let connected = self.contacts_in("connected").await;
                if let Some((contact, agent)) = self.rng.pick(&connected).cloned() {
                    self.said += 1;
                    let text = format!("agent said {}", self.said);
                    self.agent_does(&agent, AgentAction::Message { contact, text })
                        .await;
                }
            }
            7 => {
                let connected = self.contacts_in("connected").await;
                if let Some((contact, agent)) = self.rng.pick(&connected).cloned() {
                    let action = if self.rng.below(3) == 0 {
                        AgentAction::Transfer {
                            contact,
                            queue: Some("Returns".into()),
                            agent: None,
                            quick_connect: None,
                        }
                    } else {
                        AgentAction::End { contact }
                    };
                    self.agent_does(&agent, action).await;
                }
            }
            8 => {
                let wrapping_up = self.contacts_in("after_contact_work").await;
                if let Some((contact, agent)) = self.rng.pick(&wrapping_up).cloned() {
                    self.agent_does(&agent, AgentAction::Complete { contact })
                        .await;
                }
            }
            9 => self.restart_and_compare().await,
            _ => self.bad_input().await,
        }
    }
}

#[tokio::test]
async fn restarts_between_random_steps_give_every_contact_back_where_it_was() {
    for seed in [0x5eed_0001_u64, 0x5eed_0002] {
        // The runtime's held clock numbers contacts in order, so a seed replays the same
        // hour, contact for contact.
        eprintln!("seed {seed:#x}");
        let instance = Instance::start(steady_acme(120)).await;
        let mut agents = BTreeMap::new();
        for user in AGENTS {
            let agent = instance.agent(user).await;
            instance.act(&agent, status("Available")).await.unwrap();
            agents.insert(user, agent);
        }
        let mut hour = Hour {
            instance,
            rng: Rng(seed),
            agents,
            chats: Vec::new(),
            sessions: BTreeMap::new(),
            said: 0,
        };
        for _ in 0..80 {
            hour.step().await;
        }
        hour.restart_and_compare().await;
    }
}
