//! TLS for every listener: TLS 1.2 and 1.3 only, AEAD suites only (rustls with ring).
//! Without a configured certificate, a private CA and a server certificate are made
//! on first start and kept in the data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("the certificate {cert} does not match the private key {key}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Where the server's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// Operator-provided PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// Self-signed, created in this directory on first start.
    SelfSigned { dir: PathBuf },
}

pub struct TlsMaterial {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), as `AB:CD:...`.
    pub fingerprint: String,
    /// The CA certificate clients should trust, for a self-signed setup.
    pub ca_certificate: Option<PathBuf>,
    /// Whether this call created the certificate.
    pub created: bool,
}

/// The crypto provider with only AEAD suites. ring's suites are all AEAD today; the
/// filter keeps it so if a provider ever adds a CBC suite.
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| {
        let name = format!("{:?}", suite.suite());
        name.contains("_GCM_") || name.contains("CHACHA20_POLY1305")
    });
    Arc::new(provider)
}

pub fn load(source: &TlsSource) -> Result<TlsMaterial, TlsError> {
    match source {
        TlsSource::Files { cert, key } => {
            let mut material = from_files(cert, key)?;
            material.created = false;
            Ok(material)
        }
        TlsSource::SelfSigned { dir } => {
            let cert = dir.join("server.pem");
            let key = dir.join("server-key.pem");
            let created = !cert.exists() || !key.exists();
            if created {
                generate(dir)?;
            }
            let mut material = from_files(&cert, &key)?;
            material.ca_certificate = Some(dir.join("ca.pem"));
            material.created = created;
            Ok(material)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn from_files(cert_path: &Path, key_path: &Path) -> Result<TlsMaterial, TlsError> {
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::NoKey {
            path: key_path.to_path_buf(),
        })?;
    let provider = provider();
    let mismatch = || TlsError::KeyMismatch {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| mismatch())?;
    rustls::sign::CertifiedKey::new(certs.clone(), signing_key)
        .keys_match()
        .map_err(|_| mismatch())?;
    let fingerprint = Sha256::digest(certs[0].as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The server's own order of suites (all AEAD, strongest first) decides, not the
    // client's.
    config.ignore_client_order = true;
    Ok(TlsMaterial {
        config: Arc::new(config),
        fingerprint,
        ca_certificate: None,
        created: false,
    })
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), TlsError> {
    let wrap = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mode = if private { 0o600 } else { 0o644 };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)
            .map_err(wrap)?;
        file.write_all(contents.as_bytes()).map_err(wrap)
    }
    #[cfg(not(unix))]
    {
        let _ = private;
        std::fs::write(path, contents).map_err(wrap)
    }
}

/// A private CA (its key is not kept: nothing else is ever signed with it) and a
/// server certificate for localhost and this host's name.
fn generate(dir: &Path) -> Result<(), TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let today = jiff::Zoned::now().date();
    let not_before =
        rcgen::date_time_ymd(today.year() as i32, today.month() as u8, today.day() as u8);
    let not_after = rcgen::date_time_ymd(
        today.year() as i32 + 5,
        today.month() as u8,
        today.day().min(28) as u8,
    );

    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Switchboard local CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca = ca_params.self_signed(&ca_key)?;

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_string());
        }
    }
    let server_key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "switchboard");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before;
    params.not_after = not_after;
    let server = params.signed_by(&server_key, &ca, &ca_key)?;

    write(&dir.join("ca.pem"), &ca.pem(), false)?;
    write(&dir.join("server.pem"), &server.pem(), false)?;
    write(
        &dir.join("server-key.pem"),
        &server_key.serialize_pem(),
        true,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_material_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned {
            dir: dir.path().join("tls"),
        };
        let first = load(&source).unwrap();
        assert!(first.created);
        let second = load(&source).unwrap();
        assert!(!second.created);
        assert_eq!(first.fingerprint, second.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls/server-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_certificate_with_another_key_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        load(&TlsSource::SelfSigned {
            dir: a.path().to_path_buf(),
        })
        .unwrap();
        load(&TlsSource::SelfSigned {
            dir: b.path().to_path_buf(),
        })
        .unwrap();
        let err = load(&TlsSource::Files {
            cert: a.path().join("server.pem"),
            key: b.path().join("server-key.pem"),
        })
        .err()
        .unwrap();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn only_aead_suites_are_offered() {
        for suite in provider().cipher_suites.iter() {
            let name = format!("{:?}", suite.suite());
            assert!(name.contains("GCM") || name.contains("CHACHA20"), "{name}");
        }
    }
}
