//! What a supervisor does to live contacts and agents: stop a contact wherever it is
//! (Connect's StopContact) — a queued callback nobody wants any more, a task that should
//! not be worked, a chat an agent left open, a contact whose agent was removed from the
//! configuration while the server was down; and set an agent's status (Connect's
//! PutUserStatus) — the agent who went home Available.

use super::contacts::Stage;
use super::{ContactStopped, Owner, RuntimeError};
use sb_model::record::DisconnectReason;

impl Owner {
    /// In a flow, scheduled, in line or offered: the contact ends at once and its record
    /// is written. With an agent: it ends and the agent does its after-contact work, as
    /// when the customer leaves. In after-contact work: the work is completed for the
    /// agent. A contact no agent in routing holds (its agent is gone from the
    /// configuration) does not wait for after-contact work that nobody could complete.
    pub(crate) fn stop_contact(
        &mut self,
        id: &str,
        by: &str,
    ) -> Result<ContactStopped, RuntimeError> {
        let was = self
            .contacts
            .get(id)
            .map(|c| c.stage.clone())
            .ok_or_else(|| RuntimeError::UnknownContact(id.into()))?;
        tracing::info!(contact = %id, stage = was.name(), by = %by, "contact stopped by a supervisor");
        match &was {
            Stage::AfterWork(agent) => self.complete_after_work_for(agent, id),
            Stage::Connected(agent) => {
                let agent = agent.clone();
                self.end_contact(id, DisconnectReason::Api);
                if !self.routing_holds(&agent, id) {
                    self.complete_after_work_for(&agent, id);
                }
            }
            Stage::Scheduled | Stage::InFlow | Stage::Queued | Stage::Offered(_) => {
                self.end_contact(id, DisconnectReason::Api)
            }
        }
        self.route();
        Ok(ContactStopped {
            contact_id: id.into(),
            was: was.name().into(),
            now: self
                .contacts
                .get(id)
                .map_or("ended", |c| c.stage.name())
                .into(),
        })
    }

    fn routing_holds(&self, agent: &str, contact: &str) -> bool {
        self.engine
            .agent_snapshot(agent)
            .is_some_and(|s| s.contacts.iter().any(|c| c.contact == contact))
    }

    fn complete_after_work_for(&mut self, agent: &str, contact: &str) {
        let now = self.now;
        if self.routing_holds(agent, contact) {
            if let Err(e) = self.engine.after_work_done(now, agent, contact) {
                tracing::warn!(contact = %contact, agent = %agent, error = %e, "routing refused to end the after-contact work; the contact is closed regardless");
            }
        }
        self.close_after_work(contact);
    }

    /// Set a logged-in agent's status for them, as if they had chosen it: during a
    /// contact it waits for the contact to be done; the agent's desktop hears of it.
    pub(crate) fn set_agent_status_for(
        &mut self,
        agent: &str,
        status: &str,
        by: &str,
    ) -> Result<sb_routing::AgentSnapshot, RuntimeError> {
        // Logged in means a desktop (or the REST desk) is there now: an agent whose
        // socket dropped is remembered, but nobody would receive its offers.
        if !self.agents.get(agent).is_some_and(|s| s.logged_in) {
            // Nobody by that name is a different answer from an agent who is away.
            let is_agent = self.config.as_ref().is_some_and(|c| {
                c.spec
                    .users
                    .get(agent)
                    .is_some_and(|u| u.routing_profile.is_some())
            });
            return Err(if is_agent {
                RuntimeError::NotLoggedIn(agent.into())
            } else {
                RuntimeError::UnknownAgent(agent.into())
            });
        }
        self.choose_status(agent, status)?;
        tracing::info!(agent = %agent, status = %status, by = %by, "agent status set by a supervisor");
        self.route();
        self.engine
            .agent_snapshot(agent)
            .ok_or_else(|| RuntimeError::NotLoggedIn(agent.into()))
    }
}
