//! The configuration contacts run on. A new version replaces the current one for new
//! contacts; a contact that started on an older version keeps its `Arc` and finishes
//! on it, so deploying never disturbs anything in flight.

use std::sync::Arc;

use sb_spec::{FlowSet, InstanceSpec};
use tokio::sync::watch;

#[derive(Debug)]
pub struct DeployedConfig {
    pub version: u64,
    pub spec: InstanceSpec,
    /// The spec's flows, indexed for the interpreter once per version.
    pub flows: FlowSet,
}

impl DeployedConfig {
    pub fn new(version: u64, spec: InstanceSpec) -> Self {
        let flows = FlowSet::compile(&spec);
        DeployedConfig {
            version,
            spec,
            flows,
        }
    }
}

/// Cheap to clone; every clone sees the same current version.
#[derive(Clone)]
pub struct LiveConfig {
    sender: Arc<watch::Sender<Option<Arc<DeployedConfig>>>>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveConfig {
    pub fn new() -> Self {
        let (sender, _) = watch::channel(None);
        Self {
            sender: Arc::new(sender),
        }
    }

    /// The version a contact starting now should pin.
    pub fn current(&self) -> Option<Arc<DeployedConfig>> {
        self.sender.borrow().clone()
    }

    /// Make `config` current, unless a newer version already is (two appliers may
    /// finish out of order).
    pub fn publish(&self, config: DeployedConfig) {
        let config = Arc::new(config);
        self.sender.send_if_modified(|slot| match slot {
            Some(current) if current.version >= config.version => false,
            _ => {
                *slot = Some(config);
                true
            }
        });
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<DeployedConfig>>> {
        self.sender.subscribe()
    }
}
