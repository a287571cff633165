//! The embedded backend: one SQLite file in WAL mode inside the data directory.

use crate::AnalystSql;
use crate::AuditStore;
use crate::BackupStore;
use crate::ConfigStore;
use crate::CredentialStore;
use crate::KeyStore;
use crate::LiveStateStore;
use crate::RecordStore;
use crate::StreamStore;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::streams::{BeforeRetention, PublicStream, StreamPage};
use crate::{
    ConfigVersion, NewVersion, RecordFilter, RecordPage, RecordPlace, StoreError, StoredCredential,
    VersionSummary,
};

/// Bumped whenever the schema changes; a data directory from a newer build is refused
/// rather than misread.
pub const SCHEMA_VERSION: i64 = 4;
pub const DATABASE_FILE: &str = "switchboard.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS config_versions (
    version        INTEGER PRIMARY KEY,
    created_at     TEXT NOT NULL,
    actor          TEXT NOT NULL,
    summary        TEXT NOT NULL,
    rollback_of    INTEGER,
    content_sha256 TEXT NOT NULL,
    bundle_json    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    stream  TEXT NOT NULL,
    key     TEXT NOT NULL,
    kind    TEXT NOT NULL,
    payload TEXT NOT NULL
);
DROP INDEX IF EXISTS events_by_key;
CREATE INDEX IF NOT EXISTS flow_log_by_key ON events (key) WHERE stream = 'flow-log';
CREATE INDEX IF NOT EXISTS chat_by_key ON events (key) WHERE stream = 'chat';
CREATE INDEX IF NOT EXISTS contact_events_by_seq ON events (seq) WHERE stream = 'contact';
CREATE INDEX IF NOT EXISTS agent_events_by_seq ON events (seq) WHERE stream = 'agent';
CREATE INDEX IF NOT EXISTS records_by_seq ON events (seq) WHERE stream = 'record';
CREATE INDEX IF NOT EXISTS flow_logs_by_seq ON events (seq) WHERE stream = 'flow-log';
CREATE TABLE IF NOT EXISTS stream_floors (
    stream TEXT PRIMARY KEY,
    floor  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stream_checkpoints (
    consumer   TEXT NOT NULL,
    stream     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    owner      TEXT,
    PRIMARY KEY (consumer, stream)
);
CREATE TABLE IF NOT EXISTS user_logins (
    user  TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_records (
    contact_id    TEXT PRIMARY KEY,
    channel       TEXT NOT NULL,
    queue         TEXT,
    agent         TEXT,
    initiation_ms INTEGER NOT NULL,
    disconnect_ms INTEGER,
    record        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contact_records_disconnect ON contact_records (disconnect_ms);
-- Searches page in (initiation_ms, contact_id) order; this index serves both the range
-- and the order (it replaced one on initiation_ms alone).
DROP INDEX IF EXISTS contact_records_initiation;
CREATE INDEX IF NOT EXISTS contact_records_initiation_id ON contact_records (initiation_ms, contact_id);
CREATE TABLE IF NOT EXISTS credentials (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    principal     TEXT NOT NULL,
    role          TEXT NOT NULL,
    description   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
";

pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// For the point lookups every API call makes (a credential, a user's sign-in
    /// state): on a connection of their own, no page read or report waits in front of
    /// them, so callers can make them inline instead of handing them to a thread.
    lookups: Mutex<Connection>,
}

impl SqliteStore {
    /// Open (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        check_writable(data_dir)?;
        let path = data_dir.join(DATABASE_FILE);
        // Made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
        // database file's mode.
        create_private_file(&path).map_err(|source| StoreError::DataDir {
            path: path.clone(),
            source,
        })?;
        let connection = Connection::open(&path)?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Copying the log back is the checkpointer's (crate::checkpointer); this
        // connection's rare writes must not stall on it.
        connection.pragma_update(
            None,
            "wal_autocheckpoint",
            crate::checkpointer::PAGES_BEFORE_THE_WRITER_COPIES,
        )?;
        let found: i64 = connection.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        connection.execute_batch(SCHEMA)?;
        connection.execute_batch(crate::intervals::SCHEMA)?;
        connection.execute_batch(crate::query::VIEWS)?;
        connection.execute_batch(crate::audit::SCHEMA)?;
        connection.execute_batch(crate::data_keys::SCHEMA)?;
        connection.execute_batch(crate::live_log::SCHEMA)?;
        connection.execute_batch(crate::agent_states::SCHEMA)?;
        crate::live_log::migrate(&connection)?;
        add_checkpoint_owner(&connection)?;
        connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        let lookups = Connection::open(&path)?;
        lookups.busy_timeout(std::time::Duration::from_secs(10))?;
        lookups.pragma_update(None, "query_only", true)?;
        Ok(Self {
            path,
            connection: Mutex::new(connection),
            lookups: Mutex::new(lookups),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions
        // roll back on drop), so a poisoned lock is still safe to use.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup_conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.lookups.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates `dir` (and its parents) readable by its owner only, whatever the umask;
/// an existing directory keeps its mode (the server warns when it is wider).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `file` empty with mode 0600 unless it exists.
fn create_private_file(file: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The paths in `data_dir` that users other than its owner can read or enter: the
/// directory itself and the database files, with their modes.
pub fn readable_by_others(data_dir: &Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut wide = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let files = [
            "",
            DATABASE_FILE,
            "switchboard.db-wal",
            "switchboard.db-shm",
        ];
        for name in files {
            let path = if name.is_empty() {
                data_dir.to_path_buf()
            } else {
                data_dir.join(name)
            };
            if let Ok(meta) = std::fs::metadata(&path) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    wide.push((path, mode));
                }
            }
        }
    }
    wide
}

/// Checkpoints made before they had owners gain the column; the first principal to
/// save such a checkpoint again becomes its owner.
fn add_checkpoint_owner(connection: &Connection) -> rusqlite::Result<()> {
    let has_owner: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('stream_checkpoints') WHERE name = 'owner')",
        [],
        |r| r.get(0),
    )?;
    if !has_owner {
        connection.execute_batch("ALTER TABLE stream_checkpoints ADD COLUMN owner TEXT")?;
    }
    Ok(())
}

fn check_writable(dir: &Path) -> Result<(), StoreError> {
    // Unique per opener: two processes (or threads) opening at once must not remove
    // each other's probe.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!(".write-probe-{}-{n}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| StoreError::NotWritable {
            path: dir.to_path_buf(),
            source,
        })
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn summary_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionSummary> {
    Ok(VersionSummary {
        version: row.get::<_, i64>(0)? as u64,
        created_at: row.get(1)?,
        actor: row.get(2)?,
        summary: row.get(3)?,
        rollback_of: row.get::<_, Option<i64>>(4)?.map(|v| v as u64),
        content_sha256: row.get(5)?,
    })
}

const SUMMARY_COLUMNS: &str = "version, created_at, actor, summary, rollback_of, content_sha256";

impl ConfigStore for SqliteStore {
    fn latest_version(&self) -> Result<Option<ConfigVersion>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, bundle_json FROM config_versions ORDER BY version DESC LIMIT 1"
        );
        Ok(conn
            .query_row(&sql, [], |row| {
                Ok(ConfigVersion {
                    summary: summary_from_row(row)?,
                    bundle_json: row.get(6)?,
                })
            })
            .optional()?)
    }

    fn latest_version_number(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COALESCE(MAX(version), 0) FROM config_versions",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn version(&self, number: u64) -> Result<Option<ConfigVersion>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, bundle_json FROM config_versions WHERE version = ?1"
        );
        Ok(conn
            .query_row(&sql, [number as i64], |row| {
                Ok(ConfigVersion {
                    summary: summary_from_row(row)?,
                    bundle_json: row.get(6)?,
                })
            })
            .optional()?)
    }

    fn versions(&self) -> Result<Vec<VersionSummary>, StoreError> {
        let conn = self.conn();
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM config_versions ORDER BY version");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], summary_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn append_version(
        &self,
        new: NewVersion,
        expect_latest: Option<u64>,
    ) -> Result<VersionSummary, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading the latest number, so two
        // appliers (a CLI and a server on the same data directory) cannot both win.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let latest: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM config_versions",
            [],
            |r| r.get(0),
        )?;
        let latest = latest as u64;
        if let Some(expected) = expect_latest {
            if expected != latest {
                return Err(StoreError::Conflict {
                    expected,
                    actual: latest,
                });
            }
        }
        let summary = VersionSummary {
            version: latest + 1,
            created_at: now(),
            actor: new.actor,
            summary: new.summary,
            rollback_of: new.rollback_of,
            content_sha256: hex::encode(Sha256::digest(new.bundle_json.as_bytes())),
        };
        tx.execute(
            "INSERT INTO config_versions (version, created_at, actor, summary, rollback_of, content_sha256, bundle_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                summary.version as i64,
                summary.created_at,
                summary.actor,
                summary.summary,
                summary.rollback_of.map(|v| v as i64),
                summary.content_sha256,
                new.bundle_json
            ],
        )?;
        tx.commit()?;
        Ok(summary)
    }
}

impl RecordStore for SqliteStore {
    fn contact_record(&self, contact_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT record FROM contact_records WHERE contact_id = ?1",
                [contact_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn search_records(&self, filter: &RecordFilter) -> Result<RecordPage, StoreError> {
        let conn = self.conn();
        // In (initiation_ms, contact_id) order along its index, so a page after a place
        // starts where the one before ended; one row more than asked says whether there
        // is a next page.
        let mut stmt = conn.prepare_cached(
            "SELECT initiation_ms, contact_id, record FROM contact_records
             WHERE initiation_ms >= ?1 AND initiation_ms < ?2
               AND (?3 IS NULL OR queue = ?3)
               AND (?4 IS NULL OR agent = ?4)
               AND (?5 IS NULL OR channel = ?5)
               AND (?6 IS NULL OR json_extract(record, '$.Attributes.' || json_quote(?6)) = ?7)
               AND (?9 IS NULL OR (initiation_ms, contact_id) > (?9, ?10))
             ORDER BY initiation_ms, contact_id LIMIT ?8",
        )?;
        let rows = stmt.query_map(
            params![
                filter.from_ms,
                filter.to_ms,
                filter.queue,
                filter.agent,
                filter.channel,
                filter.attribute.as_ref().map(|(k, _)| k.clone()),
                filter.attribute.as_ref().map(|(_, v)| v.clone()),
                filter.limit as i64 + 1,
                filter.after.as_ref().map(|a| a.initiation_ms),
                filter.after.as_ref().map(|a| a.contact_id.clone()),
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?;
        let mut rows: Vec<(i64, String, String)> = rows.collect::<Result<_, _>>()?;
        let more = rows.len() > filter.limit;
        rows.truncate(filter.limit);
        let next = rows
            .last()
            .filter(|_| more)
            .map(|(initiation_ms, contact_id, _)| RecordPlace {
                initiation_ms: *initiation_ms,
                contact_id: contact_id.clone(),
            });
        Ok(RecordPage {
            records: rows.into_iter().map(|(_, _, record)| record).collect(),
            next,
        })
    }

    fn events_for(
        &self,
        stream: &str,
        key: &str,
        limit: usize,
    ) -> Result<Vec<crate::EventRecord>, StoreError> {
        // The stream is written into the statement (from this fixed list only) so that
        // SQLite can use the partial index kept for it.
        let sql = match stream {
            "flow-log" => "SELECT seq, at_ms, stream, key, kind, payload FROM events WHERE key = ?1 AND stream = 'flow-log' ORDER BY seq LIMIT ?2",
            "chat" => "SELECT seq, at_ms, stream, key, kind, payload FROM events WHERE key = ?1 AND stream = 'chat' ORDER BY seq LIMIT ?2",
            other => return Err(StoreError::Corrupt(format!("no per-key index for stream '{other}'"))),
        };
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![key, limit as i64], crate::event_log::event_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn interval_rows(
        &self,
        from_ms: i64,
        to_ms: i64,
        agent_level: bool,
    ) -> Result<Vec<crate::intervals::IntervalRow>, StoreError> {
        Ok(crate::intervals::read_rows(
            &self.conn(),
            from_ms,
            to_ms,
            agent_level,
        )?)
    }
}

impl StreamStore for SqliteStore {
    fn read_stream(
        &self,
        stream: PublicStream,
        after: u64,
        limit: usize,
    ) -> Result<StreamPage, StoreError> {
        let conn = self.conn();
        let floor = stream_floor(&conn, stream)?;
        if after < floor {
            return Err(BeforeRetention {
                stream,
                after,
                floor,
            }
            .into());
        }
        let mut stmt = conn.prepare_cached(stream.page_sql())?;
        let rows = stmt.query_map(
            params![after as i64, limit as i64],
            crate::event_log::event_from_row,
        )?;
        Ok(StreamPage {
            events: rows.collect::<Result<_, _>>()?,
            floor,
        })
    }

    fn trim_stream(&self, stream: PublicStream, before_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let newest_trimmed: Option<i64> = tx.query_row(
            "SELECT MAX(seq) FROM events WHERE stream = ?1 AND at_ms < ?2",
            params![stream.internal(), before_ms],
            |r| r.get(0),
        )?;
        let Some(newest_trimmed) = newest_trimmed else {
            return Ok(0);
        };
        // By position, not time, so that the stream stays a contiguous suffix even if
        // clocks stepped back.
        let deleted = tx.execute(
            "DELETE FROM events WHERE stream = ?1 AND seq <= ?2",
            params![stream.internal(), newest_trimmed],
        )?;
        tx.execute(
            "INSERT INTO stream_floors (stream, floor) VALUES (?1, ?2)
             ON CONFLICT (stream) DO UPDATE SET floor = MAX(floor, ?2)",
            params![stream.internal(), newest_trimmed],
        )?;
        tx.commit()?;
        Ok(deleted as u64)
    }

    fn save_checkpoint(
        &self,
        consumer: &str,
        stream: PublicStream,
        seq: u64,
        by: crate::CheckpointWriter<'_>,
    ) -> Result<crate::CheckpointSaved, StoreError> {
        let conn = self.conn();
        let (owner, anyone) = match by {
            crate::CheckpointWriter::Owner(owner) => (owner, false),
            crate::CheckpointWriter::Administrator(name) => (name, true),
        };
        let changed = conn.execute(
            "INSERT INTO stream_checkpoints (consumer, stream, seq, updated_at, owner) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (consumer, stream) DO UPDATE SET seq = ?3, updated_at = ?4,
                 owner = COALESCE(owner, ?5)
             WHERE ?6 OR owner IS NULL OR owner = ?5",
            params![consumer, stream.name(), seq as i64, now(), owner, anyone],
        )?;
        if changed > 0 {
            return Ok(crate::CheckpointSaved::Saved);
        }
        let owner: String = conn.query_row(
            "SELECT owner FROM stream_checkpoints WHERE consumer = ?1 AND stream = ?2",
            params![consumer, stream.name()],
            |r| r.get(0),
        )?;
        Ok(crate::CheckpointSaved::OwnedBy(owner))
    }

    fn checkpoint(&self, consumer: &str, stream: PublicStream) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = self
            .conn()
            .query_row(
                "SELECT seq FROM stream_checkpoints WHERE consumer = ?1 AND stream = ?2",
                params![consumer, stream.name()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(seq.map(|s| s as u64))
    }
}

impl AnalystSql for SqliteStore {
    fn query(
        &self,
        sql: &str,
        sensitive: &[String],
        max_rows: usize,
        time_limit: std::time::Duration,
    ) -> Result<crate::query::QueryResult, crate::query::QueryError> {
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        crate::query::run(dir, sql, sensitive, max_rows, time_limit)
    }
}

impl AuditStore for SqliteStore {
    fn audit_rows(&self, from: u64, to: u64) -> Result<Vec<crate::audit::AuditRow>, StoreError> {
        Ok(crate::audit::read_rows(&self.conn(), from, to)?)
    }

    fn audit_digests(&self) -> Result<Vec<crate::audit::AuditDigest>, StoreError> {
        Ok(crate::audit::read_digests(&self.conn())?)
    }

    fn audit_head(&self) -> Result<(u64, String), StoreError> {
        let head = crate::audit::head(&self.conn())?;
        Ok((head.seq, head.hash))
    }

    fn audit_floor(&self) -> Result<(u64, String), StoreError> {
        Ok(crate::audit::floor(&self.conn())?)
    }

    fn audit_first_online(&self) -> Result<u64, StoreError> {
        Ok(crate::audit::first_online(&self.conn())?)
    }

    fn age_audit(
        &self,
        online_before_ms: i64,
        remove_before_ms: i64,
        vouch: &dyn Fn(u64, &str) -> crate::audit::AuditDigest,
    ) -> Result<crate::audit::AuditAging, StoreError> {
        Ok(crate::audit::age(
            &mut self.conn(),
            online_before_ms,
            remove_before_ms,
            vouch,
        )?)
    }

    fn insert_audit_digest(&self, digest: &crate::audit::AuditDigest) -> Result<(), StoreError> {
        Ok(crate::audit::insert_digest(&self.conn(), digest)?)
    }
}

impl LiveStateStore for SqliteStore {
    fn live_contacts(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(crate::live_log::newest_states(&self.conn())?)
    }

    fn agent_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(crate::agent_states::read_all(&self.conn())?)
    }
}

impl CredentialStore for SqliteStore {
    fn insert_credential(&self, c: &StoredCredential) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO credentials (id, secret_sha256, principal, role, description, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.id,
                c.secret_sha256,
                c.principal,
                c.role,
                c.description,
                c.created_at
            ],
        )?;
        Ok(())
    }

    fn credential(&self, id: &str) -> Result<Option<StoredCredential>, StoreError> {
        Ok(self
            .lookup_conn()
            .prepare_cached(
                "SELECT id, secret_sha256, principal, role, description, created_at FROM credentials WHERE id = ?1",
            )?
            .query_row(
                [id],
                |r| {
                    Ok(StoredCredential {
                        id: r.get(0)?,
                        secret_sha256: r.get(1)?,
                        principal: r.get(2)?,
                        role: r.get(3)?,
                        description: r.get(4)?,
                        created_at: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn user_login(&self, user: &str) -> Result<Option<crate::UserLogin>, StoreError> {
        let state: Option<String> = self
            .lookup_conn()
            .prepare_cached("SELECT state FROM user_logins WHERE user = ?1")?
            .query_row([user], |r| r.get(0))
            .optional()?;
        state
            .map(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| StoreError::Corrupt(format!("sign-in state of {user}: {e}")))
            })
            .transpose()
    }

    fn save_user_login(&self, login: &crate::UserLogin) -> Result<(), StoreError> {
        let state = serde_json::to_string(login).expect("sign-in state serialises");
        self.conn().execute(
            "INSERT INTO user_logins (user, state) VALUES (?1, ?2)
             ON CONFLICT (user) DO UPDATE SET state = ?2",
            params![login.user, state],
        )?;
        Ok(())
    }

    fn update_user_login(
        &self,
        user: &str,
        change: &mut dyn FnMut(&mut crate::UserLogin),
    ) -> Result<Option<crate::UserLogin>, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading, so another process's update
        // waits for this one instead of reading what this one is about to replace.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let state: Option<String> = tx
            .prepare_cached("SELECT state FROM user_logins WHERE user = ?1")?
            .query_row([user], |r| r.get(0))
            .optional()?;
        let Some(state) = state else {
            return Ok(None);
        };
        let mut login: crate::UserLogin = serde_json::from_str(&state)
            .map_err(|e| StoreError::Corrupt(format!("sign-in state of {user}: {e}")))?;
        change(&mut login);
        let state = serde_json::to_string(&login).expect("sign-in state serialises");
        tx.execute(
            "UPDATE user_logins SET state = ?2 WHERE user = ?1",
            params![user, state],
        )?;
        tx.commit()?;
        Ok(Some(login))
    }

    fn delete_credential(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM credentials WHERE id = ?1", [id])?
            > 0)
    }

    fn credential_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM credentials", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}

impl KeyStore for SqliteStore {
    fn data_key(&self, owner: &str) -> Result<Option<crate::StoredDataKey>, StoreError> {
        crate::data_keys::get(&self.conn(), owner)
    }

    fn insert_data_key(&self, key: &crate::StoredDataKey) -> Result<(), StoreError> {
        Ok(crate::data_keys::insert(&self.conn(), key)?)
    }

    fn data_key_owners_of_customer(&self, customer_ref: &str) -> Result<Vec<String>, StoreError> {
        crate::data_keys::owners_of_customer(&self.conn(), customer_ref)
    }

    fn data_keys_by_kek(&self) -> Result<Vec<(String, u64)>, StoreError> {
        crate::data_keys::count_by_kek(&self.conn())
    }

    fn rewrap_data_keys(
        &self,
        current_kek: &str,
        rewrap: &dyn Fn(&crate::StoredDataKey) -> Result<crate::StoredDataKey, String>,
    ) -> Result<u64, StoreError> {
        crate::data_keys::rewrap_all(&mut self.conn(), current_kek, rewrap)
    }

    fn erase_flow_logs(&self, contacts: &[String]) -> Result<u64, StoreError> {
        let conn = self.conn();
        conn.pragma_update(None, "secure_delete", "ON")?;
        let tx = conn.unchecked_transaction()?;
        let mut erased = 0;
        {
            let mut delete =
                tx.prepare("DELETE FROM events WHERE stream = 'flow-log' AND key = ?1")?;
            for contact in contacts {
                erased += delete.execute([contact])? as u64;
            }
        }
        tx.commit()?;
        Ok(erased)
    }

    fn destroy_data_keys(&self, owners: &[String]) -> Result<u64, StoreError> {
        crate::data_keys::destroy(&self.conn(), owners)
    }
}

impl BackupStore for SqliteStore {
    fn backup_to(&self, to: &Path) -> Result<(), StoreError> {
        if to.exists() {
            return Err(StoreError::BackupExists(to.to_path_buf()));
        }
        let conn = self.conn();
        // A backup holds what the database holds: readable by its owner only.
        create_private_file(to).map_err(|source| StoreError::DataDir {
            path: to.to_path_buf(),
            source,
        })?;
        let mut target = Connection::open(to)?;
        {
            let backup = rusqlite::backup::Backup::new(&conn, &mut target)?;
            backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
        }
        // A self-contained file: no write-ahead log beside it.
        target.pragma_update(None, "journal_mode", "DELETE")?;
        Ok(())
    }
}

fn stream_floor(conn: &Connection, stream: PublicStream) -> Result<u64, StoreError> {
    let floor: Option<i64> = conn
        .query_row(
            "SELECT floor FROM stream_floors WHERE stream = ?1",
            params![stream.internal()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(floor.unwrap_or(0) as u64)
}
