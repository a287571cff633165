//! Historical metrics over 10,000,000 contact records: each record written through the
//! real event log (which stores it and adds it to its 15-minute interval in the same
//! transaction), then one day across all queues asked for, by queue and by agent.
//!
//! Filling takes minutes and ~15 GB; set HISTORICAL_DATA=DIR to keep the filled data
//! directory and reuse it on later runs.
//! Run: cargo bench -p sb-runtime --bench historical

use sb_store::AnalystSql;
use std::path::PathBuf;
use std::time::Instant;

use sb_runtime::historical::{answer, HistoricalQuery};
use sb_store::{EventLog, NewEvent, SqliteStore, RECORD_STREAM};

const RECORDS: u64 = 10_000_000;
const DAYS: u64 = 365;
const QUEUES: u64 = 20;
const AGENTS: u64 = 500;
const BATCH: u64 = 10_000;
/// 2025-11-27T00:00:00Z: the year of records ends on the day queried.
const FIRST_DAY_MS: i64 = 1_764_201_600_000;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn record(n: u64) -> NewEvent {
    // Spread evenly over the year, the queues, the channels and the agents; a tenth
    // abandoned in queue.
    let day = n % DAYS;
    let second_of_day = (n / DAYS * 7_919) % 86_400;
    let start = FIRST_DAY_MS + (day * 86_400 + second_of_day) as i64 * 1000;
    let queue = format!("Queue{}", n % QUEUES);
    let channel = ["VOICE", "CHAT", "TASK"][(n % 3) as usize];
    let id = format!("c{n}");
    let mut record = serde_json::json!({
        "ContactId": id, "InitialContactId": id, "Channel": channel,
        "InitiationMethod": "API", "InitiationTimestamp": rfc3339(start),
        "DisconnectTimestamp": rfc3339(start + 300_000), "LastUpdateTimestamp": rfc3339(start + 300_000),
        "DisconnectReason": if n % 10 == 0 { "CUSTOMER_DISCONNECT" } else { "AGENT_DISCONNECT" },
        "Queue": {"Name": queue, "EnqueueTimestamp": rfc3339(start + 5_000), "Duration": n % 90},
        "AgentConnectionAttempts": 1, "Attributes": {}, "ConfigurationVersion": 1
    });
    if n % 10 != 0 {
        record["Agent"] = serde_json::json!({
            "Username": format!("agent{}", n % AGENTS), "RoutingProfile": format!("Profile{}", n % 5),
            "ConnectedToAgentTimestamp": rfc3339(start + 5_000 + (n % 90) as i64 * 1000),
            "AgentInteractionDuration": 180 + n % 120, "AfterContactWorkDuration": 30 + n % 30,
            "CustomerHoldDuration": n % 20, "NumberOfHolds": u32::from(n % 20 > 0), "LongestHoldDuration": n % 20
        });
    }
    NewEvent {
        at_ms: start + 300_000,
        stream: RECORD_STREAM.into(),
        key: id,
        kind: "CONTACT_RECORD".into(),
        payload: record.to_string(),
    }
}

fn fill(dir: &std::path::Path) {
    drop(SqliteStore::open(dir).unwrap());
    let (log, writer) = EventLog::start(dir).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        let mut pending = std::collections::VecDeque::new();
        for b in 0..RECORDS / BATCH {
            let events = (b * BATCH..(b + 1) * BATCH).map(record).collect();
            pending.push_back(log.submit(events).unwrap());
            // A few batches in flight keep the writer busy without holding them all.
            if pending.len() > 4 {
                pending.pop_front().unwrap().await.unwrap().unwrap();
            }
            if b % 100 == 99 {
                let done = (b + 1) * BATCH;
                println!(
                    "{done} records, {:.0} records/s",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        for p in pending {
            p.await.unwrap().unwrap();
        }
    });
    drop(log);
    writer.join();
    println!(
        "filled {RECORDS} records in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let kept = std::env::var("HISTORICAL_DATA").ok().map(PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir).unwrap();
    let have = store
        .query(
            "SELECT COUNT(*) FROM contact_records",
            &[],
            1,
            std::time::Duration::from_secs(600),
        )
        .unwrap()
        .rows[0][0]
        .as_u64()
        .unwrap_or(0);
    if have < RECORDS {
        fill(&dir);
    }
    let last_day = FIRST_DAY_MS + (DAYS as i64 - 1) * 86_400_000;
    let now: jiff::Timestamp = "2026-11-27T00:00:00Z".parse().unwrap();
    for (label, groupings) in [
        ("by queue", vec!["QUEUE".to_string()]),
        (
            "by queue and channel, hourly",
            vec!["QUEUE".into(), "CHANNEL".into()],
        ),
        ("by agent", vec!["AGENT".to_string()]),
    ] {
        let interval = if label.contains("hourly") {
            "HOUR"
        } else {
            "TOTAL"
        };
        let query = HistoricalQuery::new(
            &rfc3339(last_day),
            &rfc3339(last_day + 86_400_000),
            Some(interval),
            Some("UTC"),
            &groupings,
            None,
            Some(20),
            now,
        )
        .unwrap();
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..30 {
            let t = Instant::now();
            rows = answer(&store, &query).unwrap().len();
            times.push(t.elapsed().as_micros() as u64);
        }
        times.sort_unstable();
        println!(
            "one day across all queues, {label}: {rows} rows; median {:.1} ms, p99 {:.1} ms (n = 30, over {RECORDS} records)",
            times[15] as f64 / 1000.0,
            times[29] as f64 / 1000.0
        );
    }
}
