//! Durable event ingest: 256 concurrent appenders, each waiting for its event to be
//! committed (fsync'd) before sending the next. Target: ≥ 50,000 events/s.
//!
//! Then the latency of one append at a time, at the pace of a chat relay (one every
//! 20 ms), beside the disk's own `fdatasync` at the same pace: the floor under every
//! latency that waits for durability (a relayed message, an offer).
//!
//! Run: cargo bench -p sb-store --bench event_log

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use sb_store::{EventLog, NewEvent, SqliteStore};

const PRODUCERS: usize = 256;
const PER_PRODUCER: usize = 1_000;
/// Samples of single appends, and of the disk's sync, one every [`PACE`].
const SAMPLES: usize = 1_000;
const PACE: Duration = Duration::from_millis(20);

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
    let appends = runtime.block_on(single_appends(&log));
    drop(log);
    writer.join();
    let total = PRODUCERS * PER_PRODUCER;
    let stored = sb_store::events_after(dir.path(), 0, usize::MAX)
        .unwrap()
        .len();
    assert_eq!(stored, total + SAMPLES);
    println!(
        "durable ingest: {total} events from {PRODUCERS} concurrent appenders in {:.2} s = {:.0} events/s (each acknowledged after commit, synchronous=FULL)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "one append at a time, one every {} ms (a chat message's event): {}",
        PACE.as_millis(),
        percentiles(appends)
    );
    println!(
        "the disk's own fdatasync of 16 KiB, one every {} ms: {}",
        PACE.as_millis(),
        percentiles(disk_syncs(dir.path()))
    );
}

/// Microseconds from handing one event to the log to its acknowledgement.
async fn single_appends(log: &EventLog) -> Vec<u64> {
    let mut took = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        tokio::time::sleep(PACE).await;
        let event = NewEvent {
            at_ms: i as i64,
            stream: "chat".into(),
            key: "0190f3a2-chat".into(),
            kind: "MESSAGE".into(),
            payload: format!(r#"{{"sealed":"{}","n":{i}}}"#, "x".repeat(160)),
        };
        let started = Instant::now();
        log.append(vec![event]).await.unwrap();
        took.push(started.elapsed().as_micros() as u64);
    }
    took
}

/// Microseconds per `fdatasync` of a 16 KiB write, in a file beside the log.
fn disk_syncs(dir: &std::path::Path) -> Vec<u64> {
    let mut file = std::fs::File::create(dir.join("sync-probe")).unwrap();
    file.write_all(&[0u8; 16 * 1024 * 100]).unwrap();
    file.sync_all().unwrap();
    let block = [7u8; 16 * 1024];
    (0..SAMPLES)
        .map(|i| {
            std::thread::sleep(PACE);
            file.write_all_at(&block, ((i % 100) * block.len()) as u64)
                .unwrap();
            let started = Instant::now();
            file.sync_data().unwrap();
            started.elapsed().as_micros() as u64
        })
        .collect()
}

fn percentiles(mut v: Vec<u64>) -> String {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)] as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        v.len()
    )
}
