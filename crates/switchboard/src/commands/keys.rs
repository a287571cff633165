//! `switchboard keys list | rotate | retire`: the key-encryption keys.

use sb_store::KeyStore;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sb_store::SqliteStore;

use crate::cli::KeysArg;

fn open_store(data: &Path) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(data)
        .with_context(|| format!("opening the data directory {}", data.display()))
}

pub(crate) fn list(data: &Path, keys: &KeysArg) -> anyhow::Result<ExitCode> {
    let store = open_store(data)?;
    let keyring = keys.keyring(data)?;
    let counts = store.data_keys_by_kek()?;
    let wraps = |id: &str| counts.iter().find(|(k, _)| k == id).map_or(0, |(_, n)| *n);
    for (i, id) in keyring.ids().into_iter().enumerate() {
        let role = if i == 0 { "current" } else { "older" };
        println!("{id}\t{role}\twraps {} data keys", wraps(id));
    }
    for (id, n) in counts
        .iter()
        .filter(|(k, _)| !keyring.ids().contains(&k.as_str()))
    {
        println!("{id}\tNOT LOADED\twraps {n} data keys (unreadable until it is supplied)");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn rotate(data: &Path, keys: &KeysArg) -> anyhow::Result<ExitCode> {
    let store = open_store(data)?;
    let sources = keys.sources();
    let key_dir = keys.key_dir(data)?;
    let before = key_dir.keyring(&sources)?;
    // With keys supplied from outside, the operator put the new one first already.
    let supplied = sources.env.is_some() || sources.command.is_some();
    if !supplied {
        key_dir.new_file_kek()?;
    }
    let keyring = key_dir.keyring(&sources)?;
    let moved = sb_runtime::vault::Vault::rewrap_all(&store, &keyring)
        .context("re-wrapping the data keys (nothing was changed)")?;
    super::audit_local(
        data,
        "keys:Rotate",
        serde_json::json!({"from": before.current_id(), "to": keyring.current_id(), "rewrapped": moved}),
    )
    .await?;
    println!(
        "Key-encryption key {} is current; {moved} data keys re-wrapped (the data was not re-encrypted).",
        keyring.current_id()
    );
    println!(
        "A running server picks the new key up within 30 seconds; run `keys rotate` again after that if `keys list` still shows data keys under {}.",
        before.current_id()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn retire(id: &str, data: &Path, keys: &KeysArg) -> anyhow::Result<ExitCode> {
    let store = open_store(data)?;
    let keyring = keys.keyring(data)?;
    if keyring.current_id() == id {
        anyhow::bail!("{id} is the current key-encryption key; rotate first");
    }
    if let Some((_, n)) = store.data_keys_by_kek()?.into_iter().find(|(k, _)| k == id) {
        anyhow::bail!("{id} still wraps {n} data keys; run `switchboard keys rotate` first");
    }
    if !keys.key_dir(data)?.retire_file_kek(id)? {
        anyhow::bail!("no key file for key-encryption key '{id}' (see `switchboard keys list`)");
    }
    super::audit_local(data, "keys:Retire", serde_json::json!({ "kek": id })).await?;
    println!("Key-encryption key {id} retired.");
    Ok(ExitCode::SUCCESS)
}
