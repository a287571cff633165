//! The files of a spec as one self-contained value: what `apply` sends to a server,
//! and what a stored version keeps, so that `rollback` needs no files on disk.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;
pub const MAX_FILES: usize = 2_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceBundle {
    /// Relative path (with `/`) → contents.
    pub files: BTreeMap<String, SourceFile>,
    /// Symbolic links met when reading a directory, which are not followed (a link
    /// could reach outside the spec): kept only so that a file missing because of one
    /// is reported as a link, not as absent.
    #[serde(skip)]
    pub skipped_links: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceFile {
    Text(String),
    /// Binary content (prompt audio), base64 in JSON.
    Base64(String),
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read spec directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("file name '{0}' is not allowed: use a relative path without '..', '\\' or control characters")]
    BadPath(String),
    #[error("{path} is {size} bytes; a spec file may be at most {MAX_FILE_BYTES} bytes")]
    FileTooLarge { path: String, size: usize },
    #[error("the spec is larger than {MAX_BUNDLE_BYTES} bytes or {MAX_FILES} files")]
    TooLarge,
    #[error("{0} is not valid base64")]
    BadBase64(String),
}

/// Whether `path` is a safe relative path inside a spec: no traversal, no absolute
/// paths, no hidden tricks. Applied to bundles from clients as well as from disk.
pub fn check_path(path: &str) -> Result<(), BundleError> {
    let bad = || BundleError::BadPath(path.to_string());
    if path.is_empty()
        || path.len() > 512
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path.starts_with('/')
    {
        return Err(bad());
    }
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) => {}
            _ => return Err(bad()),
        }
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(bad());
    }
    Ok(())
}

impl SourceBundle {
    /// Read every file below `dir`, skipping hidden files and directories.
    pub fn read_dir(dir: &Path) -> Result<Self, BundleError> {
        let io = |path: &Path, source| BundleError::Io {
            path: path.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(dir).map_err(|e| io(dir, e))?;
        if !meta.is_dir() {
            return Err(BundleError::NotADirectory(dir.display().to_string()));
        }
        let mut bundle = SourceBundle::default();
        let mut pending = vec![dir.to_path_buf()];
        let mut total = 0usize;
        while let Some(current) = pending.pop() {
            let entries = std::fs::read_dir(&current).map_err(|e| io(&current, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| io(&current, e))?;
                let path = entry.path();
                let file_name = entry.file_name();
                if file_name.to_string_lossy().starts_with('.') {
                    continue;
                }
                let kind = entry.file_type().map_err(|e| io(&path, e))?;
                if kind.is_dir() {
                    pending.push(path);
                    continue;
                }
                let relative = path
                    .strip_prefix(dir)
                    .expect("walked below dir")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                if kind.is_symlink() {
                    bundle.skipped_links.insert(relative);
                    continue;
                }
                if !kind.is_file() {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
                total += bytes.len();
                bundle.insert(relative, bytes)?;
                if total > MAX_BUNDLE_BYTES || bundle.files.len() > MAX_FILES {
                    return Err(BundleError::TooLarge);
                }
            }
        }
        Ok(bundle)
    }

    pub fn insert(&mut self, path: String, bytes: Vec<u8>) -> Result<(), BundleError> {
        check_path(&path)?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(BundleError::FileTooLarge {
                path,
                size: bytes.len(),
            });
        }
        let file = match String::from_utf8(bytes) {
            Ok(text) => SourceFile::Text(text),
            Err(e) => {
                SourceFile::Base64(base64::engine::general_purpose::STANDARD.encode(e.as_bytes()))
            }
        };
        self.files.insert(path, file);
        Ok(())
    }

    /// Check a bundle that arrived from elsewhere (a client, the store) before using it.
    pub fn check(&self) -> Result<(), BundleError> {
        let mut total = 0;
        if self.files.len() > MAX_FILES {
            return Err(BundleError::TooLarge);
        }
        for (path, file) in &self.files {
            check_path(path)?;
            let size = match file {
                SourceFile::Text(t) => t.len(),
                SourceFile::Base64(b) => b.len() / 4 * 3,
            };
            if size > MAX_FILE_BYTES {
                return Err(BundleError::FileTooLarge {
                    path: path.clone(),
                    size,
                });
            }
            total += size;
        }
        if total > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge);
        }
        Ok(())
    }

    /// Why a `what` file (flow, audio) named by the spec cannot be read as one: it is
    /// absent, a symbolic link that was not followed, or (for a text file) not text.
    pub fn missing_file(&self, path: &str, what: &str) -> String {
        if self.skipped_links.contains(path) {
            format!(
                "{what} file '{path}' is a symbolic link; links are not followed (one could \
                 reach outside the spec directory): copy the file in"
            )
        } else if self.files.contains_key(path) {
            format!("{what} file '{path}' is not UTF-8 text")
        } else {
            format!("{what} file '{path}' does not exist in the spec directory")
        }
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        match self.files.get(path)? {
            SourceFile::Text(t) => Some(t),
            SourceFile::Base64(_) => None,
        }
    }

    pub fn bytes(&self, path: &str) -> Option<Result<Vec<u8>, BundleError>> {
        Some(match self.files.get(path)? {
            SourceFile::Text(t) => Ok(t.as_bytes().to_vec()),
            SourceFile::Base64(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| BundleError::BadBase64(path.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "a\\b",
            "./a",
            "",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert!(check_path("flows/main.json").is_ok());
    }

    #[test]
    fn reads_a_directory_skipping_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("flows")).unwrap();
        std::fs::write(dir.path().join("queues.yaml"), "queues: []\n").unwrap();
        std::fs::write(dir.path().join("flows/a.json"), "{}").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        std::fs::write(dir.path().join("tone.wav"), [0u8, 159, 146, 150]).unwrap();
        let bundle = SourceBundle::read_dir(dir.path()).unwrap();
        let names: Vec<_> = bundle.files.keys().cloned().collect();
        assert_eq!(names, ["flows/a.json", "queues.yaml", "tone.wav"]);
        assert_eq!(
            bundle.bytes("tone.wav").unwrap().unwrap(),
            vec![0u8, 159, 146, 150]
        );
    }
}
