//! The audit trail's storage: records hash-chained in the order the event log commits
//! them, and signed digests of the chain.
//!
//! The event-log writer is the only appender, so it alone numbers records (1, 2, 3, …
//! with no gaps) and links each to the one before with a hash of every field of the row
//! ([`row_hash`]: its position, its time, the hash before it and the record).
//! Editing, deleting or reordering a stored record breaks the chain; forging a new
//! chain from some point on is caught by the signed digests, whose key is kept outside
//! the data directory. Retention removes the oldest records only behind a signed digest
//! of the last one removed (the floor), so a deleted prefix cannot pass for retention.

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
CREATE TABLE IF NOT EXISTS audit_archive (
    seq       INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    record    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_floor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_digests (
    audit_seq  INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    chain_hash TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
";

/// The hash of a row: SHA-256 over `switchboard-audit-v2`, the position, the time in
/// milliseconds, the previous row's hash and the record, each followed by a newline
/// but the last (hex).
pub fn row_hash(seq: u64, at_ms: i64, prev_hash: &str, record: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("switchboard-audit-v2\n{seq}\n{at_ms}\n{prev_hash}\n").as_bytes());
    h.update(record.as_bytes());
    hex::encode(h.finalize())
}

/// How rows were hashed before [`row_hash`]: SHA-256(prev_hash ‖ "\n" ‖ record), the
/// position and time left out. Trails written then still verify; a row hashed this way
/// after one hashed the new way cannot be genuine.
pub fn legacy_chain_hash(prev_hash: &str, record: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(record.as_bytes());
    hex::encode(h.finalize())
}

/// Which way a row's stored hash was made, if it matches the row at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowHash {
    Current,
    Legacy,
    Mismatch,
}

impl AuditRow {
    pub fn hashed(&self) -> RowHash {
        if row_hash(self.seq, self.at_ms, &self.prev_hash, &self.record) == self.hash {
            RowHash::Current
        } else if legacy_chain_hash(&self.prev_hash, &self.record) == self.hash {
            RowHash::Legacy
        } else {
            RowHash::Mismatch
        }
    }
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

/// The chain's end: the newest record online, else archived, else the floor left by
/// retention, else the genesis.
pub(crate) fn head(conn: &Connection) -> rusqlite::Result<ChainHead> {
    let last: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM (
                 SELECT seq, hash FROM audit_log
                 UNION ALL SELECT seq, hash FROM audit_archive
                 UNION ALL SELECT seq, hash FROM audit_floor
             ) ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
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

/// Where the kept chain starts: the position and hash of the last record retention
/// removed (0 and [`GENESIS`] when none was).
pub(crate) fn floor(conn: &Connection) -> rusqlite::Result<(u64, String)> {
    Ok(conn
        .query_row("SELECT seq, hash FROM audit_floor WHERE id = 1", [], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })
        .optional()?
        .unwrap_or((0, GENESIS.into())))
}

/// The first position still online (readable at once), or the next to be written.
pub(crate) fn first_online(conn: &Connection) -> rusqlite::Result<u64> {
    let first: Option<i64> = conn.query_row("SELECT MIN(seq) FROM audit_log", [], |r| r.get(0))?;
    match first {
        Some(seq) => Ok(seq as u64),
        None => Ok(head(conn)?.seq + 1),
    }
}

/// What one pass of audit retention did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditAging {
    /// Records moved from the online table to the archive.
    pub archived: u64,
    /// Records removed for good (past retention).
    pub removed: u64,
}

/// Move records older than `online_before_ms` to the archive, and remove archived
/// records older than `remove_before_ms`, remembering the last removed one's position
/// and hash so the rest still verifies, with `vouch`'s signed digest of it. Only an
/// intact prefix is removed: a row whose hash or link does not hold stays, as the
/// evidence `verify` reports. One transaction.
pub(crate) fn age(
    conn: &mut Connection,
    online_before_ms: i64,
    remove_before_ms: i64,
    vouch: &dyn Fn(u64, &str) -> AuditDigest,
) -> rusqlite::Result<AuditAging> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // A prefix of the chain only, so the archive and the online table never interleave.
    let archive_to: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE seq < COALESCE(
             (SELECT MIN(seq) FROM audit_log WHERE at_ms >= ?1), 9223372036854775807)",
        [online_before_ms],
        |r| r.get(0),
    )?;
    let archived = tx.execute(
        "INSERT INTO audit_archive SELECT * FROM audit_log WHERE seq <= ?1",
        [archive_to],
    )?;
    tx.execute("DELETE FROM audit_log WHERE seq <= ?1", [archive_to])?;
    let remove_to: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_archive WHERE seq < COALESCE(
                 (SELECT MIN(seq) FROM audit_archive WHERE at_ms >= ?1), 9223372036854775807)
             ORDER BY seq DESC LIMIT 1",
            [remove_before_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let mut removed = 0;
    let remove_to = match remove_to {
        Some((last, _)) => intact_prefix_end(&tx, last)?,
        None => None,
    };
    if let Some((seq, hash)) = remove_to {
        removed = tx.execute("DELETE FROM audit_archive WHERE seq <= ?1", [seq as i64])?;
        tx.execute(
            "INSERT INTO audit_floor (id, seq, hash) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2",
            params![seq as i64, hash],
        )?;
        tx.execute(
            "DELETE FROM audit_digests WHERE audit_seq <= ?1",
            [seq as i64],
        )?;
        insert_digest(&tx, &vouch(seq, &hash))?;
    }
    tx.commit()?;
    Ok(AuditAging {
        archived: archived as u64,
        removed: removed as u64,
    })
}

/// The last position up to `last` to which the archived chain is intact from the floor
/// (every row linked and hashing to what it says), with its hash.
fn intact_prefix_end(tx: &Transaction<'_>, last: i64) -> rusqlite::Result<Option<(u64, String)>> {
    let (floor_seq, mut prev) = floor(tx)?;
    let mut expected = floor_seq + 1;
    let mut end = None;
    let mut stmt = tx.prepare_cached(
        "SELECT seq, at_ms, record, prev_hash, hash FROM audit_archive WHERE seq <= ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([last], row_of)?;
    for row in rows {
        let row = row?;
        if row.seq != expected || row.prev_hash != prev || row.hashed() == RowHash::Mismatch {
            break;
        }
        expected = row.seq + 1;
        prev = row.hash.clone();
        end = Some((row.seq, row.hash));
    }
    Ok(end)
}

/// Append one record to the chain inside the writer's transaction.
pub(crate) fn append(
    tx: &Transaction<'_>,
    head: &mut ChainHead,
    at_ms: i64,
    record: &str,
) -> rusqlite::Result<()> {
    let seq = head.seq + 1;
    let hash = row_hash(seq, at_ms, &head.hash, record);
    tx.prepare_cached(
        "INSERT INTO audit_log (seq, at_ms, record, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![seq as i64, at_ms, record, head.hash, hash])?;
    head.seq = seq;
    head.hash = hash;
    Ok(())
}

/// A row selected as `seq, at_ms, record, prev_hash, hash`.
fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        seq: r.get::<_, i64>(0)? as u64,
        at_ms: r.get(1)?,
        record: r.get(2)?,
        prev_hash: r.get(3)?,
        hash: r.get(4)?,
    })
}

pub(crate) fn read_rows(conn: &Connection, from: u64, to: u64) -> rusqlite::Result<Vec<AuditRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at_ms, record, prev_hash, hash FROM audit_archive WHERE seq >= ?1 AND seq <= ?2
         UNION ALL
         SELECT seq, at_ms, record, prev_hash, hash FROM audit_log WHERE seq >= ?1 AND seq <= ?2
         ORDER BY 1",
    )?;
    let rows = stmt.query_map(params![from as i64, to as i64], row_of)?;
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
