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
        let issued: Value = client
            .post(format!("{}/v1/auth/token", server.url))
            .bearer_auth(&analyst)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = issued["token"].as_str().unwrap().to_string();
        assert_eq!(call("/v1/contacts", &token).await.unwrap().status(), 200);
        let id = analyst.trim_start_matches("sb_").split('.').next().unwrap();
        let revoked = run(&["credential", "revoke", "--id", id, "--data", d]);
        assert!(revoked.status.success(), "{}", text(&revoked));
        assert_eq!(call("/v1/contacts", &token).await.unwrap().status(), 401);
        assert_eq!(call("/v1/contacts", &analyst).await.unwrap().status(), 401);
        let again = run(&["credential", "revoke", "--id", id, "--data", d]);
        assert!(!again.status.success());
        assert!(text(&again).contains("no credential"), "{}", text(&again));
    });

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
