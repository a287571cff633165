//! The embedded backend: one SQLite file in WAL mode inside the data directory. This
//! file opens it (schema, file modes, connections); each role of the store is in its
//! own file (`config`, `records`, `streams`, `audit`, `credentials`, `keys`), the small
//! ones (analysts' SQL, live state, backups) here.

mod audit;
mod config;
mod credentials;
mod keys;
mod records;
mod streams;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::streams::{BeforeRetention, PublicStream, StreamPage};
use crate::{
    AnalystSql, BackupStore, ConfigVersion, LiveStateStore, NewVersion, RecordFilter, RecordPage,
    RecordPlace, StoreError, StoredCredential, VersionSummary,
};
use crate::{AuditStore, ConfigStore, CredentialStore, KeyStore, RecordStore, StreamStore};

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

impl LiveStateStore for SqliteStore {
    fn live_contacts(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(crate::live_log::newest_states(&self.conn())?)
    }

    fn agent_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(crate::agent_states::read_all(&self.conn())?)
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
