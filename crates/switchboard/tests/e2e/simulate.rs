//! `switchboard simulate` on a one-queue instance agrees with the Erlang C formula.

use crate::support::*;

const SPEC: &str = r#"
instance: { name: erlang }
agent_statuses:
  - { name: Available, type: ROUTABLE }
  - { name: Offline, type: OFFLINE }
hours_of_operation:
  - { name: Always, time_zone: UTC, weekly: [{ day: MONDAY, start: "00:00", end: "24:00" }] }
queues:
  - { name: Support, hours: Always }
routing_profiles:
  - name: Single Skill
    concurrency: { voice: 1 }
    default_outbound_queue: Support
    queues: [{ queue: Support, channel: VOICE, priority: 1 }]
"#;

#[test]
fn simulate_agrees_with_erlang_c() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("instance.yaml"), SPEC).unwrap();
    let out = run(&[
        "simulate",
        "--instance",
        dir.path().to_str().unwrap(),
        "--agents",
        "10",
        "--arrivals",
        "160",
        "--aht",
        "180",
        "--hours",
        "250",
        "--seed",
        "11",
        "--threshold",
        "20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let q = &report["queues"][0];
    let (n, aht, load) = (10u32, 180.0, 160.0 * 180.0 / 3600.0);
    let pw = sb_routing::sim::erlang_c(n, load);
    let sl20 = 1.0 - pw * (-(n as f64 - load) * 20.0 / aht).exp();
    let asa = pw * aht / (n as f64 - load);
    let got_sl = q["service_level"][0][1].as_f64().unwrap();
    let got_asa = q["average_speed_of_answer_seconds"].as_f64().unwrap();
    assert!(
        (got_sl - sl20).abs() < 0.03,
        "SL20 {got_sl:.3} vs Erlang C {sl20:.3}"
    );
    assert!(
        (got_asa - asa).abs() / asa < 0.15,
        "ASA {got_asa:.1} s vs Erlang C {asa:.1} s"
    );
    assert!(report["decision_microseconds"]["p99"].as_f64().unwrap() > 0.0);
}

#[test]
fn simulate_refuses_nonsense() {
    let out = run(&["simulate", "--instance", "examples/acme", "--aht", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("must be positive"), "{}", text(&out));
}
