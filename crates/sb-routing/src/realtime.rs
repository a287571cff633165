//! Real-time metrics with Amazon Connect's names and definitions (GetCurrentMetricData),
//! computed from a snapshot of the engine so that readers never touch live state.
//!
//! The owner takes a [`RealtimeSnapshot`] after changes (cheap: one pass over agents
//! and contacts) and publishes it; any number of readers then call
//! [`current_metrics`] on it with their own filters and groupings.

use std::collections::{BTreeMap, BTreeSet};

use sb_model::Channel;
use serde::{Deserialize, Serialize};

use crate::engine::{ContactState, Engine, CHANNELS};
use crate::{AgentStatus, Millis, SlotState};

/// The metrics, in Connect's spelling.
pub const METRICS: [&str; 12] = [
    "AGENTS_ONLINE",
    "AGENTS_AVAILABLE",
    "AGENTS_ON_CONTACT",
    "AGENTS_STAFFED",
    "AGENTS_AFTER_CONTACT_WORK",
    "AGENTS_NON_PRODUCTIVE",
    "AGENTS_ERROR",
    "CONTACTS_IN_QUEUE",
    "CONTACTS_SCHEDULED",
    "OLDEST_CONTACT_AGE",
    "SLOTS_ACTIVE",
    "SLOTS_AVAILABLE",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Grouping {
    Queue,
    Channel,
    RoutingProfile,
}

impl Grouping {
    pub fn parse(name: &str) -> Option<Grouping> {
        match name {
            "QUEUE" => Some(Grouping::Queue),
            "CHANNEL" => Some(Grouping::Channel),
            "ROUTING_PROFILE" => Some(Grouping::RoutingProfile),
            _ => None,
        }
    }
}

/// Which queues, channels and routing profiles count; `None` means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricFilter {
    pub queues: Option<BTreeSet<String>>,
    pub channels: Option<BTreeSet<Channel>>,
    pub routing_profiles: Option<BTreeSet<String>>,
}

impl MetricFilter {
    fn admits(&self, queue: &str, channel: Channel, profile: Option<&str>) -> bool {
        self.queues.as_ref().is_none_or(|q| q.contains(queue))
            && self.channels.as_ref().is_none_or(|c| c.contains(&channel))
            && match (&self.routing_profiles, profile) {
                (None, _) => true,
                (Some(p), Some(profile)) => p.contains(profile),
                (Some(_), None) => false,
            }
    }
}

/// One agent as metrics see it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentLine {
    pub profile: String,
    pub status: AgentStatus,
    pub missed: bool,
    /// Slots per channel: (capacity, in use, free for a new contact now).
    pub slots: [(u32, u32, u32); 3],
    pub connected: bool,
    pub after_work: bool,
}

/// One contact routing holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactLine {
    pub queue: String,
    pub channel: Channel,
    /// Waiting or offered (still in queue, as Connect counts it).
    pub in_queue: bool,
    /// A callback waiting for its time.
    pub scheduled: bool,
    pub enqueued_at: Millis,
}

/// Everything real-time metrics are computed from, at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RealtimeSnapshot {
    /// Bumped for every snapshot taken, so readers can cache per snapshot.
    pub generation: u64,
    pub at: Millis,
    /// When the oldest change this snapshot is the first to show happened (set by its
    /// publisher), so readers can tell change-to-view latency.
    pub changed_at: Millis,
    pub agents: Vec<AgentLine>,
    pub contacts: Vec<ContactLine>,
    /// (queue, channel) → the routing profiles serving it.
    pub serving: BTreeMap<(String, Channel), Vec<String>>,
}

/// One row of the answer: the group's dimensions and each metric's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub dimensions: BTreeMap<Grouping, String>,
    /// Counts, except OLDEST_CONTACT_AGE in seconds.
    pub metrics: BTreeMap<&'static str, u64>,
}

impl Engine {
    /// A copy of what real-time metrics need.
    pub fn realtime_snapshot(&self, generation: u64) -> RealtimeSnapshot {
        let mut serving: BTreeMap<(String, Channel), Vec<String>> = BTreeMap::new();
        for profile in self.profiles.iter().filter(|p| !p.retired) {
            for &(queue, channel, _, _) in &profile.entries {
                serving
                    .entry((self.queues[queue as usize].name.clone(), CHANNELS[channel]))
                    .or_default()
                    .push(profile.config.name.clone());
            }
        }
        let agents = self
            .agents
            .iter()
            .map(|(_, agent)| {
                let profile = &self.profiles[agent.profile as usize].config;
                let busy_elsewhere = |channel: usize| {
                    !profile.cross_channel && agent.slots.iter().any(|s| s.channel != channel)
                };
                // The engine's own test: an agent going to another status after its
                // contacts is offered nothing new, so has no free slot here either.
                let routable = Engine::routable(agent);
                let slots = std::array::from_fn(|channel| {
                    let capacity = u32::from(profile.concurrency[channel]);
                    let used = agent.slots.iter().filter(|s| s.channel == channel).count() as u32;
                    let free = if routable && !busy_elsewhere(channel) {
                        capacity.saturating_sub(used)
                    } else {
                        0
                    };
                    (capacity, used, free)
                });
                AgentLine {
                    profile: profile.name.clone(),
                    status: agent.status.clone(),
                    missed: agent.missed,
                    slots,
                    connected: agent.slots.iter().any(|s| s.state == SlotState::Connected),
                    after_work: agent
                        .slots
                        .iter()
                        .any(|s| s.state == SlotState::AfterContactWork),
                }
            })
            .collect();
        let contacts = self
            .contacts
            .iter()
            .filter_map(|(_, c)| {
                let (in_queue, scheduled) = match c.state {
                    ContactState::Waiting | ContactState::Offered { .. } => (true, false),
                    ContactState::Scheduled { .. } => (false, true),
                    _ => return None,
                };
                Some(ContactLine {
                    queue: self.queues[c.queue as usize].name.clone(),
                    channel: CHANNELS[c.channel],
                    in_queue,
                    scheduled,
                    enqueued_at: c.enqueued_at,
                })
            })
            .collect();
        RealtimeSnapshot {
            generation,
            at: self.now,
            changed_at: self.now,
            agents,
            contacts,
            serving,
        }
    }
}

type GroupKey = BTreeMap<Grouping, String>;

fn key_of(groupings: &[Grouping], queue: &str, channel: Channel, profile: &str) -> GroupKey {
    groupings
        .iter()
        .map(|g| {
            let value = match g {
                Grouping::Queue => queue.to_string(),
                Grouping::Channel => channel.as_str().to_string(),
                Grouping::RoutingProfile => profile.to_string(),
            };
            (*g, value)
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    /// (agent index, channel index) pairs in the group: agents count once, slots once
    /// per channel.
    agent_channels: BTreeSet<(usize, usize)>,
    in_queue: u64,
    scheduled: u64,
    oldest_ms: Millis,
}

/// The metrics for `filter`, one row per group (one row in all without groupings), at
/// time `now` (for contact ages). Groups with nothing in them still get a row when the
/// configuration defines them, so a wallboard shows zeros rather than gaps.
pub fn current_metrics(
    snapshot: &RealtimeSnapshot,
    filter: &MetricFilter,
    groupings: &[Grouping],
    now: Millis,
) -> Vec<MetricRow> {
    let mut groups: BTreeMap<GroupKey, Tally> = BTreeMap::new();
    for ((queue, channel), profiles) in &snapshot.serving {
        for profile in profiles {
            if filter.admits(queue, *channel, Some(profile)) {
                groups
                    .entry(key_of(groupings, queue, *channel, profile))
                    .or_default();
            }
        }
    }
    let profiles_of = |queue: &str, channel: Channel| -> Vec<&str> {
        snapshot
            .serving
            .get(&(queue.to_string(), channel))
            .map(|p| p.iter().map(String::as_str).collect())
            .unwrap_or_default()
    };
    for (ix, agent) in snapshot.agents.iter().enumerate() {
        for ((queue, channel), profiles) in &snapshot.serving {
            if !profiles.contains(&agent.profile)
                || !filter.admits(queue, *channel, Some(&agent.profile))
            {
                continue;
            }
            let channel_ix = Channel::ALL.iter().position(|c| c == channel).unwrap_or(0);
            groups
                .entry(key_of(groupings, queue, *channel, &agent.profile))
                .or_default()
                .agent_channels
                .insert((ix, channel_ix));
        }
    }
    for contact in &snapshot.contacts {
        let mut profiles = profiles_of(&contact.queue, contact.channel);
        if profiles.is_empty() {
            // A queue no profile serves still has a line; it shows under no profile.
            profiles.push("");
        }
        // Grouped by profile, a contact counts under every profile that could take it;
        // otherwise once.
        let keys: BTreeSet<GroupKey> = profiles
            .into_iter()
            .filter(|p| {
                let profile = (!p.is_empty()).then_some(*p);
                filter.admits(&contact.queue, contact.channel, profile)
            })
            .map(|p| key_of(groupings, &contact.queue, contact.channel, p))
            .collect();
        for key in keys {
            let tally = groups.entry(key).or_default();
            if contact.in_queue {
                tally.in_queue += 1;
                tally.oldest_ms = tally.oldest_ms.max(now - contact.enqueued_at);
            }
            if contact.scheduled {
                tally.scheduled += 1;
            }
        }
    }
    groups
        .into_iter()
        .map(|(dimensions, tally)| MetricRow {
            dimensions,
            metrics: values(snapshot, &tally),
        })
        .collect()
}

fn values(snapshot: &RealtimeSnapshot, tally: &Tally) -> BTreeMap<&'static str, u64> {
    let agents: BTreeSet<usize> = tally.agent_channels.iter().map(|&(a, _)| a).collect();
    let count = |pred: &dyn Fn(&AgentLine) -> bool| {
        agents
            .iter()
            .filter(|&&a| pred(&snapshot.agents[a]))
            .count() as u64
    };
    let (mut active, mut available) = (0u64, 0u64);
    for &(a, channel) in &tally.agent_channels {
        let (_, used, free) = snapshot.agents[a].slots[channel];
        active += u64::from(used);
        available += u64::from(free);
    }
    let online = |a: &AgentLine| a.status != AgentStatus::Offline;
    let custom = |a: &AgentLine| matches!(a.status, AgentStatus::Custom(_));
    BTreeMap::from([
        ("AGENTS_ONLINE", count(&online)),
        (
            "AGENTS_AVAILABLE",
            // A free slot is one the engine would offer a contact into.
            count(&|a| a.slots.iter().any(|&(_, _, free)| free > 0)),
        ),
        ("AGENTS_ON_CONTACT", count(&|a| a.connected)),
        (
            "AGENTS_STAFFED",
            count(&|a| online(a) && (!custom(a) || a.connected || a.after_work)),
        ),
        ("AGENTS_AFTER_CONTACT_WORK", count(&|a| a.after_work)),
        ("AGENTS_NON_PRODUCTIVE", count(&custom)),
        ("AGENTS_ERROR", count(&|a| a.missed)),
        ("CONTACTS_IN_QUEUE", tally.in_queue),
        ("CONTACTS_SCHEDULED", tally.scheduled),
        ("OLDEST_CONTACT_AGE", (tally.oldest_ms / 1000).max(0) as u64),
        ("SLOTS_ACTIVE", active),
        ("SLOTS_AVAILABLE", available),
    ])
}
