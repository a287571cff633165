//! The API's own shapes for what the routing core knows about an agent. The core's
//! types are the engine's to change; what clients read is defined here and converted
//! explicitly, so a rename inside `sb-routing` cannot change the public format (the
//! e2e tests read these fields by name).

use serde::Serialize;

use sb_routing::{AgentSnapshot, AgentStatus, SlotState};

/// An agent's state as clients see it: `GET /v1/agents`, the REST desk, the agent
/// socket's `state` frame. Borrowed from the core's snapshot: the socket sends one per
/// change, and nothing is copied to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AgentState<'a> {
    pub agent: &'a str,
    pub status: StatusView<'a>,
    pub next_status: Option<StatusView<'a>>,
    /// Missed an offer: offered nothing until the agent sets a status again.
    pub missed: bool,
    pub contacts: Vec<AgentContactView<'a>>,
}

/// `{"kind": "routable" | "custom" | "offline", "name": …}`; `offline` has no name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StatusView<'a> {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AgentContactView<'a> {
    pub contact: &'a str,
    pub channel: sb_model::Channel,
    /// `offered`, `connected` or `after_contact_work`.
    pub state: &'static str,
}

impl<'a> From<&'a AgentStatus> for StatusView<'a> {
    fn from(status: &'a AgentStatus) -> Self {
        let (kind, name) = match status {
            AgentStatus::Routable(name) => ("routable", Some(name.as_str())),
            AgentStatus::Custom(name) => ("custom", Some(name.as_str())),
            AgentStatus::Offline => ("offline", None),
        };
        StatusView { kind, name }
    }
}

impl<'a> From<&'a AgentSnapshot> for AgentState<'a> {
    fn from(s: &'a AgentSnapshot) -> Self {
        AgentState {
            agent: &s.agent,
            status: (&s.status).into(),
            next_status: s.next_status.as_ref().map(Into::into),
            missed: s.missed,
            contacts: s
                .contacts
                .iter()
                .map(|c| AgentContactView {
                    contact: &c.contact,
                    channel: c.channel,
                    state: match c.state {
                        SlotState::Offered => "offered",
                        SlotState::Connected => "connected",
                        SlotState::AfterContactWork => "after_contact_work",
                    },
                })
                .collect(),
        }
    }
}

/// The REST desk: the agent's state and its contacts.
#[derive(Debug, Serialize)]
pub(crate) struct AgentDeskView<'a> {
    pub snapshot: AgentState<'a>,
    pub contacts: Vec<crate::socket_frames::DeskContactView<'a>>,
}

impl<'a> From<&'a sb_runtime::instance::AgentDesk> for AgentDeskView<'a> {
    fn from(desk: &'a sb_runtime::instance::AgentDesk) -> Self {
        AgentDeskView {
            snapshot: (&desk.snapshot).into(),
            contacts: desk.contacts.iter().map(Into::into).collect(),
        }
    }
}

/// A live contact, for supervisors (`GET /v1/contacts/live`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LiveContact {
    pub contact_id: String,
    pub channel: sb_model::Channel,
    /// `scheduled`, `in_flow`, `queued`, `offered`, `connected` or `after_contact_work`.
    pub stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<QueuePositionView>,
}

/// Where a waiting contact stands: 1 is next; the wait is `null` while nobody is
/// staffed for its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct QueuePositionView {
    pub position: usize,
    pub estimated_wait_ms: Option<i64>,
}

impl From<sb_runtime::instance::ContactSummary> for LiveContact {
    fn from(c: sb_runtime::instance::ContactSummary) -> Self {
        LiveContact {
            contact_id: c.contact_id,
            channel: c.channel,
            stage: c.stage,
            queue: c.queue,
            agent: c.agent,
            position: c.position.map(|p| QueuePositionView {
                position: p.position,
                estimated_wait_ms: p.estimated_wait_ms,
            }),
        }
    }
}

/// Why a contact is where it is (`GET /v1/contacts/{id}/routing`):
/// `{"explanation": {…}, "last_offer_reason": "…"}`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RoutingAnswer {
    pub explanation: RoutingExplanation,
    pub last_offer_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RoutingExplanation {
    pub contact: String,
    pub queue: String,
    /// In words: `waiting`, `offered to alice, 12.0 s left to accept`, …
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<QueuePositionView>,
    /// `[reason, how many agents]` for each reason an agent serving the queue is not
    /// taking the contact.
    pub agents_by_reason: Vec<(String, usize)>,
    /// `[agent, reason]`, a few per reason.
    pub examples: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_offer: Option<OfferView>,
}

/// Why the last offer went to its agent; times in Unix milliseconds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OfferView {
    pub contact: String,
    pub agent: String,
    pub queue: String,
    pub at: i64,
    /// `agent_queue` or `longest_available_first_in_line`.
    pub rule: &'static str,
    pub agent_available_since: i64,
    pub waited_ms: i64,
    pub priority: u8,
}

impl From<sb_routing::ContactExplanation> for RoutingAnswer {
    fn from(e: sb_routing::ContactExplanation) -> Self {
        let last_offer_reason = e.last_offer.as_ref().map(|o| o.reason());
        let last_offer = e.last_offer.map(|o| OfferView {
            contact: o.contact,
            agent: o.agent,
            queue: o.queue,
            at: o.at,
            rule: match o.rule {
                sb_routing::OfferRule::AgentQueue => "agent_queue",
                sb_routing::OfferRule::LongestAvailableFirstInLine => {
                    "longest_available_first_in_line"
                }
            },
            agent_available_since: o.agent_available_since,
            waited_ms: o.waited_ms,
            priority: o.priority,
        });
        RoutingAnswer {
            explanation: RoutingExplanation {
                contact: e.contact,
                queue: e.queue,
                state: e.state,
                position: e.position.map(|p| QueuePositionView {
                    position: p.position,
                    estimated_wait_ms: p.estimated_wait_ms,
                }),
                agents_by_reason: e.agents_by_reason,
                examples: e.examples,
                note: e.note,
                last_offer,
            },
            last_offer_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_routing::AgentContact;

    /// The public shape, pinned: a change in the core does not move it.
    #[test]
    fn the_agent_state_keeps_its_public_shape() {
        let snapshot = AgentSnapshot {
            agent: "carol".into(),
            status: AgentStatus::available(),
            next_status: Some(AgentStatus::Custom("Break".into())),
            missed: false,
            contacts: vec![AgentContact {
                contact: "c1".into(),
                channel: sb_model::Channel::Chat,
                state: SlotState::AfterContactWork,
            }],
        };
        assert_eq!(
            serde_json::to_value(AgentState::from(&snapshot)).unwrap(),
            serde_json::json!({
                "agent": "carol",
                "status": {"kind": "routable", "name": "Available"},
                "next_status": {"kind": "custom", "name": "Break"},
                "missed": false,
                "contacts": [{"contact": "c1", "channel": "CHAT", "state": "after_contact_work"}]
            })
        );
        let offline = AgentSnapshot {
            status: AgentStatus::Offline,
            next_status: None,
            contacts: vec![],
            ..snapshot
        };
        assert_eq!(
            serde_json::to_value(AgentState::from(&offline)).unwrap(),
            serde_json::json!({
                "agent": "carol",
                "status": {"kind": "offline"},
                "next_status": null,
                "missed": false,
                "contacts": []
            })
        );
    }

    #[test]
    fn a_live_contact_keeps_its_public_shape() {
        let summary = sb_runtime::instance::ContactSummary {
            contact_id: "c1".into(),
            channel: sb_model::Channel::Chat,
            stage: "queued".into(),
            queue: Some("Billing".into()),
            agent: None,
            position: Some(sb_routing::QueuePosition {
                position: 2,
                estimated_wait_ms: None,
            }),
        };
        assert_eq!(
            serde_json::to_value(LiveContact::from(summary)).unwrap(),
            serde_json::json!({
                "contact_id": "c1",
                "channel": "CHAT",
                "stage": "queued",
                "queue": "Billing",
                "position": {"position": 2, "estimated_wait_ms": null}
            })
        );
    }
}
