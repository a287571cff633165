//! Durable event ingest: 256 concurrent appenders, each waiting for its event to be
//! committed (fsync'd) before sending the next. Target: ≥ 50,000 events/s.
//!
//! Run: cargo bench -p sb-store --bench event_log

use std::time::Instant;

use sb_store::{EventLog, NewEvent, SqliteStore};

const PRODUCERS: usize = 256;
const PER_PRODUCER: usize = 1_000;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let (log, writer) = EventLog::start(dir.path()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..PER_PRODUCER {
                        let event = NewEvent {
                            at_ms: i as i64,
                            stream: "contact".into(),
                            key: format!("contact-{p}"),
                            kind: "QUEUED".into(),
                            payload: format!(r#"{{"ContactId":"contact-{p}","Queue":{{"Name":"Billing"}},"n":{i}}}"#),
                        };
                        log.append(vec![event]).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let elapsed = started.elapsed();
    drop(log);
    writer.join();
    let total = PRODUCERS * PER_PRODUCER;
    let stored = sb_store::events_after(dir.path(), 0, usize::MAX)
        .unwrap()
        .len();
    assert_eq!(stored, total);
    println!(
        "durable ingest: {total} events from {PRODUCERS} concurrent appenders in {:.2} s = {:.0} events/s (each acknowledged after commit, synchronous=FULL)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
}
