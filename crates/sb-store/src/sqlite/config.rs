//! Configuration versions in SQLite: the applied history, appended under a write lock.

use super::*;

fn summary_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionSummary> {
    Ok(VersionSummary {
        version: row.get::<_, i64>(0)? as u64,
        created_at: row.get(1)?,
        actor: row.get(2)?,
        summary: row.get(3)?,
        rollback_of: row.get::<_, Option<i64>>(4)?.map(|v| v as u64),
        content_sha256: row.get(5)?,
    })
}

const SUMMARY_COLUMNS: &str = "version, created_at, actor, summary, rollback_of, content_sha256";

impl ConfigStore for SqliteStore {
    fn latest_version(&self) -> Result<Option<ConfigVersion>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, bundle_json FROM config_versions ORDER BY version DESC LIMIT 1"
        );
        Ok(conn
            .query_row(&sql, [], |row| {
                Ok(ConfigVersion {
                    summary: summary_from_row(row)?,
                    bundle_json: row.get(6)?,
                })
            })
            .optional()?)
    }

    fn latest_version_number(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COALESCE(MAX(version), 0) FROM config_versions",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn version(&self, number: u64) -> Result<Option<ConfigVersion>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, bundle_json FROM config_versions WHERE version = ?1"
        );
        Ok(conn
            .query_row(&sql, [number as i64], |row| {
                Ok(ConfigVersion {
                    summary: summary_from_row(row)?,
                    bundle_json: row.get(6)?,
                })
            })
            .optional()?)
    }

    fn versions(&self) -> Result<Vec<VersionSummary>, StoreError> {
        let conn = self.conn();
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM config_versions ORDER BY version");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], summary_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn append_version(
        &self,
        new: NewVersion,
        expect_latest: Option<u64>,
    ) -> Result<VersionSummary, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading the latest number, so two
        // appliers (a CLI and a server on the same data directory) cannot both win.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let latest: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM config_versions",
            [],
            |r| r.get(0),
        )?;
        let latest = latest as u64;
        if let Some(expected) = expect_latest {
            if expected != latest {
                return Err(StoreError::Conflict {
                    expected,
                    actual: latest,
                });
            }
        }
        let summary = VersionSummary {
            version: latest + 1,
            created_at: now(),
            actor: new.actor,
            summary: new.summary,
            rollback_of: new.rollback_of,
            content_sha256: hex::encode(Sha256::digest(new.bundle_json.as_bytes())),
        };
        tx.execute(
            "INSERT INTO config_versions (version, created_at, actor, summary, rollback_of, content_sha256, bundle_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                summary.version as i64,
                summary.created_at,
                summary.actor,
                summary.summary,
                summary.rollback_of.map(|v| v as i64),
                summary.content_sha256,
                new.bundle_json
            ],
        )?;
        tx.commit()?;
        Ok(summary)
    }
}
