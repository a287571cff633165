//! The audit trail through the real server and CLI: calls are recorded with who, what,
//! from where and how it ended; `audit verify` passes on an untouched trail and fails
//! on a tampered one; a digest exported earlier catches records cut from the end.

use serde_json::Value;

use crate::support::*;

#[test]
fn calls_are_audited_and_tampering_is_found() {
    let data = steady_deployment();
    let auditor = credential(data.path(), "ivy", "Auditor");
    let analyst = credential(data.path(), "frank", "Analyst");
    let server = Server::start(data.path(), &[]);
    let d = data.path().to_str().unwrap();
    block_on(async {
        let client = server.client();
        let call = |path: &str, token: &str| {
            client
                .get(format!("{}{path}", server.url))
                .bearer_auth(token)
                .header("user-agent", "audit-e2e")
                .send()
        };
        assert_eq!(
            call("/v1/contacts?queue=Billing", &analyst)
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            call("/v1/contacts", "sb_Kbogus.bogus")
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(call("/v1/audit", &analyst).await.unwrap().status(), 403);
        let page: Value = call("/v1/audit?limit=1000", &auditor)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let records = page["records"].as_array().unwrap();
        let find = |action: &str, outcome: &str| {
            records
                .iter()
                .map(|r| &r["record"])
                .find(|r| r["action"] == action && r["outcome"] == outcome)
                .unwrap_or_else(|| panic!("no {action}/{outcome} in {page}"))
                .clone()
        };
        let read = find("contact:Read", "allowed");
        assert_eq!(read["user"], "frank");
        assert_eq!(read["authenticated_by"], "api_key");
        assert_eq!(read["source_address"], "127.0.0.1");
        assert_eq!(read["user_agent"], "audit-e2e");
        assert_eq!(read["parameters"]["queue"], "Billing");
        assert!(read["request_id"].is_string(), "{read}");
        assert_eq!(
            find("contact:Read", "denied")["status"],
            401,
            "a failed sign-in"
        );
        assert_eq!(find("audit:Read", "denied")["user"], "frank");
        find("credential:Create", "allowed");
        let secrets = serde_json::to_string(records).unwrap();
        assert!(!secrets.contains(&analyst), "no credential in the trail");

        // A token exchanged for the analyst's key dies with the key.
        let exchange = |key: String| {
            let request = client
                .post(format!("{}/v1/auth/token", server.url))
                .bearer_auth(key)
                .json(&serde_json::json!({}))
                .send();
            async move {
                let issued: Value = request.await.unwrap().json().await.unwrap();
                issued["token"].as_str().unwrap().to_string()
            }
        };
        let token = exchange(analyst.clone()).await;
        assert_eq!(call("/v1/contacts", &token).await.unwrap().status(), 200);
        // Rotating the key: the new secret works, the old one and its token do not.
        let old_id = analyst.trim_start_matches("sb_").split('.').next().unwrap();
        let rotated = run(&["credential", "rotate", "--id", old_id, "--data", d]);
        assert!(rotated.status.success(), "{}", text(&rotated));
        let rotated_token = String::from_utf8_lossy(&rotated.stdout)
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string();
        assert_eq!(
            call("/v1/contacts", &rotated_token).await.unwrap().status(),
            200
        );
        assert_eq!(call("/v1/contacts", &analyst).await.unwrap().status(), 401);
        assert_eq!(call("/v1/contacts", &token).await.unwrap().status(), 401);
        let analyst = rotated_token;
        let token = exchange(analyst.clone()).await;
        let id = analyst.trim_start_matches("sb_").split('.').next().unwrap();
        let revoked = run(&["credential", "revoke", "--id", id, "--data", d]);
        assert!(revoked.status.success(), "{}", text(&revoked));
        assert_eq!(call("/v1/contacts", &token).await.unwrap().status(), 401);
        assert_eq!(call("/v1/contacts", &analyst).await.unwrap().status(), 401);
        let again = run(&["credential", "revoke", "--id", id, "--data", d]);
        assert!(!again.status.success());
        assert!(text(&again).contains("no credential"), "{}", text(&again));
    });

    // The whole trail exports as JSON lines, each linked to the one before.
    let exported = run(&["audit", "export", "--data", d]);
    assert!(exported.status.success(), "{}", text(&exported));
    let lines: Vec<Value> = String::from_utf8_lossy(&exported.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 10);
    for pair in lines.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["seq"].as_u64(),
            pair[0]["seq"].as_u64().map(|s| s + 1)
        );
    }

    // Sign now, keep the digest outside, and verify: intact.
    let digest = run(&["audit", "digest", "--data", d]);
    assert!(digest.status.success(), "{}", text(&digest));
    let kept = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kept.path(), &digest.stdout).unwrap();
    let ok = run(&[
        "audit",
        "verify",
        "--data",
        d,
        "--kept",
        kept.path().to_str().unwrap(),
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("intact"));
    // Edit one record in the database: verify names it and fails.
    let db = rusqlite::Connection::open(data.path().join("switchboard.db")).unwrap();
    db.execute(
        "UPDATE audit_log SET record = replace(record, 'frank', 'nobody') WHERE record LIKE '%frank%'",
        [],
    )
    .unwrap();
    let bad = run(&["audit", "verify", "--data", d]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("was edited"), "{}", text(&bad));

    // Records cut from the end are found against the kept digest.
    db.execute(
        "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
        [],
    )
    .unwrap();
    db.execute("DELETE FROM audit_digests", []).unwrap();
    let cut = run(&[
        "audit",
        "verify",
        "--data",
        d,
        "--kept",
        kept.path().to_str().unwrap(),
    ]);
    assert_eq!(cut.status.code(), Some(1));
    assert!(
        text(&cut).contains("removed from the end"),
        "{}",
        text(&cut)
    );
    drop(server);
}

/// Signing in: an admin needs a one-time code (made here by oathtool, an independent
/// implementation), a code works once, a wrong one is refused, and ten failures lock
/// the user out; each attempt is in the audit trail.
#[test]
fn sign_in_with_a_password_and_an_oathtool_code() {
    if !have_tool("oathtool") {
        return;
    }
    let data = steady_deployment();
    let d = data.path().to_str().unwrap();
    let set = |user: &str, password: &str| set_password(data.path(), user, password);
    let weak = set("erin", "short1");
    assert!(!weak.status.success());
    assert!(text(&weak).contains("at least 12"), "{}", text(&weak));
    assert!(set("erin", "admin4erin2026").status.success());
    assert!(set("frank", "analyst4frank1").status.success());
    let enrol = run(&["user", "enrol-totp", "--user", "erin", "--data", d]);
    assert!(enrol.status.success(), "{}", text(&enrol));
    let printed = String::from_utf8_lossy(&enrol.stdout).to_string();
    let secret = printed
        .lines()
        .find_map(|l| l.strip_prefix("secret: ").map(str::to_string))
        .unwrap();
    let recovery: Vec<String> = printed
        .lines()
        .skip_while(|l| !l.starts_with("recovery codes"))
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(recovery.len(), 10, "{printed}");
    let server = Server::start(data.path(), &[]);
    block_on(async {
        let client = server.client();
        let login = |body: serde_json::Value| {
            client
                .post(format!("{}/v1/auth/login", server.url))
                .json(&body)
                .send()
        };
        let code = || {
            let out = std::process::Command::new("oathtool")
                .args(["--totp", "-b", &secret])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        // The admin without a code, with a wrong one, then with oathtool's.
        let r = login(serde_json::json!({"user": "erin", "password": "admin4erin2026"}))
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = login(
            serde_json::json!({"user": "erin", "password": "admin4erin2026", "code": "000000"}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 401);
        let good = code();
        let r =
            login(serde_json::json!({"user": "erin", "password": "admin4erin2026", "code": good}))
                .await
                .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["role"], "Admin");
        let token = body["token"].as_str().unwrap().to_string();
        let versions = client
            .get(format!("{}/v1/config/versions", server.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(versions.status(), 200);
        // Signed in with a second factor, the admin may act as QualityAnalyst, whose
        // statements require one (an API key's exchange is refused: tests/e2e/policies.rs).
        let assumed: Value = client
            .post(format!("{}/v1/auth/token", server.url))
            .bearer_auth(&token)
            .json(&serde_json::json!({"role": "QualityAnalyst"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let reviewed = client
            .get(format!("{}/v1/contacts", server.url))
            .bearer_auth(assumed["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(reviewed.status(), 200, "MFA carried into the assumed role");
        // The same code a second time is refused.
        let r =
            login(serde_json::json!({"user": "erin", "password": "admin4erin2026", "code": good}))
                .await
                .unwrap();
        assert_eq!(r.status(), 401);
        // A recovery code works in place of a code, once.
        let with_recovery =
            serde_json::json!({"user": "erin", "password": "admin4erin2026", "code": recovery[0]});
        assert_eq!(login(with_recovery.clone()).await.unwrap().status(), 200);
        assert_eq!(login(with_recovery).await.unwrap().status(), 401);

        // An analyst needs no code; ten wrong passwords lock them out, even from the
        // right one.
        let r = login(serde_json::json!({"user": "frank", "password": "analyst4frank1"}))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        for _ in 0..10 {
            let r = login(serde_json::json!({"user": "frank", "password": "guess4guess99"}))
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
        }
        let r = login(serde_json::json!({"user": "frank", "password": "analyst4frank1"}))
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("locked out"),
            "{body}"
        );
    });
    drop(server);
    // Every attempt is in the trail, without the passwords.
    let db = rusqlite::Connection::open(data.path().join("switchboard.db")).unwrap();
    let (denied, allowed): (i64, i64) = db
        .query_row(
            "SELECT SUM(record LIKE '%\"outcome\":\"denied\"%'), SUM(record LIKE '%\"outcome\":\"allowed\"%') FROM audit_log WHERE record LIKE '%auth:Login%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((denied, allowed), (15, 3));
    let from: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE record LIKE '%auth:Login%' AND record LIKE '%\"source_address\":\"127.0.0.1\"%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(from, 18, "each sign-in attempt says where it came from");
    let all: String = db
        .query_row("SELECT group_concat(record) FROM audit_log", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!all.contains("admin4erin2026") && !all.contains("guess4guess99"));
    // The authenticator secret is sealed at rest.
    let state: String = db
        .query_row(
            "SELECT state FROM user_logins WHERE user = 'erin'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !state.contains(&secret) && state.contains("sb1:"),
        "{state}"
    );
}

/// Review item 16 and L7: a clean stop signs the trail to its end (an untampered trail
/// must not look cut three minutes later), a CLI command signs what it appends, and
/// verifying needs only the public key — it never makes a key.
#[test]
fn a_clean_stop_leaves_the_trail_signed_and_verifying_needs_only_the_public_key() {
    let data = steady_deployment();
    let d = data.path().to_str().unwrap();
    let covered = || {
        let out = run(&["audit", "verify", "--data", d, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            report["records_checked"].as_u64().unwrap(),
            report["newest_digest"]["audit_seq"].as_u64().unwrap_or(0),
        )
    };
    let mut server = Server::start(data.path(), &[]);
    let (status, _) = server.get("/v1/config/versions", Some(&server.token.clone()));
    assert_eq!(status, 200);
    assert_eq!(
        server
            .stop_with("TERM", std::time::Duration::from_secs(30))
            .map(|s| s.success()),
        Some(true)
    );
    let (records, signed_to) = covered();
    assert_eq!(
        signed_to, records,
        "the newest record is signed after SIGTERM"
    );
    // A command run while no server is up signs its own record.
    credential(data.path(), "ivy", "Auditor");
    let (records, signed_to) = covered();
    assert_eq!(signed_to, records, "the CLI's record is signed too");

    // The public key alone verifies; an empty key directory is refused, not filled.
    let public_key = server
        .banner
        .lines()
        .chain(
            std::fs::read_to_string(data.path().join("server.log"))
                .unwrap_or_default()
                .lines(),
        )
        .find_map(|l| {
            let at = l.find("\"public_key\":\"")? + 14;
            Some(l[at..at + 64].to_string())
        })
        .expect("the server logs its audit public key");
    let empty = tempfile::tempdir().unwrap();
    let e = empty.path().to_str().unwrap();
    let out = run(&[
        "audit",
        "verify",
        "--data",
        d,
        "--public-key",
        &public_key,
        "--keys",
        e,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&["audit", "verify", "--data", d, "--keys", e]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no audit signing key"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_dir(empty.path()).unwrap().count(),
        0,
        "no key was made"
    );
}

/// Review L5: a refused participant token is in the audit trail like any refused
/// credential, with where it came from.
#[test]
fn refused_participant_tokens_are_audited() {
    let data = steady_deployment();
    let auditor = credential(data.path(), "grace", "Auditor");
    let server = Server::start(data.path(), &[]);
    block_on(async {
        for token in ["not-a-token", "sbp_forged.forged"] {
            let refused =
                crate::clients::connect(&server, "/v1/chat/ws?contact=c-does-not-exist", token)
                    .await;
            assert!(refused.is_err(), "a bad participant token was taken");
        }
    });
    let (status, page) = server.get("/v1/audit?action=chat:Connect", Some(&auditor));
    assert_eq!(status, 200, "{page}");
    let refusals: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["record"])
        .filter(|r| r["outcome"] == "denied")
        .collect();
    assert_eq!(refusals.len(), 2, "{page}");
    assert_eq!(refusals[0]["source_address"], "127.0.0.1");
    assert_eq!(refusals[0]["parameters"]["contact"], "c-does-not-exist");
}
