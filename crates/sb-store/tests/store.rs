//! The store conformance suite: every backend must pass the same cases. Each backend
//! instantiates `store_conformance!` with a function that makes an empty store.

use sb_store::roles::*;
use sb_store::{NewVersion, SqliteStore, Store, StoreError, StoredCredential, StoredDataKey};

fn version(actor: &str, body: &str) -> NewVersion {
    NewVersion {
        actor: actor.into(),
        summary: format!("applied by {actor}"),
        rollback_of: None,
        bundle_json: body.into(),
    }
}

/// A contact record as the runtime appends it: on the record stream, keyed by contact.
fn record_event(id: &str, record: &serde_json::Value) -> sb_store::NewEvent {
    sb_store::NewEvent {
        at_ms: 0,
        stream: sb_store::RECORD_STREAM.into(),
        key: id.into(),
        kind: "CONTACT_RECORD".into(),
        payload: record.to_string(),
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
            fn concurrent_sign_in_updates_are_never_lost() {
                let (s, _guard) = store();
                assert!(s
                    .update_user_login("nobody", &mut |_| {})
                    .unwrap()
                    .is_none());
                s.save_user_login(&sb_store::UserLogin {
                    user: "alice".into(),
                    ..Default::default()
                })
                .unwrap();
                let s = std::sync::Arc::new(s);
                let threads: Vec<_> = (0..8)
                    .map(|_| {
                        let s = s.clone();
                        std::thread::spawn(move || {
                            for _ in 0..25 {
                                s.update_user_login("alice", &mut |l| l.failures += 1)
                                    .unwrap()
                                    .unwrap();
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                assert_eq!(s.user_login("alice").unwrap().unwrap().failures, 200);
            }

            #[test]
            fn data_keys_are_found_by_customer_rewrapped_at_once_and_destroyed() {
                let (s, _guard) = store();
                let key = |owner: &str, kek: &str, customer: Option<&str>| StoredDataKey {
                    owner: owner.into(),
                    kek_id: kek.into(),
                    wrapped: owner.as_bytes().to_vec(),
                    customer_ref: customer.map(String::from),
                    created_ms: 1,
                };
                s.insert_data_key(&key("c1", "old", Some("cust"))).unwrap();
                s.insert_data_key(&key("c2", "old", Some("cust"))).unwrap();
                s.insert_data_key(&key("c3", "new", None)).unwrap();
                // An existing key is never replaced: it may already seal data.
                s.insert_data_key(&key("c1", "other", None)).unwrap();
                assert_eq!(s.data_key("c1").unwrap().unwrap().kek_id, "old");
                assert_eq!(s.data_key_owners_of_customer("cust").unwrap(), ["c1", "c2"]);
                assert_eq!(
                    s.data_keys_by_kek().unwrap(),
                    [("new".to_string(), 1), ("old".to_string(), 2)]
                );
                // One failure and nothing moves.
                let failing = |k: &StoredDataKey| {
                    if k.owner == "c2" {
                        Err("cannot".to_string())
                    } else {
                        Ok(StoredDataKey {
                            kek_id: "new".into(),
                            ..k.clone()
                        })
                    }
                };
                assert!(s.rewrap_data_keys("new", &failing).is_err());
                assert_eq!(s.data_key("c1").unwrap().unwrap().kek_id, "old");
                let moved = s
                    .rewrap_data_keys("new", &|k| {
                        Ok(StoredDataKey {
                            kek_id: "new".into(),
                            wrapped: b"re".to_vec(),
                            ..k.clone()
                        })
                    })
                    .unwrap();
                assert_eq!(moved, 2);
                assert_eq!(s.data_keys_by_kek().unwrap(), [("new".to_string(), 3)]);
                assert_eq!(s.data_key("c2").unwrap().unwrap().wrapped, b"re");
                assert_eq!(s.destroy_data_keys(&["c1".into(), "c9".into()]).unwrap(), 1);
                assert!(s.data_key("c1").unwrap().is_none());
                assert_eq!(s.data_key_owners_of_customer("cust").unwrap(), ["c2"]);
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
                assert!(s.delete_credential("SBK1").unwrap());
                assert!(!s.delete_credential("SBK1").unwrap(), "already gone");
                assert!(s.credential("SBK1").unwrap().is_none());
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

/// The event log's contract (`sb_store::EventLogBackend`), for every backend: each
/// instantiates `event_log_conformance!` with a function that opens an empty store and
/// starts its log.
macro_rules! event_log_conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            use sb_store::{EventLog, PublicStream, Store};
            use std::sync::Arc;

            fn open() -> (Arc<dyn Store>, EventLog, Box<dyn std::any::Any>) {
                $make
            }

            fn event(stream: &str, key: &str, kind: &str, payload: &str) -> sb_store::NewEvent {
                sb_store::NewEvent {
                    at_ms: 1_795_000_000_000,
                    stream: stream.into(),
                    key: key.into(),
                    kind: kind.into(),
                    payload: payload.into(),
                }
            }

            #[tokio::test]
            async fn batches_commit_in_the_order_submitted_with_rising_positions() {
                let (_store, log, _guard) = open();
                // Submitted back to back, before any commits: order is the calls'.
                let waiting: Vec<_> = (0..5)
                    .map(|n| {
                        let batch = (0..=n)
                            .map(|i| event("contact", &format!("c{n}"), "QUEUED", &i.to_string()))
                            .collect();
                        log.submit(batch).unwrap()
                    })
                    .collect();
                let mut next = None;
                for (n, w) in waiting.into_iter().enumerate() {
                    let range = w.await.unwrap().unwrap();
                    assert_eq!(range.end - range.start, n as u64 + 1, "a batch commits whole");
                    if let Some(expected) = next {
                        assert_eq!(range.start, expected, "positions follow the submit order");
                    }
                    next = Some(range.end);
                }
                assert_eq!(*log.committed().borrow(), next.unwrap() - 1);
                assert_eq!(log.pending(), 0);
            }

            #[tokio::test]
            async fn a_public_stream_reads_exactly_its_own_events_in_order() {
                let (store, log, _guard) = open();
                let mut batch = Vec::new();
                for i in 0..30 {
                    let stream = ["contact", "agent", "chat", "flow-log"][i % 4];
                    batch.push(event(stream, &format!("k{i}"), "X", &format!("{{\"n\":{i}}}")));
                }
                let range = log.append(batch.clone()).await.unwrap();
                for public in PublicStream::ALL {
                    let page = store.read_stream(public, 0, 100).unwrap();
                    let read: Vec<_> = page.events.iter().map(|e| e.event.clone()).collect();
                    let own: Vec<_> = batch
                        .iter()
                        .filter(|e| e.stream == public.internal())
                        .cloned()
                        .collect();
                    assert_eq!(read, own, "{}", public.name());
                    assert!(page.events.windows(2).all(|w| w[0].seq < w[1].seq));
                    assert!(page.events.iter().all(|e| range.contains(&e.seq)));
                    // The stream's head has moved to its own newest event.
                    let newest = page.events.last().map_or(0, |e| e.seq);
                    assert!(*log.stream_committed(public).borrow() >= newest);
                }
            }

            #[tokio::test]
            async fn projections_are_made_in_the_commit_of_their_event() {
                let (store, log, _guard) = open();
                let record = |n: u32| {
                    serde_json::json!({
                        "ContactId": "c1", "InitialContactId": "c1", "Channel": "CHAT",
                        "InitiationMethod": "API", "InitiationTimestamp": "2026-11-26T10:00:00Z",
                        "LastUpdateTimestamp": "2026-11-26T10:00:00Z",
                        "Attributes": {"n": n.to_string()}, "ConfigurationVersion": 1
                    })
                };
                log.append(vec![
                    super::record_event("c1", &record(1)),
                    event(sb_store::LIVE_STREAM, "c1", "STATE", "{\"v\":1}"),
                    event(sb_store::AGENT_STATE_STREAM, "carol", "STATE", "{\"s\":\"Break\"}"),
                ])
                .await
                .unwrap();
                let newest = |store: &dyn Store| {
                    serde_json::from_str::<serde_json::Value>(
                        &store.contact_record("c1").unwrap().unwrap(),
                    )
                    .unwrap()["Attributes"]["n"]
                        .clone()
                };
                assert_eq!(newest(store.as_ref()), "1");
                assert_eq!(
                    store.live_contacts().unwrap(),
                    vec![("c1".to_string(), "{\"v\":1}".to_string())]
                );
                assert_eq!(
                    store.agent_states().unwrap(),
                    vec![("carol".to_string(), "{\"s\":\"Break\"}".to_string())]
                );
                // A later record replaces the projection; a finished contact leaves
                // the live set.
                log.append(vec![
                    super::record_event("c1", &record(2)),
                    event(sb_store::LIVE_STREAM, "c1", "FINISHED", "null"),
                ])
                .await
                .unwrap();
                assert_eq!(newest(store.as_ref()), "2");
                assert!(store.live_contacts().unwrap().is_empty());
            }

            #[tokio::test]
            async fn a_data_key_event_is_kept_as_its_owners_first_key() {
                let (store, log, _guard) = open();
                let key = sb_store::StoredDataKey {
                    owner: "c1".into(),
                    kek_id: "kek-1".into(),
                    wrapped: vec![7; 40],
                    customer_ref: None,
                    created_ms: 0,
                };
                let payload = serde_json::to_string(&key).unwrap();
                log.append(vec![event(sb_store::DATA_KEY_STREAM, "c1", "DATA_KEY", &payload)])
                    .await
                    .unwrap();
                assert_eq!(store.data_key("c1").unwrap(), Some(key.clone()));
                // The first key of an owner is kept: a second event does not replace it.
                let other = sb_store::StoredDataKey {
                    wrapped: vec![9; 40],
                    ..key.clone()
                };
                let payload = serde_json::to_string(&other).unwrap();
                log.append(vec![event(sb_store::DATA_KEY_STREAM, "c1", "DATA_KEY", &payload)])
                    .await
                    .unwrap();
                assert_eq!(store.data_key("c1").unwrap(), Some(key));
            }
        }
    };
}

fn sqlite_with_log() -> (
    std::sync::Arc<dyn Store>,
    sb_store::EventLog,
    Box<dyn std::any::Any>,
) {
    let dir = tempfile::tempdir().unwrap();
    let backend = sb_store::Backend::Sqlite {
        dir: dir.path().to_path_buf(),
    };
    let store = backend.open_store().unwrap();
    let (log, writer) = backend.start_log().unwrap();
    // Kept for the test's length: the writer's thread and the directory it writes in.
    struct Guard {
        _writer: sb_store::EventLogWriter,
        _dir: tempfile::TempDir,
    }
    let guard = Guard {
        _writer: writer,
        _dir: dir,
    };
    (store, log, Box::new(guard))
}

event_log_conformance!(sqlite_event_log, sqlite_with_log());

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
fn a_store_kept_one_row_per_live_contact_keeps_its_contacts_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    // The table as schema version 3 had it, with two live contacts.
    let conn = rusqlite::Connection::open(dir.path().join("switchboard.db")).unwrap();
    conn.execute_batch(
        "DROP TABLE live_log;
         CREATE TABLE live_contacts (contact_id TEXT PRIMARY KEY, state TEXT NOT NULL);
         INSERT INTO live_contacts VALUES ('b', 'state of b'), ('a', 'state of a');
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.live_contacts().unwrap(),
        [
            ("a".to_string(), "state of a".to_string()),
            ("b".to_string(), "state of b".to_string())
        ]
    );
    drop(store);
    // Moved once: opening again finds them where they went.
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.live_contacts().unwrap().len(), 2);
}

#[test]
fn an_unwritable_data_directory_is_a_clear_error() {
    let err = SqliteStore::open(std::path::Path::new("/proc/switchboard-data"))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("/proc/switchboard-data"), "{err}");
}

mod event_log {
    #[allow(unused_imports)]
    use sb_store::roles::*;
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
    async fn a_data_key_event_lands_in_its_table_and_never_in_the_log() {
        use sb_store::{StoredDataKey, DATA_KEY_STREAM};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (log, writer) = EventLog::start(dir.path()).unwrap();
        let key = StoredDataKey {
            owner: "c1".into(),
            kek_id: "k".into(),
            wrapped: vec![1, 2, 3],
            customer_ref: Some("r".into()),
            created_ms: 5,
        };
        let range = log
            .append(vec![
                NewEvent {
                    at_ms: 5,
                    stream: DATA_KEY_STREAM.into(),
                    key: "c1".into(),
                    kind: "DATA_KEY".into(),
                    payload: serde_json::to_string(&key).unwrap(),
                },
                event("c1", 1),
            ])
            .await
            .unwrap();
        drop(log);
        writer.join();
        assert_eq!(range, 1..2, "only the contact event took a position");
        assert_eq!(store.data_key("c1").unwrap(), Some(key));
        let all = events_after(dir.path(), 0, 10).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].event.stream, "contact");
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

mod streams {
    #[allow(unused_imports)]
    use sb_store::roles::*;
    use sb_store::{EventLog, NewEvent, PublicStream, SqliteStore, StoreError};

    fn event(stream: &str, key: &str, at_ms: i64) -> NewEvent {
        NewEvent {
            at_ms,
            stream: stream.into(),
            key: key.into(),
            kind: "TEST".into(),
            payload: "{}".into(),
        }
    }

    /// Events on every internal stream, interleaved, at times 0..n.
    async fn mixed_log(dir: &std::path::Path, n: i64) {
        drop(SqliteStore::open(dir).unwrap());
        let (log, writer) = EventLog::start(dir).unwrap();
        for t in 0..n {
            let stream =
                ["contact", "agent", "chat", "record", "other", "flow-log"][t as usize % 6];
            log.append(vec![event(stream, &format!("k{}", t % 3), t)])
                .await
                .unwrap();
        }
        drop(log);
        writer.join();
    }

    #[tokio::test]
    async fn a_stream_holds_only_its_events_in_order_and_pages_by_position() {
        let dir = tempfile::tempdir().unwrap();
        mixed_log(dir.path(), 60).await;
        let store = SqliteStore::open(dir.path()).unwrap();
        let page = store
            .read_stream(PublicStream::ContactEvents, 0, 4)
            .unwrap();
        let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 7, 13, 19]);
        assert!(page.events.iter().all(|e| e.event.stream == "contact"));
        let next = store
            .read_stream(PublicStream::ContactEvents, 19, 100)
            .unwrap();
        assert_eq!(next.events.len(), 6);
        assert!(next.events.iter().all(|e| e.seq > 19));
        let records = store
            .read_stream(PublicStream::ContactRecords, 0, 100)
            .unwrap();
        assert_eq!(records.events.len(), 10);
    }

    #[tokio::test]
    async fn retention_trims_old_events_and_names_the_earliest_position() {
        let dir = tempfile::tempdir().unwrap();
        mixed_log(dir.path(), 60).await;
        let store = SqliteStore::open(dir.path()).unwrap();
        // Agent events are at times 1, 7, 13, ...: those before 20 go.
        let trimmed = store.trim_stream(PublicStream::AgentEvents, 20).unwrap();
        assert_eq!(trimmed, 4);
        let err = store
            .read_stream(PublicStream::AgentEvents, 0, 10)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::BeforeRetention(ref b) if b.floor == 20),
            "{err}"
        );
        assert!(
            err.to_string().contains("earliest available is after=20"),
            "{err}"
        );
        let page = store
            .read_stream(PublicStream::AgentEvents, 20, 10)
            .unwrap();
        assert_eq!(page.events.first().map(|e| e.seq), Some(26));
        assert_eq!(page.floor, 20);
        // Other streams are untouched, and trimming again removes nothing new.
        assert_eq!(
            store
                .read_stream(PublicStream::ContactEvents, 0, 100)
                .unwrap()
                .events
                .len(),
            10
        );
        assert_eq!(store.trim_stream(PublicStream::AgentEvents, 20).unwrap(), 0);
    }

    #[test]
    fn checkpoints_are_per_consumer_and_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store
                .checkpoint("etl", PublicStream::ContactEvents)
                .unwrap(),
            None
        );
        store
            .save_checkpoint(
                "etl",
                PublicStream::ContactEvents,
                42,
                sb_store::CheckpointWriter::Owner("ci"),
            )
            .unwrap();
        store
            .save_checkpoint(
                "etl",
                PublicStream::ContactEvents,
                57,
                sb_store::CheckpointWriter::Owner("ci"),
            )
            .unwrap();
        store
            .save_checkpoint(
                "wallboard",
                PublicStream::ContactEvents,
                3,
                sb_store::CheckpointWriter::Owner("ci"),
            )
            .unwrap();
        assert_eq!(
            store
                .checkpoint("etl", PublicStream::ContactEvents)
                .unwrap(),
            Some(57)
        );
        assert_eq!(
            store.checkpoint("etl", PublicStream::AgentEvents).unwrap(),
            None
        );
        // Review L4: another principal cannot move it; an administrator can.
        assert_eq!(
            store
                .save_checkpoint(
                    "etl",
                    PublicStream::ContactEvents,
                    1,
                    sb_store::CheckpointWriter::Owner("frank")
                )
                .unwrap(),
            sb_store::CheckpointSaved::OwnedBy("ci".into())
        );
        assert_eq!(
            store
                .checkpoint("etl", PublicStream::ContactEvents)
                .unwrap(),
            Some(57)
        );
        assert_eq!(
            store
                .save_checkpoint(
                    "etl",
                    PublicStream::ContactEvents,
                    50,
                    sb_store::CheckpointWriter::Administrator("erin")
                )
                .unwrap(),
            sb_store::CheckpointSaved::Saved
        );
        assert_eq!(
            store
                .checkpoint("etl", PublicStream::ContactEvents)
                .unwrap(),
            Some(50)
        );
        assert_eq!(
            store
                .save_checkpoint(
                    "etl",
                    PublicStream::ContactEvents,
                    57,
                    sb_store::CheckpointWriter::Owner("ci")
                )
                .unwrap(),
            sb_store::CheckpointSaved::Saved,
            "still the owner's"
        );
        // Durable: a new opener sees it.
        drop(store);
        let again = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            again
                .checkpoint("wallboard", PublicStream::ContactEvents)
                .unwrap(),
            Some(3)
        );
    }

    #[test]
    fn stream_pages_use_their_index() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = rusqlite::Connection::open(dir.path().join("switchboard.db")).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE stream = 'agent' AND seq > ?1 ORDER BY seq LIMIT 10",
                [0],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("agent_events_by_seq"), "{plan}");
    }

    #[tokio::test]
    async fn the_log_announces_each_durable_position() {
        let dir = tempfile::tempdir().unwrap();
        mixed_log(dir.path(), 5).await;
        let (log, writer) = EventLog::start(dir.path()).unwrap();
        let mut committed = log.committed();
        assert_eq!(*committed.borrow(), 5, "starts at the newest durable event");
        log.append(vec![event("contact", "a", 9), event("agent", "b", 9)])
            .await
            .unwrap();
        committed.changed().await.unwrap();
        assert_eq!(*committed.borrow(), 7);
        drop(log);
        writer.join();
    }
}

mod intervals {
    use sb_store::intervals::{column_names, IntervalRow};
    #[allow(unused_imports)]
    use sb_store::roles::*;
    use sb_store::{EventLog, NewEvent, SqliteStore};
    use serde_json::json;

    fn record(id: &str, disconnect: &str, acw_seconds: Option<u64>) -> NewEvent {
        let mut agent = json!({
            "Username": "carol", "RoutingProfile": "Front",
            "ConnectedToAgentTimestamp": "2026-11-26T10:00:12Z",
            "AgentInteractionDuration": 100, "CustomerHoldDuration": 20,
            "NumberOfHolds": 1, "LongestHoldDuration": 20
        });
        if let Some(acw) = acw_seconds {
            agent["AfterContactWorkDuration"] = json!(acw);
        }
        let record = json!({
            "ContactId": id, "InitialContactId": id, "Channel": "CHAT",
            "InitiationMethod": "API", "InitiationTimestamp": "2026-11-26T10:00:00Z",
            "DisconnectTimestamp": disconnect, "LastUpdateTimestamp": disconnect,
            "DisconnectReason": "AGENT_DISCONNECT",
            "Queue": {"Name": "Billing", "EnqueueTimestamp": "2026-11-26T10:00:02Z", "Duration": 10},
            "Agent": agent, "AgentConnectionAttempts": 2, "Attributes": {},
            "ConfigurationVersion": 1
        });
        super::record_event(id, &record)
    }

    fn value(row: &IntervalRow, name: &str) -> i64 {
        let i = column_names().iter().position(|c| c == name).unwrap();
        row.values[i]
    }

    #[tokio::test]
    async fn a_record_counts_once_in_its_disconnect_interval_even_when_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let (log, writer) = EventLog::start(dir.path()).unwrap();
        // Written at disconnect, then again when after-contact work ends.
        log.append(vec![record("c1", "2026-11-26T10:07:00Z", None)])
            .await
            .unwrap();
        log.append(vec![record("c1", "2026-11-26T10:07:00Z", Some(30))])
            .await
            .unwrap();
        log.append(vec![record("c2", "2026-11-26T10:20:00Z", Some(10))])
            .await
            .unwrap();
        drop(log);
        writer.join();
        let store = SqliteStore::open(dir.path()).unwrap();
        let day = (1_795_651_200_000, 1_795_737_600_000); // 2026-11-26 UTC
        let queue_rows = store.interval_rows(day.0, day.1, false).unwrap();
        assert_eq!(
            queue_rows.len(),
            2,
            "10:00 and 10:15 intervals: {queue_rows:?}"
        );
        let first = &queue_rows
            .iter()
            .find(|r| r.interval_ms == day.0 + 10 * 3_600_000)
            .unwrap();
        assert_eq!(
            (
                first.queue.as_str(),
                first.channel.as_str(),
                first.agent.as_str()
            ),
            ("Billing", "CHAT", "")
        );
        assert_eq!(
            value(first, "handled"),
            1,
            "the rewrite replaced, not added"
        );
        assert_eq!(value(first, "records"), 1);
        assert_eq!(value(first, "acw_ms"), 30_000);
        assert_eq!(
            value(first, "handle_ms"),
            150_000,
            "talk 100 + hold 20 + ACW 30"
        );
        assert_eq!(
            value(first, "answer_ms"),
            10_000,
            "enqueued 10:00:02, connected 10:00:12"
        );
        assert_eq!(value(first, "within_15"), 1);
        assert_eq!(value(first, "within_20"), 1);
        assert_eq!(
            value(first, "non_response"),
            1,
            "two attempts, one answered"
        );
        let agent_rows = store.interval_rows(day.0, day.1, true).unwrap();
        let _ = &agent_rows;
        assert_eq!(agent_rows.len(), 2);
        assert!(agent_rows
            .iter()
            .all(|r| r.agent == "carol" && r.profile == "Front"));
    }
}

mod sql {
    #[allow(unused_imports)]
    use sb_store::roles::*;
    use std::time::Duration;

    use sb_store::query::QueryError;
    use sb_store::{EventLog, NewEvent, SqliteStore, StoredCredential};

    async fn store_with_events() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .insert_credential(&StoredCredential {
                id: "Ksecret".into(),
                secret_sha256: "hash-marker".into(),
                principal: "admin".into(),
                role: "Admin".into(),
                description: String::new(),
                created_at: String::new(),
            })
            .unwrap();
        let (log, writer) = EventLog::start(dir.path()).unwrap();
        let events = (0..30)
            .map(|n| NewEvent {
                at_ms: n,
                stream: ["agent", "contact", "live"][n as usize % 3].into(),
                key: format!("k{}", n % 2),
                kind: "STATE_CHANGE".into(),
                payload: format!("{{\"n\":{n}}}"),
            })
            .collect();
        log.append(events).await.unwrap();
        drop(log);
        writer.join();
        (dir, store)
    }

    const LIMIT: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn documented_tables_are_readable_with_sqlite_functions() {
        let (_dir, store) = store_with_events().await;
        let result = store
            .query(
                "SELECT agent, COUNT(*) AS n, MAX(json_extract(payload, '$.n')) AS last FROM agent_events GROUP BY agent ORDER BY agent",
                &[],
                100,
                LIMIT,
            )
            .unwrap();
        assert_eq!(result.columns, ["agent", "n", "last"]);
        assert_eq!(result.rows.len(), 2);
        assert_eq!(result.rows[0][1], 5);
        let contacts = store
            .query("SELECT * FROM contact_events", &[], 3, LIMIT)
            .unwrap();
        assert_eq!(contacts.rows.len(), 3);
        assert!(contacts.truncated, "ten rows matched, three allowed");
        store
            .query("SELECT COUNT(*) FROM contact_records", &[], 1, LIMIT)
            .unwrap();
        store
            .query("SELECT COUNT(*) FROM metric_intervals", &[], 1, LIMIT)
            .unwrap();
    }

    #[tokio::test]
    async fn writes_and_undocumented_tables_are_refused_and_change_nothing() {
        let (_dir, store) = store_with_events().await;
        for sql in [
            "SELECT * FROM credentials",
            "SELECT secret_sha256 FROM credentials",
            "SELECT payload FROM events WHERE stream = 'live'",
            "SELECT * FROM config_versions",
            "SELECT * FROM live_log",
            "DELETE FROM contact_records",
            "UPDATE metric_intervals SET handled = 0",
            "INSERT INTO stream_checkpoints VALUES ('x', 'y', 1, '')",
            "DROP TABLE contact_records",
            "PRAGMA writable_schema = 1",
            "ATTACH DATABASE '/tmp/x.db' AS x",
            "CREATE TABLE t (x)",
            "SELECT * FROM agent_events UNION SELECT seq, at_ms, id, role, secret_sha256 FROM credentials",
            "WITH c AS (SELECT * FROM credentials) SELECT * FROM c",
            // Review M1: a CTE named like a view reads what only the view may.
            "WITH agent_events AS (SELECT stream, kind, payload FROM events) SELECT * FROM agent_events",
            "WITH contact_events AS (SELECT payload FROM main.contact_events) SELECT payload FROM contact_events",
            "WITH Contact_Records(r) AS MATERIALIZED (SELECT record FROM main.contact_records) SELECT r FROM Contact_Records",
            "WITH x AS (SELECT 1), \"agent_events\" AS (SELECT payload FROM events) SELECT * FROM agent_events",
            // Review L3 and D-list: the schema and virtual tables say what is stored.
            "SELECT name, ncell, payload FROM dbstat WHERE name = 'credentials'",
            "SELECT name, sql FROM sqlite_master",
            "SELECT name FROM sqlite_schema",
        ] {
            let err = store.query(
                sql,
                &[], 10, LIMIT).unwrap_err();
            assert!(
                matches!(err, QueryError::Refused(_) | QueryError::Invalid(_)),
                "{sql}: {err}"
            );
            assert!(!err.to_string().contains("hash-marker"), "{sql}: {err}");
        }
        let err = store
            .query("SELECT 1; SELECT 2", &[], 10, LIMIT)
            .unwrap_err();
        assert!(err.to_string().contains("one statement"), "{err}");
        assert!(store
            .query("SELECT 1; DELETE FROM contact_records", &[], 10, LIMIT)
            .is_err());
        assert!(
            store.credential("Ksecret").unwrap().is_some(),
            "nothing changed"
        );
        assert!(store
            .query("SELECT * FROM no_such_table", &[], 1, LIMIT)
            .is_err());
    }

    #[tokio::test]
    async fn a_query_cannot_make_a_result_larger_than_its_caps() {
        let (_dir, store) = store_with_events().await;
        // Values past the length cap are not made (review H6: 8 × 50 MB took the server
        // to 1.2 GB): SQLite refuses them, or printf gives NULL.
        let err = store
            .query(
                "SELECT length(zeroblob(50000000)), length(randomblob(50000000))",
                &[],
                10,
                LIMIT,
            )
            .unwrap_err();
        assert!(err.to_string().contains("KiB"), "{err}");
        let made = store
            .query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 8) SELECT x, printf('%.*c', 50000000, 'x') FROM c",
                &[],
                10,
                LIMIT,
            )
            .map(|r| r.rows.iter().flatten().map(|v| v.to_string().len()).max());
        assert!(matches!(made, Err(_) | Ok(Some(..=1024))), "{made:?}");
        // Many values under it, together past the result's cap.
        let err = store
            .query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 100) SELECT printf('%.*c', 1000000, 'x') FROM c",
                &[],
                10_000,
                LIMIT,
            )
            .unwrap_err();
        assert!(matches!(err, QueryError::TooLarge), "{err}");
        // A CTE of its own name still works, and so do strings and comments that
        // merely look like one.
        let ok = store
            .query(
                "WITH per_queue(q, n) AS (SELECT queue, COUNT(*) FROM contact_records GROUP BY queue) SELECT 'agent_events AS (', n /* events AS ( */ FROM per_queue",
                &[],
                10,
                LIMIT,
            )
            .unwrap();
        assert_eq!(ok.columns.len(), 2);
    }

    #[tokio::test]
    async fn a_runaway_query_is_stopped_at_its_time_limit() {
        let (_dir, store) = store_with_events().await;
        let err = store
            .query(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n",
                &[],
                1,
                Duration::from_millis(200),
            )
            .unwrap_err();
        assert!(matches!(err, QueryError::TimedOut(_)), "{err}");
    }
}

#[tokio::test]
async fn agent_time_is_split_across_the_intervals_it_covers() {
    use sb_store::intervals::column_names;
    use sb_store::{EventLog, NewEvent, SqliteStore, AGENT_TIME_STREAM};
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    let day = 1_795_651_200_000i64;
    let span = |state: &str, from: i64, to: i64| {
        NewEvent {
        at_ms: to,
        stream: AGENT_TIME_STREAM.into(),
        key: "carol".into(),
        kind: "AGENT_TIME".into(),
        payload: serde_json::json!({"Agent": "carol", "RoutingProfile": "Front", "State": state, "FromMs": from, "ToMs": to}).to_string(),
    }
    };
    // Available 10:10-10:20 (five minutes in each of two intervals), on contact 10:20-10:25.
    let at = |h: i64, m: i64| day + h * 3_600_000 + m * 60_000;
    log.append(vec![
        span("available", at(10, 10), at(10, 20)),
        span("on_contact", at(10, 20), at(10, 25)),
    ])
    .await
    .unwrap();
    drop(log);
    writer.join();
    let store = SqliteStore::open(dir.path()).unwrap();
    let rows = store.interval_rows(day, day + 86_400_000, true).unwrap();
    let names = column_names();
    let col = |name: &str| names.iter().position(|c| c == name).unwrap();
    let mut by_interval: Vec<(i64, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.interval_ms,
                r.values[col("agent_available_ms")],
                r.values[col("agent_on_contact_ms")],
            )
        })
        .collect();
    by_interval.sort();
    assert_eq!(
        by_interval,
        [(at(10, 0), 300_000, 0), (at(10, 15), 300_000, 300_000)],
        "{rows:?}"
    );
    assert!(rows
        .iter()
        .all(|r| r.agent == "carol" && r.queue.is_empty()));
}

#[tokio::test]
async fn sql_never_reads_a_sensitive_attribute() {
    use sb_store::{EventLog, NewEvent, SqliteStore, RECORD_STREAM};
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    let record = serde_json::json!({
        "ContactId": "c1", "InitialContactId": "c1", "Channel": "CHAT", "InitiationMethod": "API",
        "InitiationTimestamp": "2026-11-26T10:00:00Z", "LastUpdateTimestamp": "2026-11-26T10:00:00Z",
        "AgentConnectionAttempts": 0, "ConfigurationVersion": 1,
        "Attributes": {"card": "MARKER-4111", "order": "A-1001"}
    });
    log.append(vec![
        NewEvent {
            at_ms: 1,
            stream: RECORD_STREAM.into(),
            key: "c1".into(),
            kind: "CONTACT_RECORD".into(),
            payload: record.to_string(),
        },
        NewEvent {
            at_ms: 2,
            stream: "contact".into(),
            key: "c1".into(),
            kind: "ATTRIBUTES_UPDATED".into(),
            payload: serde_json::json!({"ContactId": "c1", "Attributes": {"card": "MARKER-4111"}})
                .to_string(),
        },
    ])
    .await
    .unwrap();
    drop(log);
    writer.join();
    let store = SqliteStore::open(dir.path()).unwrap();
    let sensitive = ["card".to_string()];
    let limit = std::time::Duration::from_secs(2);
    let all = |sql: &str| store.query(sql, &sensitive, 100, limit);
    let records = all("SELECT record FROM contact_records").unwrap();
    let text = serde_json::to_string(&records.rows).unwrap();
    assert!(!text.contains("MARKER"), "{text}");
    assert!(
        text.contains("A-1001"),
        "other attributes stay readable: {text}"
    );
    let events = all("SELECT payload FROM contact_events").unwrap();
    assert!(!serde_json::to_string(&events.rows)
        .unwrap()
        .contains("MARKER"));
    for sneaky in [
        "SELECT record FROM main.contact_records",
        "SELECT payload FROM main.contact_events",
        "SELECT payload FROM events",
        "SELECT json_extract(record, '$.Attributes.card') FROM main.contact_records",
    ] {
        match all(sneaky) {
            Ok(r) => panic!("{sneaky} was allowed: {:?}", r.rows),
            Err(e) => assert!(!e.to_string().contains("MARKER"), "{e}"),
        }
    }
    // Without sensitive attributes configured, values are as stored.
    let plain = store
        .query("SELECT record FROM contact_records", &[], 10, limit)
        .unwrap();
    assert!(serde_json::to_string(&plain.rows)
        .unwrap()
        .contains("MARKER"));
}

#[tokio::test]
async fn positions_are_the_events_own_whatever_they_project_into() {
    use sb_store::{EventLog, NewEvent, SqliteStore, LIVE_STREAM, RECORD_STREAM};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    let event = |stream: &str, key: &str, payload: &str| NewEvent {
        at_ms: 1,
        stream: stream.into(),
        key: key.into(),
        kind: "X".into(),
        payload: payload.into(),
    };
    let mut committed = log.committed();
    // Each projects into a table with rows of its own (live state, records, the audit
    // chain); the positions answered are still the events'.
    let range = log
        .append(vec![
            event("contact", "a", "{}"),
            event(LIVE_STREAM, "a", "{\"s\":1}"),
            event(RECORD_STREAM, "a", "{\"ContactId\":\"a\"}"),
            event(sb_store::audit::AUDIT_STREAM, "x", "{}"),
            event("agent", "b", "{}"),
        ])
        .await
        .unwrap();
    // The live state and the audit record are kept in their projections only.
    assert_eq!(range, 1..4);
    committed.changed().await.unwrap();
    assert_eq!(*committed.borrow(), 3);
    assert_eq!(
        store.live_contacts().unwrap(),
        [("a".to_string(), "{\"s\":1}".to_string())]
    );
    drop(log);
    writer.join();
}

#[tokio::test]
async fn an_agents_state_is_kept_newest_only_and_outside_the_events() {
    use sb_store::{EventLog, NewEvent, SqliteStore, AGENT_STATE_STREAM};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let state = |agent: &str, payload: &str| NewEvent {
        at_ms: 1,
        stream: AGENT_STATE_STREAM.into(),
        key: agent.into(),
        kind: "STATE".into(),
        payload: payload.into(),
    };
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    log.append(vec![state("bob", "{\"s\":1}"), state("ann", "{\"s\":1}")])
        .await
        .unwrap();
    log.append(vec![state("bob", "{\"s\":2}")]).await.unwrap();
    drop(log);
    writer.join();
    assert_eq!(
        store.agent_states().unwrap(),
        [
            ("ann".to_string(), "{\"s\":1}".to_string()),
            ("bob".to_string(), "{\"s\":2}".to_string()),
        ]
    );
    assert_eq!(
        store
            .read_stream(sb_store::PublicStream::AgentEvents, 0, 10)
            .unwrap()
            .events
            .len(),
        0,
        "not an agent event"
    );
}

#[tokio::test]
async fn live_states_replaced_many_times_leave_the_newest_and_few_rows() {
    use sb_store::{EventLog, NewEvent, SqliteStore, LIVE_STREAM};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let state = |key: &str, payload: String| NewEvent {
        at_ms: 1,
        stream: LIVE_STREAM.into(),
        key: key.into(),
        kind: "STATE".into(),
        payload,
    };
    // A contact that waits the whole time, written once at the start.
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    log.append(vec![state("waiting", "{\"s\":0}".into())])
        .await
        .unwrap();
    drop(log);
    writer.join();
    // Around it, 3,000 contacts each change three times and finish, in two rounds with
    // the writer restarted between (it reads back which rows are whose newest).
    for round in 0..2 {
        let (log, writer) = EventLog::start(dir.path()).unwrap();
        for c in 0..1_500 {
            let key = format!("r{round}c{c}");
            let mut batch: Vec<_> = (1..=3)
                .map(|s| state(&key, format!("{{\"s\":{s}}}")))
                .collect();
            batch.push(state(&key, "null".into()));
            log.append(batch).await.unwrap();
        }
        log.append(vec![state(&format!("r{round}last"), "{\"s\":9}".into())])
            .await
            .unwrap();
        drop(log);
        writer.join();
    }
    assert_eq!(
        store.live_contacts().unwrap(),
        [
            ("r0last".to_string(), "{\"s\":9}".to_string()),
            ("r1last".to_string(), "{\"s\":9}".to_string()),
            ("waiting".to_string(), "{\"s\":0}".to_string()),
        ]
    );
    // 12,000 rows were appended; replaced ones beyond a few thousand were removed.
    let rows: u64 = rusqlite::Connection::open(dir.path().join("switchboard.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM live_log", [], |r| r.get(0))
        .unwrap();
    assert!(rows < 5_000, "{rows} rows kept");
}

#[tokio::test]
async fn the_log_is_copied_back_into_the_database_as_it_grows() {
    use sb_store::{EventLog, NewEvent, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let _store = SqliteStore::open(dir.path()).unwrap();
    let database = dir.path().join("switchboard.db");
    let before = std::fs::metadata(&database).unwrap().len();
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    // About 8 MB in 50 commits: past the pages at which the checkpointer copies, far
    // below those at which the writer would copy itself.
    let payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(16_000));
    for batch in 0..50 {
        let events = (0..10)
            .map(|i| NewEvent {
                at_ms: 1,
                stream: "contact".into(),
                key: format!("c{batch}-{i}"),
                kind: "X".into(),
                payload: payload.clone(),
            })
            .collect();
        log.append(events).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&database).unwrap().len() < before + 3_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {} bytes",
            std::fs::metadata(&database).unwrap().len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(log);
    writer.join();
}

mod record_search {
    #[allow(unused_imports)]
    use sb_store::roles::*;
    use sb_store::{EventLog, NewEvent, RecordFilter, RecordPlace, SqliteStore};
    use serde_json::json;

    fn record(id: &str, initiated: &str, queue: &str) -> NewEvent {
        let record = json!({
            "ContactId": id, "InitialContactId": id, "Channel": "CHAT",
            "InitiationMethod": "API", "InitiationTimestamp": initiated,
            "DisconnectTimestamp": "2026-11-26T11:00:00Z", "LastUpdateTimestamp": "2026-11-26T11:00:00Z",
            "Queue": {"Name": queue, "EnqueueTimestamp": initiated}, "Attributes": {},
            "AgentConnectionAttempts": 0,
            "ConfigurationVersion": 1
        });
        super::record_event(id, &record)
    }

    fn filter(queue: Option<&str>, limit: usize, after: Option<RecordPlace>) -> RecordFilter {
        RecordFilter {
            from_ms: 0,
            to_ms: i64::MAX,
            queue: queue.map(str::to_string),
            agent: None,
            channel: None,
            attribute: None,
            limit,
            after,
        }
    }

    fn ids(records: &[String]) -> Vec<String> {
        records
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(r).unwrap()["ContactId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_search_pages_in_initiation_order_without_gaps_or_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (log, writer) = EventLog::start(dir.path()).unwrap();
        // Eleven contacts, several initiated in the same millisecond, written out of
        // order, two queues.
        let mut events = Vec::new();
        for (n, id) in ["k", "c", "a", "j", "b", "e", "d", "i", "f", "h", "g"]
            .iter()
            .enumerate()
        {
            let second = n % 4;
            let queue = if n % 3 == 0 { "Returns" } else { "Billing" };
            events.push(record(
                id,
                &format!("2026-11-26T10:00:0{second}.250Z"),
                queue,
            ));
        }
        log.append(events).await.unwrap();
        drop(log);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .unwrap();

        let everything = store.search_records(&filter(None, 100, None)).unwrap();
        assert_eq!(everything.next, None);
        let order = ids(&everything.records);
        // By initiation time, then by contact id within the same millisecond.
        assert_eq!(
            order,
            ["b", "f", "k", "c", "e", "h", "a", "d", "g", "i", "j"]
        );

        for size in [1, 2, 3, 5, 11] {
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let page = store.search_records(&filter(None, size, after)).unwrap();
                assert!(page.records.len() <= size);
                paged.extend(ids(&page.records));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(paged, order, "pages of {size}");
        }

        // Filters hold on every page.
        let first = store
            .search_records(&filter(Some("Returns"), 2, None))
            .unwrap();
        let second = store
            .search_records(&filter(Some("Returns"), 2, first.next.clone()))
            .unwrap();
        assert_eq!(ids(&first.records), ["k", "h"]);
        assert_eq!(ids(&second.records), ["d", "j"]);
        assert_eq!(second.next, None);
    }

    #[test]
    fn a_search_walks_its_index_in_order_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = rusqlite::Connection::open(dir.path().join("switchboard.db")).unwrap();
        let mut plan = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT record FROM contact_records
                 WHERE initiation_ms >= ?1 AND initiation_ms < ?2 AND (?3 IS NULL OR queue = ?3)
                   AND (?4 IS NULL OR (initiation_ms, contact_id) > (?4, ?5))
                 ORDER BY initiation_ms, contact_id LIMIT 10",
            )
            .unwrap();
        let steps: Vec<String> = plan
            .query_map(rusqlite::params![0, 1, "Billing", 0, "c"], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = steps.join("; ");
        assert!(plan.contains("contact_records_initiation_id"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
