//! Deployment through the real SQLite store with the sample instance.

use std::path::PathBuf;
use std::sync::Arc;

use sb_runtime::{DeployError, Deployer, LiveConfig};
use sb_spec::SourceBundle;
use sb_store::{SqliteStore, StoreError};

fn acme() -> SourceBundle {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    SourceBundle::read_dir(&dir).unwrap()
}

fn with_queue_limit(limit: &str) -> SourceBundle {
    let mut b = acme();
    let text = b
        .text("queues.yaml")
        .unwrap()
        .replacen("max_contacts: 80", limit, 1);
    b.insert("queues.yaml".into(), text.into_bytes()).unwrap();
    b
}

fn deployer() -> (Deployer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    (Deployer::new(store, LiveConfig::new()), dir)
}

#[test]
fn apply_plan_and_rollback_round_trip() {
    let (d, _dir) = deployer();
    let first = d.apply(&acme(), "erin", Some(0)).unwrap();
    assert_eq!(first.version.as_ref().unwrap().version, 1);
    assert!(
        d.plan(&acme()).unwrap().plan.is_empty(),
        "unchanged spec plans no changes"
    );
    assert!(
        d.apply(&acme(), "erin", None).unwrap().version.is_none(),
        "no empty versions"
    );

    let second = d
        .apply(&with_queue_limit("max_contacts: 90"), "erin", Some(1))
        .unwrap();
    assert_eq!(second.version.as_ref().unwrap().version, 2);
    assert_eq!(second.plan.changes.len(), 1);
    assert_eq!(d.live().current().unwrap().version, 2);

    let third = d.rollback(1, "dana", None).unwrap();
    let v3 = third.version.unwrap();
    assert_eq!((v3.version, v3.rollback_of), (3, Some(1)));
    assert!(v3.summary.starts_with("rollback to version 1"));
    let versions = d.versions().unwrap();
    assert_eq!(
        versions[2].content_sha256, versions[0].content_sha256,
        "v3 equals v1"
    );
    assert_eq!(versions[2].actor, "dana");
    assert!(d.plan(&acme()).unwrap().plan.is_empty());
}

#[test]
fn a_stale_expected_version_is_a_conflict_and_changes_nothing() {
    let (d, _dir) = deployer();
    d.apply(&acme(), "erin", None).unwrap();
    let err = d
        .apply(&with_queue_limit("max_contacts: 90"), "ci", Some(0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            DeployError::Store(StoreError::Conflict {
                expected: 0,
                actual: 1
            })
        ),
        "{err}"
    );
    assert_eq!(d.versions().unwrap().len(), 1);
}

#[test]
fn an_invalid_spec_changes_nothing() {
    let (d, _dir) = deployer();
    d.apply(&acme(), "erin", None).unwrap();
    let err = d
        .apply(&with_queue_limit("max_contacts: 0"), "erin", None)
        .unwrap_err();
    assert!(
        err.to_string().contains("queues[Billing].max_contacts"),
        "{err}"
    );
    assert_eq!(d.versions().unwrap().len(), 1);
    assert_eq!(d.live().current().unwrap().version, 1);
}

#[test]
fn a_contact_keeps_the_version_it_started_on() {
    let (d, _dir) = deployer();
    d.apply(&acme(), "erin", None).unwrap();
    let pinned = d.live().current().unwrap();
    d.apply(&with_queue_limit("max_contacts: 90"), "erin", None)
        .unwrap();
    assert_eq!(pinned.version, 1);
    assert_eq!(pinned.spec.queues["Billing"].max_contacts, Some(80));
    assert_eq!(
        d.live().current().unwrap().spec.queues["Billing"].max_contacts,
        Some(90)
    );
}

#[test]
fn rollback_to_a_missing_version_is_an_error() {
    let (d, _dir) = deployer();
    assert!(matches!(
        d.rollback(7, "erin", None),
        Err(DeployError::UnknownVersion(7))
    ));
}
