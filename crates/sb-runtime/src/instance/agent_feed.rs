//! The agent event stream, shaped like Amazon Connect's (LOGIN, STATE_CHANGE,
//! HEART_BEAT, LOGOUT with Current and Previous agent snapshots, version 2017-10-01),
//! and the agent-time accounting behind OCCUPANCY.
//!
//! Each agent's time is cut into spans of one state (available, on contact, non
//! productive, error, offline); a span is written to the `agent-time` stream when the
//! state changes, and at every heartbeat for spans still open, so historical metrics
//! never lag by more than the heartbeat period.

use std::collections::HashMap;

use sb_routing::{AgentSnapshot, AgentStatus, SlotState};
use sb_store::NewEvent;
use serde_json::{json, Value};

use super::{now_ms, rfc3339, Owner};

/// Connect sends a heartbeat after two minutes without another event.
pub(crate) const HEARTBEAT_MS: i64 = 120_000;
/// How often agents are checked for a due heartbeat.
pub(crate) const HEARTBEAT_CHECK_MS: i64 = 10_000;
/// The stream agent-time spans go to (projected into the metric intervals).
pub(crate) const AGENT_TIME_STREAM: &str = sb_store::AGENT_TIME_STREAM;

/// What the feed remembers about one agent.
#[derive(Debug, Clone)]
pub(crate) struct AgentFeed {
    /// The last snapshot sent, for the next event's PreviousAgentSnapshot.
    last: Value,
    status_name: String,
    status_since: i64,
    /// The time-accounting state and when it began (or was last written).
    time_state: &'static str,
    time_since: i64,
    last_event_ms: i64,
    profile: String,
}

/// The state agent time is counted in.
fn time_state(snapshot: &AgentSnapshot) -> &'static str {
    if snapshot.missed {
        return "error";
    }
    if snapshot
        .contacts
        .iter()
        .any(|c| c.state != SlotState::Offered)
    {
        return "on_contact";
    }
    match snapshot.status {
        AgentStatus::Routable => "available",
        AgentStatus::Custom(_) => "non_productive",
        AgentStatus::Offline => "offline",
    }
}

fn status_json(status: &AgentStatus, since: i64) -> Value {
    let (name, kind) = match status {
        AgentStatus::Routable => ("Available", "ROUTABLE"),
        AgentStatus::Custom(name) => (name.as_str(), "CUSTOM"),
        AgentStatus::Offline => ("Offline", "OFFLINE"),
    };
    json!({"Name": name, "Type": kind, "StartTimestamp": rfc3339(since)})
}

impl Owner {
    /// Connect's agent snapshot for `snapshot`.
    fn connect_snapshot(&self, snapshot: &AgentSnapshot, profile: &str, since: i64) -> Value {
        let contacts: Vec<Value> = snapshot
            .contacts
            .iter()
            .map(|c| {
                let queue = self
                    .contacts
                    .get(&c.contact)
                    .and_then(|live| live.record.queue.as_ref())
                    .map(|q| q.name.clone());
                json!({
                    "ContactId": c.contact,
                    "Channel": c.channel,
                    "State": match c.state {
                        SlotState::Offered => "CONNECTING",
                        SlotState::Connected => "CONNECTED",
                        SlotState::AfterContactWork => "ENDED",
                    },
                    "Queue": queue.map(|name| json!({"Name": name})),
                })
            })
            .collect();
        let mut value = json!({
            "AgentStatus": status_json(&snapshot.status, since),
            "Configuration": {
                "Username": snapshot.agent,
                "RoutingProfile": {"Name": profile},
            },
            "Contacts": contacts,
        });
        if let Some(next) = &snapshot.next_status {
            value["NextAgentStatus"] = status_json(next, now_ms());
        }
        value
    }

    fn profile_of(&self, user: &str) -> String {
        self.config
            .as_ref()
            .and_then(|c| c.spec.users.get(user))
            .and_then(|u| u.routing_profile.as_ref())
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    /// Record an agent event (and close the agent's time span if its state changed).
    pub(crate) fn agent_feed_event(&mut self, user: &str, kind: &'static str) {
        let Some(snapshot) = self.engine.agent_snapshot(user) else {
            return;
        };
        let now = now_ms();
        let profile = self.profile_of(user);
        let status_name = format!("{:?}", snapshot.status);
        let state = time_state(&snapshot);
        let previous = self.agent_feeds.get(user).cloned();
        let status_since = match &previous {
            Some(p) if p.status_name == status_name => p.status_since,
            _ => now,
        };
        let current = self.connect_snapshot(&snapshot, &profile, status_since);
        let mut payload = json!({
            "AgentEventType": kind,
            "AgentARN": user,
            "EventTimestamp": rfc3339(now),
            "InstanceARN": self.config.as_ref().map(|c| c.spec.instance.name.to_string()),
            "CurrentAgentSnapshot": current,
            "Version": "2017-10-01",
        });
        if let Some(p) = &previous {
            if kind != "LOGIN" {
                payload["PreviousAgentSnapshot"] = p.last.clone();
            }
        }
        self.outbox.event(NewEvent {
            at_ms: now,
            stream: "agent".into(),
            key: user.into(),
            kind: kind.into(),
            payload: payload.to_string(),
        });
        let (time_state_now, time_since) = match &previous {
            Some(p) if p.time_state == state => (p.time_state, p.time_since),
            Some(p) => {
                self.agent_time(user, &p.profile, p.time_state, p.time_since, now);
                (state, now)
            }
            None => (state, now),
        };
        self.agent_feeds.insert(
            user.to_string(),
            AgentFeed {
                last: payload["CurrentAgentSnapshot"].clone(),
                status_name,
                status_since,
                time_state: time_state_now,
                time_since,
                last_event_ms: now,
                profile,
            },
        );
    }

    /// Write one span of an agent's time, for OCCUPANCY.
    fn agent_time(&mut self, user: &str, profile: &str, state: &str, from: i64, to: i64) {
        if to <= from || state == "offline" {
            return;
        }
        self.outbox.event(NewEvent {
            at_ms: to,
            stream: AGENT_TIME_STREAM.into(),
            key: user.into(),
            kind: "AGENT_TIME".into(),
            payload: json!({"Agent": user, "RoutingProfile": profile, "State": state, "FromMs": from, "ToMs": to})
                .to_string(),
        });
    }

    /// Heartbeats for agents with no event for two minutes; open time spans are
    /// written up to now so historical metrics stay current.
    pub(crate) fn heartbeats(&mut self) {
        let now = now_ms();
        if now < self.heartbeat_due {
            return;
        }
        self.heartbeat_due = now + HEARTBEAT_CHECK_MS;
        let due: Vec<String> = self
            .agent_feeds
            .iter()
            .filter(|(_, f)| now - f.last_event_ms >= HEARTBEAT_MS && f.time_state != "offline")
            .map(|(user, _)| user.clone())
            .collect();
        for user in due {
            if let Some(feed) = self.agent_feeds.get(&user).cloned() {
                self.agent_time(&user, &feed.profile, feed.time_state, feed.time_since, now);
                if let Some(f) = self.agent_feeds.get_mut(&user) {
                    f.time_since = now;
                }
            }
            self.agent_feed_event(&user, "HEART_BEAT");
        }
    }

    /// When the next heartbeat check is due, if any agent is being followed.
    pub(crate) fn heartbeat_deadline(&self) -> Option<i64> {
        (!self.agent_feeds.is_empty()).then_some(self.heartbeat_due)
    }
}

pub(crate) type AgentFeeds = HashMap<String, AgentFeed>;
