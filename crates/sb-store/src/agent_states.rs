//! Each agent's last chosen status, kept for a restart: one row per agent, replaced by
//! the log's writer in the transaction of the change (never kept in `events`, where
//! only the newest would ever be read).

use rusqlite::{params, Connection, Transaction};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS agent_states (
    agent TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
";

/// Events on this stream carry an agent's state (its key is the agent); the writer
/// keeps only the newest in `agent_states`.
pub const AGENT_STATE_STREAM: &str = "agent-state";

pub(crate) fn write(tx: &Transaction<'_>, agent: &str, state: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO agent_states (agent, state) VALUES (?1, ?2)
         ON CONFLICT (agent) DO UPDATE SET state = ?2",
    )?
    .execute(params![agent, state])?;
    Ok(())
}

pub(crate) fn read_all(connection: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut statement =
        connection.prepare_cached("SELECT agent, state FROM agent_states ORDER BY agent")?;
    let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
