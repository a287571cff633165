//! What routing needs from the instance's configuration.

use sb_model::config::{AgentStatus, AgentStatusKind, Proficiency, Queue, RoutingProfile};
use sb_model::Channel;
use serde::{Deserialize, Serialize};

use crate::types::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingConfig {
    pub queues: Vec<QueueConfig>,
    pub profiles: Vec<ProfileConfig>,
    /// How long an agent has to accept an offer, per channel (voice, chat, task).
    pub offer_timeout_ms: [Millis; 3],
    /// Contacts that may wait in one agent's personal queue (Connect: 10).
    pub agent_queue_limit: usize,
    /// The custom (non-productive) statuses agents may set.
    pub custom_statuses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueConfig {
    pub name: String,
    pub max_contacts: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileConfig {
    pub name: String,
    /// Contacts at once, per channel (voice, chat, task).
    pub concurrency: [u8; 3],
    /// Whether an agent on a contact of one channel may be offered another channel.
    pub cross_channel: bool,
    pub entries: Vec<ProfileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileEntry {
    pub queue: String,
    pub channel: Channel,
    /// Lower is served first.
    pub priority: u8,
    pub delay_ms: Millis,
}

/// Per agent, given at login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    pub routing_profile: String,
    #[serde(default)]
    pub proficiencies: Vec<Proficiency>,
    /// After-contact work ends by itself after this long; `None`: when the agent says.
    pub acw_timeout_ms: Option<Millis>,
}

pub(crate) fn channel_index(channel: Channel) -> usize {
    match channel {
        Channel::Voice => 0,
        Channel::Chat => 1,
        Channel::Task => 2,
    }
}

/// The channel of an index from [`channel_index`].
pub(crate) fn channel_of_index(index: usize) -> Channel {
    match index {
        0 => Channel::Voice,
        1 => Channel::Chat,
        _ => Channel::Task,
    }
}

impl RoutingConfig {
    pub const DEFAULT_OFFER_TIMEOUT_MS: Millis = 20_000;

    /// Routing's view of a spec's queues and routing profiles.
    pub fn from_model<'a>(
        queues: impl IntoIterator<Item = &'a Queue>,
        profiles: impl IntoIterator<Item = &'a RoutingProfile>,
        statuses: impl IntoIterator<Item = &'a AgentStatus>,
    ) -> Self {
        RoutingConfig {
            queues: queues
                .into_iter()
                .map(|q| QueueConfig {
                    name: q.name.to_string(),
                    max_contacts: q.max_contacts,
                })
                .collect(),
            profiles: profiles
                .into_iter()
                .map(|p| ProfileConfig {
                    name: p.name.to_string(),
                    concurrency: [p.concurrency.voice, p.concurrency.chat, p.concurrency.task],
                    cross_channel: p.cross_channel,
                    entries: p
                        .queues
                        .iter()
                        .map(|e| ProfileEntry {
                            queue: e.queue.to_string(),
                            channel: e.channel,
                            priority: e.priority,
                            delay_ms: Millis::from(e.delay_seconds) * 1000,
                        })
                        .collect(),
                })
                .collect(),
            offer_timeout_ms: [Self::DEFAULT_OFFER_TIMEOUT_MS; 3],
            agent_queue_limit: 10,
            custom_statuses: statuses
                .into_iter()
                .filter(|s| s.kind == AgentStatusKind::Custom)
                .map(|s| s.name.to_string())
                .collect(),
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for q in &self.queues {
            if !names.insert(q.name.as_str()) {
                return Err(format!("queue '{}' is declared twice", q.name));
            }
        }
        for p in &self.profiles {
            for e in &p.entries {
                if !names.contains(e.queue.as_str()) {
                    return Err(format!(
                        "routing profile '{}' names unknown queue '{}'",
                        p.name, e.queue
                    ));
                }
            }
        }
        Ok(())
    }
}
