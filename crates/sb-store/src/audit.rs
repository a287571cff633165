//! The audit trail's storage: records hash-chained in the order the event log commits
//! them, and signed digests of the chain.
//!
//! The event-log writer is the only appender, so it alone numbers records (1, 2, 3, …
//! with no gaps) and links each to the one before: `hash = SHA-256(prev_hash ‖ record)`.
//! Editing, deleting or reordering a stored record breaks the chain; forging a new
//! chain from some point on is caught by the signed digests, whose key is kept outside
//! the data directory.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

/// Events on this stream are audit records (JSON), chained by the writer.
pub const AUDIT_STREAM: &str = "audit";

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    seq       INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    record    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_digests (
    audit_seq  INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    chain_hash TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
";

/// The link from one record to the next.
pub fn chain_hash(prev_hash: &str, record: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(record.as_bytes());
    hex::encode(h.finalize())
}

/// One stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: u64,
    pub at_ms: i64,
    pub record: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A signed statement that the chain's record `audit_seq` had hash `chain_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDigest {
    pub audit_seq: u64,
    pub at_ms: i64,
    pub chain_hash: String,
    pub key_id: String,
    /// Hex Ed25519 signature over [`AuditDigest::signed_bytes`].
    pub signature: String,
}

impl AuditDigest {
    /// What the signature covers.
    pub fn signed_bytes(audit_seq: u64, at_ms: i64, chain_hash: &str) -> Vec<u8> {
        format!("switchboard-audit-digest\n{audit_seq}\n{at_ms}\n{chain_hash}").into_bytes()
    }
}

/// The chain's end as the writer continues it.
pub(crate) struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

pub(crate) fn head(conn: &Connection) -> rusqlite::Result<ChainHead> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match last {
        Some((seq, hash)) => ChainHead {
            seq: seq as u64,
            hash,
        },
        None => ChainHead {
            seq: 0,
            hash: GENESIS.into(),
        },
    })
}

/// Append one record to the chain inside the writer's transaction.
pub(crate) fn append(
    tx: &Transaction<'_>,
    head: &mut ChainHead,
    at_ms: i64,
    record: &str,
) -> rusqlite::Result<()> {
    let hash = chain_hash(&head.hash, record);
    let seq = head.seq + 1;
    tx.prepare_cached(
        "INSERT INTO audit_log (seq, at_ms, record, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![seq as i64, at_ms, record, head.hash, hash])?;
    head.seq = seq;
    head.hash = hash;
    Ok(())
}

pub(crate) fn read_rows(conn: &Connection, from: u64, to: u64) -> rusqlite::Result<Vec<AuditRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at_ms, record, prev_hash, hash FROM audit_log WHERE seq >= ?1 AND seq <= ?2 ORDER BY rowid",
    )?;
    let rows = stmt.query_map(params![from as i64, to as i64], |r| {
        Ok(AuditRow {
            seq: r.get::<_, i64>(0)? as u64,
            at_ms: r.get(1)?,
            record: r.get(2)?,
            prev_hash: r.get(3)?,
            hash: r.get(4)?,
        })
    })?;
    rows.collect()
}

pub(crate) fn read_digests(conn: &Connection) -> rusqlite::Result<Vec<AuditDigest>> {
    let mut stmt = conn.prepare_cached(
        "SELECT audit_seq, at_ms, chain_hash, key_id, signature FROM audit_digests ORDER BY audit_seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AuditDigest {
            audit_seq: r.get::<_, i64>(0)? as u64,
            at_ms: r.get(1)?,
            chain_hash: r.get(2)?,
            key_id: r.get(3)?,
            signature: r.get(4)?,
        })
    })?;
    rows.collect()
}

pub(crate) fn insert_digest(conn: &Connection, d: &AuditDigest) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO audit_digests (audit_seq, at_ms, chain_hash, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![d.audit_seq as i64, d.at_ms, d.chain_hash, d.key_id, d.signature],
    )?;
    Ok(())
}
