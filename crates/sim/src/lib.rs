//! `pveha-sim`: a Proxmox VE API simulator for pveha's demo and tests. It loads a `pveha-snapshot/1`
//! document, serves `/api2/json` with the real server's status lines, envelopes and PVE 8/9 behaviour, runs
//! a simulated HA manager on a simulated clock, and offers a loopback-only control API under `/_sim/`.
//! It shares no types with `pveha-pve`/`pveha-model` (placement is the one documented exception).

pub mod api;
pub mod auth;
pub mod control;
pub mod crs;
pub mod error;
pub mod faults;
pub mod ha_manager;
pub mod lifecycle;
pub mod params;
pub mod rules;
pub mod server;
pub mod snapshot;
pub mod specs;
pub mod state;
pub mod twin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use control::is_loopback_peer;
pub use snapshot::LoadError;
pub use specs::Major;
pub use twin::Twin;

/// How the simulator speaks on its listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// HTTPS with a certificate generated at start (like a fresh PVE node).
    #[default]
    SelfSigned,
    /// HTTPS with the given PEM certificate chain and private key.
    Provided {
        /// Certificate chain, PEM.
        cert_pem: String,
        /// Private key, PEM.
        key_pem: String,
    },
    /// Plain HTTP.
    Plain,
}

/// Start options.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// TLS or plain HTTP.
    pub tls: TlsMode,
    /// Simulated seconds per wall second; 0 freezes the clock (only `/_sim/advance` moves it).
    pub time_scale: f64,
    /// Delay before every 401 answer (the real server waits ~3 s).
    pub auth_failure_delay: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            tls: TlsMode::SelfSigned,
            time_scale: 1.0,
            auth_failure_delay: Duration::ZERO,
        }
    }
}

/// A loaded, validated cluster model, ready to serve.
#[derive(Debug, Clone)]
pub struct Simulator {
    cluster: state::Cluster,
}

impl Simulator {
    /// The simulated PVE version (`pve_version`).
    pub fn pve_version(&self) -> &str {
        &self.cluster.pve_version
    }
    /// PVE 8 or PVE 9 behaviour.
    pub fn major(&self) -> Major {
        self.cluster.major
    }
    /// The current state as a `pveha-snapshot/1` document.
    pub fn snapshot(&self) -> serde_json::Value {
        snapshot::dump(&self.cluster)
    }
}

/// Load and validate a snapshot document.
pub fn load_snapshot(json: &str) -> Result<Simulator, LoadError> {
    Ok(Simulator {
        cluster: snapshot::load(json)?,
    })
}

/// A running simulator.
pub struct RunningSim {
    addr: SocketAddr,
    scheme: &'static str,
    fingerprint: Option<String>,
    cert_pem: Option<String>,
    shared: Arc<server::Shared>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `https://127.0.0.1:PORT` (or `http://`).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
    /// SHA-256 fingerprint of the certificate, uppercase colon hex (TLS only).
    pub fn fingerprint(&self) -> Option<String> {
        self.fingerprint.clone()
    }
    /// The certificate, PEM (TLS only).
    pub fn cert_pem(&self) -> Option<String> {
        self.cert_pem.clone()
    }
    /// The current state as a `pveha-snapshot/1` document.
    pub fn snapshot(&self) -> serde_json::Value {
        let mut c = self.shared.cluster();
        ha_manager::catch_up(&mut c);
        snapshot::dump(&c)
    }
    /// What the placement crate sees of the current state (the view the simulated CRM schedules with), so
    /// that tests can hold the simulator's outcomes against placement's predictions.
    pub fn placement_view(&self) -> pveha_placement::Cluster {
        let mut c = self.shared.cluster();
        ha_manager::catch_up(&mut c);
        ha_manager::placement_view(&c)
    }
    /// Stop accepting, close connections and wait for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Uppercase colon-separated hex of SHA-256 over DER bytes.
pub fn fingerprint_of(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn tls_setup(
    mode: &TlsMode,
) -> std::io::Result<Option<(tokio_rustls::TlsAcceptor, String, String)>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let io = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let (certs, key, pem): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String) =
        match mode {
            TlsMode::Plain => return Ok(None),
            TlsMode::SelfSigned => {
                let names = vec![
                    "localhost".to_string(),
                    "127.0.0.1".to_string(),
                    "::1".to_string(),
                ];
                let ck = rcgen::generate_simple_self_signed(names)
                    .map_err(|e| io(format!("certificate generation failed: {e}")))?;
                let pem = ck.cert.pem();
                let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der())
                    .map_err(|e| io(e.to_string()))?;
                (vec![ck.cert.der().clone()], key, pem)
            }
            TlsMode::Provided { cert_pem, key_pem } => {
                let certs: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                        .collect::<Result<_, _>>()
                        .map_err(|e| io(format!("certificate PEM: {e}")))?;
                if certs.is_empty() {
                    return Err(io("certificate PEM holds no certificate".into()));
                }
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                    .map_err(|e| io(format!("key PEM: {e}")))?;
                (certs, key, cert_pem.clone())
            }
        };
    let fp = fingerprint_of(certs[0].as_ref());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| io(e.to_string()))?;
    // HTTP/1.1 only: the real server's reason phrases carry meaning, and HTTP/2 has none.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some((
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        fp,
        pem,
    )))
}

/// Serve the simulator on a bound listener until `shutdown`.
pub async fn start(
    sim: Simulator,
    listener: TcpListener,
    opts: SimOptions,
) -> std::io::Result<RunningSim> {
    let addr = listener.local_addr()?;
    let tls = tls_setup(&opts.tls)?;
    let mut cluster = sim.cluster;
    cluster.clock.set_scale(opts.time_scale);
    let shared = Arc::new(server::Shared::new(cluster, opts.auth_failure_delay));
    let (stop, rx) = watch::channel(false);
    let (acceptor, fingerprint, cert_pem) = match tls {
        Some((a, f, p)) => (Some(a), Some(f), Some(p)),
        None => (None, None, None),
    };
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let task = tokio::spawn(server::accept_loop(listener, shared.clone(), acceptor, rx));
    Ok(RunningSim {
        addr,
        scheme,
        fingerprint,
        cert_pem,
        shared,
        stop,
        task,
    })
}
