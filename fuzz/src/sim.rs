//! A structured simulator exchange for the `sim_request` target: a few requests built from the API's own
//! vocabulary (so the fuzzer reaches the handlers past routing and authentication) mixed with arbitrary
//! text, run in-process through `pveha_sim::server::handle`. Fault injection is left out on purpose: a
//! latency fault would only slow the fuzzer down, and faults are tested by the fault suite.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use pveha_sim::server::{self, Shared};
use pveha_sim::state::Cluster;

/// The homelab fixtures the simulator is fuzzed from.
pub const FIXTURES: [&str; 2] = [
    include_str!("../../examples/homelab/cluster-pve8.json"),
    include_str!("../../examples/homelab/cluster-pve9.json"),
];

/// The API token both fixtures accept.
pub const TOKEN: &str = "PVEAPIToken=root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

const SEGMENTS: &[&str] = &[
    "api2",
    "json",
    "extjs",
    "_sim",
    "cluster",
    "ha",
    "groups",
    "resources",
    "rules",
    "status",
    "current",
    "manager_status",
    "nodes",
    "proxmox",
    "proxmox2",
    "proxmox3",
    "lxc",
    "qemu",
    "100",
    "110",
    "1250",
    "config",
    "journal",
    "syslog",
    "backup",
    "replication",
    "options",
    "version",
    "access",
    "ticket",
    "vm:100",
    "ct:110",
    "ct:1250",
    "migrate",
    "relocate",
    "advance",
    "power",
    "faults",
    "requests",
    "snapshot",
    "log",
    "health",
    "",
    "..",
    "%2F",
    "ct%3A110",
    "web",
];

const KEYS: &[&str] = &[
    "group",
    "nodes",
    "sid",
    "state",
    "comment",
    "type",
    "resources",
    "rule",
    "max_restart",
    "max_relocate",
    "digest",
    "delete",
    "restricted",
    "nofailback",
    "affinity",
    "strict",
    "disable",
    "failback",
    "node",
    "username",
    "password",
    "realm",
    "startup",
    "onboot",
    "limit",
    "since",
    "start",
    "seconds",
    "on",
    "purge",
];

const VALUES: &[&str] = &[
    "proxmox:2,proxmox2:1",
    "proxmox,proxmox3",
    "ct:110",
    "vm:100",
    "ct:1250",
    "started",
    "stopped",
    "disabled",
    "ignored",
    "1",
    "0",
    "-1",
    "node-affinity",
    "resource-affinity",
    "positive",
    "negative",
    "order=1,up=30",
    "web",
    "ha-group",
    "root@pam",
    "pam",
    "homelab-demo",
    "restricted,nofailback",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "0000000000000000000000000000000000000000",
    "true",
    "99999999999999999999",
    "1e308",
    "ct:110,ct:1250",
];

/// One piece of text: from the API's vocabulary or arbitrary.
#[derive(Arbitrary, Debug, Clone)]
pub enum Word {
    /// A path segment, parameter name or value the API knows.
    Known(u8),
    /// Anything.
    Text(String),
}

impl Word {
    fn render(&self, vocabulary: &[&str]) -> String {
        match self {
            Word::Known(i) => vocabulary[usize::from(*i) % vocabulary.len()].to_string(),
            Word::Text(s) => s.clone(),
        }
    }
}

/// How the request authenticates.
#[derive(Arbitrary, Debug, Clone)]
pub enum Auth {
    /// The fixture's valid API token.
    Token,
    /// An arbitrary `Authorization` header.
    Header(String),
    /// An arbitrary cookie and CSRF token.
    Cookie(String, String),
    /// None.
    Anonymous,
}

/// The request body.
#[derive(Arbitrary, Debug, Clone)]
pub enum Body {
    /// None.
    Empty,
    /// `application/x-www-form-urlencoded` pairs.
    Form(Vec<(Word, Word)>),
    /// A JSON object of string values.
    Json(Vec<(Word, Word)>),
    /// Raw bytes under an arbitrary content type.
    Raw(String, Vec<u8>),
}

/// One request.
#[derive(Arbitrary, Debug, Clone)]
pub struct Call {
    method: u8,
    raw_method: Option<String>,
    segments: Vec<Word>,
    query: Vec<(Word, Word)>,
    auth: Auth,
    body: Body,
    headers: Vec<(String, String)>,
    from_loopback: bool,
}

/// A short exchange against a fresh simulator.
#[derive(Arbitrary, Debug, Clone)]
pub struct Exchange {
    pve9: bool,
    calls: Vec<Call>,
}

fn clusters() -> &'static [Cluster; 2] {
    static LOADED: OnceLock<[Cluster; 2]> = OnceLock::new();
    LOADED.get_or_init(|| {
        FIXTURES.map(|f| {
            pveha_sim::snapshot::load(f)
                .unwrap_or_else(|e| panic!("homelab fixture does not load: {e}"))
        })
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("no tokio runtime: {e}"))
    })
}

fn pairs(words: &[(Word, Word)]) -> Vec<(String, String)> {
    words
        .iter()
        .map(|(k, v)| (k.render(KEYS), v.render(VALUES)))
        .collect()
}

fn form(pairs: &[(String, String)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        if !s.is_empty() {
            s.push('&');
        }
        s.push_str(&percent(k));
        s.push('=');
        s.push_str(&percent(v));
    }
    s
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~:,".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Call {
    /// The HTTP request, or None when it could not travel over HTTP/1.1 at all (hyper refuses it first).
    fn request(&self) -> Option<http::Request<Full<Bytes>>> {
        const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
        let method = match &self.raw_method {
            Some(m) => http::Method::from_bytes(m.as_bytes()).ok()?,
            None => http::Method::from_bytes(
                METHODS[usize::from(self.method) % METHODS.len()].as_bytes(),
            )
            .ok()?,
        };
        let mut uri: String = self
            .segments
            .iter()
            .take(12)
            .map(|w| format!("/{}", w.render(SEGMENTS)))
            .collect();
        if uri.is_empty() {
            uri.push('/');
        }
        let query = form(&pairs(&self.query));
        if !query.is_empty() {
            uri = format!("{uri}?{query}");
        }
        let uri = http::Uri::try_from(uri).ok()?;
        let mut b = http::Request::builder().method(method).uri(uri);
        let (content_type, body) = match &self.body {
            Body::Empty => (None, Vec::new()),
            Body::Form(p) => (
                Some("application/x-www-form-urlencoded".to_string()),
                form(&pairs(p)).into_bytes(),
            ),
            Body::Json(p) => {
                let o: serde_json::Map<String, serde_json::Value> = pairs(p)
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                (
                    Some("application/json".to_string()),
                    serde_json::Value::Object(o).to_string().into_bytes(),
                )
            }
            Body::Raw(ct, bytes) => (Some(ct.clone()), bytes.clone()),
        };
        if let Some(ct) = content_type {
            if let Ok(v) = http::HeaderValue::from_str(&ct) {
                b = b.header(http::header::CONTENT_TYPE, v);
            }
        }
        match &self.auth {
            Auth::Token => b = b.header(http::header::AUTHORIZATION, TOKEN),
            Auth::Header(h) => {
                if let Ok(v) = http::HeaderValue::from_str(h) {
                    b = b.header(http::header::AUTHORIZATION, v);
                }
            }
            Auth::Cookie(c, csrf) => {
                if let Ok(v) = http::HeaderValue::from_str(&format!("PVEAuthCookie={c}")) {
                    b = b.header(http::header::COOKIE, v);
                }
                if let Ok(v) = http::HeaderValue::from_str(csrf) {
                    b = b.header("CSRFPreventionToken", v);
                }
            }
            Auth::Anonymous => {}
        }
        for (k, v) in self.headers.iter().take(4) {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                b = b.header(k, v);
            }
        }
        b.body(Full::new(Bytes::from(body))).ok()
    }

    /// Whether this call would add a fault (left out: see the module doc).
    fn adds_fault(&self) -> bool {
        self.segments
            .iter()
            .any(|w| w.render(SEGMENTS).contains("faults"))
    }
}

/// Runs an exchange against a fresh simulator and checks what must hold whatever the requests were: no
/// handler panics (the server would hide it in a 500), every JSON answer is JSON, nothing is dropped
/// without a fault, and the state stays a snapshot the simulator can load again.
pub fn run(exchange: &Exchange) {
    let cluster = clusters()[usize::from(exchange.pve9)].clone();
    let shared = Arc::new(Shared::new(cluster, Duration::ZERO));
    let mut changed = false;
    for call in exchange.calls.iter().take(4) {
        if call.adds_fault() {
            continue;
        }
        let Some(req) = call.request() else { continue };
        let read_only = req.method() == http::Method::GET;
        let peer: SocketAddr = if call.from_loopback {
            ([127, 0, 0, 1], 40000)
        } else {
            ([192, 0, 2, 7], 40000)
        }
        .into();
        let answer = runtime().block_on(async {
            let resp = server::handle(shared.clone(), peer, req)
                .await
                .unwrap_or_else(|e| panic!("{e} without a fault"));
            let status = resp.status();
            let json = resp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            (status, json, body)
        });
        let (status, json, body) = answer;
        changed |= !read_only && status.is_success();
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("internal error"),
            "a handler failed on {call:?}: {status} {text}"
        );
        if json {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
                "{status} answer is not JSON: {text}"
            );
        }
    }
    // Dumping and reloading is the costly part, and only a successful write can break it.
    if !changed {
        return;
    }
    let dumped = pveha_sim::snapshot::dump(&shared.cluster()).to_string();
    if let Err(e) = pveha_sim::snapshot::load(&dumped) {
        panic!("the simulator's state no longer loads after {exchange:?}: {e}");
    }
}
