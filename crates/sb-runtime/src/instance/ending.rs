//! A contact's end: the disconnect recorded, the customer told, the agent's after-
//! contact work begun or the contact finished, its final record written.

use sb_model::record::DisconnectReason;
use sb_store::{NewEvent, LIVE_STREAM, RECORD_STREAM};
use serde_json::json;

use super::contacts::Stage;
use super::{rfc3339, AgentFrame, CustomerFrame, Owner};
use crate::vault::seal_record;

impl Owner {
    /// The conversation is over: with an agent, after-contact work starts; otherwise
    /// the contact leaves routing and its record is written.
    pub(crate) fn end_contact(&mut self, id: &str, reason: DisconnectReason) {
        let reason = reason.as_str();
        let now = self.now;
        let Some(c) = self.contacts.get_mut(id) else {
            return;
        };
        if c.ended_at.is_some() {
            return;
        }
        c.ended_at = Some(now);
        c.flow = None;
        c.timer = None;
        self.dirty.insert(id.to_string());
        c.record.disconnect_timestamp = Some(rfc3339(now));
        c.record.disconnect_reason = Some(reason.into());
        if let (Some(agent), Some(connected)) = (c.record.agent.as_mut(), c.connected_at) {
            agent.agent_interaction_duration = Some(((now - connected) / 1000) as u64);
            agent.after_contact_work_start_timestamp = Some(rfc3339(now));
        }
        let customer = c.customer.take();
        // Kept for a customer who has not connected yet (see `unheard`).
        let unheard = match (&customer, &c.token_sha256) {
            (None, Some(token)) => Some((token.clone(), c.transcript.clone())),
            _ => None,
        };
        let stage = c.stage.clone();
        self.contact_event(
            id,
            super::contact_events::ContactEventType::Disconnected,
            json!({"ContactId": id, "DisconnectReason": reason}),
        );
        match customer {
            Some(endpoint) => {
                self.send_customer(endpoint, CustomerFrame::Ended);
                self.close_endpoint(endpoint);
            }
            // No socket to tell: the customer who connects soon still hears the end.
            None => {
                if let Some((token, transcript)) = unheard {
                    self.unheard.keep(now, id, &token, transcript);
                }
            }
        }
        if matches!(
            stage,
            Stage::Queued | Stage::Offered(_) | Stage::Connected(_)
        ) {
            let _ = self.engine.end(now, id);
        }
        // Leaving the line moves everyone behind.
        if let (Stage::Queued | Stage::Offered(_), Some(q)) = (
            &stage,
            self.contacts.get(id).and_then(|c| c.record.queue.as_ref()),
        ) {
            self.moved.moved(q.name.clone());
        }
        if let Some(agent) = stage.agent() {
            self.send_agent(agent, AgentFrame::ContactEnded { contact: id.into() });
        }
        match stage {
            Stage::Connected(agent) => {
                self.contacts.get_mut(id).expect("exists").stage = Stage::AfterWork(agent);
                self.write_record(id);
            }
            _ => self.finish(id),
        }
        self.route();
    }

    pub(crate) fn write_record(&mut self, id: &str) {
        let Some(c) = self.contacts.get_mut(id) else {
            return;
        };
        c.record.last_update_timestamp = rfc3339(self.now);
        let sealed = seal_record(&c.key, &c.data.sensitive_attributes, &c.record);
        let payload = serde_json::to_string(&sealed).unwrap_or_default();
        self.out.event(NewEvent {
            at_ms: self.now,
            stream: RECORD_STREAM.into(),
            key: id.into(),
            kind: "CONTACT_RECORD".into(),
            payload,
        });
    }

    /// The contact is done with: its final record, and it is forgotten.
    pub(crate) fn finish(&mut self, id: &str) {
        self.write_record(id);
        self.customer_absent_since.remove(id);
        if let Some(c) = self.contacts.remove(id) {
            // Its socket, if one is still open, goes with it.
            if let Some(endpoint) = c.customer {
                self.close_endpoint(endpoint);
            }
            self.forget_chat(id, c.record.next_contact_id);
        }
        self.dirty.remove(id);
        self.out.event(NewEvent {
            at_ms: self.now,
            stream: LIVE_STREAM.into(),
            key: id.into(),
            kind: "FINISHED".into(),
            payload: "null".into(),
        });
    }
}
