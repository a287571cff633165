//! What clients send — the sockets' frames (`switchboard.v1`, docs/contacts.md) and
//! the task body — in the API's own shapes, converted explicitly into the runtime's
//! commands, so that no runtime type is read from the wire. Public: the fuzz targets
//! (and clients written in Rust) read frames with these same types. Unknown fields are refused:
//! on the sockets a misspelt field is a client's mistake to hear about (the task body,
//! as before, ignores fields it does not know).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use sb_runtime::instance::{AgentAction, CustomerEvent, NewTask};

/// What a customer's chat socket sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum CustomerRequest {
    Message { text: String },
    Typing,
    Read { seq: u64 },
    Disconnect,
}

impl From<CustomerRequest> for CustomerEvent {
    fn from(request: CustomerRequest) -> Self {
        match request {
            CustomerRequest::Message { text } => CustomerEvent::Message { text },
            CustomerRequest::Typing => CustomerEvent::Typing,
            CustomerRequest::Read { seq } => CustomerEvent::Read { seq },
            CustomerRequest::Disconnect => CustomerEvent::Disconnect,
        }
    }
}

/// What an agent's socket sends, and the body of `POST /v1/agent/actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum AgentRequest {
    /// A status by its name in the spec (e.g. Available, Break, Offline).
    SetStatus {
        status: String,
    },
    Accept {
        contact: String,
    },
    Reject {
        contact: String,
    },
    Message {
        contact: String,
        text: String,
    },
    Typing {
        contact: String,
    },
    /// The agent has read the chat up to line `seq`.
    Read {
        contact: String,
        seq: u64,
    },
    SetAttributes {
        contact: String,
        attributes: BTreeMap<String, String>,
    },
    /// End the conversation (after-contact work starts).
    End {
        contact: String,
    },
    /// After-contact work is done.
    Complete {
        contact: String,
    },
    /// The call of a queued callback did not reach the customer.
    CallbackFailed {
        contact: String,
    },
    /// Hand the contact on: to a queue, an agent, or a quick connect (exactly one).
    Transfer {
        contact: String,
        #[serde(default)]
        queue: Option<String>,
        #[serde(default)]
        agent: Option<String>,
        #[serde(default)]
        quick_connect: Option<String>,
    },
    Heartbeat,
}

impl From<AgentRequest> for AgentAction {
    fn from(request: AgentRequest) -> Self {
        match request {
            AgentRequest::SetStatus { status } => AgentAction::SetStatus { status },
            AgentRequest::Accept { contact } => AgentAction::Accept { contact },
            AgentRequest::Reject { contact } => AgentAction::Reject { contact },
            AgentRequest::Message { contact, text } => AgentAction::Message { contact, text },
            AgentRequest::Typing { contact } => AgentAction::Typing { contact },
            AgentRequest::Read { contact, seq } => AgentAction::Read { contact, seq },
            AgentRequest::SetAttributes {
                contact,
                attributes,
            } => AgentAction::SetAttributes {
                contact,
                attributes,
            },
            AgentRequest::End { contact } => AgentAction::End { contact },
            AgentRequest::Complete { contact } => AgentAction::Complete { contact },
            AgentRequest::CallbackFailed { contact } => AgentAction::CallbackFailed { contact },
            AgentRequest::Transfer {
                contact,
                queue,
                agent,
                quick_connect,
            } => AgentAction::Transfer {
                contact,
                queue,
                agent,
                quick_connect,
            },
            AgentRequest::Heartbeat => AgentAction::Heartbeat,
        }
    }
}

/// The body of `POST /v1/tasks`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewTaskBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub references: BTreeMap<String, String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// A flow by name (default: the instance's inbound flow).
    #[serde(default)]
    pub flow: Option<String>,
    /// Start no earlier than this (RFC 3339).
    #[serde(default)]
    pub scheduled_at: Option<String>,
    /// The customer the task is about, if known (sealed at rest; how privacy export
    /// and erasure find it).
    #[serde(default)]
    pub customer_endpoint: Option<sb_model::record::Endpoint>,
}

impl From<NewTaskBody> for NewTask {
    fn from(body: NewTaskBody) -> Self {
        NewTask {
            name: body.name,
            description: body.description,
            references: body.references,
            attributes: body.attributes,
            flow: body.flow,
            scheduled_at: body.scheduled_at,
            customer_endpoint: body.customer_endpoint,
        }
    }
}
