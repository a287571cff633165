//! `switchboard audit verify | digest | export`.

use sb_store::AuditStore;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sb_runtime::audit::{digest_now, verify as verify_trail, ExportedDigest};
use sb_runtime::keys::KeyDir;
use sb_store::SqliteStore;

use crate::cli::{DataArg, KeysArg};

fn open(
    data: &DataArg,
    keys: &KeysArg,
) -> anyhow::Result<(SqliteStore, sb_security::signing::Signer)> {
    let dir = data.existing()?;
    let store = SqliteStore::open(&dir)
        .with_context(|| format!("opening the data directory {}", dir.display()))?;
    let keys_dir = keys.resolve(&dir)?;
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

/// The key digests are checked with: the one given, else the public half of the key
/// directory's signing key — read, never made (an empty key directory is an error).
fn verifying_key(dir: &Path, keys: &KeysArg, public_key: Option<&str>) -> anyhow::Result<String> {
    if let Some(key) = public_key {
        let key = key.trim();
        if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            anyhow::bail!("--public-key must be the 64 hex digits of an Ed25519 public key");
        }
        return Ok(key.to_ascii_lowercase());
    }
    let keys_dir = keys.resolve(dir)?;
    Ok(KeyDir::existing_audit_public_key(&keys_dir)?)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn verify(
    data: &DataArg,
    keys: &KeysArg,
    public_key: Option<&str>,
    from: Option<u64>,
    to: Option<u64>,
    kept: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let dir = data.existing()?;
    let store = SqliteStore::open(&dir)
        .with_context(|| format!("opening the data directory {}", dir.display()))?;
    let public_key = verifying_key(&dir, keys, public_key)?;
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
        &public_key,
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
        if let Some(tail) = report.unsigned_tail {
            println!(
                "UNSIGNED: records {} to {} are covered by no signed digest. A server that stopped without signing (a crash) leaves this; so would records rewritten after the last digest. Sign them as they are now with `switchboard audit digest`, or compare them with a copy kept elsewhere first.",
                tail.from, tail.to
            );
        }
        if report.problems.is_empty() && report.unsigned_tail.is_none() {
            println!("the audit trail is intact");
        }
    }
    Ok(if !report.problems.is_empty() {
        ExitCode::from(1)
    } else if report.unsigned_tail.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
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

/// Print records `from..=to`, archived ones included, one JSON object a line.
pub(crate) async fn export(
    data: &DataArg,
    from: Option<u64>,
    to: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let dir = data.existing()?;
    let store = SqliteStore::open(&dir)
        .with_context(|| format!("opening the data directory {}", dir.display()))?;
    let (head, _) = store.audit_head()?;
    let (floor, _) = store.audit_floor()?;
    let from = from.unwrap_or(1).max(floor + 1);
    let to = to.unwrap_or(head).min(head);
    // Reading the trail is itself recorded.
    super::audit_local(
        &dir,
        "audit:Read",
        serde_json::json!({"from": from, "to": to}),
    )
    .await?;
    let mut out = std::io::stdout().lock();
    let mut next = from;
    while next <= to {
        let last = to.min(next.saturating_add(9_999));
        for row in store.audit_rows(next, last)? {
            let record: serde_json::Value = serde_json::from_str(&row.record)?;
            let line = serde_json::json!({
                "seq": row.seq, "record": record, "prev_hash": row.prev_hash, "hash": row.hash,
            });
            std::io::Write::write_all(&mut out, format!("{line}\n").as_bytes())?;
        }
        next = last + 1;
    }
    Ok(ExitCode::SUCCESS)
}
