//! Read-only SQL over the documented tables, for analysts and reports.
//!
//! Locks, so that no SQL a caller writes can change or reveal more than the
//! documented tables: a read-only connection (`SQLITE_OPEN_READ_ONLY` and
//! `query_only`), an authorizer that allows only reading the documented tables and
//! views (never `credentials`, `config_versions`, raw `events`, `live_log`, the schema
//! or virtual tables such as `dbstat`) and denies every write, pragma, attach and
//! transaction, a refusal of common table expressions named like a table or view
//! (SQLite reports a CTE as the "view" reading a table, so one named `agent_events`
//! would pass for the real view), and bounds on what one query may cost: a progress
//! handler that interrupts it past its time limit, a cap on any one value's length,
//! and a cap on the bytes of the whole result.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::sqlite::DATABASE_FILE;

/// The longest string or blob a query may make or read (SQLite's `SQLITE_LIMIT_LENGTH`):
/// a record is a few kilobytes; `printf('%.*c', 50000000, 'x')` is refused.
pub const MAX_VALUE_BYTES: i32 = 1024 * 1024;
/// The most a whole result may hold, counted as its values' bytes.
pub const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

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
    #[error("the result is over {} MiB: select fewer rows or columns, or page with WHERE and LIMIT", MAX_RESULT_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("cannot open the database for reading: {0}")]
    Open(String),
}

/// The names a statement gives its common table expressions (and windows): every
/// identifier followed by an optional column list and `AS (` or `AS [NOT] MATERIALIZED (`.
/// A lexer only as far as that needs: strings, quoted identifiers and comments are
/// skipped whole, so nothing inside them is taken for a name.
pub fn defined_names(sql: &str) -> Vec<String> {
    #[derive(PartialEq)]
    enum Token {
        Word(String),
        Open,
        Close,
        Other,
    }
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let quoted = |i: &mut usize, close: char| -> String {
        let mut text = String::new();
        *i += 1;
        while *i < chars.len() {
            if chars[*i] == close {
                if close != ']' && chars.get(*i + 1) == Some(&close) {
                    text.push(close);
                    *i += 2;
                    continue;
                }
                *i += 1;
                return text;
            }
            text.push(chars[*i]);
            *i += 1;
        }
        text
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            quoted(&mut i, '\'');
            tokens.push(Token::Other);
        } else if c == '"' || c == '`' || c == '[' {
            let close = match c {
                '[' => ']',
                other => other,
            };
            tokens.push(Token::Word(quoted(&mut i, close)));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            tokens.push(match c {
                '(' => Token::Open,
                ')' => Token::Close,
                _ => Token::Other,
            });
            i += 1;
        }
    }
    let keyword =
        |t: Option<&Token>, k: &str| matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(k));
    let mut names = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        let Token::Word(name) = token else { continue };
        let mut next = at + 1;
        if tokens.get(next) == Some(&Token::Open) {
            // A column list: skip to its closing parenthesis.
            let mut depth = 0;
            while let Some(t) = tokens.get(next) {
                match t {
                    Token::Open => depth += 1,
                    Token::Close => depth -= 1,
                    _ => {}
                }
                next += 1;
                if depth == 0 {
                    break;
                }
            }
        }
        if !keyword(tokens.get(next), "AS") {
            continue;
        }
        next += 1;
        if keyword(tokens.get(next), "NOT") {
            next += 1;
        }
        if keyword(tokens.get(next), "MATERIALIZED") {
            next += 1;
        }
        if tokens.get(next) == Some(&Token::Open) {
            names.push(name.clone());
        }
    }
    names
}

/// The authorizer. A common table expression's rows are read with no database name;
/// everything read from a database is a real table, view or virtual table, and only
/// the documented ones are allowed.
fn authorizer() -> impl for<'r> FnMut(AuthContext<'r>) -> Authorization + Send + 'static {
    let views = ["contact_events", "agent_events"];
    move |context: AuthContext<'_>| {
        let temp = context.database_name == Some("temp");
        let readable = |table: &str, accessor: Option<&str>| {
            // The tables with attributes only through their redacting (temp) views.
            let redacted = ["contact_records", "contact_events"].contains(&table);
            (redacted && (temp || accessor == Some(table)))
                || ["agent_events", "metric_intervals"].contains(&table)
                || (table == "events" && accessor.is_some_and(|v| views.contains(&v)))
        };
        match context.action {
            AuthAction::Select | AuthAction::Recursive | AuthAction::Function { .. } => {
                Authorization::Allow
            }
            AuthAction::Read { table_name, .. } if readable(table_name, context.accessor) => {
                Authorization::Allow
            }
            // A read with no database is of a common table expression's own rows
            // (`COUNT(*) FROM cte`); every stored table is in `main` or `temp`.
            AuthAction::Read { .. } if context.database_name.is_none() => Authorization::Allow,
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
    let schema_names: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_schema UNION SELECT name FROM temp.sqlite_schema")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| QueryError::Open(e.to_string()))?;
    if let Some(name) = defined_names(sql)
        .into_iter()
        .find(|n| schema_names.iter().any(|s| s.eq_ignore_ascii_case(n)))
    {
        return Err(QueryError::Refused(format!(
            "a common table expression may not take the name of a table or view ('{name}')"
        )));
    }
    connection
        .set_limit(
            rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH,
            MAX_VALUE_BYTES,
        )
        .map_err(|e| QueryError::Open(e.to_string()))?;
    connection.authorizer(Some(authorizer()));
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
    let mut bytes = 0;
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
            .collect::<Vec<serde_json::Value>>();
        bytes += values.iter().map(value_bytes).sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            return Err(QueryError::TooLarge);
        }
        rows.push(values);
    }
    Ok(QueryResult {
        columns,
        rows,
        truncated,
    })
}

/// About what a value costs to hold and send.
fn value_bytes(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::String(s) => s.len() + 2,
        _ => 8,
    }
}

fn stopped(e: rusqlite::Error, limit: Duration) -> QueryError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            QueryError::TimedOut(limit)
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::TooBig => {
            QueryError::Refused(format!(
                "a value would be over {} KiB, the most one value may hold",
                MAX_VALUE_BYTES / 1024
            ))
        }
        other => QueryError::Invalid(other.to_string()),
    }
}
