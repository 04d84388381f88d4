//! Runs `pveha sim` as a child process on a free loopback port and talks to it over HTTP: the `/_sim/` control
//! API (clock, node power, faults, request counters, snapshot) and the Proxmox API with the fixtures' token, for
//! injecting drift. This is the harness's own minimal client: it must not use `pveha-pve`, so the provider's client
//! is checked against the simulator rather than agreeing with itself. The child is killed when `Sim` is dropped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::binaries::{pveha_binary, workspace_root};

/// The fixtures' API token id.
pub const TOKEN_ID: &str = "root@pam!terraform";
/// The fixtures' API token secret.
pub const TOKEN_SECRET: &str = "3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";
/// `TOKEN_ID=TOKEN_SECRET`, the form the provider's `api_token` and the `PVEAPIToken` header take.
pub const TOKEN: &str = "root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

/// A running `pveha sim`.
#[derive(Debug)]
pub struct Sim {
    /// `None` only after `stop` took it.
    child: Option<Child>,
    endpoint: String,
    fingerprint: Option<String>,
    http: reqwest::Client,
    stderr: tempfile::NamedTempFile,
}

/// The simulator's API request counters (`GET /_sim/requests`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requests {
    /// All API requests since start or the last reset.
    pub total: u64,
    /// Counts by `"METHOD /path"`.
    pub by_route: BTreeMap<String, u64>,
    /// The most API requests the simulator had in flight at once.
    pub max_in_flight: u64,
}

impl Requests {
    /// The count for `"METHOD /path"` (0 when never called).
    pub fn get(&self, route: &str) -> u64 {
        self.by_route.get(route).copied().unwrap_or(0)
    }
}

/// One Proxmox API response.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// The reason phrase, where Proxmox puts its error message (`No route to host`, `Authentication failed!`).
    pub reason: String,
    /// The body parsed as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl ApiResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The envelope's `data`, or an error naming the status, reason and body.
    pub fn data(&self) -> Result<&Value> {
        if !self.is_success() {
            bail!("{} {}: {}", self.status, self.reason, self.body);
        }
        Ok(&self.body["data"])
    }
}

impl Sim {
    /// A fixture under `examples/homelab/`, e.g. `cluster-pve8.json`.
    pub fn fixture(name: &str) -> PathBuf {
        workspace_root().join("examples/homelab").join(name)
    }

    /// Starts the simulator on the PVE 8 homelab fixture.
    pub async fn homelab_pve8() -> Result<Sim> {
        Sim::start(Sim::fixture("cluster-pve8.json")).await
    }

    /// Starts the simulator on the PVE 9 homelab fixture.
    pub async fn homelab_pve9() -> Result<Sim> {
        Sim::start(Sim::fixture("cluster-pve9.json")).await
    }

    /// Starts `pveha sim --snapshot FIXTURE --listen 127.0.0.1:0` (TLS, the default) and waits for its address.
    pub async fn start(fixture: impl AsRef<Path>) -> Result<Sim> {
        Sim::start_with(fixture, &[]).await
    }

    /// Like `start`, with extra `pveha sim` arguments (e.g. `["--time-scale", "0"]`).
    pub async fn start_with(fixture: impl AsRef<Path>, extra: &[&str]) -> Result<Sim> {
        let bin = pveha_binary().to_path_buf();
        let fixture = fixture.as_ref();
        let stderr = tempfile::NamedTempFile::new().context("creating the simulator's log file")?;
        let child = Command::new(&bin)
            .arg("sim")
            .arg("--snapshot")
            .arg(fixture)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(
                stderr
                    .reopen()
                    .context("opening the simulator's log file")?,
            )
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        // reqwest has no crypto provider of its own here (see the workspace Cargo.toml).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            // The simulator's certificate is self-signed and fresh per run; the test talks to loopback only.
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        let mut sim = Sim {
            child: Some(child),
            endpoint: String::new(),
            fingerprint: None,
            http,
            stderr,
        };
        let Some(stdout) = sim.child.as_mut().and_then(|c| c.stdout.take()) else {
            bail!("the simulator's stdout was not captured")
        };
        // The first lines come promptly or the process exits; either way this blocking read ends.
        let greeting = tokio::task::spawn_blocking(move || read_greeting(stdout))
            .await
            .context("reading the simulator's greeting")?;
        match greeting {
            Ok((endpoint, fingerprint)) => {
                sim.endpoint = endpoint;
                sim.fingerprint = fingerprint;
                Ok(sim)
            }
            Err(e) => {
                let status = sim.child.as_mut().and_then(|c| c.wait().ok());
                let status = status.map_or("still running".to_string(), |s| s.to_string());
                Err(anyhow!(
                    "`pveha sim --snapshot {}` did not start ({e}); {status}; stderr:\n{}",
                    fixture.display(),
                    sim.stderr_text()
                ))
            }
        }
    }

    /// The API base URL, `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The leaf certificate's SHA-256 fingerprint, uppercase colon hex (`None` with `--plain-http`).
    pub fn fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// The API token as `USER@REALM!TOKENID=SECRET`.
    pub fn token(&self) -> &'static str {
        TOKEN
    }

    /// What the simulator printed on stderr so far (for failure messages).
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// `GET /_sim/health`.
    pub async fn health(&self) -> Result<Value> {
        self.control(reqwest::Method::GET, "health", None).await
    }

    /// Advances the simulated clock by `seconds`, running the HA rounds due; returns the new simulated time.
    pub async fn advance(&self, seconds: u64) -> Result<u64> {
        let now = self
            .control(
                reqwest::Method::POST,
                "advance",
                Some(json!({ "seconds": seconds })),
            )
            .await?;
        now["now"]
            .as_u64()
            .ok_or_else(|| anyhow!("advance answered without `now`: {now}"))
    }

    /// Powers `node` on or off.
    pub async fn power(&self, node: &str, on: bool) -> Result<()> {
        self.control(
            reqwest::Method::POST,
            &format!("nodes/{node}/power"),
            Some(json!({ "on": on })),
        )
        .await?;
        Ok(())
    }

    /// A planned reboot of `node` (honouring the cluster's `shutdown_policy`); it is down for `down_seconds`.
    pub async fn reboot(&self, node: &str, down_seconds: u64) -> Result<()> {
        self.control(
            reqwest::Method::POST,
            &format!("nodes/{node}/reboot"),
            Some(json!({ "down_seconds": down_seconds })),
        )
        .await?;
        Ok(())
    }

    /// Adds a fault (see the contract: `path` regex, `kind`, …) and returns its id.
    pub async fn add_fault(&self, fault: Value) -> Result<String> {
        let answer = self
            .control(reqwest::Method::POST, "faults", Some(fault))
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("faults answered without `id`: {answer}"))
    }

    /// Removes one fault.
    pub async fn remove_fault(&self, id: &str) -> Result<()> {
        self.control(reqwest::Method::DELETE, &format!("faults/{id}"), None)
            .await?;
        Ok(())
    }

    /// Removes every fault.
    pub async fn clear_faults(&self) -> Result<()> {
        self.control(reqwest::Method::DELETE, "faults", None)
            .await?;
        Ok(())
    }

    /// The API request counters.
    pub async fn requests(&self) -> Result<Requests> {
        let v = self.control(reqwest::Method::GET, "requests", None).await?;
        let by_route = v["by_route"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Requests {
            total: v["total"].as_u64().unwrap_or(0),
            by_route,
            max_in_flight: v["max_in_flight"].as_u64().unwrap_or(0),
        })
    }

    /// Resets the API request counters.
    pub async fn reset_requests(&self) -> Result<()> {
        self.control(reqwest::Method::DELETE, "requests", None)
            .await?;
        Ok(())
    }

    /// The current state as a `pveha-snapshot/1` document.
    pub async fn snapshot(&self) -> Result<Value> {
        self.control(reqwest::Method::GET, "snapshot", None).await
    }

    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}/_sim/{path}", self.endpoint);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{method} {url}: reading the body"))?;
        if !status.is_success() {
            bail!("{method} {url}: {status}: {text}");
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {url}: not JSON: {text}"))
    }

    /// Calls the Proxmox API (`/api2/json` + `path`) with the fixtures' token; `form` goes in the query for GET
    /// and DELETE and in an urlencoded body otherwise. Any HTTP status is returned, not turned into an error.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<ApiResponse> {
        self.api_with_auth(Some(&format!("PVEAPIToken={TOKEN}")), method, path, form)
            .await
    }

    /// `api` with an explicit `Authorization` header value, or none.
    pub async fn api_with_auth(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<ApiResponse> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .with_context(|| format!("method {method:?}"))?;
        let url = format!("{}/api2/json{path}", self.endpoint);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(auth) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, auth);
        }
        req = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
            req.query(form)
        } else {
            req.form(form)
        };
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_string))
            .unwrap_or_default();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{method} {url}: reading the body"))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(ApiResponse {
            status: status.as_u16(),
            reason,
            body,
        })
    }

    /// Asks the simulator to shut down (SIGTERM) and waits for it to exit.
    pub async fn stop(mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the simulator was already stopped")
        };
        let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
        // SAFETY: kill(2) with a pid we spawned and still own (not yet waited for) and a valid signal number.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            bail!(
                "cannot signal the simulator: {}",
                std::io::Error::last_os_error()
            );
        }
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .context("waiting for the simulator")?
            .context("waiting for the simulator")
    }
}

/// Reads `listening on URL` and, for https, `fingerprint HEX`; then drains the rest of stdout in the background.
fn read_greeting(stdout: impl Read + Send + 'static) -> Result<(String, Option<String>)> {
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).context("reading line 1")?;
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow!("line 1 is not `listening on URL`: {line:?}"))?
        .trim_end_matches('/')
        .to_string();
    let mut fingerprint = None;
    if endpoint.starts_with("https://") {
        line.clear();
        reader.read_line(&mut line).context("reading line 2")?;
        let fp = line
            .trim()
            .strip_prefix("fingerprint ")
            .ok_or_else(|| anyhow!("line 2 is not `fingerprint HEX`: {line:?}"))?;
        fingerprint = Some(fp.to_string());
    }
    // Nothing reads the rest, but the pipe must not fill up and block the simulator.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    Ok((endpoint, fingerprint))
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_gives_endpoint_and_fingerprint() {
        let text = "listening on https://127.0.0.1:40123\nfingerprint AB:CD:EF\nmore\n";
        let (url, fp) = read_greeting(std::io::Cursor::new(text.as_bytes().to_vec())).unwrap();
        assert_eq!(url, "https://127.0.0.1:40123");
        assert_eq!(fp.as_deref(), Some("AB:CD:EF"));
        let (url, fp) = read_greeting(std::io::Cursor::new(
            b"listening on http://127.0.0.1:1\n".to_vec(),
        ))
        .unwrap();
        assert_eq!((url.as_str(), fp), ("http://127.0.0.1:1", None));
    }

    #[test]
    fn a_greeting_that_is_not_one_is_an_error() {
        assert!(read_greeting(std::io::Cursor::new(b"error: no such file\n".to_vec())).is_err());
        assert!(read_greeting(std::io::Cursor::new(b"listening on https://x\n".to_vec())).is_err());
    }
}
