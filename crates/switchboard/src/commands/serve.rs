//! `switchboard serve`: open the store, load TLS, bind, create the bootstrap
//! credential on first start, and serve until SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use sb_api::tls::{self, TlsSource};
use sb_api::{AppState, ServeOptions};
use sb_runtime::Deployer;
use sb_security::{ApiKey, Role};
use sb_spec::SourceBundle;
use sb_store::{Store, StoredCredential};

use crate::cli::{LogFormat, ServeArgs};

/// How often the server looks for a version applied by another process.
/// How often the key directory is checked for a rotated KEK.
const KEK_POLL: Duration = Duration::from_secs(30);
const CONFIG_POLL: Duration = Duration::from_secs(2);

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        // Colours only for a person at a terminal; a log file gets plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let data = args.data.resolve(args.demo);
    // Before anything is created: keys inside the data directory would be copied with it.
    let keys_dir = args.keys.resolve(&data)?;
    let instance = sb_runtime::open::InstanceData::open(&data)?;
    let store = instance.store.clone();
    for (path, mode) in sb_store::readable_by_others(&data) {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "readable by other users of this machine: it holds password hashes, audit records and customer data; `chmod go-rwx` it"
        );
    }

    let tls_source = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => TlsSource::SelfSigned {
            dir: data.join("tls"),
        },
    };
    let material = tls::load(&tls_source).context("loading the TLS certificate")?;

    let listener = std::net::TcpListener::bind(args.listen).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {}: the address is already in use (another switchboard?). Choose another with --listen",
            args.listen
        ),
        _ => anyhow::anyhow!("cannot listen on {}: {e}", args.listen),
    })?;
    let local = listener.local_addr()?;

    let bootstrap = sb_api::ensure_bootstrap_credential(store.as_ref())?;
    let deployer = instance.deployer.clone();

    let mut demo_tokens = Vec::new();
    let mut demo_applied = None;
    let mut replaced: Option<sb_store::VersionSummary> = None;
    if args.demo {
        let spec_dir = find_demo_spec()?;
        let bundle = SourceBundle::read_dir(&spec_dir)?;
        // A version someone else deployed since is replaced: say so, with the way back.
        replaced = deployer.versions()?.pop().filter(|v| v.actor != DEMO_ACTOR);
        let applied = deployer
            .apply(&bundle, DEMO_ACTOR, None)
            .with_context(|| format!("applying the demo spec {}", spec_dir.display()))?;
        if let Some(v) = &applied.version {
            tracing::info!(version = v.version, "demo spec applied");
        } else {
            replaced = None;
        }
        demo_applied = applied.version.map(|v| v.version);
        if bootstrap.is_some() {
            demo_tokens = create_demo_credentials(store.as_ref(), &deployer)?;
        }
    }

    // Before the banner: whoever reads it may signal at once.
    let signals = sb_api::Signals::install().context("installing the signal handlers")?;
    print_banner(
        &data,
        local,
        &material,
        bootstrap.as_ref(),
        &demo_tokens,
        args.demo,
        replaced.as_ref(),
    );

    // What the server itself changed before it served anything is audited like the rest
    // (once the instance is started, below).
    let mut own_changes = Vec::new();
    if let Some(b) = &bootstrap {
        own_changes.push((
            "credential:Create",
            serde_json::json!({"id": b.id, "user": "bootstrap-admin", "role": "Admin"}),
        ));
    }
    if let Some(version) = demo_applied {
        own_changes.push((
            "config:Apply",
            serde_json::json!({"actor": DEMO_ACTOR, "version": version}),
        ));
    }
    for (user, role, token) in &demo_tokens {
        let id = token
            .trim_start_matches("sb_")
            .split('.')
            .next()
            .unwrap_or_default();
        own_changes.push((
            "credential:Create",
            serde_json::json!({"id": id, "user": user, "role": role}),
        ));
    }
    let keys = sb_runtime::keys::KeyDir::open(&keys_dir)
        .with_context(|| format!("opening the key directory {}", keys_dir.display()))?;
    let signer = keys
        .audit_signer()
        .context("loading the audit signing key")?;
    tracing::info!(key_id = %signer.key_id(), public_key = %signer.public_key(), keys = %keys_dir.display(), "audit digests signed");
    let token_key = keys.token_key().context("loading the token signing key")?;
    let kek_sources = args.keys.sources();
    let keyring = keys
        .keyring(&kek_sources)
        .context("loading the key-encryption key")?;
    tracing::info!(kek = %keyring.current_id(), "data keys wrapped by this key-encryption key");
    let signer = Arc::new(signer);
    let function_ca = match &args.function_ca {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading --function-ca {}", path.display()))?,
        ),
        None => None,
    };
    let running = instance.start(sb_runtime::open::StartOptions {
        erasures: Some(sb_runtime::privacy::ErasureLog::in_key_dir(&keys_dir)),
        function_ca,
        audit_signer: Some(signer.clone()),
        ..sb_runtime::open::StartOptions::new(keyring)
    })?;
    let (vault, runtime) = (running.vault.clone(), running.runtime.clone());
    tokio::spawn(follow_kek_rotation(
        keys_dir.clone(),
        kek_sources,
        vault.clone(),
    ));
    for (action, parameters) in own_changes {
        let mut record = sb_runtime::audit::AuditRecord::now(action);
        record.authenticated_by = "server".into();
        record.user = Some(if action == "config:Apply" {
            DEMO_ACTOR.into()
        } else {
            "switchboard serve".into()
        });
        record.parameters = parameters;
        runtime
            .audit(&record)
            .await
            .context("recording the server's own changes in the audit trail")?;
    }
    let store_for_signing = store.clone();
    let state = AppState {
        runtime,
        deployer: deployer.clone(),
        store,
        metrics: sb_api::install_metrics_recorder(),
        draining: Arc::new(AtomicBool::new(false)),
        realtime_views: Default::default(),
        stream_tails: Default::default(),
        token_key: Arc::new(token_key),
        vault,
        roles: Default::default(),
        sessions: Default::default(),
    };
    tokio::spawn(poll_for_new_versions(deployer));
    tracing::info!(listen = %local, data = %data.display(), "switchboard listening (HTTPS)");
    sb_api::serve(
        state,
        ServeOptions {
            listener,
            signals,
            tls: tls_source,
            tls_config: material.config,
            shutdown_grace: Duration::from_secs(args.shutdown_grace_seconds),
            limits: sb_api::ConnectionLimits::new(
                args.max_connections,
                args.max_connections_per_source,
            ),
            header_timeout: Duration::from_secs(args.header_timeout_seconds.max(1)),
        },
    )
    .await?;
    // A clean stop leaves the trail signed to its end: records since the last digest
    // would otherwise look, three minutes on, like a tail cut after a digest.
    let signed = tokio::task::spawn_blocking(move || {
        sb_runtime::audit::digest_now(store_for_signing.as_ref(), &signer)
    })
    .await;
    match signed {
        Ok(Ok(_)) => tracing::info!("audit trail signed to its end"),
        Ok(Err(e)) => tracing::error!(error = %e, "cannot sign the audit trail at shutdown"),
        Err(e) => tracing::error!(error = %e, "cannot sign the audit trail at shutdown"),
    }
    Ok(ExitCode::SUCCESS)
}

/// After `keys rotate` names a new current KEK, new data keys are wrapped by it.
async fn follow_kek_rotation(
    keys_dir: PathBuf,
    sources: sb_runtime::keys::KekSources,
    vault: Arc<sb_runtime::vault::Vault>,
) {
    let mut tick = tokio::time::interval(KEK_POLL);
    loop {
        tick.tick().await;
        let (dir, sources) = (keys_dir.clone(), sources.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            sb_runtime::keys::KeyDir::open(&dir)
                .map_err(|e| e.to_string())?
                .keyring(&sources)
                .map_err(|e| e.to_string())
        })
        .await;
        match loaded {
            Ok(Ok(keyring)) if keyring.current_id() != vault.current_kek() => {
                tracing::info!(kek = %keyring.current_id(), "new key-encryption key is current");
                vault.reload(keyring);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot reload the key-encryption keys"),
            Err(e) => tracing::error!(error = %e, "key reload task failed"),
        }
    }
}

async fn poll_for_new_versions(deployer: Arc<Deployer>) {
    let mut tick = tokio::time::interval(CONFIG_POLL);
    loop {
        tick.tick().await;
        let d = deployer.clone();
        match tokio::task::spawn_blocking(move || d.refresh()).await {
            Ok(Ok(Some(version))) => tracing::info!(version, "configuration version now live"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot load the newest configuration version")
            }
            Err(e) => tracing::error!(error = %e, "configuration refresh task failed"),
        }
    }
}

/// `examples/acme` relative to the working directory, or to the repository the binary
/// was built in.
fn find_demo_spec() -> anyhow::Result<PathBuf> {
    let candidates = [
        PathBuf::from("examples/acme"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme"),
    ];
    for candidate in &candidates {
        if candidate.join("instance.yaml").is_file() {
            return Ok(candidate.clone());
        }
    }
    bail!("--demo needs the sample instance examples/acme: run it from the repository root")
}

/// One API credential per user of the demo spec, with that user's role.
/// Who the demo's versions are by.
const DEMO_ACTOR: &str = "demo";

/// The demo's credentials: one per user of the sample with a built-in role, and one for
/// an integration (`website`, the Integration role) that starts chats and tasks.
fn create_demo_credentials(
    store: &dyn Store,
    deployer: &Deployer,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let Some(config) = deployer.live().current() else {
        return Ok(Vec::new());
    };
    let mut tokens = Vec::new();
    let users = config
        .spec
        .users
        .values()
        .filter_map(|u| Some((u.username.to_string(), Role::parse(u.role.as_str())?)))
        .chain([("website".to_string(), Role::Integration)]);
    for (username, role) in users {
        let issued = ApiKey::issue()?;
        store.insert_credential(&StoredCredential {
            id: issued.id.clone(),
            secret_sha256: issued.secret_sha256,
            principal: username.clone(),
            role: role.as_str().into(),
            description: "demo credential".into(),
            created_at: jiff::Timestamp::now().to_string(),
        })?;
        tokens.push((username, role.as_str().to_string(), issued.token));
    }
    Ok(tokens)
}

fn print_banner(
    data: &Path,
    local: std::net::SocketAddr,
    material: &tls::TlsMaterial,
    bootstrap: Option<&sb_api::BootstrapCredential>,
    demo_tokens: &[(String, String, String)],
    demo: bool,
    replaced: Option<&sb_store::VersionSummary>,
) {
    let url = format!(
        "https://{}",
        if local.ip().is_loopback() {
            format!("localhost:{}", local.port())
        } else {
            local.to_string()
        }
    );
    println!("Switchboard is listening on {url} (TLS 1.2/1.3 only)");
    println!("  data directory:       {}", data.display());
    println!("  certificate SHA-256:  {}", material.fingerprint);
    if let Some(ca) = &material.ca_certificate {
        let made = if material.created {
            " (created now)"
        } else {
            ""
        };
        println!("  self-signed; trust:   {}{made}", ca.display());
    }
    if let Some(b) = bootstrap {
        println!();
        println!(
            "Bootstrap administrator credential {}, shown this once (only its hash is stored):",
            b.id
        );
        println!("  {}", b.token);
    }
    if !demo_tokens.is_empty() {
        println!();
        println!("Demo credentials, shown this once:");
        for (user, role, token) in demo_tokens {
            println!("  {user:<7} {role:<11} {token}");
        }
    }
    if let Some(v) = replaced {
        println!();
        println!(
            "Note: the demo re-applied the sample over version {} ({}, by {}). To go back: switchboard rollback --to {} --data {}",
            v.version,
            v.summary,
            v.actor,
            v.version,
            data.display()
        );
    }
    let ca = material
        .ca_certificate
        .as_ref()
        .map(|p| format!(" --cacert {}", p.display()))
        .unwrap_or_default();
    println!();
    if bootstrap.is_some() {
        println!("Try (TOKEN is the bootstrap administrator credential above: export TOKEN=sb_…):");
    } else {
        println!("Try (TOKEN is an administrator's credential):");
    }
    println!("  curl{ca} {url}/readyz");
    println!("  curl{ca} -H \"Authorization: Bearer $TOKEN\" {url}/v1/config/versions");
    println!("  curl{ca} -H \"Authorization: Bearer $TOKEN\" {url}/openapi.json");
    if demo {
        println!(
            "  switchboard plan examples/acme --server {url} --token $TOKEN{}",
            ca.replace("--cacert", "--ca-cert")
        );
    }
    println!("Stop with Ctrl-C (or SIGTERM): requests in flight finish first.");
}
