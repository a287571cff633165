//! Plan, apply and roll back configuration versions: the same logic whether the CLI
//! works on a data directory or the server answers an API call.

use std::sync::Arc;

use sb_spec::{load, InstanceSpec, Plan, Problems, SourceBundle};
use sb_store::{Store, StoreError, VersionSummary};
use serde::{Deserialize, Serialize};

use crate::live::{DeployedConfig, LiveConfig};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("the spec is invalid:\n{0}")]
    Invalid(Problems),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("version {0} does not exist")]
    UnknownVersion(u64),
    #[error("stored version {version} cannot be read: {reason}")]
    StoredVersionUnreadable { version: u64, reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanOutcome {
    /// The deployed version the plan was made against (0 for none).
    pub base_version: u64,
    pub plan: Plan,
    pub warnings: Problems,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// The new version, or `None` when there was nothing to change.
    pub version: Option<VersionSummary>,
    pub base_version: u64,
    pub plan: Plan,
    pub warnings: Problems,
}

pub struct Deployer {
    store: Arc<dyn Store>,
    live: LiveConfig,
}

impl Deployer {
    pub fn new(store: Arc<dyn Store>, live: LiveConfig) -> Self {
        Self { store, live }
    }

    pub fn live(&self) -> &LiveConfig {
        &self.live
    }

    /// Load the newest version into the live configuration (at start-up).
    pub fn load_latest(&self) -> Result<Option<u64>, DeployError> {
        let Some((version, spec)) = self.deployed()? else {
            return Ok(None);
        };
        self.live.publish(DeployedConfig::new(version, spec));
        Ok(Some(version))
    }

    /// Pick up a version written by another process (a CLI applying with `--data`
    /// while the server runs). Returns the version made current, if any.
    pub fn refresh(&self) -> Result<Option<u64>, DeployError> {
        let newest = self.store.latest_version_number()?;
        let current = self.live.current().map_or(0, |c| c.version);
        if newest > current {
            return self.load_latest();
        }
        Ok(None)
    }

    fn deployed(&self) -> Result<Option<(u64, InstanceSpec)>, DeployError> {
        let Some(latest) = self.store.latest_version()? else {
            return Ok(None);
        };
        let number = latest.summary.version;
        Ok(Some((number, read_stored(number, &latest.bundle_json)?.1)))
    }

    pub fn plan(&self, bundle: &SourceBundle) -> Result<PlanOutcome, DeployError> {
        Ok(self.plan_with_spec(bundle)?.0)
    }

    fn plan_with_spec(
        &self,
        bundle: &SourceBundle,
    ) -> Result<(PlanOutcome, InstanceSpec), DeployError> {
        let (wanted, warnings) = load(bundle).map_err(DeployError::Invalid)?;
        let deployed = self.deployed()?;
        let outcome = PlanOutcome {
            base_version: deployed.as_ref().map_or(0, |(n, _)| *n),
            plan: Plan::between(deployed.as_ref().map(|(_, s)| s), &wanted),
            warnings,
        };
        Ok((outcome, wanted))
    }

    /// Deploy `bundle` as the next version, all or nothing. An unchanged spec makes no
    /// new version.
    pub fn apply(
        &self,
        bundle: &SourceBundle,
        actor: &str,
        expect_version: Option<u64>,
    ) -> Result<Applied, DeployError> {
        let (outcome, spec) = self.plan_with_spec(bundle)?;
        if let Some(expected) = expect_version {
            if expected != outcome.base_version {
                return Err(StoreError::Conflict {
                    expected,
                    actual: outcome.base_version,
                }
                .into());
            }
        }
        if outcome.plan.is_empty() {
            return Ok(Applied {
                version: None,
                base_version: outcome.base_version,
                plan: outcome.plan,
                warnings: outcome.warnings,
            });
        }
        let summary = self.store.append_version(
            sb_store::NewVersion {
                actor: actor.to_string(),
                summary: outcome.plan.summary(),
                rollback_of: None,
                bundle_json: serde_json::to_string(bundle).expect("bundles serialise"),
            },
            // The store re-checks under its write lock, so a concurrent apply between
            // our plan and this append is still caught.
            Some(outcome.base_version),
        )?;
        self.live
            .publish(DeployedConfig::new(summary.version, spec));
        Ok(Applied {
            version: Some(summary),
            base_version: outcome.base_version,
            plan: outcome.plan,
            warnings: outcome.warnings,
        })
    }

    /// Deploy version `to`'s content as a new version.
    pub fn rollback(
        &self,
        to: u64,
        actor: &str,
        expect_version: Option<u64>,
    ) -> Result<Applied, DeployError> {
        let target = self
            .store
            .version(to)?
            .ok_or(DeployError::UnknownVersion(to))?;
        let (bundle, spec) = read_stored(to, &target.bundle_json)?;
        let deployed = self.deployed()?;
        let base_version = deployed.as_ref().map_or(0, |(n, _)| *n);
        let plan = Plan::between(deployed.as_ref().map(|(_, s)| s), &spec);
        let summary = self.store.append_version(
            sb_store::NewVersion {
                actor: actor.to_string(),
                summary: format!("rollback to version {to}: {}", plan.summary()),
                rollback_of: Some(to),
                bundle_json: serde_json::to_string(&bundle).expect("bundles serialise"),
            },
            Some(expect_version.unwrap_or(base_version)),
        )?;
        self.live
            .publish(DeployedConfig::new(summary.version, spec));
        Ok(Applied {
            version: Some(summary),
            base_version,
            plan,
            warnings: Problems::default(),
        })
    }

    pub fn versions(&self) -> Result<Vec<VersionSummary>, DeployError> {
        Ok(self.store.versions()?)
    }

    /// A stored version's source bundle, to export or inspect.
    pub fn version_bundle(
        &self,
        number: u64,
    ) -> Result<(VersionSummary, SourceBundle), DeployError> {
        let stored = self
            .store
            .version(number)?
            .ok_or(DeployError::UnknownVersion(number))?;
        let (bundle, _) = read_stored(number, &stored.bundle_json)?;
        Ok((stored.summary, bundle))
    }
}

fn read_stored(version: u64, json: &str) -> Result<(SourceBundle, InstanceSpec), DeployError> {
    let unreadable = |reason: String| DeployError::StoredVersionUnreadable { version, reason };
    let bundle: SourceBundle = serde_json::from_str(json).map_err(|e| unreadable(e.to_string()))?;
    let (spec, _) = load(&bundle).map_err(|p| unreadable(p.to_string()))?;
    Ok((bundle, spec))
}

/// Version `number` as the runtime runs it (for contacts pinned to an older version).
pub(crate) fn read_version(store: &dyn Store, number: u64) -> Result<DeployedConfig, DeployError> {
    let stored = store
        .version(number)?
        .ok_or(DeployError::UnknownVersion(number))?;
    let (_, spec) = read_stored(number, &stored.bundle_json)?;
    Ok(DeployedConfig::new(number, spec))
}
