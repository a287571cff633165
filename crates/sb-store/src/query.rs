//! Read-only SQL over the documented tables, for analysts and reports.
//!
//! Three locks, so that no SQL a caller writes can change or reveal more than the
//! documented tables: a read-only connection (`SQLITE_OPEN_READ_ONLY` and
//! `query_only`), an authorizer that allows only reading the documented tables and
//! views (never `credentials`, `config_versions`, raw `events` or `live_log`) and
//! denies every write, pragma, attach and transaction, and a progress handler that
//! interrupts a query past its time limit.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::sqlite::DATABASE_FILE;

/// The tables and views SQL may read, with what each holds (docs/metrics.md).
pub const QUERYABLE_TABLES: [(&str, &str); 4] = [
    (
        "contact_records",
        "one row per contact: contact_id, channel, queue, agent, initiation_ms, disconnect_ms, record (JSON with Connect's field names)",
    ),
    (
        "contact_events",
        "seq, at_ms, contact_id, type, payload (JSON): the contact-events stream",
    ),
    (
        "agent_events",
        "seq, at_ms, agent, type, payload (JSON): the agent-events stream",
    ),
    (
        "metric_intervals",
        "15-minute sums behind historical metrics: interval_ms, queue, channel, agent, profile, queued, handled, ...",
    ),
];

/// Views over the event log, created with the schema.
pub(crate) const VIEWS: &str = "
CREATE VIEW IF NOT EXISTS contact_events AS
    SELECT seq, at_ms, key AS contact_id, kind AS type, payload FROM events WHERE stream = 'contact';
CREATE VIEW IF NOT EXISTS agent_events AS
    SELECT seq, at_ms, key AS agent, kind AS type, payload FROM events WHERE stream = 'agent';
";

/// Per-query views that shadow the tables holding attributes, with every sensitive
/// attribute's value removed: SQLite resolves an unqualified name in `temp` first, and
/// the authorizer refuses reading the real tables except through these views.
fn redacting_views(sensitive: &[String]) -> String {
    // Names are checked at deploy time to be letters, digits, '_', '-' and '.'; the
    // quoting below is for the JSON path, and anything else is skipped, not trusted.
    let paths: Vec<String> = sensitive
        .iter()
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        })
        .map(|n| format!("'$.Attributes.\"{n}\"'"))
        .collect();
    let strip = |column: &str| {
        if paths.is_empty() {
            column.to_string()
        } else {
            format!("json_remove({column}, {})", paths.join(", "))
        }
    };
    format!(
        "CREATE TEMP VIEW contact_records AS SELECT contact_id, channel, queue, agent, initiation_ms, disconnect_ms, {} AS record FROM main.contact_records;
         CREATE TEMP VIEW contact_events AS SELECT seq, at_ms, contact_id, type, {} AS payload FROM main.contact_events;",
        strip("record"),
        strip("payload"),
    )
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows matched than the row limit allowed.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("the query is not allowed: {0}")]
    Refused(String),
    #[error("the query ran past its time limit of {0:?} and was stopped")]
    TimedOut(Duration),
    #[error("the SQL is not valid: {0}")]
    Invalid(String),
    #[error("cannot open the database for reading: {0}")]
    Open(String),
}

/// The authorizer for a connection whose real tables and views are `schema_names`.
/// Any other name a statement reads is one of its own common table expressions.
fn authorizer(
    schema_names: Vec<String>,
) -> impl for<'r> FnMut(AuthContext<'r>) -> Authorization + Send + 'static {
    let views = ["contact_events", "agent_events"];
    move |context: AuthContext<'_>| {
        let temp = context.database_name == Some("temp");
        let readable = |table: &str, accessor: Option<&str>| {
            // The tables with attributes only through their redacting (temp) views.
            let redacted = ["contact_records", "contact_events"].contains(&table);
            (redacted && (temp || accessor == Some(table)))
                || ["agent_events", "metric_intervals"].contains(&table)
                || (table == "events" && accessor.is_some_and(|v| views.contains(&v)))
                // SQLite reads its own schema to resolve names.
                || table == "sqlite_master"
                || table == "sqlite_schema"
                || table == "sqlite_temp_master"
                || table == "sqlite_temp_schema"
                || !schema_names.iter().any(|n| n == table)
        };
        match context.action {
            AuthAction::Select | AuthAction::Recursive | AuthAction::Function { .. } => {
                Authorization::Allow
            }
            AuthAction::Read { table_name, .. } if readable(table_name, context.accessor) => {
                Authorization::Allow
            }
            // Counting rows (no column read) reveals no values.
            AuthAction::Read {
                table_name,
                column_name: "",
            } if ["contact_records", "contact_events"].contains(&table_name) => {
                Authorization::Allow
            }
            _ => Authorization::Deny,
        }
    }
}

/// Run one read-only statement against the database in `data_dir`, with the values
/// of the `sensitive` attributes removed from what it can read.
pub fn run(
    data_dir: &Path,
    sql: &str,
    sensitive: &[String],
    max_rows: usize,
    time_limit: Duration,
) -> Result<QueryResult, QueryError> {
    let connection = Connection::open_with_flags(
        data_dir.join(DATABASE_FILE),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| QueryError::Open(e.to_string()))?;
    // The temporary schema is this connection's own (in memory); the database file
    // stays read-only.
    connection
        .execute_batch(&redacting_views(sensitive))
        .map_err(|e| QueryError::Open(e.to_string()))?;
    connection
        .pragma_update(None, "query_only", true)
        .map_err(|e| QueryError::Open(e.to_string()))?;
    let schema_names = connection
        .prepare("SELECT name FROM sqlite_schema UNION SELECT name FROM temp.sqlite_schema")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| QueryError::Open(e.to_string()))?;
    connection.authorizer(Some(authorizer(schema_names)));
    let started = Instant::now();
    connection.progress_handler(10_000, Some(move || started.elapsed() > time_limit));

    let mut statement = connection.prepare(sql).map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, message)
            if f.code == rusqlite::ErrorCode::AuthorizationForStatementDenied =>
        {
            QueryError::Refused(
                message
                    .unwrap_or_else(|| "only SELECT over the documented tables is allowed".into()),
            )
        }
        rusqlite::Error::MultipleStatement => {
            QueryError::Invalid("send one statement at a time".into())
        }
        other => QueryError::Invalid(other.to_string()),
    })?;
    if !statement.readonly() {
        return Err(QueryError::Refused("only reads run".into()));
    }
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let width = columns.len();
    let mut rows = Vec::new();
    let mut truncated = false;
    let mut cursor = statement.query([]).map_err(|e| stopped(e, time_limit))?;
    while let Some(row) = cursor.next().map_err(|e| stopped(e, time_limit))? {
        if rows.len() == max_rows {
            truncated = true;
            break;
        }
        let values = (0..width)
            .map(|i| match row.get_ref(i) {
                Ok(ValueRef::Null) | Err(_) => serde_json::Value::Null,
                Ok(ValueRef::Integer(n)) => n.into(),
                Ok(ValueRef::Real(x)) => x.into(),
                Ok(ValueRef::Text(t)) => String::from_utf8_lossy(t).into(),
                Ok(ValueRef::Blob(b)) => format!("<{} bytes>", b.len()).into(),
            })
            .collect();
        rows.push(values);
    }
    Ok(QueryResult {
        columns,
        rows,
        truncated,
    })
}

fn stopped(e: rusqlite::Error, limit: Duration) -> QueryError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            QueryError::TimedOut(limit)
        }
        other => QueryError::Invalid(other.to_string()),
    }
}
