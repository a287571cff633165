//! Wrapped data keys in SQLite: kept, found by customer, re-wrapped, destroyed.

use super::*;

impl KeyStore for SqliteStore {
    fn data_key(&self, owner: &str) -> Result<Option<crate::StoredDataKey>, StoreError> {
        crate::data_keys::get(&self.conn(), owner)
    }

    fn insert_data_key(&self, key: &crate::StoredDataKey) -> Result<(), StoreError> {
        Ok(crate::data_keys::insert(&self.conn(), key)?)
    }

    fn data_key_owners_of_customer(&self, customer_ref: &str) -> Result<Vec<String>, StoreError> {
        crate::data_keys::owners_of_customer(&self.conn(), customer_ref)
    }

    fn data_keys_by_kek(&self) -> Result<Vec<(String, u64)>, StoreError> {
        crate::data_keys::count_by_kek(&self.conn())
    }

    fn rewrap_data_keys(
        &self,
        current_kek: &str,
        rewrap: &dyn Fn(&crate::StoredDataKey) -> Result<crate::StoredDataKey, String>,
    ) -> Result<u64, StoreError> {
        crate::data_keys::rewrap_all(&mut self.conn(), current_kek, rewrap)
    }

    fn erase_flow_logs(&self, contacts: &[String]) -> Result<u64, StoreError> {
        let conn = self.conn();
        conn.pragma_update(None, "secure_delete", "ON")?;
        let tx = conn.unchecked_transaction()?;
        let mut erased = 0;
        {
            let mut delete =
                tx.prepare("DELETE FROM events WHERE stream = 'flow-log' AND key = ?1")?;
            for contact in contacts {
                erased += delete.execute([contact])? as u64;
            }
        }
        tx.commit()?;
        Ok(erased)
    }

    fn destroy_data_keys(&self, owners: &[String]) -> Result<u64, StoreError> {
        crate::data_keys::destroy(&self.conn(), owners)
    }
}
