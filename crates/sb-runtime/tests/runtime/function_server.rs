//! An HTTPS server on loopback standing in for a customer's functions; shared by the
//! runtime tests and the function-call benchmark.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) struct FunctionServer {
    pub(crate) base: String,
    pub(crate) ca_pem: String,
    pub(crate) peers: Arc<Mutex<HashSet<SocketAddr>>>,
    _runtime_guard: tokio::task::JoinHandle<()>,
}

/// An HTTPS server on 127.0.0.1 with a private CA, and routes that misbehave on purpose.
pub(crate) async fn start_server() -> FunctionServer {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();

    let peers: Arc<Mutex<HashSet<SocketAddr>>> = Arc::default();
    let seen = peers.clone();
    let app = Router::new()
        .route("/ok", post(move |ConnectInfo(peer): ConnectInfo<SocketAddr>, Json(event): Json<Value>| {
            seen.lock().unwrap().insert(peer);
            async move { Json(json!({"tier": "gold", "channel": event["Details"]["ContactData"]["Channel"]})) }
        }))
        .route("/slow", post(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(json!({"late": "yes"}))
        }))
        .route("/hold", post(|| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Json(json!({"held": "yes"}))
        }))
        .route("/fail", post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route("/huge", post(|| async { Json(json!({"blob": "x".repeat(100_000)})) }))
        .route("/garbage", post(|| async { "this is not json" }))
        .route("/nested", post(|| async { Json(json!({"account": {"id": 7}})) }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = axum_server::from_tcp_rustls(
        listener,
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
    );
    let handle = tokio::spawn(async move {
        server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    FunctionServer {
        base: format!("https://localhost:{port}"),
        ca_pem: ca.pem(),
        peers,
        _runtime_guard: handle,
    }
}
