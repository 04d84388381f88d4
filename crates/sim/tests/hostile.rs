//! Hostile input for the simulator: `load_snapshot` on arbitrary text and on the homelab fixture with parts
//! replaced by arbitrary JSON, and arbitrary requests (method, path, query, headers, body) handled
//! in-process through `server::handle`. Nothing may panic (a handler panic surfaces as an "internal error"
//! answer), every JSON answer is JSON, and the state always dumps to a snapshot that loads again.
//! Case counts are bounded so `make test` stays fast; `make fuzz` explores the same surfaces for longer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use pveha_sim::server::{handle, Shared};
use serde_json::{json, Value};

const PVE8: &str = include_str!("../../../examples/homelab/cluster-pve8.json");
const PVE9: &str = include_str!("../../../examples/homelab/cluster-pve9.json");
const TOKEN: &str = "PVEAPIToken=root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z0-9:,=. -]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "ct:110", "vm:100", "proxmox", "started", "lxc", "qemu", "node", "1", ""
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(
                prop::sample::select(vec![
                    "sid", "state", "group", "nodes", "type", "node", "vmid", "status", "id",
                    "name", "version", "release", "online", "quorate", "hostname", "startup",
                    "onboot", "rootfs", "maxmem", "uptime",
                ])
                .prop_map(str::to_string),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Loading either fails or gives a simulator whose dump loads again.
fn load_checked(text: &str) -> Result<(), TestCaseError> {
    let Ok(sim) = pveha_sim::load_snapshot(text) else {
        return Ok(());
    };
    let dumped = sim.snapshot().to_string();
    if let Err(e) = pveha_sim::load_snapshot(&dumped) {
        return Err(TestCaseError::fail(format!(
            "a loaded snapshot dumps to one that does not load: {e}"
        )));
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(96))]

    #[test]
    fn load_snapshot_never_panics_on_text(text in ".{0,200}") {
        load_checked(&text)?;
    }

    #[test]
    fn load_snapshot_survives_fixture_parts_replaced(
        pve9 in any::<bool>(),
        replace in vec((any::<prop::sample::Index>(), json_value()), 1..4),
        top in prop::option::of((prop::sample::select(vec!["pve_version", "captured_at", "auth", "api"]), json_value())),
    ) {
        let mut doc: Value = serde_json::from_str(if pve9 { PVE9 } else { PVE8 }).expect("fixture is JSON");
        let paths: Vec<String> = doc["api"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        for (i, v) in replace {
            doc["api"][i.get(&paths).as_str()] = v;
        }
        if let Some((k, v)) = top {
            doc[k] = v;
        }
        load_checked(&doc.to_string())?;
    }
}

const SEGMENTS: &[&str] = &[
    "api2",
    "json",
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
    "lxc",
    "qemu",
    "110",
    "1250",
    "config",
    "journal",
    "syslog",
    "backup",
    "version",
    "access",
    "ticket",
    "ct:110",
    "vm:100",
    "migrate",
    "relocate",
    "_sim",
    "advance",
    "power",
    "log",
    "snapshot",
    "requests",
    "health",
    "",
    "..",
    "%2F",
    "ct%3A1250",
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
    "startup",
    "onboot",
    "limit",
    "start",
    "seconds",
    "on",
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
    "order=1,up=30",
    "web",
    "root@pam",
    "homelab-demo",
    "restricted,nofailback",
    "99999999999999999999",
    "1e308",
    "NaN",
    "ct:110,ct:1250",
];

fn word(vocabulary: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(vocabulary).prop_map(str::to_string), 1 => ".{0,12}"]
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

fn form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One arbitrary request, as the parts a client controls.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: Vec<String>,
    query: Vec<(String, String)>,
    token: bool,
    content_type: Option<String>,
    body: Vec<u8>,
    loopback: bool,
}

fn call() -> impl Strategy<Value = Call> {
    let body = prop_oneof![
        Just((None, Vec::new())),
        vec((word(KEYS), word(VALUES)), 0..5).prop_map(|p| (
            Some("application/x-www-form-urlencoded".to_string()),
            form(&p).into_bytes()
        )),
        vec((word(KEYS), word(VALUES)), 0..5).prop_map(|p| {
            let o: serde_json::Map<String, Value> =
                p.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
            (
                Some("application/json".to_string()),
                Value::Object(o).to_string().into_bytes(),
            )
        }),
        (prop::option::of("[a-z/;=-]{0,24}"), vec(any::<u8>(), 0..64)),
    ];
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
        vec(word(SEGMENTS), 0..8),
        vec((word(KEYS), word(VALUES)), 0..4),
        any::<bool>(),
        body,
        any::<bool>(),
    )
        .prop_map(
            |(method, path, query, token, (content_type, body), loopback)| Call {
                method: method.to_string(),
                path,
                query,
                token,
                content_type,
                body,
                loopback,
            },
        )
}

impl Call {
    fn get(path: &str) -> Call {
        Call {
            method: "GET".into(),
            path: path
                .trim_start_matches('/')
                .split('/')
                .map(str::to_string)
                .collect(),
            query: Vec::new(),
            token: true,
            content_type: None,
            body: Vec::new(),
            loopback: true,
        }
    }

    /// The request, or None when it could not be sent over HTTP/1.1 at all (hyper refuses it first).
    fn request(&self) -> Option<http::Request<Full<Bytes>>> {
        let mut uri: String = self.path.iter().map(|s| format!("/{s}")).collect();
        if uri.is_empty() {
            uri.push('/');
        }
        if !self.query.is_empty() {
            uri = format!("{uri}?{}", form(&self.query));
        }
        let mut b = http::Request::builder()
            .method(self.method.as_str())
            .uri(http::Uri::try_from(uri).ok()?);
        if self.token {
            b = b.header("authorization", TOKEN);
        }
        if let Some(ct) = &self.content_type {
            b = b.header("content-type", http::HeaderValue::from_str(ct).ok()?);
        }
        b.body(Full::new(Bytes::from(self.body.clone()))).ok()
    }
}

struct Answer {
    status: u16,
    json: bool,
    body: String,
}

fn simulator(pve9: bool) -> Arc<Shared> {
    let cluster = pveha_sim::snapshot::load(if pve9 { PVE9 } else { PVE8 }).expect("fixture loads");
    Arc::new(Shared::new(cluster, Duration::ZERO))
}

fn send(rt: &tokio::runtime::Runtime, shared: &Arc<Shared>, call: &Call) -> Option<Answer> {
    let req = call.request()?;
    let peer: SocketAddr = if call.loopback {
        ([127, 0, 0, 1], 50000)
    } else {
        ([192, 0, 2, 7], 50000)
    }
    .into();
    rt.block_on(async {
        let resp = handle(shared.clone(), peer, req)
            .await
            .expect("no connection is dropped without a fault");
        let status = resp.status().as_u16();
        let json = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Some(Answer {
            status,
            json,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// What must hold for any answer.
fn check(call: &Call, a: &Answer) -> Result<(), TestCaseError> {
    prop_assert!(
        !a.body.contains("internal error"),
        "a handler failed on {:?}: {} {}",
        call,
        a.status,
        a.body
    );
    if a.json {
        prop_assert!(
            serde_json::from_str::<Value>(&a.body).is_ok(),
            "{} answer is not JSON: {}",
            a.status,
            a.body
        );
    }
    if !call.loopback && call.path.first().is_some_and(|s| s == "_sim") {
        prop_assert_eq!(
            a.status,
            403,
            "the control API answered a non-loopback peer"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(160))]

    #[test]
    fn any_request_is_answered_and_the_state_stays_loadable(pve9 in any::<bool>(), calls in vec(call(), 1..5)) {
        let rt = runtime();
        let shared = simulator(pve9);
        for c in calls.iter().filter(|c| !c.path.iter().any(|s| s.contains("faults"))) {
            if let Some(a) = send(&rt, &shared, c) {
                check(c, &a)?;
            }
        }
        let version = send(&rt, &shared, &Call::get("/api2/json/version")).expect("request");
        prop_assert_eq!(version.status, 200, "the simulator stopped serving: {}", version.body);
        let dumped = pveha_sim::snapshot::dump(&shared.cluster()).to_string();
        prop_assert!(pveha_sim::snapshot::load(&dumped).is_ok(), "the state no longer loads after {:?}", calls);
    }
}

#[test]
fn garbage_bodies_get_the_real_error_envelopes() {
    let rt = runtime();
    let shared = simulator(false);
    let mut post = Call::get("/api2/json/cluster/ha/groups");
    post.method = "POST".into();
    post.content_type = Some("application/json".into());
    post.body = b"{\"group\": [".to_vec();
    let a = send(&rt, &shared, &post).expect("request");
    assert_eq!(a.status, 400, "{}", a.body);
    post.body = b"[1, 2]".to_vec();
    assert_eq!(send(&rt, &shared, &post).expect("request").status, 400);
    let mut get = Call::get("/api2/json/version");
    get.body = b"x=1".to_vec();
    assert_eq!(send(&rt, &shared, &get).expect("request").status, 501);
    let version = send(&rt, &shared, &Call::get("/api2/json/version")).expect("request");
    assert_eq!(version.status, 200);
    assert!(serde_json::from_str::<Value>(&version.body)
        .is_ok_and(|v| v["data"]["version"].is_string()));
}

#[test]
fn truncated_and_wrong_typed_snapshots_are_errors() {
    for cut in [0, 1, PVE8.len() / 3, PVE8.len() - 2] {
        assert!(
            pveha_sim::load_snapshot(&PVE8[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut doc: Value = serde_json::from_str(PVE8).expect("fixture");
    doc["api"]["/cluster/resources"] = json!("not a list");
    assert!(pveha_sim::load_snapshot(&doc.to_string()).is_err());
}

/// A TLS acceptor with a fresh self-signed certificate, as `pveha sim` sets one up.
fn test_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::PrivateKeyDer;
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der()).expect("key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .expect("config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Connect and send nothing: the server must close the connection by itself. The outer guard only keeps a
/// regression from hanging the suite; the server's own timeout is far shorter.
async fn silent_client_is_dropped(tls: Option<tokio_rustls::TlsAcceptor>) {
    use tokio::io::AsyncReadExt;
    let cluster = pveha_sim::snapshot::load(PVE8).expect("fixture loads");
    let shared = Arc::new(
        Shared::new(cluster, Duration::ZERO)
            .with_timeouts(Duration::from_millis(200), Duration::from_millis(200)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(pveha_sim::server::accept_loop(listener, shared, tls, rx));
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(60), conn.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the server kept a silent connection open: {read:?}"
    );
    let _ = stop.send(true);
    let _ = task.await;
}

#[tokio::test]
async fn a_silent_plain_connection_is_closed_by_the_header_timeout() {
    silent_client_is_dropped(None).await;
}

#[tokio::test]
async fn a_silent_tls_connection_is_closed_by_the_handshake_timeout() {
    silent_client_is_dropped(Some(test_acceptor())).await;
}
