use std::collections::BTreeMap;

use sb_model::Channel;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a contact is in its flows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowRun {
    pub flow: String,
    /// The action to run next, or the one waiting for an input.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// When the current wait began (Unix ms), for the action's duration in flow logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since_ms: Option<i64>,
    /// Where each active module returns to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<ModuleReturn>,
    /// TransferToFlow and InvokeFlowModule hops so far.
    #[serde(default)]
    pub depth: u32,
    /// Loop counters, by `flow/identifier`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub loops: BTreeMap<String, u32>,
    /// How many actions have run, in total, for this contact.
    #[serde(default)]
    pub executed: u64,
    /// Whether executed actions go to the flow log.
    #[serde(default)]
    pub logging: bool,
    #[serde(default)]
    pub finished: bool,
}

/// The kind of answer the current action waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    Input,
    Function,
    Timer,
    MessageLoop,
    Enqueue,
    ThirdParty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleReturn {
    pub flow: String,
    /// The InvokeFlowModule action, whose transitions continue the caller.
    pub action: String,
}

impl FlowRun {
    pub fn start(flow: &str) -> Self {
        FlowRun {
            flow: flow.to_string(),
            action: String::new(),
            waiting: None,
            waiting_since_ms: None,
            modules: Vec::new(),
            depth: 0,
            loops: BTreeMap::new(),
            executed: 0,
            logging: false,
            finished: false,
        }
    }
}

/// What a flow can read and write about its contact. Field names follow the flow
/// language's `$.` paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactData {
    pub contact_id: String,
    pub initial_contact_id: String,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_endpoint: Option<String>,
    /// Tasks: the task's name and description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Attribute keys whose values are sensitive (redacted in traces, encrypted at rest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_attributes: Vec<String>,
    #[serde(default)]
    pub flow_attributes: BTreeMap<String, String>,
    /// The last function's response (`$.External`).
    #[serde(default)]
    pub external: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_input: Option<String>,
    #[serde(default)]
    pub stored_input_encrypted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_agent: Option<String>,
    /// Lower is served first; Connect's default is 5.
    #[serde(default = "default_priority")]
    pub queue_priority: u32,
    #[serde(default)]
    pub queue_time_adjustment_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_criteria: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// Event hook → flow name (CustomerQueue, AgentWhisper, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_hooks: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Values read by GetMetricData (`$.Metrics.*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, String>,
    /// Where the contact stands in its queue, and the estimated wait, as of the moment
    /// the flow last ran (Switchboard's `$.Queue.Position`, `$.Queue.EstimatedWaitSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_seconds: Option<u64>,
    /// Whose chat lines are stored (`AGENT`, `CUSTOMER`); UpdateContactRecordingBehavior
    /// changes it. Both by default.
    #[serde(default = "both_participants")]
    pub recorded_participants: Vec<String>,
}

fn default_priority() -> u32 {
    5
}

fn both_participants() -> Vec<String> {
    vec!["AGENT".into(), "CUSTOMER".into()]
}

impl ContactData {
    pub fn new(contact_id: impl Into<String>, channel: Channel) -> Self {
        let contact_id = contact_id.into();
        ContactData {
            initial_contact_id: contact_id.clone(),
            contact_id,
            channel,
            customer_endpoint: None,
            system_endpoint: None,
            name: None,
            description: None,
            attributes: BTreeMap::new(),
            sensitive_attributes: Vec::new(),
            flow_attributes: BTreeMap::new(),
            external: Map::new(),
            stored_input: None,
            stored_input_encrypted: false,
            target_queue: None,
            target_agent: None,
            queue_priority: default_priority(),
            queue_time_adjustment_seconds: 0,
            routing_criteria: None,
            callback_number: None,
            voice: None,
            language_code: None,
            event_hooks: BTreeMap::new(),
            tags: BTreeMap::new(),
            queue_position: None,
            queue_wait_seconds: None,
            recorded_participants: both_participants(),
            metrics: BTreeMap::new(),
        }
    }

    /// Bytes used by attributes, as Connect counts them (keys and values).
    pub fn attribute_bytes(&self) -> usize {
        self.attributes.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}
