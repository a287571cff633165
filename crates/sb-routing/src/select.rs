//! Matching: the best contact for an agent that has room, and the agent for a contact
//! that starts waiting.

use crate::engine::{Agent, Contact, ContactState, Engine, Ix};
use crate::explain::{OfferExplanation, OfferRule};

impl Engine {
    /// Whether `agent` may be offered `contact` now, given the delay its profile puts on
    /// the contact's queue.
    pub(crate) fn eligible(&self, a: Ix, agent: &Agent, contact: &Contact, delay: i64) -> bool {
        let waited = self.now - contact.enqueued_at;
        waited >= delay
            && !contact.declined.iter().any(|&(x, generation, until)| {
                x == a && generation == self.agents.generation(a) && self.now < until
            })
            && contact
                .criteria
                .as_ref()
                .is_none_or(|c| c.admits(waited, &agent.id, &agent.config.proficiencies))
    }

    /// The contact this agent should get next: its own agent queue first, then the
    /// first eligible contact of its highest-priority queues, oldest (as adjusted) first.
    pub(crate) fn best_contact_for(&self, a: Ix) -> Option<(Ix, OfferExplanation)> {
        let agent = self.agents.get(a)?;
        if !Self::routable(agent) {
            return None;
        }
        for &c in &agent.personal {
            let contact = self.contacts.get(c)?;
            if contact.state == ContactState::Waiting
                && self.has_room(agent, contact.channel)
                && self.eligible(a, agent, contact, 0)
            {
                return Some((
                    c,
                    OfferExplanation::new(self, c, a, OfferRule::AgentQueue, 0),
                ));
            }
        }
        let profile = &self.profiles[agent.profile as usize];
        let mut best: Option<(u8, crate::engine::WaitKey)> = None;
        for &(q, ch, priority, delay) in &profile.entries {
            if best.is_some_and(|(p, _)| priority > p) {
                break;
            }
            if !self.has_room(agent, ch) {
                continue;
            }
            let found = self.queues[q as usize].waiting[ch].iter().find(|key| {
                self.contacts
                    .get(key.contact)
                    .is_some_and(|contact| self.eligible(a, agent, contact, delay))
            });
            if let Some(key) = found {
                if best.is_none_or(|(p, k)| (priority, *key) < (p, k)) {
                    best = Some((priority, *key));
                }
            }
        }
        let (priority, key) = best?;
        Some((
            key.contact,
            OfferExplanation::new(
                self,
                key.contact,
                a,
                OfferRule::LongestAvailableFirstInLine,
                priority,
            ),
        ))
    }

    /// Offer the agent its best contacts while it has room.
    pub(crate) fn try_agent(&mut self, a: Ix) {
        while let Some((c, explanation)) = self.best_contact_for(a) {
            self.offer(c, a, explanation);
        }
    }

    /// Route a waiting contact: the agent available longest among those eligible gets
    /// an offer — of its own best contact, which is this one unless a contact it serves
    /// at a higher priority became eligible at the same moment.
    pub(crate) fn try_contact(&mut self, c: Ix) {
        loop {
            let Some(contact) = self.contacts.get(c) else {
                return;
            };
            if contact.state != ContactState::Waiting {
                return;
            }
            let chosen = match contact.target {
                Some(a) => Some(a),
                None => self.longest_available_for(contact),
            };
            let Some(a) = chosen else { return };
            match self.best_contact_for(a) {
                Some((best, explanation)) => self.offer(best, a, explanation),
                None => return,
            }
        }
    }

    fn longest_available_for(&self, contact: &Contact) -> Option<Ix> {
        let queue = &self.queues[contact.queue as usize];
        queue.available[contact.channel].iter().find_map(|&(_, a)| {
            let agent = self.agents.get(a)?;
            let delay = self.profiles[agent.profile as usize]
                .entries
                .iter()
                .find(|e| e.0 == contact.queue && e.1 == contact.channel)
                .map(|e| e.3)?;
            self.eligible(a, agent, contact, delay).then_some(a)
        })
    }
}
