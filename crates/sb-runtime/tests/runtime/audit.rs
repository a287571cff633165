//! The audit trail against tampering: a record edited, deleted, reordered or forged,
//! a digest deleted, and records cut from the end are each found by `verify`.

use sb_runtime::audit::{append, digest_now, verify, AuditRecord, ExportedDigest};
use sb_runtime::keys::KeyDir;
use sb_store::AuditStore;
use sb_store::{EventLog, SqliteStore};

struct Trail {
    dir: tempfile::TempDir,
    store: SqliteStore,
    signer: sb_security::signing::Signer,
    public_key: String,
    kept: ExportedDigest,
}

/// Ten records with a digest after the fifth and after the tenth; the newest digest is
/// exported, as an operator would keep it outside.
async fn trail() -> Trail {
    trail_made(|_| None).await
}

/// [`trail`], record `n` (0-based) made `age_ms(n)` ago where that says.
async fn trail_made(age_ms: impl Fn(usize) -> Option<i64>) -> Trail {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let keys = KeyDir::open(&KeyDir::beside(dir.path())).unwrap();
    let signer = keys.audit_signer().unwrap();
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    for n in 0..10 {
        let mut r = AuditRecord::now("config:Apply");
        r.user = Some(format!("user{n}"));
        match age_ms(n) {
            None => append(&log, &r).await.unwrap(),
            Some(age) => {
                let at_ms = jiff::Timestamp::now().as_millisecond() - age;
                r.at = jiff::Timestamp::from_millisecond(at_ms)
                    .unwrap()
                    .to_string();
                log.append(vec![sb_store::NewEvent {
                    at_ms,
                    stream: sb_store::audit::AUDIT_STREAM.into(),
                    key: r.action.clone(),
                    kind: "AUDIT".into(),
                    payload: serde_json::to_string(&r).unwrap(),
                }])
                .await
                .unwrap();
            }
        }
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
        signer,
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

/// A digest of `seq` as the keeper signs the retention floor.
fn sign_position_for_test(
    signer: &sb_security::signing::Signer,
    seq: u64,
    hash: &str,
) -> sb_store::audit::AuditDigest {
    let at_ms = jiff::Timestamp::now().as_millisecond();
    sb_store::audit::AuditDigest {
        audit_seq: seq,
        at_ms,
        signature: signer.sign(&sb_store::audit::AuditDigest::signed_bytes(
            seq, at_ms, hash,
        )),
        chain_hash: hash.into(),
        key_id: signer.key_id(),
    }
}

/// Rewrite records `from..` as a forger without the signing key would: the content
/// changed, every later hash recomputed (the current way, position and time included),
/// the row times set to now.
fn rechain(t: &Trail, from: u64) {
    let rows = t.store.audit_rows(1, 10).unwrap();
    let mut prev = rows[from as usize - 2].hash.clone();
    let conn = rusqlite::Connection::open(t.dir.path().join("switchboard.db")).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    for row in &rows[from as usize - 1..] {
        let record = row.record.replace("user", "forged-by-attacker");
        let hash = sb_store::audit::row_hash(row.seq, now, &prev, &record);
        conn.execute(
            "UPDATE audit_log SET record = ?1, at_ms = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?5",
            rusqlite::params![record, now, prev, hash, row.seq as i64],
        )
        .unwrap();
        prev = hash;
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
        let hash = sb_store::audit::row_hash(row.seq, row.at_ms, &prev, &row.record);
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
    // The digest at 5 is deleted; the one at 10 was signed an hour after the records.
    t.sql("DELETE FROM audit_digests");
    let an_hour_on = jiff::Timestamp::now().as_millisecond() + 3_600_000;
    let (_, hash) = t.store.audit_head().unwrap();
    let signed = sb_store::audit::AuditDigest {
        audit_seq: 10,
        at_ms: an_hour_on,
        signature: t.signer.sign(&sb_store::audit::AuditDigest::signed_bytes(
            10, an_hour_on, &hash,
        )),
        chain_hash: hash,
        key_id: t.signer.key_id(),
    };
    t.store.insert_audit_digest(&signed).unwrap();
    let p = verify(&t.store, &t.public_key, None, None, None, an_hour_on)
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
    let day = 86_400_000_i64;
    // Records 1..=5 are 400 days old; everything older than a second from now goes
    // offline (the stand-in for 90 days).
    let t = trail_made(|n| (n < 5).then_some(400 * day)).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let aged = t
        .store
        .age_audit(now + 1_000, now - 365 * day, &|seq, hash| {
            sign_position_for_test(&t.signer, seq, hash)
        })
        .unwrap();
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

/// Review H3: a chain rewritten from record 6 without the key, its later digests
/// deleted and its row times set to now, is not intact: nothing vouches for records
/// 6 to 10, which is reported as its own finding once they are past the grace period.
#[tokio::test]
async fn a_rewritten_end_with_its_digests_deleted_is_not_intact() {
    let t = trail().await;
    rechain(&t, 6);
    t.sql("DELETE FROM audit_digests WHERE audit_seq > 5");
    let later = jiff::Timestamp::now().as_millisecond() + 10 * 60_000;
    let report = verify(&t.store, &t.public_key, None, None, None, later).unwrap();
    assert_eq!(
        report.problems,
        Vec::<String>::new(),
        "the chain itself holds"
    );
    let tail = report
        .unsigned_tail
        .expect("records 6 to 10 are vouched for by nothing");
    assert_eq!((tail.from, tail.to), (6, 10));
    // With the kept digest, it is tampering outright.
    let report = verify(&t.store, &t.public_key, None, None, Some(&t.kept), later).unwrap();
    says(&report.problems, "does not match the kept digest");
}

/// A row's time is hashed: moving it (to pass the grace check, or to make retention
/// take a recent record) breaks the chain.
#[tokio::test]
async fn a_moved_row_time_breaks_the_chain() {
    let t = trail().await;
    t.sql("UPDATE audit_log SET at_ms = at_ms - 400 * 86400000 WHERE seq = 7");
    says(&t.problems(), "record 7: its content was edited");
}

/// Review H3: records deleted from the start behind a floor written by hand.
#[tokio::test]
async fn a_deleted_start_behind_a_fake_floor_is_found() {
    let t = trail().await;
    t.sql(
        "INSERT INTO audit_floor SELECT 1, seq, hash FROM audit_log WHERE seq = 5;
         DELETE FROM audit_log WHERE seq <= 5;
         DELETE FROM audit_digests WHERE audit_seq <= 5;",
    );
    says(
        &t.problems(),
        "no signed digest vouches for the retention floor at 5",
    );
}

/// Review M6: the end cut off while its digest is still stored.
#[tokio::test]
async fn a_cut_end_is_found_by_its_own_stored_digest() {
    let t = trail().await;
    t.sql("DELETE FROM audit_log WHERE seq > 7");
    let report = verify(&t.store, &t.public_key, None, None, None, 0).unwrap();
    says(
        &report.problems,
        "a signed digest covers record 10: records were removed from the end",
    );
}

/// Retention removes only an intact prefix: a record tampered with before its removal
/// stays, with everything after it, as evidence.
#[tokio::test]
async fn retention_keeps_a_tampered_record_as_evidence() {
    let t = trail().await;
    let now = jiff::Timestamp::now().as_millisecond();
    let day = 86_400_000_i64;
    t.sql("UPDATE audit_log SET record = replace(record, 'user3', 'mallory') WHERE seq = 4");
    let aged = t
        .store
        .age_audit(now + 1_000, now + 1_000, &|seq, hash| {
            sign_position_for_test(&t.signer, seq, hash)
        })
        .unwrap();
    assert_eq!(aged.removed, 3, "records 1 to 3 only");
    assert_eq!(t.store.audit_floor().unwrap().0, 3);
    let report = verify(&t.store, &t.public_key, None, None, None, now + day).unwrap();
    says(&report.problems, "record 4: its content was edited");
    assert!(
        !report.problems.iter().any(|p| p.contains("floor")),
        "the floor is signed: {:?}",
        report.problems
    );
}
