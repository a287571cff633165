//! Transfers, as Connect does them: the agent's contact ends (the agent goes to
//! after-contact work) and a new contact continues the conversation — linked through
//! PreviousContactId / NextContactId, with the same InitialContactId — into a queue, an
//! agent's queue, or a quick connect's transfer flow. The customer's chat socket moves
//! to the new contact without reconnecting; the transcript so far goes along.

use sb_flow::interpret::{FlowRun, Input};
use sb_model::config::QuickConnectTarget;
use sb_model::record::DisconnectReason;
use sb_model::record::InitiationMethod;
use sb_model::Channel;
use serde_json::json;

use super::contacts::Stage;
use super::{CustomerFrame, Owner, RuntimeError};

/// Where an agent sends a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransferTarget {
    Queue(String),
    Agent(String),
    QuickConnect(String),
}

/// What the new contact does first.
enum Next {
    /// Straight into a queue (or `agent:NAME`).
    Enqueue(String),
    /// Run a transfer flow with the target set, as a quick connect does.
    Flow {
        flow: String,
        queue: Option<String>,
        agent: Option<String>,
    },
}

/// The queue an agent's own queue draws on: its routing profile's default outbound
/// queue; `None` when `agent` is not an agent of the instance.
pub(crate) fn agent_home_queue(spec: &sb_spec::InstanceSpec, agent: &str) -> Option<String> {
    spec.users
        .get(agent)
        .and_then(|u| u.routing_profile.as_ref())
        .and_then(|p| spec.routing_profiles.get(p.as_str()))
        .map(|p| p.default_outbound_queue.to_string())
}

impl Owner {
    /// Transfer `contact`, held by `user`, to `target`; the new contact's id.
    pub(crate) fn transfer(
        &mut self,
        user: &str,
        contact: &str,
        target: TransferTarget,
    ) -> Result<String, RuntimeError> {
        let c = self
            .contacts
            .get(contact)
            .filter(|c| c.stage == Stage::Connected(user.to_string()))
            .ok_or_else(|| {
                RuntimeError::Invalid(format!(
                    "{user} is not connected to a contact '{contact}' to transfer"
                ))
            })?;
        if c.data.channel == Channel::Voice {
            return Err(RuntimeError::Invalid(
                "voice transfers need the voice channel".into(),
            ));
        }
        let config = c.config.clone();
        let spec = &config.spec;
        let next = match &target {
            TransferTarget::Queue(queue) => {
                // An unknown name is bad input, like an unknown agent or quick connect;
                // a full queue is the instance's state (a conflict).
                if !spec.queues.contains_key(queue.as_str()) {
                    return Err(RuntimeError::Invalid(format!("no queue named '{queue}'")));
                }
                self.engine
                    .admission(queue, None)
                    .map_err(RuntimeError::Routing)?;
                Next::Enqueue(queue.clone())
            }
            TransferTarget::Agent(agent) => {
                if agent == user {
                    return Err(RuntimeError::Invalid(
                        "an agent cannot transfer a contact to themselves".into(),
                    ));
                }
                let home = agent_home_queue(spec, agent).ok_or_else(|| {
                    RuntimeError::Invalid(format!("'{agent}' is not an agent of this instance"))
                })?;
                // Its agent queue takes the chat whether or not it is logged in; one
                // that routing does not know yet is empty, so only a known one can be full.
                if self.engine.agent_snapshot(agent).is_some() {
                    self.engine
                        .admission(&home, Some(agent))
                        .map_err(RuntimeError::Routing)?;
                }
                Next::Enqueue(format!("agent:{agent}"))
            }
            TransferTarget::QuickConnect(name) => {
                let qc = spec.quick_connects.get(name.as_str()).ok_or_else(|| {
                    RuntimeError::Invalid(format!("no quick connect named '{name}'"))
                })?;
                // Like Connect's agent desktop: the quick connects of the queues the
                // agent's routing profile serves.
                let offered = spec
                    .users
                    .get(user)
                    .and_then(|u| u.routing_profile.as_ref())
                    .and_then(|p| spec.routing_profiles.get(p.as_str()))
                    .is_some_and(|p| {
                        p.queues.iter().any(|rq| {
                            spec.queues.get(rq.queue.as_str()).is_some_and(|q| {
                                q.quick_connects.iter().any(|n| n.as_str() == name)
                            })
                        })
                    });
                if !offered {
                    return Err(RuntimeError::Invalid(format!(
                        "quick connect '{name}' is not offered on any queue of {user}'s routing profile"
                    )));
                }
                match &qc.target {
                    QuickConnectTarget::Queue { queue, flow } => Next::Flow {
                        flow: flow.to_string(),
                        queue: Some(queue.to_string()),
                        agent: None,
                    },
                    QuickConnectTarget::User { user: agent, flow } => Next::Flow {
                        flow: flow.to_string(),
                        queue: None,
                        agent: Some(agent.to_string()),
                    },
                    QuickConnectTarget::PhoneNumber { .. } => {
                        return Err(RuntimeError::Invalid(format!(
                            "quick connect '{name}' dials a phone number, which a {} contact cannot use",
                            c.data.channel.as_str()
                        )))
                    }
                }
            }
        };

        // The new contact: same customer, attributes and conversation.
        let (channel, attributes, endpoint, initial) = (
            c.data.channel,
            c.data.attributes.clone(),
            c.record.customer_endpoint.clone(),
            c.record.initial_contact_id.clone(),
        );
        let new = self.new_contact(
            config.clone(),
            channel,
            InitiationMethod::Transfer,
            attributes,
            endpoint,
            Some((initial, contact.to_string())),
        )?;
        let old = self.contacts.get_mut(contact).expect("checked above");
        old.record.next_contact_id = Some(new.clone());
        let customer = old.customer.take();
        let (token, name, transcript, data) = (
            old.token_sha256.clone(),
            old.customer_name.clone(),
            old.transcript.clone(),
            old.data.clone(),
        );
        let n = self.contacts.get_mut(&new).expect("just created");
        n.token_sha256 = token;
        n.customer_name = name;
        n.transcript = transcript;
        n.data.name = data.name;
        n.data.description = data.description;
        n.data.customer_endpoint = data.customer_endpoint;
        n.data.recorded_participants = data.recorded_participants;
        // Kept for a restart from this turn on, wherever it goes next.
        self.touch(&new);
        if let Some(endpoint) = customer {
            let frame = CustomerFrame::Transferred {
                contact: new.clone(),
            };
            self.send_customer(endpoint, frame);
            self.contacts.get_mut(&new).expect("exists").customer = Some(endpoint);
        }
        self.contact_event(
            contact,
            super::contact_events::ContactEventType::Transferred,
            json!({"ContactId": contact, "NextContactId": new, "By": user}),
        );
        self.end_contact(contact, DisconnectReason::AgentDisconnect);
        match next {
            Next::Enqueue(queue) => {
                if !self.enqueue(&new, &queue) {
                    // Admission was checked a moment ago on this same task: unreachable
                    // unless the engine changed its mind; the contact must not vanish.
                    self.end_contact(&new, DisconnectReason::Other);
                }
            }
            Next::Flow { flow, queue, agent } => {
                let n = self.contacts.get_mut(&new).expect("exists");
                n.data.target_queue = queue;
                n.data.target_agent = agent;
                n.flow = Some(FlowRun::start(&flow));
                self.drive(&new, Input::Begin);
            }
        }
        Ok(new)
    }

    /// The live contact a chat is on now: `id` itself, or the contact it was
    /// transferred to (a customer may reconnect with any id of the chain).
    pub(crate) fn chat_head(&self, id: &str) -> Option<String> {
        let mut current = id.to_string();
        // A chain is as long as its transfers; the bound only guards a corrupt one.
        for _ in 0..64 {
            match self.contacts.get(&current) {
                Some(c) => match c
                    .record
                    .next_contact_id
                    .as_ref()
                    .filter(|n| self.contacts.contains_key(n.as_str()))
                {
                    Some(next) => current = next.clone(),
                    None => return Some(current),
                },
                None => current = self.chat_aliases.get(&current)?.clone(),
            }
        }
        None
    }

    /// `id` is finished: if the chat went on elsewhere, customers holding its id are
    /// sent there; otherwise every alias leading to it goes.
    pub(crate) fn forget_chat(&mut self, id: &str, next: Option<String>) {
        if let Some(next) = next {
            self.chat_aliases.insert(id.to_string(), next);
            return;
        }
        let mut gone = vec![id.to_string()];
        while let Some(target) = gone.pop() {
            let from: Vec<String> = self
                .chat_aliases
                .iter()
                .filter(|(_, to)| **to == target)
                .map(|(from, _)| from.clone())
                .collect();
            for key in from {
                self.chat_aliases.remove(&key);
                gone.push(key);
            }
        }
    }
}
