//! External functions (Connect's InvokeLambdaFunction): an HTTPS POST of a Lambda-shaped
//! event, with the instance's limits. A call never leaves a contact stuck: every way it
//! can go wrong (throttled, slow, refused, huge, malformed) ends as
//! `FunctionResult::Failed` within the time limit, and the flow takes its error branch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sb_flow::interpret::{FunctionResult, ResponseType};
use sb_model::config::ExternalFunction;
use serde_json::Value;
use tokio::sync::Semaphore;

/// Connect caps a function's response at 32 KB; anything larger is refused unread.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum InvokerError {
    #[error("the CA certificate for functions is not PEM: {0}")]
    BadCertificate(String),
    #[error("cannot build the HTTPS client: {0}")]
    Client(String),
}

struct Target {
    url: String,
    timeout: Duration,
    slots: Arc<Semaphore>,
}

/// Calls the instance's functions. Build one per configuration version; clones share
/// the connection pool and the concurrency limits.
#[derive(Clone)]
pub struct FunctionInvoker {
    client: reqwest::Client,
    targets: Arc<HashMap<String, Target>>,
}

impl FunctionInvoker {
    /// `extra_ca_pem`: a CA to trust besides the public roots (for functions on a
    /// private CA).
    pub fn new<'a>(
        functions: impl IntoIterator<Item = &'a ExternalFunction>,
        extra_ca_pem: Option<&[u8]>,
    ) -> Result<Self, InvokerError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = extra_ca_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| InvokerError::BadCertificate(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .build()
            .map_err(|e| InvokerError::Client(e.to_string()))?;
        let targets = functions
            .into_iter()
            .map(|f| {
                let target = Target {
                    url: f.url.clone(),
                    timeout: Duration::from_secs(u64::from(f.timeout_seconds.clamp(1, 8))),
                    slots: Arc::new(Semaphore::new(f.max_concurrency.max(1) as usize)),
                };
                (f.name.to_string(), target)
            })
            .collect();
        Ok(Self {
            client,
            targets: Arc::new(targets),
        })
    }

    /// Call `name` with `event`, giving up after the smaller of `flow_timeout` and the
    /// function's own timeout.
    pub async fn invoke(
        &self,
        name: &str,
        event: &Value,
        flow_timeout: Duration,
        response_type: ResponseType,
    ) -> FunctionResult {
        let started = Instant::now();
        let result = self.call(name, event, flow_timeout, response_type).await;
        let outcome = match &result {
            FunctionResult::Ok { .. } => "ok",
            FunctionResult::Failed { reason } if reason.starts_with("throttled") => "throttled",
            FunctionResult::Failed { reason } if reason.starts_with("timed out") => "timeout",
            FunctionResult::Failed { .. } => "error",
        };
        let function = if self.targets.contains_key(name) {
            name.to_string()
        } else {
            "unknown".into()
        };
        metrics::counter!("switchboard_function_calls_total", "function" => function.clone(), "result" => outcome).increment(1);
        metrics::histogram!("switchboard_function_duration_seconds", "function" => function)
            .record(started.elapsed().as_secs_f64());
        if let FunctionResult::Failed { reason } = &result {
            tracing::warn!(function = name, reason = %reason, "function call failed");
        }
        result
    }

    async fn call(
        &self,
        name: &str,
        event: &Value,
        flow_timeout: Duration,
        response_type: ResponseType,
    ) -> FunctionResult {
        let failed = |reason: String| FunctionResult::Failed { reason };
        let Some(target) = self.targets.get(name) else {
            return failed(format!("no function named '{name}'"));
        };
        // Over the limit the call fails at once, like Lambda throttling: waiting for a
        // slot would hold the contact hostage to other contacts' calls.
        let Ok(_slot) = target.slots.clone().try_acquire_owned() else {
            return failed(format!("throttled: '{name}' is at its concurrency limit"));
        };
        let in_flight =
            metrics::gauge!("switchboard_function_in_flight", "function" => name.to_string());
        in_flight.increment(1.0);
        let limit = flow_timeout.min(target.timeout);
        let outcome = tokio::time::timeout(limit, self.post(&target.url, event)).await;
        in_flight.decrement(1.0);
        let body = match outcome {
            Err(_) => return failed(format!("timed out after {} ms", limit.as_millis())),
            Ok(Err(reason)) => return failed(reason),
            Ok(Ok(body)) => body,
        };
        let response: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return failed(format!("response is not JSON: {e}")),
        };
        let Value::Object(map) = &response else {
            return failed("response is not a JSON object".into());
        };
        if response_type == ResponseType::StringMap && !map.values().all(Value::is_string) {
            return failed("response is not a flat map of strings (STRING_MAP)".into());
        }
        FunctionResult::Ok { response }
    }

    async fn post(&self, url: &str, event: &Value) -> Result<Vec<u8>, String> {
        let mut response = self
            .client
            .post(url)
            .json(event)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered HTTP {}", response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_RESPONSE_BYTES)
        {
            return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the response: {e}"))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
