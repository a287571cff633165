//! The router in-process (no TLS, no sockets): authentication, authorization, the
//! OpenAPI document, and the error body for every kind of bad request.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sb_api::{build_router, endpoint_actions, AppState};
use sb_security::{ApiKey, Role};
use sb_spec::SourceBundle;
use sb_store::{Store, StoredCredential};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Fixture {
    router: axum::Router,
    store: Arc<dyn Store>,
    runtime: sb_runtime::instance::RuntimeHandle,
    /// Keeps the log's writer running for the test.
    _running: sb_runtime::open::RunningInstance,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kek = sb_security::envelope::Kek::from_bytes(
            &sb_security::envelope::Kek::generate_secret().unwrap(),
        )
        .unwrap();
        let running = sb_runtime::open::InstanceData::open(dir.path())
            .unwrap()
            .start(sb_runtime::open::StartOptions::new(
                sb_security::envelope::Keyring::new(kek, vec![]),
            ))
            .unwrap();
        let (store, deployer, vault, runtime) = (
            running.data.store.clone(),
            running.data.deployer.clone(),
            running.vault.clone(),
            running.runtime.clone(),
        );
        let router = build_router(AppState {
            runtime: runtime.clone(),
            deployer,
            store: store.clone(),
            metrics: sb_api::install_metrics_recorder(),
            draining: Arc::new(AtomicBool::new(false)),
            realtime_views: Default::default(),
            stream_tails: Default::default(),
            token_key: Arc::new(sb_security::token::TokenKey::new(
                &sb_security::token::TokenKey::generate_secret().unwrap(),
            )),
            vault,
            roles: Default::default(),
            sessions: Default::default(),
        });
        // The runtime recovers (nothing, here) before it serves.
        assert!(
            running
                .ready_within(std::time::Duration::from_secs(5))
                .await
        );
        Fixture {
            router,
            store,
            runtime,
            _running: running,
            _dir: dir,
        }
    }

    fn token(&self, role: Role) -> String {
        let issued = ApiKey::issue().unwrap();
        self.store
            .insert_credential(&StoredCredential {
                id: issued.id.clone(),
                secret_sha256: issued.secret_sha256,
                principal: format!("test-{}", role.as_str()),
                role: role.as_str().into(),
                description: String::new(),
                created_at: String::new(),
            })
            .unwrap();
        issued.token
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }
}

fn acme() -> SourceBundle {
    SourceBundle::read_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme"))
        .unwrap()
}

#[tokio::test]
async fn health_probes_need_no_credential_and_everything_else_does() {
    let f = Fixture::new().await;
    assert_eq!(
        f.call("GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );
    let (status, body) = f.call("GET", "/readyz", None, None).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "nothing deployed yet"
    );
    assert!(body["reason"]
        .as_str()
        .unwrap()
        .contains("no configuration"));
    for (method, path, _) in endpoint_actions() {
        let path = path.replace("{version}", "1");
        let (status, body) = f.call(method, &path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{method} {path}");
    }
}

#[tokio::test]
async fn a_tampered_or_unknown_credential_is_refused() {
    let f = Fixture::new().await;
    let good = f.token(Role::Admin);
    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = f
        .call("GET", "/v1/config/versions", Some(&tampered), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credential"))
    );
    let stranger = ApiKey::issue().unwrap().token;
    assert_eq!(
        f.call("GET", "/v1/config/versions", Some(&stranger), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        f.call("GET", "/v1/config/versions", Some(&good), None)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_are_held_to_their_actions() {
    let f = Fixture::new().await;
    let analyst = f.token(Role::Analyst);
    let body = json!({ "bundle": acme() }).to_string();
    let (status, answer) = f
        .call("POST", "/v1/config/apply", Some(&analyst), Some(body))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("config:Apply"));
    assert_eq!(
        f.call("GET", "/metrics", Some(&analyst), None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn apply_conflict_and_invalid_spec_use_the_error_body() {
    let f = Fixture::new().await;
    let admin = f.token(Role::Admin);
    let apply = |expect: u64, bundle: &SourceBundle| {
        json!({ "bundle": bundle, "expect_version": expect }).to_string()
    };
    let (status, body) = f
        .call(
            "POST",
            "/v1/config/apply",
            Some(&admin),
            Some(apply(0, &acme())),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"]["version"], 1);
    assert_eq!(f.call("GET", "/readyz", None, None).await.0, StatusCode::OK);

    let mut changed = acme();
    let text =
        changed
            .text("queues.yaml")
            .unwrap()
            .replacen("max_contacts: 80", "max_contacts: 81", 1);
    changed
        .insert("queues.yaml".into(), text.into_bytes())
        .unwrap();
    let (status, body) = f
        .call(
            "POST",
            "/v1/config/apply",
            Some(&admin),
            Some(apply(0, &changed)),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{body}"
    );

    let mut broken = acme();
    let text = broken
        .text("queues.yaml")
        .unwrap()
        .replacen("hours: Store Hours", "hours: Nope", 1);
    broken
        .insert("queues.yaml".into(), text.into_bytes())
        .unwrap();
    let (status, body) = f
        .call(
            "POST",
            "/v1/config/apply",
            Some(&admin),
            Some(apply(1, &broken)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let problem = &body["error"]["problems"][0];
    assert_eq!(problem["file"], "queues.yaml");
    assert_eq!(problem["location"], "queues[Orders].hours");

    let (_, versions) = f
        .call("GET", "/v1/config/versions", Some(&admin), None)
        .await;
    assert_eq!(
        versions.as_array().unwrap().len(),
        1,
        "refused applies change nothing"
    );
}

#[tokio::test]
async fn malformed_requests_get_a_json_error() {
    let f = Fixture::new().await;
    let admin = f.token(Role::Admin);
    let (status, body) = f
        .call(
            "POST",
            "/v1/config/plan",
            Some(&admin),
            Some("{not json".into()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");
    let (status, body) = f
        .call(
            "POST",
            "/v1/config/rollback",
            Some(&admin),
            Some(r#"{"to": 1, "extra": true}"#.into()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{body}"
    );
    let (status, body) = f
        .call(
            "POST",
            "/v1/config/rollback",
            Some(&admin),
            Some(r#"{"to": 9}"#.into()),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    // Refusals by axum's own extractors (a body not sent as JSON, a path segment that is
    // not a number, a query string that does not parse) come in the same error body,
    // their status kept.
    let (status, body) = f
        .call("POST", "/v1/config/rollback", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type"),
        "{body}"
    );
    for (path, complaint) in [
        ("/v1/config/versions/-1", "Cannot parse"),
        (
            "/v1/audit?from=yesterday&limit=many",
            "deserialize query string",
        ),
    ] {
        let (status, body) = f.call("GET", path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(complaint),
            "{path}: {body}"
        );
    }
    let traversal = r#"{"bundle": {"files": {"../../etc/passwd": {"text": "x"}}}}"#;
    let (status, body) = f
        .call(
            "POST",
            "/v1/config/plan",
            Some(&admin),
            Some(traversal.into()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not allowed"),
        "{body}"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_with_its_action() {
    let f = Fixture::new().await;
    let admin = f.token(Role::Admin);
    let (status, doc) = f.call("GET", "/openapi.json", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (method, path, action) in endpoint_actions() {
        let op = &paths[path][method.to_lowercase()];
        assert_eq!(
            op["x-switchboard-action"],
            action.as_str(),
            "{method} {path}"
        );
        assert!(
            op["security"].is_array(),
            "{method} {path} declares bearer security"
        );
        for refusal in ["401", "403"] {
            assert_eq!(
                op["responses"][refusal]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} lists {refusal}"
            );
        }
    }
    for probe in ["/healthz", "/readyz"] {
        assert!(paths.contains_key(probe), "{probe}");
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        endpoint_actions().count()
            + sb_api::PUBLIC_ENDPOINTS.len()
            + sb_api::PARTICIPANT_ENDPOINTS.len(),
        "no undeclared endpoint"
    );
}

mod streams {
    use super::*;

    async fn deployed() -> (Fixture, String) {
        let f = Fixture::new().await;
        let admin = f.token(Role::Admin);
        let body = json!({ "bundle": acme(), "expect_version": 0 }).to_string();
        let (status, reply) = f
            .call("POST", "/v1/config/apply", Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        (f, admin)
    }

    async fn create_task(f: &Fixture, token: &str, name: &str) -> String {
        let body = json!({"name": name, "flow": "Main IVR"}).to_string();
        let mut answer = f
            .call("POST", "/v1/tasks", Some(token), Some(body.clone()))
            .await;
        // The runtime takes an applied version asynchronously; until then it says 503.
        for _ in 0..500 {
            if answer.0 != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            answer = f
                .call("POST", "/v1/tasks", Some(token), Some(body.clone()))
                .await;
        }
        let (status, reply) = answer;
        assert_eq!(status, StatusCode::OK, "{reply}");
        reply["contact_id"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn contact_events_are_read_by_position_and_resumed_from_a_checkpoint() {
        let (f, admin) = deployed().await;
        let analyst = f.token(Role::Analyst);
        let first = create_task(&f, &admin, "first").await;
        let (status, page) = f
            .call(
                "GET",
                "/v1/streams/contact-events?limit=1000",
                Some(&analyst),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let events = page["events"].as_array().unwrap();
        let kinds: Vec<&str> = events
            .iter()
            .filter(|e| e["key"] == first.as_str())
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(&kinds[..2], ["INITIATED", "CONNECTED_TO_SYSTEM"], "{page}");
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "ordered: {seqs:?}");
        assert!(events.iter().all(|e| e["stream"] == "contact-events"));
        let next = page["next_after"].as_u64().unwrap();
        assert_eq!(next, *seqs.last().unwrap());

        // Save where we got to, make more, and resume from the checkpoint.
        let body = json!({ "seq": next }).to_string();
        let (status, saved) = f
            .call(
                "PUT",
                "/v1/streams/contact-events/checkpoints/etl-1",
                Some(&analyst),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        let second = create_task(&f, &admin, "second").await;
        let (_, resumed) = f
            .call(
                "GET",
                "/v1/streams/contact-events?checkpoint=etl-1",
                Some(&analyst),
                None,
            )
            .await;
        let resumed = resumed["events"].as_array().unwrap();
        assert!(!resumed.is_empty());
        assert!(resumed.iter().all(|e| e["seq"].as_u64().unwrap() > next));
        assert_eq!(resumed[0]["key"], second.as_str());
        assert_eq!(resumed[0]["type"], "INITIATED");
    }

    #[tokio::test]
    async fn a_long_poll_returns_as_soon_as_an_event_is_durable() {
        let (f, admin) = deployed().await;
        let (_, page) = f
            .call(
                "GET",
                "/v1/streams/contact-events?limit=1000",
                Some(&admin),
                None,
            )
            .await;
        let head = page["next_after"].as_u64().unwrap();
        let started = std::time::Instant::now();
        let path = format!("/v1/streams/contact-events?after={head}&wait_seconds=20");
        let poll = f.call("GET", &path, Some(&admin), None);
        let (polled, contact) = tokio::join!(poll, async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            create_task(&f, &admin, "wake").await
        });
        let (status, body) = polled;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["events"][0]["key"], contact.as_str(), "{body}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "the poll woke on the event, not at its time limit"
        );
        // Nothing new: a short wait comes back empty with the position unchanged.
        let after = body["next_after"].as_u64().unwrap();
        let (_, empty) = f
            .call(
                "GET",
                &format!("/v1/streams/agent-events?after={after}&wait_seconds=1"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(empty["events"], json!([]));
        assert_eq!(empty["next_after"], after);
    }

    #[tokio::test]
    async fn bad_stream_requests_get_clear_errors() {
        let (f, admin) = deployed().await;
        create_task(&f, &admin, "old").await;
        let cases = [
            (
                "GET",
                "/v1/streams/chat",
                StatusCode::NOT_FOUND,
                "no stream named 'chat'",
            ),
            (
                "GET",
                "/v1/streams/contact-events?limit=0",
                StatusCode::BAD_REQUEST,
                "limit",
            ),
            (
                "GET",
                "/v1/streams/contact-events?wait_seconds=99",
                StatusCode::BAD_REQUEST,
                "wait_seconds",
            ),
            (
                "GET",
                "/v1/streams/contact-events?checkpoint=nobody",
                StatusCode::NOT_FOUND,
                "no checkpoint",
            ),
            (
                "GET",
                "/v1/streams/contact-events/checkpoints/..%2Fx",
                StatusCode::BAD_REQUEST,
                "encoded slash",
            ),
            (
                "GET",
                "/v1/streams/contact-events/checkpoints/a%20b",
                StatusCode::BAD_REQUEST,
                "consumer name",
            ),
        ];
        for (method, path, status, says) in cases {
            let (got, body) = f.call(method, path, Some(&admin), None).await;
            assert_eq!(got, status, "{path}: {body}");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(says),
                "{path}: {body}"
            );
        }
        let (got, body) = f
            .call(
                "PUT",
                "/v1/streams/contact-events/checkpoints/etl",
                Some(&admin),
                Some(json!({"seq": 1_000_000_000}).to_string()),
            )
            .await;
        assert_eq!(got, StatusCode::BAD_REQUEST, "{body}");

        // Retention removes the oldest: asking for them names the earliest position.
        let removed = f
            .store
            .trim_stream(sb_store::PublicStream::ContactEvents, i64::MAX)
            .unwrap();
        assert!(removed >= 2);
        let (got, body) = f
            .call(
                "GET",
                "/v1/streams/contact-events?after=0",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(got, StatusCode::GONE, "{body}");
        assert_eq!(body["error"]["code"], "before_retention");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("earliest available is after="));
        let (got, _) = f
            .call(
                "GET",
                "/v1/streams/contact-events/subscribe?after=0",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(got, StatusCode::GONE);
    }

    #[tokio::test]
    async fn agent_events_carry_connects_snapshots_in_order() {
        let (f, admin) = deployed().await;
        let (frames, _keep) = tokio::sync::mpsc::channel(64);
        // The runtime takes the applied version asynchronously.
        let mut attached = Err(sb_runtime::instance::RuntimeError::NotReady);
        for _ in 0..500 {
            attached = f.runtime.attach_agent("carol".into(), frames.clone()).await;
            if !matches!(attached, Err(sb_runtime::instance::RuntimeError::NotReady)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        attached.unwrap();
        f.runtime
            .agent(
                "carol".into(),
                sb_runtime::instance::AgentAction::SetStatus {
                    status: "Available".into(),
                },
            )
            .await
            .unwrap();
        let mut events = Vec::new();
        for _ in 0..200 {
            let (_, page) = f
                .call(
                    "GET",
                    "/v1/streams/agent-events?limit=100",
                    Some(&admin),
                    None,
                )
                .await;
            events = page["events"].as_array().cloned().unwrap_or_default();
            // STATE_CHANGE events come at most every 50 ms: wait for the one that shows
            // the agent Available.
            let shows_available = events.last().is_some_and(|e| {
                e["data"]["CurrentAgentSnapshot"]["AgentStatus"]["Name"] == "Available"
            });
            if events.len() >= 2 && shows_available {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds[0], "LOGIN", "{events:?}");
        assert!(kinds[1..].iter().all(|k| *k == "STATE_CHANGE"), "{kinds:?}");
        let last = &events.last().unwrap()["data"];
        assert_eq!(last["AgentEventType"], "STATE_CHANGE");
        assert_eq!(last["Version"], "2017-10-01");
        let current = &last["CurrentAgentSnapshot"];
        assert_eq!(current["AgentStatus"]["Name"], "Available", "{last}");
        assert_eq!(current["AgentStatus"]["Type"], "ROUTABLE");
        assert_eq!(current["Configuration"]["Username"], "carol");
        assert!(current["Configuration"]["RoutingProfile"]["Name"].is_string());
        assert_eq!(
            last["PreviousAgentSnapshot"]["AgentStatus"]["Name"], "Offline",
            "{last}"
        );
        assert!(events.iter().all(|e| e["key"] == "carol"));
    }

    #[tokio::test]
    async fn only_roles_that_consume_data_read_streams() {
        let (f, _) = deployed().await;
        for (role, status) in [
            (Role::Agent, StatusCode::FORBIDDEN),
            (Role::Auditor, StatusCode::FORBIDDEN),
            (Role::Integration, StatusCode::OK),
        ] {
            let token = f.token(role);
            let (got, body) = f
                .call("GET", "/v1/streams/agent-events", Some(&token), None)
                .await;
            assert_eq!(got, status, "{role:?}: {body}");
        }
    }
}

#[tokio::test]
async fn a_method_a_route_does_not_take_is_405_naming_the_ones_it_does() {
    let f = Fixture::new().await;
    let admin = f.token(Role::Admin);
    for (method, path, allowed) in [
        ("TRACE", "/v1/agents", "GET"),
        ("DELETE", "/v1/config/apply", "POST"),
        ("PUT", "/v1/contacts/some-contact/stop", "POST"),
    ] {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {admin}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = f.router.clone().oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allowed, "{method} {path}");
    }
    // HEAD is GET without the body, under GET's action.
    let (status, _) = f
        .call("HEAD", "/v1/config/versions", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let agent = f.token(Role::Agent);
    let (status, _) = f
        .call("HEAD", "/v1/config/versions", Some(&agent), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn prometheus_carries_the_autoscaling_signals() {
    let f = Fixture::new().await;
    let admin = f.token(Role::Admin);
    let body = json!({ "bundle": acme(), "expect_version": 0 }).to_string();
    let (status, _) = f
        .call("POST", "/v1/config/apply", Some(&admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The runtime publishes its first snapshot of the new configuration within 50 ms.
    let mut text = String::new();
    for _ in 0..200 {
        let (_, scraped) = f.call("GET", "/metrics", Some(&admin), None).await;
        text = scraped.as_str().unwrap_or_default().to_string();
        if text.contains("switchboard_contacts_in_queue{queue=\"Billing\"}") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for signal in [
        "switchboard_contacts_in_queue{queue=\"Billing\"} 0",
        "switchboard_active_contacts{channel=\"CHAT\"} 0",
        "switchboard_agents{state=\"available\"} 0",
        "switchboard_event_log_pending_events",
        "switchboard_event_log_committed_seq",
        // The apply's audit record was committed: the durability floor, in fine buckets.
        "switchboard_event_log_commit_seconds_bucket{le=\"0.00075\"}",
        "switchboard_event_log_commit_seconds_bucket{le=\"0.0015\"}",
        "switchboard_event_log_batch_events_bucket{le=\"1\"}",
        "switchboard_http_requests_total",
    ] {
        assert!(text.contains(signal), "{signal} missing from:\n{text}");
    }
}

#[tokio::test]
async fn sql_is_for_analysts_reads_only_and_time_limited() {
    let f = Fixture::new().await;
    let analyst = f.token(Role::Analyst);
    let agent = f.token(Role::Agent);
    let ask = |sql: &str| json!({"sql": sql, "time_limit_seconds": 1}).to_string();
    let (status, body) = f
        .call(
            "POST",
            "/v1/query",
            Some(&analyst),
            Some(ask("SELECT COUNT(*) AS n FROM contact_records")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["columns"], json!(["n"]));
    let (status, _) = f
        .call("POST", "/v1/query", Some(&agent), Some(ask("SELECT 1")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = f
        .call(
            "POST",
            "/v1/query",
            Some(&analyst),
            Some(ask("SELECT * FROM credentials")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("readable: contact_records"));
    let (status, body) = f
        .call(
            "POST",
            "/v1/query",
            Some(&analyst),
            Some(ask("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n")),
        )
        .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    let (status, _) = f
        .call(
            "POST",
            "/v1/query",
            Some(&analyst),
            Some(json!({"sql": "SELECT 1", "max_rows": 0}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn short_lived_tokens_only_narrow_and_refuse_tampering() {
    let f = Fixture::new().await;
    let admin = f.token(Role::Admin);
    let analyst = f.token(Role::Analyst);
    // An analyst's key buys a token that works like the key.
    let (status, issued) = exchange(&f, analyst.clone(), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let token = issued["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("sbt_"));
    assert_eq!(issued["role"], "Analyst");
    let (status, _) = f.call("GET", "/v1/contacts", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);

    // A session policy narrows: contact:Read only, so SQL is refused.
    let (status, narrow) = exchange(
        &f,
        token.clone(),
        json!({"actions": ["contact:Read"], "duration_seconds": 900}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{narrow}");
    let narrow = narrow["token"].as_str().unwrap().to_string();
    assert_eq!(
        f.call("GET", "/v1/contacts", Some(&narrow), None).await.0,
        StatusCode::OK
    );
    let sql = json!({"sql": "SELECT 1"}).to_string();
    assert_eq!(
        f.call("POST", "/v1/query", Some(&narrow), Some(sql.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.call("POST", "/v1/query", Some(&token), Some(sql)).await.0,
        StatusCode::OK
    );

    // Widening is refused: a wider role, an action the role lacks, or re-widening a
    // narrowed token; durations outside 15 minutes to 12 hours too.
    for (from, body, says) in [
        (analyst.clone(), json!({"role": "Admin"}), "only narrow"),
        (
            analyst.clone(),
            json!({"actions": ["config:Apply"]}),
            "only narrow",
        ),
        (
            analyst.clone(),
            json!({"duration_seconds": 60}),
            "duration_seconds",
        ),
        (
            analyst.clone(),
            json!({"duration_seconds": 86400}),
            "duration_seconds",
        ),
        (analyst.clone(), json!({"role": "Nobody"}), "no role"),
    ] {
        let (status, body) = exchange(&f, from, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
    // A narrowed token may do only what its session policy names: not even exchange.
    let (status, _) = exchange(&f, narrow.clone(), json!({"actions": ["query:Run"]})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An admin may assume a narrower role.
    let (status, assumed) = exchange(&f, admin, json!({"role": "Auditor"})).await;
    assert_eq!(status, StatusCode::OK, "{assumed}");
    let auditor = assumed["token"].as_str().unwrap().to_string();
    assert_eq!(
        f.call("GET", "/v1/audit", Some(&auditor), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        f.call("GET", "/v1/contacts", Some(&auditor), None).await.0,
        StatusCode::FORBIDDEN
    );

    // An altered token (its role widened by hand) is refused as a bad credential.
    let body = token.trim_start_matches("sbt_").split('.').next().unwrap();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&engine.decode(body).unwrap()).unwrap();
    claims["role"] = json!("Admin");
    let forged = token.replacen(body, &engine.encode(claims.to_string()), 1);
    let (status, refused) = f
        .call("GET", "/v1/config/versions", Some(&forged), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    // The trail records the refusal without the token.
    let page: Value = f
        .call("GET", "/v1/audit?limit=1000", Some(&auditor), None)
        .await
        .1;
    let text = page.to_string();
    assert!(text.contains("\"outcome\":\"denied\""), "{text}");
    assert!(!text.contains(&token[4..40]), "no token in the audit trail");
}

async fn exchange(f: &Fixture, token: String, body: Value) -> (StatusCode, Value) {
    f.call(
        "POST",
        "/v1/auth/token",
        Some(&token),
        Some(body.to_string()),
    )
    .await
}

/// A data directory from before encryption at rest keeps its transcripts readable:
/// lines stored in the clear open without a data key; a contact that never existed is
/// 404.
#[tokio::test]
async fn transcripts_stored_before_encryption_still_read() {
    let f = Fixture::new().await;
    let supervisor = f.token(Role::Supervisor);
    let (log, writer) = sb_store::EventLog::start(f._dir.path()).unwrap();
    log.append(vec![sb_store::NewEvent {
        at_ms: 1,
        stream: "chat".into(),
        key: "legacy-1".into(),
        kind: "MESSAGE".into(),
        payload: json!({"seq": 1, "from": "CUSTOMER", "name": "Ana", "text": "hello from before", "at": "2026-01-01T00:00:00Z"}).to_string(),
    }])
    .await
    .unwrap();
    drop(log);
    writer.join();
    let (status, body) = f
        .call(
            "GET",
            "/v1/contacts/legacy-1/transcript",
            Some(&supervisor),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["text"], "hello from before");
    let (status, _) = f
        .call(
            "GET",
            "/v1/contacts/nobody/transcript",
            Some(&supervisor),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A custom role's Deny on one stream holds however the path spells the stream's name
/// (security review H5: `contact%2Devents` was served while `contact-events` was denied).
#[tokio::test]
async fn a_deny_holds_against_percent_encoded_paths() {
    let f = Fixture::new().await;
    let admin = f.token(Role::Admin);
    let mut bundle = acme();
    let roles = bundle.text("roles.yaml").unwrap().to_string()
        + r#"
  - name: NoContactEvents
    description: Every stream but contact events.
    statements:
      - effect: Allow
        actions: ["stream:Read"]
      - effect: Deny
        actions: ["stream:Read"]
        resources: ["streams/contact-events*"]
"#;
    bundle
        .insert("roles.yaml".into(), roles.into_bytes())
        .unwrap();
    let body = json!({ "bundle": bundle, "expect_version": 0 }).to_string();
    let (status, reply) = f
        .call("POST", "/v1/config/apply", Some(&admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let issued = ApiKey::issue().unwrap();
    f.store
        .insert_credential(&StoredCredential {
            id: issued.id.clone(),
            secret_sha256: issued.secret_sha256,
            principal: "pct".into(),
            role: "NoContactEvents".into(),
            description: String::new(),
            created_at: String::new(),
        })
        .unwrap();
    let token = issued.token;
    let (status, _) = f
        .call("GET", "/v1/streams/agent-events", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the allow holds");
    for path in [
        "/v1/streams/contact-events",
        "/v1/streams/contact%2Devents",
        "/v1/streams/contact%2devents",
        "/v1/streams/%63ontact-events",
        "/v1/streams/contact%2Devents/subscribe",
        "/v1/streams/contact%2Devents/checkpoints/etl",
    ] {
        let (status, body) = f.call("GET", path, Some(&token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (status, body) = f
        .call("GET", "/v1/contacts/a%2Fb/transcript", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// Only the configuration endpoints take large bodies, and an error never echoes a
/// large input back (review M11).
#[tokio::test]
async fn bodies_are_small_except_for_configuration() {
    let f = Fixture::new().await;
    let agent = f.token(Role::Agent);
    let big = json!({ "role": "A".repeat(2 * 1024 * 1024) }).to_string();
    let (status, body) = f
        .call("POST", "/v1/auth/token", Some(&agent), Some(big))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Under the limit, a refusal that names the input is cut.
    let long = json!({ "role": "A".repeat(500 * 1024) }).to_string();
    let (status, body) = f
        .call("POST", "/v1/auth/token", Some(&agent), Some(long))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.to_string().len() < 2048,
        "{} bytes",
        body.to_string().len()
    );
    // A spec bundle of several MiB is still taken by plan.
    let admin = f.token(Role::Admin);
    let mut bundle = acme();
    bundle
        .insert("prompts/padding.txt".into(), vec![b'x'; 3 * 1024 * 1024])
        .unwrap();
    let body = json!({ "bundle": bundle }).to_string();
    let (status, reply) = f
        .call("POST", "/v1/config/plan", Some(&admin), Some(body))
        .await;
    assert_ne!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
}

/// Without a credential, a method a route does not take is a 401 like any other call:
/// routes and methods are not listed to strangers (review L9).
#[tokio::test]
async fn a_stranger_learns_no_methods() {
    let f = Fixture::new().await;
    for (method, path) in [
        ("DELETE", "/v1/config/apply"),
        ("OPTIONS", "/v1/agents"),
        ("PUT", "/v1/contacts/x/stop"),
    ] {
        let (status, body) = f.call(method, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
    }
}

/// At most two queries run at once; a third waits a little, then is told to retry
/// (review L8: each may hold a blocking thread for 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_past_the_running_cap_are_told_to_retry() {
    let f = Arc::new(Fixture::new().await);
    let analyst = f.token(Role::Analyst);
    let endless = json!({
        "sql": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n",
        "time_limit_seconds": 6
    })
    .to_string();
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let (f, analyst, endless) = (f.clone(), analyst.clone(), endless.clone());
            tokio::spawn(async move {
                // The third starts once the first two hold their turns.
                tokio::time::sleep(std::time::Duration::from_millis(i * 300)).await;
                f.call("POST", "/v1/query", Some(&analyst), Some(endless))
                    .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap().0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

/// A YAML bomb through `config:Plan` is refused at once, naming the file and line
/// (review H7: aliases took 84 KB to 1 GB; 100 k brackets took 22 s of CPU).
#[tokio::test]
async fn yaml_bombs_are_refused_before_they_are_parsed() {
    let f = Fixture::new().await;
    let integration = f.token(Role::Integration);
    let statements: String = (0..1000)
        .map(|i| {
            format!("    - {{effect: Allow, actions: [\"contact:Read\"], resources: [\"r{i}\"]}}\n")
        })
        .collect();
    let roles: String = (0..1000)
        .map(|i| format!("  - {{name: R{i}, statements: *s}}\n"))
        .collect();
    let aliases = format!("anchors:\n  s: &s\n{statements}roles:\n{roles}");
    let brackets = format!("queues: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    for (bomb, says) in [(aliases, "aliases"), (brackets, "levels deep")] {
        let mut bundle = acme();
        bundle
            .insert("roles.yaml".into(), bomb.into_bytes())
            .unwrap();
        let body = json!({ "bundle": bundle }).to_string();
        let (status, reply) = f
            .call("POST", "/v1/config/plan", Some(&integration), Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
        let problems = reply["error"]["problems"].to_string();
        assert!(
            problems.contains("roles.yaml") && problems.contains(says),
            "{problems}"
        );
    }
}

/// Review item 19: an unknown user is a 404, an agent who is not logged in a 409.
#[tokio::test]
async fn setting_the_status_of_nobody_is_not_found() {
    let f = Fixture::new().await;
    let admin = f.token(Role::Admin);
    let body = json!({ "bundle": acme(), "expect_version": 0 }).to_string();
    let (status, reply) = f
        .call("POST", "/v1/config/apply", Some(&admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let set = json!({"status": "Available"}).to_string();
    let mut answer = (StatusCode::SERVICE_UNAVAILABLE, Value::Null);
    for _ in 0..500 {
        answer = f
            .call(
                "POST",
                "/v1/agents/nobody/status",
                Some(&admin),
                Some(set.clone()),
            )
            .await;
        if answer.0 != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(answer.0, StatusCode::NOT_FOUND, "{}", answer.1);
    let (status, body) = f
        .call("POST", "/v1/agents/alice/status", Some(&admin), Some(set))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

/// Review L4: a checkpoint is its first writer's.
#[tokio::test]
async fn one_pipeline_cannot_move_another_ones_checkpoint() {
    let f = Fixture::new().await;
    let integration = f.token(Role::Integration);
    let analyst = f.token(Role::Analyst);
    let admin = f.token(Role::Admin);
    let path = "/v1/streams/contact-events/checkpoints/warehouse-etl";
    let at = |seq: u64| Some(json!({ "seq": seq }).to_string());
    assert_eq!(
        f.call("PUT", path, Some(&integration), at(0)).await.0,
        StatusCode::OK
    );
    let (status, body) = f.call("PUT", path, Some(&analyst), at(0)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.to_string().contains("belongs to test-Integration"),
        "{body}"
    );
    assert_eq!(
        f.call("PUT", path, Some(&admin), at(0)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        f.call("PUT", path, Some(&integration), at(0)).await.0,
        StatusCode::OK
    );
}

/// Review L6 and I2: the request id is the server's own (a client's is kept apart,
/// cleaned), and every answer says the API is HTTPS only.
#[tokio::test]
async fn request_ids_are_the_servers_and_answers_carry_hsts() {
    let f = Fixture::new().await;
    let request = Request::builder()
        .uri("/healthz")
        .header("x-request-id", "x status=200 caller=erin (K0000)")
        .body(Body::empty())
        .unwrap();
    let response = f.router.clone().oneshot(request).await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(!id.contains("caller"), "{id}");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

/// Newcomer review D26: a path no route serves gets the error body too.
#[tokio::test]
async fn an_unknown_path_is_a_404_in_the_error_body() {
    let f = Fixture::new().await;
    for path in ["/", "/v1/nonexistent"] {
        let (status, body) = f.call("GET", path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
}
