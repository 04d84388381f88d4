//! A `pveha sim` child process on a free loopback port and the few `/_sim/` control calls the benchmark
//! needs: faults (injected latency) and request counters. It must not link the simulator: the figures are
//! of the processes users run. The child is killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

/// The token the synthetic snapshot and the fixtures accept.
pub const TOKEN: &str = "root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

/// A running simulator.
#[derive(Debug)]
pub struct Sim {
    child: Child,
    endpoint: String,
    fingerprint: String,
    http: reqwest::blocking::Client,
    /// Kept so the log lives as long as the process.
    _stderr: tempfile::NamedTempFile,
}

/// The simulator's API request counters.
#[derive(Debug, Clone)]
pub struct Requests {
    /// All API requests since the last reset.
    pub total: u64,
    /// `{"METHOD /path": count}` as the simulator reports it.
    pub by_route: Value,
    /// The most API requests the simulator had in flight at once (0 from a simulator that does not say).
    pub max_in_flight: u64,
}

impl Sim {
    /// Starts `pveha sim --snapshot FILE --listen 127.0.0.1:0` (TLS, real-time clock) and reads its greeting.
    pub fn start(pveha: &Path, snapshot: &Path) -> Result<Sim> {
        let stderr = tempfile::NamedTempFile::new().context("creating the simulator's log")?;
        let mut child = Command::new(pveha)
            .arg("sim")
            .arg("--snapshot")
            .arg(snapshot)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().context("opening the simulator's log")?)
            .spawn()
            .with_context(|| format!("cannot start {}", pveha.display()))?;
        let Some(stdout) = child.stdout.take() else {
            bail!("the simulator's stdout was not captured");
        };
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let mut second = String::new();
        reader
            .read_line(&mut first)
            .context("reading the simulator's greeting")?;
        reader
            .read_line(&mut second)
            .context("reading the simulator's fingerprint")?;
        // Nothing reads the rest, but the pipe must not fill up and block the simulator.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let endpoint = first
            .trim()
            .strip_prefix("listening on ")
            .map(|s| s.trim_end_matches('/').to_string());
        let fingerprint = second
            .trim()
            .strip_prefix("fingerprint ")
            .map(str::to_string);
        let (Some(endpoint), Some(fingerprint)) = (endpoint, fingerprint) else {
            let _ = child.kill();
            let status = child.wait();
            let log = std::fs::read_to_string(stderr.path()).unwrap_or_default();
            bail!("`pveha sim` did not start ({status:?}): {}", log.trim());
        };
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            // The certificate is self-signed and fresh per run; this talks to loopback only.
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(Sim {
            child,
            endpoint,
            fingerprint,
            http,
            _stderr: stderr,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The leaf certificate's SHA-256 fingerprint, colon hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Adds `latency_ms` to every API request (HA config writes spend it holding the `domain-ha` lock).
    pub fn inject_latency(&self, latency_ms: u64) -> Result<()> {
        if latency_ms == 0 {
            return Ok(());
        }
        self.control(
            "POST",
            "faults",
            Some(json!({"path": "^/", "kind": "latency", "latency_ms": latency_ms})),
        )?;
        Ok(())
    }

    /// Removes every fault.
    pub fn clear_faults(&self) -> Result<()> {
        self.control("DELETE", "faults", None).map(drop)
    }

    /// Resets the request counters.
    pub fn reset_requests(&self) -> Result<()> {
        self.control("DELETE", "requests", None).map(drop)
    }

    /// The request counters.
    pub fn requests(&self) -> Result<Requests> {
        let v = self.control("GET", "requests", None)?;
        let total = v["total"]
            .as_u64()
            .ok_or_else(|| anyhow!("/_sim/requests without total: {v}"))?;
        Ok(Requests {
            total,
            by_route: v["by_route"].clone(),
            max_in_flight: v["max_in_flight"].as_u64().unwrap_or(0),
        })
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/_sim/{path}", self.endpoint);
        let method = reqwest::Method::from_bytes(method.as_bytes()).context("method")?;
        let mut req = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let text = resp
            .text()
            .with_context(|| format!("{method} {url}: reading the body"))?;
        if !status.is_success() {
            bail!("{method} {url}: {status}: {text}");
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {url}: not JSON: {text}"))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
