//! The load instance, shared by the load and crash tests and the chat load bench: one
//! queue, a flow that greets and queues, and agents on a chat profile.

use crate::support::{credential, deployment_of};

const SPEC: &str = r#"
instance: { name: load, default_inbound_flow: Entry }
agent_statuses:
  - { name: Available, type: ROUTABLE }
  - { name: Offline, type: OFFLINE }
hours_of_operation:
  - { name: Always, time_zone: UTC, weekly: [{ day: MONDAY, start: "00:00", end: "24:00" }] }
queues:
  - { name: Load, hours: Always }
routing_profiles:
  - { name: Chat, concurrency: { chat: SLOTS }, default_outbound_queue: Load, queues: [{ queue: Load, channel: CHAT, priority: 1 }] }
  - { name: Single, concurrency: { chat: 1 }, default_outbound_queue: Load, queues: [{ queue: Load, channel: CHAT, priority: 1 }] }
flows:
  - { name: Entry, type: CONTACT_FLOW, file: entry.json }
"#;

const FLOW: &str = r#"{"Version":"2019-10-30","StartAction":"hi","Actions":[
 {"Identifier":"hi","Type":"MessageParticipant","Parameters":{"Text":"Hello"},"Transitions":{"NextAction":"q"}},
 {"Identifier":"q","Type":"UpdateContactTargetQueue","Parameters":{"QueueId":"Load"},"Transitions":{"NextAction":"t","Errors":[{"NextAction":"bye","ErrorType":"NoMatchingError"}]}},
 {"Identifier":"t","Type":"TransferContactToQueue","Parameters":{},"Transitions":{"Errors":[{"NextAction":"bye","ErrorType":"NoMatchingError"}]}},
 {"Identifier":"bye","Type":"DisconnectParticipant","Parameters":{},"Transitions":{}}]}"#;

/// The load instance deployed, with a credential for each of its users but `probe` (an
/// agent of one chat slot).
pub(crate) struct LoadInstance {
    pub(crate) data: tempfile::TempDir,
    /// `agent0`, `agent1`, ...: `slots` chats each.
    pub(crate) agents: Vec<String>,
    /// An integration that starts chats.
    pub(crate) website: String,
    pub(crate) supervisor: String,
}

pub(crate) fn load_instance(agents: usize, slots: usize) -> LoadInstance {
    let spec = tempfile::tempdir().unwrap();
    std::fs::write(
        spec.path().join("instance.yaml"),
        SPEC.replace("SLOTS", &slots.to_string()),
    )
    .unwrap();
    std::fs::write(spec.path().join("entry.json"), FLOW).unwrap();
    let mut users =
        String::from("users:\n  - { username: probe, role: Agent, routing_profile: Single }\n");
    for a in 0..agents {
        users.push_str(&format!(
            "  - {{ username: agent{a}, role: Agent, routing_profile: Chat }}\n"
        ));
    }
    std::fs::write(spec.path().join("users.yaml"), users).unwrap();
    let data = deployment_of(&spec);
    let token = |user: &str, role: &str| credential(data.path(), user, role);
    LoadInstance {
        agents: (0..agents)
            .map(|a| token(&format!("agent{a}"), "Agent"))
            .collect(),
        website: token("website", "Integration"),
        supervisor: token("sup", "Supervisor"),
        data,
    }
}

/// A runtime for many clients at once.
pub(crate) fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
