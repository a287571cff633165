//! Contact records in SQLite: the newest per contact, searched by their indexed fields,
//! and per-key event reads.

use super::*;

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
