//! `switchboard audit verify | digest`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sb_runtime::audit::{digest_now, verify as verify_trail, ExportedDigest};
use sb_runtime::keys::KeyDir;
use sb_store::{SqliteStore, Store};

use crate::cli::{DataArg, KeysArg};

fn open(
    data: &DataArg,
    keys: &KeysArg,
) -> anyhow::Result<(SqliteStore, sb_security::signing::Signer)> {
    let dir = data.resolve(false);
    let store = SqliteStore::open(&dir)
        .with_context(|| format!("opening the data directory {}", dir.display()))?;
    let keys_dir = keys.resolve(&dir);
    if !keys_dir.exists() {
        anyhow::bail!(
            "no key directory at {}: give --keys, the directory the server signs with",
            keys_dir.display()
        );
    }
    let signer = KeyDir::open(&keys_dir)?
        .audit_signer()
        .context("loading the audit signing key")?;
    Ok((store, signer))
}

pub(crate) fn verify(
    data: &DataArg,
    keys: &KeysArg,
    from: Option<u64>,
    to: Option<u64>,
    kept: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (store, signer) = open(data, keys)?;
    let kept: Option<ExportedDigest> = match kept {
        Some(path) => Some(
            serde_json::from_slice(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("{} is not an exported audit digest", path.display()))?,
        ),
        None => None,
    };
    let report = verify_trail(
        &store,
        &signer.public_key(),
        from,
        to,
        kept.as_ref(),
        jiff::Timestamp::now().as_millisecond(),
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} records and {} signed digests checked",
            report.records_checked, report.digests_checked
        );
        for p in &report.problems {
            println!("PROBLEM: {p}");
        }
        if report.problems.is_empty() {
            println!("the audit trail is intact");
        }
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn digest(data: &DataArg, keys: &KeysArg) -> anyhow::Result<ExitCode> {
    let (store, signer) = open(data, keys)?;
    digest_now(&store, &signer)?;
    let newest = store
        .audit_digests()?
        .into_iter()
        .rfind(|d| d.key_id == signer.key_id())
        .context("the audit trail is empty: nothing to sign yet")?;
    println!(
        "{}",
        serde_json::to_string_pretty(&ExportedDigest::of(&newest, &signer.public_key()))?
    );
    Ok(ExitCode::SUCCESS)
}
