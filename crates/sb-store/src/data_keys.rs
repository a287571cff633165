//! Wrapped data keys: one per owner (a contact, or a system key such as the user
//! directory's), each wrapped by a key-encryption key the store never sees.
//!
//! Destroying a key is how a customer's data is erased: the rows are deleted with
//! `secure_delete` on (SQLite overwrites the freed content) and the write-ahead log is
//! checkpointed and truncated, so the wrapped key does not linger in the file.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::StoreError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS data_keys (
    owner        TEXT PRIMARY KEY,
    kek_id       TEXT NOT NULL,
    wrapped      BLOB NOT NULL,
    customer_ref TEXT,
    created_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS data_keys_by_customer ON data_keys (customer_ref) WHERE customer_ref IS NOT NULL;
";

/// Events on this stream carry a new data key; the writer keeps it in `data_keys`
/// (never in `events`), in the same transaction as the events it seals.
pub const DATA_KEY_STREAM: &str = "data-key";

/// One wrapped data key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDataKey {
    pub owner: String,
    pub kek_id: String,
    #[serde(with = "base64_bytes")]
    pub wrapped: Vec<u8>,
    /// A keyed hash of the customer's endpoint, to find a customer's contacts without
    /// keeping the endpoint in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    pub created_ms: i64,
}

mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

pub(crate) fn insert(connection: &Connection, key: &StoredDataKey) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO data_keys (owner, kek_id, wrapped, customer_ref, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (owner) DO NOTHING",
        )?
        .execute(params![
            key.owner,
            key.kek_id,
            key.wrapped,
            key.customer_ref,
            key.created_ms
        ])?;
    Ok(())
}

/// Keep the data key an event of [`DATA_KEY_STREAM`] carries.
pub(crate) fn insert_event(connection: &Connection, payload: &str) -> rusqlite::Result<()> {
    let key: StoredDataKey = serde_json::from_str(payload)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    insert(connection, &key)
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredDataKey> {
    Ok(StoredDataKey {
        owner: r.get(0)?,
        kek_id: r.get(1)?,
        wrapped: r.get(2)?,
        customer_ref: r.get(3)?,
        created_ms: r.get(4)?,
    })
}

const COLUMNS: &str = "owner, kek_id, wrapped, customer_ref, created_ms";

pub(crate) fn get(
    connection: &Connection,
    owner: &str,
) -> Result<Option<StoredDataKey>, StoreError> {
    Ok(connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM data_keys WHERE owner = ?1"))?
        .query_row([owner], from_row)
        .optional()?)
}

pub(crate) fn owners_of_customer(
    connection: &Connection,
    customer_ref: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = connection.prepare_cached(
        "SELECT owner FROM data_keys WHERE customer_ref = ?1 ORDER BY created_ms",
    )?;
    let rows = stmt.query_map([customer_ref], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many data keys each KEK wraps.
pub(crate) fn count_by_kek(connection: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = connection
        .prepare_cached("SELECT kek_id, COUNT(*) FROM data_keys GROUP BY kek_id ORDER BY kek_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replace every key not wrapped by `current_kek` with `rewrap(key)`, all in one
/// transaction: either every key moves to the new KEK or none does.
pub(crate) fn rewrap_all(
    connection: &mut Connection,
    current_kek: &str,
    rewrap: &dyn Fn(&StoredDataKey) -> Result<StoredDataKey, String>,
) -> Result<u64, StoreError> {
    let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let old: Vec<StoredDataKey> = {
        let mut stmt = tx.prepare(&format!(
            "SELECT {COLUMNS} FROM data_keys WHERE kek_id != ?1"
        ))?;
        let rows = stmt.query_map([current_kek], from_row)?;
        rows.collect::<Result<_, _>>()?
    };
    {
        let mut update =
            tx.prepare("UPDATE data_keys SET kek_id = ?2, wrapped = ?3 WHERE owner = ?1")?;
        for key in &old {
            let new = rewrap(key).map_err(|e| {
                StoreError::Corrupt(format!(
                    "data key of {}: {e}; nothing was re-wrapped",
                    key.owner
                ))
            })?;
            update.execute(params![key.owner, new.kek_id, new.wrapped])?;
        }
    }
    tx.commit()?;
    Ok(old.len() as u64)
}

/// Destroy the keys of `owners` for good; returns how many existed.
pub(crate) fn destroy(connection: &Connection, owners: &[String]) -> Result<u64, StoreError> {
    connection.pragma_update(None, "secure_delete", "ON")?;
    let mut destroyed = 0;
    {
        let tx = connection.unchecked_transaction()?;
        {
            let mut delete = tx.prepare("DELETE FROM data_keys WHERE owner = ?1")?;
            for owner in owners {
                destroyed += delete.execute([owner])? as u64;
            }
        }
        tx.commit()?;
    }
    // Push the change into the main file and empty the log, retrying while a reader
    // holds an old snapshot.
    for _ in 0..50 {
        let busy: i64 =
            connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(destroyed)
}
