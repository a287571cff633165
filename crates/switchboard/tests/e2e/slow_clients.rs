//! Slow clients hold nothing for long (security review M5, slowloris): connections that
//! finish the TLS handshake and send nothing, or half a request, are closed at the
//! header deadline; one address cannot hold more than its share; and while they are
//! held, everyone else is served.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

fn tls_config(server: &Server) -> Arc<rustls::ClientConfig> {
    let ca = std::fs::read(&server.ca).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

async fn handshake(port: u16, tls: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
}

/// Whether the server has closed `stream`: a read ends (EOF or error) within `limit`.
async fn closed_within(stream: &mut Tls, limit: Duration) -> bool {
    let mut buf = [0u8; 512];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        // A 408 answer to a half-sent head, then the close.
        Ok(Ok(_)) => matches!(
            tokio::time::timeout(limit, stream.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        ),
        Err(_) => false,
    }
}

#[test]
fn slow_connections_are_closed_and_capped_while_others_are_served() {
    if !have_tool("curl") {
        return;
    }
    let data = steady_deployment();
    let server = Server::start(
        data.path(),
        &[
            "--header-timeout-seconds",
            "2",
            "--max-connections-per-source",
            "40",
        ],
    );
    let tls = tls_config(&server);
    block_on(async {
        // Twenty that send nothing after the handshake, twenty with half a request line.
        let mut idle = Vec::new();
        for _ in 0..20 {
            idle.push(handshake(server.port, tls.clone()).await.unwrap());
        }
        let mut partial = Vec::new();
        for _ in 0..20 {
            let mut s = handshake(server.port, tls.clone()).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc")
                .await
                .unwrap();
            s.flush().await.unwrap();
            partial.push(s);
        }
        let held_since = Instant::now();
        // The address's share is used: one more is turned away before TLS...
        assert!(
            handshake(server.port, tls.clone()).await.is_err(),
            "a forty-first connection from one address was taken"
        );
        // ...while a client from another address is served as usual (curl).
        let out = std::process::Command::new("curl")
            .args(["-sS", "--interface", "127.0.0.2", "--cacert"])
            .arg(&server.ca)
            .arg(format!("{}/healthz", server.url))
            .output()
            .expect("curl runs");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("ok"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The slow ones are closed at the header deadline (2 s here).
        for stream in idle.iter_mut().chain(partial.iter_mut()) {
            assert!(
                closed_within(stream, Duration::from_secs(10)).await,
                "a slow connection was still open {:?} after it was made",
                held_since.elapsed()
            );
        }
    });
    // Their places are free again: a client from the same address is served.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&server.ca)
        .arg(format!("{}/healthz", server.url))
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok"),
        "{out:?}"
    );
}
