//! Router assembly and the HTTPS server with graceful shutdown and certificate reload.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Extension, Router};
use axum_server::tls_rustls::RustlsConfig;
use metrics_exporter_prometheus::PrometheusHandle;
use sb_runtime::Deployer;
use sb_store::Store;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{endpoint_actions, require_credential};
use crate::routes::{
    agent_desk, agent_socket, agents, audit, auth_token, chat, config, contacts, historical, login,
    metrics, ops, query, sealed, streams, tasks,
};
use crate::telemetry::observe;
use crate::tls::{self, TlsSource};

/// A spec bundle may be up to 64 MiB; base64 for audio adds a third. Only the
/// configuration endpoints take bundles.
const CONFIG_BODY_LIMIT: usize = 96 * 1024 * 1024;
/// Every other body is a small JSON document (a chat message, a query, a token request).
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub deployer: Arc<Deployer>,
    pub runtime: sb_runtime::instance::RuntimeHandle,
    pub store: Arc<dyn Store>,
    pub metrics: PrometheusHandle,
    /// Set on SIGTERM: readiness fails so load balancers stop sending new work.
    pub draining: Arc<AtomicBool>,
    /// Real-time metric views computed for the current snapshot, shared by subscribers.
    pub realtime_views: Arc<crate::routes::metrics::RealtimeViews>,
    /// Signs and checks short-lived tokens.
    pub token_key: Arc<sb_security::token::TokenKey>,
    /// The shared readers of each stream's newest events, for subscribers.
    pub stream_tails: Arc<crate::routes::stream_tail::StreamTails>,
    /// Opens what is sealed at rest (transcripts, sensitive fields, sign-in secrets).
    pub vault: Arc<sb_runtime::vault::Vault>,
    /// Compiled role policies (built-in and the deployed spec's custom roles).
    pub roles: Arc<crate::auth::RoleCache>,
    /// Signed-in sessions' last use, for the idle timeout.
    pub sessions: Arc<crate::auth::SessionActivity>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "Self-hosted contact center. Every endpoint except /healthz and /readyz needs `Authorization: Bearer <credential>`; each declares the action it performs in `x-switchboard-action`."
    ),
    tags(
        (name = "operations", description = "Probes, metrics and this description"),
        (name = "configuration", description = "Instance specs as code: plan, apply, rollback, history"),
        (name = "contacts", description = "Chats, tasks and contact records"),
        (name = "agents", description = "Agent sessions and live agent state"),
        (name = "metrics", description = "Real-time metrics with Amazon Connect's names, pulled or pushed"),
        (name = "streams", description = "Durable event streams: read by position, long-poll, subscribe, checkpoint"),
        (name = "privacy", description = "What is held about a customer, and erasing it")
    )
)]
struct ApiDoc;

pub fn build_router(state: AppState) -> Router {
    let (public, public_api) = OpenApiRouter::<AppState>::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(chat::chat_socket))
        .routes(routes!(login::login))
        .route_layer(middleware::from_fn(observe))
        .split_for_parts();
    let guarded = |router: OpenApiRouter<AppState>| {
        router
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                require_credential,
            ))
            .route_layer(middleware::from_fn(observe))
            .split_for_parts()
    };
    let (configuration, configuration_api) = guarded(
        OpenApiRouter::<AppState>::new()
            .routes(routes!(config::plan))
            .routes(routes!(config::apply))
            .routes(routes!(config::rollback))
            .routes(routes!(config::versions))
            .routes(routes!(config::version)),
    );
    let (protected, protected_api) = guarded(
        OpenApiRouter::<AppState>::new()
            .routes(routes!(ops::metrics))
            .routes(routes!(ops::openapi))
            .routes(routes!(chat::start_chat))
            .routes(routes!(tasks::create_task))
            .routes(routes!(agent_socket::agent_socket))
            .routes(routes!(agent_desk::desk))
            .routes(routes!(agent_desk::act))
            .routes(routes!(agents::list_agents))
            .routes(routes!(contacts::search_contacts))
            .routes(routes!(contacts::live_contacts))
            .routes(routes!(contacts::get_contact))
            .routes(routes!(contacts::explain))
            .routes(routes!(contacts::stop_contact))
            .routes(routes!(agents::set_agent_status))
            .routes(routes!(contacts::flow_logs))
            .routes(routes!(sealed::transcript))
            .routes(routes!(sealed::sensitive_fields))
            .routes(routes!(sealed::privacy_export))
            .routes(routes!(sealed::privacy_erase))
            .routes(routes!(metrics::get_current_metrics))
            .routes(routes!(historical::get_historical_metrics))
            .routes(routes!(query::run_query))
            .routes(routes!(audit::read_audit))
            .routes(routes!(auth_token::get_token))
            .routes(routes!(auth_token::sign_out))
            .routes(routes!(metrics::subscribe_current_metrics))
            .routes(routes!(streams::list_streams))
            .routes(routes!(streams::read_stream))
            .routes(routes!(streams::subscribe_stream))
            .routes(routes!(streams::get_checkpoint, streams::put_checkpoint)),
    );

    let mut api = ApiDoc::openapi();
    api.merge(public_api);
    api.merge(configuration_api);
    api.merge(protected_api);
    declare_security(&mut api);
    let doc = ops::OpenApiJson(Arc::new(
        api.to_pretty_json()
            .expect("the OpenAPI document serialises"),
    ));

    Router::new()
        .merge(public.layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .merge(configuration.layer(DefaultBodyLimit::max(CONFIG_BODY_LIMIT)))
        .merge(protected.layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .fallback(no_such_route)
        .layer(middleware::from_fn(
            crate::error::refusals_in_the_error_body,
        ))
        .layer(Extension(doc))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::from_fn(crate::telemetry::edge_headers))
        .with_state(state)
}

/// A path no route serves: a 404 in the error body, like every other error.
async fn no_such_route(uri: axum::http::Uri) -> crate::error::ApiError {
    let path: String = uri.path().chars().take(200).collect();
    crate::error::ApiError::NotFound(format!("no endpoint at {path}; /openapi.json lists them"))
}

/// Add the bearer scheme, and each operation's action as `x-switchboard-action`.
fn declare_security(api: &mut utoipa::openapi::OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "participant_token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("A chat customer's token, good for one contact"))
                .build(),
        ),
    );
    for (path, item) in api.paths.paths.iter_mut() {
        let operations = [
            ("GET", item.get.as_mut()),
            ("POST", item.post.as_mut()),
            ("PUT", item.put.as_mut()),
            ("DELETE", item.delete.as_mut()),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            declare_common_errors(operation, path);
            let Some((_, _, action)) =
                endpoint_actions().find(|(m, p, _)| *m == method && p == path)
            else {
                continue;
            };
            declare_error(
                operation,
                "401",
                "No credential, or one that is not (or no longer) valid",
            );
            declare_error(
                operation,
                "403",
                "The credential's policies do not allow this action",
            );
            operation.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
            let extensions = operation.extensions.get_or_insert_with(Default::default);
            extensions.insert(
                "x-switchboard-action".into(),
                serde_json::json!(action.as_str()),
            );
        }
    }
}

/// The errors an operation can answer whatever it does: those of its path's names, its
/// query and its body, as the extractors refuse them (each in the error body).
fn declare_common_errors(operation: &mut utoipa::openapi::path::Operation, path: &str) {
    use utoipa::openapi::path::ParameterIn;
    if path.contains('{') {
        declare_error(operation, "400", "A name in the path is malformed");
        declare_error(operation, "404", "Nothing by that name");
    }
    let has_query = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    if has_query {
        declare_error(
            operation,
            "400",
            "A parameter is missing, unknown or malformed",
        );
    }
    if operation.request_body.is_some() {
        declare_error(operation, "400", "The body is not valid JSON");
        declare_error(operation, "413", "The body is over the size limit");
        declare_error(
            operation,
            "415",
            "The body is not sent as `application/json`",
        );
        declare_error(
            operation,
            "422",
            "The JSON does not fit the request's schema",
        );
    }
}

/// Add `status` with the error body to `operation`'s responses, unless it says more of
/// its own already.
fn declare_error(
    operation: &mut utoipa::openapi::path::Operation,
    status: &str,
    description: &str,
) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        });
}

pub struct ServeOptions {
    pub listener: std::net::TcpListener,
    pub signals: Signals,
    pub tls: TlsSource,
    pub tls_config: Arc<rustls::ServerConfig>,
    /// How long in-flight requests get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Connections held at most, in all and from one address.
    pub limits: crate::ConnectionLimits,
    /// How long a connection may take to send a request's head, or stay idle between
    /// requests; a request's body gets [`BODY_TIMEOUT`].
    pub header_timeout: Duration,
}

/// How long a request's body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The signals the server answers (SIGTERM and SIGINT drain and stop, SIGHUP reloads the
/// certificate), taken from their default actions — SIGHUP's is to end the process.
/// Install them before telling anyone the server is up, so that a reload sent while it
/// is still starting is kept for later instead of killing it.
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Must run inside the Tokio runtime.
    pub fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }
}

/// Serve until SIGTERM or SIGINT, then drain for at most `shutdown_grace`.
/// SIGHUP reloads the certificate without dropping connections.
pub async fn serve(state: AppState, options: ServeOptions) -> anyhow::Result<()> {
    options.listener.set_nonblocking(true)?;
    let rustls = RustlsConfig::from_config(options.tls_config);
    let handle = axum_server::Handle::new();
    tokio::spawn(watch_signals(
        options.signals,
        handle.clone(),
        state.draining.clone(),
        rustls.clone(),
        options.tls,
        options.shutdown_grace,
    ));
    let app = build_router(state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        BODY_TIMEOUT,
    ));
    // Slow clients (slowloris) hold nothing for long: the handshake, a request's head
    // and the idle time between requests have deadlines, a body has its own, and
    // connections are capped in all and per address before TLS begins.
    let acceptor = crate::connection_limits::FirstRequestDeadline {
        inner: axum_server::tls_rustls::RustlsAcceptor::new(rustls)
            .handshake_timeout(HANDSHAKE_TIMEOUT)
            .acceptor(options.limits),
        limit: options.header_timeout,
    };
    let mut server = axum_server::from_tcp(options.listener)
        .acceptor(acceptor)
        .handle(handle);
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    server
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    tracing::info!("server stopped");
    Ok(())
}

async fn watch_signals(
    mut signals: Signals,
    handle: axum_server::Handle,
    draining: Arc<AtomicBool>,
    rustls: RustlsConfig,
    source: TlsSource,
    grace: Duration,
) {
    loop {
        tokio::select! {
            _ = signals.terminate.recv() => break,
            _ = signals.interrupt.recv() => break,
            _ = signals.hangup.recv() => match tls::load(&source) {
                Ok(material) => {
                    rustls.reload_from_config(material.config);
                    tracing::info!(fingerprint = %material.fingerprint, "TLS certificate reloaded");
                }
                Err(e) => tracing::error!(error = %e, "TLS reload failed; keeping the current certificate"),
            },
        }
    }
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: no new work, finishing requests in flight"
    );
    draining.store(true, Ordering::Release);
    handle.graceful_shutdown(Some(grace));
}
