//! The store conformance suite: every backend must pass the same cases. Each backend
//! instantiates `store_conformance!` with a function that makes an empty store.

use sb_store::{NewVersion, SqliteStore, Store, StoreError, StoredCredential};

fn version(actor: &str, body: &str) -> NewVersion {
    NewVersion {
        actor: actor.into(),
        summary: format!("applied by {actor}"),
        rollback_of: None,
        bundle_json: body.into(),
    }
}

macro_rules! store_conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            fn store() -> (impl Store, Box<dyn std::any::Any>) {
                $make
            }

            #[test]
            fn versions_are_numbered_from_one_and_kept_in_order() {
                let (s, _guard) = store();
                assert!(s.latest_version().unwrap().is_none());
                assert_eq!(s.latest_version_number().unwrap(), 0);
                let v1 = s
                    .append_version(version("alice", "{\"a\":1}"), None)
                    .unwrap();
                let v2 = s.append_version(version("bob", "{\"a\":2}"), None).unwrap();
                assert_eq!((v1.version, v2.version), (1, 2));
                let history = s.versions().unwrap();
                assert_eq!(
                    history.iter().map(|v| v.actor.as_str()).collect::<Vec<_>>(),
                    ["alice", "bob"]
                );
                assert_eq!(
                    s.latest_version().unwrap().unwrap().bundle_json,
                    "{\"a\":2}"
                );
                assert_eq!(s.version(1).unwrap().unwrap().bundle_json, "{\"a\":1}");
                assert_eq!(s.latest_version_number().unwrap(), 2);
                assert!(s.version(3).unwrap().is_none());
            }

            #[test]
            fn identical_content_has_identical_digest() {
                let (s, _guard) = store();
                let a = s.append_version(version("a", "{}"), None).unwrap();
                let b = s.append_version(version("b", "{}"), None).unwrap();
                assert_eq!(a.content_sha256, b.content_sha256);
            }

            #[test]
            fn expected_version_mismatch_is_a_conflict_and_changes_nothing() {
                let (s, _guard) = store();
                s.append_version(version("a", "{}"), Some(0)).unwrap();
                let err = s.append_version(version("b", "{}"), Some(0)).unwrap_err();
                assert!(
                    matches!(
                        err,
                        StoreError::Conflict {
                            expected: 0,
                            actual: 1
                        }
                    ),
                    "{err}"
                );
                assert_eq!(s.versions().unwrap().len(), 1);
                s.append_version(version("b", "{}"), Some(1)).unwrap();
            }

            #[test]
            fn credentials_round_trip() {
                let (s, _guard) = store();
                assert_eq!(s.credential_count().unwrap(), 0);
                let c = StoredCredential {
                    id: "SBK1".into(),
                    secret_sha256: "ab".repeat(32),
                    principal: "bootstrap-admin".into(),
                    role: "Admin".into(),
                    description: "first start".into(),
                    created_at: "2026-11-26T00:00:00Z".into(),
                };
                s.insert_credential(&c).unwrap();
                assert_eq!(s.credential("SBK1").unwrap(), Some(c.clone()));
                assert!(s.credential("nope").unwrap().is_none());
                assert!(s.insert_credential(&c).is_err(), "ids are unique");
                assert_eq!(s.credential_count().unwrap(), 1);
            }
        }
    };
}

fn sqlite() -> (SqliteStore, Box<dyn std::any::Any>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (store, Box::new(dir))
}

store_conformance!(sqlite_backend, sqlite());

#[test]
fn concurrent_appliers_with_the_same_expectation_cannot_both_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    SqliteStore::open(&path).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Separate connections, as a CLI and a server would have.
                let s = SqliteStore::open(&path).unwrap();
                s.append_version(version(&format!("w{i}"), "{}"), Some(0))
                    .is_ok()
            })
        })
        .collect();
    let winners = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(winners, 1);
    assert_eq!(
        SqliteStore::open(&path).unwrap().versions().unwrap().len(),
        1
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("switchboard.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).err().expect("refused");
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer Switchboard"));
}

#[test]
fn an_unwritable_data_directory_is_a_clear_error() {
    let err = SqliteStore::open(std::path::Path::new("/proc/switchboard-data"))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("/proc/switchboard-data"), "{err}");
}

mod event_log {
    use sb_store::{events_after, EventLog, NewEvent, SqliteStore};

    fn event(key: &str, n: usize) -> NewEvent {
        NewEvent {
            at_ms: n as i64,
            stream: "contact".into(),
            key: key.into(),
            kind: "TEST".into(),
            payload: format!("{{\"n\":{n}}}"),
        }
    }

    #[tokio::test]
    async fn appends_are_numbered_in_order_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let (log, writer) = EventLog::start(dir.path()).unwrap();
        let first = log
            .append(vec![event("a", 0), event("a", 1)])
            .await
            .unwrap();
        let second = log.append(vec![event("b", 2)]).await.unwrap();
        assert_eq!((first, second), (1..3, 3..4));
        // Acknowledged means readable by another connection at once.
        let read = events_after(dir.path(), 1, 10).unwrap();
        assert_eq!(read.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(read[1].event, event("b", 2));
        drop(log);
        writer.join();
    }

    #[tokio::test]
    async fn concurrent_appenders_keep_per_key_order() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let (log, writer) = EventLog::start(dir.path()).unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|k| {
                let log = log.clone();
                tokio::spawn(async move {
                    for n in 0..50 {
                        log.append(vec![event(&format!("k{k}"), n)]).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let all = events_after(dir.path(), 0, 10_000).unwrap();
        assert_eq!(all.len(), 800);
        for k in 0..16 {
            let key = format!("k{k}");
            let ns: Vec<i64> = all
                .iter()
                .filter(|r| r.event.key == key)
                .map(|r| r.event.at_ms)
                .collect();
            assert_eq!(ns, (0..50).collect::<Vec<_>>(), "order of {key}");
        }
        drop(log);
        writer.join();
    }
}

#[test]
fn per_key_reads_use_their_index() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("switchboard.db")).unwrap();
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE key = ?1 AND stream = 'chat' ORDER BY seq",
            ["c"],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("chat_by_key"), "{plan}");
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(
        store.events_for("contact", "c", 1).is_err(),
        "only indexed streams are read by key"
    );
}
