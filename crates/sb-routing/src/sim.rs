//! A simulated contact-center day on the real engine: Poisson arrivals, exponential
//! handle times and patience, agents who accept, reject or miss offers and take breaks.
//! Deterministic from its seed (its own generator, so a seed replays the same day on
//! every build); wall-clock measurement of decisions is injected by the caller.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use sb_model::Channel;
use serde::{Deserialize, Serialize};

use crate::config::{AgentConfig, RoutingConfig};
use crate::types::{AgentStatus, DequeueReason, EnqueueOptions, Millis, Output};
use crate::Engine;

/// SplitMix64: small, fast and stable; a simulation needs repeatability, not secrecy.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    /// Exponentially distributed with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() <= p
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Arrivals {
    pub queue: String,
    pub channel: Channel,
    pub per_hour: f64,
}

/// How simulated agents behave when offered a contact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Behaviour {
    /// Seconds from offer to answer.
    pub answer_seconds: f64,
    pub reject_probability: f64,
    /// The agent lets the offer time out.
    pub miss_probability: f64,
    /// Seconds of after-contact work (constant).
    pub acw_seconds: f64,
    /// Breaks per agent per hour (each 5 minutes).
    pub breaks_per_hour: f64,
    /// Share of handled contacts transferred to another queue.
    pub transfer_probability: f64,
}

impl Behaviour {
    /// Agents who answer at once and never decline: the textbook M/M/N queue.
    pub fn ideal() -> Self {
        Behaviour {
            answer_seconds: 0.0,
            reject_probability: 0.0,
            miss_probability: 0.0,
            acw_seconds: 0.0,
            breaks_per_hour: 0.0,
            transfer_probability: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    pub routing: RoutingConfig,
    pub agents: Vec<(String, AgentConfig)>,
    pub arrivals: Vec<Arrivals>,
    pub aht_seconds: f64,
    /// Mean patience before abandoning; `None`: nobody abandons.
    pub patience_seconds: Option<f64>,
    pub hours: f64,
    pub seed: u64,
    pub behaviour: Behaviour,
    pub service_level_thresholds: Vec<u64>,
    /// Check every invariant after every command (slow; for tests).
    pub check_invariants: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueueReport {
    pub queue: String,
    /// Contacts that arrived (Connect's "offered" to the queue).
    pub offered: u64,
    pub handled: u64,
    pub abandoned: u64,
    pub transferred_out: u64,
    /// (threshold seconds, share of contacts that left the line answered within it).
    pub service_level: Vec<(u64, f64)>,
    pub average_speed_of_answer_seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimReport {
    pub seed: u64,
    pub queues: Vec<QueueReport>,
    /// Time agents spent on contacts (offered, talking, wrapping up) over time logged in.
    pub occupancy: f64,
    pub engine_commands: u64,
    /// Wall-clock nanoseconds per engine command, sorted (from the injected clock).
    #[serde(skip)]
    pub decision_nanos: Vec<u64>,
}

impl SimReport {
    pub fn decision_percentile(&self, q: f64) -> Option<u64> {
        if self.decision_nanos.is_empty() {
            return None;
        }
        let i =
            ((self.decision_nanos.len() as f64 * q) as usize).min(self.decision_nanos.len() - 1);
        Some(self.decision_nanos[i])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival(usize),
    Abandon(String),
    Answer(String, String),
    Reject(String, String),
    HandleEnd(String, String),
    AfterWorkEnd(String, String),
    BreakStart(usize),
    BreakEnd(usize),
}

#[derive(Debug, Clone, Default)]
struct ContactLife {
    queue: usize,
    arrived: Millis,
    left_line: Option<(Millis, DequeueReason)>,
}

/// Run a simulated day. `clock` returns monotonic nanoseconds (pass a real clock to
/// measure decision times, or `|| 0` for none); everything else is deterministic.
pub fn run(config: &SimConfig, clock: &mut dyn FnMut() -> u64) -> Result<SimReport, String> {
    let mut engine = Engine::new(config.routing.clone()).map_err(|e| e.to_string())?;
    if config.check_invariants {
        engine.enable_offer_audit();
    }
    let mut rng = SimRng::new(config.seed);
    let end: Millis = (config.hours * 3_600_000.0) as Millis;
    let mut events: BinaryHeap<Reverse<(Millis, u64, Event)>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut push =
        |events: &mut BinaryHeap<Reverse<(Millis, u64, Event)>>, at: Millis, e: Event| {
            order += 1;
            events.push(Reverse((at, order, e)));
        };
    let mut report = SimReport {
        seed: config.seed,
        ..SimReport::default()
    };
    let queue_names: Vec<String> = config
        .routing
        .queues
        .iter()
        .map(|q| q.name.clone())
        .collect();
    let mut lives: HashMap<String, ContactLife> = HashMap::new();
    let mut busy_ms: i64 = 0;
    let mut busy_since: HashMap<String, Millis> = HashMap::new();
    let mut next_id = 0u64;
    let timed = |report: &mut SimReport, clock: &mut dyn FnMut() -> u64, f: &mut dyn FnMut()| {
        let start = clock();
        f();
        report.decision_nanos.push(clock().saturating_sub(start));
        report.engine_commands += 1;
    };

    for (i, (name, agent)) in config.agents.iter().enumerate() {
        let mut r = Ok(());
        timed(&mut report, clock, &mut || {
            r = engine.login(0, name, agent.clone(), AgentStatus::available())
        });
        r.map_err(|e| e.to_string())?;
        if config.behaviour.breaks_per_hour > 0.0 {
            let at =
                (rng.exponential(3600.0 / config.behaviour.breaks_per_hour) * 1000.0) as Millis;
            push(&mut events, at, Event::BreakStart(i));
        }
    }
    for (i, a) in config.arrivals.iter().enumerate() {
        if a.per_hour > 0.0 {
            let at = (rng.exponential(3600.0 / a.per_hour) * 1000.0) as Millis;
            push(&mut events, at, Event::Arrival(i));
        }
    }

    loop {
        let next_event = events.peek().map(|Reverse((t, _, _))| *t);
        let next_timer = engine.next_timer();
        let now = match (next_event, next_timer) {
            (None, None) => break,
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
        };
        // Stop new arrivals at the end of the day; let the rest play out.
        if now > end
            && events
                .iter()
                .all(|Reverse((_, _, e))| matches!(e, Event::Arrival(_) | Event::BreakStart(_)))
        {
            break;
        }
        if next_timer == Some(now) && next_event != Some(now) {
            timed(&mut report, clock, &mut || engine.tick(now));
        } else {
            let Reverse((_, _, event)) = events.pop().expect("peeked");
            let mut result: Result<(), crate::RoutingError> = Ok(());
            match event {
                Event::Arrival(i) if now <= end => {
                    let a = &config.arrivals[i];
                    next_id += 1;
                    let id = format!("c{next_id}");
                    let q = queue_names.iter().position(|n| *n == a.queue).unwrap_or(0);
                    lives.insert(
                        id.clone(),
                        ContactLife {
                            queue: q,
                            arrived: now,
                            left_line: None,
                        },
                    );
                    timed(&mut report, clock, &mut || {
                        result =
                            engine.enqueue(now, &id, &a.queue, a.channel, EnqueueOptions::default())
                    });
                    if result.is_err() {
                        // At capacity: counted as offered, never handled.
                        lives.get_mut(&id).expect("inserted").left_line =
                            Some((now, DequeueReason::Abandoned));
                        result = Ok(());
                    } else if let Some(p) = config.patience_seconds {
                        let at = now + (rng.exponential(p) * 1000.0) as Millis;
                        push(&mut events, at, Event::Abandon(id));
                    }
                    let gap = (rng.exponential(3600.0 / a.per_hour) * 1000.0).max(1.0) as Millis;
                    push(&mut events, now + gap, Event::Arrival(i));
                }
                Event::Arrival(_) => {}
                Event::Abandon(id) => {
                    let waiting = lives.get(&id).is_some_and(|l| l.left_line.is_none());
                    if waiting {
                        timed(&mut report, clock, &mut || result = engine.end(now, &id));
                    }
                }
                Event::Answer(contact, agent) => {
                    timed(&mut report, clock, &mut || {
                        result = engine.accept(now, &agent, &contact)
                    });
                    if result.is_ok() {
                        let at = now + (rng.exponential(config.aht_seconds) * 1000.0) as Millis;
                        push(&mut events, at, Event::HandleEnd(contact, agent));
                    } else {
                        // The offer was withdrawn meanwhile (the customer left).
                        result = Ok(());
                    }
                }
                Event::Reject(contact, agent) => {
                    timed(&mut report, clock, &mut || {
                        result = engine.reject(now, &agent, &contact)
                    });
                    result = result.or(Ok(()));
                }
                Event::HandleEnd(contact, agent) => {
                    if rng.chance(config.behaviour.transfer_probability) && queue_names.len() > 1 {
                        let target = queue_names[rng.below(queue_names.len())].clone();
                        next_id += 1;
                        let new_id = format!("c{next_id}");
                        let q = queue_names.iter().position(|n| *n == target).unwrap_or(0);
                        lives.insert(
                            new_id.clone(),
                            ContactLife {
                                queue: q,
                                arrived: now,
                                left_line: None,
                            },
                        );
                        timed(&mut report, clock, &mut || {
                            result = engine.transfer(
                                now,
                                &contact,
                                &new_id,
                                &target,
                                EnqueueOptions::default(),
                            )
                        });
                        if result.is_err() {
                            lives.remove(&new_id);
                            timed(&mut report, clock, &mut || {
                                result = engine.end(now, &contact)
                            });
                        }
                    } else {
                        timed(&mut report, clock, &mut || {
                            result = engine.end(now, &contact)
                        });
                    }
                    let at = now + (config.behaviour.acw_seconds * 1000.0) as Millis;
                    push(&mut events, at, Event::AfterWorkEnd(contact, agent));
                }
                Event::AfterWorkEnd(contact, agent) => {
                    timed(&mut report, clock, &mut || {
                        result = engine.after_work_done(now, &agent, &contact)
                    });
                    // It may have timed out already.
                    result = result.or(Ok(()));
                }
                Event::BreakStart(i) => {
                    let name = &config.agents[i].0;
                    timed(&mut report, clock, &mut || {
                        result = engine.set_status(
                            now,
                            name,
                            AgentStatus::Custom(
                                config
                                    .routing
                                    .custom_statuses
                                    .first()
                                    .cloned()
                                    .unwrap_or_else(|| "Break".into()),
                            ),
                        )
                    });
                    push(&mut events, now + 300_000, Event::BreakEnd(i));
                }
                Event::BreakEnd(i) => {
                    let name = &config.agents[i].0;
                    timed(&mut report, clock, &mut || {
                        result = engine.set_status(now, name, AgentStatus::available())
                    });
                    if now < end {
                        let at = now
                            + (rng.exponential(3600.0 / config.behaviour.breaks_per_hour) * 1000.0)
                                as Millis;
                        push(&mut events, at, Event::BreakStart(i));
                    }
                }
            }
            result.map_err(|e| format!("seed {}: at {now} ms: {e}", config.seed))?;
        }
        for output in engine.drain_outputs() {
            match output {
                Output::Offer { contact, agent, .. } => {
                    let b = &config.behaviour;
                    let at = now + (b.answer_seconds * 1000.0) as Millis;
                    if rng.chance(b.miss_probability) {
                        // Let the offer time out.
                    } else if rng.chance(b.reject_probability) {
                        push(&mut events, at, Event::Reject(contact, agent));
                    } else {
                        push(&mut events, at, Event::Answer(contact, agent));
                    }
                }
                Output::Dequeued {
                    contact, reason, ..
                } => {
                    if let Some(life) = lives.get_mut(&contact) {
                        if life.left_line.is_none() {
                            life.left_line = Some((now, reason));
                        }
                    }
                }
                Output::AgentChanged { snapshot } => {
                    let working = !snapshot.contacts.is_empty();
                    match (working, busy_since.contains_key(&snapshot.agent)) {
                        (true, false) => {
                            busy_since.insert(snapshot.agent.clone(), now);
                        }
                        (false, true) => {
                            busy_ms += now - busy_since.remove(&snapshot.agent).expect("checked")
                        }
                        _ => {}
                    }
                    // A missed offer parks the agent; simulated agents come back at once.
                    if snapshot.missed {
                        let _ = engine.set_status(now, &snapshot.agent, AgentStatus::available());
                    }
                }
                _ => {}
            }
        }
        if config.check_invariants {
            engine
                .check_invariants()
                .map_err(|e| format!("seed {}: at {now} ms: {e}", config.seed))?;
            if let Some(broken) = engine.take_offer_audit().first() {
                return Err(format!("seed {}: {broken}", config.seed));
            }
        }
    }
    let finished = engine.now().max(end);
    for (_, since) in busy_since {
        busy_ms += finished - since;
    }
    let staffed_ms = (config.agents.len() as f64) * finished as f64;
    report.occupancy = if staffed_ms > 0.0 {
        busy_ms as f64 / staffed_ms
    } else {
        0.0
    };
    report.queues = summarise(&queue_names, &lives, &config.service_level_thresholds);
    report.decision_nanos.sort_unstable();
    Ok(report)
}

fn summarise(
    queues: &[String],
    lives: &HashMap<String, ContactLife>,
    thresholds: &[u64],
) -> Vec<QueueReport> {
    let mut reports: Vec<QueueReport> = queues
        .iter()
        .map(|q| QueueReport {
            queue: q.clone(),
            ..QueueReport::default()
        })
        .collect();
    let mut waits: Vec<Vec<Millis>> = vec![Vec::new(); queues.len()];
    let mut left: Vec<u64> = vec![0; queues.len()];
    for life in lives.values() {
        let r = &mut reports[life.queue];
        r.offered += 1;
        match life.left_line {
            Some((t, DequeueReason::ConnectedToAgent)) => {
                r.handled += 1;
                waits[life.queue].push(t - life.arrived);
                left[life.queue] += 1;
            }
            Some((_, DequeueReason::Abandoned)) | Some((_, DequeueReason::Expired)) => {
                r.abandoned += 1;
                left[life.queue] += 1;
            }
            Some((_, DequeueReason::Transferred)) => r.transferred_out += 1,
            None => {}
        }
    }
    for (i, r) in reports.iter_mut().enumerate() {
        let w = &waits[i];
        r.average_speed_of_answer_seconds = if w.is_empty() {
            0.0
        } else {
            w.iter().sum::<Millis>() as f64 / w.len() as f64 / 1000.0
        };
        r.service_level = thresholds
            .iter()
            .map(|&t| {
                let within = w.iter().filter(|&&x| x <= t as Millis * 1000).count() as f64;
                (
                    t,
                    if left[i] == 0 {
                        0.0
                    } else {
                        within / left[i] as f64
                    },
                )
            })
            .collect();
    }
    reports
}

/// The Erlang C probability that a contact waits, with `agents` agents and `load`
/// Erlangs offered (arrival rate × average handle time); 1 when `load >= agents`.
pub fn erlang_c(agents: u32, load: f64) -> f64 {
    if load >= f64::from(agents) {
        return 1.0;
    }
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 1..agents {
        term *= load / f64::from(k);
        sum += term;
    }
    let top = term * load / f64::from(agents) * (f64::from(agents) / (f64::from(agents) - load));
    top / (sum + top)
}
