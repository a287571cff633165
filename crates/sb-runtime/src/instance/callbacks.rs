//! Queued callbacks (Connect's `CreateCallbackContact`): a voice contact that waits in
//! a queue until its first call is due, is offered to an agent like any contact, and
//! comes back for another attempt when the customer was not reached.
//!
//! Switchboard places no calls itself yet: the agent who accepts a callback is given the
//! number (on the offer), calls, and either ends the contact like any other or reports
//! `callback_failed`, which frees the agent at once and puts the callback back in line
//! after the retry gap, or ends it when no attempts are left.

use sb_model::record::DisconnectReason;
use sb_model::record::{Endpoint, EndpointType, InitiationMethod};
use sb_model::Channel;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::contacts::Stage;
use super::{Owner, RuntimeError};

/// Where a callback stands: kept with the contact, so a restart keeps its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CallbackState {
    /// Not offered before this (ms).
    pub not_before: i64,
    /// Calls still to make, this one included.
    pub attempts_left: u32,
    pub retry_gap_ms: i64,
}

impl CallbackState {
    pub(crate) fn policy(&self) -> sb_routing::CallbackPolicy {
        sb_routing::CallbackPolicy {
            attempts_left: self.attempts_left,
            retry_gap_ms: self.retry_gap_ms,
        }
    }
}

/// What a flow's `CreateCallbackContact` asked for.
pub(crate) struct CallbackRequest {
    pub queue: String,
    pub number: String,
    pub initial_delay_seconds: u64,
    pub max_attempts: u32,
    pub retry_delay_seconds: u64,
}

impl Owner {
    /// A callback for the customer of contact `from`, in line once its first call is
    /// due. The callback's record follows from `from`'s (PreviousContactId).
    pub(crate) fn create_callback(
        &mut self,
        from: &str,
        request: CallbackRequest,
    ) -> Result<String, RuntimeError> {
        let c = self
            .contacts
            .get(from)
            .ok_or_else(|| RuntimeError::UnknownContact(from.into()))?;
        let (config, attributes, initial, name) = (
            c.config.clone(),
            c.data.attributes.clone(),
            c.record.initial_contact_id.clone(),
            c.customer_name.clone(),
        );
        let seconds_ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let endpoint = Endpoint {
            address: request.number,
            kind: EndpointType::TelephoneNumber,
        };
        let id = self.new_contact(
            config,
            Channel::Voice,
            InitiationMethod::Callback,
            attributes,
            Some(endpoint),
            Some((initial, from.to_string())),
        )?;
        let callback = CallbackState {
            not_before: self
                .now
                .saturating_add(seconds_ms(request.initial_delay_seconds)),
            attempts_left: request.max_attempts.max(1),
            retry_gap_ms: seconds_ms(request.retry_delay_seconds),
        };
        let contact = self.contacts.get_mut(&id).expect("just created");
        contact.callback = Some(callback);
        contact.customer_name = name;
        // Kept for a restart by the enqueue, or ended (and recorded) here.
        if !self.enqueue(&id, &request.queue) {
            self.end_contact(&id, DisconnectReason::Other);
            return Err(RuntimeError::Invalid(format!(
                "the callback could not be queued in '{}'",
                request.queue
            )));
        }
        Ok(id)
    }

    /// The agent on a callback did not reach the customer.
    pub(crate) fn callback_failed(
        &mut self,
        user: &str,
        contact: &str,
    ) -> Result<(), RuntimeError> {
        let c = self
            .contacts
            .get(contact)
            .filter(|c| c.stage == Stage::Connected(user.to_string()))
            .ok_or_else(|| {
                RuntimeError::Invalid(format!("{user} is not connected to a contact '{contact}'"))
            })?;
        let Some(callback) = c.callback else {
            return Err(RuntimeError::Invalid(format!(
                "'{contact}' is not a callback"
            )));
        };
        let now = self.now;
        self.engine
            .callback_failed(now, contact)
            .map_err(RuntimeError::Routing)?;
        let c = self.contacts.get_mut(contact).expect("checked above");
        c.stage = Stage::Queued;
        c.connected_at = None;
        c.record.agent = None;
        let attempts_left = callback.attempts_left.saturating_sub(1);
        c.callback = Some(CallbackState {
            not_before: now.saturating_add(callback.retry_gap_ms),
            attempts_left,
            ..callback
        });
        self.touch(contact);
        self.contact_event(
            contact,
            super::contact_events::ContactEventType::CallbackAttemptFailed,
            json!({"ContactId": contact, "Agent": user, "AttemptsLeft": attempts_left}),
        );
        if attempts_left == 0 {
            // Routing has let it go (dequeued, expired): its record says so, then the
            // contact ends.
            self.route();
            self.end_contact(contact, DisconnectReason::Expired);
        }
        Ok(())
    }
}
