//! Signed-in sessions end when what they were issued for ends (security review H4, M2,
//! M3): a new password, the user removed from the spec or given another role, "sign out
//! everywhere"; an exchanged token never outlives its sign-in; parallel sign-ins cannot
//! exceed the lockout's ten guesses or spend a one-time code twice.

use serde_json::{json, Value};

use crate::support::*;

const FRANK: &str = "analyst4frank1";

async fn sign_in(server: &Server, client: &reqwest::Client, body: Value) -> (u16, Value) {
    let r = client
        .post(format!("{}/v1/auth/login", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A sign-in that must succeed: its token.
async fn token_of(server: &Server, client: &reqwest::Client, user: &str, password: &str) -> String {
    let (status, body) = sign_in(server, client, json!({"user": user, "password": password})).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// The status of a call every role may make (`api:Describe`): 200 while the token lives.
async fn status_with(server: &Server, client: &reqwest::Client, token: &str) -> u16 {
    client
        .get(format!("{}/openapi.json", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn exchange(server: &Server, client: &reqwest::Client, token: &str, body: Value) -> Value {
    let r = client
        .post(format!("{}/v1/auth/token", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Whether `call` answers `status` within ten seconds (a server notices a version
/// applied from the CLI within two).
async fn soon<F: std::future::Future<Output = u16>>(
    mut call: impl FnMut() -> F,
    status: u16,
) -> bool {
    for _ in 0..100 {
        if call().await == status {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[test]
fn sessions_end_with_the_password_the_role_and_the_user() {
    let spec = steady_acme();
    let data = deployment_of(&spec);
    assert!(set_password(data.path(), "frank", FRANK).status.success());
    let server = Server::start(data.path(), &[]);
    let d = data.path().to_str().unwrap();
    let client = server.client();
    block_on(async {
        let login = json!({"user": "frank", "password": FRANK});
        let (status, body) = sign_in(&server, &client, login.clone()).await;
        assert_eq!(status, 200, "{body}");
        let signed_in = body["token"].as_str().unwrap().to_string();
        let signed_in_until: jiff::Timestamp =
            body["expires_at"].as_str().unwrap().parse().unwrap();

        // M3: a sixty-minute sign-in asked for twelve hours gets its own sixty.
        let long = exchange(
            &server,
            &client,
            &signed_in,
            json!({"duration_seconds": 43200}),
        )
        .await;
        let long_until: jiff::Timestamp = long["expires_at"].as_str().unwrap().parse().unwrap();
        assert!(
            long_until <= signed_in_until,
            "{long_until} after {signed_in_until}"
        );
        let exchanged = long["token"].as_str().unwrap().to_string();
        let again = exchange(
            &server,
            &client,
            &exchanged,
            json!({"duration_seconds": 43200}),
        )
        .await;
        let again_until: jiff::Timestamp = again["expires_at"].as_str().unwrap().parse().unwrap();
        assert!(again_until <= signed_in_until);
        assert_eq!(status_with(&server, &client, &exchanged).await, 200);

        // A new password ends the session and every token exchanged from it.
        assert!(set_password(data.path(), "frank", "analyst4frank2")
            .status
            .success());
        for token in [&signed_in, &exchanged] {
            assert_eq!(status_with(&server, &client, token).await, 401);
        }

        // Demoted in the spec: the Analyst's token no longer works, as any role.
        let token = token_of(&server, &client, "frank", "analyst4frank2").await;
        let query = |token: String| {
            let client = client.clone();
            let url = format!("{}/v1/query", server.url);
            async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"sql": "select 1"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(query(token.clone()).await, 200);
        let users = spec.path().join("users.yaml");
        let before = std::fs::read_to_string(&users).unwrap();
        let frank_at = before.find("username: frank").unwrap();
        let role_at = frank_at + before[frank_at..].find("role: Analyst").unwrap();
        let demoted = format!(
            "{}role: Auditor{}",
            &before[..role_at],
            &before[role_at + "role: Analyst".len()..]
        );
        std::fs::write(&users, demoted).unwrap();
        let applied = run(&["apply", spec.path().to_str().unwrap(), "--data", d]);
        assert!(applied.status.success(), "{}", text(&applied));
        assert!(
            soon(|| query(token.clone()), 401).await,
            "the Analyst token still ran SQL after the user became an Auditor"
        );

        // "Sign out everywhere", from the API and from the CLI.
        let first = token_of(&server, &client, "frank", "analyst4frank2").await;
        let second = token_of(&server, &client, "frank", "analyst4frank2").await;
        let out = client
            .post(format!("{}/v1/auth/sign-out", server.url))
            .bearer_auth(&first)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 204);
        assert_eq!(
            status_with(&server, &client, &second).await,
            401,
            "every session ended"
        );
        let third = token_of(&server, &client, "frank", "analyst4frank2").await;
        assert_eq!(
            status_with(&server, &client, &third).await,
            200,
            "a fresh sign-in works"
        );
        let out = run(&["user", "sign-out", "--user", "frank", "--data", d]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(status_with(&server, &client, &third).await, 401);
        // An API key has no sessions to end.
        let out = client
            .post(format!("{}/v1/auth/sign-out", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 400);

        // Removed from the spec: refused, and no longer able to sign in.
        let token = token_of(&server, &client, "frank", "analyst4frank2").await;
        let now = std::fs::read_to_string(&users).unwrap();
        let start = now.find("  - username: frank").unwrap();
        let end = now[start + 4..]
            .find("  - username:")
            .map_or(now.len(), |e| start + 4 + e);
        std::fs::write(&users, format!("{}{}", &now[..start], &now[end..])).unwrap();
        let applied = run(&["apply", spec.path().to_str().unwrap(), "--data", d]);
        assert!(applied.status.success(), "{}", text(&applied));
        assert!(soon(|| status_with(&server, &client, &token), 401).await);
        let (status, _) = sign_in(
            &server,
            &client,
            json!({"user": "frank", "password": "analyst4frank2"}),
        )
        .await;
        assert_eq!(status, 401);
    });
}

#[test]
fn parallel_sign_ins_cannot_outguess_the_lockout_or_reuse_a_code() {
    if !have_tool("oathtool") {
        return;
    }
    let data = steady_deployment();
    let d = data.path().to_str().unwrap();
    assert!(set_password(data.path(), "frank", FRANK).status.success());
    let frank_key = credential(data.path(), "frank", "Analyst");
    assert!(set_password(data.path(), "erin", "admin4erin2026")
        .status
        .success());
    assert!(set_password(data.path(), "dana", "super4dana2026")
        .status
        .success());
    let enrol = |user: &str| {
        let enrol = run(&["user", "enrol-totp", "--user", user, "--data", d]);
        assert!(enrol.status.success(), "{}", text(&enrol));
        String::from_utf8_lossy(&enrol.stdout).to_string()
    };
    let printed = enrol("erin");
    let secret = printed
        .lines()
        .find_map(|l| l.strip_prefix("secret: ").map(str::to_string))
        .unwrap();
    // Each round on a user of its own: one round's failures must not lock the next out.
    let recovery = enrol("dana")
        .lines()
        .skip_while(|l| !l.starts_with("recovery codes"))
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let server = Server::start(data.path(), &[]);
    let client = server.client();
    // The rounds after the first come from another loopback address: the first
    // leaves 127.0.0.1 throttled.
    let pem = std::fs::read(&server.ca).unwrap();
    let elsewhere = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    block_on(async {
        let parallel = |client: &reqwest::Client, body: Value, n: usize| {
            let tries: Vec<_> = (0..n)
                .map(|_| {
                    let (client, url, body) = (
                        client.clone(),
                        format!("{}/v1/auth/login", server.url),
                        body.clone(),
                    );
                    tokio::spawn(async move {
                        let r = client.post(url).json(&body).send().await.unwrap();
                        let status = r.status().as_u16();
                        (status, r.text().await.unwrap())
                    })
                })
                .collect();
            async move {
                let mut answers = Vec::new();
                for t in tries {
                    answers.push(t.await.unwrap());
                }
                answers
            }
        };
        // Forty wrong guesses at once: at most ten are judged, the rest find the lock,
        // and the lock holds against the right password.
        let answers = parallel(
            &client,
            json!({"user": "frank", "password": "wrong-guess-123"}),
            40,
        )
        .await;
        // Past thirty failures from one address, the address waits (429).
        let judged = answers
            .iter()
            .filter(|(s, t)| *s == 401 && !t.contains("locked out"))
            .count();
        assert!(judged <= 10, "{judged} guesses judged: {answers:?}");
        let throttled = answers.iter().filter(|(s, _)| *s == 429).count();
        assert_eq!(throttled, 10, "{answers:?}");
        let (status, body) = sign_in(
            &server,
            &elsewhere,
            json!({"user": "frank", "password": FRANK}),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert!(body.to_string().contains("locked out"), "{body}");
        // Newcomer review D29: the locked-out user's API key is locked out too.
        assert_eq!(status_with(&server, &client, &frank_key).await, 401);

        // One TOTP code, eight times at once: one sign-in.
        let code = String::from_utf8(
            std::process::Command::new("oathtool")
                .args(["--totp", "-b", &secret])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_string();
        let answers = parallel(
            &elsewhere,
            json!({"user": "erin", "password": "admin4erin2026", "code": code}),
            8,
        )
        .await;
        let signed_in = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(signed_in, 1, "{answers:?}");
        // One recovery code, eight times at once: one sign-in.
        let answers = parallel(
            &elsewhere,
            json!({"user": "dana", "password": "super4dana2026", "code": recovery}),
            8,
        )
        .await;
        let signed_in = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(signed_in, 1, "{answers:?}");
    });
}

/// Review M4: revoking a credential reaches the sockets and streams already open with
/// it — an agent's socket and a pushed-metrics socket close with 1008, and a stream
/// subscription (read by curl) ends, within seconds.
#[test]
fn revocation_closes_open_sockets_and_streams() {
    if !have_tool("curl") {
        return;
    }
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let data = steady_deployment();
    let d = data.path().to_str().unwrap();
    let agent_key = credential(data.path(), "alice", "Agent");
    let analyst_key = credential(data.path(), "frank", "Analyst");
    let server = Server::start(data.path(), &[]);
    let subscription = std::process::Command::new("curl")
        .args(["-sS", "-N", "--max-time", "40", "--cacert"])
        .arg(&server.ca)
        .args(["-H", &format!("Authorization: Bearer {analyst_key}")])
        .arg(format!(
            "{}/v1/streams/contact-events/subscribe",
            server.url
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("curl runs");
    let closed_with = block_on(async {
        let mut agent = crate::clients::available(&server, &agent_key).await;
        let mut metrics = crate::clients::connect(&server, "/v1/metrics/current/ws", &analyst_key)
            .await
            .unwrap();
        for key in [&agent_key, &analyst_key] {
            let id = key.trim_start_matches("sb_").split('.').next().unwrap();
            let out = run(&["credential", "revoke", "--id", id, "--data", d]);
            assert!(out.status.success(), "{}", text(&out));
        }
        let mut codes = Vec::new();
        for socket in [&mut agent, &mut metrics] {
            let code = tokio::time::timeout(std::time::Duration::from_secs(20), async {
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Close(frame))) => {
                            return frame.map(|f| u16::from(f.code));
                        }
                        Some(Ok(_)) => continue,
                        _ => return None,
                    }
                }
            })
            .await
            .expect("the socket was still open 20 s after its credential was revoked");
            codes.push(code);
        }
        codes
    });
    assert_eq!(closed_with, [Some(1008), Some(1008)]);
    let mut subscription = subscription;
    let ended = eventually(std::time::Duration::from_secs(20), || {
        subscription.try_wait().unwrap().is_some()
    });
    let _ = subscription.kill();
    assert!(
        ended,
        "the stream subscription outlived its revoked credential"
    );
}

/// Newcomer review D8: a browser cannot set headers on a WebSocket, so the agent's and
/// the metrics sockets take the credential as `token=` too (only on an upgrade: an
/// ordinary request with `?token=` is still refused).
#[test]
fn browser_sockets_authenticate_with_a_token_parameter() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let data = steady_deployment();
    let alice = credential(data.path(), "alice", "Agent");
    let frank = credential(data.path(), "frank", "Analyst");
    let server = Server::start(data.path(), &[]);
    block_on(async {
        for (path, token) in [("/v1/agent/ws", &alice), ("/v1/metrics/current/ws", &frank)] {
            let url = format!(
                "{}{path}?token={token}",
                server.url.replace("https://", "wss://")
            );
            let request = url.into_client_request().unwrap();
            let connected = tokio_tungstenite::connect_async_tls_with_config(
                request,
                None,
                false,
                Some(crate::clients::tls(&server)),
            )
            .await;
            assert!(connected.is_ok(), "{path}: {:?}", connected.err());
        }
    });
    let (status, _) = server.get(&format!("/v1/agent?token={alice}"), None);
    assert_eq!(status, 401, "not an upgrade: the header is the way");
}

/// A browser can also offer its credential as a WebSocket subprotocol,
/// `bearer.<credential>` beside `switchboard.v1`, keeping it out of URLs (and so out of
/// proxies' logs and the browser's history): the server selects `switchboard.v1`, never
/// the credential, on every socket; a wrong credential offered that way is refused.
#[test]
fn browser_sockets_authenticate_with_a_subprotocol_credential() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let data = steady_deployment();
    let alice = credential(data.path(), "alice", "Agent");
    let frank = credential(data.path(), "frank", "Analyst");
    let website = credential(data.path(), "website", "Integration");
    let server = Server::start(data.path(), &[]);
    block_on(async {
        let (status, chat) = crate::clients::post(
            &server,
            "/v1/chat",
            &website,
            serde_json::json!({"display_name": "Ana"}),
        )
        .await;
        assert_eq!(status, 200, "{chat}");
        let chat_path = format!(
            "/v1/chat/ws?contact={}",
            chat["contact_id"].as_str().unwrap()
        );
        let participant = chat["participant_token"].as_str().unwrap().to_string();
        for (path, token, good) in [
            ("/v1/agent/ws", alice.as_str(), true),
            ("/v1/metrics/current/ws", frank.as_str(), true),
            (chat_path.as_str(), participant.as_str(), true),
            ("/v1/agent/ws", "sb_KNOTAKEY.nosecret", false),
        ] {
            let url = format!("{}{path}", server.url.replace("https://", "wss://"));
            let mut request = url.into_client_request().unwrap();
            request.headers_mut().insert(
                "sec-websocket-protocol",
                format!("switchboard.v1, bearer.{token}").parse().unwrap(),
            );
            let connected = tokio_tungstenite::connect_async_tls_with_config(
                request,
                None,
                false,
                Some(crate::clients::tls(&server)),
            )
            .await;
            if !good {
                assert!(connected.is_err(), "{path}: a bad credential is refused");
                continue;
            }
            let (_, response) = connected.unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                response.headers()["sec-websocket-protocol"],
                "switchboard.v1",
                "{path}"
            );
        }
    });
}
