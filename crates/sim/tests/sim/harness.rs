//! Test setup: start a simulator from a fixture on 127.0.0.1:0 (plain HTTP, frozen clock) and talk to it.

use pveha_sim::{SimOptions, TlsMode};
use serde_json::Value;

pub const PVE8: &str = include_str!("../../../../examples/homelab/cluster-pve8.json");
pub const PVE9: &str = include_str!("../../../../examples/homelab/cluster-pve9.json");
pub const TOKEN: &str = "PVEAPIToken=root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

pub struct Sim {
    pub running: pveha_sim::RunningSim,
    pub http: reqwest::Client,
    pub base: String,
}

pub struct Answer {
    pub status: u16,
    pub reason: String,
    pub body: Value,
    pub raw: String,
    pub server: Option<String>,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn error(&self, key: &str) -> String {
        self.body["errors"][key]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(
            self.status, 200,
            "expected 200, got {} {}: {}",
            self.status, self.reason, self.raw
        );
        self.body["data"].clone()
    }
}

pub async fn start_json(doc: &str) -> Sim {
    start_with(doc, TlsMode::Plain).await
}

pub async fn start_with(doc: &str, tls: TlsMode) -> Sim {
    let sim = pveha_sim::load_snapshot(doc).expect("fixture loads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let opts = SimOptions {
        tls,
        time_scale: 0.0,
        ..SimOptions::default()
    };
    let running = pveha_sim::start(sim, listener, opts).await.expect("start");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let base = running.base_url();
    Sim {
        running,
        http,
        base,
    }
}

pub async fn pve8() -> Sim {
    start_json(PVE8).await
}

pub async fn pve9() -> Sim {
    start_json(PVE9).await
}

impl Sim {
    pub async fn raw(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let reason = resp
            .status()
            .canonical_reason()
            .unwrap_or_default()
            .to_string();
        let server = resp
            .headers()
            .get("server")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let raw = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Answer {
            status,
            reason,
            body,
            raw,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api2/json{path}", self.base)
    }

    pub async fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(m.clone(), self.url(path))
            .header("Authorization", TOKEN);
        if m == reqwest::Method::GET || m == reqwest::Method::DELETE {
            req = req.query(form);
        } else {
            req = req.form(form);
        }
        self.raw(req).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, &[]).await
    }

    /// The real reason phrase (reqwest only exposes the canonical one), read with a raw HTTP/1.1 exchange.
    pub async fn status_line(&self, method: &str, path: &str, auth: bool) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.running.addr())
            .await
            .expect("connect");
        let auth = if auth {
            format!("Authorization: {TOKEN}\r\n")
        } else {
            String::new()
        };
        let req = format!("{method} /api2/json{path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        String::from_utf8_lossy(&buf)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .http
            .request(m, format!("{}/_sim{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("control");
        assert!(
            resp.status().is_success(),
            "control {path}: {}",
            resp.status()
        );
        resp.json().await.expect("control json")
    }

    pub async fn advance(&self, seconds: u64) {
        self.control("POST", "/advance", serde_json::json!({"seconds": seconds}))
            .await;
    }

    pub async fn power(&self, node: &str, on: bool) {
        self.control(
            "POST",
            &format!("/nodes/{node}/power"),
            serde_json::json!({"on": on}),
        )
        .await;
    }

    /// The node and CRM state of an HA service, from `status/current`.
    pub async fn service(&self, sid: &str) -> (String, String) {
        let cur = self.get("/cluster/ha/status/current").await.ok();
        let e = cur
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["sid"] == sid)
            .cloned()
            .unwrap_or(Value::Null);
        (
            e["node"].as_str().unwrap_or_default().to_string(),
            e["state"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// The node a guest is on per `/cluster/resources`.
    pub async fn guest_node(&self, vmid: u64) -> String {
        let res = self.get("/cluster/resources?type=vm").await.ok();
        res.as_array()
            .into_iter()
            .flatten()
            .find(|e| e["vmid"] == vmid)
            .and_then(|e| e["node"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}
