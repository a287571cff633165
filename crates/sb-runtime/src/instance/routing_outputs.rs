//! Carrying out what routing decides: offers sent, withdrawn and timed out, contacts
//! connected, agents' states changed, each turned into frames, events and records.

use sb_model::record::AgentInfo;
use sb_routing::{DequeueReason, Output};
use serde_json::json;

use super::contacts::Stage;
use super::{rfc3339, AgentFrame, Owner};

impl Owner {
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
                    self.moved.moved(q.name.clone());
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
