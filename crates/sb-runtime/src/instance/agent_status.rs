//! The status each agent chose, and getting it back after a lost connection.
//!
//! An agent without a socket can be offered nothing, so a dropped socket (or a server
//! restart, which drops them all) makes the agent Offline at once. A desktop that
//! reconnects within [`RESUME_WINDOW_MS`] is put back in the status its agent last
//! chose — a network blip or a rolling restart does not knock the whole floor Offline.
//! The chosen status is kept in the store (`agent-state`), so a restart remembers it.

use std::collections::BTreeMap;

use sb_model::config::AgentStatusKind;
use sb_routing::AgentStatus;
use sb_store::{NewEvent, AGENT_STATE_STREAM};
use serde::{Deserialize, Serialize};

use super::{Owner, RuntimeError};

/// How long after losing its socket an agent gets its status back on reconnecting.
const RESUME_WINDOW_MS: i64 = 120_000;

/// What is kept about an agent for a restart.
#[derive(Serialize, Deserialize)]
struct Kept {
    status: String,
}

#[derive(Default)]
pub(crate) struct Statuses {
    /// Each agent's last chosen status, by its name in the spec.
    chosen: BTreeMap<String, String>,
    /// Agents that lost their socket: the status to give back, and until when.
    resumable: BTreeMap<String, (String, i64)>,
}

impl Owner {
    /// The agent chooses a status (by its name in the spec).
    pub(crate) fn choose_status(&mut self, user: &str, name: &str) -> Result<(), RuntimeError> {
        let config = self.config.clone().ok_or(RuntimeError::NotReady)?;
        let defined = config
            .spec
            .agent_statuses
            .get(name)
            .ok_or_else(|| RuntimeError::UnknownStatus(name.into()))?;
        let status = match defined.kind {
            AgentStatusKind::Routable => AgentStatus::Routable(name.into()),
            AgentStatusKind::Custom => AgentStatus::Custom(name.into()),
            AgentStatusKind::Offline => AgentStatus::Offline,
        };
        self.engine
            .set_status(self.now, user, status)
            .map_err(RuntimeError::Routing)?;
        self.statuses.resumable.remove(user);
        if self.statuses.chosen.get(user).map(String::as_str) != Some(name) {
            self.statuses.chosen.insert(user.into(), name.into());
            self.out.event(NewEvent {
                at_ms: self.now,
                stream: AGENT_STATE_STREAM.into(),
                key: user.into(),
                kind: "STATE".into(),
                payload: serde_json::to_string(&Kept {
                    status: name.into(),
                })
                .expect("an agent's state serialises"),
            });
        }
        Ok(())
    }

    /// The agent's socket is gone: its chosen status is kept for a while.
    pub(crate) fn keep_status_for_reconnect(&mut self, user: &str) {
        if let Some(name) = self.statuses.chosen.get(user) {
            let until = self.now + RESUME_WINDOW_MS;
            self.statuses
                .resumable
                .insert(user.into(), (name.clone(), until));
        }
    }

    /// The agent is back: within the window, in the status it had chosen.
    pub(crate) fn resume_status(&mut self, user: &str) {
        let Some((name, until)) = self.statuses.resumable.remove(user) else {
            return;
        };
        if self.now > until {
            return;
        }
        if let Err(e) = self.choose_status(user, &name) {
            tracing::info!(agent = user, status = name, error = %e, "status not resumed");
        }
    }

    /// After a restart every agent is as if its socket had just dropped.
    pub(crate) fn recover_agent_statuses(&mut self, kept: Vec<(String, String)>) {
        for (user, state) in kept {
            match serde_json::from_str::<Kept>(&state) {
                Ok(k) => {
                    self.statuses.chosen.insert(user.clone(), k.status);
                    self.keep_status_for_reconnect(&user);
                }
                Err(e) => {
                    tracing::warn!(agent = user, error = %e, "unreadable agent state; ignored")
                }
            }
        }
    }
}
