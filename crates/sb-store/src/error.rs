use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create or open the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the data directory {path} is not writable: {source}")]
    NotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the data directory was written by a newer Switchboard (schema {found}; this build reads up to {supported}): upgrade Switchboard, or point --data elsewhere")]
    NewerSchema { found: i64, supported: i64 },
    #[error("version conflict: expected the deployed version to be {expected}, but it is {actual}; run plan again and retry")]
    Conflict { expected: u64, actual: u64 },
    #[error(transparent)]
    BeforeRetention(#[from] crate::streams::BeforeRetention),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{} exists already; a backup never overwrites: choose a new file, or move that one away", .0.display())]
    BackupExists(PathBuf),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
}
