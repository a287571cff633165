//! Historical metrics, pre-aggregated: every contact record adds its contribution to
//! the 15-minute interval of its disconnect time, in the same transaction that stores
//! the record, and takes back its old contribution when the record is rewritten (after
//! contact work, a transfer). Queries then sum a few rows per interval instead of
//! reading records, so they stay fast as records grow.
//!
//! Each record adds to two rows: one per (queue, channel), and one per (queue, channel,
//! agent, routing profile) when an agent handled it. Fifteen minutes divides every time
//! zone's offset, so days and weeks in any zone are unions of whole intervals.

use rusqlite::{params, Transaction};
use sb_model::record::ContactRecord;

/// The aggregation interval.
pub const INTERVAL_MS: i64 = 15 * 60 * 1000;

/// The service-level thresholds (seconds) answered-within counts are kept for:
/// the values Connect's reports offer.
pub const SERVICE_LEVEL_THRESHOLDS: [u32; 12] =
    [15, 20, 25, 30, 45, 60, 90, 120, 180, 240, 300, 600];

/// The summed columns, in table order.
pub(crate) const COLUMNS: [&str; 16] = [
    "queued",
    "handled",
    "abandoned",
    "answered",
    "answer_ms",
    "handle_ms",
    "acw_count",
    "acw_ms",
    "held",
    "hold_ms",
    "non_response",
    "records",
    // Agent time, from the agent-time stream (rows without queue or channel).
    "agent_available_ms",
    "agent_on_contact_ms",
    "agent_non_productive_ms",
    "agent_error_ms",
];

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metric_intervals (
    interval_ms  INTEGER NOT NULL,
    queue        TEXT NOT NULL,
    channel      TEXT NOT NULL,
    agent        TEXT NOT NULL,
    profile      TEXT NOT NULL,
    queued       INTEGER NOT NULL DEFAULT 0,
    handled      INTEGER NOT NULL DEFAULT 0,
    abandoned    INTEGER NOT NULL DEFAULT 0,
    answered     INTEGER NOT NULL DEFAULT 0,
    answer_ms    INTEGER NOT NULL DEFAULT 0,
    handle_ms    INTEGER NOT NULL DEFAULT 0,
    acw_count    INTEGER NOT NULL DEFAULT 0,
    acw_ms       INTEGER NOT NULL DEFAULT 0,
    held         INTEGER NOT NULL DEFAULT 0,
    hold_ms      INTEGER NOT NULL DEFAULT 0,
    non_response INTEGER NOT NULL DEFAULT 0,
    records      INTEGER NOT NULL DEFAULT 0,
    agent_available_ms      INTEGER NOT NULL DEFAULT 0,
    agent_on_contact_ms     INTEGER NOT NULL DEFAULT 0,
    agent_non_productive_ms INTEGER NOT NULL DEFAULT 0,
    agent_error_ms          INTEGER NOT NULL DEFAULT 0,
    within_15 INTEGER NOT NULL DEFAULT 0, within_20 INTEGER NOT NULL DEFAULT 0,
    within_25 INTEGER NOT NULL DEFAULT 0, within_30 INTEGER NOT NULL DEFAULT 0,
    within_45 INTEGER NOT NULL DEFAULT 0, within_60 INTEGER NOT NULL DEFAULT 0,
    within_90 INTEGER NOT NULL DEFAULT 0, within_120 INTEGER NOT NULL DEFAULT 0,
    within_180 INTEGER NOT NULL DEFAULT 0, within_240 INTEGER NOT NULL DEFAULT 0,
    within_300 INTEGER NOT NULL DEFAULT 0, within_600 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (interval_ms, queue, channel, agent, profile)
) WITHOUT ROWID;
";

/// What one record adds to its interval.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Contribution {
    pub interval_ms: i64,
    pub queue: String,
    pub channel: String,
    /// `(agent, routing profile)` when an agent handled it.
    pub agent: Option<(String, String)>,
    /// Column values in [`COLUMNS`] order, then one per [`SERVICE_LEVEL_THRESHOLDS`].
    pub values: Vec<i64>,
}

/// An RFC 3339 timestamp in milliseconds since the epoch.
pub(crate) fn millis(timestamp: &str) -> Option<i64> {
    timestamp
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

impl Contribution {
    /// `None` for a record that has not ended (it counts once it disconnects).
    pub(crate) fn of(r: &ContactRecord) -> Option<Contribution> {
        let disconnect = millis(r.disconnect_timestamp.as_deref()?)?;
        let queued = r.queue.is_some();
        let handled = r.agent.is_some();
        let abandoned =
            queued && !handled && r.disconnect_reason.as_deref() == Some("CUSTOMER_DISCONNECT");
        // Queue answer time: enqueued until an agent connected.
        let answer_ms = match (&r.queue, &r.agent) {
            (Some(q), Some(a)) => millis(&a.connected_to_agent_timestamp)
                .zip(millis(&q.enqueue_timestamp))
                .map(|(c, e)| (c - e).max(0))
                .or(q.duration.map(|d| d as i64 * 1000)),
            _ => None,
        };
        // Handle time, as Connect counts it: talk, hold and after-contact work.
        let (handle_ms, acw, held, hold_ms) = match &r.agent {
            Some(a) => {
                let talk = a.agent_interaction_duration.unwrap_or(0) as i64 * 1000;
                let hold = a.customer_hold_duration as i64 * 1000;
                let acw = a.after_contact_work_duration.map(|d| d as i64 * 1000);
                (
                    talk + hold + acw.unwrap_or(0),
                    acw,
                    a.number_of_holds > 0,
                    hold,
                )
            }
            None => (0, None, false, 0),
        };
        // Offers that were not answered: every attempt but the one that connected.
        let non_response = i64::from(r.agent_connection_attempts) - i64::from(handled);
        let mut values = vec![
            i64::from(queued),
            i64::from(handled),
            i64::from(abandoned),
            i64::from(answer_ms.is_some()),
            answer_ms.unwrap_or(0),
            handle_ms,
            i64::from(acw.is_some()),
            acw.unwrap_or(0),
            i64::from(held),
            hold_ms,
            non_response.max(0),
            1,
            0,
            0,
            0,
            0,
        ];
        for threshold in SERVICE_LEVEL_THRESHOLDS {
            values.push(i64::from(
                answer_ms.is_some_and(|ms| ms < i64::from(threshold) * 1000),
            ));
        }
        Some(Contribution {
            interval_ms: disconnect.div_euclid(INTERVAL_MS) * INTERVAL_MS,
            queue: r.queue.as_ref().map(|q| q.name.clone()).unwrap_or_default(),
            channel: r.channel.as_str().to_string(),
            agent: r
                .agent
                .as_ref()
                .map(|a| (a.username.clone(), a.routing_profile.clone())),
            values,
        })
    }

    /// Add (`sign` 1) or take back (`sign` -1) this contribution.
    pub(crate) fn add_to(&self, sums: &mut IntervalSums, sign: i64) {
        let mut rows = vec![(String::new(), String::new())];
        if let Some(agent) = &self.agent {
            rows.push(agent.clone());
        }
        for (agent, profile) in rows {
            let key = (
                self.interval_ms,
                self.queue.clone(),
                self.channel.clone(),
                agent,
                profile,
            );
            let row = sums.row(key);
            for (sum, v) in row.iter_mut().zip(&self.values) {
                *sum += v * sign;
            }
        }
    }
}

/// (interval, queue, channel, agent, profile): one row of `metric_intervals`.
type IntervalKey = (i64, String, String, String, String);

/// The interval sums a batch of events adds, gathered in memory and written once per
/// row at the end of the batch: a batch of a hundred records in one interval is one
/// upsert per queue and agent, not four per record.
#[derive(Default)]
pub(crate) struct IntervalSums {
    rows: std::collections::HashMap<IntervalKey, Vec<i64>>,
}

impl IntervalSums {
    fn row(&mut self, key: IntervalKey) -> &mut Vec<i64> {
        self.rows
            .entry(key)
            .or_insert_with(|| vec![0; all_columns().len()])
    }

    /// Write every row that changed.
    pub(crate) fn flush(self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let mut statement = tx.prepare_cached(upsert_sql())?;
        for ((interval, queue, channel, agent, profile), values) in self.rows {
            if values.iter().all(|&v| v == 0) {
                continue;
            }
            let mut args: Vec<rusqlite::types::Value> = vec![
                interval.into(),
                queue.into(),
                channel.into(),
                agent.into(),
                profile.into(),
            ];
            args.extend(values.into_iter().map(rusqlite::types::Value::from));
            statement.execute(rusqlite::params_from_iter(args))?;
        }
        Ok(())
    }
}

/// Every summed column: [`COLUMNS`] then `within_<threshold>` for each threshold.
pub(crate) fn all_columns() -> &'static [String] {
    static COLUMN_NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    COLUMN_NAMES.get_or_init(|| {
        COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(
                SERVICE_LEVEL_THRESHOLDS
                    .iter()
                    .map(|t| format!("within_{t}")),
            )
            .collect()
    })
}

fn upsert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let columns = all_columns();
        let placeholders: Vec<String> = (6..6 + columns.len()).map(|i| format!("?{i}")).collect();
        let updates: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = {c} + excluded.{c}"))
            .collect();
        format!(
            "INSERT INTO metric_intervals (interval_ms, queue, channel, agent, profile, {}) \
             VALUES (?1, ?2, ?3, ?4, ?5, {}) \
             ON CONFLICT (interval_ms, queue, channel, agent, profile) DO UPDATE SET {}",
            columns.join(", "),
            placeholders.join(", "),
            updates.join(", ")
        )
    })
}

/// Store a record's contribution, replacing the one its earlier version made.
pub(crate) fn record_written(
    tx: &Transaction<'_>,
    contact_id: &str,
    new_record: Option<&ContactRecord>,
    sums: &mut IntervalSums,
) -> rusqlite::Result<()> {
    let old: Option<String> = tx
        .prepare_cached("SELECT record FROM contact_records WHERE contact_id = ?1")?
        .query_row(params![contact_id], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let old = old.and_then(|json| serde_json::from_str::<ContactRecord>(&json).ok());
    if let Some(old) = old.as_ref().and_then(Contribution::of) {
        old.add_to(sums, -1);
    }
    if let Some(new) = new_record.and_then(Contribution::of) {
        new.add_to(sums, 1);
    }
    Ok(())
}

/// One stored interval row: sums for one (interval, queue, channel[, agent, profile]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalRow {
    pub interval_ms: i64,
    pub queue: String,
    pub channel: String,
    /// Empty in queue-level rows.
    pub agent: String,
    pub profile: String,
    /// In [`column_names`] order.
    pub values: Vec<i64>,
}

/// The names of [`IntervalRow::values`], in order.
pub fn column_names() -> Vec<String> {
    all_columns().to_vec()
}

pub(crate) fn read_rows(
    conn: &rusqlite::Connection,
    from_ms: i64,
    to_ms: i64,
    agent_level: bool,
) -> rusqlite::Result<Vec<IntervalRow>> {
    let columns = all_columns();
    let sql = format!(
        "SELECT interval_ms, queue, channel, agent, profile, {} FROM metric_intervals \
         WHERE interval_ms >= ?1 AND interval_ms < ?2 AND {}",
        columns.join(", "),
        if agent_level {
            "agent != ''"
        } else {
            "agent = ''"
        }
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![from_ms, to_ms], |r| {
        Ok(IntervalRow {
            interval_ms: r.get(0)?,
            queue: r.get(1)?,
            channel: r.get(2)?,
            agent: r.get(3)?,
            profile: r.get(4)?,
            values: (0..columns.len())
                .map(|i| r.get(5 + i))
                .collect::<rusqlite::Result<_>>()?,
        })
    })?;
    rows.collect()
}

/// Add one span of an agent's time in one state, split across the intervals it covers.
pub(crate) fn agent_time_written(payload: &str, sums: &mut IntervalSums) {
    let v: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let column = match v["State"].as_str() {
        Some("available") => "agent_available_ms",
        Some("on_contact") => "agent_on_contact_ms",
        Some("non_productive") => "agent_non_productive_ms",
        Some("error") => "agent_error_ms",
        _ => return,
    };
    let Some(index) = all_columns().iter().position(|c| c == column) else {
        return;
    };
    let (Some(mut from), Some(to)) = (v["FromMs"].as_i64(), v["ToMs"].as_i64()) else {
        return;
    };
    let (agent, profile) = (text("Agent"), text("RoutingProfile"));
    while from < to {
        let interval = from.div_euclid(INTERVAL_MS) * INTERVAL_MS;
        let end = (interval + INTERVAL_MS).min(to);
        let key = (
            interval,
            String::new(),
            String::new(),
            agent.clone(),
            profile.clone(),
        );
        sums.row(key)[index] += end - from;
        from = end;
    }
}
