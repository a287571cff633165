//! A deterministic simulation of the owner, in the spirit of TigerBeetle's VOPR: the
//! real owner, driven on one thread by a seeded workload of chats, customers coming
//! and going, agents taking and finishing contacts, function answers and time passing;
//! an in-memory event log whose every commit may instead be a crash; restarts from
//! what the log holds at random points. After every step the invariants are checked:
//!
//! - an acknowledged chat is never lost: it is live, or its end is in the log;
//! - each contact's INITIATED event is in the log once, its DISCONNECTED at most once,
//!   however many restarts it lived through;
//! - every live contact is in exactly one place (in flow, in one queue, or with one
//!   agent), and every contact routing gives an agent is live with that agent;
//! - nothing is delivered before its commit: a frame reaches a socket only in a turn
//!   that committed, only while the owner holds that socket, and every line a customer
//!   saw is the line the durable transcript has under that number after a restart;
//! - no socket is forgotten: after each turn the sockets held are exactly those the
//!   owner's contacts and agents refer to.
//!
//! `SIM_SEEDS=n` runs n seeds (default 1,000, in four shards that run side by side);
//! `SIM_SEED=s` replays one, printing each step. A failure names its seed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use sb_flow::interpret::FunctionResult;
use sb_store::{
    NewEvent, StoreError, StoredDataKey, AGENT_STATE_STREAM, DATA_KEY_STREAM, LIVE_STREAM,
    RECORD_STREAM,
};

use super::contacts::Stage;
use super::output::{Effect, EndpointId, Output};
use super::recovery_read::{read_recovered, RecoverySource};
use super::tests::{sample, vault, START_MS};
use super::{AgentAction, AgentFrame, ChatStarted, Clock, CustomerEvent, CustomerFrame};
use super::{NewChat, Owner};
use crate::live::DeployedConfig;
use crate::vault::Vault;

const AGENTS: [&str; 3] = ["alice", "bob", "carol"];
const STEPS: usize = 150;

/// splitmix64: small, seedable, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// The durable log: what committed turns appended, in order, read back the way the
/// store's projections keep it.
#[derive(Default)]
struct MemoryLog {
    events: Vec<NewEvent>,
}

impl MemoryLog {
    fn newest(&self, stream: &str) -> BTreeMap<&str, &str> {
        let mut newest = BTreeMap::new();
        for e in self.events.iter().filter(|e| e.stream == stream) {
            newest.insert(e.key.as_str(), e.payload.as_str());
        }
        newest
    }
}

impl RecoverySource for MemoryLog {
    fn live_contacts(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .newest(LIVE_STREAM)
            .into_iter()
            .filter(|(_, state)| *state != "null")
            .map(|(id, state)| (id.to_string(), state.to_string()))
            .collect())
    }

    fn agent_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .newest(AGENT_STATE_STREAM)
            .into_iter()
            .map(|(agent, state)| (agent.to_string(), state.to_string()))
            .collect())
    }

    fn data_key(&self, owner: &str) -> Result<Option<StoredDataKey>, StoreError> {
        // The first is kept, as the store does.
        Ok(self
            .events
            .iter()
            .find(|e| e.stream == DATA_KEY_STREAM && e.key == owner)
            .map(|e| serde_json::from_str(&e.payload).expect("a data key event parses")))
    }

    fn chat_lines(&self, contact: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .events
            .iter()
            .filter(|e| e.stream == sb_store::CHAT_STREAM && e.key == contact)
            .map(|e| e.payload.clone())
            .collect())
    }

    fn contact_record(&self, contact: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .newest(RECORD_STREAM)
            .get(contact)
            .map(|r| r.to_string()))
    }

    fn config_version(&self, _version: u64) -> Option<DeployedConfig> {
        // One version is deployed in the whole run: recovery never asks for another.
        None
    }
}

/// A customer whose chat start was acknowledged.
struct Customer {
    contact: String,
    token: String,
    /// The socket, while one is open.
    session: Option<u64>,
    /// Every line it was sent, by number.
    seen: BTreeMap<u64, String>,
    ended: bool,
}

struct World {
    rng: Rng,
    trace: bool,
    config: Arc<DeployedConfig>,
    vault: Arc<Vault>,
    clock: Clock,
    now: i64,
    owner: Owner,
    log: MemoryLog,
    customers: Vec<Customer>,
    /// Answered in this turn, acknowledged only if it commits.
    starting: Vec<ChatStarted>,
    /// This turn's outputs so far.
    turn: Vec<Output>,
    /// Sockets the owner holds, as the dispatcher would: opened by a successful attach,
    /// gone at the owner's close.
    open: HashSet<EndpointId>,
    /// Opened in this turn (the dispatcher learns of them with the turn).
    opening: Vec<EndpointId>,
    agent_sockets: HashMap<&'static str, u64>,
    /// Offers and connected contacts each agent's socket was told of.
    offers: Vec<(&'static str, String)>,
    connected: Vec<(&'static str, String)>,
    after_work: Vec<(&'static str, String)>,
    /// Function calls waiting for an answer: (contact, epoch).
    calls: Vec<(String, u64)>,
    restarts: usize,
    /// Chats that reached an agent (the workload must get there).
    reached_agents: usize,
}

impl World {
    fn new(seed: u64, trace: bool) -> World {
        let config = sample();
        let vault = vault();
        let clock = Clock::manual(START_MS);
        let mut owner = Owner::new(vault.clone(), clock.clone(), START_MS);
        owner.take_config(config.clone());
        World {
            rng: Rng(seed),
            trace,
            config,
            vault,
            clock,
            now: START_MS,
            owner,
            log: MemoryLog::default(),
            customers: Vec::new(),
            starting: Vec::new(),
            turn: Vec::new(),
            open: HashSet::new(),
            opening: Vec::new(),
            agent_sockets: HashMap::new(),
            offers: Vec::new(),
            connected: Vec::new(),
            after_work: Vec::new(),
            calls: Vec::new(),
            restarts: 0,
            reached_agents: 0,
        }
    }

    fn collect(&mut self) {
        while let Some(output) = self.owner.poll_output() {
            self.turn.push(output);
        }
    }

    /// One thing a participant does, or time passing.
    fn act(&mut self) {
        self.owner.set_now(self.now);
        match self.rng.below(12) {
            0 | 1 => {
                let chat = NewChat {
                    display_name: format!("customer {}", self.customers.len()),
                    ..Default::default()
                };
                if let Ok(started) = self.owner.start_chat(chat) {
                    self.note(format!("start {}", started.contact_id));
                    self.starting.push(started);
                }
            }
            2 => {
                let Some(i) = self.some_customer(|c| c.session.is_none() && !c.ended) else {
                    return;
                };
                let (contact, token) = (
                    self.customers[i].contact.clone(),
                    self.customers[i].token.clone(),
                );
                if let Ok(session) = self.owner.attach_customer(&contact, &token, 0) {
                    self.note(format!("attach {contact} as {session}"));
                    self.customers[i].session = Some(session);
                    self.opening.push(EndpointId(session));
                }
            }
            3 | 4 => {
                let Some(i) = self.some_customer(|c| c.session.is_some()) else {
                    return;
                };
                let text = ["1", "2", "3", "3", "hello"][self.rng.below(5)].to_string();
                let c = &self.customers[i];
                let (contact, session) = (c.contact.clone(), c.session.expect("checked"));
                self.note(format!("{contact} says {text}"));
                let _ =
                    self.owner
                        .customer_event(&contact, session, CustomerEvent::Message { text });
            }
            5 => {
                let Some(i) = self.some_customer(|c| c.session.is_some()) else {
                    return;
                };
                let session = self.customers[i].session.take().expect("checked");
                let contact = self.customers[i].contact.clone();
                self.note(format!("{contact} closes its socket"));
                self.owner.detach_customer(&contact, session);
            }
            6 => {
                let agent = AGENTS[self.rng.below(AGENTS.len())];
                if self.agent_sockets.contains_key(agent) && !self.rng.one_in(4) {
                    return;
                }
                if let Ok(session) = self.owner.attach_agent(agent, true) {
                    self.note(format!("{agent} connects as {session}"));
                    self.agent_sockets.insert(agent, session);
                    self.opening.push(EndpointId(session));
                    let available = AgentAction::SetStatus {
                        status: "Available".into(),
                    };
                    let _ = self.owner.agent_action(agent, available);
                }
            }
            7 => {
                let Some((agent, contact)) = self.rng.pick(&self.offers).cloned() else {
                    return;
                };
                self.note(format!("{agent} accepts {contact}"));
                let _ = self
                    .owner
                    .agent_action(agent, AgentAction::Accept { contact });
            }
            8 => {
                let Some((agent, contact)) = self.rng.pick(&self.connected).cloned() else {
                    return;
                };
                self.note(format!("{agent} ends {contact}"));
                let _ = self.owner.agent_action(agent, AgentAction::End { contact });
            }
            9 => {
                let Some((agent, contact)) = self.rng.pick(&self.after_work).cloned() else {
                    return;
                };
                self.note(format!("{agent} completes {contact}"));
                let _ = self
                    .owner
                    .agent_action(agent, AgentAction::Complete { contact });
            }
            10 => {
                if self.calls.is_empty() {
                    return;
                }
                let (contact, epoch) = self.calls.swap_remove(self.rng.below(self.calls.len()));
                self.note(format!("function answers {contact}"));
                let result = FunctionResult::Failed {
                    reason: "simulated".into(),
                };
                self.owner.function_done(&contact, epoch, result);
            }
            _ => {
                // Time passes: up to a minute, now and then up to a quarter of an hour.
                let ms = if self.rng.one_in(10) {
                    self.rng.below(900_000)
                } else {
                    self.rng.below(60_000)
                };
                self.now += ms as i64;
                self.clock.advance(ms as i64);
                self.note(format!("{ms} ms pass"));
                self.owner.set_now(self.now);
                self.owner.fire_due();
            }
        }
        self.collect();
    }

    fn some_customer(&mut self, want: impl Fn(&Customer) -> bool) -> Option<usize> {
        let fitting: Vec<usize> = (0..self.customers.len())
            .filter(|&i| want(&self.customers[i]))
            .collect();
        self.rng.pick(&fitting).copied()
    }

    fn note(&self, what: String) {
        if self.trace {
            eprintln!("  {what}");
        }
    }

    /// The turn ends: its events are appended and its effects performed, or the
    /// process dies before the commit and restarts from the log.
    fn end_turn(&mut self) {
        self.owner.end_turn();
        self.collect();
        if self.rng.one_in(12) {
            self.note("crash before the commit".into());
            self.turn.clear();
            self.starting.clear();
            self.opening.clear();
            self.restart();
            return;
        }
        self.commit();
        if self.rng.one_in(40) {
            self.note("crash after the commit".into());
            self.restart();
        }
    }

    fn commit(&mut self) {
        self.open.extend(self.opening.drain(..));
        for started in self.starting.drain(..) {
            self.customers.push(Customer {
                contact: started.contact_id,
                token: started.participant_token,
                session: None,
                seen: BTreeMap::new(),
                ended: false,
            });
        }
        for output in std::mem::take(&mut self.turn) {
            match output {
                Output::Append(event) => self.log.events.push(event),
                Output::Effect(effect) => self.perform(effect),
            }
        }
        // Once a turn is out, the sockets held are exactly those the owner refers to:
        // one it forgot without closing would stay open forever.
        let referred: HashSet<EndpointId> = self
            .owner
            .contacts
            .values()
            .filter_map(|c| c.customer)
            .chain(self.owner.agents.values().filter_map(|s| s.endpoint))
            .collect();
        assert_eq!(
            self.open, referred,
            "sockets held and sockets the owner refers to"
        );
    }

    fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::ToCustomer(endpoint, frame) => {
                assert!(
                    self.open.contains(&endpoint),
                    "a frame for {endpoint:?}, which the owner does not hold: {frame:?}"
                );
                let Some(c) = self
                    .customers
                    .iter_mut()
                    .find(|c| c.session == Some(endpoint.0))
                else {
                    return;
                };
                match frame {
                    CustomerFrame::Message(item) => {
                        if let Some(before) = c.seen.insert(item.seq, item.text.clone()) {
                            assert_eq!(
                                before, item.text,
                                "line {} of {} changed",
                                item.seq, c.contact
                            );
                        }
                    }
                    CustomerFrame::Ended => c.ended = true,
                    _ => {}
                }
            }
            Effect::ToAgent {
                endpoint, frame, ..
            } => {
                assert!(
                    self.open.contains(&endpoint),
                    "a frame for {endpoint:?}, which the owner does not hold: {frame:?}"
                );
                let Some(agent) = self
                    .agent_sockets
                    .iter()
                    .find(|(_, s)| **s == endpoint.0)
                    .map(|(a, _)| *a)
                else {
                    return;
                };
                let forget = |list: &mut Vec<(&'static str, String)>, contact: &str| {
                    list.retain(|(a, c)| !(*a == agent && c == contact))
                };
                match frame {
                    AgentFrame::Offer { contact, .. } => self.offers.push((agent, contact)),
                    AgentFrame::OfferWithdrawn { contact, .. } => {
                        forget(&mut self.offers, &contact)
                    }
                    AgentFrame::Connected { contact, .. } => {
                        self.reached_agents += 1;
                        forget(&mut self.offers, &contact);
                        self.connected.push((agent, contact));
                    }
                    AgentFrame::ContactEnded { contact } => {
                        forget(&mut self.offers, &contact);
                        forget(&mut self.connected, &contact);
                        self.after_work.push((agent, contact));
                    }
                    _ => {}
                }
            }
            Effect::Close(endpoint) => {
                assert!(
                    self.open.remove(&endpoint),
                    "{endpoint:?} closed twice, or never opened"
                );
                for c in &mut self.customers {
                    if c.session == Some(endpoint.0) {
                        c.session = None;
                    }
                }
                self.agent_sockets.retain(|_, s| *s != endpoint.0);
            }
            Effect::CallFunction(call) => {
                if call.answer_wanted {
                    self.calls.push((call.contact, call.epoch));
                }
            }
            Effect::Publish(_) => {}
        }
    }

    /// A new process on the same log: no socket survived, nothing in flight did.
    fn restart(&mut self) {
        self.restarts += 1;
        self.open.clear();
        self.agent_sockets.clear();
        self.offers.clear();
        self.connected.clear();
        self.after_work.clear();
        self.calls.clear();
        for c in &mut self.customers {
            c.session = None;
        }
        let mut owner = Owner::new(self.vault.clone(), self.clock.clone(), self.now);
        owner.take_config(self.config.clone());
        let recovered = read_recovered(&self.log, &self.vault, Some(self.config.clone()))
            .expect("the memory log reads");
        owner.recover(recovered);
        owner.end_start();
        self.owner = owner;
        self.collect();
        self.commit();
        self.check_transcripts();
    }

    /// Every line a customer saw is the durable transcript's line under that number.
    fn check_transcripts(&self) {
        for c in &self.customers {
            let Some(live) = self.owner.contacts.get(&c.contact) else {
                continue;
            };
            for (seq, text) in &c.seen {
                let durable = live.transcript.iter().find(|i| i.seq == *seq);
                assert_eq!(
                    durable.map(|i| &i.text),
                    Some(text),
                    "{} saw line {seq} that the log does not have",
                    c.contact
                );
            }
        }
    }

    fn check(&self) {
        // One pass over the log: each contact's INITIATED and DISCONNECTED events, and
        // whether its end is written, in the log or in this turn's events on their way
        // to it (a crash before they commit brings the contact back).
        #[derive(Default)]
        struct Seen {
            initiated: usize,
            disconnected: usize,
            finished: bool,
        }
        let pending = self.turn.iter().filter_map(|o| match o {
            Output::Append(e) => Some(e),
            Output::Effect(_) => None,
        });
        let mut seen: HashMap<&str, Seen> = HashMap::new();
        for (e, durable) in self
            .log
            .events
            .iter()
            .map(|e| (e, true))
            .chain(pending.map(|e| (e, false)))
        {
            let s = seen.entry(e.key.as_str()).or_default();
            match (e.stream.as_str(), e.kind.as_str()) {
                (sb_store::CONTACT_EVENT_STREAM, "INITIATED") if durable => s.initiated += 1,
                (sb_store::CONTACT_EVENT_STREAM, "DISCONNECTED") if durable => s.disconnected += 1,
                (LIVE_STREAM, _) => s.finished = e.payload == "null",
                _ => {}
            }
        }
        for c in &self.customers {
            let s = seen.get(c.contact.as_str());
            assert!(
                self.owner.contacts.contains_key(&c.contact) || s.is_some_and(|s| s.finished),
                "acknowledged chat {} is lost",
                c.contact
            );
            let (initiated, disconnected) = s.map_or((0, 0), |s| (s.initiated, s.disconnected));
            assert_eq!(initiated, 1, "{} initiated {initiated} times", c.contact);
            assert!(
                disconnected <= 1,
                "{} disconnected {disconnected} times",
                c.contact
            );
        }
        let engine = &self.owner.engine;
        let mut held: HashMap<String, String> = HashMap::new();
        for agent in AGENTS {
            for slot in engine
                .agent_snapshot(agent)
                .map(|s| s.contacts)
                .unwrap_or_default()
            {
                if let Some(other) = held.insert(slot.contact.clone(), agent.to_string()) {
                    panic!("{} is with {other} and {agent}", slot.contact);
                }
            }
        }
        for (id, c) in &self.owner.contacts {
            let queued = engine.position(id).is_some();
            let with = held.get(id);
            match &c.stage {
                Stage::Queued => assert!(queued && with.is_none(), "{id} queued: {with:?}"),
                Stage::Offered(a) | Stage::Connected(a) | Stage::AfterWork(a) => assert!(
                    !queued && with == Some(a),
                    "{id} {} to {a}: queued {queued}, held by {with:?}",
                    c.stage.name()
                ),
                Stage::InFlow | Stage::Scheduled => {
                    assert!(!queued && with.is_none(), "{id} in flow: {queued} {with:?}")
                }
            }
        }
        for (contact, agent) in &held {
            let stage = self.owner.contacts.get(contact).map(|c| &c.stage);
            assert!(
                stage.and_then(|s| s.agent()) == Some(agent.as_str()),
                "routing gives {contact} to {agent}, the owner has it {stage:?}"
            );
        }
    }
}

/// What a run got through: chats acknowledged, restarts, chats that reached an agent.
struct Covered {
    chats: usize,
    restarts: usize,
    reached_agents: usize,
}

fn run(seed: u64, trace: bool) -> Covered {
    let mut world = World::new(seed, trace);
    for step in 0..STEPS {
        if trace {
            eprintln!("step {step}");
        }
        world.act();
        if world.rng.one_in(3) {
            world.end_turn();
        }
        world.check();
    }
    world.end_turn();
    world.check();
    Covered {
        chats: world.customers.len(),
        restarts: world.restarts,
        reached_agents: world.reached_agents,
    }
}

/// Run the seeds of `shard` (of [`SHARDS`]): seed `s` is in shard `s % SHARDS`, so the
/// shards share the seeds out and run side by side.
fn run_shard(shard: u64) {
    if let Ok(seed) = std::env::var("SIM_SEED") {
        let seed: u64 = seed.parse().expect("SIM_SEED is a number");
        if seed % SHARDS == shard {
            run(seed, true);
        }
        return;
    }
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let (mut ran, mut chats, mut restarts, mut reached) = (0, 0, 0, 0);
    for seed in (shard..seeds).step_by(SHARDS as usize) {
        match std::panic::catch_unwind(|| run(seed, false)) {
            Ok(covered) => {
                ran += 1;
                chats += covered.chats;
                restarts += covered.restarts;
                reached += covered.reached_agents;
            }
            Err(_) => panic!("seed {seed} failed; replay it with SIM_SEED={seed}"),
        }
    }
    // The workload must reach what it is for: chats, agents taking them, and restarts
    // among them.
    assert!(chats > ran, "{chats} chats in {ran} seeds");
    assert!(
        reached > ran / 2,
        "{reached} chats reached agents in {ran} seeds"
    );
    assert!(restarts > ran, "{restarts} restarts in {ran} seeds");
    eprintln!("{ran} seeds: {chats} chats, {reached} reached agents, {restarts} restarts");
}

const SHARDS: u64 = 4;

#[test]
fn the_owner_keeps_its_invariants_through_crashes_at_any_commit_shard_0() {
    run_shard(0);
}

#[test]
fn the_owner_keeps_its_invariants_through_crashes_at_any_commit_shard_1() {
    run_shard(1);
}

#[test]
fn the_owner_keeps_its_invariants_through_crashes_at_any_commit_shard_2() {
    run_shard(2);
}

#[test]
fn the_owner_keeps_its_invariants_through_crashes_at_any_commit_shard_3() {
    run_shard(3);
}
