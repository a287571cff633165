//! The configuration-as-code workflow against a data directory, as the issue's
//! "done when" walks it.

use crate::support::*;

#[test]
fn validate_accepts_the_sample_and_names_a_broken_reference() {
    let out = run(&["validate", "examples/acme"]);
    assert!(out.status.success(), "{}", text(&out));

    let spec = acme_copy();
    replace_in(
        &spec.path().join("routing-profiles.yaml"),
        "default_outbound_queue: Billing",
        "default_outbound_queue: Bilking",
    );
    let out = run(&["validate", spec.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out);
    assert!(
        said.contains("routing-profiles.yaml: routing_profiles[Billing Specialists].default_outbound_queue: unknown queue 'Bilking'"),
        "{said}"
    );
}

#[test]
fn validate_json_output_lists_problems() {
    let spec = acme_copy();
    replace_in(
        &spec.path().join("queues.yaml"),
        "max_contacts: 200",
        "max_contacts: 200\n    colour: blue",
    );
    let out = run(&["validate", "--json", spec.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `colour`"));
}

#[test]
fn plan_apply_rollback_cycle_on_a_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let spec = acme_copy();
    let spec_arg = spec.path().to_str().unwrap();

    let out = run(&["apply", spec_arg, "--data", data_arg, "--actor", "erin"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Deployed version 1"), "{}", text(&out));

    let out = run(&["plan", spec_arg, "--data", data_arg]);
    assert!(text(&out).contains("No changes."), "{}", text(&out));

    replace_in(
        &spec.path().join("queues.yaml"),
        "max_contacts: 100",
        "max_contacts: 150",
    );
    let out = run(&["plan", spec_arg, "--data", data_arg]);
    let said = text(&out);
    assert!(
        said.contains("~ queue \"Returns\"\n      max_contacts: 100 → 150"),
        "{said}"
    );
    assert!(
        said.contains("Plan: 0 to add, 1 to change, 0 to remove."),
        "{said}"
    );

    let out = run(&[
        "apply",
        spec_arg,
        "--data",
        data_arg,
        "--expect-version",
        "1",
        "--actor",
        "erin",
    ]);
    assert!(text(&out).contains("Deployed version 2"), "{}", text(&out));

    let out = run(&[
        "apply",
        spec_arg,
        "--data",
        data_arg,
        "--expect-version",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("version conflict: expected the deployed version to be 1, but it is 2"),
        "{}",
        text(&out)
    );

    let out = run(&[
        "rollback", "--to", "1", "--data", data_arg, "--actor", "dana",
    ]);
    assert!(
        text(&out).contains("Deployed version 3 (rollback to version 1"),
        "{}",
        text(&out)
    );

    let out = run(&["versions", "--json", "--data", data_arg]);
    let versions: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(
        versions[2]["content_sha256"], versions[0]["content_sha256"],
        "version 3 equals version 1"
    );
    assert_eq!(versions[2]["rollback_of"], 1);
    assert_eq!(versions[2]["actor"], "dana (local)");
    let out = run(&["versions", "--data", data_arg]);
    assert!(text(&out).contains("erin (local)"), "{}", text(&out));
}

#[test]
fn an_invalid_spec_is_refused_and_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let spec = acme_copy();
    replace_in(
        &spec.path().join("hours.yaml"),
        "America/New_York",
        "Europe/Atlantis",
    );
    let out = run(&[
        "apply",
        spec.path().to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("unknown time zone 'Europe/Atlantis'"),
        "{}",
        text(&out)
    );
    let out = run(&["versions", "--data", data.path().to_str().unwrap()]);
    assert!(text(&out).contains("No version deployed yet."));
}

#[test]
fn a_data_directory_from_a_newer_version_is_refused() {
    let data = steady_deployment();
    let db = data.path().join("switchboard.db");
    let conn = rusqlite_free_bump(&db);
    assert!(conn, "bumped the schema version");
    let out = run(&["versions", "--data", data.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("written by a newer Switchboard"),
        "{}",
        text(&out)
    );
}

/// Set SQLite's user_version with the sqlite3 file format directly: the header field at
/// offset 60 (big-endian), so this test needs no SQLite library of its own.
fn rusqlite_free_bump(db: &std::path::Path) -> bool {
    let mut bytes = std::fs::read(db).unwrap();
    if bytes.len() < 100 {
        return false;
    }
    bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(db, bytes).is_ok()
}

#[test]
fn a_missing_spec_directory_is_a_clear_error() {
    let out = run(&["validate", "/nonexistent/spec"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("cannot read spec directory /nonexistent/spec"),
        "{}",
        text(&out)
    );
}

#[test]
fn apply_killed_half_way_leaves_all_or_nothing() {
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let spec = acme_copy();
    let spec_arg = spec.path().to_str().unwrap();
    assert!(run(&["apply", spec_arg, "--data", data_arg])
        .status
        .success());
    for (i, delay_ms) in [0u64, 5, 10, 20, 40, 80].into_iter().enumerate() {
        let limit = format!("max_contacts: {}", 300 + i);
        let previous = if i == 0 {
            "max_contacts: 200".to_string()
        } else {
            format!("max_contacts: {}", 300 + i - 1)
        };
        replace_in(&spec.path().join("queues.yaml"), &previous, &limit);
        let mut child = command()
            .args(["apply", spec_arg, "--data", data_arg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever the moment of death, the store opens, the history is consistent and
        // the latest version is a whole spec.
        let out = run(&["versions", "--json", "--data", data_arg]);
        assert!(out.status.success(), "{}", text(&out));
        let versions: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        for (n, v) in versions.iter().enumerate() {
            assert_eq!(v["version"], n as u64 + 1);
        }
        let out = run(&["plan", spec_arg, "--data", data_arg]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

/// Newcomer review D23: output into a pipe closed early ends quietly, as with other
/// Unix tools, instead of a panic.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let data = steady_deployment();
    // About a megabyte, far more than a pipe holds: the pipe is closed long before all
    // of it is written.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' query \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) SELECT x, printf('%.*c', 1000, 'y') FROM c\" --data '{}' --json | head -c 1 >/dev/null",
            bin(),
            data.path().display()
        ))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("panicked"), "{said}");
}

/// Newcomer review D11 and D33: the channel as the docs spell it (CHAT), and a text log
/// written to a file has no colour codes.
#[test]
fn channel_names_take_any_case_and_text_logs_to_a_file_are_plain() {
    let out = run(&[
        "flow",
        "run",
        "examples/acme/flows/main-ivr.json",
        "--instance",
        "examples/acme",
        "--channel",
        "CHAT",
        "--at",
        "2026-11-30T15:00:00Z",
        "--input",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let data = steady_deployment();
    let log_file = data.path().join("text.log");
    let mut server = command()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "text",
            "--data",
        ])
        .arg(data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .spawn()
        .unwrap();
    let banner = std::io::BufReader::new(server.stdout.take().unwrap());
    let up = std::io::BufRead::lines(banner)
        .map_while(Result::ok)
        .any(|l| l.starts_with("Stop with"));
    assert!(up, "the server printed its banner");
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    let log = std::fs::read(&log_file).unwrap();
    assert!(!log.is_empty());
    assert!(!log.contains(&0x1b), "ANSI escape codes in the log file");
}

/// Newcomer review D30: a credential that does not match the spec is issued, with a
/// warning that says how it differs.
#[test]
fn a_credential_at_odds_with_the_spec_is_pointed_out() {
    let data = steady_deployment();
    let d = data.path().to_str().unwrap();
    let wider = run(&[
        "credential",
        "create",
        "--user",
        "alice",
        "--role",
        "Admin",
        "--data",
        d,
    ]);
    assert!(wider.status.success());
    assert!(
        text(&wider).contains("alice is Agent in the deployed spec"),
        "{}",
        text(&wider)
    );
    let stranger = run(&[
        "credential",
        "create",
        "--user",
        "mallory",
        "--role",
        "Agent",
        "--data",
        d,
    ]);
    assert!(
        text(&stranger).contains("no user 'mallory'"),
        "{}",
        text(&stranger)
    );
    let matching = run(&[
        "credential",
        "create",
        "--user",
        "alice",
        "--role",
        "Agent",
        "--data",
        d,
    ]);
    assert!(!text(&matching).contains("warning"), "{}", text(&matching));
}

/// Newcomer review D39: help says what each flag is for, shows examples, and offers
/// `--actor` only where something is changed.
#[test]
fn help_shows_examples_and_only_the_flags_that_apply() {
    for command in [
        &["apply"][..],
        &["plan"],
        &["rollback"],
        &["query"],
        &["metrics"],
        &["flow", "run"],
        &["credential", "create"],
        &["privacy", "erase"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = text(&run(&args));
        assert!(
            help.contains("Examples:\n  switchboard"),
            "{command:?}: {help}"
        );
    }
    for (command, has_actor) in [
        (&["apply"][..], true),
        (&["rollback"], true),
        (&["plan"], false),
        (&["versions"], false),
        (&["query"], false),
        (&["metrics"], false),
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = text(&run(&args));
        assert_eq!(help.contains("--actor"), has_actor, "{command:?}: {help}");
    }
    let help = text(&run(&["metrics", "--help"]));
    assert!(
        help.contains("--channel") && help.contains("--agent"),
        "{help}"
    );
    let help = text(&run(&["audit", "--help"]));
    assert!(help.contains("export its records"), "{help}");
}

#[test]
fn metrics_refuses_an_unknown_channel() {
    let data = tempfile::tempdir().unwrap();
    apply_to(&repo().join("examples/acme"), data.path());
    let out = run(&[
        "metrics",
        "--from",
        "2026-11-23T00:00:00Z",
        "--to",
        "2026-11-24T00:00:00Z",
        "--channel",
        "FAX",
        "--data",
        data.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("unknown channel 'FAX'; channels: VOICE, CHAT, TASK"),
        "{}",
        text(&out)
    );
}
