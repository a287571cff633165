//! The engine's state and commands.

use std::collections::{BTreeSet, HashMap, VecDeque};

use sb_model::Channel;

use crate::config::{channel_index, AgentConfig, ProfileConfig, RoutingConfig};
use crate::criteria::RoutingCriteria;
use crate::explain::OfferExplanation;
use crate::types::*;

pub(crate) type Ix = u32;
pub(crate) const CHANNELS: [Channel; 3] = [Channel::Voice, Channel::Chat, Channel::Task];
const DEFAULT_PRIORITY: u32 = 5;
/// Average handle time assumed for a queue until it has handled contacts.
const DEFAULT_AHT_MS: f64 = 300_000.0;
/// Weight of the newest handle time in a queue's moving average.
const AHT_WEIGHT: f64 = 0.05;
/// An agent who rejected or missed a contact is not offered that contact again for
/// this long, so it goes to someone else first but never waits forever for want of
/// the one agent who declined.
pub const DECLINE_COOLDOWN_MS: Millis = 60_000;
/// Offer explanations kept for supervisors.
const EXPLANATIONS_KEPT: usize = 10_000;

/// A contact's place in line: queue priority first (lower first), then its enqueue time
/// as adjusted, then arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WaitKey {
    pub priority: u32,
    pub effective: Millis,
    pub seq: u64,
    pub contact: Ix,
}

/// Slots reused with a generation, so a stale index or timer never reaches a new occupant.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    items: Vec<(u32, Option<T>)>,
    free: Vec<Ix>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn insert(&mut self, value: T) -> (Ix, u32) {
        if let Some(ix) = self.free.pop() {
            let slot = &mut self.items[ix as usize];
            slot.0 += 1;
            slot.1 = Some(value);
            (ix, slot.0)
        } else {
            self.items.push((0, Some(value)));
            ((self.items.len() - 1) as Ix, 0)
        }
    }
    pub(crate) fn remove(&mut self, ix: Ix) -> Option<T> {
        let taken = self.items.get_mut(ix as usize)?.1.take();
        if taken.is_some() {
            self.free.push(ix);
        }
        taken
    }
    pub(crate) fn get(&self, ix: Ix) -> Option<&T> {
        self.items.get(ix as usize)?.1.as_ref()
    }
    pub(crate) fn get_mut(&mut self, ix: Ix) -> Option<&mut T> {
        self.items.get_mut(ix as usize)?.1.as_mut()
    }
    pub(crate) fn generation(&self, ix: Ix) -> u32 {
        self.items.get(ix as usize).map_or(u32::MAX, |s| s.0)
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Ix, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, (_, v))| v.as_ref().map(|v| (i as Ix, v)))
    }
    pub(crate) fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }
}

#[derive(Debug)]
pub(crate) struct QueueState {
    pub name: String,
    pub max_contacts: Option<u32>,
    /// Removed from the configuration but still has contacts: takes no new ones.
    pub draining: bool,
    pub waiting: [BTreeSet<WaitKey>; 3],
    /// Agents with a free slot for the channel whose profile serves this queue, by how
    /// long they have been available.
    pub available: [BTreeSet<(Millis, Ix)>; 3],
    /// Contacts waiting, offered or scheduled here (what capacity counts).
    pub count: u32,
    /// Logged-in agents in a routable status whose profile serves this queue, per channel.
    pub staffed: [u32; 3],
    /// Distinct non-zero delays profiles put on this queue, per channel.
    pub delays: [Vec<Millis>; 3],
    pub aht_ms: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub config: ProfileConfig,
    /// (queue, channel index, priority, delay), by priority.
    pub entries: Vec<(Ix, usize, u8, Millis)>,
    /// Logged-in agents using it; a profile removed from the configuration lives on
    /// until its last agent logs out.
    pub agents: u32,
    pub retired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub contact: Ix,
    pub channel: usize,
    pub state: SlotState,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: String,
    pub config: AgentConfig,
    pub profile: Ix,
    pub status: AgentStatus,
    pub next_status: Option<AgentStatus>,
    pub missed: bool,
    pub slots: Vec<Slot>,
    pub idle_since: Millis,
    /// The contacts waiting for this agent only (agent queue), oldest first.
    pub personal: VecDeque<Ix>,
    /// The (queue, channel) availability sets this agent is in, with its key there.
    pub listed: Vec<(Ix, usize, Millis)>,
    /// The (queue, channel) pairs counting this agent as staffed.
    pub staffing: Vec<(Ix, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ContactState {
    /// A callback waiting for its time.
    Scheduled {
        at: Millis,
    },
    Waiting,
    Offered {
        agent: Ix,
        expires: Millis,
    },
    Connected {
        agent: Ix,
        since: Millis,
    },
    /// The agent is wrapping up; the contact is gone from routing's point of view.
    AfterWork {
        agent: Ix,
    },
}

#[derive(Debug)]
pub(crate) struct Contact {
    pub id: String,
    pub queue: Ix,
    /// Set for an agent-queue contact: only this agent may take it.
    pub target: Option<Ix>,
    pub channel: usize,
    pub key: WaitKey,
    pub enqueued_at: Millis,
    pub state: ContactState,
    pub criteria: Option<RoutingCriteria>,
    /// Agents (slot, generation) who rejected or missed it, and until when they are not
    /// offered it again.
    pub declined: Vec<(Ix, u32, Millis)>,
    pub callback: Option<CallbackPolicy>,
    /// Bumped on every state change, so a timer set for an older state is ignored.
    pub epoch: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    OfferExpiry,
    AfterWork,
    /// Re-try routing: a delay or a criteria step has passed.
    Recheck,
    CallbackDue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timer {
    pub at: Millis,
    pub kind: TimerKind,
    pub contact: Ix,
    pub generation: u32,
    pub epoch: u32,
}

/// A contact an agent already holds, for [`Engine::adopt`].
#[derive(Debug, Clone, Copy)]
pub struct HeldContact<'a> {
    pub contact: &'a str,
    pub queue: &'a str,
    pub channel: Channel,
    pub connected_since: Millis,
    /// In after-contact work since then, rather than connected: the agent's time limit
    /// for it counts from here, not from the adoption.
    pub after_work_since: Option<Millis>,
}

/// The routing engine for one instance.
#[derive(Debug)]
pub struct Engine {
    pub(crate) now: Millis,
    pub(crate) config: RoutingConfig,
    pub(crate) queues: Vec<QueueState>,
    pub(crate) queue_ix: HashMap<String, Ix>,
    pub(crate) profiles: Vec<Profile>,
    pub(crate) profile_ix: HashMap<String, Ix>,
    pub(crate) agents: Slab<Agent>,
    pub(crate) agent_ix: HashMap<String, Ix>,
    pub(crate) contacts: Slab<Contact>,
    pub(crate) contact_ix: HashMap<String, Ix>,
    pub(crate) timers: BTreeSet<Timer>,
    pub(crate) seq: u64,
    pub(crate) outputs: Vec<Output>,
    pub(crate) explanations: HashMap<String, OfferExplanation>,
    pub(crate) explanation_order: VecDeque<String>,
    /// When on, every offer is checked against the line at the moment it is made.
    pub(crate) audit: Option<Vec<String>>,
}

fn new_queue(name: &str, max_contacts: Option<u32>) -> QueueState {
    QueueState {
        name: name.to_string(),
        max_contacts,
        draining: false,
        waiting: Default::default(),
        available: Default::default(),
        count: 0,
        staffed: [0; 3],
        delays: Default::default(),
        aht_ms: DEFAULT_AHT_MS,
    }
}

impl Engine {
    pub fn new(config: RoutingConfig) -> Result<Self, RoutingError> {
        config.check().map_err(RoutingError::InvalidConfig)?;
        let mut engine = Engine {
            now: 0,
            config: config.clone(),
            queues: Vec::new(),
            queue_ix: HashMap::new(),
            profiles: Vec::new(),
            profile_ix: HashMap::new(),
            agents: Slab::default(),
            agent_ix: HashMap::new(),
            contacts: Slab::default(),
            contact_ix: HashMap::new(),
            timers: BTreeSet::new(),
            seq: 0,
            outputs: Vec::new(),
            explanations: HashMap::new(),
            explanation_order: VecDeque::new(),
            audit: None,
        };
        engine.apply_config(config);
        Ok(engine)
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// When the engine next needs `tick` (an offer expiring, a delay passing, ...).
    pub fn next_timer(&self) -> Option<Millis> {
        self.timers.first().map(|t| t.at)
    }

    /// Outputs produced since the last call, in order.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    // ---- configuration -----------------------------------------------------------

    /// Replace queues and routing profiles. A removed queue with contacts drains: it
    /// takes no new contacts, and agents who served it keep serving it until it is
    /// empty. A removed profile stays with the agents using it until they log out.
    pub fn reconfigure(&mut self, now: Millis, config: RoutingConfig) -> Result<(), RoutingError> {
        config.check().map_err(RoutingError::InvalidConfig)?;
        self.advance(now);
        for agent in self.agent_ixs() {
            self.unlist(agent);
            self.unstaff(agent);
        }
        self.apply_config(config.clone());
        self.config = config;
        for agent in self.agent_ixs() {
            self.relist(agent);
        }
        for agent in self.agent_ixs() {
            self.try_agent(agent);
        }
        Ok(())
    }

    fn agent_ixs(&self) -> Vec<Ix> {
        self.agents.iter().map(|(ix, _)| ix).collect()
    }

    fn apply_config(&mut self, config: RoutingConfig) {
        let wanted: HashMap<&str, &crate::config::QueueConfig> =
            config.queues.iter().map(|q| (q.name.as_str(), q)).collect();
        for q in &mut self.queues {
            match wanted.get(q.name.as_str()) {
                Some(c) => {
                    q.max_contacts = c.max_contacts;
                    q.draining = false;
                }
                None => q.draining = true,
            }
            q.delays = Default::default();
        }
        for q in &config.queues {
            if !self.queue_ix.contains_key(&q.name) {
                self.queue_ix
                    .insert(q.name.clone(), self.queues.len() as Ix);
                self.queues.push(new_queue(&q.name, q.max_contacts));
            }
        }
        let draining: Vec<Ix> = (0..self.queues.len() as Ix)
            .filter(|&i| self.queues[i as usize].draining)
            .collect();
        let old_profiles = std::mem::take(&mut self.profiles);
        let old_ix = std::mem::take(&mut self.profile_ix);
        for p in &config.profiles {
            let mut entries: Vec<(Ix, usize, u8, Millis)> = p
                .entries
                .iter()
                .map(|e| {
                    (
                        self.queue_ix[&e.queue],
                        channel_index(e.channel),
                        e.priority,
                        e.delay_ms.max(0),
                    )
                })
                .collect();
            // A draining queue stays served by the agents who served it.
            if let Some(old) = old_ix.get(&p.name).map(|&i| &old_profiles[i as usize]) {
                for e in &old.entries {
                    if draining.contains(&e.0) && !entries.iter().any(|n| n.0 == e.0 && n.1 == e.1)
                    {
                        entries.push(*e);
                    }
                }
            }
            entries.sort_by_key(|e| e.2);
            let agents = old_ix
                .get(&p.name)
                .map_or(0, |&i| old_profiles[i as usize].agents);
            self.profile_ix
                .insert(p.name.clone(), self.profiles.len() as Ix);
            self.profiles.push(Profile {
                config: p.clone(),
                entries,
                agents,
                retired: false,
            });
        }
        // Profiles gone from the configuration but still in use.
        let mut remap = HashMap::new();
        for (old_i, old) in old_profiles.into_iter().enumerate() {
            match self.profile_ix.get(&old.config.name) {
                Some(&new_i) => {
                    remap.insert(old_i as Ix, new_i);
                }
                None if old.agents > 0 => {
                    let new_i = self.profiles.len() as Ix;
                    self.profile_ix.insert(old.config.name.clone(), new_i);
                    self.profiles.push(Profile {
                        retired: true,
                        ..old
                    });
                    remap.insert(old_i as Ix, new_i);
                }
                None => {}
            }
        }
        let ixs: Vec<Ix> = self.agents.iter().map(|(i, _)| i).collect();
        for a in ixs {
            if let Some(agent) = self.agents.get_mut(a) {
                if let Some(&p) = remap.get(&agent.profile) {
                    agent.profile = p;
                }
            }
        }
        for p in &self.profiles {
            for &(q, c, _, d) in &p.entries {
                let delays = &mut self.queues[q as usize].delays[c];
                if d > 0 && !delays.contains(&d) {
                    delays.push(d);
                }
            }
        }
    }

    // ---- time --------------------------------------------------------------------

    /// Let time pass to `now`, firing what falls due (missed offers, after-contact work
    /// timeouts, delays and criteria steps passing, callbacks coming due).
    pub fn tick(&mut self, now: Millis) {
        self.advance(now);
    }

    pub(crate) fn advance(&mut self, now: Millis) {
        if now > self.now {
            self.now = now;
        }
        while let Some(timer) = self.timers.first().copied() {
            if timer.at > self.now {
                break;
            }
            self.timers.pop_first();
            self.fire(timer);
        }
    }

    fn schedule(&mut self, at: Millis, kind: TimerKind, contact: Ix) {
        let generation = self.contacts.generation(contact);
        let epoch = self.contacts.get(contact).map_or(0, |c| c.epoch);
        self.timers.insert(Timer {
            at,
            kind,
            contact,
            generation,
            epoch,
        });
    }

    fn fire(&mut self, timer: Timer) {
        if self.contacts.generation(timer.contact) != timer.generation {
            return;
        }
        let Some(contact) = self.contacts.get(timer.contact) else {
            return;
        };
        if contact.epoch != timer.epoch {
            return;
        }
        match (timer.kind, contact.state.clone()) {
            (TimerKind::OfferExpiry, ContactState::Offered { agent, .. }) => {
                self.take_back_offer(timer.contact, agent, WithdrawReason::Missed);
            }
            (TimerKind::AfterWork, ContactState::AfterWork { agent }) => {
                let id = contact.id.clone();
                let agent_id = self
                    .agents
                    .get(agent)
                    .map(|a| a.id.clone())
                    .unwrap_or_default();
                self.outputs.push(Output::AfterContactWorkTimedOut {
                    contact: id,
                    agent: agent_id,
                });
                self.finish_after_work(timer.contact, agent);
            }
            (TimerKind::Recheck, ContactState::Waiting) => {
                self.schedule_rechecks(timer.contact);
                self.try_contact(timer.contact);
            }
            (TimerKind::CallbackDue, ContactState::Scheduled { .. }) => {
                let (id, queue) = (contact.id.clone(), contact.queue);
                self.outputs.push(Output::CallbackDue {
                    contact: id,
                    queue: self.queues[queue as usize].name.clone(),
                });
                self.make_waiting(timer.contact);
            }
            _ => {}
        }
    }

    // ---- agents ------------------------------------------------------------------

    pub fn login(
        &mut self,
        now: Millis,
        agent: &str,
        config: AgentConfig,
        status: AgentStatus,
    ) -> Result<(), RoutingError> {
        self.advance(now);
        self.check_status(&status)?;
        if self.agent_ix.contains_key(agent) {
            return Err(RoutingError::AlreadyLoggedIn(agent.into()));
        }
        let profile = *self
            .profile_ix
            .get(&config.routing_profile)
            .filter(|&&p| !self.profiles[p as usize].retired)
            .ok_or_else(|| RoutingError::UnknownProfile(config.routing_profile.clone()))?;
        self.profiles[profile as usize].agents += 1;
        let (ix, _) = self.agents.insert(Agent {
            id: agent.to_string(),
            config,
            profile,
            status,
            next_status: None,
            missed: false,
            slots: Vec::new(),
            idle_since: self.now,
            personal: VecDeque::new(),
            listed: Vec::new(),
            staffing: Vec::new(),
        });
        self.agent_ix.insert(agent.to_string(), ix);
        self.relist(ix);
        self.emit_agent(ix);
        self.try_agent(ix);
        Ok(())
    }

    /// Log out. Pending offers are withdrawn; an agent with connected contacts or
    /// after-contact work must end them first.
    pub fn logout(&mut self, now: Millis, agent: &str) -> Result<(), RoutingError> {
        self.advance(now);
        let a = self.agent(agent)?;
        let busy = self
            .agents
            .get(a)
            .is_some_and(|x| x.slots.iter().any(|s| s.state != SlotState::Offered));
        if busy {
            return Err(RoutingError::AgentBusy(agent.into()));
        }
        // Out of routing first, so withdrawn offers cannot come straight back here.
        self.agents.get_mut(a).expect("agent exists").status = AgentStatus::Offline;
        self.unlist(a);
        self.unstaff(a);
        // Its own-queue contacts join the general line before anything is re-routed, so
        // every contact competes for the remaining agents in its true order.
        let personal: Vec<Ix> = self
            .agents
            .get_mut(a)
            .expect("agent exists")
            .personal
            .drain(..)
            .collect();
        let offered: Vec<Ix> = self
            .agents
            .get(a)
            .expect("agent exists")
            .slots
            .iter()
            .map(|s| s.contact)
            .collect();
        for &c in personal.iter().chain(&offered) {
            if let Some(contact) = self.contacts.get_mut(c) {
                if contact.target == Some(a) {
                    contact.target = None;
                }
            }
        }
        for &c in &personal {
            self.enter_line(c);
        }
        self.withdraw_offers_of(a);
        for &c in &personal {
            self.try_contact(c);
        }
        let removed = self.agents.remove(a).expect("agent exists");
        self.agent_ix.remove(agent);
        let profile = &mut self.profiles[removed.profile as usize];
        profile.agents = profile.agents.saturating_sub(1);
        let snapshot = AgentSnapshot {
            agent: agent.into(),
            status: AgentStatus::Offline,
            next_status: None,
            missed: false,
            contacts: vec![],
        };
        self.outputs.push(Output::AgentChanged { snapshot });
        Ok(())
    }

    /// Change status. With contacts in hand, a non-routable status waits as the next
    /// status (no new contacts are offered meanwhile) and applies when they are done.
    pub fn set_status(
        &mut self,
        now: Millis,
        agent: &str,
        status: AgentStatus,
    ) -> Result<(), RoutingError> {
        self.advance(now);
        let a = self.agent(agent)?;
        self.check_status(&status)?;
        let busy = self
            .agents
            .get(a)
            .is_some_and(|x| x.slots.iter().any(|s| s.state != SlotState::Offered));
        let leaving = !status.is_routable();
        let agent_ref = self.agents.get_mut(a).expect("agent exists");
        if busy && leaving {
            agent_ref.next_status = Some(status);
        } else {
            if !leaving && (!agent_ref.status.is_routable() || agent_ref.missed) {
                agent_ref.idle_since = self.now;
            }
            agent_ref.status = status;
            agent_ref.next_status = None;
            agent_ref.missed = false;
        }
        self.relist(a);
        // After the status change, so withdrawn offers cannot come straight back here.
        if leaving {
            self.withdraw_offers_of(a);
        }
        self.emit_agent(a);
        self.try_agent(a);
        Ok(())
    }

    fn check_status(&self, status: &AgentStatus) -> Result<(), RoutingError> {
        match status {
            AgentStatus::Custom(name) if !self.config.custom_statuses.contains(name) => {
                Err(RoutingError::UnknownStatus(name.clone()))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn agent(&self, id: &str) -> Result<Ix, RoutingError> {
        self.agent_ix
            .get(id)
            .copied()
            .ok_or_else(|| RoutingError::UnknownAgent(id.into()))
    }

    pub(crate) fn contact_ix_of(&self, id: &str) -> Result<Ix, RoutingError> {
        self.contact_ix
            .get(id)
            .copied()
            .ok_or_else(|| RoutingError::UnknownContact(id.into()))
    }

    /// Whether the agent may be offered anything at all now.
    pub(crate) fn routable(agent: &Agent) -> bool {
        agent.status.is_routable() && !agent.missed && agent.next_status.is_none()
    }

    /// Whether the agent has room for one more contact on `channel`.
    pub(crate) fn has_room(&self, agent: &Agent, channel: usize) -> bool {
        let profile = &self.profiles[agent.profile as usize].config;
        let used = agent.slots.iter().filter(|s| s.channel == channel).count();
        let others = agent.slots.iter().any(|s| s.channel != channel);
        used < profile.concurrency[channel] as usize && (profile.cross_channel || !others)
    }

    pub(crate) fn unlist(&mut self, a: Ix) {
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        for (q, c, key) in std::mem::take(&mut agent.listed) {
            self.queues[q as usize].available[c].remove(&(key, a));
        }
    }

    fn unstaff(&mut self, a: Ix) {
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        for (q, c) in std::mem::take(&mut agent.staffing) {
            let staffed = &mut self.queues[q as usize].staffed[c];
            *staffed = staffed.saturating_sub(1);
        }
    }

    /// Recompute which availability sets the agent belongs to, and its staffing.
    pub(crate) fn relist(&mut self, a: Ix) {
        self.unlist(a);
        self.unstaff(a);
        let Some(agent) = self.agents.get(a) else {
            return;
        };
        let staffed = agent.status.is_routable() || agent.next_status.is_some();
        let routable = Self::routable(agent);
        let room: [bool; 3] = [0, 1, 2].map(|c| routable && self.has_room(agent, c));
        let key = agent.idle_since;
        let profile = agent.profile as usize;
        let Engine {
            profiles,
            queues,
            agents,
            ..
        } = self;
        let agent = agents.get_mut(a).expect("agent exists");
        for &(q, c, _, _) in &profiles[profile].entries {
            if staffed {
                agent.staffing.push((q, c));
                queues[q as usize].staffed[c] += 1;
            }
            if room[c] {
                queues[q as usize].available[c].insert((key, a));
                agent.listed.push((q, c, key));
            }
        }
    }

    pub(crate) fn snapshot(&self, a: Ix) -> Option<AgentSnapshot> {
        let agent = self.agents.get(a)?;
        Some(AgentSnapshot {
            agent: agent.id.clone(),
            status: agent.status.clone(),
            next_status: agent.next_status.clone(),
            missed: agent.missed,
            contacts: agent
                .slots
                .iter()
                .filter_map(|s| {
                    Some(AgentContact {
                        contact: self.contacts.get(s.contact)?.id.clone(),
                        channel: CHANNELS[s.channel],
                        state: s.state,
                    })
                })
                .collect(),
        })
    }

    fn emit_agent(&mut self, a: Ix) {
        if let Some(snapshot) = self.snapshot(a) {
            self.outputs.push(Output::AgentChanged { snapshot });
        }
    }

    /// The agent's state, for events and the API.
    pub fn agent_snapshot(&self, agent: &str) -> Option<AgentSnapshot> {
        self.snapshot(*self.agent_ix.get(agent)?)
    }

    // ---- contacts ----------------------------------------------------------------

    /// Put a contact in a queue (or, for a callback, schedule it).
    pub fn enqueue(
        &mut self,
        now: Millis,
        contact: &str,
        queue: &str,
        channel: Channel,
        options: EnqueueOptions,
    ) -> Result<(), RoutingError> {
        self.advance(now);
        let q = *self
            .queue_ix
            .get(queue)
            .ok_or_else(|| RoutingError::UnknownQueue(queue.into()))?;
        self.admit(contact, q, None, channel, options)
    }

    /// Whether a new contact would be admitted to `queue` (or, with `agent`, to that
    /// agent's queue) now: what [`Engine::enqueue`] and [`Engine::enqueue_for_agent`]
    /// would refuse, without changing anything. For callers that must not start work
    /// they cannot finish (a transfer that would leave the customer nowhere).
    pub fn admission(&self, queue: &str, agent: Option<&str>) -> Result<(), RoutingError> {
        let q = *self
            .queue_ix
            .get(queue)
            .ok_or_else(|| RoutingError::UnknownQueue(queue.into()))?;
        let queue = &self.queues[q as usize];
        if queue.draining {
            return Err(RoutingError::QueueDraining(queue.name.clone()));
        }
        match agent {
            Some(agent) => {
                let a = self.agent(agent)?;
                let waiting = self.agents.get(a).map_or(0, |x| x.personal.len());
                if waiting >= self.config.agent_queue_limit {
                    return Err(RoutingError::QueueAtCapacity {
                        queue: format!("agent:{agent}"),
                        max: self.config.agent_queue_limit as u32,
                    });
                }
            }
            None => {
                if let Some(max) = queue.max_contacts.filter(|&m| queue.count >= m) {
                    return Err(RoutingError::QueueAtCapacity {
                        queue: queue.name.clone(),
                        max,
                    });
                }
            }
        }
        Ok(())
    }

    /// Put a contact in one agent's personal queue (Connect's agent queue).
    pub fn enqueue_for_agent(
        &mut self,
        now: Millis,
        contact: &str,
        agent: &str,
        queue: &str,
        channel: Channel,
        options: EnqueueOptions,
    ) -> Result<(), RoutingError> {
        self.advance(now);
        let a = self.agent(agent)?;
        let q = *self
            .queue_ix
            .get(queue)
            .ok_or_else(|| RoutingError::UnknownQueue(queue.into()))?;
        let waiting = self.agents.get(a).map_or(0, |x| x.personal.len());
        if waiting >= self.config.agent_queue_limit {
            return Err(RoutingError::QueueAtCapacity {
                queue: format!("agent:{agent}"),
                max: self.config.agent_queue_limit as u32,
            });
        }
        self.admit(contact, q, Some(a), channel, options)
    }

    fn admit(
        &mut self,
        contact: &str,
        q: Ix,
        target: Option<Ix>,
        channel: Channel,
        options: EnqueueOptions,
    ) -> Result<(), RoutingError> {
        if self.contact_ix.contains_key(contact) {
            return Err(RoutingError::DuplicateContact(contact.into()));
        }
        let queue = &self.queues[q as usize];
        if queue.draining {
            return Err(RoutingError::QueueDraining(queue.name.clone()));
        }
        if let Some(max) = queue.max_contacts {
            if queue.count >= max && target.is_none() {
                return Err(RoutingError::QueueAtCapacity {
                    queue: queue.name.clone(),
                    max,
                });
            }
        }
        self.seq += 1;
        let channel = channel_index(channel);
        let arrived = self.now - options.waited_ms.max(0);
        let key = WaitKey {
            priority: options.priority.unwrap_or(DEFAULT_PRIORITY),
            effective: arrived - options.time_adjustment_seconds.saturating_mul(1000),
            seq: self.seq,
            contact: 0,
        };
        let scheduled = options.not_before.filter(|&t| t > self.now);
        let ix = self.insert_contact(Contact {
            id: contact.to_string(),
            queue: q,
            target,
            channel,
            key,
            enqueued_at: arrived,
            state: ContactState::Scheduled {
                at: scheduled.unwrap_or(self.now),
            },
            criteria: options.criteria,
            declined: Vec::new(),
            callback: options.callback,
            epoch: 0,
        });
        self.queues[q as usize].count += 1;
        if let Some(a) = target {
            self.agents
                .get_mut(a)
                .expect("checked")
                .personal
                .push_back(ix);
        }
        match scheduled {
            Some(at) => self.schedule(at, TimerKind::CallbackDue, ix),
            None => self.make_waiting(ix),
        }
        Ok(())
    }

    /// Store a new contact: its key learns its slot, and its id is indexed.
    fn insert_contact(&mut self, contact: Contact) -> Ix {
        let id = contact.id.clone();
        let (ix, _) = self.contacts.insert(contact);
        self.contacts
            .get_mut(ix)
            .expect("just inserted")
            .key
            .contact = ix;
        self.contact_ix.insert(id, ix);
        ix
    }

    /// Enter (or re-enter) the line with the contact's existing place, and try to route it.
    pub(crate) fn make_waiting(&mut self, c: Ix) {
        self.enter_line(c);
        self.try_contact(c);
    }

    /// Enter (or re-enter) the line with the contact's existing place, without routing.
    fn enter_line(&mut self, c: Ix) {
        let Some(contact) = self.contacts.get_mut(c) else {
            return;
        };
        contact.state = ContactState::Waiting;
        contact.epoch += 1;
        let (q, ch, key, personal) = (
            contact.queue,
            contact.channel,
            contact.key,
            contact.target.is_some(),
        );
        if !personal {
            self.queues[q as usize].waiting[ch].insert(key);
        }
        self.schedule_rechecks(c);
    }

    /// A timer for the next moment a delay, a criteria step or a decline cool-down
    /// changes who may take the contact.
    fn schedule_rechecks(&mut self, c: Ix) {
        let Some(contact) = self.contacts.get(c) else {
            return;
        };
        let waited = self.now - contact.enqueued_at;
        let delays = self.queues[contact.queue as usize].delays[contact.channel]
            .iter()
            .filter(|&&d| d > waited)
            .map(|&d| contact.enqueued_at + d);
        let step = contact
            .criteria
            .as_ref()
            .and_then(|cr| cr.next_change(waited))
            .map(|change| contact.enqueued_at + change);
        let cooldowns = contact
            .declined
            .iter()
            .map(|d| d.2)
            .filter(|&until| until > self.now);
        if let Some(at) = delays.chain(step).chain(cooldowns).min() {
            self.schedule(at, TimerKind::Recheck, c);
        }
    }

    fn leave_line(&mut self, c: Ix) {
        let Some(contact) = self.contacts.get(c) else {
            return;
        };
        let (q, ch, key, target) = (contact.queue, contact.channel, contact.key, contact.target);
        self.queues[q as usize].waiting[ch].remove(&key);
        if let Some(a) = target {
            if let Some(agent) = self.agents.get_mut(a) {
                agent.personal.retain(|&x| x != c);
            }
        }
    }

    /// The contact is done with routing: out of its queue's count, and forgotten
    /// unless an agent still wraps it up.
    fn release_from_queue(&mut self, c: Ix, reason: DequeueReason) {
        let Some(contact) = self.contacts.get(c) else {
            return;
        };
        let (q, id) = (contact.queue, contact.id.clone());
        let queue = &mut self.queues[q as usize];
        queue.count = queue.count.saturating_sub(1);
        self.outputs.push(Output::Dequeued {
            contact: id,
            queue: queue.name.clone(),
            reason,
        });
        self.drop_drained_queue(q);
    }

    fn drop_drained_queue(&mut self, q: Ix) {
        let queue = &self.queues[q as usize];
        if !queue.draining || queue.count > 0 {
            return;
        }
        // Agents stop serving a drained queue.
        for p in &mut self.profiles {
            p.entries.retain(|e| e.0 != q);
        }
        for a in self.agent_ixs() {
            self.relist(a);
        }
    }

    fn forget(&mut self, c: Ix) {
        if let Some(contact) = self.contacts.remove(c) {
            self.contact_ix.remove(&contact.id);
        }
    }

    /// The customer left (hung up, closed the chat) before an agent connected; or the
    /// contact ended while connected, which starts the agent's after-contact work.
    pub fn end(&mut self, now: Millis, contact: &str) -> Result<(), RoutingError> {
        self.advance(now);
        let c = self.contact_ix_of(contact)?;
        let state = self.contacts.get(c).expect("indexed").state.clone();
        match state {
            ContactState::Scheduled { .. } | ContactState::Waiting => {
                self.leave_line(c);
                self.release_from_queue(c, DequeueReason::Abandoned);
                self.forget(c);
            }
            ContactState::Offered { agent, .. } => {
                self.withdraw(c, agent, WithdrawReason::ContactLeft);
                self.release_from_queue(c, DequeueReason::Abandoned);
                self.forget(c);
                self.try_agent(agent);
            }
            ContactState::Connected { agent, since } => self.start_after_work(c, agent, since),
            ContactState::AfterWork { .. } => {}
        }
        Ok(())
    }

    fn start_after_work(&mut self, c: Ix, a: Ix, since: Millis) {
        let handled = (self.now - since).max(0) as f64;
        let contact = self.contacts.get_mut(c).expect("exists");
        contact.state = ContactState::AfterWork { agent: a };
        contact.epoch += 1;
        let q = contact.queue;
        let aht = &mut self.queues[q as usize].aht_ms;
        *aht = *aht * (1.0 - AHT_WEIGHT) + handled * AHT_WEIGHT;
        let agent = self.agents.get_mut(a).expect("exists");
        for slot in agent.slots.iter_mut().filter(|s| s.contact == c) {
            slot.state = SlotState::AfterContactWork;
        }
        let timeout = agent.config.acw_timeout_ms;
        if let Some(t) = timeout {
            self.schedule(self.now + t.max(0), TimerKind::AfterWork, c);
        }
        self.emit_agent(a);
    }

    /// The agent finished after-contact work on `contact`.
    pub fn after_work_done(
        &mut self,
        now: Millis,
        agent: &str,
        contact: &str,
    ) -> Result<(), RoutingError> {
        self.advance(now);
        let a = self.agent(agent)?;
        let c = self.contact_ix_of(contact)?;
        match self.contacts.get(c).map(|x| &x.state) {
            Some(ContactState::AfterWork { agent: holder }) if *holder == a => {}
            _ => {
                return Err(RoutingError::NotConnected {
                    agent: agent.into(),
                    contact: contact.into(),
                })
            }
        }
        self.finish_after_work(c, a);
        Ok(())
    }

    fn finish_after_work(&mut self, c: Ix, a: Ix) {
        self.forget(c);
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        agent.slots.retain(|s| s.contact != c);
        agent.idle_since = self.now;
        if agent.slots.is_empty() {
            if let Some(next) = agent.next_status.take() {
                agent.status = next;
            }
        }
        self.relist(a);
        self.emit_agent(a);
        self.try_agent(a);
    }

    /// The agent accepts an offer: the contact leaves its queue, connected.
    pub fn accept(&mut self, now: Millis, agent: &str, contact: &str) -> Result<(), RoutingError> {
        self.advance(now);
        let (a, c) = self.offer_of(agent, contact)?;
        let x = self.contacts.get_mut(c).expect("exists");
        x.state = ContactState::Connected {
            agent: a,
            since: self.now,
        };
        x.epoch += 1;
        let agent_ref = self.agents.get_mut(a).expect("exists");
        for slot in agent_ref.slots.iter_mut().filter(|s| s.contact == c) {
            slot.state = SlotState::Connected;
        }
        self.release_from_queue(c, DequeueReason::ConnectedToAgent);
        self.emit_agent(a);
        Ok(())
    }

    /// The agent declines an offer: the contact keeps its place in line.
    pub fn reject(&mut self, now: Millis, agent: &str, contact: &str) -> Result<(), RoutingError> {
        self.advance(now);
        let (a, c) = self.offer_of(agent, contact)?;
        self.take_back_offer(c, a, WithdrawReason::Rejected);
        Ok(())
    }

    /// Take over a contact already with `agent` (connected, or in after-contact work)
    /// — what a restarted runtime does when the agent logs back in.
    pub fn adopt(
        &mut self,
        now: Millis,
        agent: &str,
        held: HeldContact<'_>,
    ) -> Result<(), RoutingError> {
        let HeldContact {
            contact,
            queue,
            channel,
            connected_since,
            after_work_since,
        } = held;
        self.advance(now);
        let a = self.agent(agent)?;
        if self.contact_ix.contains_key(contact) {
            return Err(RoutingError::DuplicateContact(contact.into()));
        }
        let q = *self
            .queue_ix
            .get(queue)
            .ok_or_else(|| RoutingError::UnknownQueue(queue.into()))?;
        self.seq += 1;
        let channel = channel_index(channel);
        let state = if after_work_since.is_some() {
            ContactState::AfterWork { agent: a }
        } else {
            ContactState::Connected {
                agent: a,
                since: connected_since,
            }
        };
        let ix = self.insert_contact(Contact {
            id: contact.to_string(),
            queue: q,
            target: None,
            channel,
            key: WaitKey {
                priority: DEFAULT_PRIORITY,
                effective: connected_since,
                seq: self.seq,
                contact: 0,
            },
            enqueued_at: connected_since,
            state,
            criteria: None,
            declined: Vec::new(),
            callback: None,
            epoch: 0,
        });
        let slot_state = if after_work_since.is_some() {
            SlotState::AfterContactWork
        } else {
            SlotState::Connected
        };
        let agent_ref = self.agents.get_mut(a).expect("exists");
        agent_ref.slots.push(Slot {
            contact: ix,
            channel,
            state: slot_state,
        });
        if let (Some(since), Some(t)) = (after_work_since, agent_ref.config.acw_timeout_ms) {
            // Already over: ends at the next tick.
            self.schedule((since + t.max(0)).max(self.now), TimerKind::AfterWork, ix);
        }
        self.relist(a);
        self.emit_agent(a);
        Ok(())
    }

    /// The (agent, contact) slots of an offer that stands, or why there is none.
    fn offer_of(&self, agent: &str, contact: &str) -> Result<(Ix, Ix), RoutingError> {
        let a = self.agent(agent)?;
        let c = self.contact_ix.get(contact).copied();
        let offered = c.and_then(|c| self.contacts.get(c)).is_some_and(
            |x| matches!(x.state, ContactState::Offered { agent: holder, .. } if holder == a),
        );
        match (c, offered) {
            (Some(c), true) => Ok((a, c)),
            _ => Err(RoutingError::NoSuchOffer {
                agent: agent.into(),
                contact: contact.into(),
            }),
        }
    }

    /// A connected contact goes to another queue (a transfer); the agent starts
    /// after-contact work on it under its old id, and `new_contact` enters `queue`.
    pub fn transfer(
        &mut self,
        now: Millis,
        contact: &str,
        new_contact: &str,
        queue: &str,
        options: EnqueueOptions,
    ) -> Result<(), RoutingError> {
        self.advance(now);
        let c = self.contact_ix_of(contact)?;
        let q = *self
            .queue_ix
            .get(queue)
            .ok_or_else(|| RoutingError::UnknownQueue(queue.into()))?;
        let channel = CHANNELS[self.contacts.get(c).expect("indexed").channel];
        match self.contacts.get(c).expect("indexed").state.clone() {
            ContactState::Connected { agent, since } => {
                self.admit(new_contact, q, None, channel, options)?;
                self.start_after_work(c, agent, since);
                Ok(())
            }
            ContactState::Waiting => {
                // A queue flow moving the contact on (DequeueContactAndTransferToQueue).
                self.admit(new_contact, q, None, channel, options)?;
                self.leave_line(c);
                self.release_from_queue(c, DequeueReason::Transferred);
                self.forget(c);
                Ok(())
            }
            _ => Err(RoutingError::NotConnected {
                agent: String::new(),
                contact: contact.into(),
            }),
        }
    }

    /// A queue flow moves a waiting contact to another queue
    /// (DequeueContactAndTransferToQueue): it leaves its line and joins `queue`'s under
    /// the same id, as a new arrival there. Only a contact waiting in line moves (one
    /// being offered is the agent's to take or miss); nothing changes when the new queue
    /// refuses it (full, or being removed).
    pub fn move_to_queue(
        &mut self,
        now: Millis,
        contact: &str,
        queue: &str,
        options: EnqueueOptions,
    ) -> Result<(), RoutingError> {
        self.advance(now);
        let c = self.contact_ix_of(contact)?;
        let q = *self
            .queue_ix
            .get(queue)
            .ok_or_else(|| RoutingError::UnknownQueue(queue.into()))?;
        let moving = self.contacts.get(c).expect("indexed");
        if !matches!(moving.state, ContactState::Waiting) {
            return Err(RoutingError::NotWaiting(contact.into()));
        }
        if moving.queue != q {
            let target = &self.queues[q as usize];
            if target.draining {
                return Err(RoutingError::QueueDraining(target.name.clone()));
            }
            if let Some(max) = target.max_contacts.filter(|&max| target.count >= max) {
                return Err(RoutingError::QueueAtCapacity {
                    queue: target.name.clone(),
                    max,
                });
            }
        }
        let channel = CHANNELS[moving.channel];
        self.leave_line(c);
        self.release_from_queue(c, DequeueReason::Transferred);
        self.forget(c);
        self.admit(contact, q, None, channel, options)
    }

    /// A queued callback's dial did not reach the customer: try again after the gap,
    /// or give up when no attempts are left. The agent wraps up either way.
    pub fn callback_failed(&mut self, now: Millis, contact: &str) -> Result<(), RoutingError> {
        self.advance(now);
        let c = self.contact_ix_of(contact)?;
        let x = self.contacts.get(c).expect("indexed");
        let ContactState::Connected { agent, .. } = x.state else {
            return Err(RoutingError::NotConnected {
                agent: String::new(),
                contact: contact.into(),
            });
        };
        let policy = x.callback.unwrap_or(CallbackPolicy {
            attempts_left: 1,
            retry_gap_ms: 0,
        });
        let (id, q, ch) = (x.id.clone(), x.queue, x.channel);
        // The agent's slot is released at once: there was no conversation to wrap up.
        self.forget(c);
        if let Some(agent_ref) = self.agents.get_mut(agent) {
            agent_ref.slots.retain(|s| s.contact != c);
            agent_ref.idle_since = self.now;
        }
        self.relist(agent);
        self.emit_agent(agent);
        if policy.attempts_left > 1 {
            let again = EnqueueOptions {
                not_before: Some(self.now + policy.retry_gap_ms),
                callback: Some(CallbackPolicy {
                    attempts_left: policy.attempts_left - 1,
                    ..policy
                }),
                ..EnqueueOptions::default()
            };
            // Re-admitted regardless of capacity: it was admitted once already.
            let saved_max = self.queues[q as usize].max_contacts.take();
            let result = self.admit(&id, q, None, CHANNELS[ch], again);
            self.queues[q as usize].max_contacts = saved_max;
            result?;
        } else {
            self.outputs.push(Output::Dequeued {
                contact: id,
                queue: self.queues[q as usize].name.clone(),
                reason: DequeueReason::Expired,
            });
        }
        self.try_agent(agent);
        Ok(())
    }

    // ---- offers ------------------------------------------------------------------

    pub(crate) fn offer(&mut self, c: Ix, a: Ix, explanation: OfferExplanation) {
        if self.audit.is_some() {
            let broken = self.check_line_order(c, a).err();
            if let (Some(log), Some(broken)) = (self.audit.as_mut(), broken) {
                log.push(format!("at {} ms: {broken}", self.now));
            }
        }
        self.leave_line(c);
        let expires =
            self.now + self.config.offer_timeout_ms[self.contacts.get(c).expect("exists").channel];
        let contact = self.contacts.get_mut(c).expect("exists");
        contact.state = ContactState::Offered { agent: a, expires };
        contact.epoch += 1;
        let (id, q, ch) = (contact.id.clone(), contact.queue, contact.channel);
        let agent = self.agents.get_mut(a).expect("exists");
        agent.slots.push(Slot {
            contact: c,
            channel: ch,
            state: SlotState::Offered,
        });
        let agent_id = agent.id.clone();
        self.relist(a);
        self.schedule(expires, TimerKind::OfferExpiry, c);
        self.remember(id.clone(), explanation);
        self.outputs.push(Output::Offer {
            contact: id,
            agent: agent_id,
            queue: self.queues[q as usize].name.clone(),
            channel: CHANNELS[ch],
            expires_at: expires,
        });
        self.emit_agent(a);
    }

    fn remember(&mut self, contact: String, explanation: OfferExplanation) {
        if self
            .explanations
            .insert(contact.clone(), explanation)
            .is_none()
        {
            self.explanation_order.push_back(contact);
            if self.explanation_order.len() > EXPLANATIONS_KEPT {
                if let Some(old) = self.explanation_order.pop_front() {
                    self.explanations.remove(&old);
                }
            }
        }
    }

    /// Remove an offer from the agent's slots and say so.
    fn withdraw(&mut self, c: Ix, a: Ix, reason: WithdrawReason) {
        let contact_id = self
            .contacts
            .get(c)
            .map(|x| x.id.clone())
            .unwrap_or_default();
        if let Some(agent) = self.agents.get_mut(a) {
            agent.slots.retain(|s| s.contact != c);
            let agent_id = agent.id.clone();
            self.relist(a);
            self.outputs.push(Output::OfferWithdrawn {
                contact: contact_id,
                agent: agent_id,
                reason,
            });
            self.emit_agent(a);
        }
    }

    /// An offer comes back unaccepted: the contact returns to its place in line; a
    /// missed offer also takes the agent out of routing until it sets a status.
    fn take_back_offer(&mut self, c: Ix, a: Ix, reason: WithdrawReason) {
        if reason == WithdrawReason::Missed {
            if let Some(agent) = self.agents.get_mut(a) {
                agent.missed = true;
            }
        }
        let until = self.now + DECLINE_COOLDOWN_MS;
        let generation = self.agents.generation(a);
        if let Some(contact) = self.contacts.get_mut(c) {
            contact.declined.retain(|&(x, _, _)| x != a);
            if contact.target.is_none() {
                contact.declined.push((a, generation, until));
            }
            if let Some(target) = contact.target {
                // An agent-queue contact goes back to that agent's queue.
                if let Some(agent) = self.agents.get_mut(target) {
                    agent.personal.push_front(c);
                }
            }
        }
        self.withdraw(c, a, reason);
        self.make_waiting(c);
        self.try_agent(a);
    }

    fn withdraw_offers_of(&mut self, a: Ix) {
        let offered: Vec<Ix> = self
            .agents
            .get(a)
            .map(|x| {
                x.slots
                    .iter()
                    .filter(|s| s.state == SlotState::Offered)
                    .map(|s| s.contact)
                    .collect()
            })
            .unwrap_or_default();
        for c in offered {
            self.withdraw(c, a, WithdrawReason::AgentUnavailable);
            if let Some(contact) = self.contacts.get(c) {
                if let Some(target) = contact.target {
                    if let Some(agent) = self.agents.get_mut(target) {
                        agent.personal.push_front(c);
                    }
                }
            }
            self.make_waiting(c);
        }
    }

    // ---- queries -----------------------------------------------------------------

    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.iter().map(|q| q.name.as_str())
    }

    /// Contacts waiting (not yet offered) in a queue on a channel.
    pub fn waiting_count(&self, queue: &str, channel: Channel) -> usize {
        self.queue_ix.get(queue).map_or(0, |&q| {
            self.queues[q as usize].waiting[channel_index(channel)].len()
        })
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    pub fn contact_count(&self) -> usize {
        self.contacts.len()
    }
}
