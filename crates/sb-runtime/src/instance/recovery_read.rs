//! Reading back what a restart recovers, for the owner to rebuild from (see
//! `recovery`): the live contacts' newest states, opened with their keys, with their
//! conversations and the configuration versions they started on, and the agents'
//! statuses. This is the driver's side: it reads the store, off the owner's task.

use std::collections::HashMap;
use std::sync::Arc;

use sb_security::envelope::DataKey;
use sb_store::{StoreError, StoredDataKey};

use super::recovery::Persisted;
use super::ChatItem;
use crate::live::DeployedConfig;
use crate::vault::{open_json, Vault};

/// What recovery reads, and nothing else: the store in a server; the simulation's
/// in-memory log in the owner's tests.
pub(crate) trait RecoverySource {
    /// Each live contact's newest state, sealed: (contact, state).
    fn live_contacts(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Each agent's kept status: (user, state).
    fn agent_states(&self) -> Result<Vec<(String, String)>, StoreError>;
    fn data_key(&self, owner: &str) -> Result<Option<StoredDataKey>, StoreError>;
    /// The sealed lines said while `contact` was its chat's contact, in order.
    fn chat_lines(&self, contact: &str) -> Result<Vec<String>, StoreError>;
    /// A contact's newest record as stored (its sealed fields stay sealed).
    fn contact_record(&self, contact: &str) -> Result<Option<String>, StoreError>;
    /// An earlier configuration version.
    fn config_version(&self, version: u64) -> Option<DeployedConfig>;
}

impl RecoverySource for dyn sb_store::Store {
    fn live_contacts(&self) -> Result<Vec<(String, String)>, StoreError> {
        sb_store::LiveStateStore::live_contacts(self)
    }
    fn agent_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        sb_store::LiveStateStore::agent_states(self)
    }
    fn data_key(&self, owner: &str) -> Result<Option<StoredDataKey>, StoreError> {
        sb_store::KeyStore::data_key(self, owner)
    }
    fn chat_lines(&self, contact: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .events_for(sb_store::CHAT_STREAM, contact, usize::MAX >> 1)?
            .into_iter()
            .map(|e| e.event.payload)
            .collect())
    }
    fn contact_record(&self, contact: &str) -> Result<Option<String>, StoreError> {
        sb_store::RecordStore::contact_record(self, contact)
    }
    fn config_version(&self, version: u64) -> Option<DeployedConfig> {
        crate::deploy::read_version(self, version).ok()
    }
}

/// Everything the owner needs to go on after a restart.
pub(crate) struct Recovered {
    /// Each live contact, or why it cannot go on.
    pub(crate) contacts: Vec<(String, Result<Loaded, String>)>,
    /// Each agent's kept status: (user, state as stored).
    pub(crate) agent_states: Vec<(String, String)>,
}

/// Read what the owner recovers from. `current` is the deployed configuration; a
/// contact that started on an older version gets that version, read once however many
/// contacts are on it.
pub(crate) fn read_recovered<S: RecoverySource + ?Sized>(
    store: &S,
    vault: &Vault,
    current: Option<Arc<DeployedConfig>>,
) -> Result<Recovered, sb_store::StoreError> {
    let mut versions: HashMap<u64, Arc<DeployedConfig>> = HashMap::new();
    if let Some(current) = current {
        versions.insert(current.version, current);
    }
    let contacts = store
        .live_contacts()?
        .into_iter()
        .map(|(id, state)| {
            let loaded = load_contact(store, vault, &mut versions, &id, &state);
            (id, loaded)
        })
        .collect();
    Ok(Recovered {
        contacts,
        agent_states: store.agent_states()?,
    })
}

/// The configuration a contact started on: one already read, or that version read
/// back from the store.
fn config_for<S: RecoverySource + ?Sized>(
    store: &S,
    versions: &mut HashMap<u64, Arc<DeployedConfig>>,
    version: u64,
) -> Option<Arc<DeployedConfig>> {
    if let Some(known) = versions.get(&version) {
        return Some(known.clone());
    }
    let read = Arc::new(store.config_version(version)?);
    versions.insert(version, read.clone());
    Some(read)
}

/// A live contact read back.
pub(crate) struct Loaded {
    pub(crate) persisted: Persisted,
    /// The configuration version it started on.
    pub(crate) config: Arc<DeployedConfig>,
    pub(crate) key: DataKey,
    /// Its conversation so far, from the first contact of its chat on.
    pub(crate) transcript: Vec<ChatItem>,
    /// For a transferred chat, the contacts it was before, newest first.
    pub(crate) earlier: Vec<String>,
}

fn load_contact<S: RecoverySource + ?Sized>(
    store: &S,
    vault: &Vault,
    versions: &mut HashMap<u64, Arc<DeployedConfig>>,
    id: &str,
    state: &str,
) -> Result<Loaded, String> {
    let key = match contact_key(store, vault, id) {
        Ok(Some(key)) => key,
        Ok(None) => return Err("the contact's data key is gone (erased)".into()),
        Err(e) => return Err(format!("cannot open the contact's data key: {e}")),
    };
    let p: Persisted =
        open_json(Some(&key), state).map_err(|e| format!("unreadable live contact state: {e}"))?;
    let config = config_for(store, versions, p.version)
        .ok_or_else(|| format!("the contact's configuration version {} is gone", p.version))?;
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
        config,
        key,
        transcript,
        earlier,
    })
}

/// `contact`'s data key; `None` once it was destroyed (or never existed).
fn contact_key<S: RecoverySource + ?Sized>(
    store: &S,
    vault: &Vault,
    contact: &str,
) -> Result<Option<DataKey>, crate::vault::VaultError> {
    match store.data_key(contact)? {
        None => Ok(None),
        Some(stored) => Ok(Some(vault.open_data_key(&stored)?)),
    }
}

/// The lines said while `contact` was the chat's contact.
fn lines_of<S: RecoverySource + ?Sized>(
    store: &S,
    contact: &str,
    key: &DataKey,
) -> Result<Vec<ChatItem>, StoreError> {
    Ok(store
        .chat_lines(contact)?
        .iter()
        .filter_map(|payload| open_json(Some(key), payload).ok())
        .collect())
}

/// A transferred chat before it became this contact: the contacts it went through
/// (newest first), and what was said in them, oldest first (each contact stores only
/// its own lines). A contact of the chain whose key was erased adds no lines.
fn earlier_chat<S: RecoverySource + ?Sized>(
    store: &S,
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
        if let Ok(Some(key)) = contact_key(store, vault, &id) {
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
