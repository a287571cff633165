//! Configuration commands act on a data directory or a running server; this hides which.

use std::sync::Arc;

use anyhow::Context;
use sb_runtime::{Applied, Deployer, LiveConfig, PlanOutcome};
use sb_spec::SourceBundle;
use sb_store::{SqliteStore, VersionSummary};
use serde_json::json;

use crate::cli::{ChangeArgs, TargetArgs};
use crate::client::ApiClient;

pub(crate) enum Target {
    Local {
        deployer: Deployer,
        actor: String,
        data: std::path::PathBuf,
    },
    Remote(ApiClient),
}

/// A configuration change made on the data directory, recorded in the audit trail as
/// the server records one made through the API: what was deployed, or why not.
async fn audited_change(
    data: &std::path::Path,
    action: &str,
    actor: &str,
    applied: Result<Applied, sb_runtime::DeployError>,
) -> anyhow::Result<Applied> {
    let (parameters, failure) = match &applied {
        Ok(a) => (
            json!({
                "actor": actor,
                "base_version": a.base_version,
                "version": a.version.as_ref().map(|v| v.version),
            }),
            None,
        ),
        Err(e) => (json!({ "actor": actor }), Some(e.to_string())),
    };
    crate::commands::audit_local_outcome(data, action, parameters, failure).await?;
    Ok(applied?)
}

impl Target {
    /// The target of a command that reads (plan, versions, query, metrics).
    pub(crate) fn open(args: &TargetArgs) -> anyhow::Result<Self> {
        Self::open_as(args, None, false)
    }

    /// The target of a configuration change, made by its `--actor`; `creates` for one
    /// that may make a new data directory (apply), where the others refuse a path with
    /// no instance.
    pub(crate) fn open_for_change(args: &ChangeArgs, creates: bool) -> anyhow::Result<Self> {
        Self::open_as(&args.target, args.actor.as_deref(), creates)
    }

    fn open_as(args: &TargetArgs, actor: Option<&str>, creates: bool) -> anyhow::Result<Self> {
        if let Some(server) = &args.server {
            return Ok(Target::Remote(ApiClient::new(
                server,
                args.token.as_deref(),
                args.ca_cert.as_deref(),
            )?));
        }
        let dir = if creates {
            args.data.resolve(false)
        } else {
            args.data.existing()?
        };
        let store = SqliteStore::open(&dir)
            .with_context(|| format!("opening the data directory {}", dir.display()))?;
        let actor = actor
            .map(str::to_string)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "local".into());
        Ok(Target::Local {
            deployer: Deployer::new(Arc::new(store), LiveConfig::new()),
            actor: format!("{actor} (local)"),
            data: dir,
        })
    }

    pub(crate) async fn plan(&self, bundle: &SourceBundle) -> anyhow::Result<PlanOutcome> {
        match self {
            Target::Local { deployer, .. } => Ok(deployer.plan(bundle)?),
            Target::Remote(api) => {
                api.post("/v1/config/plan", &json!({ "bundle": bundle }))
                    .await
            }
        }
    }

    pub(crate) async fn apply(
        &self,
        bundle: &SourceBundle,
        expect_version: Option<u64>,
    ) -> anyhow::Result<Applied> {
        match self {
            Target::Local {
                deployer,
                actor,
                data,
            } => {
                let applied = deployer.apply(bundle, actor, expect_version);
                audited_change(data, "config:Apply", actor, applied).await
            }
            Target::Remote(api) => {
                let body = json!({ "bundle": bundle, "expect_version": expect_version });
                api.post("/v1/config/apply", &body).await
            }
        }
    }

    pub(crate) async fn rollback(
        &self,
        to: u64,
        expect_version: Option<u64>,
    ) -> anyhow::Result<Applied> {
        match self {
            Target::Local {
                deployer,
                actor,
                data,
            } => {
                let applied = deployer.rollback(to, actor, expect_version);
                audited_change(data, "config:Rollback", actor, applied).await
            }
            Target::Remote(api) => {
                let body = json!({ "to": to, "expect_version": expect_version });
                api.post("/v1/config/rollback", &body).await
            }
        }
    }

    pub(crate) async fn versions(&self) -> anyhow::Result<Vec<VersionSummary>> {
        match self {
            Target::Local { deployer, .. } => Ok(deployer.versions()?),
            Target::Remote(api) => api.get("/v1/config/versions").await,
        }
    }
}
