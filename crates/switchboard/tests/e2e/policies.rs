//! Custom roles from the spec, through the real server: resources, source addresses
//! and an explicit deny decide, and an assumed role keeps its second-factor condition.

use serde_json::json;

use crate::clients::*;
use crate::support::*;

#[test]
fn custom_roles_allow_only_what_their_statements_say_where_they_say() {
    let data = steady_deployment();
    let wallboard = credential(data.path(), "floor-screen", "Wallboard");
    let remote = credential(data.path(), "rita", "RemoteReviewer");
    let admin = credential(data.path(), "erin", "Admin");
    let server = Server::start(data.path(), &[]);

    // A role only the spec defines can be given; an undefined one cannot.
    let refused = run(&[
        "credential",
        "create",
        "--user",
        "x",
        "--role",
        "Janitor",
        "--data",
        data.path().to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("QualityAnalyst"),
        "{}",
        text(&refused)
    );

    block_on(async {
        // The wallboard reads current metrics from 127.0.0.1 (in its list)...
        let (status, body) = get(&server, "/v1/metrics/current", &wallboard).await;
        assert_eq!(status, 200, "{body}");
        // ...and nothing else: another action, or the same action elsewhere.
        let (status, body) = get(&server, "/v1/contacts", &wallboard).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("(role Wallboard) is not allowed to perform contact:Read"),
            "{body}"
        );

        // The remote reviewer's one statement needs the VPN range: from loopback, no.
        let (status, body) = get(&server, "/v1/contacts", &remote).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("only under conditions not met"),
            "{body}"
        );

        // An administrator's API key (no second factor) may assume QualityAnalyst, but
        // the role's MFA condition still applies to every request.
        let (status, token) = post(
            &server,
            "/v1/auth/token",
            &admin,
            json!({"role": "QualityAnalyst"}),
        )
        .await;
        assert_eq!(status, 200, "{token}");
        let assumed = token["token"].as_str().unwrap();
        let (status, body) = get(&server, "/v1/contacts", assumed).await;
        assert_eq!(status, 403, "no second factor: {body}");
        // The wallboard's role does not even allow exchanging its key.
        let (status, body) = post(
            &server,
            "/v1/auth/token",
            &wallboard,
            json!({"role": "QualityAnalyst"}),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(body.to_string().contains("auth:GetToken"), "{body}");
    });
}

/// Newcomer review D9: an instance can make its second-factor roles sign-in only. A key
/// issued before the setting is refused with what to do instead; no new one is issued;
/// other roles' keys are untouched.
#[test]
fn roles_that_need_a_second_factor_can_be_made_sign_in_only() {
    let spec = steady_acme();
    let data = deployment_of(&spec);
    let admin = credential(data.path(), "erin", "Admin");
    let supervisor = credential(data.path(), "dana", "Supervisor");
    replace_in(
        &spec.path().join("instance.yaml"),
        "  mfa_required_roles: [Admin, Supervisor]\n",
        "  mfa_required_roles: [Admin, Supervisor]\n  allow_api_keys_for_mfa_roles: false\n",
    );
    apply_to(spec.path(), data.path());
    let refused = run(&[
        "credential",
        "create",
        "--user",
        "erin",
        "--role",
        "Admin",
        "--data",
        data.path().to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("allow_api_keys_for_mfa_roles: false"),
        "{}",
        text(&refused)
    );
    let analyst = credential(data.path(), "frank", "Analyst");
    let server = Server::start(data.path(), &[]);
    block_on(async {
        for key in [&admin, &supervisor] {
            let (status, body) = get(&server, "/v1/contacts/live", key).await;
            assert_eq!(status, 403, "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("sign in with POST /v1/auth/login"),
                "{body}"
            );
        }
        let (status, body) = get(
            &server,
            "/v1/metrics/historical?from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z",
            &analyst,
        )
        .await;
        assert_eq!(status, 200, "an Analyst's key still works: {body}");
    });
}
