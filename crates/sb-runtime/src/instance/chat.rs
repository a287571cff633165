//! A chat's customer: the socket attached and detached, what the customer says (with
//! its limits), the transcript kept and delivered to both sides, and the customer's
//! absence timed.

use sb_flow::interpret::Input;
use sb_model::record::DisconnectReason;
use sb_model::Channel;
use sb_store::NewEvent;

use super::contacts::{mask_card_numbers, LiveContact, Stage};
use super::output::EndpointId;
use super::Timer;
use super::{rfc3339, AgentFrame, ChatItem, CustomerEvent, CustomerFrame, Owner, RuntimeError};
use crate::live::DeployedConfig;
use crate::vault::seal_json;

/// Customer messages allowed per second on one chat, and the burst above it.
const MESSAGES_PER_SECOND: u32 = 5;
pub(super) const MESSAGE_BURST: f64 = 20.0;

/// A chat message from either side within the instance's `chat_message_max_chars`.
pub(crate) fn check_message_length(
    config: &DeployedConfig,
    text: &str,
) -> Result<(), RuntimeError> {
    let max = config.spec.instance.chat_message_max_chars as usize;
    let len = text.chars().count();
    if len > max {
        return Err(RuntimeError::MessageTooLong { len, max });
    }
    Ok(())
}

/// A read receipt names a line that was said.
pub(crate) fn check_read(c: &LiveContact, seq: u64) -> Result<(), RuntimeError> {
    let last = c.transcript.last().map_or(0, |line| line.seq);
    if seq == 0 || seq > last {
        return Err(RuntimeError::Invalid(format!(
            "no line {seq} to have read; the chat's lines are 1 to {last}"
        )));
    }
    Ok(())
}

impl Owner {
    /// A customer's socket closed: if it is still the contact's, the customer is away.
    pub(super) fn detach_customer(&mut self, contact: &str, session: u64) {
        let contact = self
            .chat_head(contact)
            .unwrap_or_else(|| contact.to_string());
        if let Some(c) = self.contacts.get_mut(&contact) {
            if c.customer == Some(EndpointId(session)) {
                c.customer = None;
                self.close_endpoint(EndpointId(session));
                self.customer_absent(&contact);
            }
        }
    }

    /// The chat's customer has no socket open from now: if none is open again within
    /// the instance's `chat_customer_absence_limit_seconds`, the chat ends (as Connect
    /// ends an idle chat), wherever it is — in the flow, in line, with an agent.
    pub(crate) fn customer_absent(&mut self, id: &str) {
        let Some(limit) = self
            .contacts
            .get(id)
            .filter(|c| c.data.channel == Channel::Chat)
            .map(|c| i64::from(c.config.spec.instance.chat_customer_absence_limit_seconds) * 1000)
        else {
            return;
        };
        let now = self.now;
        self.customer_absent_since.insert(id.to_string(), now);
        let timer = self.new_id();
        let absent = Timer::CustomerAbsent(id.to_string());
        self.timers.insert((now + limit, timer, absent));
    }

    pub(super) fn customer_absence_elapsed(&mut self, id: &str) {
        let now = self.now;
        let gone_long_enough = match (self.contacts.get(id), self.customer_absent_since.get(id)) {
            (Some(c), Some(&since)) => {
                let limit = i64::from(c.config.spec.instance.chat_customer_absence_limit_seconds);
                c.customer.is_none() && c.ended_at.is_none() && now - since >= limit * 1000
            }
            _ => false,
        };
        if gone_long_enough {
            self.customer_absent_since.remove(id);
            tracing::info!(
                contact = id,
                "the chat's customer has been gone too long; the chat ends"
            );
            self.end_contact(id, DisconnectReason::CustomerDisconnect);
        }
    }

    /// Add a line to the chat transcript and deliver it to both sides once durable.
    pub(crate) fn say(
        &mut self,
        id: &str,
        from: super::ChatSender,
        name: Option<String>,
        text: String,
    ) {
        let Some(c) = self.contacts.get_mut(id) else {
            return;
        };
        if c.data.channel != Channel::Chat {
            return;
        }
        let item = ChatItem {
            seq: c.transcript.last().map_or(0, |i| i.seq) + 1,
            from,
            name,
            text,
            at: rfc3339(self.now),
        };
        c.transcript.push(item.clone());
        let customer = c.customer;
        let agent = match &c.stage {
            Stage::Connected(a) => Some(a.clone()),
            _ => None,
        };
        // A flow may stop recording a side (UpdateContactRecordingBehavior): its lines
        // are delivered but never stored. The flow's own messages are always kept.
        let recorded = from == super::ChatSender::System
            || c.data
                .recorded_participants
                .iter()
                .any(|p| p.eq_ignore_ascii_case(from.as_str()));
        if recorded {
            let payload = seal_json(&c.key, &item).expect("a transcript line seals");
            self.out.event(NewEvent {
                at_ms: self.now,
                stream: sb_store::CHAT_STREAM.into(),
                key: id.into(),
                kind: "MESSAGE".into(),
                payload,
            });
        }
        if let Some(endpoint) = customer {
            self.send_customer(endpoint, CustomerFrame::Message(item.clone()));
        }
        if let Some(agent) = agent {
            self.send_agent(
                &agent,
                AgentFrame::Message {
                    contact: id.into(),
                    item,
                },
            );
        }
    }

    pub(super) fn attach_customer(
        &mut self,
        id: &str,
        token: &str,
        after: u64,
    ) -> Result<u64, RuntimeError> {
        let session = self.new_id();
        let endpoint = EndpointId(session);
        if !self.contacts.contains_key(id) {
            // Ended before the customer came: what the flow said, then the end.
            let now = self.now;
            let lines = self
                .unheard
                .take(now, id, token, after)?
                .ok_or_else(|| RuntimeError::UnknownContact(id.into()))?;
            self.replay_ended(endpoint, lines.into_iter().map(CustomerFrame::Message));
            return Ok(session);
        }
        let c = self
            .contacts
            .get_mut(id)
            .ok_or_else(|| RuntimeError::UnknownContact(id.into()))?;
        if !c
            .token_sha256
            .as_deref()
            .is_some_and(|t| sb_security::secret_matches(token, t))
        {
            return Err(RuntimeError::BadToken);
        }
        // Everything the customer missed, in order, exactly once; then live messages.
        let missed: Vec<CustomerFrame> = c
            .transcript
            .iter()
            .filter(|i| i.seq > after)
            .cloned()
            .map(CustomerFrame::Message)
            .collect();
        // The chat is over (its agent is in after-contact work): what was said, that it
        // ended, and the socket is let go; nothing more will come.
        if c.ended_at.is_some() {
            self.replay_ended(endpoint, missed);
            return Ok(session);
        }
        // A second socket for the same chat takes over; the first is closed.
        let replaced = c.customer.replace(endpoint);
        c.told_position = None;
        self.customer_absent_since.remove(id);
        if let Some(q) = c.record.queue.as_ref().filter(|_| c.stage == Stage::Queued) {
            self.moved.moved(q.name.clone());
        }
        if let Some(replaced) = replaced {
            self.close_endpoint(replaced);
        }
        for frame in missed {
            self.send_customer(endpoint, frame);
        }
        Ok(session)
    }

    /// A socket attached to a chat that is already over: what it missed, that the
    /// chat ended, and the socket is let go.
    fn replay_ended(
        &mut self,
        endpoint: EndpointId,
        missed: impl IntoIterator<Item = CustomerFrame>,
    ) {
        for frame in missed {
            self.send_customer(endpoint, frame);
        }
        self.send_customer(endpoint, CustomerFrame::Ended);
        self.close_endpoint(endpoint);
    }

    pub(super) fn customer_event(
        &mut self,
        id: &str,
        session: u64,
        event: CustomerEvent,
    ) -> Result<(), RuntimeError> {
        let now = self.now;
        let c = self
            .contacts
            .get_mut(id)
            .ok_or_else(|| RuntimeError::UnknownContact(id.into()))?;
        if c.customer != Some(EndpointId(session)) {
            return Err(RuntimeError::BadToken);
        }
        match event {
            CustomerEvent::Message { text } => {
                check_message_length(&c.config, &text)?;
                if text.trim().is_empty() {
                    return Err(RuntimeError::Invalid("an empty message".into()));
                }
                c.tokens = (c.tokens
                    + (now - c.tokens_at) as f64 / 1000.0 * f64::from(MESSAGES_PER_SECOND))
                .min(MESSAGE_BURST);
                c.tokens_at = now;
                if c.tokens < 1.0 {
                    return Err(RuntimeError::RateLimited {
                        per_second: MESSAGES_PER_SECOND,
                    });
                }
                c.tokens -= 1.0;
                let name = c.customer_name.clone();
                // Card numbers never get past the door (PCI DSS): masked before the
                // transcript, the flow or an agent sees them.
                let text = mask_card_numbers(text);
                let waiting_for_input = c.stage == Stage::InFlow
                    && c.flow
                        .as_ref()
                        .is_some_and(|f| f.waiting == Some(sb_flow::interpret::Waiting::Input));
                self.say(id, super::ChatSender::Customer, name, text.clone());
                if waiting_for_input {
                    self.drive(id, Input::Customer { text });
                }
            }
            CustomerEvent::Typing => {
                if let Stage::Connected(agent) = c.stage.clone() {
                    self.send_agent(&agent, AgentFrame::Typing { contact: id.into() });
                }
            }
            CustomerEvent::Read { seq } => {
                check_read(c, seq)?;
                if let Stage::Connected(agent) = c.stage.clone() {
                    self.send_agent(
                        &agent,
                        AgentFrame::Read {
                            contact: id.into(),
                            seq,
                        },
                    );
                }
            }
            CustomerEvent::Disconnect => self.end_contact(id, DisconnectReason::CustomerDisconnect),
        }
        Ok(())
    }
}
