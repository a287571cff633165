//! The engine's invariants, checked by the property tests and the day simulation
//! after every command. Cheap enough for tests, too slow for production paths.

use std::collections::HashMap;

use crate::engine::{ContactState, Engine, Ix};
use crate::types::SlotState;

impl Engine {
    /// Check, at the moment of every offer, that no contact ahead of it in the same line
    /// was one the agent could have taken. For tests and simulations.
    pub fn enable_offer_audit(&mut self) {
        self.audit.get_or_insert_with(Vec::new);
    }

    /// Offers that broke line order since the last call.
    pub fn take_offer_audit(&mut self) -> Vec<String> {
        self.audit.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub(crate) fn check_line_order(&self, c: Ix, a: Ix) -> Result<(), String> {
        let (Some(x), Some(agent)) = (self.contacts.get(c), self.agents.get(a)) else {
            return Ok(());
        };
        if x.target.is_some() {
            return Ok(());
        }
        let Some(&(_, _, _, delay)) = self.profiles[agent.profile as usize]
            .entries
            .iter()
            .find(|e| e.0 == x.queue && e.1 == x.channel)
        else {
            return Err(format!(
                "{} was offered {} from a queue its profile does not serve",
                agent.id, x.id
            ));
        };
        for key in self.queues[x.queue as usize].waiting[x.channel].range(..x.key) {
            let ahead = self
                .contacts
                .get(key.contact)
                .expect("lined contacts exist");
            if self.eligible(a, agent, ahead, delay) {
                return Err(format!(
                    "{} was offered {} while {} was ahead of it in line and eligible",
                    agent.id, x.id, ahead.id
                ));
            }
        }
        Ok(())
    }

    /// Every invariant, or the first one broken, in words.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut held_by: HashMap<Ix, Ix> = HashMap::new();
        for (a, agent) in self.agents.iter() {
            let profile = &self.profiles[agent.profile as usize].config;
            for ch in 0..3 {
                let used = agent.slots.iter().filter(|s| s.channel == ch).count();
                if used > profile.concurrency[ch] as usize {
                    return Err(format!(
                        "agent {} holds {used} contacts on channel {ch}, more than its {} slots",
                        agent.id, profile.concurrency[ch]
                    ));
                }
            }
            let channels: std::collections::HashSet<usize> =
                agent.slots.iter().map(|s| s.channel).collect();
            if !profile.cross_channel && channels.len() > 1 {
                return Err(format!(
                    "agent {} holds contacts on several channels without cross-channel routing",
                    agent.id
                ));
            }
            for slot in &agent.slots {
                if let Some(other) = held_by.insert(slot.contact, a) {
                    return Err(format!(
                        "contact #{} is held by two agents (#{other} and #{a})",
                        slot.contact
                    ));
                }
                let Some(contact) = self.contacts.get(slot.contact) else {
                    return Err(format!(
                        "agent {} holds a contact that no longer exists",
                        agent.id
                    ));
                };
                let consistent = match (&contact.state, slot.state) {
                    (ContactState::Offered { agent: x, .. }, SlotState::Offered) => *x == a,
                    (ContactState::Connected { agent: x, .. }, SlotState::Connected) => *x == a,
                    (ContactState::AfterWork { agent: x }, SlotState::AfterContactWork) => *x == a,
                    _ => false,
                };
                if !consistent {
                    return Err(format!(
                        "agent {} slot {:?} disagrees with contact {} state {:?}",
                        agent.id, slot.state, contact.id, contact.state
                    ));
                }
            }
        }
        let mut counted = vec![0u32; self.queues.len()];
        for (c, contact) in self.contacts.iter() {
            let q = &self.queues[contact.queue as usize];
            let in_line = q.waiting[contact.channel].contains(&contact.key);
            match &contact.state {
                ContactState::Waiting if contact.target.is_none() && !in_line => {
                    return Err(format!(
                        "waiting contact {} is missing from its queue's line",
                        contact.id
                    ));
                }
                ContactState::Waiting => {}
                _ if in_line => {
                    return Err(format!(
                        "contact {} is in line while {:?}",
                        contact.id, contact.state
                    ))
                }
                ContactState::Offered { .. }
                | ContactState::Connected { .. }
                | ContactState::AfterWork { .. }
                    if !held_by.contains_key(&c) =>
                {
                    return Err(format!(
                        "contact {} is {:?} but no agent holds it",
                        contact.id, contact.state
                    ));
                }
                _ => {}
            }
            if matches!(
                contact.state,
                ContactState::Waiting
                    | ContactState::Offered { .. }
                    | ContactState::Scheduled { .. }
            ) {
                counted[contact.queue as usize] += 1;
            }
            // No eligible agent stays available while an eligible contact waits.
            if contact.state == ContactState::Waiting {
                let waiting_agent = match contact.target {
                    Some(a) => self
                        .agents
                        .get(a)
                        .filter(|agent| {
                            Engine::routable(agent)
                                && self.has_room(agent, contact.channel)
                                && self.eligible(a, agent, contact, 0)
                        })
                        .map(|agent| agent.id.clone()),
                    None => q.available[contact.channel].iter().find_map(|&(_, a)| {
                        let agent = self.agents.get(a)?;
                        let delay = self.profiles[agent.profile as usize]
                            .entries
                            .iter()
                            .find(|e| e.0 == contact.queue && e.1 == contact.channel)?
                            .3;
                        self.eligible(a, agent, contact, delay)
                            .then(|| agent.id.clone())
                    }),
                };
                if let Some(agent) = waiting_agent {
                    return Err(format!(
                        "agent {agent} is available and eligible while contact {} waits",
                        contact.id
                    ));
                }
            }
        }
        for (q, queue) in self.queues.iter().enumerate() {
            if counted[q] != queue.count {
                return Err(format!(
                    "queue {} counts {} contacts but holds {}",
                    queue.name, queue.count, counted[q]
                ));
            }
            for w in &queue.waiting {
                for key in w {
                    if self.contacts.get(key.contact).is_none_or(|c| c.key != *key) {
                        return Err(format!(
                            "queue {} has a stale entry in its line",
                            queue.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
