//! Durable state behind one seam: the [`Store`] trait, and its embedded SQLite backend.
//!
//! Architecture invariant: callers never see SQL or a connection. A future PostgreSQL
//! backend implements the same trait and runs the same conformance suite
//! (`tests/store.rs`).

mod agent_states;
pub mod audit;
mod checkpointer;
mod data_keys;
mod error;
mod event_log;
pub mod intervals;
mod live_log;
pub mod query;
mod sqlite;
mod streams;
mod types;

pub use agent_states::AGENT_STATE_STREAM;
pub use data_keys::{StoredDataKey, DATA_KEY_STREAM};
pub use error::StoreError;
pub use event_log::{
    events_after, Committing, EventLog, EventLogBackend, EventLogWriter, EventRecord, NewEvent,
    SqliteEventLog, AGENT_EVENT_STREAM, AGENT_TIME_STREAM, BATCH_EVENTS_METRIC, CHAT_STREAM,
    COMMIT_SECONDS_METRIC, CONTACT_EVENT_STREAM, FLOW_LOG_STREAM, LIVE_STREAM, RECORD_STREAM,
};
/// Who saves a checkpoint: its owner (the first to save it), or an administrator, who
/// may move anyone's.
#[derive(Debug, Clone, Copy)]
pub enum CheckpointWriter<'a> {
    Owner(&'a str),
    Administrator(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointSaved {
    Saved,
    /// Not saved: the checkpoint belongs to this principal.
    OwnedBy(String),
}

pub use sqlite::{readable_by_others, SqliteStore, DATABASE_FILE, SCHEMA_VERSION};
pub use streams::{BeforeRetention, PublicStream, StreamPage};
pub use types::{
    ConfigVersion, NewVersion, RecordCursor, RecordFilter, RecordPage, RecordPlace,
    StoredCredential, UserLogin, VersionSummary,
};

/// Everything the rest of Switchboard keeps durably. Implementations are synchronous;
/// async callers run them on a blocking thread.
pub trait Store:
    ConfigStore
    + RecordStore
    + StreamStore
    + AnalystSql
    + AuditStore
    + LiveStateStore
    + CredentialStore
    + KeyStore
    + BackupStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: ConfigStore
        + RecordStore
        + StreamStore
        + AnalystSql
        + AuditStore
        + LiveStateStore
        + CredentialStore
        + KeyStore
        + BackupStore
        + Send
        + Sync
        + 'static
{
}

/// Configuration versions: the applied history, appended atomically.
pub trait ConfigStore {
    /// The newest configuration version, if any was ever applied.
    fn latest_version(&self) -> Result<Option<ConfigVersion>, StoreError>;
    /// The newest version's number (0 for none): cheap enough to poll.
    fn latest_version_number(&self) -> Result<u64, StoreError>;
    fn version(&self, number: u64) -> Result<Option<ConfigVersion>, StoreError>;
    /// The whole history, oldest first, without the bundles.
    fn versions(&self) -> Result<Vec<VersionSummary>, StoreError>;
    /// Append the next version atomically. With `expect_latest`, fail with
    /// [`StoreError::Conflict`] unless the newest version is exactly that number
    /// (0 meaning "none yet").
    fn append_version(
        &self,
        new: NewVersion,
        expect_latest: Option<u64>,
    ) -> Result<VersionSummary, StoreError>;
}

/// Contact records and what is read per contact or per interval.
pub trait RecordStore {
    /// The latest contact record of a contact (JSON, Connect's field names).
    fn contact_record(&self, contact_id: &str) -> Result<Option<String>, StoreError>;
    fn search_records(&self, filter: &RecordFilter) -> Result<RecordPage, StoreError>;
    /// The events of one stream about one key (a contact's flow log, say), oldest first.
    fn events_for(
        &self,
        stream: &str,
        key: &str,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError>;
    /// Pre-aggregated historical sums for the 15-minute intervals in [from, to):
    /// queue-level rows, or with `agent_level` the per-agent rows.
    fn interval_rows(
        &self,
        from_ms: i64,
        to_ms: i64,
        agent_level: bool,
    ) -> Result<Vec<intervals::IntervalRow>, StoreError>;
}

/// The public streams: reading, retention, consumers' checkpoints.
pub trait StreamStore {
    /// Up to `limit` events of a public stream after position `after`, oldest first.
    /// A position retention already removed is [`StoreError::BeforeRetention`].
    fn read_stream(
        &self,
        stream: PublicStream,
        after: u64,
        limit: usize,
    ) -> Result<StreamPage, StoreError>;
    /// Remove a stream's events older than `before_ms` (retention); returns how many.
    fn trim_stream(&self, stream: PublicStream, before_ms: i64) -> Result<u64, StoreError>;
    /// Remember where a named consumer got to in a stream. A checkpoint belongs to
    /// whoever saved it first; another principal's save is refused, unless by an
    /// administrator.
    fn save_checkpoint(
        &self,
        consumer: &str,
        stream: PublicStream,
        seq: u64,
        by: CheckpointWriter<'_>,
    ) -> Result<CheckpointSaved, StoreError>;
    fn checkpoint(&self, consumer: &str, stream: PublicStream) -> Result<Option<u64>, StoreError>;
}

/// Analysts' read-only SQL over the documented tables: a capability of the SQLite backend,
/// whose SQL dialect it speaks; another backend offers its own or none.
pub trait AnalystSql {
    /// Run one read-only SQL statement over the documented tables
    /// ([`query::QUERYABLE_TABLES`]), stopping at `max_rows` rows or `time_limit`; the
    /// values of the `sensitive` attributes are not readable.
    fn query(
        &self,
        sql: &str,
        sensitive: &[String],
        max_rows: usize,
        time_limit: std::time::Duration,
    ) -> Result<query::QueryResult, query::QueryError>;
}

/// The audit trail's chain, digests and aging.
pub trait AuditStore {
    /// Audit records `from..=to` (chain positions), in order.
    fn audit_rows(&self, from: u64, to: u64) -> Result<Vec<audit::AuditRow>, StoreError>;
    fn audit_digests(&self) -> Result<Vec<audit::AuditDigest>, StoreError>;
    /// The chain's last position and hash (0 and [`audit::GENESIS`] when empty).
    fn audit_head(&self) -> Result<(u64, String), StoreError>;
    /// Where the kept chain starts (retention removed what is before): the last removed
    /// record's position and hash, or 0 and [`audit::GENESIS`].
    fn audit_floor(&self) -> Result<(u64, String), StoreError>;
    /// The first position readable at once (not archived).
    fn audit_first_online(&self) -> Result<u64, StoreError>;
    /// Archive records older than `online_before_ms`; remove archived ones older than
    /// `remove_before_ms` (keeping the chain verifiable from what remains), storing
    /// `vouch`'s signed digest of the last removed position and hash with the floor.
    fn age_audit(
        &self,
        online_before_ms: i64,
        remove_before_ms: i64,
        vouch: &dyn Fn(u64, &str) -> audit::AuditDigest,
    ) -> Result<audit::AuditAging, StoreError>;
    /// Keep a signed digest (one per chain position; a second is ignored).
    fn insert_audit_digest(&self, digest: &audit::AuditDigest) -> Result<(), StoreError>;
}

/// What a restart recovers from: live contacts' states and agents' kept statuses.
pub trait LiveStateStore {
    /// The state of every contact that had not finished, as last made durable.
    fn live_contacts(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Each agent's newest state on the `agent-state` stream, by agent.
    fn agent_states(&self) -> Result<Vec<(String, String)>, StoreError>;
}

/// Credentials and users' sign-in state.
pub trait CredentialStore {
    fn insert_credential(&self, credential: &StoredCredential) -> Result<(), StoreError>;
    /// A point lookup by id, answered without waiting behind other reads: cheap enough
    /// to make inline from async code (every API call with a key makes one).
    fn credential(&self, id: &str) -> Result<Option<StoredCredential>, StoreError>;
    fn credential_count(&self) -> Result<u64, StoreError>;
    /// A point lookup like [`CredentialStore::credential`]: cheap enough to make inline.
    fn user_login(&self, user: &str) -> Result<Option<UserLogin>, StoreError>;
    fn save_user_login(&self, login: &UserLogin) -> Result<(), StoreError>;
    /// Reads `user`'s sign-in state and stores what `change` makes of it, in one
    /// transaction that no other sign-in, server or CLI, can interleave with: failure
    /// counts, lockouts and spent one-time codes are never lost to a concurrent
    /// attempt. `None` when the user has no sign-in state.
    fn update_user_login(
        &self,
        user: &str,
        change: &mut dyn FnMut(&mut UserLogin),
    ) -> Result<Option<UserLogin>, StoreError>;
    /// Remove a credential; whether it existed.
    fn delete_credential(&self, id: &str) -> Result<bool, StoreError>;
}

/// Wrapped data keys: kept, found by customer, re-wrapped, destroyed (erasure).
pub trait KeyStore {
    /// The wrapped data key of `owner`, unless it never existed or was destroyed.
    fn data_key(&self, owner: &str) -> Result<Option<StoredDataKey>, StoreError>;
    /// Keep a data key made outside the event log (system keys); an existing key of the
    /// same owner is kept, not replaced.
    fn insert_data_key(&self, key: &StoredDataKey) -> Result<(), StoreError>;
    /// The owners (contacts) whose keys carry this customer reference, oldest first.
    fn data_key_owners_of_customer(&self, customer_ref: &str) -> Result<Vec<String>, StoreError>;
    /// How many data keys each key-encryption key wraps.
    fn data_keys_by_kek(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Re-wrap every data key not under `current_kek`, atomically; returns how many.
    fn rewrap_data_keys(
        &self,
        current_kek: &str,
        rewrap: &dyn Fn(&StoredDataKey) -> Result<StoredDataKey, String>,
    ) -> Result<u64, StoreError>;
    /// Destroy these owners' data keys for good; returns how many existed.
    /// Remove the flow logs of `contacts` (erasure: they hold values resolved from the
    /// customer's data), with `secure_delete` so their bytes do not linger; the next
    /// [`KeyStore::destroy_data_keys`] checkpoints them out of the log. Events removed.
    fn erase_flow_logs(&self, contacts: &[String]) -> Result<u64, StoreError>;
    fn destroy_data_keys(&self, owners: &[String]) -> Result<u64, StoreError>;
}

/// Consistent copies of the whole store while it runs.
pub trait BackupStore {
    /// Copy the whole store, consistently, to a new database file at `to` (a backup
    /// taken while the server runs).
    fn backup_to(&self, to: &std::path::Path) -> Result<(), StoreError>;
}

/// Where an instance's data lives, and the one place a backend is opened from it: the
/// embedded SQLite store in a data directory is the default (PostgreSQL is the next).
/// A backend gives a [`Store`] and an [`EventLog`] that keep the log's contract
/// ([`EventLogBackend`]) between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `switchboard.db` in this directory.
    Sqlite { dir: std::path::PathBuf },
}

impl Backend {
    /// Open (or create) the store.
    pub fn open_store(&self) -> Result<std::sync::Arc<dyn Store>, StoreError> {
        match self {
            Backend::Sqlite { dir } => Ok(std::sync::Arc::new(SqliteStore::open(dir)?)),
        }
    }

    /// Start the event log's writer; the store must have been opened first.
    pub fn start_log(&self) -> Result<(EventLog, EventLogWriter), StoreError> {
        match self {
            Backend::Sqlite { dir } => EventLog::start(dir),
        }
    }
}

/// Every role of [`Store`], to bring their methods into scope at once:
/// `use sb_store::roles::*;`.
pub mod roles {
    pub use crate::{
        AnalystSql, AuditStore, BackupStore, ConfigStore, CredentialStore, KeyStore,
        LiveStateStore, RecordStore, StreamStore,
    };
}
