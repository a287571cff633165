//! The instance's view of encryption at rest: the loaded KEKs, one data key per contact
//! (made with the contact, wrapped, kept in the store with its first events), and the
//! system keys (the user directory's, the customer index's).
//!
//! What is sealed: a contact's persisted live state and its transcript whole; in its
//! record, the values of sensitive attributes and the customer's endpoint; users' TOTP
//! secrets. Erasing a customer destroys their contacts' data keys.

use std::sync::RwLock;

use sb_model::record::ContactRecord;
use sb_security::envelope::{is_sealed, DataKey, EnvelopeError, Keyring, WrappedKey};
use sb_store::{KeyStore, Store, StoreError, StoredDataKey};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The owner name of the key that seals users' sign-in secrets.
pub const USERS_KEY_OWNER: &str = "system:users";
/// The owner name of the key behind customer references (blind indexes).
pub const CUSTOMER_INDEX_OWNER: &str = "system:customer-index";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealed data is unreadable: {0}")]
    Unreadable(String),
}

/// The instance's keys. It reads and writes the store through its key role only
/// (`KeyStore`): what opens and rewraps keys cannot touch records or credentials.
pub struct Vault {
    keyring: RwLock<Keyring>,
    users: DataKey,
    customer_index: DataKey,
    /// Where erasures are remembered beside the keys (see [`crate::privacy::ErasureLog`]).
    erasures: Option<crate::privacy::ErasureLog>,
}

fn wrapped(stored: &StoredDataKey) -> WrappedKey {
    WrappedKey {
        kek_id: stored.kek_id.clone(),
        bytes: stored.wrapped.clone(),
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Vault {
    /// Load (or, on first use, make) the system keys under `keyring`.
    pub fn open(store: &dyn KeyStore, keyring: Keyring) -> Result<Vault, VaultError> {
        let users = system_key(store, &keyring, USERS_KEY_OWNER)?;
        let customer_index = system_key(store, &keyring, CUSTOMER_INDEX_OWNER)?;
        Ok(Vault {
            keyring: RwLock::new(keyring),
            users,
            customer_index,
            erasures: None,
        })
    }

    /// The vault of a data directory whose keys are in a key directory: erasures are
    /// remembered there, and those remembered are carried out on `store` now — a copy
    /// restored from a backup made before an erasure must not open what was erased.
    pub fn open_with_erasures(
        store: &dyn Store,
        keyring: Keyring,
        erasures: crate::privacy::ErasureLog,
    ) -> Result<Vault, VaultError> {
        let mut vault = Vault::open(store, keyring)?;
        erasures.replay(store)?;
        vault.erasures = Some(erasures);
        Ok(vault)
    }

    /// A vault whose system keys live only in memory, for the owner's tests, which
    /// run without a store.
    #[cfg(test)]
    pub(crate) fn in_memory(keyring: Keyring) -> Result<Vault, VaultError> {
        Ok(Vault {
            keyring: RwLock::new(keyring),
            users: DataKey::generate()?,
            customer_index: DataKey::generate()?,
            erasures: None,
        })
    }

    pub(crate) fn erasures(&self) -> Option<&crate::privacy::ErasureLog> {
        self.erasures.as_ref()
    }

    fn keyring(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        self.keyring.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Use `keyring` from now on (after `keys rotate` named a new current KEK).
    pub fn reload(&self, keyring: Keyring) {
        *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = keyring;
    }

    pub fn current_kek(&self) -> String {
        self.keyring().current_id().to_string()
    }

    /// A fresh data key for `contact`, and its wrapped form to store (with the
    /// reference of the customer's endpoint, if known).
    pub fn new_contact_key(
        &self,
        contact: &str,
        customer_endpoint: Option<&str>,
    ) -> Result<(DataKey, StoredDataKey), VaultError> {
        let key = DataKey::generate()?;
        let wrapped = self.keyring().wrap(contact, &key)?;
        Ok((
            key,
            StoredDataKey {
                owner: contact.to_string(),
                kek_id: wrapped.kek_id,
                wrapped: wrapped.bytes,
                customer_ref: customer_endpoint.map(|e| self.customer_ref(e)),
                created_ms: now_ms(),
            },
        ))
    }

    /// `contact`'s data key; `None` once it was destroyed (or never existed).
    pub fn contact_key(
        &self,
        store: &dyn KeyStore,
        contact: &str,
    ) -> Result<Option<DataKey>, VaultError> {
        match store.data_key(contact)? {
            None => Ok(None),
            Some(stored) => Ok(Some(self.open_data_key(&stored)?)),
        }
    }

    /// A stored (wrapped) data key, unwrapped under the keyring.
    pub fn open_data_key(&self, stored: &StoredDataKey) -> Result<DataKey, VaultError> {
        Ok(self.keyring().unwrap(&stored.owner, &wrapped(stored))?)
    }

    /// The reference of a customer endpoint: equal for the same customer however it
    /// is written (case, spaces, dashes, parentheses), and meaningless without the key.
    pub fn customer_ref(&self, endpoint: &str) -> String {
        self.customer_index
            .blind_index(&sb_model::record::normalize_address(endpoint))
    }

    pub fn users_key(&self) -> &DataKey {
        &self.users
    }

    /// Re-wrap every data key under the keyring's current KEK; the sealed data is not
    /// touched. Returns how many keys moved.
    pub fn rewrap_all(store: &dyn KeyStore, keyring: &Keyring) -> Result<u64, VaultError> {
        let moved = store.rewrap_data_keys(keyring.current_id(), &|stored| {
            let new = keyring
                .rewrap(&stored.owner, &wrapped(stored))
                .map_err(|e| e.to_string())?;
            Ok(StoredDataKey {
                kek_id: new.kek_id,
                wrapped: new.bytes,
                ..stored.clone()
            })
        })?;
        Ok(moved)
    }
}

fn system_key(store: &dyn KeyStore, keyring: &Keyring, owner: &str) -> Result<DataKey, VaultError> {
    if store.data_key(owner)?.is_none() {
        let key = DataKey::generate()?;
        let wrapped = keyring.wrap(owner, &key)?;
        store.insert_data_key(&StoredDataKey {
            owner: owner.to_string(),
            kek_id: wrapped.kek_id,
            wrapped: wrapped.bytes,
            customer_ref: None,
            created_ms: now_ms(),
        })?;
    }
    // Read back: another process may have made it first, and theirs is the one kept.
    let stored = store
        .data_key(owner)?
        .ok_or_else(|| VaultError::Unreadable(format!("the {owner} key vanished")))?;
    Ok(keyring.unwrap(owner, &wrapped(&stored))?)
}

/// `value` as JSON sealed under `key`: `{"sealed":"sb1:…"}`.
pub fn seal_json<T: Serialize>(key: &DataKey, value: &T) -> Result<String, VaultError> {
    #[derive(Serialize)]
    struct Sealed {
        sealed: String,
    }
    let clear = serde_json::to_vec(value).map_err(|e| VaultError::Unreadable(e.to_string()))?;
    let sealed = Sealed {
        sealed: key.seal(&clear)?,
    };
    serde_json::to_string(&sealed).map_err(|e| VaultError::Unreadable(e.to_string()))
}

/// The value [`seal_json`] sealed. A payload written before encryption at rest (no
/// `sealed` field) is read as it is.
pub fn open_json<T: DeserializeOwned>(
    key: Option<&DataKey>,
    payload: &str,
) -> Result<T, VaultError> {
    let value: serde_json::Value =
        serde_json::from_str(payload).map_err(|e| VaultError::Unreadable(e.to_string()))?;
    let clear = match value.get("sealed").and_then(|s| s.as_str()) {
        Some(sealed) => {
            let key = key.ok_or_else(|| {
                VaultError::Unreadable("its data key was destroyed (erased)".into())
            })?;
            key.open(sealed)?
        }
        None => {
            return serde_json::from_value(value).map_err(|e| VaultError::Unreadable(e.to_string()))
        }
    };
    serde_json::from_slice(&clear).map_err(|e| VaultError::Unreadable(e.to_string()))
}

/// Open a sealed text field; clear text (written before encryption) is returned as is.
pub fn open_text(key: Option<&DataKey>, text: &str) -> Result<String, VaultError> {
    if !is_sealed(text) {
        return Ok(text.to_string());
    }
    let key =
        key.ok_or_else(|| VaultError::Unreadable("its data key was destroyed (erased)".into()))?;
    Ok(key.open_str(text)?)
}

/// The values of the `sensitive` attributes among `attributes` sealed under `key`,
/// wherever attributes are written (records, contact events).
pub fn seal_attributes(
    key: &DataKey,
    sensitive: &[String],
    attributes: &mut std::collections::BTreeMap<String, String>,
) {
    for (name, value) in attributes.iter_mut() {
        if sensitive.iter().any(|s| s == name) && !is_sealed(value) {
            *value = key.seal_str(value).expect("a value seals");
        }
    }
}

/// `record` as it is stored: the values of the `sensitive` attributes and the
/// customer's address sealed under the contact's key, everything else (what metrics and
/// searches use) in the clear.
pub fn seal_record(key: &DataKey, sensitive: &[String], record: &ContactRecord) -> ContactRecord {
    let mut sealed = record.clone();
    seal_attributes(key, sensitive, &mut sealed.attributes);
    if let Some(endpoint) = sealed.customer_endpoint.as_mut() {
        if !is_sealed(&endpoint.address) {
            endpoint.address = key.seal_str(&endpoint.address).expect("an address seals");
        }
    }
    sealed
}

/// The sealed fields of a stored record, opened: each sensitive attribute and the
/// customer endpoint. Fields whose key was destroyed stay as they are and are listed in
/// `unreadable`.
#[derive(Debug, Default, Serialize)]
pub struct OpenedFields {
    pub attributes: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_endpoint: Option<sb_model::record::Endpoint>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

pub fn open_record(key: Option<&DataKey>, record: &ContactRecord) -> OpenedFields {
    let mut opened = OpenedFields::default();
    for (name, value) in &record.attributes {
        if is_sealed(value) {
            match open_text(key, value) {
                Ok(clear) => {
                    opened.attributes.insert(name.clone(), clear);
                }
                Err(_) => opened.unreadable.push(format!("Attributes.{name}")),
            }
        }
    }
    if let Some(endpoint) = &record.customer_endpoint {
        match open_text(key, &endpoint.address) {
            Ok(address) => {
                opened.customer_endpoint = Some(sb_model::record::Endpoint {
                    address,
                    kind: endpoint.kind,
                })
            }
            Err(_) => opened.unreadable.push("CustomerEndpoint".into()),
        }
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_security::envelope::Kek;

    fn vault() -> (tempfile::TempDir, sb_store::SqliteStore, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let store = sb_store::SqliteStore::open(dir.path()).unwrap();
        let ring = Keyring::new(Kek::from_bytes(&[3; 32]).unwrap(), vec![]);
        let vault = Vault::open(&store, ring).unwrap();
        (dir, store, vault)
    }

    #[test]
    fn system_keys_survive_a_reopen() {
        let (_dir, store, vault) = vault();
        let sealed = vault.users_key().seal_str("totp").unwrap();
        let reference = vault.customer_ref("+1 (555) 010-0199");
        let ring = Keyring::new(Kek::from_bytes(&[3; 32]).unwrap(), vec![]);
        let again = Vault::open(&store, ring).unwrap();
        assert_eq!(again.users_key().open_str(&sealed).unwrap(), "totp");
        assert_eq!(again.customer_ref("+15550100199"), reference);
        assert_ne!(again.customer_ref("+15550100198"), reference);
        assert_eq!(
            again.customer_ref(" Ann@Example.COM "),
            again.customer_ref("ann@example.com")
        );
    }

    #[test]
    fn sealed_json_opens_with_its_key_and_not_after_erasure() {
        let (_dir, store, vault) = vault();
        let (key, stored) = vault
            .new_contact_key("c1", Some("ann@example.com"))
            .unwrap();
        store.insert_data_key(&stored).unwrap();
        let payload = seal_json(&key, &serde_json::json!({"text": "marker"})).unwrap();
        assert!(!payload.contains("marker"));
        let back = vault.contact_key(&store, "c1").unwrap();
        let value: serde_json::Value = open_json(back.as_ref(), &payload).unwrap();
        assert_eq!(value["text"], "marker");
        assert_eq!(
            store
                .data_key_owners_of_customer(&vault.customer_ref("ann@example.com"))
                .unwrap(),
            ["c1"]
        );
        store.destroy_data_keys(&["c1".into()]).unwrap();
        let gone = vault.contact_key(&store, "c1").unwrap();
        assert!(gone.is_none());
        assert!(open_json::<serde_json::Value>(gone.as_ref(), &payload).is_err());
        let legacy: serde_json::Value = open_json(None, "{\"text\":\"old\"}").unwrap();
        assert_eq!(legacy["text"], "old");
    }

    #[test]
    fn rotation_moves_every_key_and_old_data_still_opens() {
        let (_dir, store, vault) = vault();
        let (key, stored) = vault.new_contact_key("c1", None).unwrap();
        store.insert_data_key(&stored).unwrap();
        let sealed = key.seal_str("kept").unwrap();
        let old = Kek::from_bytes(&[3; 32]).unwrap();
        let new = Kek::from_bytes(&[4; 32]).unwrap();
        let ring = Keyring::new(new.clone(), vec![old]);
        assert_eq!(
            Vault::rewrap_all(&store, &ring).unwrap(),
            3,
            "c1 and the two system keys"
        );
        assert_eq!(
            store.data_keys_by_kek().unwrap(),
            [(new.id().to_string(), 3)]
        );
        let only_new = Keyring::new(new, vec![]);
        let vault = Vault::open(&store, only_new).unwrap();
        let key = vault.contact_key(&store, "c1").unwrap().unwrap();
        assert_eq!(key.open_str(&sealed).unwrap(), "kept");
    }
}
