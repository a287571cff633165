//! Helpers to run the real binary: CLI invocations, a server process, real clients.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The command with no SWITCHBOARD_* settings leaking in from the environment.
pub(crate) fn command() -> Command {
    let mut cmd = Command::new(bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("SWITCHBOARD_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(repo());
    cmd
}

pub(crate) fn run(args: &[&str]) -> Output {
    command().args(args).output().expect("switchboard runs")
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether an external tool is installed. Under CI a missing tool is a failure, not a
/// skip: CI must install what the tests need.
pub(crate) fn have_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    required_under_ci(found, name, &format!("{name} is not installed"))
}

/// Whether a Python package is importable by `python3` (as `pip install` puts it, not
/// a command on PATH). Under CI a missing one is a failure, not a skip.
pub(crate) fn have_python_module(module: &str, package: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    required_under_ci(
        found,
        &format!("{package} (PyPI)"),
        &format!("python3 -m pip install {package}"),
    )
}

/// `found`, after failing the test under CI when it is not (CI must install what the
/// tests need) and saying why the test is skipped elsewhere.
fn required_under_ci(found: bool, what: &str, skip_reason: &str) -> bool {
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{what} is required under CI=true"
        );
        // Shown in the runner's output (.config/nextest.toml), so a skip is never
        // taken for a pass.
        eprintln!("skipping: {skip_reason}");
    }
    found
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A private copy of the sample instance, to edit.
pub(crate) fn acme_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("examples/acme"), dir.path());
    dir
}

/// The sample instance, made independent of the clock and of the network: the main menu
/// runs around the clock, the CRM lookup fails fast (connection refused), and the menu
/// waits ten minutes for input.
pub(crate) fn steady_acme() -> tempfile::TempDir {
    let spec = acme_copy();
    replace_in(
        &spec.path().join("flows/main-ivr.json"),
        "\"HoursOfOperationId\": \"Store Hours\"",
        "\"HoursOfOperationId\": \"Around The Clock\"",
    );
    replace_in(
        &spec.path().join("functions.yaml"),
        "https://crm.acme.example/switchboard/customer-lookup",
        "https://127.0.0.1:9/lookup",
    );
    replace_in(
        &spec.path().join("flows/main-ivr.json"),
        "\"InputTimeLimitSeconds\": \"8\"",
        "\"InputTimeLimitSeconds\": \"600\"",
    );
    spec
}

/// A fresh data directory with the steady sample applied.
pub(crate) fn steady_deployment() -> tempfile::TempDir {
    deployment_of(&steady_acme())
}

/// A fresh data directory with the spec in `spec` applied.
pub(crate) fn deployment_of(spec: &tempfile::TempDir) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    apply_to(spec.path(), data.path());
    data
}

/// Apply the spec in `spec` to the data directory `data` with the CLI; it must succeed.
pub(crate) fn apply_to(spec: &Path, data: &Path) {
    let applied = run(&[
        "apply",
        spec.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(applied.status.success(), "{}", text(&applied));
}

/// Issue an API credential with the CLI; its token.
pub(crate) fn credential(data: &Path, user: &str, role: &str) -> String {
    let out = run(&[
        "credential",
        "create",
        "--user",
        user,
        "--role",
        role,
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

/// `switchboard user set-password`, the password given on standard input.
pub(crate) fn set_password(data: &Path, user: &str, password: &str) -> Output {
    use std::io::Write;
    let mut child = command()
        .args(["user", "set-password", "--user", user, "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) port: u16,
    pub(crate) token: String,
    pub(crate) ca: PathBuf,
    pub(crate) banner: String,
    /// The server's log (stderr), kept beside its data for diagnosing a failure.
    pub(crate) log: PathBuf,
}

impl Server {
    /// Start `switchboard serve` on a free loopback port with `data` as its data
    /// directory, and wait until it has printed its banner.
    pub(crate) fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = command()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data",
            ])
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            // Kept beside the data for diagnosing a failure (appended across restarts).
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(data.join("server.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                banner.push_str(&line);
                banner.push('\n');
                if line.starts_with("Stop with") {
                    let _ = tx.send(banner.clone());
                }
            }
        });
        let banner = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server printed its banner");
        let url = banner
            .lines()
            .find_map(|l| l.strip_prefix("Switchboard is listening on "))
            .and_then(|l| l.split_whitespace().next())
            .expect("banner names the URL")
            .to_string();
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        let token = banner
            .lines()
            .skip_while(|l| !l.starts_with("Bootstrap administrator credential"))
            .nth(1)
            .map(|l| l.trim().to_string())
            .unwrap_or_default();
        Server {
            child,
            url,
            port,
            token,
            ca: data.join("tls/ca.pem"),
            banner,
            log: data.join("server.log"),
        }
    }

    /// The end of the server's log, for a failure message.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub(crate) fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    }

    pub(crate) fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.url);
        let client = self.client();
        block_on(async move {
            let mut request = client.get(url);
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let response = request.send().await.unwrap_or_else(|e| {
                panic!(
                    "request not answered: {e}\nserver log:\n{}",
                    self.log_tail()
                )
            });
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            )
        })
    }

    /// Send a signal and wait for the exit status, at most `limit`.
    pub(crate) fn stop_with(
        &mut self,
        signal: &str,
        limit: Duration,
    ) -> Option<std::process::ExitStatus> {
        Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CLI flags that point a configuration command at this server.
    pub(crate) fn target(&self) -> Vec<String> {
        vec![
            "--server".into(),
            self.url.clone(),
            "--token".into(),
            self.token.clone(),
            "--ca-cert".into(),
            self.ca.display().to_string(),
        ]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Poll `check` until it holds or `limit` passes.
pub(crate) fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
