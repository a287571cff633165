mod audit;
mod config;
mod flow;
mod keys;
mod metrics;
mod privacy;
mod query;
mod serve;
mod simulate;
mod user;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{
    AuditCommand, Cli, Command, CredentialCommand, FlowCommand, KeysArg, KeysCommand,
    PrivacyCommand, UserCommand,
};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Validate { dir, json } => config::validate(&dir, json),
        Command::Plan { dir, target, json } => config::plan(&dir, &target, json).await,
        Command::Apply {
            dir,
            expect_version,
            change,
            json,
        } => config::apply(&dir, expect_version, &change, json).await,
        Command::Flow { command } => match command {
            FlowCommand::Run(args) => flow::run(&args),
            FlowCommand::Import(args) => flow::import(&args),
        },
        Command::Simulate(args) => simulate::run(&args),
        Command::Metrics(args) => metrics::run(&args).await,
        Command::User { command } => match command {
            UserCommand::SetPassword { user, data } => {
                user::set_password(&user, &data.existing()?).await
            }
            UserCommand::SignOut { user, data } => user::sign_out(&user, &data.existing()?).await,
            UserCommand::EnrolTotp { user, data, keys } => {
                user::enrol_totp(&user, &data.existing()?, &keys).await
            }
        },
        Command::Audit { command } => match command {
            AuditCommand::Verify {
                data,
                keys,
                public_key,
                from,
                to,
                kept,
                json,
            } => audit::verify(
                &data,
                &keys,
                public_key.as_deref(),
                from,
                to,
                kept.as_deref(),
                json,
            ),
            AuditCommand::Digest { data, keys } => audit::digest(&data, &keys),
            AuditCommand::Export { data, from, to } => audit::export(&data, from, to).await,
        },
        Command::Query {
            sql,
            max_rows,
            time_limit_seconds,
            target,
            json,
        } => query::run(&sql, max_rows, time_limit_seconds, &target, json).await,
        Command::Credential { command } => match command {
            CredentialCommand::Create {
                user,
                role,
                description,
                data,
            } => config::create_credential(&user, &role, &description, &data.existing()?).await,
            CredentialCommand::Rotate { id, data } => {
                config::rotate_credential(&id, &data.existing()?).await
            }
            CredentialCommand::Revoke { id, data } => {
                config::revoke_credential(&id, &data.existing()?).await
            }
        },
        Command::Backup { to, data } => {
            let data = data.existing()?;
            let store = sb_store::SqliteStore::open(&data)
                .with_context(|| format!("opening the data directory {}", data.display()))?;
            sb_store::BackupStore::backup_to(&store, &to)
                .with_context(|| format!("backing up to {}", to.display()))?;
            audit_local(&data, "store:Backup", serde_json::json!({"to": to})).await?;
            println!("Backed up to {}.", to.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { command } => match command {
            KeysCommand::List { data, keys } => keys::list(&data.existing()?, &keys),
            KeysCommand::Rotate { data, keys } => keys::rotate(&data.existing()?, &keys).await,
            KeysCommand::Retire { id, data, keys } => {
                keys::retire(&id, &data.existing()?, &keys).await
            }
        },
        Command::Privacy { command } => match command {
            PrivacyCommand::Export {
                customer,
                data,
                keys,
            } => privacy::export(&customer, &data.existing()?, &keys).await,
            PrivacyCommand::Erase {
                customer,
                data,
                keys,
            } => privacy::erase(&customer, &data.existing()?, &keys).await,
        },
        Command::Versions { target, json } => config::versions(&target, json).await,
        Command::Rollback {
            to,
            expect_version,
            change,
            json,
        } => config::rollback(to, expect_version, &change, json).await,
    }
}

/// Record a change made from the command line in the audit trail; the local operator
/// is whoever runs the command.
pub(crate) async fn audit_local(
    data: &Path,
    action: &str,
    parameters: serde_json::Value,
) -> anyhow::Result<()> {
    audit_local_outcome(data, action, parameters, None).await
}

/// Record a command on the local data directory in the audit trail, with how it ended:
/// `failure` is the error of a change that was refused (nothing changed).
/// Who runs this command, for the audit trail: the login name, or the numeric user id
/// where the environment names nobody (a service, a container).
fn local_operator() -> String {
    use std::os::unix::fs::MetadataExt;
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::metadata("/proc/self")
                .ok()
                .map(|m| format!("uid {}", m.uid()))
        })
        .unwrap_or_else(|| "unknown local user".into())
}

pub(crate) async fn audit_local_outcome(
    data: &Path,
    action: &str,
    parameters: serde_json::Value,
    failure: Option<String>,
) -> anyhow::Result<()> {
    let mut record = sb_runtime::audit::AuditRecord::now(action);
    if let Some(error) = failure {
        record.outcome = "failed".into();
        record.error = Some(error);
    }
    record.authenticated_by = "cli".into();
    record.user = Some(local_operator());
    record.parameters = parameters;
    let (log, writer) =
        sb_store::EventLog::start(data).context("starting the event log to audit this")?;
    sb_runtime::audit::append(&log, &record)
        .await
        .context("recording the change in the audit trail")?;
    drop(log);
    writer.join();
    // Signed at once where the signing key is at hand, so that a command run while no
    // server is up leaves no unsigned end behind it.
    let keys = std::env::var_os("SWITCHBOARD_KEYS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| sb_runtime::keys::KeyDir::beside(data));
    if let Some(signer) = sb_runtime::keys::KeyDir::existing_audit_signer(&keys)? {
        let store = sb_store::SqliteStore::open(data)
            .with_context(|| format!("opening the data directory {}", data.display()))?;
        sb_runtime::audit::digest_now(&store, &signer).context("signing the audit trail")?;
    }
    Ok(())
}

/// The instance's vault: the KEKs from the key directory (or the environment or key
/// command) and the system data keys in `store`.
pub(crate) fn open_vault(
    store: &dyn sb_store::Store,
    data: &Path,
    keys: &KeysArg,
) -> anyhow::Result<sb_runtime::vault::Vault> {
    let keyring = keys.keyring(data)?;
    let erasures = sb_runtime::privacy::ErasureLog::in_key_dir(&keys.resolve(data)?);
    sb_runtime::vault::Vault::open_with_erasures(store, keyring, erasures)
        .context("opening the instance's data keys")
}
