//! Credentials and users' sign-in state in SQLite.

use super::*;

impl CredentialStore for SqliteStore {
    fn insert_credential(&self, c: &StoredCredential) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO credentials (id, secret_sha256, principal, role, description, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.id,
                c.secret_sha256,
                c.principal,
                c.role,
                c.description,
                c.created_at
            ],
        )?;
        Ok(())
    }

    fn credential(&self, id: &str) -> Result<Option<StoredCredential>, StoreError> {
        Ok(self
            .lookup_conn()
            .prepare_cached(
                "SELECT id, secret_sha256, principal, role, description, created_at FROM credentials WHERE id = ?1",
            )?
            .query_row(
                [id],
                |r| {
                    Ok(StoredCredential {
                        id: r.get(0)?,
                        secret_sha256: r.get(1)?,
                        principal: r.get(2)?,
                        role: r.get(3)?,
                        description: r.get(4)?,
                        created_at: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn user_login(&self, user: &str) -> Result<Option<crate::UserLogin>, StoreError> {
        let state: Option<String> = self
            .lookup_conn()
            .prepare_cached("SELECT state FROM user_logins WHERE user = ?1")?
            .query_row([user], |r| r.get(0))
            .optional()?;
        state
            .map(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| StoreError::Corrupt(format!("sign-in state of {user}: {e}")))
            })
            .transpose()
    }

    fn save_user_login(&self, login: &crate::UserLogin) -> Result<(), StoreError> {
        let state = serde_json::to_string(login).expect("sign-in state serialises");
        self.conn().execute(
            "INSERT INTO user_logins (user, state) VALUES (?1, ?2)
             ON CONFLICT (user) DO UPDATE SET state = ?2",
            params![login.user, state],
        )?;
        Ok(())
    }

    fn update_user_login(
        &self,
        user: &str,
        change: &mut dyn FnMut(&mut crate::UserLogin),
    ) -> Result<Option<crate::UserLogin>, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading, so another process's update
        // waits for this one instead of reading what this one is about to replace.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let state: Option<String> = tx
            .prepare_cached("SELECT state FROM user_logins WHERE user = ?1")?
            .query_row([user], |r| r.get(0))
            .optional()?;
        let Some(state) = state else {
            return Ok(None);
        };
        let mut login: crate::UserLogin = serde_json::from_str(&state)
            .map_err(|e| StoreError::Corrupt(format!("sign-in state of {user}: {e}")))?;
        change(&mut login);
        let state = serde_json::to_string(&login).expect("sign-in state serialises");
        tx.execute(
            "UPDATE user_logins SET state = ?2 WHERE user = ?1",
            params![user, state],
        )?;
        tx.commit()?;
        Ok(Some(login))
    }

    fn delete_credential(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM credentials WHERE id = ?1", [id])?
            > 0)
    }

    fn credential_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM credentials", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}
