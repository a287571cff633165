//! The event log: every state change, appended durably before it is acknowledged.
//!
//! One writer thread owns its own connection and commits in groups: it takes every
//! append waiting when it wakes, writes them in one transaction (one fsync), and only
//! then answers each caller. Many events per fsync is what makes durable ingest fast;
//! nobody is told "done" before the data is on disk.

use std::ops::Range;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection};
use sb_model::record::ContactRecord;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::sqlite::DATABASE_FILE;
use crate::{PublicStream, StoreError};

/// At most this many events go into one transaction.
const MAX_BATCH: usize = 8_192;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub at_ms: i64,
    /// `contact`, `agent`, `record`, ...
    pub stream: String,
    /// What the event is about (contact id, agent id), for per-key order.
    pub key: String,
    pub kind: String,
    /// JSON.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub seq: u64,
    #[serde(flatten)]
    pub event: NewEvent,
}

struct Append {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Range<u64>, String>>,
}

/// Handle to the writer thread. Clone it freely; the thread stops when every handle
/// is dropped, after writing what it was given.
/// The event log's contract, whatever backend keeps it. Every implementation keeps
/// these, each in its own way (the SQLite writer by its single writer thread and one
/// transaction per batch; see [`home_of`] for where each stream's events go):
///
/// - **Order.** Batches commit in the order they were submitted, and the positions of
///   their events are strictly increasing in that order; a batch commits whole or not
///   at all, and its receiver says which.
/// - **Projections with their event.** A contact record (`record`), a live contact's
///   state (`live`), an agent's kept status (`agent-state`) and a data key
///   (`data-key`) are projected in the transaction of the event that carries them, so
///   a reader never sees a projection ahead of, or behind, the durable log.
/// - **Keys never in the log.** `data-key` events become data keys only: no stream,
///   and no reader of events, ever sees their payload.
/// - **The audit chain.** `audit` events are linked to the chain's head in commit
///   order, under the same exclusion as the commit, so no two records share a parent.
/// - **Heads move after the commit.** [`committed`](EventLogBackend::committed) and each
///   public stream's head change only once the events they count are durable.
///
/// The conformance suite (`tests/store.rs`, `event_log_conformance!`) checks them for
/// each backend.
pub trait EventLogBackend: Send + Sync {
    /// Hand `events` to the writer now (so appends keep the order of calls); the
    /// receiver answers once they are durable, with their positions, or why not.
    fn submit(&self, events: Vec<NewEvent>) -> Result<Committing, StoreError>;
    /// The newest durable position, updated after every commit.
    fn committed(&self) -> watch::Receiver<u64>;
    /// The newest durable position of an event of `stream`.
    fn stream_committed(&self, stream: PublicStream) -> watch::Receiver<u64>;
    /// Events submitted and not yet durable (the log's lag).
    fn pending(&self) -> u64;
}

/// What a submitted batch waits on: its positions once durable, or why it is not.
pub type Committing = oneshot::Receiver<Result<Range<u64>, String>>;

/// A handle on the instance's event log, cheap to clone; every clone appends to the
/// same log. The backend behind it is chosen when the store is opened.
#[derive(Clone)]
pub struct EventLog(std::sync::Arc<dyn EventLogBackend>);

impl EventLog {
    pub fn new(backend: std::sync::Arc<dyn EventLogBackend>) -> EventLog {
        EventLog(backend)
    }

    /// The SQLite backend's log on `data_dir` (the embedded default), and its writer.
    pub fn start(data_dir: &Path) -> Result<(EventLog, EventLogWriter), StoreError> {
        let (log, writer) = SqliteEventLog::start(data_dir)?;
        Ok((EventLog::new(std::sync::Arc::new(log)), writer))
    }

    /// See [`EventLogBackend::submit`].
    pub fn submit(&self, events: Vec<NewEvent>) -> Result<Committing, StoreError> {
        self.0.submit(events)
    }

    /// Append `events` in order; resolves once they are durable, with their sequence
    /// numbers.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Range<u64>, StoreError> {
        let answer = self.submit(events)?;
        answer
            .await
            .map_err(|_| StoreError::Corrupt("the event-log writer has stopped".into()))?
            .map_err(StoreError::Corrupt)
    }

    /// See [`EventLogBackend::committed`]: what stream readers wait on instead of
    /// polling.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.0.committed()
    }

    /// See [`EventLogBackend::stream_committed`].
    pub fn stream_committed(&self, stream: PublicStream) -> watch::Receiver<u64> {
        self.0.stream_committed(stream)
    }

    /// See [`EventLogBackend::pending`].
    pub fn pending(&self) -> u64 {
        self.0.pending()
    }
}

/// The SQLite backend's event log: one writer thread owns the connection and commits
/// batches in one transaction each, so order, projections and the audit chain are
/// kept by there being one writer.
pub struct SqliteEventLog {
    sender: mpsc::Sender<Append>,
    committed: watch::Receiver<u64>,
    /// Per public stream (in the order of `PublicStream::ALL`), the newest durable
    /// position of one of its events: a stream's readers wake only for their stream.
    stream_committed: [watch::Receiver<u64>; PublicStream::ALL.len()],
    /// Events handed to the writer and not yet durable: the log's lag.
    pending: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

pub struct EventLogWriter {
    thread: Option<JoinHandle<()>>,
}

impl SqliteEventLog {
    /// Start the writer for the store in `data_dir` (opened with `SqliteStore::open`
    /// first, so the schema exists).
    pub fn start(data_dir: &Path) -> Result<(SqliteEventLog, EventLogWriter), StoreError> {
        let connection = Connection::open(data_dir.join(DATABASE_FILE))?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        let checkpointer =
            crate::checkpointer::Checkpointer::start(&data_dir.join(DATABASE_FILE), &connection)?;
        let live = crate::live_log::LiveLog::load(&connection)?;
        let newest: i64 =
            connection.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        let (committed_tx, committed) = watch::channel(newest as u64);
        let channels: [_; PublicStream::ALL.len()] =
            std::array::from_fn(|_| watch::channel(newest as u64));
        let stream_committed = channels.each_ref().map(|(_, receiver)| receiver.clone());
        let stream_committed_tx: StreamHeads = channels.map(|(sender, _)| sender);
        let (sender, receiver) = mpsc::channel::<Append>();
        let pending = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writer_pending = pending.clone();
        let thread = std::thread::Builder::new()
            .name("event-log".into())
            .spawn(move || {
                write_loop(
                    connection,
                    checkpointer,
                    live,
                    receiver,
                    committed_tx,
                    stream_committed_tx,
                    writer_pending,
                )
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the event-log writer: {e}")))?;
        Ok((
            SqliteEventLog {
                sender,
                committed,
                stream_committed,
                pending,
            },
            EventLogWriter {
                thread: Some(thread),
            },
        ))
    }
}

impl EventLogBackend for SqliteEventLog {
    fn submit(&self, events: Vec<NewEvent>) -> Result<Committing, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.pending
            .fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.sender
            .send(Append { events, reply })
            .map_err(|_| StoreError::Corrupt("the event-log writer has stopped".into()))?;
        Ok(answer)
    }

    fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    fn stream_committed(&self, stream: PublicStream) -> watch::Receiver<u64> {
        self.stream_committed[stream.index()].clone()
    }

    fn pending(&self) -> u64 {
        self.pending.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl EventLogWriter {
    /// Wait for the writer to finish (after every `EventLog` handle is dropped).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_loop(
    mut connection: Connection,
    mut checkpointer: crate::checkpointer::Checkpointer,
    mut live: crate::live_log::LiveLog,
    receiver: mpsc::Receiver<Append>,
    committed: watch::Sender<u64>,
    stream_committed: StreamHeads,
    pending: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        let mut count = batch[0].events.len();
        while count < MAX_BATCH {
            match receiver.try_recv() {
                Ok(more) => {
                    count += more.events.len();
                    batch.push(more);
                }
                Err(_) => break,
            }
        }
        let result = write_batch(&mut connection, &mut live, &batch);
        metrics::histogram!(BATCH_EVENTS_METRIC).record(count as f64);
        pending.fetch_sub(count as u64, std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok((ranges, heads)) => {
                checkpointer.committed(&connection);
                if let Some(newest) = ranges.iter().map(|r| r.end).max().filter(|&e| e > 0) {
                    committed.send_replace(newest - 1);
                }
                for (sender, head) in stream_committed.iter().zip(heads) {
                    if head > 0 {
                        sender.send_replace(head);
                    }
                }
                for (append, range) in batch.into_iter().zip(ranges) {
                    let _ = append.reply.send(Ok(range));
                }
            }
            Err(e) => {
                // Nothing of the batch was committed; every caller hears why.
                live.rolled_back();
                let message = e.to_string();
                for append in batch {
                    let _ = append.reply.send(Err(message.clone()));
                }
            }
        }
    }
}

/// Where an event is kept, by its stream: the declared table of what the writer keeps
/// besides the log. Every home and projection is written in the event's own
/// transaction, so a record is never ahead of its event, a wrapped data key is never in
/// the log, and the audit chain is linked in commit order under the write lock; a
/// second backend must keep each the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// Wrapped data keys: their own table only, so that destroying one leaves no copy.
    DataKeys,
    /// Audit records: the hash chain is their only home, so its retention (online,
    /// archived, removed) is the chain's, with nothing left behind.
    AuditChain,
    /// Each agent's chosen status: one row per agent, read at start.
    AgentStates,
    /// A live contact's state for recovery: only ever read as the newest per contact,
    /// so kept in `live_log` alone (it is the largest and most frequent thing written).
    LiveLog,
    /// The `events` table, readable by position, with what is projected from it.
    Log(Projection),
}

/// What is derived from an event kept in the log, in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Projection {
    /// Kept in the log only.
    Plain,
    /// An agent's time span, added to the 15-minute metric intervals.
    AgentTimeIntervals,
    /// A contact record: its searchable row in `contact_records` and the interval sums.
    ContactRecords,
}

fn home_of(stream: &str) -> Home {
    match stream {
        crate::data_keys::DATA_KEY_STREAM => Home::DataKeys,
        crate::audit::AUDIT_STREAM => Home::AuditChain,
        crate::agent_states::AGENT_STATE_STREAM => Home::AgentStates,
        LIVE_STREAM => Home::LiveLog,
        AGENT_TIME_STREAM => Home::Log(Projection::AgentTimeIntervals),
        RECORD_STREAM => Home::Log(Projection::ContactRecords),
        _ => Home::Log(Projection::Plain),
    }
}

type StreamHeads = [watch::Sender<u64>; PublicStream::ALL.len()];

/// Each append's positions, and per public stream the newest position written (0: none).
type Written = (Vec<Range<u64>>, [u64; PublicStream::ALL.len()]);

fn write_batch(
    connection: &mut Connection,
    live: &mut crate::live_log::LiveLog,
    batch: &[Append],
) -> Result<Written, rusqlite::Error> {
    let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    live.begin(&tx)?;
    // The audit chain's end is read under the write lock, so that two processes
    // appending (a server and a CLI command) continue one chain, never fork it.
    let mut chain: Option<crate::audit::ChainHead> = None;
    let mut sums = crate::intervals::IntervalSums::default();
    let mut ranges = Vec::with_capacity(batch.len());
    let mut heads = [0u64; PublicStream::ALL.len()];
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (at_ms, stream, key, kind, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut project = tx.prepare_cached(
            "INSERT INTO contact_records (contact_id, channel, queue, agent, initiation_ms, disconnect_ms, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (contact_id) DO UPDATE SET channel = ?2, queue = ?3, agent = ?4,
                 initiation_ms = ?5, disconnect_ms = ?6, record = ?7",
        )?;
        for append in batch {
            let mut first = None;
            let mut last = 0;
            for e in &append.events {
                let projection = match home_of(&e.stream) {
                    Home::DataKeys => {
                        crate::data_keys::insert_event(&tx, &e.payload)?;
                        continue;
                    }
                    Home::AuditChain => {
                        if chain.is_none() {
                            chain = Some(crate::audit::head(&tx)?);
                        }
                        if let Some(head) = chain.as_mut() {
                            crate::audit::append(&tx, head, e.at_ms, &e.payload)?;
                        }
                        continue;
                    }
                    Home::AgentStates => {
                        crate::agent_states::write(&tx, &e.key, &e.payload)?;
                        continue;
                    }
                    Home::LiveLog => {
                        let state = Some(e.payload.as_str()).filter(|p| *p != "null");
                        live.write(&tx, &e.key, state)?;
                        continue;
                    }
                    Home::Log(projection) => projection,
                };
                insert.execute(params![e.at_ms, e.stream, e.key, e.kind, e.payload])?;
                // Read now: the projections below insert rows of their own.
                let seq = tx.last_insert_rowid() as u64;
                if let Some(public) = PublicStream::of_internal(&e.stream) {
                    heads[public.index()] = seq;
                }
                match projection {
                    Projection::Plain => {}
                    Projection::AgentTimeIntervals => {
                        crate::intervals::agent_time_written(&e.payload, &mut sums);
                    }
                    Projection::ContactRecords => {
                        let record = serde_json::from_str::<ContactRecord>(&e.payload).ok();
                        crate::intervals::record_written(&tx, &e.key, record.as_ref(), &mut sums)?;
                        let r = record.as_ref().map(RecordColumns::of).unwrap_or_default();
                        project.execute(params![
                            e.key,
                            r.channel,
                            r.queue,
                            r.agent,
                            r.initiation_ms,
                            r.disconnect_ms,
                            e.payload
                        ])?;
                    }
                }
                first.get_or_insert(seq);
                last = seq;
            }
            ranges.push(first.map_or(0..0, |f| f..last + 1));
        }
    }
    sums.flush(&tx)?;
    live.compact(&tx)?;
    // The commit writes the write-ahead log and waits for the disk's flush: the floor
    // under every latency that waits for durability, so operators can see it apart
    // from the server's own work.
    let flushing = std::time::Instant::now();
    tx.commit()?;
    metrics::histogram!(COMMIT_SECONDS_METRIC).record(flushing.elapsed().as_secs_f64());
    Ok((ranges, heads))
}

/// Prometheus histogram: seconds each group commit took (log write and disk flush).
pub const COMMIT_SECONDS_METRIC: &str = "switchboard_event_log_commit_seconds";
/// Prometheus histogram: events written by each group commit.
pub const BATCH_EVENTS_METRIC: &str = "switchboard_event_log_batch_events";

/// Events on this stream carry one span of an agent's time in one state, added to the
/// metric intervals (OCCUPANCY).
pub const AGENT_TIME_STREAM: &str = "agent-time";
/// Events on this stream carry a contact record, projected into `contact_records`.
pub const RECORD_STREAM: &str = "record";
/// Events on this stream carry a live contact's state (or `null` once it finished),
/// appended to `live_log`: what a restart rebuilds from.
pub const LIVE_STREAM: &str = "live";
/// Events on this stream are Connect's contact events (the public `contact-events`).
pub const CONTACT_EVENT_STREAM: &str = "contact";
/// Events on this stream are Connect's agent events (the public `agent-events`).
pub const AGENT_EVENT_STREAM: &str = "agent";
/// Events on this stream are a chat's lines, each sealed under its contact's key.
pub const CHAT_STREAM: &str = "chat";
/// Events on this stream are a contact's flow log (the public `flow-logs`).
pub const FLOW_LOG_STREAM: &str = "flow-log";

/// A record's searchable columns; empty for a payload that is not a record.
#[derive(Default)]
struct RecordColumns {
    channel: String,
    queue: Option<String>,
    agent: Option<String>,
    initiation_ms: i64,
    disconnect_ms: Option<i64>,
}

impl RecordColumns {
    fn of(record: &ContactRecord) -> Self {
        use crate::intervals::millis;
        RecordColumns {
            channel: record.channel.as_str().to_string(),
            queue: record.queue.as_ref().map(|q| q.name.clone()),
            agent: record.agent.as_ref().map(|a| a.username.clone()),
            initiation_ms: millis(&record.initiation_timestamp).unwrap_or(0),
            disconnect_ms: record.disconnect_timestamp.as_deref().and_then(millis),
        }
    }
}

/// Read events after `after` (exclusive), oldest first, at most `limit`.
pub fn events_after(
    data_dir: &Path,
    after: u64,
    limit: usize,
) -> Result<Vec<EventRecord>, StoreError> {
    let connection = Connection::open(data_dir.join(DATABASE_FILE))?;
    read_after(&connection, after, limit)
}

pub(crate) fn read_after(
    connection: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut stmt = connection.prepare_cached(
        "SELECT seq, at_ms, stream, key, kind, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after as i64, limit as i64], event_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An `events` row selected as `seq, at_ms, stream, key, kind, payload`.
pub(crate) fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        seq: r.get::<_, i64>(0)? as u64,
        event: NewEvent {
            at_ms: r.get(1)?,
            stream: r.get(2)?,
            key: r.get(3)?,
            kind: r.get(4)?,
            payload: r.get(5)?,
        },
    })
}

#[cfg(test)]
mod home_tests {
    use super::*;

    /// The streams with a home of their own never reach the log; the two projected
    /// streams keep their projection.
    #[test]
    fn every_special_stream_has_its_declared_home() {
        assert_eq!(home_of(crate::data_keys::DATA_KEY_STREAM), Home::DataKeys);
        assert_eq!(home_of(crate::audit::AUDIT_STREAM), Home::AuditChain);
        assert_eq!(
            home_of(crate::agent_states::AGENT_STATE_STREAM),
            Home::AgentStates
        );
        assert_eq!(home_of(LIVE_STREAM), Home::LiveLog);
        assert_eq!(
            home_of(RECORD_STREAM),
            Home::Log(Projection::ContactRecords)
        );
        assert_eq!(
            home_of(AGENT_TIME_STREAM),
            Home::Log(Projection::AgentTimeIntervals)
        );
        assert_eq!(home_of("contact"), Home::Log(Projection::Plain));
    }
}
