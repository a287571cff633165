//! Privacy requests (GDPR access and erasure, CCPA): everything held about a customer,
//! found through the keyed reference of their endpoint, and erasure by destroying their
//! contacts' data keys, so their transcripts, state and sensitive fields can never be
//! read again while the records' counts and durations stay for metrics.

use sb_model::record::ContactRecord;
use sb_store::{Store, StoreError};
use serde::Serialize;

use crate::vault::{open_json, open_record, Vault, VaultError};

/// One contact of the customer, opened.
#[derive(Debug, Serialize)]
pub struct ExportedContact {
    pub contact_id: String,
    /// The record with its sealed fields opened, or none while the contact goes on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
    /// The record's sealed fields, opened.
    pub sensitive: crate::vault::OpenedFields,
    pub transcript: Vec<serde_json::Value>,
    pub flow_logs: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct Export {
    pub customer_endpoint: String,
    pub contacts: Vec<ExportedContact>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Erasure {
    pub customer_endpoint: String,
    /// Contacts whose data keys were destroyed.
    pub erased: Vec<String>,
    /// Contacts still going on: erase again once they have ended.
    pub still_live: Vec<String>,
}

/// Everything held about the customer at `endpoint`.
pub fn export(store: &dyn Store, vault: &Vault, endpoint: &str) -> Result<Export, VaultError> {
    let owners = store.data_key_owners_of_customer(&vault.customer_ref(endpoint))?;
    let mut contacts = Vec::with_capacity(owners.len());
    for id in owners {
        let key = vault.contact_key(store, &id)?;
        let record: Option<ContactRecord> = store
            .contact_record(&id)?
            .and_then(|json| serde_json::from_str(&json).ok());
        let sensitive = record
            .as_ref()
            .map(|r| open_record(key.as_ref(), r))
            .unwrap_or_default();
        let transcript = store
            .events_for(sb_store::CHAT_STREAM, &id, usize::MAX >> 1)?
            .iter()
            .filter_map(|e| open_json(key.as_ref(), &e.event.payload).ok())
            .collect();
        let flow_logs = store
            .events_for(sb_store::FLOW_LOG_STREAM, &id, usize::MAX >> 1)?
            .iter()
            .flat_map(|e| {
                serde_json::from_str::<Vec<serde_json::Value>>(&e.event.payload).unwrap_or_default()
            })
            .collect();
        // The record as the customer would read it: its sealed fields opened in place
        // (a field whose key is gone stays as stored, and `sensitive` says so).
        let record = record.map(|mut r| {
            for (name, value) in &sensitive.attributes {
                r.attributes.insert(name.clone(), value.clone());
            }
            if let (Some(stored), Some(opened)) = (
                r.customer_endpoint.as_mut(),
                sensitive.customer_endpoint.as_ref(),
            ) {
                stored.address = opened.address.clone();
            }
            r
        });
        contacts.push(ExportedContact {
            contact_id: id,
            record: record.and_then(|r| serde_json::to_value(r).ok()),
            sensitive,
            transcript,
            flow_logs,
        });
    }
    Ok(Export {
        customer_endpoint: endpoint.to_string(),
        contacts,
    })
}

/// The contacts erased so far, one id a line, in a file in the key directory. A
/// backup made before an erasure still holds the erased contacts' wrapped data keys,
/// and the key directory's KEK still unwraps them; every vault opened with the key
/// directory first destroys the keys listed here, so restoring such a backup gives
/// nothing erased back. (Contact ids are random and say nothing about the customer.)
pub struct ErasureLog {
    path: std::path::PathBuf,
}

impl ErasureLog {
    pub fn in_key_dir(dir: &std::path::Path) -> ErasureLog {
        ErasureLog {
            path: dir.join("erased-contacts"),
        }
    }

    fn listed(&self) -> Result<Vec<String>, StoreError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(text.lines().map(str::to_string).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::Corrupt(format!(
                "cannot read the erasure log {}: {e}",
                self.path.display()
            ))),
        }
    }

    /// Remember `contacts` as erased, durably, before their keys are destroyed.
    fn record(&self, contacts: &[String]) -> Result<(), StoreError> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = || -> std::io::Result<()> {
            // A crash mid-write leaves a last line without its newline; the next entry
            // must not be glued to it, or its erasure would not be replayed.
            let ends_open = std::fs::read(&self.path)
                .map(|bytes| bytes.last().is_some_and(|&b| b != b'\n'))
                .unwrap_or(false);
            let mut file = options.open(&self.path)?;
            if ends_open {
                writeln!(file)?;
            }
            for contact in contacts {
                writeln!(file, "{contact}")?;
            }
            file.sync_all()
        };
        write().map_err(|e| {
            StoreError::Corrupt(format!(
                "cannot write the erasure log {}: {e}",
                self.path.display()
            ))
        })
    }

    /// Destroy the keys of listed contacts that `store` still holds; how many.
    pub fn replay(&self, store: &dyn Store) -> Result<u64, StoreError> {
        let mut still_held = Vec::new();
        for contact in self.listed()? {
            if store.data_key(&contact)?.is_some() {
                still_held.push(contact);
            }
        }
        if still_held.is_empty() {
            return Ok(0);
        }
        store.erase_flow_logs(&still_held)?;
        store.destroy_data_keys(&still_held)
    }
}

/// Erase the customer's finished contacts: their flow logs removed, then their data
/// keys destroyed, so that every sealed copy (records, transcripts, live state, the
/// sensitive values in contact events) is unreadable for good — remembered first in the
/// vault's erasure log, so a backup restored later cannot bring them back.
pub fn erase(store: &dyn Store, vault: &Vault, endpoint: &str) -> Result<Erasure, VaultError> {
    let owners = store.data_key_owners_of_customer(&vault.customer_ref(endpoint))?;
    let live: std::collections::HashSet<String> = store
        .live_contacts()?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let (still_live, finished): (Vec<String>, Vec<String>) =
        owners.into_iter().partition(|id| live.contains(id));
    if let Some(log) = vault.erasures() {
        log.record(&finished)?;
    }
    store.erase_flow_logs(&finished)?;
    store.destroy_data_keys(&finished)?;
    Ok(Erasure {
        customer_endpoint: endpoint.to_string(),
        erased: finished,
        still_live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crash mid-write leaves a partial last line; the next erasure still gets a line
    /// of its own, so it is replayed on a restored copy.
    #[test]
    fn an_entry_after_a_torn_line_keeps_its_own_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = ErasureLog::in_key_dir(dir.path());
        log.record(&["first".into()]).unwrap();
        // A torn write: part of an id, no newline.
        let mut text = std::fs::read_to_string(&log.path).unwrap();
        text.push_str("sec");
        std::fs::write(&log.path, text).unwrap();
        log.record(&["third".into()]).unwrap();
        let listed = log.listed().unwrap();
        assert!(listed.contains(&"first".to_string()), "{listed:?}");
        assert!(listed.contains(&"third".to_string()), "{listed:?}");
    }
}
