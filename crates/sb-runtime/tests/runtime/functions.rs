//! The function invoker against a real HTTPS server on loopback.

use std::time::{Duration, Instant};

use sb_flow::interpret::{FunctionResult, ResponseType};
use sb_model::config::ExternalFunction;
use sb_runtime::FunctionInvoker;
use serde_json::{json, Value};

use crate::function_server::{start_server, FunctionServer};

fn function(
    name: &str,
    url: String,
    timeout_seconds: u8,
    max_concurrency: u32,
) -> ExternalFunction {
    ExternalFunction {
        name: sb_model::Name::new(name).unwrap(),
        url,
        timeout_seconds,
        max_concurrency,
        arns: vec![],
    }
}

fn invoker(server: &FunctionServer, functions: &[ExternalFunction]) -> FunctionInvoker {
    FunctionInvoker::new(functions, Some(server.ca_pem.as_bytes())).unwrap()
}

fn event() -> Value {
    json!({"Name": "ContactFlowEvent", "Details": {"ContactData": {"Channel": "CHAT"}, "Parameters": {}}})
}

const FLOW_LIMIT: Duration = Duration::from_secs(8);

#[tokio::test]
async fn a_call_returns_the_response_and_reuses_its_connection() {
    let server = start_server().await;
    let inv = invoker(
        &server,
        &[function("lookup", format!("{}/ok", server.base), 3, 10)],
    );
    for _ in 0..5 {
        let result = inv
            .invoke("lookup", &event(), FLOW_LIMIT, ResponseType::StringMap)
            .await;
        assert_eq!(
            result,
            FunctionResult::Ok {
                response: json!({"tier": "gold", "channel": "CHAT"})
            }
        );
    }
    assert_eq!(
        server.peers.lock().unwrap().len(),
        1,
        "five sequential calls, one TLS connection"
    );
}

#[tokio::test]
async fn every_failure_ends_as_failed_within_the_limit() {
    let server = start_server().await;
    let f = |name: &str, path: &str| function(name, format!("{}/{path}", server.base), 1, 10);
    let inv = invoker(
        &server,
        &[
            f("slow", "slow"),
            f("fail", "fail"),
            f("huge", "huge"),
            f("garbage", "garbage"),
            f("nested", "nested"),
            f("missing", "nowhere"),
        ],
    );
    for (name, expected) in [
        ("slow", "timed out after 1000 ms"),
        ("fail", "answered HTTP 500"),
        ("huge", "larger than 32768 bytes"),
        ("garbage", "not JSON"),
        ("nested", "not a flat map of strings"),
        ("missing", "answered HTTP 404"),
        ("unconfigured", "no function named"),
    ] {
        let started = Instant::now();
        let result = inv
            .invoke(name, &event(), FLOW_LIMIT, ResponseType::StringMap)
            .await;
        let FunctionResult::Failed { reason } = result else {
            panic!("{name}: {result:?}")
        };
        assert!(reason.contains(expected), "{name}: {reason}");
        // Generous bound: the point is "never stuck", not speed.
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    let nested = inv
        .invoke("nested", &event(), FLOW_LIMIT, ResponseType::Json)
        .await;
    assert_eq!(
        nested,
        FunctionResult::Ok {
            response: json!({"account": {"id": 7}})
        },
        "JSON responses may nest"
    );
}

#[tokio::test]
async fn the_flow_time_limit_wins_when_it_is_shorter() {
    let server = start_server().await;
    let inv = invoker(
        &server,
        &[function("slow", format!("{}/slow", server.base), 8, 1)],
    );
    let result = inv
        .invoke(
            "slow",
            &event(),
            Duration::from_millis(300),
            ResponseType::StringMap,
        )
        .await;
    assert_eq!(
        result,
        FunctionResult::Failed {
            reason: "timed out after 300 ms".into()
        }
    );
}

#[tokio::test]
async fn calls_over_the_concurrency_limit_are_throttled_at_once() {
    let server = start_server().await;
    let inv = invoker(
        &server,
        &[function("hold", format!("{}/hold", server.base), 3, 2)],
    );
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let inv = inv.clone();
            tokio::spawn(async move {
                inv.invoke("hold", &event(), FLOW_LIMIT, ResponseType::StringMap)
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    let mut throttled = 0;
    for call in calls {
        match call.await.unwrap() {
            FunctionResult::Ok { .. } => ok += 1,
            FunctionResult::Failed { reason } if reason.starts_with("throttled") => throttled += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((ok, throttled), (2, 3));
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let server = start_server().await;
    let inv = FunctionInvoker::new(
        &[function("lookup", format!("{}/ok", server.base), 3, 1)],
        None,
    )
    .unwrap();
    let result = inv
        .invoke("lookup", &event(), FLOW_LIMIT, ResponseType::StringMap)
        .await;
    let FunctionResult::Failed { reason } = result else {
        panic!("{result:?}")
    };
    assert!(reason.contains("request failed"), "{reason}");
}
