//! Surviving a crash: every changed contact's state goes to the `live` stream with the
//! batch that changed it; on start, the owner rebuilds from each contact's newest state
//! in the store (not the whole event log, so start-up does not grow with history).

use sb_model::record::DisconnectReason;
use std::sync::Arc;

use sb_flow::interpret::{ContactData, FlowRun, FunctionResult, Input, Waiting};
use sb_model::record::ContactRecord;
use sb_store::{NewEvent, LIVE_STREAM};
use serde::{Deserialize, Serialize};

use super::contacts::{LiveContact, Stage};
use super::{ChatItem, Owner};
use crate::live::DeployedConfig;
use crate::vault::{open_json, Vault};
use sb_security::envelope::DataKey;
use sb_store::Store;

/// What a contact needs to go on after a restart. The transcript is not here: it is in
/// the `chat` stream already.
#[derive(Serialize, Deserialize)]
struct Persisted {
    version: u64,
    data: ContactData,
    flow: Option<FlowRun>,
    stage: Stage,
    token_sha256: Option<String>,
    customer_name: Option<String>,
    timer_at: Option<i64>,
    record: ContactRecord,
    connected_at: Option<i64>,
    ended_at: Option<i64>,
    enqueued_at: Option<i64>,
    #[serde(default)]
    callback: Option<super::callbacks::CallbackState>,
    #[serde(default)]
    line_order: u64,
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
            self.outbox.event(NewEvent {
                at_ms: self.clock.now_ms(),
                stream: LIVE_STREAM.into(),
                key: id,
                kind: "STATE".into(),
                payload,
            });
        }
    }

    /// The configuration a contact started on: the current one, or an older version
    /// read back from the store.
    fn config_for(&self, version: u64) -> Option<Arc<DeployedConfig>> {
        if let Some(current) = self.config.as_ref().filter(|c| c.version == version) {
            return Some(current.clone());
        }
        crate::deploy::read_version(self.store.as_ref(), version)
            .ok()
            .map(Arc::new)
    }

    pub(crate) async fn recover(&mut self) {
        let store = self.store.clone();
        let vault = self.vault.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let rows = store.live_contacts()?;
            let contacts = rows
                .into_iter()
                .map(|(id, state)| {
                    let loaded = load_contact(store.as_ref(), &vault, &id, &state);
                    (id, loaded)
                })
                .collect::<Vec<_>>();
            Ok::<_, sb_store::StoreError>((contacts, store.agent_states()?))
        })
        .await;
        let rows = match loaded {
            Ok(Ok((rows, agent_states))) => {
                self.recover_agent_statuses(agent_states);
                rows
            }
            Ok(Err(e)) => {
                return tracing::error!(error = %e, "cannot read live contacts; starting without them")
            }
            Err(e) => {
                return tracing::error!(error = %e, "cannot read live contacts; starting without them")
            }
        };
        let now = self.clock.now_ms();
        let count = rows.len();
        let mut requeue = Vec::new();
        let mut chains = Vec::new();
        for (id, loaded) in rows {
            let Loaded {
                persisted: p,
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
            let Some(config) = self.config_for(p.version) else {
                tracing::error!(contact = %id, version = p.version, "the contact's configuration version is gone; skipped");
                continue;
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
            let options =
                super::contacts::enqueue_options(&id, &c.data, c.callback.as_ref(), waited);
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

/// A live contact read back.
struct Loaded {
    persisted: Persisted,
    key: DataKey,
    /// Its conversation so far, from the first contact of its chat on.
    transcript: Vec<ChatItem>,
    /// For a transferred chat, the contacts it was before, newest first.
    earlier: Vec<String>,
}

fn load_contact(store: &dyn Store, vault: &Vault, id: &str, state: &str) -> Result<Loaded, String> {
    let key = match vault.contact_key(store, id) {
        Ok(Some(key)) => key,
        Ok(None) => return Err("the contact's data key is gone (erased)".into()),
        Err(e) => return Err(format!("cannot open the contact's data key: {e}")),
    };
    let p: Persisted =
        open_json(Some(&key), state).map_err(|e| format!("unreadable live contact state: {e}"))?;
    // A chat transferred goes on with what was said; a callback created from a chat
    // starts its own (empty) conversation.
    let (earlier, mut transcript) = if p.data.channel == sb_model::Channel::Chat {
        earlier_chat(store, vault, p.record.previous_contact_id.clone())
    } else {
        Default::default()
    };
    transcript.extend(
        lines_of(store, id, &key).map_err(|e| format!("cannot read the chat's lines: {e}"))?,
    );
    Ok(Loaded {
        persisted: p,
        key,
        transcript,
        earlier,
    })
}

/// The lines said while `contact` was the chat's contact.
fn lines_of(
    store: &dyn Store,
    contact: &str,
    key: &DataKey,
) -> Result<Vec<ChatItem>, sb_store::StoreError> {
    Ok(store
        .events_for("chat", contact, usize::MAX >> 1)?
        .iter()
        .filter_map(|e| open_json(Some(key), &e.event.payload).ok())
        .collect())
}

/// A transferred chat before it became this contact: the contacts it went through
/// (newest first), and what was said in them, oldest first (each contact stores only
/// its own lines). A contact of the chain whose key was erased adds no lines.
fn earlier_chat(
    store: &dyn Store,
    vault: &Vault,
    mut previous: Option<String>,
) -> (Vec<String>, Vec<ChatItem>) {
    let mut ids = Vec::new();
    let mut chain = Vec::new();
    // A chain is as long as its transfers; the bound only guards a corrupt one.
    for _ in 0..64 {
        let Some(id) = previous.take() else {
            break;
        };
        if let Ok(Some(key)) = vault.contact_key(store, &id) {
            chain.push(lines_of(store, &id, &key).unwrap_or_default());
        }
        ids.push(id.clone());
        previous = store
            .contact_record(&id)
            .ok()
            .flatten()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
            .and_then(|r| r["PreviousContactId"].as_str().map(str::to_string));
    }
    (ids, chain.into_iter().rev().flatten().collect())
}
