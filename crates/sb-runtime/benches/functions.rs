//! What an external-function call adds over the function's own time: calls to an HTTPS
//! function on loopback that answers at once, sequentially, over a pooled connection.
//! Target: p99 ≤ 1 ms. Prints percentiles of 5,000 calls after 500 warm-up calls.
//!
//! Run: cargo bench -p sb-runtime --bench functions

use std::time::{Duration, Instant};

use sb_flow::interpret::{FunctionResult, ResponseType};
use sb_model::config::ExternalFunction;
use sb_runtime::FunctionInvoker;
use serde_json::json;

#[path = "../tests/runtime/function_server.rs"]
mod function_server;

const WARM_UP: usize = 500;
const CALLS: usize = 5_000;

fn main() {
    // The function runs on its own thread and runtime, as a separate service would;
    // the caller gets a runtime of its own.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let server = function_server::start_server().await;
            tx.send((
                server.base.clone(),
                server.ca_pem.clone(),
                server.peers.clone(),
            ))
            .unwrap();
            std::future::pending::<()>().await;
        });
    });
    let (base, ca_pem, peers) = rx.recv().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let function = ExternalFunction {
            name: sb_model::Name::new("lookup").unwrap(),
            url: format!("{base}/ok"),
            timeout_seconds: 8,
            max_concurrency: 10,
            arns: vec![],
        };
        let invoker = FunctionInvoker::new([&function], Some(ca_pem.as_bytes())).unwrap();
        let event = json!({"Name": "ContactFlowEvent", "Details": {"ContactData": {"Channel": "VOICE"}, "Parameters": {"caller": "+15555550100"}}});
        let mut samples = Vec::with_capacity(CALLS);
        for i in 0..WARM_UP + CALLS {
            let started = Instant::now();
            let result = invoker.invoke("lookup", &event, Duration::from_secs(8), ResponseType::StringMap).await;
            let elapsed = started.elapsed();
            assert!(matches!(result, FunctionResult::Ok { .. }), "{result:?}");
            if i >= WARM_UP {
                samples.push(elapsed);
            }
        }
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        println!("function call on loopback (HTTPS, pooled), {CALLS} calls:");
        println!("  p50 {:?}  p90 {:?}  p99 {:?}  p99.9 {:?}  max {:?}", at(0.5), at(0.9), at(0.99), at(0.999), samples[samples.len() - 1]);
        println!("  connections used: {}", peers.lock().unwrap().len());
    });
}
