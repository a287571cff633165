//! Routing at scale: 10,000 agents, 500 queues, 50,000 contacts waiting.
//!
//! - decision: an agent finishes after-contact work and the engine picks its next
//!   contact and offers it (what happens on every "agent available" under load);
//!   targets: median ≤ 5 µs, p99 ≤ 50 µs;
//! - throughput: state changes (end, after-work done with its offer, accept, enqueue)
//!   per second on one core; target ≥ 100,000;
//! - memory per agent and per waiting contact, from the growth of resident memory.
//!
//! Run: cargo bench -p sb-routing --bench routing

use std::time::Instant;

use sb_model::Channel;
use sb_routing::*;

/// Resident memory of this process, from /proc (Linux).
fn resident_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

const AGENTS: usize = 10_000;
const QUEUES: usize = 500;
const PROFILES: usize = 50;
const QUEUES_PER_PROFILE: usize = 10;
const WAITING: usize = 50_000;
const ROUNDS: usize = 200_000;

fn config() -> RoutingConfig {
    let queues = (0..QUEUES)
        .map(|q| QueueConfig {
            name: format!("q{q}"),
            max_contacts: None,
        })
        .collect();
    let profiles = (0..PROFILES)
        .map(|p| ProfileConfig {
            name: format!("p{p}"),
            concurrency: [1, 0, 0],
            cross_channel: false,
            entries: (0..QUEUES_PER_PROFILE)
                .map(|i| ProfileEntry {
                    queue: format!("q{}", (p * QUEUES_PER_PROFILE + i) % QUEUES),
                    channel: Channel::Voice,
                    priority: 1 + (i % 3) as u8,
                    delay_ms: 0,
                })
                .collect(),
        })
        .collect();
    RoutingConfig {
        queues,
        profiles,
        offer_timeout_ms: [20_000; 3],
        agent_queue_limit: 10,
        custom_statuses: vec![],
    }
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn main() {
    let mut now: Millis = 0;
    let mut engine = Engine::new(config()).unwrap();
    let base = resident_bytes();
    for a in 0..AGENTS {
        let agent = AgentConfig {
            routing_profile: format!("p{}", a % PROFILES),
            proficiencies: vec![],
            acw_timeout_ms: None,
        };
        engine
            .login(now, &format!("agent{a}"), agent, AgentStatus::available())
            .unwrap();
    }
    engine.drain_outputs();
    let after_agents = resident_bytes();

    // Every agent on a call, then 50,000 more contacts waiting.
    let mut next = 0usize;
    let mut on_call: Vec<(String, String)> = Vec::new();
    let enqueue = |engine: &mut Engine, now: Millis, next: &mut usize| {
        let id = format!("contact{next}");
        engine
            .enqueue(
                now,
                &id,
                &format!("q{}", *next % QUEUES),
                Channel::Voice,
                EnqueueOptions::default(),
            )
            .unwrap();
        *next += 1;
    };
    for _ in 0..AGENTS {
        now += 1;
        enqueue(&mut engine, now, &mut next);
    }
    for o in engine.drain_outputs() {
        if let Output::Offer { contact, agent, .. } = o {
            engine.accept(now, &agent, &contact).unwrap();
            on_call.push((agent, contact));
        }
    }
    engine.drain_outputs();
    let before_waiting = resident_bytes();
    for _ in 0..WAITING {
        now += 1;
        enqueue(&mut engine, now, &mut next);
    }
    let after_waiting = resident_bytes();
    let waiting: usize = (0..QUEUES)
        .map(|q| engine.waiting_count(&format!("q{q}"), Channel::Voice))
        .sum();
    assert_eq!(waiting, WAITING);
    assert_eq!(on_call.len(), AGENTS);

    // Each round: one agent's call ends, its after-contact work ends (the decision),
    // it accepts the offer, and a new contact arrives to keep 50,000 waiting.
    let mut decisions = Vec::with_capacity(ROUNDS);
    let mut changes = 0u64;
    let started = Instant::now();
    for round in 0..ROUNDS {
        now += 1;
        let slot = round % on_call.len();
        let (agent, contact) = on_call[slot].clone();
        engine.end(now, &contact).unwrap();
        let t = Instant::now();
        engine.after_work_done(now, &agent, &contact).unwrap();
        decisions.push(t.elapsed().as_nanos() as u64);
        let offered = engine.drain_outputs().into_iter().find_map(|o| match o {
            Output::Offer {
                contact, agent: a, ..
            } if a == agent => Some(contact),
            _ => None,
        });
        let offered =
            offered.expect("an agent that becomes available with contacts waiting gets one");
        engine.accept(now, &agent, &offered).unwrap();
        engine.drain_outputs();
        on_call[slot] = (agent, offered);
        enqueue(&mut engine, now, &mut next);
        changes += 4;
    }
    let elapsed = started.elapsed();
    decisions.sort_unstable();
    let per_agent = (after_agents - base) as f64 / AGENTS as f64;
    let per_waiting = (after_waiting - before_waiting) as f64 / WAITING as f64;
    println!("routing with {AGENTS} agents, {QUEUES} queues, {WAITING} contacts waiting, {ROUNDS} rounds:");
    println!(
        "  decision (agent available -> offer): median {:.2} µs  p90 {:.2} µs  p99 {:.2} µs  p99.9 {:.2} µs  max {:.2} µs",
        percentile(&decisions, 0.5) as f64 / 1000.0,
        percentile(&decisions, 0.9) as f64 / 1000.0,
        percentile(&decisions, 0.99) as f64 / 1000.0,
        percentile(&decisions, 0.999) as f64 / 1000.0,
        *decisions.last().unwrap() as f64 / 1000.0
    );
    println!(
        "  state changes: {changes} in {:.2} s = {:.0} per second on one core (end, after-work done + offer, accept, enqueue)",
        elapsed.as_secs_f64(),
        changes as f64 / elapsed.as_secs_f64()
    );
    println!("  memory: {per_agent:.0} bytes per logged-in agent, {per_waiting:.0} bytes per waiting contact (growth of resident memory)");
}
