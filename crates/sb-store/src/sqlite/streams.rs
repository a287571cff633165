//! The public streams in SQLite: pages by position, retention, consumers' checkpoints.

use super::*;

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
