//! The agent event stream, shaped like Amazon Connect's (LOGIN, STATE_CHANGE,
//! HEART_BEAT, LOGOUT with Current and Previous agent snapshots, version 2017-10-01),
//! and the agent-time accounting behind OCCUPANCY.
//!
//! Each agent's time is cut into spans of one state (available, on contact, non
//! productive, error, offline); a span is written to the `agent-time` stream when the
//! state changes, and at every heartbeat for spans still open, so historical metrics
//! never lag by more than the heartbeat period.

use std::collections::BTreeMap;

use sb_routing::{AgentSnapshot, AgentStatus, SlotState};
use sb_store::NewEvent;
use serde::Serialize;
use serde_json::json;

use super::{rfc3339, Owner};

/// Connect sends a heartbeat after two minutes without another event.
pub(crate) const HEARTBEAT_MS: i64 = 120_000;
/// Agent STATE_CHANGE events go out at most this often (the changes between coalesce).
const AGENT_FEED_WINDOW_MS: i64 = 50;
/// How often agents are checked for a due heartbeat.
pub(crate) const HEARTBEAT_CHECK_MS: i64 = 10_000;
/// The stream agent-time spans go to (projected into the metric intervals).
pub(crate) const AGENT_TIME_STREAM: &str = sb_store::AGENT_TIME_STREAM;

/// What the feed remembers about one agent.
#[derive(Debug, Clone)]
pub(crate) struct AgentFeed {
    /// The last snapshot sent (JSON), for the next event's PreviousAgentSnapshot.
    last: String,
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
        AgentStatus::Routable(_) => "available",
        AgentStatus::Custom(_) => "non_productive",
        AgentStatus::Offline => "offline",
    }
}

/// Connect's agent snapshot, serialised straight from borrowed data: this runs on the
/// owner for every agent change.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectSnapshot<'a> {
    agent_status: ConnectStatus<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_agent_status: Option<ConnectStatus<'a>>,
    configuration: Configuration<'a>,
    contacts: Vec<ConnectContact<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectStatus<'a> {
    name: &'a str,
    #[serde(rename = "Type")]
    kind: &'static str,
    start_timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Configuration<'a> {
    username: &'a str,
    routing_profile: NameOnly<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NameOnly<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectContact<'a> {
    contact_id: &'a str,
    channel: sb_model::Channel,
    state: &'static str,
    queue: Option<NameOnly<'a>>,
}

fn connect_status(status: &AgentStatus, since: i64) -> ConnectStatus<'_> {
    let (name, kind) = match status {
        AgentStatus::Routable(name) => (name.as_str(), "ROUTABLE"),
        AgentStatus::Custom(name) => (name.as_str(), "CUSTOM"),
        AgentStatus::Offline => ("Offline", "OFFLINE"),
    };
    ConnectStatus {
        name,
        kind,
        start_timestamp: rfc3339(since),
    }
}

impl Owner {
    /// Connect's agent snapshot for `snapshot`, as JSON.
    fn connect_snapshot(&self, snapshot: &AgentSnapshot, profile: &str, since: i64) -> String {
        let contacts = snapshot
            .contacts
            .iter()
            .map(|c| ConnectContact {
                contact_id: &c.contact,
                channel: c.channel,
                state: match c.state {
                    SlotState::Offered => "CONNECTING",
                    SlotState::Connected => "CONNECTED",
                    SlotState::AfterContactWork => "ENDED",
                },
                queue: self
                    .contacts
                    .get(&c.contact)
                    .and_then(|live| live.record.queue.as_ref())
                    .map(|q| NameOnly { name: &q.name }),
            })
            .collect();
        serde_json::to_string(&ConnectSnapshot {
            agent_status: connect_status(&snapshot.status, since),
            next_agent_status: snapshot
                .next_status
                .as_ref()
                .map(|next| connect_status(next, self.now)),
            configuration: Configuration {
                username: &snapshot.agent,
                routing_profile: NameOnly { name: profile },
            },
            contacts,
        })
        .expect("snapshots serialise")
    }

    fn profile_of(&self, user: &str) -> String {
        self.config
            .as_ref()
            .and_then(|c| c.spec.users.get(user))
            .and_then(|u| u.routing_profile.as_ref())
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    /// The agent changed: one STATE_CHANGE goes out for it at the end of the current
    /// window, however many changes the window saw. Under load an agent with ten chats
    /// changes dozens of times a second, and each event carries two full snapshots; a
    /// feed that says where the agent is every 50 ms at most says all a consumer can
    /// act on, at a fraction of the log's work.
    pub(crate) fn agent_changed(&mut self, user: &str) {
        if self.agent_feed_dirty.is_empty() {
            self.agent_feed_due = self.agent_feed_due.max(self.now);
        }
        self.agent_feed_dirty.insert(user.to_string());
    }

    /// Write the STATE_CHANGE events of the agents that changed, once their window is
    /// over (`force`: now).
    pub(crate) fn flush_agent_changes(&mut self, force: bool) {
        let now = self.now;
        if self.agent_feed_dirty.is_empty() || (!force && now < self.agent_feed_due) {
            return;
        }
        for user in std::mem::take(&mut self.agent_feed_dirty) {
            self.emit_agent_event(&user, "STATE_CHANGE");
        }
        self.agent_feed_due = now + AGENT_FEED_WINDOW_MS;
    }

    pub(crate) fn agent_feed_deadline(&self) -> Option<i64> {
        (!self.agent_feed_dirty.is_empty()).then_some(self.agent_feed_due)
    }

    /// Record an agent event now. A change still waiting for its window is told by this
    /// event, which carries the agent's snapshot as it is now (and the one before): sent
    /// first on its own it would show the same snapshot, and not the state it was made
    /// in.
    pub(crate) fn agent_feed_event(&mut self, user: &str, kind: &'static str) {
        self.agent_feed_dirty.remove(user);
        self.emit_agent_event(user, kind);
    }

    /// Write one agent event (and close the agent's time span if its state changed).
    fn emit_agent_event(&mut self, user: &str, kind: &'static str) {
        let Some(snapshot) = self.engine.agent_snapshot(user) else {
            return;
        };
        let now = self.now;
        let profile = self.profile_of(user);
        let status_name = format!("{:?}", snapshot.status);
        let state = time_state(&snapshot);
        // Taken out and put back: the feed holds the last snapshot, and this runs on the
        // owner for every agent change, so nothing here is cloned that need not be.
        let previous = self.agent_feeds.remove(user);
        let status_since = match &previous {
            Some(p) if p.status_name == status_name => p.status_since,
            _ => now,
        };
        let current = self.connect_snapshot(&snapshot, &profile, status_since);
        // A change the feed has already told (the LOGIN or LOGOUT that carried it).
        if kind == "STATE_CHANGE" && previous.as_ref().is_some_and(|p| p.last == current) {
            if let Some(p) = previous {
                self.agent_feeds.insert(user.to_string(), p);
            }
            return;
        }
        let header = json!({
            "AgentEventType": kind,
            "AgentARN": user,
            "EventTimestamp": rfc3339(now),
            "InstanceARN": self.config.as_ref().map(|c| c.spec.instance.name.to_string()),
            "Version": "2017-10-01",
        })
        .to_string();
        // The snapshots are spliced in as already-serialised JSON.
        let mut payload = String::with_capacity(header.len() + 2 * current.len() + 64);
        payload.push_str(&header[..header.len() - 1]);
        payload.push_str(",\"CurrentAgentSnapshot\":");
        payload.push_str(&current);
        if let Some(p) = previous.as_ref().filter(|_| kind != "LOGIN") {
            payload.push_str(",\"PreviousAgentSnapshot\":");
            payload.push_str(&p.last);
        }
        payload.push('}');
        self.out.event(NewEvent {
            at_ms: now,
            stream: sb_store::AGENT_EVENT_STREAM.into(),
            key: user.into(),
            kind: kind.into(),
            payload,
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
                last: current,
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
        self.out.event(NewEvent {
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
        let now = self.now;
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

pub(crate) type AgentFeeds = BTreeMap<String, AgentFeed>;
