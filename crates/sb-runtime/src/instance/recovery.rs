//! Surviving a crash: every changed contact's state goes to the `live` stream with the
//! batch that changed it; on start, the owner rebuilds from each contact's newest state
//! in the store (not the whole event log, so start-up does not grow with history).

use sb_model::record::DisconnectReason;

use sb_flow::interpret::{ContactData, FlowRun, FunctionResult, Input, Waiting};
use sb_model::record::ContactRecord;
use sb_store::{NewEvent, LIVE_STREAM};
use serde::{Deserialize, Serialize};

use super::contacts::{LiveContact, Stage};
use super::recovery_read::{Loaded, Recovered};
use super::Owner;

/// What a contact needs to go on after a restart. The transcript is not here: it is in
/// the `chat` stream already.
#[derive(Serialize, Deserialize)]
pub(crate) struct Persisted {
    pub(crate) version: u64,
    pub(crate) data: ContactData,
    pub(crate) flow: Option<FlowRun>,
    pub(crate) stage: Stage,
    pub(crate) token_sha256: Option<String>,
    pub(crate) customer_name: Option<String>,
    pub(crate) timer_at: Option<i64>,
    pub(crate) record: ContactRecord,
    pub(crate) connected_at: Option<i64>,
    pub(crate) ended_at: Option<i64>,
    pub(crate) enqueued_at: Option<i64>,
    #[serde(default)]
    pub(crate) callback: Option<super::callbacks::CallbackState>,
    #[serde(default)]
    pub(crate) line_order: u64,
}

impl Owner {
    pub(crate) fn persist_dirty(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            let Some(c) = self.contacts.get(&id) else {
                continue;
            };
            let enqueued_at = c
                .record
                .queue
                .as_ref()
                .and_then(|q| q.enqueue_timestamp.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_millisecond());
            let state = Persisted {
                version: c.config.version,
                data: c.data.clone(),
                flow: c.flow.clone(),
                stage: c.stage.clone(),
                token_sha256: c.token_sha256.clone(),
                customer_name: c.customer_name.clone(),
                timer_at: c.timer_at.filter(|_| c.timer.is_some()),
                record: c.record.clone(),
                connected_at: c.connected_at,
                ended_at: c.ended_at,
                enqueued_at,
                callback: c.callback,
                line_order: c.line_order,
            };
            let payload = crate::vault::seal_json(&c.key, &state).expect("contact state seals");
            self.out.event(NewEvent {
                at_ms: self.now,
                stream: LIVE_STREAM.into(),
                key: id,
                kind: "STATE".into(),
                payload,
            });
        }
    }

    /// Rebuild from what [`read_recovered`] found: each contact back where it was,
    /// agents back in routing, lines back in the order they joined.
    pub(crate) fn recover(&mut self, recovered: Recovered) {
        self.recover_agent_statuses(recovered.agent_states);
        let rows = recovered.contacts;
        let now = self.now;
        let count = rows.len();
        let mut requeue = Vec::new();
        let mut chains = Vec::new();
        for (id, loaded) in rows {
            let Loaded {
                persisted: p,
                config,
                key,
                transcript,
                earlier,
            } = match loaded {
                Ok(loaded) => loaded,
                Err(reason) => {
                    tracing::error!(contact = %id, "{reason}; skipped");
                    continue;
                }
            };
            chains.push((id.clone(), earlier));
            let waiting = p.flow.as_ref().and_then(|f| f.waiting);
            let channel = p.data.channel;
            let queue = p.record.queue.as_ref().map(|q| q.name.clone());
            self.contacts.insert(
                id.clone(),
                LiveContact {
                    config,
                    key,
                    data: p.data,
                    flow: p.flow,
                    stage: p.stage.clone(),
                    transcript,
                    token_sha256: p.token_sha256,
                    customer: None,
                    customer_name: p.customer_name,
                    timer: None,
                    timer_at: None,
                    function_epoch: 0,
                    record: p.record,
                    tokens: 20.0,
                    tokens_at: now,
                    connected_at: p.connected_at,
                    ended_at: p.ended_at,
                    told_position: None,
                    callback: p.callback,
                    line_order: p.line_order,
                },
            );
            if let Some(at) = p.timer_at {
                self.set_timer(&id, at.max(now));
            }
            // No customer's socket survives a restart: the absence counts from now.
            self.customer_absent(&id);
            if channel == sb_model::Channel::Task {
                let created = self.contacts[&id]
                    .record
                    .initiation_timestamp
                    .parse::<jiff::Timestamp>()
                    .map_or(now, |t| t.as_millisecond());
                self.arm_task_expiry(&id, created);
            }
            match p.stage {
                // Back in line once the agents are back (an agent queue needs its
                // agent), with the place it had: its wait so far counts.
                Stage::Queued | Stage::Offered(_) => {
                    let enqueued_at = p.enqueued_at.unwrap_or(now);
                    requeue.push((
                        enqueued_at,
                        p.line_order,
                        id.clone(),
                        queue.unwrap_or_default(),
                    ));
                }
                Stage::Connected(_) | Stage::AfterWork(_) => {}
                Stage::Scheduled | Stage::InFlow => {
                    // A function call in flight when the process died is lost; the
                    // flow takes its error branch rather than waiting forever.
                    if waiting == Some(Waiting::Function) {
                        let result = FunctionResult::Failed {
                            reason: "interrupted by a restart".into(),
                        };
                        self.drive(&id, Input::FunctionResult { result });
                    }
                }
            }
            self.touch(&id);
        }
        // Customers of transferred chats may come back with any earlier contact's id:
        // each finished contact of a chain leads to the one after it.
        for (id, earlier) in chains {
            let mut next = id;
            for previous in earlier {
                if !self.contacts.contains_key(&previous) {
                    self.chat_aliases.insert(previous.clone(), next);
                }
                next = previous;
            }
        }
        self.restore_agents();
        // Back in the order they joined their lines, each with the time it had waited:
        // its place, and the queue delays it had sat out, are its own again.
        requeue.sort();
        self.arrivals = self
            .contacts
            .values()
            .map(|c| c.line_order)
            .max()
            .unwrap_or(0);
        for (enqueued_at, _, id, queue) in requeue {
            let waited = now - enqueued_at;
            let c = &self.contacts[&id];
            let options = super::lines::enqueue_options(&id, &c.data, c.callback.as_ref(), waited);
            match self.enter_line(&id, &queue, options) {
                Ok(()) => self.contacts.get_mut(&id).expect("inserted").stage = Stage::Queued,
                Err(e) => {
                    tracing::warn!(contact = %id, queue, error = %e, "cannot put a recovered contact back in line; ending it");
                    self.end_contact(&id, DisconnectReason::RecoveryFailed);
                }
            }
        }
        if count > 0 {
            tracing::info!(contacts = count, "live contacts recovered");
        }
        self.route();
    }
}
