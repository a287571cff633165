//! Contacts: chats and tasks through their flows, into queues, to agents, to a record.

use std::collections::BTreeMap;
use std::sync::Arc;

use sb_flow::interpret::{ContactData, FlowRun, Input};
use sb_model::config::FlowType;
use sb_model::record::{ContactRecord, Endpoint, InitiationMethod};
use sb_model::Channel;
use sb_security::envelope::DataKey;
use sb_store::{NewEvent, DATA_KEY_STREAM};
use serde_json::json;

use super::chat::MESSAGE_BURST;
use super::output::EndpointId;
use super::Timer;
use super::{
    rfc3339, ChatItem, ChatStarted, ContactSummary, NewChat, NewTask, Owner, RuntimeError,
};
use crate::live::DeployedConfig;
use crate::vault::seal_record;

/// Connect's limit on a contact's attributes.
const MAX_ATTRIBUTE_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Stage {
    Scheduled,
    InFlow,
    Queued,
    Offered(String),
    Connected(String),
    AfterWork(String),
}

impl Stage {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Stage::Scheduled => "scheduled",
            Stage::InFlow => "in_flow",
            Stage::Queued => "queued",
            Stage::Offered(_) => "offered",
            Stage::Connected(_) => "connected",
            Stage::AfterWork(_) => "after_contact_work",
        }
    }

    pub(crate) fn agent(&self) -> Option<&str> {
        match self {
            Stage::Offered(a) | Stage::Connected(a) | Stage::AfterWork(a) => Some(a),
            _ => None,
        }
    }
}

pub(crate) struct LiveContact {
    pub config: Arc<DeployedConfig>,
    /// Seals what is stored about the contact (its state, transcript, sensitive fields).
    pub key: DataKey,
    pub data: ContactData,
    pub flow: Option<FlowRun>,
    pub stage: Stage,
    pub transcript: Vec<ChatItem>,
    pub token_sha256: Option<String>,
    /// The customer's socket while one is open; its number is the session's.
    pub customer: Option<EndpointId>,
    pub customer_name: Option<String>,
    /// The pending flow timer (input time limit, Wait, message-loop interrupt), and when.
    pub timer: Option<u64>,
    pub timer_at: Option<i64>,
    /// Bumped whenever the flow moves on, so a late function result is ignored.
    pub function_epoch: u64,
    pub record: ContactRecord,
    pub tokens: f64,
    pub tokens_at: i64,
    pub connected_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The last position told to the customer, so unchanged ones are not repeated.
    pub told_position: Option<usize>,
    /// Set for a queued callback.
    pub callback: Option<super::callbacks::CallbackState>,
    /// When it joined its line, in the owner's count of arrivals: a restart puts
    /// contacts back in this order (several can join within one millisecond).
    pub line_order: u64,
}

impl Owner {
    /// A live contact's record so far, sealed as stored.
    pub(super) fn live_record(
        &self,
        contact: String,
    ) -> Result<sb_model::record::ContactRecord, RuntimeError> {
        self.contacts
            .get(&contact)
            .map(|c| seal_record(&c.key, &c.data.sensitive_attributes, &c.record))
            .ok_or(RuntimeError::UnknownContact(contact))
    }

    /// Every live contact, by id.
    pub(super) fn list_contacts(&self) -> Vec<ContactSummary> {
        let mut list: Vec<ContactSummary> = self
            .contacts
            .iter()
            .map(|(id, c)| ContactSummary {
                contact_id: id.clone(),
                channel: c.data.channel,
                stage: c.stage.name().into(),
                queue: c.record.queue.as_ref().map(|q| q.name.clone()),
                agent: c.stage.agent().map(str::to_string),
                position: self.engine.position(id),
            })
            .collect();
        list.sort_by(|a, b| a.contact_id.cmp(&b.contact_id));
        list
    }

    pub(crate) fn contact_event(
        &mut self,
        id: &str,
        kind: super::contact_events::ContactEventType,
        payload: serde_json::Value,
    ) {
        self.out.event(NewEvent {
            at_ms: self.now,
            stream: sb_store::CONTACT_EVENT_STREAM.into(),
            key: id.to_string(),
            kind: kind.as_str().to_string(),
            payload: payload.to_string(),
        });
    }

    fn config(&self) -> Result<Arc<DeployedConfig>, RuntimeError> {
        self.config.clone().ok_or(RuntimeError::NotReady)
    }

    fn entry_flow(config: &DeployedConfig, flow: Option<String>) -> Result<String, RuntimeError> {
        let name = flow
            .or_else(|| {
                config
                    .spec
                    .instance
                    .default_inbound_flow
                    .as_ref()
                    .map(|f| f.to_string())
            })
            .ok_or_else(|| {
                RuntimeError::Invalid(
                    "no flow given and the instance has no default_inbound_flow".into(),
                )
            })?;
        match config.spec.flows.get(name.as_str()) {
            None => Err(RuntimeError::UnknownFlow(name)),
            Some(f) if f.entry.kind != FlowType::ContactFlow => {
                Err(RuntimeError::NotAContactFlow(name))
            }
            Some(_) => Ok(name),
        }
    }

    pub(crate) fn check_attributes(
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        let bytes: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > MAX_ATTRIBUTE_BYTES {
            return Err(RuntimeError::Invalid(format!(
                "attributes are {bytes} bytes; at most {MAX_ATTRIBUTE_BYTES}"
            )));
        }
        Ok(())
    }

    pub(crate) fn new_contact(
        &mut self,
        config: Arc<DeployedConfig>,
        channel: Channel,
        method: InitiationMethod,
        attributes: BTreeMap<String, String>,
        customer_endpoint: Option<Endpoint>,
        previous: Option<(String, String)>,
    ) -> Result<String, RuntimeError> {
        if let Some(endpoint) = &customer_endpoint {
            endpoint.check().map_err(RuntimeError::Invalid)?;
        }
        let now = self.now;
        let id = self
            .clock
            .contact_id(now)
            .map_err(|e| RuntimeError::Internal(e.to_string()))?;
        // The contact's own data key, kept (wrapped) with its first events: everything
        // about the customer that is stored is sealed under it.
        let (key, stored_key) = self
            .vault
            .new_contact_key(&id, customer_endpoint.as_ref().map(|e| e.address.as_str()))
            .map_err(|e| {
                RuntimeError::Internal(format!("cannot make the contact's data key: {e}"))
            })?;
        self.out.event(NewEvent {
            at_ms: now,
            stream: DATA_KEY_STREAM.into(),
            key: id.clone(),
            kind: "DATA_KEY".into(),
            payload: serde_json::to_string(&stored_key).expect("a data key serialises"),
        });
        let mut data = ContactData::new(id.clone(), channel);
        // What flows read as $.CustomerEndpoint.Address (a callback's number, say).
        data.customer_endpoint = customer_endpoint.as_ref().map(|e| e.address.clone());
        let mut attributes = attributes;
        mask_attributes(&mut attributes);
        data.attributes = attributes.clone();
        data.sensitive_attributes = config.spec.security.sensitive_attributes.clone();
        let (initial, previous) = match previous {
            Some((initial, previous)) => (initial, Some(previous)),
            None => (id.clone(), None),
        };
        data.initial_contact_id = initial.clone();
        let record = ContactRecord {
            contact_id: id.clone(),
            initial_contact_id: initial.clone(),
            previous_contact_id: previous.clone(),
            next_contact_id: None,
            channel,
            initiation_method: method,
            initiation_timestamp: rfc3339(now),
            connected_to_system_timestamp: Some(rfc3339(now)),
            disconnect_timestamp: None,
            last_update_timestamp: rfc3339(now),
            disconnect_reason: None,
            queue: None,
            agent: None,
            agent_connection_attempts: 0,
            customer_endpoint,
            attributes,
            recordings: vec![],
            configuration_version: config.version,
        };
        self.contacts.insert(
            id.clone(),
            LiveContact {
                config,
                key,
                data,
                flow: None,
                stage: Stage::InFlow,
                transcript: Vec::new(),
                token_sha256: None,
                customer: None,
                customer_name: None,
                timer: None,
                timer_at: None,
                function_epoch: 0,
                record,
                tokens: MESSAGE_BURST,
                tokens_at: now,
                connected_at: None,
                ended_at: None,
                told_position: None,
                callback: None,
                line_order: 0,
            },
        );
        self.contact_event(
            &id,
            super::contact_events::ContactEventType::Initiated,
            json!({"ContactId": id, "Channel": channel, "InitiationMethod": method,
                   "InitialContactId": initial, "PreviousContactId": previous}),
        );
        self.contact_event(
            &id,
            super::contact_events::ContactEventType::ConnectedToSystem,
            json!({"ContactId": id}),
        );
        Ok(id)
    }

    pub(super) fn start_chat(&mut self, chat: NewChat) -> Result<ChatStarted, RuntimeError> {
        let config = self.config()?;
        let flow = Self::entry_flow(&config, chat.flow)?;
        Self::check_attributes(&chat.attributes)?;
        let (token, token_sha256) =
            sb_security::issue_secret().map_err(|e| RuntimeError::Internal(e.to_string()))?;
        let id = self.new_contact(
            config,
            Channel::Chat,
            InitiationMethod::Api,
            chat.attributes,
            chat.customer_endpoint,
            None,
        )?;
        let contact = self.contacts.get_mut(&id).expect("just created");
        contact.token_sha256 = Some(token_sha256);
        contact.customer_name = Some(chat.display_name);
        contact.flow = Some(FlowRun::start(&flow));
        // Until the customer's socket opens, the chat waits for it like for one gone.
        self.customer_absent(&id);
        self.drive(&id, Input::Begin);
        Ok(ChatStarted {
            contact_id: id,
            participant_token: token,
        })
    }

    pub(super) fn create_task(&mut self, task: NewTask) -> Result<String, RuntimeError> {
        let config = self.config()?;
        if task.name.trim().is_empty() {
            return Err(RuntimeError::Invalid("a task needs a name".into()));
        }
        let flow = Self::entry_flow(&config, task.flow.clone())?;
        let mut attributes = task.attributes.clone();
        for (name, url) in &task.references {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(RuntimeError::Invalid(format!(
                    "reference '{name}' is not a URL"
                )));
            }
            attributes.insert(format!("reference.{name}"), url.clone());
        }
        Self::check_attributes(&attributes)?;
        let start_at = match &task.scheduled_at {
            Some(at) => Some(
                at.parse::<jiff::Timestamp>()
                    .map_err(|_| {
                        RuntimeError::Invalid(format!(
                            "scheduled_at '{at}' is not an RFC 3339 time"
                        ))
                    })?
                    .as_millisecond(),
            ),
            None => None,
        };

        let id = self.new_contact(
            config,
            Channel::Task,
            InitiationMethod::Api,
            attributes,
            task.customer_endpoint.clone(),
            None,
        )?;
        let contact = self.contacts.get_mut(&id).expect("just created");
        contact.data.name = Some(mask_card_numbers(task.name.clone()));
        contact.data.description = Some(mask_card_numbers(task.description.clone()));
        contact.flow = Some(FlowRun::start(&flow));
        let now = self.now;
        self.arm_task_expiry(&id, now);
        match start_at.filter(|&t| t > now) {
            Some(at) => {
                self.contacts.get_mut(&id).expect("exists").stage = Stage::Scheduled;
                self.set_timer(&id, at);
                // Durable now, so a restart before the start time keeps the task.
                self.touch(&id);
            }
            None => self.drive(&id, Input::Begin),
        }
        Ok(id)
    }

    /// Tasks expire: whatever state they are in after the instance's task expiry
    /// (counted from `created_ms`), they end.
    pub(crate) fn arm_task_expiry(&mut self, id: &str, created_ms: i64) {
        let Some(days) = self
            .contacts
            .get(id)
            .map(|c| i64::from(c.config.spec.instance.task_expiry_days))
        else {
            return;
        };
        let expiry = self.new_id();
        self.timers.insert((
            created_ms + days * 86_400_000,
            expiry,
            Timer::TaskExpiry(id.to_string()),
        ));
    }

    /// Remember that a contact changed: its state is made durable with this batch.
    pub(crate) fn touch(&mut self, id: &str) {
        self.dirty.insert(id.to_string());
    }
}

/// `text` with card numbers masked to their first six and last four digits.
pub(crate) fn mask_card_numbers(text: String) -> String {
    match sb_model::pci::redact_card_numbers(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(masked) => masked,
    }
}

pub(crate) fn mask_attributes(attributes: &mut BTreeMap<String, String>) {
    for value in attributes.values_mut() {
        *value = mask_card_numbers(std::mem::take(value));
    }
}

pub(super) fn mask_value(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = mask_card_numbers(std::mem::take(s)),
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_value),
        serde_json::Value::Object(map) => map.values_mut().for_each(mask_value),
        _ => {}
    }
}
