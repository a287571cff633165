//! The one place an instance is put together: its data directory opened (store and
//! deployed configuration), then started (event log, data keys, the owner and its
//! background tasks). `serve`, the API's tests, the runtime's tests and the benches all
//! open an instance here, so a new part (a second backend, a voice channel) is wired in
//! once.
//!
//! Two steps, because `serve` does work between them that must not wait for the log:
//! the bootstrap credential and the demo's configuration go into the store before the
//! banner is printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sb_security::envelope::Keyring;
use sb_security::signing::Signer;
use sb_store::{Backend, EventLogWriter, Store, StoreError};

use crate::instance::{Clock, RuntimeHandle};
use crate::privacy::ErasureLog;
use crate::vault::{Vault, VaultError};
use crate::{DeployError, Deployer, LiveConfig};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("opening the data directory {dir}: {source}")]
    Store {
        dir: String,
        #[source]
        source: StoreError,
    },
    #[error("loading the deployed configuration: {0}")]
    Deploy(#[from] DeployError),
    #[error("starting the event log: {0}")]
    Log(#[source] StoreError),
    #[error("opening the instance's data keys: {0}")]
    Keys(#[from] VaultError),
}

/// An instance's data directory, opened: its store and its newest deployed version.
pub struct InstanceData {
    pub dir: PathBuf,
    /// What holds the store and the log (today the SQLite files in `dir`).
    pub backend: Backend,
    pub store: Arc<dyn Store>,
    pub deployer: Arc<Deployer>,
}

/// How to start an instance whose data is open.
pub struct StartOptions {
    /// The key-encryption keys its data keys are wrapped under.
    pub keyring: Keyring,
    /// Where erasures are remembered (the key directory), so a restored copy erases
    /// again; `None` in tests that have no key directory.
    pub erasures: Option<ErasureLog>,
    /// A CA to trust for external functions besides the public roots.
    pub function_ca: Option<Vec<u8>>,
    /// The system's clock, or a test's.
    pub clock: Clock,
    /// The audit signing key: with it, the trail's end is signed every minute and aged
    /// behind a signed floor.
    pub audit_signer: Option<Arc<Signer>>,
}

impl StartOptions {
    /// Starting on `keyring`, with the system clock and nothing else.
    pub fn new(keyring: Keyring) -> Self {
        StartOptions {
            keyring,
            erasures: None,
            function_ca: None,
            clock: Clock::system(),
            audit_signer: None,
        }
    }
}

/// A started instance: its data, its data keys, the owner, and the log's writer (join it
/// after the last handle is dropped, to wait for the final commit).
pub struct RunningInstance {
    pub data: InstanceData,
    pub vault: Arc<Vault>,
    pub runtime: RuntimeHandle,
    pub writer: EventLogWriter,
}

impl InstanceData {
    /// Open (or create) the store in `dir` and load the newest deployed version.
    pub fn open(dir: &Path) -> Result<InstanceData, OpenError> {
        let backend = Backend::Sqlite {
            dir: dir.to_path_buf(),
        };
        let store = backend.open_store().map_err(|source| OpenError::Store {
            dir: dir.display().to_string(),
            source,
        })?;
        let deployer = Arc::new(Deployer::new(store.clone(), LiveConfig::new()));
        deployer.load_latest()?;
        Ok(InstanceData {
            dir: dir.to_path_buf(),
            backend,
            store,
            deployer,
        })
    }

    /// Start the instance: the event log's writer, the data keys, the owner (which
    /// recovers live contacts before it reports ready) and the background tasks
    /// (retention, and the audit keeper when a signing key is given). Needs a tokio
    /// runtime.
    pub fn start(self, options: StartOptions) -> Result<RunningInstance, OpenError> {
        let (log, writer) = self.backend.start_log().map_err(OpenError::Log)?;
        let vault = Arc::new(match options.erasures {
            Some(erasures) => {
                Vault::open_with_erasures(self.store.as_ref(), options.keyring, erasures)?
            }
            None => Vault::open(self.store.as_ref(), options.keyring)?,
        });
        if let Some(signer) = options.audit_signer {
            crate::audit::spawn_keeper(self.store.clone(), signer, self.deployer.live().clone());
        }
        let runtime = crate::instance::start_with_clock(
            self.deployer.live().clone(),
            self.store.clone(),
            log,
            vault.clone(),
            options.function_ca,
            options.clock,
        );
        Ok(RunningInstance {
            data: self,
            vault,
            runtime,
            writer,
        })
    }
}

impl RunningInstance {
    /// Wait until the owner has recovered and serves, at most `limit`.
    pub async fn ready_within(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.runtime.is_ready() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}
