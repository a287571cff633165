//! The HTTPS client for `--server`: the same operations, over the API.

use anyhow::{bail, Context};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub(crate) struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    problems: Option<sb_spec::Problems>,
}

impl ApiClient {
    pub(crate) fn new(
        server: &str,
        token: Option<&str>,
        ca_cert: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let base = server.trim_end_matches('/').to_string();
        if !base.starts_with("https://") {
            bail!("--server must be an https:// URL (Switchboard serves TLS only), not {base}");
        }
        let token = token
            .context("--server needs a credential: pass --token or set SWITCHBOARD_TOKEN")?
            .to_string();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(std::time::Duration::from_secs(120));
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(Self {
            base,
            token,
            http: builder.build().context("cannot build the HTTPS client")?,
        })
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        let request = self.http.post(format!("{}{path}", self.base)).json(body);
        self.send(request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the server's answer")?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .context("the server's answer is not what this CLI expects");
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => {
                let mut message = format!(
                    "{} ({}, HTTP {})",
                    body.error.message,
                    body.error.code,
                    status.as_u16()
                );
                if let Some(problems) = body.error.problems {
                    message = format!("the spec is invalid:\n{problems}");
                }
                if status == StatusCode::UNAUTHORIZED {
                    message.push_str("\nhint: check --token / SWITCHBOARD_TOKEN");
                }
                bail!(message)
            }
            Err(_) => bail!(
                "the server answered HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
}
