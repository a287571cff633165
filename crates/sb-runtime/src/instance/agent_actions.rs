//! What an agent does to a contact it holds (accept, reject, messages, attributes,
//! transfer, end, complete), over the socket or the REST desk, each checked against
//! where the contact is.

use sb_model::record::DisconnectReason;
use serde_json::json;

use super::contacts::Stage;
use super::{rfc3339, AgentAction, Owner, RuntimeError};

impl Owner {
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
}
