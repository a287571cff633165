//! Live contacts' states, kept for a restart: an append-only table, compacted as it goes.
//!
//! A contact's state changes several times in its life (queued, connected, in
//! after-contact work, finished) and only the newest is ever read. Kept as one row per
//! contact, each change rewrote whatever page that contact's row happened to be on, so
//! a commit carrying a dozen changes wrote a dozen scattered pages to the log. Appended
//! instead, a commit's changes share the table's last pages. The rows a newer one
//! replaced are removed oldest first, a few per commit in proportion to what it
//! appended, so no single commit carries a large clean-up. Removal waits until replaced
//! rows are at least as many as live contacts: a long-waiting contact's row met on the
//! way is copied forward, and with at least one replaced row removed per copy, a large
//! backlog of waiting contacts costs at most one copy per replaced row, and the table
//! stays under twice the live contacts (plus a few thousand).
//!
//! A row with no state is a finish: it hides the contact's older rows until they are
//! removed with it.

use std::collections::HashMap;

use rusqlite::{params, Connection, Transaction};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS live_log (
    seq        INTEGER PRIMARY KEY,
    contact_id TEXT NOT NULL,
    state      TEXT
);
";

/// Replaced rows always tolerated before the oldest are removed (more with more live
/// contacts): slack, so that a row is usually long replaced by the time removal
/// reaches it and seldom copied.
const REPLACED_ROWS_KEPT: u64 = 4_096;

/// The writer's view of the table: which row is each live contact's newest.
pub(crate) struct LiveLog {
    newest: HashMap<String, i64>,
    rows: u64,
    /// Rows appended since the last [`LiveLog::compact`]: what it removes in proportion.
    appended: usize,
    replaced_rows_kept: u64,
    /// False after a commit failed: the view may name rows that were rolled back, and
    /// is read again before anything is removed by it.
    trusted: bool,
}

impl LiveLog {
    /// Read the table's current shape (which row is whose newest; the states stay on
    /// disk).
    pub(crate) fn load(connection: &Connection) -> rusqlite::Result<LiveLog> {
        let (newest, rows) =
            newest_per_contact(connection, "CASE WHEN state IS NULL THEN NULL ELSE seq END")?;
        Ok(LiveLog {
            newest,
            rows,
            appended: 0,
            replaced_rows_kept: REPLACED_ROWS_KEPT,
            trusted: true,
        })
    }

    /// The commit that carried the latest writes failed.
    pub(crate) fn rolled_back(&mut self) {
        self.trusted = false;
    }

    /// At the start of a commit's transaction: after a failed one, read the table again
    /// — the view may name rows rolled back, or miss a finish rolled back (and would
    /// then skip the finish when it comes again).
    pub(crate) fn begin(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if !self.trusted {
            let kept = self.replaced_rows_kept;
            *self = LiveLog::load(tx)?;
            self.replaced_rows_kept = kept;
        }
        Ok(())
    }

    /// Append `contact`'s new state, or its finish (`None`).
    pub(crate) fn write(
        &mut self,
        tx: &Transaction<'_>,
        contact: &str,
        state: Option<&str>,
    ) -> rusqlite::Result<()> {
        if state.is_none() && !self.newest.contains_key(contact) {
            // Nothing of it is kept: there is nothing to hide.
            return Ok(());
        }
        tx.prepare_cached("INSERT INTO live_log (contact_id, state) VALUES (?1, ?2)")?
            .execute(params![contact, state])?;
        self.rows += 1;
        self.appended += 1;
        match state {
            Some(_) => {
                self.newest
                    .insert(contact.to_string(), tx.last_insert_rowid());
            }
            None => {
                self.newest.remove(contact);
            }
        }
        Ok(())
    }

    /// Before a commit: remove the oldest rows, twice as many as it appended (so
    /// removal outpaces growth), once enough replaced rows have gathered. A live
    /// contact's newest row among them is copied to the end first.
    pub(crate) fn compact(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let appended = std::mem::take(&mut self.appended);
        let replaced = self.rows.saturating_sub(self.newest.len() as u64);
        let live = self.newest.len() as u64;
        if appended == 0 || replaced < self.replaced_rows_kept.max(live) {
            return Ok(());
        }
        let oldest: Vec<(i64, String)> = tx
            .prepare_cached("SELECT seq, contact_id FROM live_log ORDER BY seq LIMIT ?1")?
            // No more than that: a commit answering one agent's click stays small.
            .query_map([(appended * 2) as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let Some(&(last, _)) = oldest.last() else {
            return Ok(());
        };
        let mut copy = tx.prepare_cached(
            "INSERT INTO live_log (contact_id, state) SELECT contact_id, state FROM live_log WHERE seq = ?1",
        )?;
        for (seq, contact) in oldest {
            if self.newest.get(&contact) == Some(&seq) && copy.execute([seq])? == 1 {
                self.newest.insert(contact, tx.last_insert_rowid());
                self.rows += 1;
            }
        }
        let removed = tx
            .prepare_cached("DELETE FROM live_log WHERE seq <= ?1")?
            .execute([last])?;
        self.rows -= removed as u64;
        Ok(())
    }
}

/// Every live contact's newest state, by contact id.
pub(crate) fn newest_states(connection: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let (newest, _) = newest_per_contact(connection, "state")?;
    let mut states: Vec<_> = newest.into_iter().collect();
    states.sort();
    Ok(states)
}

/// Each live contact's newest value of `column` (an SQL expression, NULL on a finish),
/// and how many rows the table has.
fn newest_per_contact<T: rusqlite::types::FromSql>(
    connection: &Connection,
    column: &str,
) -> rusqlite::Result<(HashMap<String, T>, u64)> {
    let mut newest = HashMap::new();
    let mut rows = 0;
    let mut stmt = connection.prepare_cached(&format!(
        "SELECT contact_id, {column} FROM live_log ORDER BY seq"
    ))?;
    let mut cursor = stmt.query([])?;
    while let Some(row) = cursor.next()? {
        rows += 1;
        let contact: String = row.get(0)?;
        match row.get::<_, Option<T>>(1)? {
            Some(value) => newest.insert(contact, value),
            None => newest.remove(&contact),
        };
    }
    Ok((newest, rows))
}

/// Move a store made before the table was append-only: one row per live contact.
pub(crate) fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    let old: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'live_contacts')",
        [],
        |r| r.get(0),
    )?;
    if old {
        let tx = connection.unchecked_transaction()?;
        tx.execute_batch(
            "INSERT INTO live_log (contact_id, state) SELECT contact_id, state FROM live_contacts ORDER BY contact_id;
             DROP TABLE live_contacts;",
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        connection
    }

    /// The writer's view of `connection`'s table, removing once `slack` rows are replaced.
    fn view(connection: &Connection, slack: u64) -> LiveLog {
        let mut live = LiveLog::load(connection).unwrap();
        live.replaced_rows_kept = slack;
        live
    }

    fn row_count(connection: &Connection) -> u64 {
        connection
            .query_row("SELECT COUNT(*) FROM live_log", [], |r| r.get(0))
            .unwrap()
    }

    /// One commit: (contact, new state or finish) in order.
    type Commit = Vec<(u8, Option<u16>)>;

    fn apply(connection: &mut Connection, live: &mut LiveLog, commit: &Commit) {
        let tx = connection.transaction().unwrap();
        live.begin(&tx).unwrap();
        for (contact, state) in commit {
            let state = state.map(|s| format!("state {s}"));
            live.write(&tx, &format!("c{contact}"), state.as_deref())
                .unwrap();
        }
        live.compact(&tx).unwrap();
        tx.commit().unwrap();
    }

    proptest! {
        /// Whatever the order of changes and finishes, and however often the table is
        /// compacted or the writer restarted, the states read back are each live
        /// contact's newest, and the table stays near the live contacts' number.
        #[test]
        fn the_newest_state_of_every_live_contact_survives_compaction(
            commits in prop::collection::vec(
                prop::collection::vec((0u8..40, prop::option::weighted(0.8, any::<u16>())), 1..12),
                1..120,
            ),
            restart_every in 5usize..50,
        ) {
            let mut connection = table();
            let mut live = view(&connection, 16);
            let mut expected: HashMap<String, String> = HashMap::new();
            for (i, commit) in commits.iter().enumerate() {
                apply(&mut connection, &mut live, commit);
                for (contact, state) in commit {
                    match state {
                        Some(s) => expected.insert(format!("c{contact}"), format!("state {s}")),
                        None => expected.remove(&format!("c{contact}")),
                    };
                }
                if i % restart_every == 0 {
                    live = view(&connection, 16);
                }
                let mut want: Vec<_> = expected.clone().into_iter().collect();
                want.sort();
                prop_assert_eq!(newest_states(&connection).unwrap(), want);
                // Replaced rows are removed twice as fast as commits add rows, once
                // they are as many as the live contacts.
                prop_assert!(row_count(&connection) <= 2 * expected.len() as u64 + 16 + 2 * 12);
            }
        }
    }

    #[test]
    fn a_contact_that_waits_long_is_carried_forward_not_removed() {
        let mut connection = table();
        let mut live = view(&connection, 8);
        apply(&mut connection, &mut live, &vec![(0, Some(7))]);
        for s in 0..500 {
            apply(
                &mut connection,
                &mut live,
                &vec![(1, Some(s)), (2, Some(s))],
            );
        }
        assert_eq!(
            newest_states(&connection).unwrap(),
            [
                ("c0".to_string(), "state 7".to_string()),
                ("c1".to_string(), "state 499".to_string()),
                ("c2".to_string(), "state 499".to_string()),
            ]
        );
        assert!(row_count(&connection) < 20, "{}", row_count(&connection));
    }

    #[test]
    fn a_backlog_of_waiting_contacts_costs_at_most_one_copy_per_removed_row() {
        let mut connection = table();
        let mut live = view(&connection, 8);
        let waiting: Commit = (0..200).map(|c| (c as u8, Some(c))).collect();
        // 200 waiting contacts (ids wrap at 256: contact ids are u8 here).
        apply(&mut connection, &mut live, &waiting);
        let churn = 3_000u64;
        for s in 0..churn {
            apply(&mut connection, &mut live, &vec![(250, Some(s as u16))]);
        }
        let appended = 200 + churn;
        let last_seq: u64 = connection
            .query_row("SELECT MAX(seq) FROM live_log", [], |r| r.get(0))
            .unwrap();
        let copies = last_seq - appended;
        let removed = last_seq - row_count(&connection);
        assert!(
            copies <= removed - copies,
            "{copies} copies for {removed} rows removed"
        );
        assert_eq!(newest_states(&connection).unwrap().len(), 201);
    }

    #[test]
    fn a_commit_that_failed_does_not_mislead_the_next_removal() {
        let mut connection = table();
        let mut live = view(&connection, 8);
        apply(&mut connection, &mut live, &vec![(0, Some(1))]);
        {
            // Contact 0's newest would be this row; the commit never happens.
            let tx = connection.transaction().unwrap();
            live.write(&tx, "c0", Some("state 2")).unwrap();
        }
        live.rolled_back();
        for s in 0..100 {
            apply(&mut connection, &mut live, &vec![(1, Some(s))]);
        }
        assert_eq!(
            newest_states(&connection).unwrap(),
            [
                ("c0".to_string(), "state 1".to_string()),
                ("c1".to_string(), "state 99".to_string()),
            ]
        );
    }

    #[test]
    fn a_finish_rolled_back_is_written_when_it_comes_again() {
        let mut connection = table();
        let mut live = view(&connection, 8);
        apply(&mut connection, &mut live, &vec![(0, Some(1))]);
        {
            let tx = connection.transaction().unwrap();
            live.write(&tx, "c0", None).unwrap();
        }
        live.rolled_back();
        apply(&mut connection, &mut live, &vec![(0, None)]);
        assert_eq!(newest_states(&connection).unwrap(), []);
    }

    #[test]
    fn finishing_a_contact_with_nothing_kept_writes_nothing() {
        let mut connection = table();
        let mut live = LiveLog::load(&connection).unwrap();
        apply(&mut connection, &mut live, &vec![(3, None)]);
        assert_eq!(row_count(&connection), 0);
    }
}
