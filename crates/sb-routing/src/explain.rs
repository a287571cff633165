//! Why routing did what it did: for each offer, and for each contact still waiting.

use serde::{Deserialize, Serialize};

use crate::engine::{ContactState, Engine, Ix};
use crate::types::{AgentStatus, Millis};

/// Why an agent was offered a contact. Kept as data on the hot path; the words are
/// made only when a supervisor asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferExplanation {
    pub contact: String,
    pub agent: String,
    pub queue: String,
    pub at: Millis,
    pub rule: OfferRule,
    /// Since when the agent had been available.
    pub agent_available_since: Millis,
    /// How long the contact had waited.
    pub waited_ms: Millis,
    /// The profile priority of the queue it came from.
    pub priority: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferRule {
    /// The contact waited in this agent's own queue, served first.
    AgentQueue,
    /// The agent was the one available longest among those eligible, and this was the
    /// first eligible contact in its highest-priority queues.
    LongestAvailableFirstInLine,
}

impl OfferExplanation {
    pub(crate) fn new(engine: &Engine, c: Ix, a: Ix, rule: OfferRule, priority: u8) -> Self {
        let contact = engine.contacts.get(c).expect("exists");
        let agent = engine.agents.get(a).expect("exists");
        OfferExplanation {
            contact: contact.id.clone(),
            agent: agent.id.clone(),
            queue: engine.queues[contact.queue as usize].name.clone(),
            at: engine.now,
            rule,
            agent_available_since: agent.idle_since,
            waited_ms: engine.now - contact.enqueued_at,
            priority,
        }
    }

    /// The decision in words.
    pub fn reason(&self) -> String {
        match self.rule {
            OfferRule::AgentQueue => format!(
                "{} was waiting in {}'s own agent queue, which is served before any other queue",
                self.contact, self.agent
            ),
            OfferRule::LongestAvailableFirstInLine => format!(
                "{} had been available for {}, longest among the agents eligible for it; {} was the first eligible contact (waiting {}) in {}'s highest-priority queues (priority {}, queue {})",
                self.agent, seconds(self.at - self.agent_available_since), self.contact, seconds(self.waited_ms), self.agent, self.priority, self.queue
            ),
        }
    }
}

/// A span in words, to the tenth of a second: people read these, not programs (the
/// structured fields carry the milliseconds).
fn seconds(ms: i64) -> String {
    format!("{:.1} s", ms.max(0) as f64 / 1000.0)
}

/// Why a contact is where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactExplanation {
    pub contact: String,
    pub queue: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<crate::QueuePosition>,
    /// Agents whose routing profile serves this queue on this channel, by why each is
    /// not taking the contact.
    pub agents_by_reason: Vec<(String, usize)>,
    /// A few named examples per reason.
    pub examples: Vec<(String, String)>,
    /// What stands out when no agent could take the contact: no routing profile serves
    /// the queue on this channel (it is never offered), or no agent of one is logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_offer: Option<OfferExplanation>,
}

impl Engine {
    /// Why the last offer of `contact` went to the agent it went to.
    pub fn explain_offer(&self, contact: &str) -> Option<&OfferExplanation> {
        self.explanations.get(contact)
    }

    /// Why `contact` is still waiting (or what happened to it).
    pub fn explain_contact(&self, contact: &str) -> Option<ContactExplanation> {
        let c = *self.contact_ix.get(contact)?;
        let x = self.contacts.get(c)?;
        let state = match &x.state {
            ContactState::Scheduled { at } => {
                format!("scheduled callback, due in {}", seconds(at - self.now))
            }
            ContactState::Waiting => "waiting".into(),
            ContactState::Offered { agent, expires } => format!(
                "offered to {}, {} left to accept",
                self.agents.get(*agent).map_or("?", |a| a.id.as_str()),
                seconds(expires - self.now)
            ),
            ContactState::Connected { agent, .. } => format!(
                "connected to {}",
                self.agents.get(*agent).map_or("?", |a| a.id.as_str())
            ),
            ContactState::AfterWork { agent } => format!(
                "ended; {} is wrapping up",
                self.agents.get(*agent).map_or("?", |a| a.id.as_str())
            ),
        };
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        let mut examples = Vec::new();
        for (a, agent) in self.agents.iter() {
            let Some(&(_, _, _, delay)) = self.profiles[agent.profile as usize]
                .entries
                .iter()
                .find(|e| e.0 == x.queue && e.1 == x.channel)
            else {
                continue;
            };
            let waited = self.now - x.enqueued_at;
            let reason = if agent.status == AgentStatus::Offline {
                "offline".to_string()
            } else if let AgentStatus::Custom(name) = &agent.status {
                format!("in status {name}")
            } else if agent.missed {
                "missed an offer; must set a status".into()
            } else if let Some(next) = &agent.next_status {
                format!("going to {} after current contacts", next.name())
            } else if !self.has_room(agent, x.channel) {
                "no free slot for this channel".into()
            } else if waited < delay {
                format!(
                    "profile delays this queue {} s; contact waited {} s",
                    delay / 1000,
                    waited / 1000
                )
            } else if x.declined.iter().any(|&(d, generation, until)| {
                d == a && generation == self.agents.generation(a) && self.now < until
            }) {
                "declined this contact recently".into()
            } else if let Some(step) = x
                .criteria
                .as_ref()
                .and_then(|cr| cr.active_step(waited))
                .map(|(_, step)| step)
                .filter(|step| {
                    !step
                        .expression
                        .matches(&agent.id, &agent.config.proficiencies)
                })
            {
                match step.expression {
                    crate::criteria::Expression::Agents(_) => {
                        "not a preferred agent of the current routing step".into()
                    }
                    _ => "lacks the proficiencies the current routing step asks for".into(),
                }
            } else {
                "eligible".into()
            };
            let n = counts.entry(reason.clone()).or_default();
            *n += 1;
            if *n <= 3 {
                examples.push((agent.id.clone(), reason));
            }
        }
        let queue = &self.queues[x.queue as usize].name;
        let channel = crate::config::channel_of_index(x.channel);
        let served = self
            .profiles
            .iter()
            .any(|p| p.entries.iter().any(|e| e.0 == x.queue && e.1 == x.channel));
        let note = if !served {
            Some(format!(
                "no routing profile serves {queue} for {channel}: the contact is never offered; \
                 add the queue to a profile or transfer the contact"
            ))
        } else if counts.is_empty() {
            Some(format!(
                "no agent whose routing profile serves {queue} for {channel} is logged in"
            ))
        } else {
            None
        };
        Some(ContactExplanation {
            contact: x.id.clone(),
            queue: queue.clone(),
            note,
            state,
            position: self.position(contact),
            agents_by_reason: counts.into_iter().collect(),
            examples,
            last_offer: self.explanations.get(contact).cloned(),
        })
    }
}
