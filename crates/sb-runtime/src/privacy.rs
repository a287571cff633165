//! Privacy requests (GDPR access and erasure, CCPA): everything held about a customer,
//! found through the keyed reference of their endpoint, and erasure by destroying their
//! contacts' data keys, so their transcripts, state and sensitive fields can never be
//! read again while the records' counts and durations stay for metrics.

use sb_model::record::ContactRecord;
use sb_store::Store;
use serde::Serialize;

use crate::vault::{open_json, open_record, Vault, VaultError};

/// One contact of the customer, opened.
#[derive(Debug, Serialize)]
pub struct ExportedContact {
    pub contact_id: String,
    /// The record as stored (sealed fields sealed), or none while the contact goes on.
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
            .events_for("chat", &id, usize::MAX >> 1)?
            .iter()
            .filter_map(|e| open_json(key.as_ref(), &e.event.payload).ok())
            .collect();
        let flow_logs = store
            .events_for("flow-log", &id, usize::MAX >> 1)?
            .iter()
            .flat_map(|e| {
                serde_json::from_str::<Vec<serde_json::Value>>(&e.event.payload).unwrap_or_default()
            })
            .collect();
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

/// Erase the customer's finished contacts: their flow logs removed, then their data
/// keys destroyed, so that every sealed copy (records, transcripts, live state, the
/// sensitive values in contact events) is unreadable for good.
pub fn erase(store: &dyn Store, vault: &Vault, endpoint: &str) -> Result<Erasure, VaultError> {
    let owners = store.data_key_owners_of_customer(&vault.customer_ref(endpoint))?;
    let live: std::collections::HashSet<String> = store
        .live_contacts()?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let (still_live, finished): (Vec<String>, Vec<String>) =
        owners.into_iter().partition(|id| live.contains(id));
    store.erase_flow_logs(&finished)?;
    store.destroy_data_keys(&finished)?;
    Ok(Erasure {
        customer_endpoint: endpoint.to_string(),
        erased: finished,
        still_live,
    })
}
