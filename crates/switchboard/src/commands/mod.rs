mod audit;
mod config;
mod flow;
mod metrics;
mod query;
mod serve;
mod simulate;
mod user;

use std::process::ExitCode;

use crate::cli::{AuditCommand, Cli, Command, CredentialCommand, FlowCommand, UserCommand};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Validate { dir, json } => config::validate(&dir, json),
        Command::Plan { dir, target, json } => config::plan(&dir, &target, json).await,
        Command::Apply {
            dir,
            expect_version,
            target,
            json,
        } => config::apply(&dir, expect_version, &target, json).await,
        Command::Flow { command } => match command {
            FlowCommand::Run(args) => flow::run(&args),
            FlowCommand::Import(args) => flow::import(&args),
        },
        Command::Simulate(args) => simulate::run(&args),
        Command::Metrics(args) => metrics::run(&args).await,
        Command::User { command } => match command {
            UserCommand::SetPassword { user, data } => {
                user::set_password(&user, &data.resolve(false)).await
            }
            UserCommand::EnrolTotp { user, data } => {
                user::enrol_totp(&user, &data.resolve(false)).await
            }
        },
        Command::Audit { command } => match command {
            AuditCommand::Verify {
                data,
                keys,
                from,
                to,
                kept,
                json,
            } => audit::verify(&data, &keys, from, to, kept.as_deref(), json),
            AuditCommand::Digest { data, keys } => audit::digest(&data, &keys),
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
            } => config::create_credential(&user, &role, &description, &data.resolve(false)).await,
            CredentialCommand::Revoke { id, data } => {
                config::revoke_credential(&id, &data.resolve(false)).await
            }
        },
        Command::Versions { target, json } => config::versions(&target, json).await,
        Command::Rollback {
            to,
            expect_version,
            target,
            json,
        } => config::rollback(to, expect_version, &target, json).await,
    }
}
