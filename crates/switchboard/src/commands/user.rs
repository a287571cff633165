//! `switchboard user set-password | sign-out | enrol-totp`.

use sb_store::CredentialStore;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sb_security::password;
use sb_security::totp::{recovery_code_hash, recovery_codes, TotpSecret};
use sb_store::{SqliteStore, UserLogin};

/// The store, and the deployed spec's password rules, for a user the spec defines.
fn open(user: &str, data: &Path) -> anyhow::Result<(Arc<SqliteStore>, usize)> {
    let store = Arc::new(
        SqliteStore::open(data)
            .with_context(|| format!("opening the data directory {}", data.display()))?,
    );
    let live = sb_runtime::LiveConfig::new();
    sb_runtime::Deployer::new(store.clone(), live.clone()).refresh()?;
    let config = live
        .current()
        .context("no configuration is deployed yet: apply a spec that defines the user first")?;
    if !config.spec.users.contains_key(user) {
        anyhow::bail!("the deployed spec defines no user '{user}'");
    }
    Ok((store, config.spec.security.password_min_length as usize))
}

async fn audit(data: &Path, action: &str, user: &str) -> anyhow::Result<()> {
    super::audit_local(data, action, serde_json::json!({ "for": user })).await
}

pub(crate) async fn set_password(user: &str, data: &Path) -> anyhow::Result<ExitCode> {
    let (store, min_length) = open(user, data)?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let new = line.trim_end_matches(['\r', '\n']);
    let existing = store.user_login(user)?;
    let mut previous = existing
        .as_ref()
        .map(|l| l.previous.clone())
        .unwrap_or_default();
    if let Some(current) = existing.as_ref().filter(|l| !l.password_hash.is_empty()) {
        previous.push(current.password_hash.clone());
    }
    password::check_policy(new, min_length, &previous)?;
    let keep = previous.len().saturating_sub(password::REMEMBERED);
    let previous = previous.split_off(keep);
    let hash = password::hash(new)?;
    let mut set = |login: &mut UserLogin| {
        login.previous = previous.clone();
        login.password_hash = hash.clone();
        login.failures = 0;
        login.locked_until_ms = 0;
        // A new password ends every session signed in with the old one.
        login.session_epoch += 1;
    };
    if store.update_user_login(user, &mut set)?.is_none() {
        let mut login = UserLogin {
            user: user.into(),
            ..Default::default()
        };
        set(&mut login);
        store.save_user_login(&login)?;
    }
    audit(data, "user:SetPassword", user).await?;
    println!("Password set for {user}.");
    Ok(ExitCode::SUCCESS)
}

/// Sign the user out everywhere: every token of theirs, and every token exchanged from
/// one, is refused from now on, and open sockets and streams are closed.
pub(crate) async fn sign_out(user: &str, data: &Path) -> anyhow::Result<ExitCode> {
    let (store, _) = open(user, data)?;
    let ended = store.update_user_login(user, &mut |login| login.session_epoch += 1)?;
    audit(data, "user:SignOut", user).await?;
    match ended {
        Some(_) => println!("Every session of {user} has ended."),
        None => println!("{user} has never signed in: no session to end."),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn enrol_totp(
    user: &str,
    data: &Path,
    keys: &crate::cli::KeysArg,
) -> anyhow::Result<ExitCode> {
    let (store, _) = open(user, data)?;
    let vault = super::open_vault(store.as_ref(), data, keys)?;
    let mut login = store
        .user_login(user)?
        .context("set a password first: switchboard user set-password")?;
    let secret = TotpSecret::generate()?;
    let codes = recovery_codes()?;
    // Sealed at rest under the user directory's key.
    login.totp_secret = Some(vault.users_key().seal_str(&secret.base32())?);
    login.totp_last_step = None;
    login.recovery_code_hashes = codes.iter().map(|c| recovery_code_hash(c)).collect();
    store.save_user_login(&login)?;
    audit(data, "user:EnrolTotp", user).await?;
    println!("secret: {}", secret.base32());
    println!("uri: {}", secret.uri("Switchboard", user));
    println!("recovery codes (each works once, in place of a code; shown only now):");
    for code in codes {
        println!("  {code}");
    }
    Ok(ExitCode::SUCCESS)
}
