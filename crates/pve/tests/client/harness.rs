//! Test setup: an in-process simulator on 127.0.0.1:0, clients configured against it, and the
//! simulator's control API (faults, request counters, node power), so test bodies are only the scenario.

use std::time::Duration;

use anyhow::{anyhow, Context};
use pveha_pve::{Auth, Client, ClientConfig, ClientOptions, RetryPolicy};
use pveha_sim::{RunningSim, SimOptions, TlsMode};
use serde_json::{json, Value};

/// The fixtures' API token and password (see examples/homelab).
pub const TOKEN_ID: &str = "root@pam!terraform";
pub const TOKEN_SECRET: &str = "3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";
pub const USER: &str = "root@pam";
pub const PASSWORD: &str = "homelab-demo";

/// Attempts per operation in tests; retry-count assertions refer to it.
pub const MAX_ATTEMPTS: u32 = 5;

/// A retry policy with short backoffs, so retries cost milliseconds.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: MAX_ATTEMPTS,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        deadline: Duration::from_secs(60),
    }
}

/// Which fixture to serve.
#[derive(Debug, Clone, Copy)]
pub enum Fixture {
    Pve8,
    Pve9,
}

/// A running simulator plus a control-API client.
pub struct Sim {
    pub running: RunningSim,
    control: reqwest::Client,
}

fn fixture_json(which: Fixture) -> anyhow::Result<String> {
    let name = match which {
        Fixture::Pve8 => "cluster-pve8.json",
        Fixture::Pve9 => "cluster-pve9.json",
    };
    let path = format!(
        "{}/../../examples/homelab/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))
}

impl Sim {
    /// Starts a simulator with a self-signed certificate and a frozen HA clock.
    pub async fn start(which: Fixture) -> Sim {
        Sim::start_with(which, TlsMode::SelfSigned).await
    }

    /// Starts a simulator with the given TLS mode.
    pub async fn start_with(which: Fixture, tls: TlsMode) -> Sim {
        let json = fixture_json(which).expect("fixture");
        let sim = pveha_sim::load_snapshot(&json).expect("fixture loads");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let opts = SimOptions {
            tls,
            time_scale: 0.0,
            auth_failure_delay: Duration::ZERO,
        };
        let running = pveha_sim::start(sim, listener, opts)
            .await
            .expect("simulator starts");
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let control = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .build()
            .expect("control client");
        Sim { running, control }
    }

    /// Settings that pin the simulator's certificate and use the fixture's token.
    pub fn token_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new(
            self.running.base_url(),
            Auth::token(format!("{TOKEN_ID}={TOKEN_SECRET}")),
        );
        cfg.tls_fingerprint = self.running.fingerprint();
        cfg.timeout = Duration::from_secs(10);
        cfg
    }

    /// Settings with ticket login as the fixture's user.
    pub fn password_config(&self) -> ClientConfig {
        let mut cfg = self.token_config();
        cfg.auth = Auth::password(USER, PASSWORD);
        cfg
    }

    /// A token client with fast retries.
    pub fn client(&self) -> Client {
        self.client_for(&self.token_config())
    }

    /// A client for `cfg` with fast retries.
    pub fn client_for(&self, cfg: &ClientConfig) -> Client {
        Client::with_options(cfg, options()).expect("valid config")
    }

    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/_sim/{path}", self.running.base_url());
        let mut req = self.control.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let v: Value = resp.json().await?;
        if !status.is_success() {
            return Err(anyhow!("control API {path}: {status} {v}"));
        }
        Ok(v)
    }

    /// Installs a fault (see the simulator contract); returns its id.
    pub async fn fault(&self, spec: Value) -> String {
        let v = self
            .control(reqwest::Method::POST, "faults", Some(spec))
            .await
            .expect("fault installed");
        v["id"].as_str().unwrap_or_default().to_string()
    }

    /// Removes every fault.
    pub async fn clear_faults(&self) {
        self.control(reqwest::Method::DELETE, "faults", None)
            .await
            .expect("faults cleared");
    }

    /// Resets the request counters.
    pub async fn reset_requests(&self) {
        self.control(reqwest::Method::DELETE, "requests", None)
            .await
            .expect("counters reset");
    }

    /// The request counters (`GET /_sim/requests`).
    async fn counters(&self) -> Value {
        self.control(reqwest::Method::GET, "requests", None)
            .await
            .expect("counters")
    }

    /// Requests counted for `METHOD /path` since the last reset.
    pub async fn requests(&self, route: &str) -> u64 {
        self.counters().await["by_route"][route]
            .as_u64()
            .unwrap_or(0)
    }

    /// The most HA configuration writes the simulator had in flight at once since the last reset.
    pub async fn max_ha_writes_in_flight(&self) -> u64 {
        self.counters().await["max_ha_writes_in_flight"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Every API request counted since the last reset.
    pub async fn total_requests(&self) -> u64 {
        self.counters().await["total"].as_u64().unwrap_or(0)
    }

    /// Powers a node off or on.
    pub async fn power(&self, node: &str, on: bool) {
        self.control(
            reqwest::Method::POST,
            &format!("nodes/{node}/power"),
            Some(json!({ "on": on })),
        )
        .await
        .expect("node power");
    }
}

/// Client tuning for tests: fast retries, defaults otherwise.
pub fn options() -> ClientOptions {
    ClientOptions {
        retry: fast_retries(),
        ..ClientOptions::default()
    }
}
