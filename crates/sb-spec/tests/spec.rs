//! The spec loader and planner against the sample instance and broken copies of it.

use std::path::PathBuf;

use sb_spec::plan::ChangeAction;
use sb_spec::{load, Plan, SourceBundle};

fn acme() -> SourceBundle {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    SourceBundle::read_dir(&dir).expect("examples/acme is readable")
}

fn edit(bundle: &mut SourceBundle, path: &str, from: &str, to: &str) {
    let text = bundle
        .text(path)
        .unwrap_or_else(|| panic!("{path} missing"))
        .to_string();
    assert!(text.contains(from), "{path} does not contain {from:?}");
    bundle
        .insert(path.to_string(), text.replacen(from, to, 1).into_bytes())
        .unwrap();
}

/// Load a bundle that must fail, and return every problem as one line each.
fn problems(bundle: &SourceBundle) -> String {
    match load(bundle) {
        Ok(_) => panic!("expected the spec to be refused"),
        Err(problems) => problems.to_string(),
    }
}

#[test]
fn the_sample_instance_is_valid() {
    let (spec, warnings) = load(&acme()).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(spec.instance.name.as_str(), "acme-support");
    assert!(spec.queues.len() >= 3);
    assert!(spec.flows.contains_key("Main IVR"));
    assert_eq!(warnings.0, vec![], "the sample should have no warnings");
}

#[test]
fn a_function_is_found_by_name_declared_arn_or_lambda_name() {
    let (spec, _) = load(&acme()).unwrap_or_else(|p| panic!("{p}"));
    let found = |r: &str| spec.function_for(r).map(|n| n.to_string());
    let lookup = Some("customer-lookup".to_string());
    assert_eq!(found("customer-lookup"), lookup);
    assert_eq!(
        found("arn:aws:lambda:us-east-1:123456789012:function:acme-customer-lookup"),
        lookup
    );
    // Another account's ARN whose function name matches an instance function.
    assert_eq!(
        found("arn:aws:lambda:eu-west-1:999999999999:function:customer-lookup:prod"),
        lookup
    );
    assert_eq!(found("arn:aws:lambda:eu-west-1:1:function:unknown"), None);
    assert_eq!(
        found("arn:aws:connect:eu-west-1:1:instance/x/function:customer-lookup"),
        None
    );
    assert_eq!(found(""), None);
}

#[test]
fn a_broken_reference_names_the_file_and_the_reference() {
    let mut b = acme();
    edit(
        &mut b,
        "queues.yaml",
        "hours: Store Hours",
        "hours: Shop Hours",
    );
    let out = problems(&b);
    assert!(
        out.contains(
            "error: queues.yaml: queues[Orders].hours: unknown hours of operation 'Shop Hours'"
        ),
        "{out}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut b = acme();
    edit(&mut b, "queues.yaml", "hours: Store Hours", "hours: Nope");
    edit(&mut b, "hours.yaml", "America/New_York", "America/Atlantis");
    edit(
        &mut b,
        "users.yaml",
        "routing_profile: Frontline",
        "routing_profile: Backline",
    );
    edit(
        &mut b,
        "flows/main-ivr.json",
        "\"QueueId\": \"Billing\"",
        "\"QueueId\": \"Bills\"",
    );
    let out = problems(&b);
    for expected in [
        "queues[Orders].hours: unknown hours of operation 'Nope'",
        "hours_of_operation[Store Hours].time_zone: unknown time zone 'America/Atlantis'",
        "users[alice].routing_profile: unknown routing profile 'Backline'",
        "flows/main-ivr.json: Actions[queue-billing].Parameters.QueueId: unknown queue 'Bills'",
    ] {
        assert!(out.contains(expected), "missing «{expected}» in:\n{out}");
    }
}

#[test]
fn instance_settings_out_of_range_are_errors() {
    let mut b = acme();
    edit(
        &mut b,
        "instance.yaml",
        "chat_message_max_chars: 1024\n  task_expiry_days: 7",
        "chat_message_max_chars: 0\n  task_expiry_days: 91\n  agent_silence_limit_seconds: 4",
    );
    let out = problems(&b);
    for expected in [
        "instance.chat_message_max_chars: must be between 1 and 32768",
        "instance.task_expiry_days: must be between 1 and 90 days",
        "instance.agent_silence_limit_seconds: must be between 5 and 600 seconds",
    ] {
        assert!(out.contains(expected), "missing «{expected}» in:\n{out}");
    }
}

#[test]
fn unknown_fields_are_errors_with_a_position() {
    let mut b = acme();
    edit(
        &mut b,
        "queues.yaml",
        "max_contacts: 200",
        "max_contact: 200",
    );
    let out = problems(&b);
    assert!(out.contains("queues.yaml"), "{out}");
    assert!(out.contains("unknown field `max_contact`"), "{out}");
    assert!(out.contains("line "), "{out}");
}

#[test]
fn malformed_yaml_and_json_are_errors() {
    let mut b = acme();
    b.insert("extra.yaml".into(), b"queues: [\n".to_vec())
        .unwrap();
    let out = problems(&b);
    assert!(out.contains("error: extra.yaml"), "{out}");
    assert!(
        !out.contains("unknown"),
        "no cascade of reference errors: {out}"
    );

    let mut b = acme();
    edit(&mut b, "flows/after-hours.json", "{", "{{");
    let out = problems(&b);
    assert!(
        out.contains("error: flows/after-hours.json: line 1"),
        "{out}"
    );
}

#[test]
fn duplicate_names_across_files_are_errors() {
    let mut b = acme();
    b.insert(
        "more-queues.yaml".into(),
        b"queues:\n  - { name: Orders, hours: Store Hours }\n".to_vec(),
    )
    .unwrap();
    let out = problems(&b);
    // Files are read in name order, so the second declaration is the one in queues.yaml.
    assert!(
        out.contains("queues.yaml: queues[Orders]: duplicate name 'Orders': already declared in more-queues.yaml"),
        "{out}"
    );
}

#[test]
fn overlapping_hours_are_errors() {
    let mut b = acme();
    edit(
        &mut b,
        "hours.yaml",
        "- { day: MONDAY, start: \"08:00\", end: \"20:00\" }",
        "- { day: MONDAY, start: \"08:00\", end: \"20:00\" }\n      - { day: MONDAY, start: \"19:00\", end: \"21:00\" }",
    );
    let out = problems(&b);
    assert!(
        out.contains("Monday ranges 08:00-20:00 and 19:00-21:00 overlap"),
        "{out}"
    );
}

#[test]
fn a_transfer_to_flow_cycle_is_an_error() {
    let mut b = acme();
    edit(
        &mut b,
        "flows/after-hours.json",
        "\"PromptId\": \"Closed\"\n      },\n      \"Transitions\": {\n        \"NextAction\": \"end\"",
        "\"PromptId\": \"Closed\"\n      },\n      \"Transitions\": {\n        \"NextAction\": \"back\"",
    );
    let text = b.text("flows/after-hours.json").unwrap().to_string();
    let with_back = text.replacen(
        "\"Actions\": [",
        "\"Actions\": [\n    {\"Identifier\": \"back\", \"Type\": \"TransferToFlow\", \"Parameters\": {\"ContactFlowId\": \"Main IVR\"}, \"Transitions\": {\"Errors\": [{\"NextAction\": \"end\", \"ErrorType\": \"NoMatchingError\"}]}},",
        1,
    );
    b.insert("flows/after-hours.json".into(), with_back.into_bytes())
        .unwrap();
    let out = problems(&b);
    assert!(
        out.contains("flows transfer to each other in a cycle"),
        "{out}"
    );
    assert!(
        out.contains("After Hours → Main IVR → After Hours")
            || out.contains("Main IVR → After Hours → Main IVR"),
        "{out}"
    );
}

#[test]
fn an_unsupported_action_names_the_type() {
    let mut b = acme();
    edit(
        &mut b,
        "flows/after-hours.json",
        "\"Type\": \"MessageParticipant\"",
        "\"Type\": \"ConnectParticipantWithLexBot\"",
    );
    let out = problems(&b);
    assert!(
        out.contains("action type ConnectParticipantWithLexBot is not supported"),
        "{out}"
    );
}

#[test]
fn path_traversal_in_a_flow_file_is_refused() {
    let mut b = acme();
    edit(
        &mut b,
        "flows.yaml",
        "file: flows/after-hours.json",
        "file: ../../etc/passwd",
    );
    let out = problems(&b);
    assert!(
        out.contains("flows[After Hours].file: file name '../../etc/passwd' is not allowed"),
        "{out}"
    );
    // Newcomer review D16: the flows that name the refused one are not wrong.
    assert!(
        !out.contains("unknown flow 'After Hours'"),
        "one error, not a cascade: {out}"
    );
    assert_eq!(out.matches("error:").count(), 1, "{out}");
}

/// Newcomer review D16: a flow file that is a symbolic link is reported as one.
#[test]
fn a_symlinked_flow_file_is_reported_as_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let sample = acme();
    for path in sample.files.keys() {
        let to = dir.path().join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(&to, sample.bytes(path).unwrap().unwrap()).unwrap();
    }
    let flow = dir.path().join("flows/after-hours.json");
    let outside = dir.path().join(".outside.json");
    std::fs::rename(&flow, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &flow).unwrap();
    let bundle = SourceBundle::read_dir(dir.path()).unwrap();
    let out = problems(&bundle);
    assert!(
        out.contains(
            "flow file 'flows/after-hours.json' is a symbolic link; links are not followed"
        ),
        "{out}"
    );
}

#[test]
fn plan_against_itself_has_no_changes() {
    let (spec, _) = load(&acme()).unwrap();
    let plan = Plan::between(Some(&spec), &spec);
    assert!(plan.is_empty());
    assert!(plan.to_string().starts_with("No changes."));
}

#[test]
fn plan_shows_exactly_the_edited_queue() {
    let (before, _) = load(&acme()).unwrap();
    let mut b = acme();
    edit(
        &mut b,
        "queues.yaml",
        "max_contacts: 80",
        "max_contacts: 120",
    );
    let (after, _) = load(&b).unwrap();
    let plan = Plan::between(Some(&before), &after);
    assert_eq!(plan.changes.len(), 1, "{plan}");
    let change = &plan.changes[0];
    assert_eq!(
        (change.kind.as_str(), change.name.as_str()),
        ("queues", "Billing")
    );
    assert_eq!(change.action, ChangeAction::Change);
    assert_eq!(plan.summary(), "0 to add, 1 to change, 0 to remove");
    let text = plan.to_string();
    assert!(
        text.contains("~ queue \"Billing\"\n      max_contacts: 80 → 120"),
        "{text}"
    );
}

#[test]
fn first_deploy_adds_everything() {
    let (spec, _) = load(&acme()).unwrap();
    let plan = Plan::between(None, &spec);
    assert_eq!(plan.count(ChangeAction::Remove), 0);
    assert!(plan.count(ChangeAction::Add) > 20);
}

#[test]
fn plan_matches_flow_actions_by_identifier() {
    let (before, _) = load(&acme()).unwrap();
    let mut b = acme();
    edit(
        &mut b,
        "flows/main-ivr.json",
        "\"InputTimeLimitSeconds\": \"8\"",
        "\"InputTimeLimitSeconds\": \"10\"",
    );
    let (after, _) = load(&b).unwrap();
    let text = Plan::between(Some(&before), &after).to_string();
    assert!(
        text.contains("document.Actions[menu].Parameters.InputTimeLimitSeconds: \"8\" → \"10\""),
        "{text}"
    );
}

#[path = "connect_fixtures.rs"]
mod connect_fixtures;

#[test]
fn custom_roles_are_checked_statement_by_statement() {
    let mut b = acme();
    b.insert(
        "more-roles.yaml".into(),
        br#"
roles:
  - name: Admin
    statements: [{effect: Allow, actions: ["*"]}]
  - name: Broken
    statements:
      - effect: Allow
        actions: ["contact:Raed", "nothing:*"]
        conditions:
          source_addresses: ["10.0.0.0/40"]
          time: {time_zone: Mars/Base, after: "09:00", before: "17:00"}
"#
        .to_vec(),
    )
    .unwrap();
    edit(&mut b, "users.yaml", "role: Analyst", "role: Nobody");
    let found = problems(&b);
    for expected in [
        "roles[Admin].name: 'Admin' is a built-in role",
        "roles[Broken].statements[0].actions[0]: unknown action 'contact:Raed'",
        "roles[Broken].statements[0].actions[1]: no action belongs to service 'nothing'",
        "roles[Broken].statements[0].conditions.source_addresses[0]",
        "roles[Broken].statements[0].conditions.time.time_zone",
        "unknown role 'Nobody' (roles: Admin, Supervisor, Agent, Analyst, Auditor, Integration, Admin, Broken, QualityAnalyst",
    ] {
        assert!(found.contains(expected), "missing {expected} in:\n{found}");
    }
}

#[test]
fn a_user_may_have_a_custom_role() {
    let mut b = acme();
    edit(
        &mut b,
        "users.yaml",
        "role: Analyst",
        "role: QualityAnalyst",
    );
    let (spec, _) = load(&b).unwrap_or_else(|p| panic!("{p}"));
    assert!(spec.roles.contains_key("QualityAnalyst"));
}

/// Newcomer review D28: a queue no routing profile serves is worth a warning (its
/// contacts would wait for ever).
#[test]
fn a_queue_no_routing_profile_serves_is_a_warning() {
    let mut bundle = acme();
    let queues = bundle.text("queues.yaml").unwrap().to_string();
    let loyalty = "  - name: Loyalty\n    hours: Store Hours\n";
    bundle
        .insert(
            "queues.yaml".into(),
            queues
                .replacen("queues:\n", &format!("queues:\n{loyalty}"), 1)
                .into_bytes(),
        )
        .unwrap();
    let (_, warnings) = load(&bundle).unwrap_or_else(|p| panic!("{p}"));
    let said = warnings.to_string();
    assert!(
        said.contains("queues[Loyalty]") && said.contains("no routing profile serves"),
        "{said}"
    );
}

#[test]
fn plan_shows_the_changed_day_inside_the_weekly_hours() {
    let (before, _) = load(&acme()).unwrap();
    let mut b = acme();
    edit(
        &mut b,
        "hours.yaml",
        r#"- { day: MONDAY, start: "08:00", end: "20:00" }"#,
        r#"- { day: MONDAY, start: "00:00", end: "20:00" }
      - { day: SUNDAY, start: "10:00", end: "16:00" }"#,
    );
    let (after, _) = load(&b).unwrap();
    let text = Plan::between(Some(&before), &after).to_string();
    assert!(
        text.contains("~ hours_of_operation \"Store Hours\"\n      weekly[MONDAY].start: \"08:00\" → \"00:00\"\n      + weekly[SUNDAY]: {"),
        "{text}"
    );
    assert!(!text.contains('…'), "nothing is cut off: {text}");
}

/// Newcomer review D15: every resource of the wrong shape in a file is reported, each
/// at its place, not only the first.
#[test]
fn every_wrongly_typed_resource_in_a_file_is_reported() {
    let mut b = acme();
    let text = b.text("queues.yaml").unwrap().to_string();
    let broken = text.replace("hours: Store Hours", "hours: [Store Hours]");
    b.insert("queues.yaml".into(), broken.into_bytes()).unwrap();
    let out = problems(&b);
    for queue in ["Orders", "Returns", "Billing"] {
        let expected = format!("queues[{queue}].hours");
        assert!(out.contains(&expected), "missing «{expected}» in:\n{out}");
    }
    assert!(
        out.contains("queues[Orders].hours, line "),
        "the first has its line: {out}"
    );
}
