//! `switchboard privacy export | erase --customer ENDPOINT`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sb_store::SqliteStore;

use crate::cli::KeysArg;

fn open(data: &Path, keys: &KeysArg) -> anyhow::Result<(SqliteStore, sb_runtime::vault::Vault)> {
    let store = SqliteStore::open(data)
        .with_context(|| format!("opening the data directory {}", data.display()))?;
    let vault = super::open_vault(&store, data, keys)?;
    Ok((store, vault))
}

pub(crate) async fn export(
    customer: &str,
    data: &Path,
    keys: &KeysArg,
) -> anyhow::Result<ExitCode> {
    let (store, vault) = open(data, keys)?;
    let export = sb_runtime::privacy::export(&store, &vault, customer)?;
    super::audit_local(
        data,
        "privacy:Export",
        serde_json::json!({"contacts": export.contacts.len()}),
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&export)?);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn erase(customer: &str, data: &Path, keys: &KeysArg) -> anyhow::Result<ExitCode> {
    let (store, vault) = open(data, keys)?;
    let erasure = sb_runtime::privacy::erase(&store, &vault, customer)?;
    super::audit_local(
        data,
        "privacy:Erase",
        serde_json::json!({"erased": erasure.erased, "still_live": erasure.still_live}),
    )
    .await?;
    println!(
        "Erased {} contacts' data keys; their transcripts and sensitive fields can never be read again.",
        erasure.erased.len()
    );
    if !erasure.still_live.is_empty() {
        println!(
            "{} contacts are still going on ({}): erase again once they have ended.",
            erasure.still_live.len(),
            erasure.still_live.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
