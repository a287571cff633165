//! What an agent's own actions leave in the audit trail. Every action that changes a
//! contact or the agent's routing (accept, reject, attributes, transfer, end, complete,
//! a failed callback, a status) is recorded, in the same commit as the change, so the
//! record is durable before the `ok` the desktop waits for. Messages, typing, read
//! receipts and heartbeats are not: they change nothing but the conversation, which the
//! contact's transcript keeps (sealed, with who said what), and recording each would
//! double the writes of the busiest path for nothing an auditor can use.

use sb_store::audit::AUDIT_STREAM;
use sb_store::NewEvent;
use serde_json::{json, Value};

use super::{rfc3339, AgentAction, Owner};
use crate::audit::AuditRecord;

/// The audit action and parameters of `action`, or `None` for one that is not audited.
/// Attribute values stay out (they may be sensitive); their names say what changed.
pub(super) fn audit_entry(action: &AgentAction) -> Option<(&'static str, Value)> {
    Some(match action {
        AgentAction::SetStatus { status } => ("agent:SetStatus", json!({ "status": status })),
        AgentAction::Accept { contact } => ("agent:Accept", json!({ "contact": contact })),
        AgentAction::Reject { contact } => ("agent:Reject", json!({ "contact": contact })),
        AgentAction::SetAttributes {
            contact,
            attributes,
        } => (
            "agent:SetAttributes",
            json!({ "contact": contact, "attributes": attributes.keys().collect::<Vec<_>>() }),
        ),
        AgentAction::Transfer {
            contact,
            queue,
            agent,
            quick_connect,
        } => (
            "agent:Transfer",
            json!({ "contact": contact, "queue": queue, "agent": agent, "quick_connect": quick_connect }),
        ),
        AgentAction::End { contact } => ("agent:End", json!({ "contact": contact })),
        AgentAction::Complete { contact } => ("agent:Complete", json!({ "contact": contact })),
        AgentAction::CallbackFailed { contact } => {
            ("agent:CallbackFailed", json!({ "contact": contact }))
        }
        AgentAction::Message { .. }
        | AgentAction::Typing { .. }
        | AgentAction::Read { .. }
        | AgentAction::Heartbeat => return None,
    })
}

impl Owner {
    /// Record what `user` did, in the commit that carries the change itself.
    pub(super) fn audit_agent_action(&mut self, user: &str, action: &str, parameters: Value) {
        let now = self.now;
        let record = AuditRecord {
            at: rfc3339(now),
            action: action.into(),
            outcome: "allowed".into(),
            user: Some(user.into()),
            authenticated_by: "agent_session".into(),
            parameters,
            ..Default::default()
        };
        self.out.event(NewEvent {
            at_ms: now,
            stream: AUDIT_STREAM.into(),
            key: action.into(),
            kind: "AUDIT".into(),
            payload: serde_json::to_string(&record).expect("audit records serialise"),
        });
    }
}
