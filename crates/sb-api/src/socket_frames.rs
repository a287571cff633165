//! The frames the server sends on its sockets, in the API's own shapes (protocol
//! `switchboard.v1`, documented in docs/sockets.md): converted from the runtime's
//! frames and borrowed from them, so a rename inside the runtime or a core cannot
//! change what clients read, and sending a frame copies nothing. The tests below pin
//! every frame's shape.

use std::collections::BTreeMap;

use serde::Serialize;

use sb_runtime::instance::{
    AgentFrame, ChatItem, ChatSender, ContactStopped, CustomerFrame, DeskContact,
};

use crate::wire::AgentState;

/// One line of a chat, as both sockets and the desk show it.
#[derive(Debug, Serialize)]
pub(crate) struct ChatLine<'a> {
    pub seq: u64,
    /// `CUSTOMER`, `AGENT` or `SYSTEM`.
    pub from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub text: &'a str,
    /// RFC 3339.
    pub at: &'a str,
}

impl<'a> From<&'a ChatItem> for ChatLine<'a> {
    fn from(item: &'a ChatItem) -> Self {
        ChatLine {
            seq: item.seq,
            from: sender(item.from),
            name: item.name.as_deref(),
            text: &item.text,
            at: &item.at,
        }
    }
}

fn sender(from: ChatSender) -> &'static str {
    match from {
        ChatSender::Customer => "CUSTOMER",
        ChatSender::Agent => "AGENT",
        ChatSender::System => "SYSTEM",
    }
}

fn lines(items: &[ChatItem]) -> Vec<ChatLine<'_>> {
    items.iter().map(ChatLine::from).collect()
}

/// What a customer's chat socket receives.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(crate) enum CustomerFrameView<'a> {
    Message(ChatLine<'a>),
    Position {
        position: usize,
        estimated_wait_seconds: Option<i64>,
    },
    Typing {
        from: &'static str,
    },
    Read {
        seq: u64,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
    Transferred {
        contact: &'a str,
    },
    Ended,
}

impl<'a> From<&'a CustomerFrame> for CustomerFrameView<'a> {
    fn from(frame: &'a CustomerFrame) -> Self {
        match frame {
            CustomerFrame::Message(item) => CustomerFrameView::Message(item.into()),
            CustomerFrame::Position {
                position,
                estimated_wait_seconds,
            } => CustomerFrameView::Position {
                position: *position,
                estimated_wait_seconds: *estimated_wait_seconds,
            },
            CustomerFrame::Typing { from } => CustomerFrameView::Typing {
                from: sender(*from),
            },
            CustomerFrame::Read { seq } => CustomerFrameView::Read { seq: *seq },
            CustomerFrame::Error { code, message } => CustomerFrameView::Error { code, message },
            CustomerFrame::Transferred { contact } => CustomerFrameView::Transferred { contact },
            CustomerFrame::Ended => CustomerFrameView::Ended,
        }
    }
}

/// What an agent's socket receives.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(crate) enum AgentFrameView<'a> {
    State {
        snapshot: AgentState<'a>,
    },
    Offer {
        contact: &'a str,
        channel: sb_model::Channel,
        queue: &'a str,
        /// Unix milliseconds.
        expires_at: i64,
        attributes: &'a BTreeMap<String, String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        customer: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        callback_number: Option<&'a str>,
    },
    OfferWithdrawn {
        contact: &'a str,
        /// `missed`, `rejected`, `contact_left` or `agent_unavailable`.
        reason: &'static str,
    },
    Connected {
        contact: &'a str,
        transcript: Vec<ChatLine<'a>>,
    },
    Message {
        contact: &'a str,
        item: ChatLine<'a>,
    },
    Typing {
        contact: &'a str,
    },
    Read {
        contact: &'a str,
        seq: u64,
    },
    ContactEnded {
        contact: &'a str,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
    Ok,
}

impl<'a> From<&'a AgentFrame> for AgentFrameView<'a> {
    fn from(frame: &'a AgentFrame) -> Self {
        match frame {
            AgentFrame::State { snapshot } => AgentFrameView::State {
                snapshot: snapshot.into(),
            },
            AgentFrame::Offer {
                contact,
                channel,
                queue,
                expires_at,
                attributes,
                customer,
                callback_number,
            } => AgentFrameView::Offer {
                contact,
                channel: *channel,
                queue,
                expires_at: *expires_at,
                attributes,
                customer: customer.as_deref(),
                callback_number: callback_number.as_deref(),
            },
            AgentFrame::OfferWithdrawn { contact, reason } => AgentFrameView::OfferWithdrawn {
                contact,
                reason: match reason {
                    sb_routing::WithdrawReason::Missed => "missed",
                    sb_routing::WithdrawReason::Rejected => "rejected",
                    sb_routing::WithdrawReason::ContactLeft => "contact_left",
                    sb_routing::WithdrawReason::AgentUnavailable => "agent_unavailable",
                },
            },
            AgentFrame::Connected {
                contact,
                transcript,
            } => AgentFrameView::Connected {
                contact,
                transcript: lines(transcript),
            },
            AgentFrame::Message { contact, item } => AgentFrameView::Message {
                contact,
                item: item.into(),
            },
            AgentFrame::Typing { contact } => AgentFrameView::Typing { contact },
            AgentFrame::Read { contact, seq } => AgentFrameView::Read { contact, seq: *seq },
            AgentFrame::ContactEnded { contact } => AgentFrameView::ContactEnded { contact },
            AgentFrame::Error { code, message } => AgentFrameView::Error { code, message },
            AgentFrame::Ok => AgentFrameView::Ok,
        }
    }
}

/// A contact on the REST desk.
#[derive(Debug, Serialize)]
pub(crate) struct DeskContactView<'a> {
    pub contact: &'a str,
    pub channel: sb_model::Channel,
    /// `offered`, `connected` or `after_contact_work`.
    pub stage: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<&'a str>,
    pub attributes: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<&'a str>,
    /// The conversation so far (connected chats).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<ChatLine<'a>>,
}

impl<'a> From<&'a DeskContact> for DeskContactView<'a> {
    fn from(c: &'a DeskContact) -> Self {
        DeskContactView {
            contact: &c.contact,
            channel: c.channel,
            stage: &c.stage,
            queue: c.queue.as_deref(),
            attributes: &c.attributes,
            customer: c.customer.as_deref(),
            transcript: lines(&c.transcript),
        }
    }
}

/// A contact a supervisor stopped (`POST /v1/contacts/{id}/stop`).
#[derive(Debug, Serialize)]
pub(crate) struct ContactStoppedView {
    pub contact_id: String,
    /// The stage it was in.
    pub was: String,
    /// `ended`, or `after_contact_work` with its agent.
    pub now: String,
}

impl From<ContactStopped> for ContactStoppedView {
    fn from(c: ContactStopped) -> Self {
        ContactStoppedView {
            contact_id: c.contact_id,
            was: c.was,
            now: c.now,
        }
    }
}

/// A frame for a customer's socket, as sent.
pub(crate) fn customer_frame_text(frame: &CustomerFrame) -> String {
    serde_json::to_string(&CustomerFrameView::from(frame)).expect("frames serialise")
}

/// A frame for an agent's socket, as sent.
pub(crate) fn agent_frame_text(frame: &AgentFrame) -> String {
    serde_json::to_string(&AgentFrameView::from(frame)).expect("frames serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item() -> ChatItem {
        ChatItem {
            seq: 3,
            from: ChatSender::Agent,
            name: Some("carol".into()),
            text: "hello".into(),
            at: "2026-12-08T00:00:00Z".into(),
        }
    }

    fn customer(frame: CustomerFrame) -> serde_json::Value {
        serde_json::from_str(&customer_frame_text(&frame)).unwrap()
    }

    fn agent(frame: AgentFrame) -> serde_json::Value {
        serde_json::from_str(&agent_frame_text(&frame)).unwrap()
    }

    /// Every customer frame's public shape, pinned.
    #[test]
    fn customer_frames_keep_their_public_shape() {
        let line = json!({"seq": 3, "from": "AGENT", "name": "carol", "text": "hello", "at": "2026-12-08T00:00:00Z"});
        let mut message = line.clone();
        message["type"] = json!("message");
        assert_eq!(customer(CustomerFrame::Message(item())), message);
        assert_eq!(
            customer(CustomerFrame::Position {
                position: 2,
                estimated_wait_seconds: None
            }),
            json!({"type": "position", "position": 2, "estimated_wait_seconds": null})
        );
        assert_eq!(
            customer(CustomerFrame::Typing {
                from: ChatSender::Agent
            }),
            json!({"type": "typing", "from": "AGENT"})
        );
        assert_eq!(
            customer(CustomerFrame::Read { seq: 4 }),
            json!({"type": "read", "seq": 4})
        );
        assert_eq!(
            customer(CustomerFrame::Error {
                code: "rate_limited".into(),
                message: "slow down".into()
            }),
            json!({"type": "error", "code": "rate_limited", "message": "slow down"})
        );
        assert_eq!(
            customer(CustomerFrame::Transferred {
                contact: "c2".into()
            }),
            json!({"type": "transferred", "contact": "c2"})
        );
        assert_eq!(customer(CustomerFrame::Ended), json!({"type": "ended"}));
    }

    /// Every agent frame's public shape but `state` (pinned in `wire`), pinned.
    #[test]
    fn agent_frames_keep_their_public_shape() {
        let line = json!({"seq": 3, "from": "AGENT", "name": "carol", "text": "hello", "at": "2026-12-08T00:00:00Z"});
        assert_eq!(
            agent(AgentFrame::Offer {
                contact: "c1".into(),
                channel: sb_model::Channel::Chat,
                queue: "Billing".into(),
                expires_at: 1_000,
                attributes: BTreeMap::from([("a".into(), "b".into())]),
                customer: Some("Ann".into()),
                callback_number: None,
            }),
            json!({"type": "offer", "contact": "c1", "channel": "CHAT", "queue": "Billing",
                   "expires_at": 1000, "attributes": {"a": "b"}, "customer": "Ann"})
        );
        assert_eq!(
            agent(AgentFrame::OfferWithdrawn {
                contact: "c1".into(),
                reason: sb_routing::WithdrawReason::ContactLeft
            }),
            json!({"type": "offer_withdrawn", "contact": "c1", "reason": "contact_left"})
        );
        assert_eq!(
            agent(AgentFrame::Connected {
                contact: "c1".into(),
                transcript: vec![item()]
            }),
            json!({"type": "connected", "contact": "c1", "transcript": [line]})
        );
        assert_eq!(
            agent(AgentFrame::Message {
                contact: "c1".into(),
                item: item()
            }),
            json!({"type": "message", "contact": "c1", "item": line})
        );
        assert_eq!(
            agent(AgentFrame::Typing {
                contact: "c1".into()
            }),
            json!({"type": "typing", "contact": "c1"})
        );
        assert_eq!(
            agent(AgentFrame::Read {
                contact: "c1".into(),
                seq: 2
            }),
            json!({"type": "read", "contact": "c1", "seq": 2})
        );
        assert_eq!(
            agent(AgentFrame::ContactEnded {
                contact: "c1".into()
            }),
            json!({"type": "contact_ended", "contact": "c1"})
        );
        assert_eq!(
            agent(AgentFrame::Error {
                code: "not_found".into(),
                message: "no such contact".into()
            }),
            json!({"type": "error", "code": "not_found", "message": "no such contact"})
        );
        assert_eq!(agent(AgentFrame::Ok), json!({"type": "ok"}));
    }

    /// The frames named in the socket protocol's documentation (docs/contacts.md, the
    /// tables of `switchboard.v1`) are exactly the frames the server sends and takes:
    /// a frame added, removed or renamed on one side and not the other fails here.
    #[test]
    fn the_documented_socket_protocol_is_the_one_spoken() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/contacts.md"),
        )
        .unwrap();
        let row = |direction: &str| -> String {
            doc.lines()
                .find(|l| l.starts_with(&format!("| {direction} |")))
                .unwrap_or_else(|| panic!("docs/contacts.md has no row for {direction}"))
                .to_string()
        };
        // Customer frames are written as JSON (`{"type":"message",…}`); agent frames by
        // name (`offer {contact, …}`).
        let json_types = |row: String| -> std::collections::BTreeSet<String> {
            row.split("\"type\":\"")
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap().to_string())
                .collect()
        };
        let named = |row: String| -> std::collections::BTreeSet<String> {
            row.split('`')
                .skip(1)
                .step_by(2)
                .map(|code| code.split([' ', '{']).next().unwrap().to_string())
                .collect()
        };
        let type_of = |v: serde_json::Value| v["type"].as_str().unwrap().to_string();
        let sent_to_customers = [
            CustomerFrame::Message(item()),
            CustomerFrame::Position {
                position: 1,
                estimated_wait_seconds: None,
            },
            CustomerFrame::Typing {
                from: ChatSender::Agent,
            },
            CustomerFrame::Read { seq: 1 },
            CustomerFrame::Error {
                code: String::new(),
                message: String::new(),
            },
            CustomerFrame::Transferred {
                contact: String::new(),
            },
            CustomerFrame::Ended,
        ]
        .into_iter()
        .map(|f| type_of(customer(f)))
        .collect();
        assert_eq!(json_types(row("server → customer")), sent_to_customers);
        let snapshot = sb_routing::AgentSnapshot {
            agent: "carol".into(),
            status: sb_routing::AgentStatus::Offline,
            next_status: None,
            missed: false,
            contacts: vec![],
        };
        let c = || "c1".to_string();
        let sent_to_agents = [
            AgentFrame::State { snapshot },
            AgentFrame::Offer {
                contact: c(),
                channel: sb_model::Channel::Chat,
                queue: c(),
                expires_at: 0,
                attributes: BTreeMap::new(),
                customer: None,
                callback_number: None,
            },
            AgentFrame::OfferWithdrawn {
                contact: c(),
                reason: sb_routing::WithdrawReason::Missed,
            },
            AgentFrame::Connected {
                contact: c(),
                transcript: vec![],
            },
            AgentFrame::Message {
                contact: c(),
                item: item(),
            },
            AgentFrame::Typing { contact: c() },
            AgentFrame::Read {
                contact: c(),
                seq: 1,
            },
            AgentFrame::ContactEnded { contact: c() },
            AgentFrame::Error {
                code: c(),
                message: c(),
            },
            AgentFrame::Ok,
        ]
        .into_iter()
        .map(|f| type_of(agent(f)))
        .collect();
        assert_eq!(named(row("server → agent")), sent_to_agents);
        // What clients send: each documented type is one the server reads (a frame of
        // an unknown type is refused as such; a known one with its fields missing is
        // refused for the fields).
        let unknown = |result: Result<(), serde_json::Error>| {
            result.is_err_and(|e| e.to_string().contains("unknown variant"))
        };
        for kind in json_types(row("customer → server")) {
            let frame = serde_json::json!({"type": kind});
            let read = serde_json::from_value::<crate::socket_requests::CustomerRequest>(frame);
            assert!(!unknown(read.map(drop)), "customers' {kind} is not read");
        }
        for kind in named(row("agent → server")) {
            let frame = serde_json::json!({"type": kind});
            let read = serde_json::from_value::<crate::socket_requests::AgentRequest>(frame);
            assert!(!unknown(read.map(drop)), "agents' {kind} is not read");
        }
        assert!(unknown(
            serde_json::from_value::<crate::socket_requests::AgentRequest>(
                serde_json::json!({"type": "dance"})
            )
            .map(drop)
        ));
    }
}
