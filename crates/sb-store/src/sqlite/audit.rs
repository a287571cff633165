//! The audit trail in SQLite: the chain's rows, digests, head and floor, and aging.

use super::*;

impl AuditStore for SqliteStore {
    fn audit_rows(&self, from: u64, to: u64) -> Result<Vec<crate::audit::AuditRow>, StoreError> {
        Ok(crate::audit::read_rows(&self.conn(), from, to)?)
    }

    fn audit_digests(&self) -> Result<Vec<crate::audit::AuditDigest>, StoreError> {
        Ok(crate::audit::read_digests(&self.conn())?)
    }

    fn audit_head(&self) -> Result<(u64, String), StoreError> {
        let head = crate::audit::head(&self.conn())?;
        Ok((head.seq, head.hash))
    }

    fn audit_floor(&self) -> Result<(u64, String), StoreError> {
        Ok(crate::audit::floor(&self.conn())?)
    }

    fn audit_first_online(&self) -> Result<u64, StoreError> {
        Ok(crate::audit::first_online(&self.conn())?)
    }

    fn age_audit(
        &self,
        online_before_ms: i64,
        remove_before_ms: i64,
        vouch: &dyn Fn(u64, &str) -> crate::audit::AuditDigest,
    ) -> Result<crate::audit::AuditAging, StoreError> {
        Ok(crate::audit::age(
            &mut self.conn(),
            online_before_ms,
            remove_before_ms,
            vouch,
        )?)
    }

    fn insert_audit_digest(&self, digest: &crate::audit::AuditDigest) -> Result<(), StoreError> {
        Ok(crate::audit::insert_digest(&self.conn(), digest)?)
    }
}
