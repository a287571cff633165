//! The audit trail against tampering: a record edited, deleted, reordered or forged,
//! a digest deleted, and records cut from the end are each found by `verify`.

use sb_runtime::audit::{append, digest_now, verify, AuditRecord, ExportedDigest};
use sb_runtime::keys::KeyDir;
use sb_store::{EventLog, SqliteStore, Store};

struct Trail {
    dir: tempfile::TempDir,
    store: SqliteStore,
    public_key: String,
    kept: ExportedDigest,
}

/// Ten records with a digest after the fifth and after the tenth; the newest digest is
/// exported, as an operator would keep it outside.
async fn trail() -> Trail {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let keys = KeyDir::open(&KeyDir::beside(dir.path())).unwrap();
    let signer = keys.audit_signer().unwrap();
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    for n in 0..10 {
        let mut r = AuditRecord::now("config:Apply");
        r.user = Some(format!("user{n}"));
        append(&log, &r).await.unwrap();
        if n == 4 || n == 9 {
            digest_now(&store, &signer).unwrap().unwrap();
        }
    }
    drop(log);
    writer.join();
    let newest = store.audit_digests().unwrap().pop().unwrap();
    let public_key = signer.public_key();
    Trail {
        kept: ExportedDigest::of(&newest, &public_key),
        dir,
        store,
        public_key,
    }
}

impl Trail {
    fn sql(&self, statement: &str) {
        let conn = rusqlite::Connection::open(self.dir.path().join("switchboard.db")).unwrap();
        conn.execute_batch(statement).unwrap();
    }

    fn problems(&self) -> Vec<String> {
        let now = jiff::Timestamp::now().as_millisecond();
        verify(
            &self.store,
            &self.public_key,
            None,
            None,
            Some(&self.kept),
            now,
        )
        .unwrap()
        .problems
    }
}

fn says(problems: &[String], what: &str) {
    assert!(
        problems.iter().any(|p| p.contains(what)),
        "expected a problem saying '{what}', got {problems:?}"
    );
}

#[tokio::test]
async fn an_untouched_trail_verifies() {
    let t = trail().await;
    assert_eq!(t.problems(), Vec::<String>::new());
    let report = verify(&t.store, &t.public_key, None, None, None, 0).unwrap();
    assert_eq!((report.records_checked, report.digests_checked), (10, 2));
}

#[tokio::test]
async fn an_edited_record_is_found() {
    let t = trail().await;
    t.sql("UPDATE audit_log SET record = replace(record, 'user3', 'mallory') WHERE seq = 4");
    let p = t.problems();
    says(&p, "record 4: its content was edited");
}

#[tokio::test]
async fn a_deleted_record_is_found() {
    let t = trail().await;
    t.sql("DELETE FROM audit_log WHERE seq = 6");
    says(&t.problems(), "record 6: missing");
}

#[tokio::test]
async fn reordered_records_are_found() {
    let t = trail().await;
    // Swap the contents (and hashes) of records 2 and 3, as one would to reorder them.
    t.sql(
        "CREATE TEMP TABLE s AS SELECT * FROM audit_log WHERE seq IN (2, 3);
         UPDATE audit_log SET record = (SELECT record FROM s WHERE seq = 3), prev_hash = (SELECT prev_hash FROM s WHERE seq = 3), hash = (SELECT hash FROM s WHERE seq = 3) WHERE seq = 2;
         UPDATE audit_log SET record = (SELECT record FROM s WHERE seq = 2), prev_hash = (SELECT prev_hash FROM s WHERE seq = 2), hash = (SELECT hash FROM s WHERE seq = 2) WHERE seq = 3;",
    );
    says(&t.problems(), "not linked to the record before it");
}

#[tokio::test]
async fn a_forged_chain_is_found_by_the_signed_digests() {
    let t = trail().await;
    // The forger edits record 3 and recomputes every hash after it, so the chain is
    // consistent again; without the signing key the digests cannot follow.
    t.sql("UPDATE audit_log SET record = replace(record, 'user2', 'mallory') WHERE seq = 3");
    let rows = t.store.audit_rows(1, 10).unwrap();
    let mut prev = rows[1].hash.clone();
    let conn = rusqlite::Connection::open(t.dir.path().join("switchboard.db")).unwrap();
    for row in &rows[2..] {
        let hash = sb_store::audit::chain_hash(&prev, &row.record);
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, row.seq as i64],
        )
        .unwrap();
        prev = hash;
    }
    let p = t.problems();
    assert!(
        !p.iter().any(|p| p.contains("edited")),
        "the chain itself is consistent: {p:?}"
    );
    says(&p, "does not match its signed digest");
    // A digest forged without the key does not verify either.
    t.sql("UPDATE audit_digests SET signature = CASE WHEN substr(signature, 1, 2) = '00' THEN 'ff' ELSE '00' END || substr(signature, 3) WHERE audit_seq = 5");
    says(&t.problems(), "digest at 5: the signature is not valid");
}

#[tokio::test]
async fn a_deleted_digest_is_found() {
    let t = trail().await;
    t.sql("DELETE FROM audit_digests WHERE audit_seq = 5");
    // Later, the records before the remaining digest are past the grace period.
    let later = jiff::Timestamp::now().as_millisecond() + 10 * 60_000;
    let late_digest = t.store.audit_digests().unwrap();
    assert_eq!(late_digest.len(), 1);
    // Record 1..5 are covered only by the digest at 10, made within the grace period
    // here; so move that digest's time as if it had come an hour later.
    t.sql("UPDATE audit_digests SET at_ms = at_ms + 3600000");
    let p = verify(&t.store, &t.public_key, None, None, None, later + 3_600_000)
        .unwrap()
        .problems;
    says(&p, "a digest is missing");
}

#[tokio::test]
async fn records_cut_from_the_end_are_found_with_a_kept_digest() {
    let t = trail().await;
    t.sql("DELETE FROM audit_log WHERE seq > 7; DELETE FROM audit_digests WHERE audit_seq > 7;");
    let p = t.problems();
    says(&p, "records were removed from the end");
}

#[test]
fn the_key_lives_outside_the_data_directory_and_only_its_owner_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = KeyDir::beside(&data);
    assert_eq!(keys, dir.path().join("data.keys"));
    let signer = KeyDir::open(&keys).unwrap().audit_signer().unwrap();
    let again = KeyDir::open(&keys).unwrap().audit_signer().unwrap();
    assert_eq!(
        signer.public_key(),
        again.public_key(),
        "made once, then reused"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("audit-ed25519.pk8"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// Retention: old records are archived (no longer online, still verified), records past
/// retention are removed, and what remains still verifies from the removed records'
/// last hash; the chain carries on from there.
#[tokio::test]
async fn retention_archives_then_removes_and_the_rest_still_verifies() {
    let t = trail().await;
    let now = jiff::Timestamp::now().as_millisecond();
    let day = 86_400_000_i64;
    // Records 1..=5 are 400 days old; everything older than a second from now goes
    // offline (the stand-in for 90 days).
    t.sql(&format!(
        "UPDATE audit_log SET at_ms = {} WHERE seq <= 5",
        now - 400 * day
    ));
    let aged = t.store.age_audit(now + 1_000, now - 365 * day).unwrap();
    assert_eq!((aged.archived, aged.removed), (10, 5));
    assert_eq!(
        t.store.audit_first_online().unwrap(),
        11,
        "nothing is online"
    );
    assert_eq!(t.store.audit_floor().unwrap().0, 5);
    let report = verify(&t.store, &t.public_key, None, None, Some(&t.kept), now).unwrap();
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.records_checked, 5);
    // The chain continues after the archive.
    let (log, writer) = EventLog::start(t.dir.path()).unwrap();
    append(&log, &AuditRecord::now("config:Apply"))
        .await
        .unwrap();
    drop(log);
    writer.join();
    let rows = t.store.audit_rows(10, 11).unwrap();
    assert_eq!(rows[1].seq, 11);
    assert_eq!(rows[1].prev_hash, rows[0].hash);
    assert_eq!(t.store.audit_first_online().unwrap(), 11);
    // Tampering with the floor is found like any other break in the chain.
    t.sql("UPDATE audit_floor SET hash = 'f00'");
    let report = verify(&t.store, &t.public_key, None, Some(10), None, 0).unwrap();
    says(&report.problems, "record 6: not linked");
}
