//! validate, plan, apply, versions, rollback.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sb_runtime::Applied;
use sb_spec::{load, SourceBundle};

use crate::cli::{ChangeArgs, TargetArgs};
use crate::target::Target;

fn read_spec(dir: &Path) -> anyhow::Result<SourceBundle> {
    SourceBundle::read_dir(dir)
        .with_context(|| format!("reading the spec directory {}", dir.display()))
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("output serialises")
    );
}

pub(crate) fn validate(dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let bundle = read_spec(dir)?;
    let (problems, valid) = match load(&bundle) {
        Ok((_, warnings)) => (warnings, true),
        Err(problems) => (problems, false),
    };
    if json {
        print_json(&serde_json::json!({ "valid": valid, "problems": problems }));
    } else {
        for p in &problems.0 {
            println!("{p}");
        }
        if valid {
            println!(
                "{} is valid ({} warning(s)).",
                dir.display(),
                problems.warnings().count()
            );
        } else {
            println!(
                "{} is invalid: {} error(s), {} warning(s).",
                dir.display(),
                problems.errors().count(),
                problems.warnings().count()
            );
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_warnings(problems: &sb_spec::Problems) {
    for w in problems.warnings() {
        eprintln!("{w}");
    }
}

pub(crate) async fn plan(dir: &Path, target: &TargetArgs, json: bool) -> anyhow::Result<ExitCode> {
    let bundle = read_spec(dir)?;
    let outcome = Target::open(target)?.plan(&bundle).await?;
    if json {
        print_json(&outcome);
    } else {
        print_warnings(&outcome.warnings);
        match outcome.base_version {
            0 => println!("Against: nothing deployed yet.\n"),
            n => println!("Against: deployed version {n}.\n"),
        }
        print!("{}", outcome.plan);
    }
    Ok(ExitCode::SUCCESS)
}

fn report(applied: &Applied, json: bool) {
    if json {
        print_json(applied);
        return;
    }
    print_warnings(&applied.warnings);
    match &applied.version {
        None => println!(
            "No changes. Version {} stays deployed.",
            applied.base_version
        ),
        Some(v) => {
            print!("{}", applied.plan);
            println!(
                "\nDeployed version {} ({}), by {}.",
                v.version, v.summary, v.actor
            );
        }
    }
}

pub(crate) async fn apply(
    dir: &Path,
    expect_version: Option<u64>,
    change: &ChangeArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let bundle = read_spec(dir)?;
    let applied = Target::open_for_change(change, true)?
        .apply(&bundle, expect_version)
        .await?;
    report(&applied, json);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn rollback(
    to: u64,
    expect_version: Option<u64>,
    change: &ChangeArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let applied = Target::open_for_change(change, false)?
        .rollback(to, expect_version)
        .await?;
    report(&applied, json);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn versions(target: &TargetArgs, json: bool) -> anyhow::Result<ExitCode> {
    let versions = Target::open(target)?.versions().await?;
    if json {
        print_json(&versions);
        return Ok(ExitCode::SUCCESS);
    }
    if versions.is_empty() {
        println!("No version deployed yet.");
        return Ok(ExitCode::SUCCESS);
    }
    // Columns as wide as their widest entry, so a long actor does not push the rest.
    let time = versions
        .iter()
        .map(|v| v.created_at.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let who = versions
        .iter()
        .map(|v| v.actor.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    println!(
        "{:>7}  {:<time$}  {:<who$}  SUMMARY",
        "VERSION", "TIME", "WHO"
    );
    for v in versions {
        println!(
            "{:>7}  {:<time$}  {:<who$}  {}",
            v.version, v.created_at, v.actor, v.summary
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn create_credential(
    user: &str,
    role: &str,
    description: &str,
    data: &Path,
) -> anyhow::Result<ExitCode> {
    sb_model::Name::new(user).map_err(|e| anyhow::anyhow!("--user '{user}': {e}"))?;
    let store = std::sync::Arc::new(
        sb_store::SqliteStore::open(data)
            .with_context(|| format!("opening the data directory {}", data.display()))?,
    );
    // A built-in role, or a custom role of the deployed spec.
    let live = sb_runtime::LiveConfig::new();
    sb_runtime::Deployer::new(store.clone(), live.clone()).refresh()?;
    let deployed = live.current();
    let custom: Vec<String> = deployed
        .as_ref()
        .map(|c| c.spec.roles.keys().map(|r| r.to_string()).collect())
        .unwrap_or_default();
    // Said, not refused: whoever holds the data directory decides, but should know.
    if let Some(config) = &deployed {
        match config.spec.users.get(user) {
            Some(u) if u.role.as_str() != role => eprintln!(
                "warning: {user} is {} in the deployed spec; this credential acts as {role}",
                u.role
            ),
            Some(_) => {}
            None => eprintln!(
                "warning: the deployed spec has no user '{user}': the credential is for an integration (it cannot connect as an agent)"
            ),
        }
    }
    if sb_security::Role::parse(role).is_none() && !custom.iter().any(|c| c == role) {
        anyhow::bail!(
            "unknown role '{role}': use Admin, Supervisor, Agent, Analyst, Auditor, Integration{}",
            custom.iter().map(|c| format!(", {c}")).collect::<String>()
        );
    }
    if let Some(security) = deployed.as_ref().map(|c| &c.spec.security) {
        if !security.allow_api_keys_for_mfa_roles
            && security
                .mfa_required_roles
                .iter()
                .any(|r| r.as_str() == role)
        {
            anyhow::bail!(
                "role '{role}' must sign in with a second factor (security.mfa_required_roles) and the deployed spec allows no API keys for it (security.allow_api_keys_for_mfa_roles: false); its users sign in with a password and code instead"
            );
        }
    }
    let store = store.as_ref();
    let issued = sb_security::ApiKey::issue()?;
    sb_store::CredentialStore::insert_credential(
        store,
        &sb_store::StoredCredential {
            id: issued.id.clone(),
            secret_sha256: issued.secret_sha256,
            principal: user.to_string(),
            role: role.to_string(),
            description: description.to_string(),
            created_at: jiff::Timestamp::now().to_string(),
        },
    )?;
    // A credential change is always audited; the local operator is whoever runs this.
    super::audit_local(
        data,
        "credential:Create",
        serde_json::json!({"credential": issued.id, "for": user, "role": role}),
    )
    .await?;
    println!(
        "Credential {} for {user} ({}), shown this once:",
        issued.id, role
    );
    println!("{}", issued.token);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn rotate_credential(id: &str, data: &Path) -> anyhow::Result<ExitCode> {
    let store = sb_store::SqliteStore::open(data)
        .with_context(|| format!("opening the data directory {}", data.display()))?;
    let old = sb_store::CredentialStore::credential(&store, id)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no credential '{id}' (ids look like K3F9…; see the audit trail for issued ones)"
        )
    })?;
    let issued = sb_security::ApiKey::issue()?;
    // The new key first: a failure half way leaves the old one working, never neither.
    sb_store::CredentialStore::insert_credential(
        &store,
        &sb_store::StoredCredential {
            id: issued.id.clone(),
            secret_sha256: issued.secret_sha256,
            principal: old.principal.clone(),
            role: old.role.clone(),
            description: format!("{} (rotated from {id})", old.description),
            created_at: jiff::Timestamp::now().to_string(),
        },
    )?;
    sb_store::CredentialStore::delete_credential(&store, id)?;
    super::audit_local(
        data,
        "credential:Rotate",
        serde_json::json!({"from": id, "to": issued.id, "for": old.principal}),
    )
    .await?;
    println!(
        "Credential {id} replaced by {} for {} ({}); {id} no longer works. The new one, shown this once:",
        issued.id, old.principal, old.role
    );
    println!("{}", issued.token);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn revoke_credential(id: &str, data: &Path) -> anyhow::Result<ExitCode> {
    let store = sb_store::SqliteStore::open(data)
        .with_context(|| format!("opening the data directory {}", data.display()))?;
    if !sb_store::CredentialStore::delete_credential(&store, id)? {
        anyhow::bail!(
            "no credential '{id}' (ids look like K3F9…; see the audit trail for issued ones)"
        );
    }
    super::audit_local(
        data,
        "credential:Revoke",
        serde_json::json!({ "credential": id }),
    )
    .await?;
    println!("Credential {id} revoked; tokens exchanged for it no longer work.");
    Ok(ExitCode::SUCCESS)
}
