//! Agents: their sessions, their actions, and what routing decides for them.

use super::output::{Effect, EndpointId};
use sb_model::record::AgentInfo;
use sb_model::record::DisconnectReason;
use sb_routing::{AgentConfig, AgentStatus, DequeueReason, Output};
use serde_json::json;

use super::contacts::Stage;
use super::{rfc3339, AgentAction, AgentFrame, AgentSession, Owner, RuntimeError};

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
        self.out.effect(Effect::ToAgent {
            endpoint,
            agent: user.to_string(),
            frame,
        });
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

    fn holds(
        &self,
        user: &str,
        contact: &str,
        wanted: fn(&Stage) -> Option<&str>,
    ) -> Result<(), RuntimeError> {
        match self.contacts.get(contact) {
            Some(c) if wanted(&c.stage) == Some(user) => Ok(()),
            _ => Err(RuntimeError::Invalid(format!(
                "{user} has no such contact '{contact}' in that state"
            ))),
        }
    }

    pub(super) fn agent_action(
        &mut self,
        user: &str,
        action: AgentAction,
    ) -> Result<(), RuntimeError> {
        if !self.agents.contains_key(user) {
            return Err(RuntimeError::NotAnAgent(user.into()));
        }
        let now = self.now;
        let routing = RuntimeError::Routing;
        let audit = super::agent_audit::audit_entry(&action);
        match action {
            AgentAction::SetStatus { status } => self.choose_status(user, &status)?,
            AgentAction::Accept { contact } => {
                self.engine.accept(now, user, &contact).map_err(routing)?
            }
            AgentAction::Reject { contact } => {
                self.engine.reject(now, user, &contact).map_err(routing)?
            }
            AgentAction::Message { contact, text } => {
                self.holds(user, &contact, |s| match s {
                    Stage::Connected(a) => Some(a),
                    _ => None,
                })?;
                if self.contacts[&contact].data.channel != sb_model::Channel::Chat {
                    return Err(RuntimeError::Invalid(format!(
                        "'{contact}' is not a chat; only chats take messages"
                    )));
                }
                super::chat::check_message_length(&self.contacts[&contact].config, &text)?;
                let text = super::contacts::mask_card_numbers(text);
                self.say(
                    &contact,
                    super::ChatSender::Agent,
                    Some(user.to_string()),
                    text,
                );
            }
            AgentAction::Typing { contact } => {
                self.holds(user, &contact, |s| match s {
                    Stage::Connected(a) => Some(a),
                    _ => None,
                })?;
                if let Some(endpoint) = self.contacts[&contact].customer {
                    let frame = super::CustomerFrame::Typing {
                        from: super::ChatSender::Agent,
                    };
                    self.send_customer(endpoint, frame);
                }
            }
            AgentAction::Read { contact, seq } => {
                self.holds(user, &contact, |s| match s {
                    Stage::Connected(a) => Some(a),
                    _ => None,
                })?;
                let c = &self.contacts[&contact];
                super::chat::check_read(c, seq)?;
                if let Some(endpoint) = c.customer {
                    self.send_customer(endpoint, super::CustomerFrame::Read { seq });
                }
            }
            AgentAction::SetAttributes {
                contact,
                attributes,
            } => {
                self.holds(user, &contact, |s| s.agent())?;
                let c = self.contacts.get_mut(&contact).expect("held");
                let mut attributes = attributes;
                super::contacts::mask_attributes(&mut attributes);
                let mut merged = c.data.attributes.clone();
                merged.extend(attributes.clone());
                Self::check_attributes(&merged)?;
                c.data.attributes = merged.clone();
                c.record.attributes = merged;
                // The event is a copy like the record: sensitive values sealed under the
                // contact's key, so streams show ciphertext and erasure reaches it.
                crate::vault::seal_attributes(
                    &c.key,
                    &c.data.sensitive_attributes,
                    &mut attributes,
                );
                self.touch(&contact);
                self.contact_event(
                    &contact,
                    super::contact_events::ContactEventType::AttributesUpdated,
                    json!({"ContactId": contact, "Attributes": attributes, "By": user}),
                );
            }
            AgentAction::End { contact } => {
                self.holds(user, &contact, |s| match s {
                    Stage::Connected(a) => Some(a),
                    _ => None,
                })?;
                self.end_contact(&contact, DisconnectReason::AgentDisconnect);
            }
            AgentAction::Complete { contact } => {
                self.holds(user, &contact, |s| match s {
                    Stage::AfterWork(a) => Some(a),
                    _ => None,
                })?;
                self.engine
                    .after_work_done(now, user, &contact)
                    .map_err(routing)?;
                self.close_after_work(&contact);
            }
            AgentAction::Transfer {
                contact,
                queue,
                agent,
                quick_connect,
            } => {
                use super::transfer::TransferTarget;
                let target = match (queue, agent, quick_connect) {
                    (Some(q), None, None) => TransferTarget::Queue(q),
                    (None, Some(a), None) => TransferTarget::Agent(a),
                    (None, None, Some(qc)) => TransferTarget::QuickConnect(qc),
                    _ => {
                        return Err(RuntimeError::Invalid(
                            "a transfer names exactly one of queue, agent or quick_connect".into(),
                        ))
                    }
                };
                self.transfer(user, &contact, target)?;
            }
            AgentAction::CallbackFailed { contact } => self.callback_failed(user, &contact)?,
            AgentAction::Heartbeat => {}
        }
        if let Some((action, parameters)) = audit {
            self.audit_agent_action(user, action, parameters);
        }
        self.route();
        Ok(())
    }

    pub(crate) fn close_after_work(&mut self, contact: &str) {
        let now = self.now;
        if let Some(c) = self.contacts.get_mut(contact) {
            if let Some(agent) = c.record.agent.as_mut() {
                let started = c.ended_at.unwrap_or(now);
                agent.after_contact_work_end_timestamp = Some(rfc3339(now));
                agent.after_contact_work_duration = Some(((now - started) / 1000) as u64);
            }
        }
        self.finish(contact);
    }

    /// Carry out what routing decided.
    pub(crate) fn route(&mut self) {
        loop {
            let outputs = self.engine.drain_outputs();
            if outputs.is_empty() {
                return;
            }
            for output in outputs {
                self.apply_routing(output);
            }
        }
    }

    fn apply_routing(&mut self, output: Output) {
        let now = self.now;
        match output {
            Output::Offer {
                contact,
                agent,
                queue,
                channel,
                expires_at,
            } => {
                // Not persisted (a restart puts an offered contact back in line anyway);
                // the attempt is counted durably when the offer is withdrawn or taken.
                let Some(c) = self.contacts.get_mut(&contact) else {
                    return;
                };
                c.stage = Stage::Offered(agent.clone());
                c.record.agent_connection_attempts += 1;
                let frame = AgentFrame::Offer {
                    contact,
                    channel,
                    queue,
                    expires_at,
                    attributes: c.data.attributes.clone(),
                    customer: c.customer_name.clone(),
                    callback_number: c
                        .callback
                        .and(c.record.customer_endpoint.as_ref())
                        .map(|e| e.address.clone()),
                };
                self.send_agent(&agent, frame);
            }
            Output::OfferWithdrawn {
                contact,
                agent,
                reason,
            } => {
                if let Some(c) = self.contacts.get_mut(&contact) {
                    if c.stage == Stage::Offered(agent.clone()) {
                        c.stage = Stage::Queued;
                    }
                    self.touch(&contact);
                }
                self.send_agent(&agent, AgentFrame::OfferWithdrawn { contact, reason });
            }
            Output::AgentChanged { snapshot } => {
                let user = snapshot.agent.clone();
                self.agent_changed(&user);
                self.agent_states_due.insert(user, snapshot);
            }
            Output::Dequeued {
                contact, reason, ..
            } => {
                self.touch(&contact);
                if let Some(q) = self
                    .contacts
                    .get(&contact)
                    .and_then(|c| c.record.queue.as_ref())
                {
                    self.moved.insert(q.name.clone());
                }
                let Some(c) = self.contacts.get_mut(&contact) else {
                    return;
                };
                if let Some(q) = c.record.queue.as_mut() {
                    let enqueued = q
                        .enqueue_timestamp
                        .parse::<jiff::Timestamp>()
                        .map(|t| t.as_millisecond())
                        .unwrap_or(now);
                    q.dequeue_timestamp = Some(rfc3339(now));
                    q.duration = Some(((now - enqueued) / 1000) as u64);
                }
                if reason == DequeueReason::ConnectedToAgent {
                    let Stage::Offered(agent) = c.stage.clone() else {
                        return;
                    };
                    c.stage = Stage::Connected(agent.clone());
                    c.flow = None;
                    c.timer = None;
                    c.connected_at = Some(now);
                    let profile = c
                        .config
                        .spec
                        .users
                        .get(agent.as_str())
                        .and_then(|u| u.routing_profile.clone())
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    c.record.agent = Some(AgentInfo {
                        username: agent.clone(),
                        routing_profile: profile,
                        connected_to_agent_timestamp: rfc3339(now),
                        agent_interaction_duration: None,
                        after_contact_work_start_timestamp: None,
                        after_contact_work_end_timestamp: None,
                        after_contact_work_duration: None,
                        customer_hold_duration: 0,
                        number_of_holds: 0,
                        longest_hold_duration: 0,
                    });
                    let transcript = c.transcript.clone();
                    let chat = c.data.channel == sb_model::Channel::Chat;
                    self.contact_event(
                        &contact,
                        super::contact_events::ContactEventType::ConnectedToAgent,
                        json!({"ContactId": contact, "Agent": agent}),
                    );
                    self.send_agent(
                        &agent,
                        AgentFrame::Connected {
                            contact: contact.clone(),
                            transcript,
                        },
                    );
                    if chat {
                        self.say(
                            &contact,
                            super::ChatSender::System,
                            None,
                            format!("{agent} has joined the chat."),
                        );
                    }
                }
            }
            Output::AfterContactWorkTimedOut { contact, .. } => self.close_after_work(&contact),
            Output::CallbackDue { .. } => {}
        }
    }
}
