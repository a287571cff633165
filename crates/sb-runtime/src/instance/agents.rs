//! Agents' sessions: logging in (with a socket or over REST), into routing, back after
//! a restart, the desk, frames to an agent's socket, and leaving. What agents do to
//! contacts is in `agent_actions`; what routing decides for them, in `routing_outputs`.

use sb_routing::{AgentConfig, AgentStatus};

use super::contacts::Stage;
use super::output::{Effect, EndpointId};
use super::{AgentAction, AgentFrame, AgentSession, Owner, RuntimeError};

impl Owner {
    /// Every logged-in agent's routing state, by name.
    pub(super) fn list_agents(&self) -> Vec<sb_routing::AgentSnapshot> {
        let mut users: Vec<&String> = self.agents.keys().collect();
        users.sort();
        users
            .into_iter()
            .filter_map(|u| self.engine.agent_snapshot(u))
            .collect()
    }

    /// Each agent whose state changed in this turn gets its newest state, once: a
    /// snapshot is whole, so the ones it replaces (an offer, its acceptance, the end of
    /// the contact before them, all in one turn) need not be sent.
    pub(crate) fn send_agent_states(&mut self) {
        for (user, snapshot) in std::mem::take(&mut self.agent_states_due) {
            self.send_agent(&user, AgentFrame::State { snapshot });
        }
    }

    /// Send a frame to an agent's socket once what led to it is durable. A socket that
    /// cannot keep up loses frames rather than slowing the runtime; it gets the full
    /// state again when it reconnects.
    pub(crate) fn send_agent(&mut self, user: &str, frame: AgentFrame) {
        let Some(endpoint) = self.agents.get(user).and_then(|s| s.endpoint) else {
            return;
        };
        self.out.effect(Effect::ToAgent { endpoint, frame });
    }

    /// The REST equivalent of the socket: log in (without a socket) if not yet, do
    /// `action`, and show the desk.
    pub(super) fn agent_desk(
        &mut self,
        user: &str,
        action: Option<AgentAction>,
    ) -> Result<super::AgentDesk, RuntimeError> {
        // Logged in by this call unless a socket or an earlier call did: an agent back
        // in routing after a restart, or whose socket dropped, is logged in again (and
        // gets its status back within the window, like a desktop).
        if !self.agents.get(user).is_some_and(|s| s.logged_in) {
            self.attach_agent(user, false)?;
        }
        if let Some(action) = action {
            self.agent_action(user, action)?;
        }
        let snapshot = self
            .engine
            .agent_snapshot(user)
            .ok_or_else(|| RuntimeError::NotAnAgent(user.into()))?;
        let mut contacts: Vec<super::DeskContact> = self
            .contacts
            .iter()
            .filter(|(_, c)| c.stage.agent() == Some(user))
            .map(|(id, c)| super::DeskContact {
                contact: id.clone(),
                channel: c.data.channel,
                stage: c.stage.name().into(),
                queue: c.record.queue.as_ref().map(|q| q.name.clone()),
                attributes: c.data.attributes.clone(),
                customer: c.customer_name.clone(),
                transcript: match c.stage {
                    Stage::Offered(_) => Vec::new(),
                    _ => c.transcript.clone(),
                },
            })
            .collect();
        contacts.sort_by(|a, b| a.contact.cmp(&b.contact));
        Ok(super::AgentDesk { snapshot, contacts })
    }

    pub(super) fn attach_agent(&mut self, user: &str, socket: bool) -> Result<u64, RuntimeError> {
        self.enter_routing(user)?;
        let announced = self.agents.get(user).is_some_and(|s| s.logged_in);
        let session = self.new_id();
        let replaced = self.agents.insert(
            user.to_string(),
            AgentSession {
                endpoint: socket.then_some(EndpointId(session)),
                session,
                logged_in: true,
            },
        );
        // A second socket (or a REST log-in over a dropped one) takes over; the first
        // socket is closed.
        if let Some(old) = replaced.and_then(|s| s.endpoint) {
            self.close_endpoint(old);
        }
        // Resumed first, so that the LOGIN carries the status the agent is back in.
        self.resume_status(user);
        if !announced {
            self.agent_feed_event(user, "LOGIN");
        }
        // A reconnecting agent gets its state and every open contact back.
        if let Some(snapshot) = self.engine.agent_snapshot(user) {
            self.send_agent(user, AgentFrame::State { snapshot });
        }
        let open: Vec<(String, Vec<super::ChatItem>)> = self
            .contacts
            .iter()
            .filter(
                |(_, c)| matches!(&c.stage, Stage::Connected(a) | Stage::AfterWork(a) if a == user),
            )
            .map(|(id, c)| (id.clone(), c.transcript.clone()))
            .collect();
        for (contact, transcript) in open {
            self.send_agent(
                user,
                AgentFrame::Connected {
                    contact,
                    transcript,
                },
            );
        }
        self.route();
        Ok(session)
    }

    /// Put the agent in routing (Offline) if it is not there yet, with the contacts it
    /// held before a restart. This is not a login (no LOGIN event, no session): routing
    /// also knows agents that are not logged in — one with contacts from before a
    /// restart, or with chats transferred to its agent queue.
    pub(crate) fn enter_routing(&mut self, user: &str) -> Result<(), RuntimeError> {
        let config = self.config.clone().ok_or(RuntimeError::NotReady)?;
        let spec_user = config
            .spec
            .users
            .get(user)
            .filter(|u| u.routing_profile.is_some())
            .ok_or_else(|| RuntimeError::NotAnAgent(user.into()))?;
        if self.engine.agent_snapshot(user).is_some() {
            return Ok(());
        }
        let agent = AgentConfig {
            routing_profile: spec_user
                .routing_profile
                .as_ref()
                .expect("filtered")
                .to_string(),
            proficiencies: spec_user.proficiencies.clone(),
            acw_timeout_ms: match spec_user.after_contact_work_timeout_seconds {
                0 => None,
                s => Some(i64::from(s) * 1000),
            },
        };
        self.engine
            .login(self.now, user, agent, AgentStatus::Offline)
            .map_err(RuntimeError::Routing)?;
        self.give_back_contacts(user);
        Ok(())
    }

    /// After a restart, every agent that was handling contacts, or had contacts waiting
    /// in its agent queue, is back in routing, without a socket (as if its socket had
    /// dropped): its after-contact work ends at its time limit even if it never
    /// returns, and it finds its contacts when it reconnects.
    pub(crate) fn restore_agents(&mut self) {
        let holders: std::collections::BTreeSet<String> = self
            .contacts
            .values()
            .filter_map(|c| match &c.stage {
                Stage::Connected(a) | Stage::AfterWork(a) => Some(a.clone()),
                Stage::Queued | Stage::Offered(_) => c
                    .record
                    .queue
                    .as_ref()
                    .and_then(|q| q.name.strip_prefix("agent:"))
                    .map(str::to_string),
                _ => None,
            })
            .collect();
        for user in holders {
            match self.enter_routing(&user) {
                Ok(()) => {
                    let session = self.new_id();
                    self.agents.insert(
                        user,
                        AgentSession {
                            endpoint: None,
                            session,
                            logged_in: false,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(agent = %user, error = %e, "cannot give an agent its contacts back; they wait for it to be an agent again")
                }
            }
        }
    }

    /// The contacts this agent was handling before a restart become routing's again.
    fn give_back_contacts(&mut self, user: &str) {
        let held: Vec<(String, String, sb_model::Channel, i64, Option<i64>)> = self
            .contacts
            .iter()
            .filter_map(|(id, c)| {
                let after_work_since = match &c.stage {
                    Stage::Connected(a) if a == user => None,
                    Stage::AfterWork(a) if a == user => Some(c.ended_at.unwrap_or(self.now)),
                    _ => return None,
                };
                let queue = c.record.queue.as_ref()?.name.clone();
                Some((
                    id.clone(),
                    queue,
                    c.data.channel,
                    c.connected_at.unwrap_or(self.now),
                    after_work_since,
                ))
            })
            .collect();
        for (contact, queue, channel, since, after_work_since) in held {
            if let Err(e) = self.engine.adopt(
                self.now,
                user,
                sb_routing::HeldContact {
                    contact: &contact,
                    queue: &queue,
                    channel,
                    connected_since: since,
                    after_work_since,
                },
            ) {
                tracing::warn!(agent = user, contact, error = %e, "cannot give a contact back to its agent");
            }
        }
    }

    /// The agent's socket is gone (closed, or its heartbeats stopped): offers are
    /// withdrawn and go back in line; the agent goes Offline once its current contacts
    /// are done, and can reconnect to finish them.
    pub(super) fn detach_agent(&mut self, user: &str, session: u64) {
        let Some(s) = self.agents.get_mut(user) else {
            return;
        };
        if s.session != session {
            return;
        }
        let endpoint = s.endpoint.take();
        s.logged_in = false;
        if let Some(endpoint) = endpoint {
            self.close_endpoint(endpoint);
        }
        let _ = self.engine.set_status(self.now, user, AgentStatus::Offline);
        self.keep_status_for_reconnect(user);
        self.agent_feed_event(user, "LOGOUT");
        self.route();
    }
}
