//! The instance owner: the state of every live contact, the routing engine and the
//! agent sessions, and the decisions made on them. It is a state machine with no I/O,
//! in the style of the flow and routing cores: the driver (see [`driver`]) calls its
//! methods with the time, and takes what it decided as [`output::Output`]s — events to
//! append, frames for endpoints, function calls, snapshots to publish. The driver runs
//! it on one task fed by a command channel, so nothing on this path takes a lock.
//!
//! Every state change becomes an event in the log. The driver performs every other
//! output, and answers every caller, only after the events produced before it are
//! durable, in the order they were produced.

mod agent_actions;
mod agent_audit;
mod agent_feed;
mod agent_status;
mod agents;
mod callbacks;
mod chat;
mod clock;
mod command;
mod contact_events;
mod contacts;
mod criteria;
mod dispatch;
mod dispatcher;
mod driver;
mod ending;
mod env;
mod error;
mod flow_driver;
mod handle;
mod lines;
mod messages;
mod output;
mod realtime;
mod recovery;
mod recovery_read;
mod routing_outputs;
mod supervisor;
mod transfer;
mod unheard;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sb_routing::{Engine, RoutingConfig};

pub use clock::Clock;
pub use command::*;
pub(crate) use driver::start_with_clock;
pub use error::*;
pub use handle::*;
pub use messages::*;

use crate::live::DeployedConfig;
use crate::vault::Vault;
use contacts::LiveContact;
use output::{EndpointId, Outputs};

pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

struct AgentSession {
    /// The agent's socket, if one is open (a REST-only agent has none).
    endpoint: Option<EndpointId>,
    session: u64,
    /// The agent event stream's last word on the agent was LOGIN, not LOGOUT.
    logged_in: bool,
}

/// What a timer of the owner's is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The contact's flow waits (input time limit, Wait, message-loop interrupt) or a
    /// scheduled contact's time comes. Only the newest such timer of a contact counts.
    Flow(String),
    /// A chat's customer has been away long enough to end the chat, unless back.
    CustomerAbsent(String),
    /// A task's expiry (Connect's seven days, or the instance's own).
    TaskExpiry(String),
}

/// Its maps are ordered (`BTreeMap`), not hashed: whatever the owner does by walking
/// them (restoring agents, heartbeats, absent customers) happens in the same order on
/// every run, so a seeded simulation replays exactly.
pub(crate) struct Owner {
    /// The time of the call being handled (Unix ms), given by the driver: the owner
    /// reads no clock.
    now: i64,
    config: Option<Arc<DeployedConfig>>,
    engine: Engine,
    contacts: BTreeMap<String, LiveContact>,
    agents: BTreeMap<String, AgentSession>,
    /// Finished contacts of chats that were transferred → the contact the chat went on
    /// to, so a customer reconnecting with an old id finds the conversation.
    chat_aliases: BTreeMap<String, String>,
    /// Chats that ended before their customer connected (see `unheard`).
    unheard: unheard::UnheardEndings,
    /// Chats whose customer has no socket open, since when (see `customer_absent`).
    customer_absent_since: BTreeMap<String, i64>,
    /// Timers: (deadline ms, timer id, what it is for).
    timers: BTreeSet<(i64, u64, Timer)>,
    next_id: u64,
    out: Outputs,
    /// Contacts changed since the last flush; their state goes to the `live` stream.
    dirty: BTreeSet<String>,
    /// Queues whose line moved since the last flush: their chat customers hear where
    /// they stand now.
    moved: lines::LinesMoved,
    vault: Arc<Vault>,
    /// When routing's next snapshot goes to real-time readers.
    realtime: realtime::RealtimePublisher,
    agent_feeds: agent_feed::AgentFeeds,
    /// Agents that changed since the last STATE_CHANGE window, and when it ends.
    agent_feed_dirty: BTreeSet<String>,
    agent_feed_due: i64,
    /// The newest state of each agent that changed in this turn, sent at its end.
    agent_states_due: std::collections::BTreeMap<String, sb_routing::AgentSnapshot>,
    heartbeat_due: i64,
    statuses: agent_status::Statuses,
    /// Only for new contacts' ids (numbered in order on a held clock, so that a seeded
    /// run replays); the time comes from the driver.
    clock: Clock,
    /// Contacts that joined a line so far (see `LiveContact::line_order`).
    arrivals: u64,
}

impl Owner {
    /// An owner with nothing live and no configuration yet, at `now`.
    pub(crate) fn new(vault: Arc<Vault>, clock: Clock, now: i64) -> Owner {
        let empty = RoutingConfig {
            queues: vec![],
            profiles: vec![],
            offer_timeout_ms: [20_000; 3],
            agent_queue_limit: 10,
            custom_statuses: vec![],
        };
        Owner {
            now,
            config: None,
            engine: Engine::new(empty).expect("an empty configuration is valid"),
            contacts: BTreeMap::new(),
            agents: BTreeMap::new(),
            chat_aliases: BTreeMap::new(),
            unheard: Default::default(),
            customer_absent_since: BTreeMap::new(),
            timers: BTreeSet::new(),
            next_id: 0,
            out: Outputs::default(),
            dirty: BTreeSet::new(),
            moved: Default::default(),
            vault,
            realtime: Default::default(),
            agent_feeds: Default::default(),
            agent_feed_dirty: BTreeSet::new(),
            agent_feed_due: 0,
            agent_states_due: Default::default(),
            heartbeat_due: 0,
            statuses: Default::default(),
            clock,
            arrivals: 0,
        }
    }

    /// The driver moves the owner's time before each call. Time never goes back: a
    /// system clock stepped backwards holds the owner where it was.
    pub(crate) fn set_now(&mut self, now: i64) {
        self.now = self.now.max(now);
    }

    /// What every turn ends with, after its commands and timers: the agent feed's
    /// window, changed contacts' state for recovery, queue positions, heartbeats, the
    /// real-time snapshot, and (last, since all of these may change an agent) the
    /// agents' new states.
    pub(crate) fn end_turn(&mut self) {
        self.flush_agent_changes(false);
        self.persist_dirty();
        self.push_positions();
        self.heartbeats();
        self.publish_realtime();
        self.send_agent_states();
    }

    /// What a start ends with, after recovery: every agent's feed and state as it is.
    pub(crate) fn end_start(&mut self) {
        self.flush_agent_changes(true);
        self.persist_dirty();
        self.send_agent_states();
    }

    /// When the owner next has something to do by itself, if ever.
    pub(crate) fn poll_timeout(&self) -> Option<i64> {
        self.next_deadline()
    }

    fn next_deadline(&self) -> Option<i64> {
        let flow = self.timers.first().map(|t| t.0);
        let routing = self.engine.next_timer();
        // Positions held back by the once-a-second limit still go out.
        let positions = self.moved.deadline();
        [
            flow,
            routing,
            positions,
            self.realtime.deadline(),
            self.heartbeat_deadline(),
            self.agent_feed_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn fire_due(&mut self) {
        let now = self.now;
        // Waking only to publish a snapshot or positions changes nothing routing sees.
        if self.engine.next_timer().is_some_and(|t| t <= now)
            || self.timers.first().is_some_and(|t| t.0 <= now)
        {
            self.mark_realtime_changed();
        }
        self.engine.tick(now);
        self.route();
        while let Some(first) = self.timers.first().cloned() {
            if first.0 > now {
                break;
            }
            self.timers.pop_first();
            self.timer_fired(&first.2, first.1);
        }
    }

    /// A new configuration version: routing follows it at once; contacts keep the
    /// version they started on. True if the owner took it (the driver then sets up
    /// the version's external functions).
    pub(crate) fn take_config(&mut self, config: Arc<DeployedConfig>) -> bool {
        if self
            .config
            .as_ref()
            .is_some_and(|c| c.version == config.version)
        {
            return false;
        }
        let spec = &config.spec;
        let routing = RoutingConfig::from_model(
            spec.queues.values(),
            spec.routing_profiles.values(),
            spec.agent_statuses.values(),
        );
        if let Err(e) = self.engine.reconfigure(self.now, routing) {
            tracing::error!(error = %e, version = config.version, "routing cannot take the new configuration; keeping the old one");
            return false;
        }
        tracing::info!(version = config.version, "runtime on configuration version");
        self.config = Some(config);
        self.route();
        true
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;
