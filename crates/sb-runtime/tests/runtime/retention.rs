//! Stream retention against the real store.

use sb_store::RecordStore;
use sb_store::StreamStore;
use sb_store::{EventLog, SqliteStore};

#[tokio::test]
async fn retention_trims_each_stream_to_its_days() {
    use sb_model::config::StreamRetention;
    use sb_store::{NewEvent, PublicStream};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    let day = 86_400_000i64;
    let now = 100 * day;
    let event = |stream: &str, age_days: i64| NewEvent {
        at_ms: now - age_days * day,
        stream: stream.into(),
        key: "k".into(),
        kind: "X".into(),
        payload: "{}".into(),
    };
    log.append(vec![
        event("contact", 10),
        event("contact", 3),
        event("agent", 10),
        event("flow-log", 10),
        event("chat", 400),
    ])
    .await
    .unwrap();
    drop(log);
    writer.join();
    let retention = StreamRetention {
        contact_events: 7,
        agent_events: 30,
        contact_records: 30,
        flow_logs: 7,
    };
    assert_eq!(sb_runtime::retention::sweep(&store, &retention, now), 2);
    let left = |s| store.read_stream(s, 0, 10).map(|p| p.events.len());
    assert!(
        left(PublicStream::ContactEvents).is_err(),
        "position 0 is now before retention"
    );
    assert_eq!(
        store
            .read_stream(PublicStream::ContactEvents, 1, 10)
            .unwrap()
            .events
            .len(),
        1
    );
    assert_eq!(left(PublicStream::AgentEvents).unwrap(), 1, "30 days kept");
    let chat = store.events_for("chat", "k", 10).unwrap();
    assert_eq!(
        chat.len(),
        1,
        "transcripts are not a stream; retention leaves them"
    );
}
