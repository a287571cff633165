//! Where the instance's keys live and how they are loaded: a directory outside the data
//! directory (by default `DATA.keys`, beside it; mode 0700, key files 0600) holding the
//! audit signing key, the token key and the key-encryption keys (KEKs), plus the two
//! other KEK sources an operator may use instead of a file: an environment variable and
//! an external command (how a KMS or HSM hands over a key).

use std::path::{Path, PathBuf};

use sb_security::envelope::{EnvelopeError, Kek, Keyring};
use sb_security::signing::{self, Signer};

/// The environment variable that may hold KEKs: base64, comma-separated, the current
/// one first.
pub const KEK_ENV: &str = "SWITCHBOARD_KEK";
const KEK_DIR: &str = "kek";
const CURRENT_KEK_FILE: &str = "current";

/// Where a KEK comes from, besides the key files.
#[derive(Debug, Clone, Default)]
pub struct KekSources {
    /// The value of [`KEK_ENV`], if set.
    pub env: Option<String>,
    /// A shell command whose standard output is the KEKs, one base64 key per line,
    /// the current one first.
    pub command: Option<String>,
}

impl KekSources {
    pub fn from_env(command: Option<String>) -> KekSources {
        KekSources {
            env: std::env::var(KEK_ENV).ok().filter(|v| !v.trim().is_empty()),
            command,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not an Ed25519 key (PKCS#8); restore it from backup or move it away to make a new one")]
    BadKey(PathBuf),
    #[error("no audit signing key in {}: give --keys, the directory the server signs with, or --public-key", .0.display())]
    NoAuditKey(PathBuf),
    #[error("the key directory {} is inside the data directory {}: a copy of the data would carry its keys; give --keys a directory outside it", keys.display(), data.display())]
    InsideData { keys: PathBuf, data: PathBuf },
    #[error(transparent)]
    Signing(#[from] signing::SigningError),
    #[error("{0}: {1}")]
    BadKek(String, EnvelopeError),
    #[error("the key command `{command}` {problem}")]
    KekCommand { command: String, problem: String },
    #[error("no key-encryption key: set SWITCHBOARD_KEK or --kek-command, or let one be made in the key directory")]
    NoKek,
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// `path` made absolute, with `.` and `..` resolved: through the file system where
/// it exists (links followed), by its words where it does not yet.
fn absolute(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    // The deepest part that exists may be a link: resolve it, keep the rest.
    let mut existing = out.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => return out,
        }
        if !existing.pop() {
            return out;
        }
    }
    let mut real = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        real.push(name);
    }
    real
}

/// Where signing keys live: a directory outside the data directory (by default
/// `DATA.keys`, beside it), mode 0700, each key file 0600.
pub struct KeyDir {
    path: PathBuf,
}

const AUDIT_KEY_FILE: &str = "audit-ed25519.pk8";
const TOKEN_KEY_FILE: &str = "token-hmac.key";

impl KeyDir {
    /// The default place for `data_dir`'s keys: a sibling directory, `DATA.keys`,
    /// found from the absolute path (`--data .` names the current directory, so its
    /// keys go beside it, not into it).
    pub fn beside(data_dir: &Path) -> PathBuf {
        let data_dir = absolute(data_dir);
        let mut name = data_dir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "switchboard".into());
        name.push(".keys");
        match data_dir.parent() {
            Some(parent) => parent.join(name),
            None => data_dir.join(name),
        }
    }

    /// Refuses a key directory inside the data directory (or the same one): a copy of
    /// the data — a backup — must not carry the keys that open it.
    pub fn check_outside(keys: &Path, data_dir: &Path) -> Result<(), KeyError> {
        let (keys_at, data_at) = (absolute(keys), absolute(data_dir));
        if keys_at.starts_with(&data_at) {
            return Err(KeyError::InsideData {
                keys: keys_at,
                data: data_at,
            });
        }
        Ok(())
    }

    pub fn open(path: &Path) -> std::io::Result<KeyDir> {
        std::fs::create_dir_all(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(KeyDir {
            path: path.to_path_buf(),
        })
    }

    /// The key short-lived tokens are signed with (32 random bytes), made on first use.
    pub fn token_key(&self) -> Result<sb_security::token::TokenKey, KeyError> {
        let file = self.path.join(TOKEN_KEY_FILE);
        let io = |source| KeyError::Io {
            path: file.clone(),
            source,
        };
        if !file.exists() {
            let secret = sb_security::token::TokenKey::generate_secret()?;
            create_private(&file, &secret).map_err(io)?;
        }
        let bytes = std::fs::read(&file).map_err(io)?;
        if bytes.len() < 32 {
            return Err(KeyError::BadKey(file.clone()));
        }
        Ok(sb_security::token::TokenKey::new(&bytes))
    }

    /// The audit signing key, made on first use.
    /// The public half of the audit signing key in `dir`, which must exist already:
    /// verifying never makes a key.
    pub fn existing_audit_public_key(dir: &Path) -> Result<String, KeyError> {
        Self::existing_audit_signer(dir)?
            .map(|s| s.public_key())
            .ok_or_else(|| KeyError::NoAuditKey(dir.to_path_buf()))
    }

    /// The audit signing key in `dir` if there is one; never makes one.
    pub fn existing_audit_signer(dir: &Path) -> Result<Option<Signer>, KeyError> {
        let file = dir.join(AUDIT_KEY_FILE);
        if !file.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(&file).map_err(|source| KeyError::Io {
            path: file.clone(),
            source,
        })?;
        Signer::from_pkcs8(&bytes)
            .map(Some)
            .map_err(|_| KeyError::BadKey(file))
    }

    pub fn audit_signer(&self) -> Result<Signer, KeyError> {
        let file = self.path.join(AUDIT_KEY_FILE);
        let io = |source| KeyError::Io {
            path: file.clone(),
            source,
        };
        if !file.exists() {
            let pkcs8 = Signer::generate_pkcs8()?;
            create_private(&file, &pkcs8).map_err(io)?;
        }
        let bytes = std::fs::read(&file).map_err(io)?;
        Signer::from_pkcs8(&bytes).map_err(|_| KeyError::BadKey(file.clone()))
    }
}

/// Make `file` (mode 0600) holding `bytes`, all or nothing: written and flushed under a
/// temporary name, then linked into place, so a crash (a SIGKILL during a first start)
/// never leaves a half-written key that would stop the next start. If another process
/// made the file meanwhile, its key stands and this one is dropped.
fn create_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temporary = file.with_extension(format!("tmp-{}-{nanos}", std::process::id()));
    write_private(&temporary, bytes)?;
    let linked = std::fs::hard_link(&temporary, file);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    // The new name itself must survive a power cut, not only the bytes.
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(file)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl KeyDir {
    fn kek_dir(&self) -> PathBuf {
        self.path.join(KEK_DIR)
    }

    /// The key files' KEKs, the one named current first. With `create`, a first KEK is
    /// made when there is none (the key file created at init).
    fn file_keks(&self, create: bool) -> Result<Vec<Kek>, KeyError> {
        let dir = self.kek_dir();
        let io = |source| KeyError::Io {
            path: dir.clone(),
            source,
        };
        if create && !dir.join(CURRENT_KEK_FILE).exists() {
            self.new_file_kek()?;
        }
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let current = std::fs::read_to_string(dir.join(CURRENT_KEK_FILE))
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut keks = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("key") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|source| KeyError::Io {
                path: path.clone(),
                source,
            })?;
            let kek = Kek::from_bytes(&bytes)
                .map_err(|e| KeyError::BadKek(path.display().to_string(), e))?;
            keks.push(kek);
        }
        keks.sort_by_key(|k| k.id() != current);
        Ok(keks)
    }

    /// Make a new KEK file and name it current; returns its id. The files of older KEKs
    /// stay, so what they wrap can still be read until `keys retire`.
    pub fn new_file_kek(&self) -> Result<String, KeyError> {
        let dir = self.kek_dir();
        std::fs::create_dir_all(&dir).map_err(|source| KeyError::Io {
            path: dir.clone(),
            source,
        })?;
        let secret = Kek::generate_secret()?;
        let kek = Kek::from_bytes(&secret)?;
        let file = dir.join(format!("{}.key", kek.id()));
        create_private(&file, &secret).map_err(|source| KeyError::Io {
            path: file.clone(),
            source,
        })?;
        replace_private(&dir.join(CURRENT_KEK_FILE), kek.id().as_bytes()).map_err(|source| {
            KeyError::Io {
                path: dir.clone(),
                source,
            }
        })?;
        Ok(kek.id().to_string())
    }

    /// Delete a KEK file that no longer wraps anything.
    pub fn retire_file_kek(&self, id: &str) -> Result<bool, KeyError> {
        if !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let file = self.kek_dir().join(format!("{id}.key"));
        match std::fs::remove_file(&file) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(KeyError::Io { path: file, source }),
        }
    }

    /// Every KEK the sources give: from the environment variable or the command when
    /// one is set (its first key current), else from the key files (made at first use);
    /// key files' KEKs are always loaded too, so data wrapped before a move to another
    /// source stays readable.
    pub fn keyring(&self, sources: &KekSources) -> Result<Keyring, KeyError> {
        let mut supplied = Vec::new();
        if let Some(env) = &sources.env {
            for (i, part) in env.split(',').enumerate() {
                supplied.push(
                    Kek::from_base64(part)
                        .map_err(|e| KeyError::BadKek(format!("{KEK_ENV} key {}", i + 1), e))?,
                );
            }
        }
        if let Some(command) = &sources.command {
            supplied.extend(run_key_command(command)?);
        }
        let files = self.file_keks(supplied.is_empty())?;
        let mut all = supplied.into_iter().chain(files);
        let current = all.next().ok_or(KeyError::NoKek)?;
        Ok(Keyring::new(current, all.collect()))
    }
}

fn run_key_command(command: &str) -> Result<Vec<Kek>, KeyError> {
    let failed = |problem: String| KeyError::KekCommand {
        command: command.to_string(),
        problem,
    };
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| failed(format!("could not run: {e}")))?;
    if !output.status.success() {
        return Err(failed(format!("failed ({})", output.status)));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| failed("printed non-UTF-8".into()))?;
    let keys: Vec<Kek> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| Kek::from_base64(line).map_err(|e| failed(format!("line {}: {e}", i + 1))))
        .collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Err(failed("printed no key".into()));
    }
    Ok(keys)
}

/// Write `bytes` to `file` (mode 0600) through a temporary file and a rename, so a
/// reader never sees half of it.
fn replace_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = file.with_extension("new");
    let _ = std::fs::remove_file(&temporary);
    write_private(&temporary, bytes)?;
    std::fs::rename(&temporary, file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// A key made while one already stands (two processes starting at once) leaves the
    /// first one in place, whole, and no temporary file behind.
    #[test]
    fn a_key_file_is_made_once_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token.key");
        create_private(&file, &[1u8; 32]).unwrap();
        create_private(&file, &[2u8; 32]).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), vec![1u8; 32]);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["token.key".to_string()], "no temporary left");
    }

    /// What a crash between writing and linking leaves (a temporary file) is not read
    /// as a key: the next start makes its keys and loads them.
    #[test]
    fn a_temporary_left_by_a_crash_is_not_taken_for_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::open(dir.path()).unwrap();
        std::fs::create_dir_all(keys.kek_dir()).unwrap();
        std::fs::write(keys.kek_dir().join("0123abcd.tmp-99-1"), b"half").unwrap();
        std::fs::write(dir.path().join("token.tmp-99-1"), b"half").unwrap();
        keys.keyring(&KekSources::default()).unwrap();
        keys.token_key().unwrap();
        keys.audit_signer().unwrap();
    }

    #[test]
    fn keys_go_beside_the_data_never_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d2");
        std::fs::create_dir(&data).unwrap();
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(KeyDir::beside(&data), real.join("d2.keys"));
        assert_eq!(KeyDir::beside(&data.join(".")), real.join("d2.keys"));
        assert_eq!(KeyDir::beside(&data.join("x/..")), real.join("d2.keys"));
        assert_eq!(
            KeyDir::beside(&dir.path().join("new")),
            real.join("new.keys")
        );
        assert!(KeyDir::check_outside(&real.join("d2.keys"), &data).is_ok());
        assert!(KeyDir::check_outside(&data.join("keys"), &data).is_err());
        assert!(KeyDir::check_outside(&data, &data.join(".")).is_err());
    }

    #[test]
    fn a_first_kek_file_is_made_private_and_stays_current() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::open(&dir.path().join("k")).unwrap();
        let first = keys.keyring(&KekSources::default()).unwrap();
        let again = keys.keyring(&KekSources::default()).unwrap();
        assert_eq!(first.current_id(), again.current_id());
        let file = dir
            .path()
            .join("k/kek")
            .join(format!("{}.key", first.current_id()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let rotated = keys.new_file_kek().unwrap();
        let ring = keys.keyring(&KekSources::default()).unwrap();
        assert_eq!(ring.current_id(), rotated);
        assert!(ring.ids().contains(&first.current_id()));
        assert!(keys.retire_file_kek(first.current_id()).unwrap());
        assert_eq!(
            keys.keyring(&KekSources::default()).unwrap().ids(),
            [rotated.as_str()]
        );
        assert!(!keys.retire_file_kek("../x").unwrap());
    }

    #[test]
    fn the_environment_and_a_command_supply_keks_first() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::open(&dir.path().join("k")).unwrap();
        let a = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let b = base64::engine::general_purpose::STANDARD.encode([2u8; 32]);
        let ring = keys
            .keyring(&KekSources {
                env: Some(format!("{a},{b}")),
                command: None,
            })
            .unwrap();
        assert_eq!(ring.current_id(), Kek::from_base64(&a).unwrap().id());
        assert_eq!(
            ring.ids().len(),
            2,
            "no key file is made when a key is supplied"
        );
        let ring = keys
            .keyring(&KekSources {
                env: None,
                command: Some(format!("echo {b}")),
            })
            .unwrap();
        assert_eq!(ring.current_id(), Kek::from_base64(&b).unwrap().id());
        let failing = keys.keyring(&KekSources {
            env: None,
            command: Some("exit 3".into()),
        });
        assert!(failing.unwrap_err().to_string().contains("exit 3"));
        let short = keys.keyring(&KekSources {
            env: Some("c2hvcnQ=".into()),
            command: None,
        });
        assert!(short
            .unwrap_err()
            .to_string()
            .contains("SWITCHBOARD_KEK key 1"));
    }
}
