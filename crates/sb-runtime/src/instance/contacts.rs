//! Contacts: chats and tasks through their flows, into queues, to agents, to a record.

use sb_model::record::DisconnectReason;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::output::{Effect as OwnerEffect, EndpointId, FunctionCall};
use sb_flow::interpret::{
    resume, ContactData, Effect, FlowRun, Input, Message, Next, Outcome, ThirdPartyResult,
};
use sb_model::config::FlowType;
use sb_model::record::{ContactRecord, Endpoint, InitiationMethod, QueueInfo};
use sb_model::Channel;
use sb_routing::EnqueueOptions;
use sb_security::envelope::DataKey;
use sb_store::{NewEvent, DATA_KEY_STREAM, LIVE_STREAM, RECORD_STREAM};
use serde_json::json;

use super::env::EngineFigures;
use super::{
    rfc3339, AgentFrame, ChatItem, ChatStarted, ContactSummary, CustomerEvent, CustomerFrame,
    NewChat, NewTask, Owner, RuntimeError,
};
use crate::live::DeployedConfig;
use crate::vault::{seal_json, seal_record};

/// Customer messages allowed per second on one chat, and the burst above it.
const MESSAGES_PER_SECOND: u32 = 5;
const MESSAGE_BURST: f64 = 20.0;
/// Position updates to waiting customers go out at most this often.
const POSITION_PERIOD_MS: i64 = 1_000;
/// Connect's limit on a contact's attributes.
const MAX_ATTRIBUTE_BYTES: usize = 32 * 1024;

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

/// How a contact enters a queue: its priority, its time adjustment, the time it already
/// spent in line (`waited_ms`, for a contact coming back after a restart), the flow's
/// routing criteria (criteria Switchboard cannot evaluate are logged and the contact is
/// routed without them), and for a callback when it is due and how many calls are left.
pub(crate) fn enqueue_options(
    id: &str,
    data: &ContactData,
    callback: Option<&super::callbacks::CallbackState>,
    waited_ms: i64,
) -> EnqueueOptions {
    let criteria = match data
        .routing_criteria
        .as_ref()
        .map(super::criteria::from_connect)
    {
        Some(Ok(criteria)) => Some(criteria),
        Some(Err(e)) => {
            tracing::warn!(contact = id, error = %e, "routing criteria ignored");
            None
        }
        None => None,
    };
    EnqueueOptions {
        priority: Some(data.queue_priority),
        time_adjustment_seconds: data.queue_time_adjustment_seconds,
        criteria,
        not_before: callback.map(|c| c.not_before),
        callback: callback.map(|c| c.policy()),
        waited_ms,
    }
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

/// What a message says in a chat: its text, else its SSML, else its prompt's text.
fn text_of(config: &DeployedConfig, m: &Message) -> String {
    let prompt = || {
        let name = m.prompt.as_deref()?;
        let prompt = config.spec.prompts.get(name)?;
        Some(
            prompt
                .text
                .clone()
                .unwrap_or_else(|| format!("[audio: {name}]")),
        )
    };
    m.text
        .clone()
        .or_else(|| m.ssml.clone())
        .or_else(prompt)
        .unwrap_or_default()
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

    /// A function's answer, if the flow still waits for this call (`epoch`).
    pub(super) fn function_done(
        &mut self,
        contact: &str,
        epoch: u64,
        result: sb_flow::interpret::FunctionResult,
    ) {
        // A late answer, to a call the flow has stopped waiting for, is dropped.
        if self
            .contacts
            .get(contact)
            .is_none_or(|c| c.function_epoch != epoch)
        {
            return;
        }
        let result = match result {
            sb_flow::interpret::FunctionResult::Ok { mut response } => {
                mask_value(&mut response);
                sb_flow::interpret::FunctionResult::Ok { response }
            }
            failed => failed,
        };
        self.drive(contact, Input::FunctionResult { result });
    }

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
            stream: "contact".into(),
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
            format!("expire:{id}"),
        ));
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
        self.timers
            .insert((now + limit, timer, format!("absent:{id}")));
    }

    fn customer_absence_elapsed(&mut self, id: &str) {
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

    pub(crate) fn set_timer(&mut self, id: &str, at: i64) -> u64 {
        let timer = self.new_id();
        self.timers.insert((at, timer, id.to_string()));
        if let Some(c) = self.contacts.get_mut(id) {
            c.timer = Some(timer);
            c.timer_at = Some(at);
        }
        timer
    }

    /// Tell each chat customer waiting in a queue that moved where they stand now. At
    /// most once a second: a long line must not be walked on every batch.
    pub(crate) fn push_positions(&mut self) {
        let now = self.now;
        if self.moved.is_empty() || now < self.positions_due {
            return;
        }
        self.positions_due = now + POSITION_PERIOD_MS;
        for queue in std::mem::take(&mut self.moved) {
            let mut tell = Vec::new();
            let contacts = &mut self.contacts;
            self.engine
                .visit_line(&queue, Channel::Chat, |id, position| {
                    let Some(c) = contacts.get_mut(id) else {
                        return;
                    };
                    if c.told_position == Some(position.position) {
                        return;
                    }
                    if let Some(endpoint) = c.customer {
                        c.told_position = Some(position.position);
                        let frame = CustomerFrame::Position {
                            position: position.position,
                            estimated_wait_seconds: position.estimated_wait_ms.map(|ms| ms / 1000),
                        };
                        tell.push((endpoint, frame));
                    }
                });
            for (endpoint, frame) in tell {
                self.send_customer(endpoint, frame);
            }
        }
    }

    /// Remember that a contact changed: its state is made durable with this batch.
    pub(crate) fn touch(&mut self, id: &str) {
        self.dirty.insert(id.to_string());
    }

    pub(crate) fn flow_timer_fired(&mut self, key: &str, timer: u64) {
        if let Some(id) = key.strip_prefix("absent:") {
            self.customer_absence_elapsed(id);
            return;
        }
        if let Some(id) = key.strip_prefix("expire:") {
            if self.contacts.contains_key(id) {
                self.end_contact(id, DisconnectReason::Expired);
            }
            return;
        }
        let Some(c) = self.contacts.get_mut(key) else {
            return;
        };
        if c.timer != Some(timer) {
            return;
        }
        c.timer = None;
        let waiting = c.flow.as_ref().and_then(|f| f.waiting);
        match (&c.stage, waiting) {
            (Stage::Scheduled, _) => {
                c.stage = Stage::InFlow;
                self.drive(key, Input::Begin);
            }
            (_, Some(sb_flow::interpret::Waiting::Input)) => self.drive(key, Input::InputTimeout),
            (_, Some(_)) => self.drive(key, Input::TimerElapsed),
            _ => {}
        }
    }

    /// Feed the contact's flow and carry out what it decides.
    pub(crate) fn drive(&mut self, id: &str, input: Input) {
        let now = self.now;
        let step = {
            let Some(c) = self.contacts.get_mut(id) else {
                return;
            };
            let Some(run) = c.flow.as_mut() else { return };
            // A queue flow can tell the customer where they stand (worked out only
            // when some flow asks: it walks the queue).
            let reads = c.config.flows.reads_queue_standing();
            let (position, wait_seconds) = match c.stage {
                Stage::Queued if reads => self
                    .engine
                    .position(id)
                    .map(|p| {
                        let wait = p.estimated_wait_ms.map(|ms| (ms.max(0) / 1000) as u64);
                        (Some(p.position as u64), wait)
                    })
                    .unwrap_or((None, None)),
                // Offered to an agent: first in line, with no wait left to tell.
                Stage::Offered(_) if reads => (Some(1), Some(0)),
                _ => (None, None),
            };
            c.data.queue_position = position;
            c.data.queue_wait_seconds = wait_seconds;
            c.function_epoch += 1;
            c.timer = None;
            let figures = EngineFigures(&self.engine);
            let env = sb_spec::SpecEnv {
                spec: &c.config.spec,
                flows: &c.config.flows,
                now: jiff::Timestamp::from_millisecond(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                figures: &figures,
                tracing: false,
            };
            let step = resume(&env, run, &mut c.data, input);
            // Whatever a flow put there is masked before it is kept (function results
            // were masked when they arrived).
            mask_attributes(&mut c.data.attributes);
            c.record.attributes = c.data.attributes.clone();
            step
        };
        self.touch(id);
        let logging = self
            .contacts
            .get(id)
            .and_then(|c| c.flow.as_ref())
            .is_some_and(|f| f.logging);
        if logging && !step.trace.is_empty() {
            self.out.event(NewEvent {
                at_ms: now,
                stream: "flow-log".into(),
                key: id.into(),
                kind: "ACTIONS".into(),
                payload: {
                    let mut trace = serde_json::to_value(&step.trace).unwrap_or_default();
                    mask_value(&mut trace);
                    trace.to_string()
                },
            });
        }
        let config = self.contacts.get(id).map(|c| c.config.clone());
        for effect in step.effects {
            match effect {
                Effect::Message(m) => {
                    let text = config
                        .as_deref()
                        .map(|c| text_of(c, &m))
                        .unwrap_or_default();
                    self.say(id, super::ChatSender::System, None, text)
                }
                Effect::CreateTask {
                    name,
                    description,
                    flow,
                    attributes,
                } => {
                    let task = NewTask {
                        name,
                        description,
                        flow: Some(flow),
                        attributes,
                        ..NewTask::default()
                    };
                    if let Err(e) = self.create_task(task) {
                        tracing::warn!(contact = id, error = %e, "flow could not create a task");
                    }
                }
                Effect::CreateCallback {
                    queue,
                    number,
                    initial_delay_seconds,
                    max_attempts,
                    retry_delay_seconds,
                } => {
                    let request = super::callbacks::CallbackRequest {
                        queue,
                        number,
                        initial_delay_seconds,
                        max_attempts,
                        retry_delay_seconds,
                    };
                    if let Err(e) = self.create_callback(id, request) {
                        tracing::warn!(contact = id, error = %e, "flow could not create a callback");
                    }
                }
                Effect::SetRecording { behavior } => {
                    if let (Some(c), Some(recorded)) =
                        (self.contacts.get_mut(id), recorded_participants(&behavior))
                    {
                        c.data.recorded_participants = recorded;
                    }
                    self.contact_event(
                        id,
                        super::contact_events::ContactEventType::RecordingBehavior,
                        behavior,
                    );
                }
                Effect::InvokeFunctionAsync { function, event } => self.call_function(
                    id,
                    function,
                    event,
                    8.0,
                    sb_flow::interpret::ResponseType::Json,
                    false,
                ),
                // The rest change nothing outside the flow (its own logging, for one):
                // internal, and no public event (the flow log shows the action).
                other => tracing::debug!(contact = id, effect = ?other, "flow effect"),
            }
        }
        match step.next {
            Next::Input {
                timeout_seconds, ..
            } => {
                self.set_timer(id, now + i64::from(timeout_seconds) * 1000);
            }
            Next::Timer { seconds } => {
                self.set_timer(id, now + seconds as i64 * 1000);
            }
            Next::MessageLoop {
                messages,
                interrupt_seconds,
            } => {
                for m in &messages {
                    let text = config.as_deref().map(|c| text_of(c, m)).unwrap_or_default();
                    self.say(id, super::ChatSender::System, None, text);
                }
                if let Some(s) = interrupt_seconds {
                    self.set_timer(id, now + s as i64 * 1000);
                }
            }
            Next::Function {
                function,
                event,
                timeout_seconds,
                response,
            } => self.call_function(id, function, event, timeout_seconds, response, true),
            Next::Enqueue {
                queue,
                from_queue_flow,
            } => {
                let waiting = self
                    .contacts
                    .get(id)
                    .is_some_and(|c| c.stage == Stage::Queued);
                let accepted = if from_queue_flow && waiting {
                    self.move_to_queue(id, &queue)
                } else {
                    self.enqueue(id, &queue)
                };
                self.drive(id, Input::Enqueue { accepted });
            }
            Next::ThirdParty { .. } => self.drive(
                id,
                Input::ThirdParty {
                    result: ThirdPartyResult::Failed,
                },
            ),
            Next::Done(outcome) => self.flow_done(id, outcome),
        }
    }

    fn call_function(
        &mut self,
        id: &str,
        function: String,
        event: serde_json::Value,
        timeout_seconds: f64,
        response: sb_flow::interpret::ResponseType,
        wait: bool,
    ) {
        let Some(c) = self.contacts.get(id) else {
            return;
        };
        // The call leaves the process only once what led to it is durable.
        self.out.effect(OwnerEffect::CallFunction(FunctionCall {
            contact: id.to_string(),
            epoch: c.function_epoch,
            function,
            event,
            timeout: std::time::Duration::try_from_secs_f64(timeout_seconds)
                .unwrap_or(std::time::Duration::from_secs(8)),
            response,
            answer_wanted: wait,
        }));
    }

    /// A queue flow's DequeueContactAndTransferToQueue: the waiting contact leaves its
    /// queue for `queue`, where it is a new arrival; its record names the new queue.
    fn move_to_queue(&mut self, id: &str, queue: &str) -> bool {
        let Some(c) = self.contacts.get(id) else {
            return false;
        };
        let options = enqueue_options(id, &c.data, c.callback.as_ref(), 0);
        let from = c.record.queue.as_ref().map(|q| q.name.clone());
        let now = self.now;
        if let Err(e) = self.engine.move_to_queue(now, id, queue, options) {
            tracing::info!(contact = id, queue, error = %e, "move to another queue refused");
            return false;
        }
        self.moved.insert(queue.to_string());
        self.moved.extend(from);
        self.touch(id);
        let c = self.contacts.get_mut(id).expect("exists");
        c.record.queue = Some(QueueInfo {
            name: queue.to_string(),
            enqueue_timestamp: rfc3339(now),
            dequeue_timestamp: None,
            duration: None,
        });
        self.contact_event(
            id,
            super::contact_events::ContactEventType::Queued,
            json!({"ContactId": id, "Queue": {"Name": queue}}),
        );
        true
    }

    /// Put the contact in line: `queue` is a queue name, or `agent:NAME` for an agent queue.
    pub(crate) fn enqueue(&mut self, id: &str, queue: &str) -> bool {
        let Some(c) = self.contacts.get(id) else {
            return false;
        };
        let options = enqueue_options(id, &c.data, c.callback.as_ref(), 0);
        let now = self.now;
        let result = self.enter_line(id, queue, options);
        match result {
            Ok(()) => {
                self.moved.insert(queue.to_string());
                self.touch(id);
                self.arrivals += 1;
                let line_order = self.arrivals;
                let c = self.contacts.get_mut(id).expect("exists");
                c.line_order = line_order;
                c.stage = Stage::Queued;
                c.record.queue = Some(QueueInfo {
                    name: queue.to_string(),
                    enqueue_timestamp: rfc3339(now),
                    dequeue_timestamp: None,
                    duration: None,
                });
                self.contact_event(
                    id,
                    super::contact_events::ContactEventType::Queued,
                    json!({"ContactId": id, "Queue": {"Name": queue}}),
                );
                true
            }
            Err(e) => {
                tracing::info!(contact = id, queue, error = %e, "enqueue refused");
                false
            }
        }
    }

    /// Routing's side of putting a contact in line (an agent queue is the agent's own
    /// line, drawn from its routing profile's default outbound queue).
    pub(crate) fn enter_line(
        &mut self,
        id: &str,
        queue: &str,
        options: sb_routing::EnqueueOptions,
    ) -> Result<(), sb_routing::RoutingError> {
        let Some(c) = self.contacts.get(id) else {
            return Err(sb_routing::RoutingError::UnknownContact(id.into()));
        };
        let channel = c.data.channel;
        let now = self.now;
        match queue.strip_prefix("agent:") {
            Some(agent) => {
                let unknown = || sb_routing::RoutingError::UnknownAgent(agent.into());
                let home =
                    super::transfer::agent_home_queue(&c.config.spec, agent).ok_or_else(unknown)?;
                // An agent's queue takes contacts whether or not the agent is logged in.
                self.enter_routing(agent).map_err(|_| unknown())?;
                self.engine
                    .enqueue_for_agent(now, id, agent, &home, channel, options)
            }
            None => self.engine.enqueue(now, id, queue, channel, options),
        }
    }

    fn flow_done(&mut self, id: &str, outcome: Outcome) {
        let Some(c) = self.contacts.get_mut(id) else {
            return;
        };
        c.flow = None;
        let stage = c.stage.clone();
        match outcome {
            Outcome::TransferredToQueue { queue } => {
                // While it waits, the queue's customer-queue flow keeps the customer company.
                let queue_flow = c
                    .config
                    .spec
                    .queues
                    .get(queue.as_str())
                    .and_then(|q| q.customer_queue_flow.clone());
                if let (Some(flow), Channel::Chat) = (queue_flow, c.data.channel) {
                    c.flow = Some(FlowRun::start(flow.as_str()));
                    self.route();
                    if self
                        .contacts
                        .get(id)
                        .is_some_and(|c| c.stage == Stage::Queued)
                    {
                        self.drive(id, Input::Begin);
                    }
                    return;
                }
                self.route();
            }
            Outcome::TransferredToAgent { .. } => self.route(),
            Outcome::Ended
                if matches!(
                    stage,
                    Stage::Queued | Stage::Offered(_) | Stage::Connected(_) | Stage::AfterWork(_)
                ) => {}
            Outcome::Ended | Outcome::Disconnected => {
                self.end_contact(id, DisconnectReason::ContactFlowDisconnect)
            }
            Outcome::TransferredToThirdParty { .. } => {
                self.end_contact(id, DisconnectReason::ThirdPartyDisconnect)
            }
            Outcome::Error { reason } => {
                tracing::warn!(contact = id, reason, "flow ended in error");
                self.contact_event(
                    id,
                    super::contact_events::ContactEventType::FlowError,
                    json!({"reason": reason}),
                );
                self.end_contact(id, DisconnectReason::ContactFlowError);
            }
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
                stream: "chat".into(),
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
            for line in lines {
                self.send_customer(endpoint, CustomerFrame::Message(line));
            }
            self.send_customer(endpoint, CustomerFrame::Ended);
            self.close_endpoint(endpoint);
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
            for frame in missed {
                self.send_customer(endpoint, frame);
            }
            self.send_customer(endpoint, CustomerFrame::Ended);
            self.close_endpoint(endpoint);
            return Ok(session);
        }
        // A second socket for the same chat takes over; the first is closed.
        let replaced = c.customer.replace(endpoint);
        c.told_position = None;
        self.customer_absent_since.remove(id);
        if let Some(q) = c.record.queue.as_ref().filter(|_| c.stage == Stage::Queued) {
            self.moved.insert(q.name.clone());
        }
        if let Some(replaced) = replaced {
            self.close_endpoint(replaced);
        }
        for frame in missed {
            self.send_customer(endpoint, frame);
        }
        Ok(session)
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
            self.moved.insert(q.name.clone());
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

/// The participants whose chat lines are stored, from UpdateContactRecordingBehavior's
/// `RecordingBehavior.RecordedParticipants` (`[]` stops recording); `None` when the
/// block does not say (it changes analytics only).
fn recorded_participants(behavior: &serde_json::Value) -> Option<Vec<String>> {
    let list = behavior.pointer("/RecordingBehavior/RecordedParticipants")?;
    Some(
        list.as_array()?
            .iter()
            .filter_map(|p| p.as_str().map(|p| p.to_ascii_uppercase()))
            .collect(),
    )
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

fn mask_value(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = mask_card_numbers(std::mem::take(s)),
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_value),
        serde_json::Value::Object(map) => map.values_mut().for_each(mask_value),
        _ => {}
    }
}
