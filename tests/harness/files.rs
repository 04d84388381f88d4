//! A static file server on loopback, for what users host themselves: a provider network mirror (HTTPS, with a
//! certificate from a throwaway CA that clients trust through `SSL_CERT_FILE`) or a package index (plain HTTP).
//! It serves the files under one directory as they are at request time, so a test can tamper with one
//! between steps, and counts requests per path so a test can prove what a client fetched.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::watch;

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// A running file server; it stops when dropped.
#[derive(Debug)]
pub struct FileServer {
    url: String,
    ca_file: Option<PathBuf>,
    counts: Counts,
    stop: watch::Sender<bool>,
    _pki: TempDir,
}

impl FileServer {
    /// Serves `root` over HTTPS on 127.0.0.1 with a leaf for `127.0.0.1` signed by a fresh CA (see `ca_file`).
    pub async fn https(root: &Path) -> Result<FileServer, String> {
        Self::start(root, true).await
    }

    /// Serves `root` over plain HTTP on 127.0.0.1.
    pub async fn http(root: &Path) -> Result<FileServer, String> {
        Self::start(root, false).await
    }

    async fn start(root: &Path, tls: bool) -> Result<FileServer, String> {
        let pki = tempfile::Builder::new()
            .prefix("pveha-files-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let (acceptor, ca_file) = if tls {
            let (config, ca_pem) = tls_config()?;
            let path = pki.path().join("ca.pem");
            std::fs::write(&path, ca_pem)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            (
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
                Some(path),
            )
        } else {
            (None, None)
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))?;
        let scheme = if tls { "https" } else { "http" };
        let counts = Counts::default();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve(
            listener,
            acceptor,
            root.to_path_buf(),
            counts.clone(),
            stopped,
        ));
        Ok(FileServer {
            url: format!("{scheme}://{addr}/"),
            ca_file,
            counts,
            stop,
            _pki: pki,
        })
    }

    /// The base URL, with a trailing slash: `https://127.0.0.1:PORT/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA certificate (PEM) that signed the server's certificate; `None` for plain HTTP.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// How many GET requests `path` (e.g. `/a/index.json`) has had, answered or not.
    pub fn requests(&self, path: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(path).copied().unwrap_or(0)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A rustls server config for `127.0.0.1`/`localhost`, and the PEM of the CA that signed it.
fn tls_config() -> Result<(rustls::ServerConfig, String), String> {
    let err = |e: rcgen::Error| format!("certificate generation failed: {e}");
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name
        .push(DnType::CommonName, "pveha acceptance CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(err)?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
        .map_err(|e| format!("leaf key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, ca_cert.pem()))
}

async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    root: PathBuf,
    counts: Counts,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (tls, root, counts) = (tls.clone(), root.clone(), counts.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let reply = answer(&root, &counts, &req);
                async move { Ok::<_, std::convert::Infallible>(reply) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    // A client that refuses the certificate ends here; that is its answer, not ours.
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = http
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                }
                None => {
                    let _ = http
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

/// The file under `root` named by the request path (a directory's `index.html`), or 404; GET and plain paths only.
fn answer<B>(root: &Path, counts: &Counts, req: &Request<B>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    *counts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(path.clone())
        .or_default() += 1;
    let relative = Path::new(path.trim_start_matches('/'));
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    let mut file = root.join(relative);
    // What static hosting does, and what a simple package index's `project/` URLs rely on.
    if file.is_dir() {
        file.push("index.html");
    }
    let body = match (req.method() == hyper::Method::GET && plain, file.is_file()) {
        (true, true) => std::fs::read(&file).ok(),
        _ => None,
    };
    let mut response = match body {
        Some(bytes) => Response::new(Full::new(Bytes::from(bytes))),
        None => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("html") => "text/html",
        _ => "application/octet-stream",
    };
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
