//! The configuration resources of an instance, as written in spec files.
//!
//! Every reference between resources is a [`Name`], never a generated id, so one spec
//! deploys unchanged to every environment. Unknown fields are rejected at parse time.

use serde::{Deserialize, Serialize};

use crate::{Channel, Name};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSettings {
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The flow a new contact enters when its channel adapter names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_inbound_flow: Option<Name>,
    #[serde(default = "default_chat_message_limit")]
    pub chat_message_max_chars: u32,
    #[serde(default = "default_task_expiry_days")]
    pub task_expiry_days: u32,
    /// An agent socket that sends nothing (not even a heartbeat) this long is dead:
    /// its offers go back in line.
    #[serde(default = "default_agent_silence_limit")]
    pub agent_silence_limit_seconds: u32,
    /// A chat whose customer has had no socket open this long (they closed the window
    /// and did not come back) ends, wherever it is — as Connect ends an idle chat.
    #[serde(default = "default_customer_absence_limit")]
    pub chat_customer_absence_limit_seconds: u32,
    /// How long each event stream keeps its events, in days.
    #[serde(default)]
    pub stream_retention_days: StreamRetention,
}

/// Days each public event stream is kept (1 to 3650). Contact records themselves stay
/// searchable regardless; this trims only the stream of their changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamRetention {
    pub contact_events: u32,
    pub agent_events: u32,
    pub contact_records: u32,
    pub flow_logs: u32,
}

impl Default for StreamRetention {
    fn default() -> Self {
        StreamRetention {
            contact_events: 7,
            agent_events: 7,
            contact_records: 30,
            flow_logs: 30,
        }
    }
}

fn default_chat_message_limit() -> u32 {
    1024
}
fn default_task_expiry_days() -> u32 {
    7
}

fn default_agent_silence_limit() -> u32 {
    90
}

fn default_customer_absence_limit() -> u32 {
    600
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub hours: Name,
    /// Contacts beyond this many waiting are refused with `QueueAtCapacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_contacts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_caller_id: Option<OutboundCallerId>,
    /// The customer-queue flow played while a contact waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_queue_flow: Option<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quick_connects: Vec<Name>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundCallerId {
    /// E.164, for example `+15555550100`.
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingProfile {
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub concurrency: Concurrency,
    /// Whether an agent on a contact of one channel may be offered another channel.
    #[serde(default)]
    pub cross_channel: bool,
    pub default_outbound_queue: Name,
    pub queues: Vec<RoutingProfileQueue>,
}

/// Contacts an agent may handle at once, per channel (0 means not offered that channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    #[serde(default)]
    pub voice: u8,
    #[serde(default)]
    pub chat: u8,
    #[serde(default)]
    pub task: u8,
}

impl Concurrency {
    pub fn for_channel(self, channel: Channel) -> u8 {
        match channel {
            Channel::Voice => self.voice,
            Channel::Chat => self.chat,
            Channel::Task => self.task,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingProfileQueue {
    pub queue: Name,
    pub channel: Channel,
    /// 1 (served first) to 99.
    pub priority: u8,
    /// Seconds a contact must have waited before this profile's agents are offered it.
    #[serde(default)]
    pub delay_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    pub name: Name,
    #[serde(rename = "type")]
    pub kind: AgentStatusKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentStatusKind {
    Routable,
    Custom,
    Offline,
}

/// A named proficiency and the values it may take (Connect's predefined attributes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredefinedAttribute {
    pub name: Name,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub role: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_profile: Option<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proficiencies: Vec<Proficiency>,
    /// 0 means after-contact work lasts until the agent ends it.
    #[serde(default)]
    pub after_contact_work_timeout_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proficiency {
    pub name: Name,
    pub value: String,
    /// 1 (lowest) to 5 (highest).
    pub level: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Text to speak. Exactly one of `text` and `audio` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An audio file, relative to the spec directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowType {
    ContactFlow,
    CustomerQueue,
    CustomerHold,
    CustomerWhisper,
    AgentWhisper,
    AgentHold,
    OutboundWhisper,
    AgentTransfer,
    QueueTransfer,
    Module,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowEntry {
    pub name: Name,
    #[serde(rename = "type")]
    pub kind: FlowType,
    /// The flow-language JSON file, relative to the spec directory.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalFunction {
    pub name: Name,
    /// Must be `https://`.
    pub url: String,
    /// 1 to 8 seconds, as Connect's InvokeLambdaFunction allows.
    pub timeout_seconds: u8,
    pub max_concurrency: u32,
    /// ARNs that imported flows use for this function; import maps them to `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickConnect {
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub target: QuickConnectTarget,
}

/// Written `{ type: queue, queue: Billing, flow: Transfer to Queue }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields, rename_all = "snake_case")]
pub enum QuickConnectTarget {
    Queue { queue: Name, flow: Name },
    User { user: Name, flow: Name },
    PhoneNumber { number: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Roles whose users must present a second factor. Defaults to the administrative ones.
    #[serde(default = "default_mfa_roles")]
    pub mfa_required_roles: Vec<Name>,
    /// Lifetime of sessions and temporary credentials, 15 to 720 minutes.
    #[serde(default = "default_session_minutes")]
    pub session_duration_minutes: u32,
    #[serde(default = "default_idle_minutes")]
    pub idle_timeout_minutes: u32,
    #[serde(default = "default_password_min_length")]
    pub password_min_length: u32,
    /// Attribute keys whose values are encrypted at rest and redacted from logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_attributes: Vec<String>,
    /// Audit records are kept this long (PCI DSS 10.5.1: at least a year)...
    #[serde(default = "default_audit_retention_days")]
    pub audit_retention_days: u32,
    /// ...and the newest this many days are readable at once (`GET /v1/audit`); older
    /// ones are archived, still verified and exported by `switchboard audit`.
    #[serde(default = "default_audit_online_days")]
    pub audit_online_days: u32,
    /// Whether API keys may be issued to and used with a role in `mfa_required_roles`.
    /// A key is not a sign-in and carries no second factor; `false` makes those roles
    /// act only through a password-and-code sign-in (PCI DSS 8.4 for every path).
    #[serde(default = "default_true")]
    pub allow_api_keys_for_mfa_roles: bool,
}

fn default_true() -> bool {
    true
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            mfa_required_roles: default_mfa_roles(),
            session_duration_minutes: default_session_minutes(),
            idle_timeout_minutes: default_idle_minutes(),
            password_min_length: default_password_min_length(),
            sensitive_attributes: Vec::new(),
            audit_retention_days: default_audit_retention_days(),
            audit_online_days: default_audit_online_days(),
            allow_api_keys_for_mfa_roles: true,
        }
    }
}

fn default_audit_retention_days() -> u32 {
    365
}
fn default_audit_online_days() -> u32 {
    90
}

/// A custom role: IAM-like statements over Switchboard's action names. Nothing is
/// allowed unless a statement allows it; an explicit deny beats any allow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub statements: Vec<PolicyStatement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyStatement {
    pub effect: PolicyEffect,
    /// Action names (`contact:Read`), `service:*`, or `*`.
    pub actions: Vec<String>,
    /// What the request acts on: its path below `/v1/` (`contacts/*/transcript`,
    /// `streams/agent-events`), `*` wildcards anywhere. Default: everything.
    #[serde(default = "every_resource")]
    pub resources: Vec<String>,
    /// All must hold for the statement to apply.
    #[serde(default, skip_serializing_if = "PolicyConditions::is_empty")]
    pub conditions: PolicyConditions,
}

fn every_resource() -> Vec<String> {
    vec!["*".into()]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyEffect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConditions {
    /// Whether the caller signed in with a second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_present: Option<bool>,
    /// The request comes from one of these addresses or CIDR blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_addresses: Vec<String>,
    /// The request is made within this window of local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<PolicyTimeWindow>,
}

impl PolicyConditions {
    pub fn is_empty(&self) -> bool {
        self.mfa_present.is_none() && self.source_addresses.is_empty() && self.time.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTimeWindow {
    /// IANA time zone the window is read in.
    pub time_zone: String,
    /// Days it applies on (default: every day).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<crate::hours::Weekday>,
    /// From this local time (inclusive)...
    pub after: crate::hours::ClockTime,
    /// ...to this one (exclusive).
    pub before: crate::hours::ClockTime,
}

/// Built-in roles; a spec's users name one of these.
pub const BUILT_IN_ROLES: [&str; 6] = [
    "Admin",
    "Supervisor",
    "Agent",
    "Analyst",
    "Auditor",
    "Integration",
];

fn default_mfa_roles() -> Vec<Name> {
    vec![Name::new("Admin").expect("literal name is valid")]
}
fn default_session_minutes() -> u32 {
    60
}
fn default_idle_minutes() -> u32 {
    15
}
fn default_password_min_length() -> u32 {
    12
}
