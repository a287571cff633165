//! The data directory as an operator meets it (security review M7, M8, M10): changes
//! made on it from the CLI are audited, it is private to its owner, and its keys are
//! never inside it.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::support::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_data_directory_and_its_database_are_private() {
    let data = tempfile::tempdir().unwrap();
    let fresh = data.path().join("fresh");
    let spec = steady_acme();
    let applied = run(&[
        "apply",
        spec.path().to_str().unwrap(),
        "--data",
        fresh.to_str().unwrap(),
    ]);
    assert!(applied.status.success(), "{}", text(&applied));
    assert_eq!(mode(&fresh), 0o700);
    for file in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
        let path = fresh.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    let backup = data.path().join("backup.db");
    let out = run(&[
        "backup",
        "--to",
        backup.to_str().unwrap(),
        "--data",
        fresh.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        mode(&backup),
        0o600,
        "a backup holds what the database holds"
    );
}

#[test]
fn keys_are_never_inside_the_data_directory() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("d2");
    let applied = run(&[
        "apply",
        steady_acme().path().to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(applied.status.success(), "{}", text(&applied));
    // `--data .` from inside it: the keys go beside it.
    let out = command()
        .current_dir(&data)
        .args(["keys", "list", "--data", "."])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !data.join("switchboard.keys").exists(),
        "keys made inside the data"
    );
    assert!(parent.path().join("d2.keys").is_dir());
    // An explicit key directory inside the data directory is refused.
    let out = run(&[
        "keys",
        "list",
        "--data",
        data.to_str().unwrap(),
        "--keys",
        data.join("keys").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("inside the data directory"),
        "{}",
        text(&out)
    );
    assert!(!data.join("keys").exists());
}

#[test]
fn changes_made_on_the_data_directory_are_audited() {
    let spec = steady_acme();
    let data = deployment_of(&spec);
    let d = data.path().to_str().unwrap();
    let refused = run(&["rollback", "--to", "9", "--data", d]);
    assert!(!refused.status.success());
    let rolled = run(&["rollback", "--to", "1", "--data", d]);
    assert!(rolled.status.success(), "{}", text(&rolled));
    let auditor = credential(data.path(), "ivy", "Auditor");
    let server = Server::start(data.path(), &[]);
    let (status, page) = server.get("/v1/audit?limit=1000", Some(&auditor));
    assert_eq!(status, 200, "{page}");
    let records: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["record"])
        .collect();
    let of = |action: &str, outcome: &str| {
        records
            .iter()
            .find(|r| r["action"] == action && r["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action}/{outcome} in {page}"))
    };
    let apply = of("config:Apply", "allowed");
    assert_eq!(apply["authenticated_by"], "cli");
    assert_eq!(apply["parameters"]["version"], 1);
    let failed = of("config:Rollback", "failed");
    assert!(failed["error"].as_str().unwrap().contains('9'), "{failed}");
    assert_eq!(of("config:Rollback", "allowed")["authenticated_by"], "cli");
}

/// Newcomer review D6: a command on a path with no instance says so and makes
/// nothing there — no database, no key directory, no key.
#[test]
fn commands_on_a_wrong_path_refuse_and_make_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let wrong = parent.path().join("no-such-instance");
    let w = wrong.to_str().unwrap();
    for args in [
        vec!["versions", "--data", w],
        vec!["query", "SELECT 1", "--data", w],
        vec!["keys", "list", "--data", w],
        vec!["audit", "verify", "--data", w],
        vec![
            "credential",
            "create",
            "--user",
            "x",
            "--role",
            "Agent",
            "--data",
            w,
        ],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("no data directory at"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert_eq!(
        std::fs::read_dir(parent.path()).unwrap().count(),
        0,
        "something was made beside or at the wrong path"
    );
}
