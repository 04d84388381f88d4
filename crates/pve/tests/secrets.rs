//! No secret reaches the logs: a full session at TRACE level (token and ticket auth, reads,
//! writes with CSRF, ticket renewal, failed logins), with every crate's output captured, holds no
//! token secret, password, ticket or CSRF token. Its own test binary, because it installs the
//! process-wide subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pveha_model::NodePriorities;
use pveha_pve::ha::groups::{self, HaGroupUpdate, NewHaGroup};
use pveha_pve::{cluster, nodes, Auth, Change, Client, ClientConfig, ClientOptions, RetryPolicy};

const TOKEN_SECRET: &str = "3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";
const PASSWORD: &str = "homelab-demo";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn options(renew_after: Duration) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
            deadline: Duration::from_secs(10),
        },
        ticket_renew_after: renew_after,
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn no_secret_in_a_trace_log_of_a_full_session() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace,pveha_sim=off"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/homelab/cluster-pve8.json"
    ))
    .unwrap();
    let sim = pveha_sim::load_snapshot(&json).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = pveha_sim::start(sim, listener, Default::default())
        .await
        .unwrap();

    let mut cfg = ClientConfig::new(
        running.base_url(),
        Auth::token(format!("root@pam!terraform={TOKEN_SECRET}")),
    );
    cfg.tls_fingerprint = running.fingerprint();
    let token = Client::with_options(&cfg, options(Duration::from_secs(3600))).unwrap();
    let group = NewHaGroup {
        group: "web".into(),
        nodes: "proxmox:2,proxmox2".parse::<NodePriorities>().unwrap(),
        restricted: None,
        nofailback: None,
        comment: None,
    };
    groups::create(&token, &group).await.unwrap();
    groups::list(&token).await.unwrap();
    nodes::journal(&token, "proxmox", &Default::default())
        .await
        .unwrap();
    tracing::debug!(config = ?cfg, "the config's Debug output is logged too");

    cfg.auth = Auth::password("root@pam", PASSWORD);
    let ticket = Client::with_options(&cfg, options(Duration::ZERO)).unwrap();
    let update = HaGroupUpdate {
        comment: Change::Set("via ticket".into()),
        ..Default::default()
    };
    groups::update(&ticket, "web", &update).await.unwrap();
    cluster::status(&ticket).await.unwrap();
    groups::delete(&ticket, "web").await.unwrap();

    cfg.auth = Auth::token("root@pam!terraform=wrong-secret");
    let wrong = Client::with_options(&cfg, options(Duration::ZERO)).unwrap();
    assert!(wrong.version().await.is_err());
    cfg.auth = Auth::password("root@pam", "wrong-password");
    let wrong = Client::with_options(&cfg, options(Duration::ZERO)).unwrap();
    assert!(wrong.version().await.is_err());
    running.shutdown().await;

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    // Positive control: the session was logged, with the fields the log promises.
    for expected in [
        "api request",
        "method=POST",
        "path=/cluster/ha/groups",
        "status=200",
        "retry=0",
        "duration_ms=",
    ] {
        assert!(log.contains(expected), "the log lacks {expected:?}");
    }
    assert!(log.contains("/access/ticket"), "logins are logged");
    for secret in [
        TOKEN_SECRET,
        PASSWORD,
        "wrong-secret",
        "wrong-password",
        "PVE:root@pam:",
        "PVEAuthCookie=",
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}");
    }
    let csrf = regex::Regex::new(r"[0-9A-F]{8}:[A-Za-z0-9+/]{20,}").unwrap();
    assert!(!csrf.is_match(&log), "the log holds a CSRF token");
}
