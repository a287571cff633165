//! The server process: TLS, authentication, probes, OpenAPI, live deploys, shutdown.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

#[test]
fn the_demo_serves_https_with_credentials_and_a_deployed_sample() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--demo"]);
    assert!(
        server.banner.contains("Demo credentials"),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains("certificate SHA-256:"),
        "{}",
        server.banner
    );
    assert!(server.token.starts_with("sb_K"), "{}", server.banner);

    assert_eq!(server.get("/healthz", None).0, 200);
    // Ready once the runtime has recovered, a moment after the banner.
    assert!(eventually(Duration::from_secs(10), || server
        .get("/readyz", None)
        .0
        == 200));
    let (status, ready) = server.get("/readyz", None);
    assert_eq!(
        (status, ready["config_version"].as_u64()),
        (200, Some(1)),
        "{ready}"
    );
    for path in [
        "/v1/config/versions",
        "/metrics",
        "/openapi.json",
        "/v1/config/versions/1",
    ] {
        assert_eq!(server.get(path, None).0, 401, "{path} without a credential");
    }
    let (status, doc) = server.get("/openapi.json", Some(&server.token));
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let (status, metrics) = server.get("/metrics", Some(&server.token));
    assert_eq!(status, 200);
    assert!(metrics
        .as_str()
        .unwrap()
        .contains("switchboard_http_requests_total"));
}

#[test]
fn the_bootstrap_credential_is_shown_once_and_stored_only_as_a_hash() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(data.path(), &[]);
    let token = first.token.clone();
    drop(first);
    let second = Server::start(data.path(), &[]);
    assert!(
        second.token.is_empty(),
        "no second bootstrap credential: {}",
        second.banner
    );
    assert_eq!(
        second.get("/v1/config/versions", Some(&token)).0,
        200,
        "the first one still works"
    );
    let secret = token.split('.').nth(1).unwrap();
    let db = std::fs::read(data.path().join("switchboard.db")).unwrap();
    let wal = std::fs::read(data.path().join("switchboard.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "secret stored in the clear"
        );
    }
}

#[test]
fn deploys_through_the_server_take_effect_without_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    assert_eq!(server.get("/readyz", None).0, 503, "nothing deployed");
    let spec = acme_copy();
    let spec_arg = spec.path().to_str().unwrap().to_string();
    let target = server.target();
    let with = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(target.iter().cloned());
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&refs)
    };

    let out = with(&["apply", &spec_arg, "--expect-version", "0"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(server.get("/readyz", None).1["config_version"], 1);

    replace_in(
        &spec.path().join("queues.yaml"),
        "max_contacts: 20\n",
        "max_contacts: 25\n",
    );
    let out = with(&["plan", &spec_arg]);
    assert!(
        text(&out).contains("~ queue \"Escalations\""),
        "{}",
        text(&out)
    );
    let out = with(&["apply", &spec_arg, "--expect-version", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(server.get("/readyz", None).1["config_version"], 2);

    let out = with(&["apply", &spec_arg, "--expect-version", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("version conflict"), "{}", text(&out));

    let out = with(&["rollback", "--to", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = with(&["versions", "--json"]);
    let versions: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(versions.len(), 3);
    assert!(versions[2]["actor"]
        .as_str()
        .unwrap()
        .starts_with("bootstrap-admin"));

    // A version applied by another process on the same data directory is picked up.
    replace_in(
        &spec.path().join("queues.yaml"),
        "max_contacts: 25",
        "max_contacts: 30",
    );
    let out = run(&["apply", &spec_arg, "--data", data.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(eventually(Duration::from_secs(10), || server
        .get("/readyz", None)
        .1["config_version"]
        == 4));

    let mut bad = server.target();
    bad[3] = "sb_K0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
    let mut args = vec!["versions".to_string()];
    args.extend(bad);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&refs);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("HTTP 401"), "{}", text(&out));
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &["--shutdown-grace-seconds", "5"]);
    assert_eq!(server.get("/healthz", None).0, 200);
    let status = server
        .stop_with("TERM", Duration::from_secs(10))
        .expect("exited within the grace period");
    assert!(status.success(), "{status}");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let other = tempfile::tempdir().unwrap();
    let out = run(&[
        "serve",
        "--data",
        other.path().to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{}", server.port),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("already in use"), "{}", text(&out));
}

#[test]
fn a_certificate_that_does_not_match_its_key_is_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    drop(Server::start(a.path(), &[]));
    drop(Server::start(b.path(), &[]));
    let cert = a.path().join("tls/server.pem");
    let key = b.path().join("tls/server-key.pem");
    let data = tempfile::tempdir().unwrap();
    let out = run(&[
        "serve",
        "--data",
        data.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("does not match the private key"),
        "{}",
        text(&out)
    );
}

fn handshake(port: u16, flags: &[&str]) -> bool {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .args(flags)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs");
    let said = String::from_utf8_lossy(&output.stdout);
    output.status.success() && said.contains("Cipher is") && !said.contains("Cipher is (NONE)")
}

#[test]
fn only_tls_1_2_and_1_3_with_aead_suites_are_accepted() {
    if !have_tool("openssl") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    // A client that allows old protocols must still be refused them; SECLEVEL=0 keeps
    // the client's own policy out of the way so the refusal is the server's.
    assert!(
        !handshake(server.port, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        "TLS 1.1 accepted"
    );
    assert!(
        !handshake(server.port, &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        "TLS 1.0 accepted"
    );
    assert!(handshake(server.port, &["-tls1_2"]), "TLS 1.2 refused");
    assert!(handshake(server.port, &["-tls1_3"]), "TLS 1.3 refused");
    for weak in [
        "AES128-SHA",
        "AES256-SHA256",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES128-SHA",
        "DES-CBC3-SHA",
    ] {
        assert!(
            !handshake(
                server.port,
                &["-tls1_2", "-cipher", &format!("{weak}:@SECLEVEL=0")]
            ),
            "weak suite {weak} accepted"
        );
    }
    assert!(handshake(
        server.port,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]
    ));
    // The server's order decides (review L17): a client preferring ChaCha20 still gets
    // AES-256-GCM, the server's first choice.
    let chosen = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", server.port),
        ])
        .args(["-servername", "localhost", "-tls1_3", "-ciphersuites"])
        .arg("TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs");
    let said = String::from_utf8_lossy(&chosen.stdout);
    assert!(said.contains("TLS_AES_256_GCM_SHA384"), "{said}");
}

#[test]
fn sighup_reloads_the_certificate_without_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let before = server
        .banner
        .lines()
        .find(|l| l.contains("SHA-256"))
        .unwrap()
        .to_string();
    // Replace the certificate files with new ones made by another server.
    let other = tempfile::tempdir().unwrap();
    drop(Server::start(other.path(), &[]));
    for f in ["server.pem", "server-key.pem", "ca.pem"] {
        std::fs::copy(
            other.path().join("tls").join(f),
            data.path().join("tls").join(f),
        )
        .unwrap();
    }
    Command::new("kill")
        .args(["-HUP", &server_pid(&server)])
        .status()
        .unwrap();
    // The new CA now validates the connection; the old one does not.
    assert!(
        eventually(Duration::from_secs(10), || {
            let pem = std::fs::read(other.path().join("tls/ca.pem")).unwrap();
            let client = reqwest::Client::builder()
                .use_rustls_tls()
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                .build()
                .unwrap();
            let url = format!("{}/healthz", server.url);
            block_on(async move { client.get(url).send().await.is_ok() })
        }),
        "new certificate served after SIGHUP (was {before})"
    );
}

#[test]
fn a_reload_signal_sent_the_moment_the_banner_appears_does_not_stop_the_server() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    // Whoever starts the server may reload it as soon as it says where it listens,
    // while it is still opening its log and keys.
    Command::new("kill")
        .args(["-HUP", &server_pid(&server)])
        .status()
        .unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(data.path().join("tls/ca.pem")).unwrap())
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            let url = format!("{}/healthz", server.url);
            let client = client.clone();
            block_on(async move { client.get(url).send().await.is_ok() })
        }),
        "the server stopped on SIGHUP during start-up"
    );
}

fn server_pid(server: &Server) -> String {
    server.pid().to_string()
}

#[test]
fn the_openapi_document_passes_an_independent_validator() {
    if !have_python_module("openapi_spec_validator", "openapi-spec-validator") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let (status, doc) = server.get("/openapi.json", Some(&server.token));
    assert_eq!(status, 200);
    let file = data.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Schemathesis, an independent client, generates requests to every endpoint from the
/// server's own OpenAPI document — bodies, parameters and methods the handlers do not
/// expect among them — against the sample instance. Bad input must get a 4xx with a
/// message, never a server error; and every answer must be one the document lists for
/// that operation: its status, its content type and its body's schema (so a client
/// generated from the document can read every error). (The sockets and the long-lived
/// streams are left to their own tests.)
#[test]
fn generated_requests_to_every_endpoint_get_only_answers_the_api_description_lists() {
    if !have_python_module("schemathesis", "schemathesis") {
        return;
    }
    let data = steady_deployment();
    let admin = credential(data.path(), "erin", "Admin");
    let server = Server::start(data.path(), &[]);
    let (status, doc) = server.get("/openapi.json", Some(&admin));
    assert_eq!(status, 200);
    let file = data.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = Command::new("python3")
        // Its cache goes beside the data, not into the source tree.
        .current_dir(data.path())
        .args(["-m", "schemathesis.cli", "run"])
        .arg(&file)
        .args(["--url", &server.url])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .arg("--tls-verify")
        .arg(&server.ca)
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "25", "--seed", "1"])
        // A pooled connection the server closes as idle just as the client reuses it
        // reads as an EOF; HTTP clients retry that, and so does this one (once). A
        // handler that dies mid-request would look the same, so the log is read for
        // panics below.
        .args(["--request-retries", "1"])
        .args(["--exclude-path-regex", "/ws$|/subscribe$"])
        .output()
        .unwrap();
    let report = format!(
        "{}{}\n--- the server's log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_tail()
    );
    assert!(out.status.success(), "{report}");
    assert!(report.contains("passed"), "{report}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains("panicked"), "a handler panicked:\n{log}");
}

/// Newcomer review D5 and D18: the demo's own changes (its apply, the credentials it
/// makes) are in the audit trail; it makes an Integration key that starts chats; and a
/// restart that re-applies the sample over someone's version says so and how to go back.
#[test]
fn the_demo_audits_its_changes_and_says_when_it_replaces_a_version() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--demo"]);
    let website = server
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("website"))
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .expect("the demo prints an Integration credential");
    let (status, page) = server.get("/v1/audit?limit=100", Some(&server.token));
    assert_eq!(status, 200, "{page}");
    let records = page["records"].to_string();
    assert!(records.contains("\"config:Apply\""), "{records}");
    assert_eq!(
        records.matches("\"credential:Create\"").count(),
        9,
        "bootstrap, 7 users, website: {records}"
    );
    assert!(
        !records.contains(website.split('.').nth(1).unwrap()),
        "no secret in the trail"
    );
    drop(server);
    // An operator's version, then the demo again.
    let spec = acme_copy();
    replace_in(
        &spec.path().join("hours.yaml"),
        "{ day: MONDAY, start: \"08:00\", end: \"20:00\" }",
        "{ day: MONDAY, start: \"00:00\", end: \"24:00\" }",
    );
    let d = data.path().to_str().unwrap();
    let applied = run(&[
        "apply",
        spec.path().to_str().unwrap(),
        "--data",
        d,
        "--actor",
        "ops",
    ]);
    assert!(applied.status.success(), "{}", text(&applied));
    let again = Server::start(data.path(), &["--demo"]);
    assert!(
        again
            .banner
            .contains("re-applied the sample over version 2")
            && again.banner.contains("rollback --to 2"),
        "{}",
        again.banner
    );
}
