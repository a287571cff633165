//! Encryption at rest, end to end: unique markers planted as customer data through real
//! clients (the customer's name, endpoint, messages, a sensitive attribute, a task's
//! description) never appear in the clear anywhere under the data directory or in a
//! backup, yet read back through the endpoints allowed to open them; a privacy export
//! finds them by the customer's endpoint, and erasure makes them unreadable for good
//! while the records' counts stay.

use serde_json::{json, Value};

use crate::clients::*;
use crate::support::*;

const NAME: &str = "Zqname7f3a";
const EMAIL: &str = "zq.mail.7f3a@example.com";
const ACCOUNT: &str = "ZQACCT7F3A";
const CUSTOMER_SAYS: &str = "ZQMSG7F3A is my question";
const AGENT_SAYS: &str = "ZQAGENT7F3A is my answer";
const TASK_SAYS: &str = "ZQTASK7F3A follow up";
/// A sensitive attribute the agent sets (review H2a: it went into a contact event in
/// the clear).
const AGENT_SETS: &str = "ZQDOB7F3A";
const MARKERS: [&str; 7] = [
    "Zqname7f3a",
    "zq.mail.7f3a",
    "ZQACCT7F3A",
    "ZQMSG7F3A",
    "ZQAGENT7F3A",
    "ZQTASK7F3A",
    "ZQDOB7F3A",
];

fn assert_no_marker_in(files: &[(std::path::PathBuf, Vec<u8>)]) {
    assert!(!files.is_empty());
    for (path, bytes) in files {
        for marker in MARKERS {
            let found = bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
            assert!(!found, "{marker} in the clear in {}", path.display());
        }
    }
}

fn text_has_markers(value: &Value) -> Vec<&'static str> {
    let text = value.to_string();
    MARKERS.into_iter().filter(|m| text.contains(m)).collect()
}

#[test]
fn customer_data_is_sealed_at_rest_readable_when_allowed_and_erasable() {
    let data = steady_deployment();
    let carol = credential(data.path(), "carol", "Agent");
    let website = credential(data.path(), "website", "Integration");
    let analyst = credential(data.path(), "frank", "Analyst");
    let supervisor = credential(data.path(), "dana", "Supervisor");
    let admin = credential(data.path(), "erin", "Admin");
    let auditor = credential(data.path(), "grace", "Auditor");
    let server = Server::start(data.path(), &[]);
    let backup = data.path().with_extension("backup.db");

    let contact = block_on(async {
        let mut agent = available(&server, &carol).await;
        let (status, started) = post(
            &server,
            "/v1/chat",
            &website,
            json!({
                "display_name": NAME,
                "customer_endpoint": {"Address": EMAIL, "Type": "EMAIL_ADDRESS"},
                "attributes": {"account_number": ACCOUNT, "order": "plain-order"},
            }),
        )
        .await;
        assert_eq!(status, 200, "{started}");
        let contact = started["contact_id"].as_str().unwrap().to_string();
        let token = started["participant_token"].as_str().unwrap().to_string();
        let mut customer = connect(&server, &format!("/v1/chat/ws?contact={contact}"), &token)
            .await
            .unwrap();
        expect(&mut customer, says("For billing, press 3")).await;
        send(&mut customer, json!({"type": "message", "text": "3"})).await;
        let offer = expect(&mut agent, is("offer")).await;
        assert_eq!(
            offer["attributes"]["account_number"], ACCOUNT,
            "the agent sees it"
        );
        send(&mut agent, json!({"type": "accept", "contact": contact})).await;
        expect(&mut agent, is("connected")).await;
        send(
            &mut agent,
            json!({"type": "set_attributes", "contact": contact,
                   "attributes": {"date_of_birth": AGENT_SETS, "resolution": "refund"}}),
        )
        .await;
        expect(&mut agent, is("ok")).await;
        send(
            &mut customer,
            json!({"type": "message", "text": CUSTOMER_SAYS}),
        )
        .await;
        expect(&mut agent, |f| {
            f["type"] == "message" && f["item"]["text"] == CUSTOMER_SAYS
        })
        .await;
        send(
            &mut agent,
            json!({"type": "message", "contact": contact, "text": AGENT_SAYS}),
        )
        .await;
        expect(&mut customer, |f| {
            f["type"] == "message" && f["text"] == AGENT_SAYS
        })
        .await;

        // A bad endpoint is refused, and nothing starts.
        let (status, refused) = post(
            &server,
            "/v1/chat",
            &website,
            json!({"display_name": "x", "customer_endpoint": {"Address": "not-an-address", "Type": "EMAIL_ADDRESS"}}),
        )
        .await;
        assert_eq!(status, 400, "{refused}");
        // A task about the same customer.
        let (status, task) = post(
            &server,
            "/v1/tasks",
            &website,
            json!({"name": "Call back", "description": TASK_SAYS,
                   "customer_endpoint": {"Address": EMAIL, "Type": "EMAIL_ADDRESS"},
                   "scheduled_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
        assert_eq!(status, 200, "{task}");

        send(&mut agent, json!({"type": "end", "contact": contact})).await;
        expect(&mut customer, is("ended")).await;
        expect(&mut agent, is("contact_ended")).await;
        send(&mut agent, json!({"type": "complete", "contact": contact})).await;
        // The record is written once after-contact work is complete.
        let mut record = Value::Null;
        for _ in 0..100 {
            let (status, r) = get(&server, &format!("/v1/contacts/{contact}"), &analyst).await;
            assert_eq!(status, 200, "{r}");
            if r["Agent"]["AfterContactWorkEndTimestamp"].is_string() {
                record = r;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // An analyst sees the record without the sealed fields opened.
        assert_eq!(record["Attributes"]["order"], "plain-order");
        assert!(record["Attributes"]["account_number"]
            .as_str()
            .unwrap()
            .starts_with("sb1:"));
        assert!(record["CustomerEndpoint"]["Address"]
            .as_str()
            .unwrap()
            .starts_with("sb1:"));
        assert_eq!(record["CustomerEndpoint"]["Type"], "EMAIL_ADDRESS");
        assert!(text_has_markers(&record).is_empty(), "{record}");
        let (status, _) = get(
            &server,
            &format!("/v1/contacts/{contact}/transcript"),
            &analyst,
        )
        .await;
        assert_eq!(status, 403, "an analyst may not read transcripts");
        let (status, rows) = post(
            &server,
            "/v1/query",
            &analyst,
            json!({"sql": "SELECT record FROM contact_records"}),
        )
        .await;
        assert_eq!(status, 200, "{rows}");
        assert!(
            text_has_markers(&rows).is_empty(),
            "SQL reads no sealed value: {rows}"
        );
        // Nor do the streams an analyst and an integration read.
        for token in [&analyst, &website] {
            let (status, page) = get(&server, "/v1/streams/contact-events?limit=1000", token).await;
            assert_eq!(status, 200, "{page}");
            let updated = page["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["type"] == "ATTRIBUTES_UPDATED" && e["key"] == contact.as_str())
                .unwrap_or_else(|| panic!("no ATTRIBUTES_UPDATED in {page}"));
            assert!(text_has_markers(&page).is_empty(), "{updated}");
            assert_eq!(updated["data"]["Attributes"]["resolution"], "refund");
            assert!(updated["data"]["Attributes"]["date_of_birth"]
                .as_str()
                .unwrap()
                .starts_with("sb1:"));
        }

        // A supervisor opens them.
        let (status, transcript) = get(
            &server,
            &format!("/v1/contacts/{contact}/transcript"),
            &supervisor,
        )
        .await;
        assert_eq!(status, 200, "{transcript}");
        let lines = transcript.as_array().unwrap();
        assert!(lines
            .iter()
            .any(|l| l["text"] == CUSTOMER_SAYS && l["name"] == NAME));
        assert!(lines.iter().any(|l| l["text"] == AGENT_SAYS));
        let (status, opened) = get(
            &server,
            &format!("/v1/contacts/{contact}/sensitive"),
            &supervisor,
        )
        .await;
        assert_eq!(status, 200, "{opened}");
        assert_eq!(opened["attributes"]["account_number"], ACCOUNT);
        assert_eq!(opened["attributes"]["date_of_birth"], AGENT_SETS);
        assert_eq!(opened["customer_endpoint"]["Address"], EMAIL);
        contact
    });

    // A backup taken while the server runs.
    let out = run(&[
        "backup",
        "--to",
        backup.to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let (erased, still_live) = block_on(async {
        // The privacy export finds the customer by endpoint, however it is written.
        let (status, export) = get(
            &server,
            "/v1/privacy/export?customer=ZQ.MAIL.7f3a@example.com",
            &admin,
        )
        .await;
        assert_eq!(status, 200, "{export}");
        assert_eq!(
            export["contacts"].as_array().unwrap().len(),
            2,
            "the chat and the task"
        );
        let found = text_has_markers(&export);
        for marker in ["ZQACCT7F3A", "ZQMSG7F3A", "ZQAGENT7F3A", "zq.mail.7f3a"] {
            assert!(found.contains(&marker), "{marker} missing from {export}");
        }
        // Newcomer review D38: the record in an export is opened, not ciphertext.
        assert!(!export.to_string().contains("sb1:"), "{export}");
        let (status, _) = get(
            &server,
            &format!("/v1/privacy/export?customer={EMAIL}"),
            &supervisor,
        )
        .await;
        assert_eq!(status, 403, "only an administrator exports");

        let (status, erasure) = post(
            &server,
            "/v1/privacy/erase",
            &admin,
            json!({"customer": EMAIL}),
        )
        .await;
        assert_eq!(status, 200, "{erasure}");
        (erasure["erased"].clone(), erasure["still_live"].clone())
    });
    assert_eq!(erased, json!([contact]), "the finished chat is erased");
    assert_eq!(
        still_live.as_array().unwrap().len(),
        1,
        "the scheduled task is still going on"
    );

    block_on(async {
        let (status, gone) = get(
            &server,
            &format!("/v1/contacts/{contact}/transcript"),
            &supervisor,
        )
        .await;
        assert_eq!(
            (status, gone["error"]["code"].as_str()),
            (410, Some("erased")),
            "{gone}"
        );
        let (_, opened) = get(
            &server,
            &format!("/v1/contacts/{contact}/sensitive"),
            &supervisor,
        )
        .await;
        assert!(
            opened["attributes"].as_object().unwrap().is_empty(),
            "{opened}"
        );
        assert_eq!(
            opened["unreadable"],
            json!([
                "Attributes.account_number",
                "Attributes.date_of_birth",
                "CustomerEndpoint"
            ])
        );
        // The erased contact's flow log is gone with it (it held resolved values).
        let (status, logs) = get(
            &server,
            &format!("/v1/contacts/{contact}/flow-logs"),
            &supervisor,
        )
        .await;
        assert!(
            status == 404 || logs.as_array().is_some_and(|l| l.is_empty()),
            "{status} {logs}"
        );
        // Counts and durations stay for metrics.
        let (status, record) = get(&server, &format!("/v1/contacts/{contact}"), &analyst).await;
        assert_eq!(status, 200);
        assert_eq!(record["Queue"]["Name"], "Billing");
        let (_, export) = get(
            &server,
            &format!("/v1/privacy/export?customer={EMAIL}"),
            &admin,
        )
        .await;
        // The erased chat's key was what linked it to the customer: it is gone too.
        let listed = export["contacts"].as_array().unwrap();
        assert!(
            listed.iter().all(|c| c["contact_id"] != contact.as_str()),
            "{export}"
        );
        for marker in ["ZQACCT7F3A", "ZQMSG7F3A", "ZQAGENT7F3A", "Zqname7f3a"] {
            assert!(!text_has_markers(&export).contains(&marker), "{export}");
        }
        // The trail has the requests, without the customer's address.
        let (_, trail) = get(&server, "/v1/audit?action=privacy:Erase", &auditor).await;
        assert!(trail.to_string().contains("privacy:Erase"), "{trail}");
        let (_, trail) = get(&server, "/v1/audit", &auditor).await;
        assert!(text_has_markers(&trail).is_empty(), "{trail}");
    });
    drop(server);

    let mut files = files_under(data.path());
    files.push((backup.clone(), std::fs::read(&backup).unwrap()));
    assert_no_marker_in(&files);

    // Review M9: the backup made before the erasure, restored and opened with the live
    // key directory, gives nothing erased back.
    let restored = tempfile::tempdir().unwrap();
    let restored_data = restored.path().join("data");
    std::fs::create_dir(&restored_data).unwrap();
    std::fs::copy(&backup, restored_data.join("switchboard.db")).unwrap();
    let live_keys = data.path().with_file_name(format!(
        "{}.keys",
        data.path().file_name().unwrap().to_string_lossy()
    ));
    let out = run(&[
        "privacy",
        "export",
        "--customer",
        EMAIL,
        "--data",
        restored_data.to_str().unwrap(),
        "--keys",
        live_keys.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let exported = String::from_utf8_lossy(&out.stdout);
    for marker in ["ZQMSG7F3A", "ZQAGENT7F3A", "ZQDOB7F3A"] {
        assert!(
            !exported.contains(marker),
            "{marker} came back from the backup: {exported}"
        );
    }

    // Rotation: a new KEK re-wraps every data key; the old one can then be retired,
    // and the scheduled task (sealed under its data key) still recovers.
    let dir = data.path().to_str().unwrap();
    let listed = text(&run(&["keys", "list", "--data", dir]));
    let old = listed.split('\t').next().unwrap().to_string();
    assert!(listed.contains("current"), "{listed}");
    let refused = run(&["keys", "retire", &old, "--data", dir]);
    assert!(
        !refused.status.success(),
        "the current KEK cannot be retired"
    );
    let rotated = run(&["keys", "rotate", "--data", dir]);
    assert!(rotated.status.success(), "{}", text(&rotated));
    let listed = text(&run(&["keys", "list", "--data", dir]));
    assert!(
        listed.contains(&format!("{old}\tolder\twraps 0 data keys")),
        "{listed}"
    );
    let retired = run(&["keys", "retire", &old, "--data", dir]);
    assert!(retired.status.success(), "{}", text(&retired));
    let server = Server::start(data.path(), &[]);
    let recovered = eventually(std::time::Duration::from_secs(10), || {
        let (_, live) = server.get("/v1/contacts/live", Some(&analyst));
        live.as_array()
            .is_some_and(|l| l.iter().any(|c| c["channel"] == "TASK"))
    });
    assert!(recovered, "the task's key opens under the new KEK");
}

/// UpdateContactRecordingBehavior with only the agent recorded: the customer's lines
/// reach the agent but are never stored; the agent's and the flow's are.
#[test]
fn lines_of_a_side_the_flow_stopped_recording_are_never_stored() {
    let spec = steady_acme();
    replace_in(
        &spec.path().join("flows/main-ivr.json"),
        "\"RecordedParticipants\": [\n            \"Agent\",\n            \"Customer\"\n          ]",
        "\"RecordedParticipants\": [\"Agent\"]",
    );
    let data = deployment_of(&spec);
    let carol = credential(data.path(), "carol", "Agent");
    let website = credential(data.path(), "website", "Integration");
    let supervisor = credential(data.path(), "dana", "Supervisor");
    let server = Server::start(data.path(), &[]);
    block_on(async {
        let mut agent = available(&server, &carol).await;
        let (contact, mut customer) = billing_chat_offered(&server, &website, &mut agent).await;
        send(&mut agent, json!({"type": "accept", "contact": contact})).await;
        expect(&mut agent, is("connected")).await;
        send(
            &mut customer,
            json!({"type": "message", "text": "ZQUNRECORDED my details"}),
        )
        .await;
        expect(&mut agent, |f| {
            f["type"] == "message" && f["item"]["text"] == "ZQUNRECORDED my details"
        })
        .await;
        send(
            &mut agent,
            json!({"type": "message", "contact": contact, "text": "Noted, thanks"}),
        )
        .await;
        expect(&mut customer, says("Noted, thanks")).await;
        let (status, transcript) = get(
            &server,
            &format!("/v1/contacts/{contact}/transcript"),
            &supervisor,
        )
        .await;
        assert_eq!(status, 200, "{transcript}");
        let text = transcript.to_string();
        assert!(
            text.contains("Noted, thanks") && text.contains("For billing"),
            "{text}"
        );
        assert!(!text.contains("ZQUNRECORDED"), "{text}");
    });
}
