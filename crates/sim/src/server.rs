//! The HTTP(S) front: accepting connections (TLS via rustls or plain), framing requests, authentication,
//! faults, the `domain-ha` lock and rendering answers with the real status lines and headers. Every handler
//! runs under `catch_unwind`, so no request body can take the process down.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api;
use crate::auth::{self, Credentials, Keys};
use crate::control;
use crate::error::ApiError;
use crate::faults::{Counters, FaultKind, Faults};
use crate::ha_manager;
use crate::params::{self, Raw};
use crate::state::Cluster;

/// Maximum request body, as pve-http-server (512 KiB).
const MAX_BODY: usize = 512 * 1024;

/// How long a client may take for the TLS handshake, and for each request's headers, before the connection
/// is closed: a client that connects and sends nothing must not hold a task and a socket for ever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// See `HANDSHAKE_TIMEOUT`.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared by every connection.
pub struct Shared {
    cluster: Mutex<Cluster>,
    ha_lock: tokio::sync::Mutex<()>,
    faults: Mutex<Faults>,
    counters: Mutex<Counters>,
    keys: Keys,
    auth_failure_delay: Duration,
    handshake_timeout: Duration,
    header_read_timeout: Duration,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a handler must not make the simulator unusable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// New shared state.
    pub fn new(cluster: Cluster, auth_failure_delay: Duration) -> Self {
        Shared {
            cluster: Mutex::new(cluster),
            ha_lock: tokio::sync::Mutex::new(()),
            faults: Mutex::new(Faults::default()),
            counters: Mutex::new(Counters::default()),
            keys: Keys::random(),
            auth_failure_delay,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
    /// The same with other connection timeouts (TLS handshake, request headers).
    pub fn with_timeouts(self, handshake: Duration, header_read: Duration) -> Self {
        Shared {
            handshake_timeout: handshake,
            header_read_timeout: header_read,
            ..self
        }
    }
    /// The model.
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        relock(&self.cluster)
    }
    /// The faults.
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        relock(&self.faults)
    }
    /// The counters.
    pub fn counters(&self) -> MutexGuard<'_, Counters> {
        relock(&self.counters)
    }
}

/// The connection must be closed without an answer (the `drop` fault).
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

fn base_response(
    status: u16,
    reason: Option<String>,
    body: Option<Vec<u8>>,
) -> Response<Full<Bytes>> {
    let has_body = body.is_some();
    let mut resp = Response::new(Full::new(Bytes::from(body.unwrap_or_default())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert("server", HeaderValue::from_static("pve-api-daemon/3.0"));
    h.insert("cache-control", HeaderValue::from_static("max-age=0"));
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    if has_body {
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    }
    if let Some(r) = reason {
        if let Ok(rp) = hyper::ext::ReasonPhrase::try_from(r.into_bytes()) {
            resp.extensions_mut().insert(rp);
        }
    }
    resp
}

fn error_response(e: &ApiError) -> Response<Full<Bytes>> {
    let body = e.body().map(|b| b.to_string().into_bytes());
    base_response(e.status, Some(e.reason()), body)
}

fn json_response(status: u16, v: &Value) -> Response<Full<Bytes>> {
    base_response(status, None, Some(v.to_string().into_bytes()))
}

fn parse_pairs(text: &str) -> Vec<(String, Raw)> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), Raw::Text(v.into_owned())))
        .collect()
}

fn parse_body(content_type: &str, body: &[u8]) -> Result<Vec<(String, Raw)>, ApiError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    if content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::with_status(400, format!("failed to parse JSON body - {e}")))?;
        let Value::Object(o) = v else {
            return Err(ApiError::with_status(400, "JSON body must be an object"));
        };
        return Ok(o.into_iter().map(|(k, v)| (k, Raw::Json(v))).collect());
    }
    let text = String::from_utf8_lossy(body);
    Ok(parse_pairs(&text))
}

/// Serve one request. Generic over the body so that tests and fuzzers can call it without a socket.
pub async fn handle<B>(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, DropConnection>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(error_response(&ApiError::with_status(
                413,
                "request too large",
            )))
        }
    };

    if path == "/_sim" || path.starts_with("/_sim/") {
        if !control::is_loopback_peer(&peer) {
            return Ok(json_response(
                403,
                &json!({"error": "control API answers loopback peers only"}),
            ));
        }
        let s = shared.clone();
        let m = method.as_str().to_string();
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| control::handle(&s, &m, &path, &body)));
        let (status, v) = result.unwrap_or((500, json!({"error": "internal error"})));
        return Ok(json_response(status, &v));
    }

    let Some(rest) = path.strip_prefix("/api2/") else {
        return Ok(error_response(&ApiError::with_status(501, "no such uri")));
    };
    let (format, rel) = match rest.split_once('/') {
        Some((f, r)) => (f, format!("/{r}")),
        None => (rest, "/".to_string()),
    };
    if format != "json" {
        return Ok(error_response(&ApiError::with_status(501, "no such uri")));
    }
    let m = method.as_str().to_string();
    shared.counters().count(&m, &rel);
    let _answered = InFlight(&shared);

    if !body.is_empty() && (method == Method::GET || method == Method::DELETE) {
        return Ok(error_response(&ApiError::with_status(
            501,
            format!("Unexpected content for method '{m}'"),
        )));
    }
    match serve_api(&shared, &m, &rel, &query, &headers, &body).await {
        Ok(resp) => Ok(resp),
        Err(Outcome::Drop) => Err(DropConnection),
        Err(Outcome::Error(e)) => {
            if e.status == 401 && !shared.auth_failure_delay.is_zero() {
                tokio::time::sleep(shared.auth_failure_delay).await;
            }
            Ok(error_response(&e))
        }
    }
}

/// Ends a counted request's time in flight however its handler returns.
struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.counters().finish();
    }
}

/// Counts an HA configuration write as in flight (waiting for the HA lock or holding it) until it is
/// answered, however its handler returns.
struct HaWriteInFlight<'a>(&'a Shared);

impl<'a> HaWriteInFlight<'a> {
    fn start(shared: &'a Shared) -> HaWriteInFlight<'a> {
        shared.counters().start_ha_write();
        HaWriteInFlight(shared)
    }
}

impl Drop for HaWriteInFlight<'_> {
    fn drop(&mut self) {
        self.0.counters().finish_ha_write();
    }
}

enum Outcome {
    Drop,
    Error(ApiError),
}

impl From<ApiError> for Outcome {
    fn from(e: ApiError) -> Self {
        Outcome::Error(e)
    }
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn serve_api(
    shared: &Arc<Shared>,
    method: &str,
    rel: &str,
    query: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Response<Full<Bytes>>, Outcome> {
    let content_type = header(headers, "content-type").unwrap_or_default();
    let major = shared.cluster().major;
    let now = shared.cluster().clock.now();

    if rel == "/access/ticket" && method == "POST" {
        let raw = params::merge(&[], parse_pairs(query), parse_body(&content_type, body)?)?;
        let specs = crate::specs::params(major, "POST", "/access/ticket").unwrap_or_default();
        let p = params::validate(&specs, raw)?;
        let c = shared.cluster();
        let cluster_name = c
            .cluster_entry
            .as_ref()
            .and_then(|e| e.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut data = auth::login(
            &c.auth,
            &shared.keys,
            p.str("username").unwrap_or_default(),
            p.str("realm"),
            p.str("password").unwrap_or_default(),
            now,
        )?;
        if let (Some(obj), None) = (data.as_object_mut(), cluster_name.as_ref()) {
            obj.remove("clustername");
        } else if let (Some(obj), Some(name)) = (data.as_object_mut(), cluster_name) {
            obj.insert("clustername".into(), json!(name));
        }
        return Ok(json_response(200, &json!({"data": data})));
    }

    let creds = Credentials {
        authorization: header(headers, "authorization"),
        cookie: header(headers, "cookie"),
        csrf: header(headers, "csrfpreventiontoken"),
    };
    {
        let c = shared.cluster();
        auth::authenticate(&c.auth, &shared.keys, &creds, method != "GET", now)?;
    }

    let (template, path_params) = api::route(major, method, rel)?;
    let raw = params::merge(
        &path_params,
        parse_pairs(query),
        parse_body(&content_type, body)?,
    )?;
    let p = params::validate(&api::specs_for(major, method, template), raw)?;

    let firing = shared.faults().fire(method, rel);
    if matches!(firing.terminal, Some((FaultKind::Drop, _, _))) {
        return Err(Outcome::Drop);
    }
    let ha_write = api::is_ha_write(method, template);
    let _writing = ha_write.then(|| HaWriteInFlight::start(shared));
    let _guard = if ha_write {
        Some(shared.ha_lock.lock().await)
    } else {
        None
    };
    if firing.latency_ms > 0 {
        injected_delay(Duration::from_millis(firing.latency_ms)).await;
    }
    match firing.terminal {
        Some((FaultKind::LockTimeout, _, _)) => {
            let ctx = match api::lock_context(method, template) {
                "" => String::new(),
                c => format!("{c}: "),
            };
            return Err(ApiError::fail(format!(
                "{ctx}cfs-lock 'domain-ha' error: got lock request timeout"
            ))
            .into());
        }
        Some((FaultKind::Unreachable, _, _)) => return Err(ApiError::unreachable().into()),
        Some((FaultKind::Error, status, msg)) => {
            return Err(ApiError::with_status(status, msg).into())
        }
        _ => {}
    }
    let result = {
        let mut c = shared.cluster();
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            ha_manager::catch_up(&mut c);
            api::dispatch(&mut c, method, template, &p)
        }))
    };
    let reply = match result {
        Ok(r) => r?,
        Err(_) => {
            return Err(ApiError::fail(format!(
                "internal error in simulator handling {method} {rel}"
            ))
            .into())
        }
    };
    let mut out = serde_json::Map::new();
    out.insert("data".into(), reply.data);
    if let Some(t) = reply.total {
        out.insert("total".into(), json!(t));
    }
    Ok(json_response(200, &Value::Object(out)))
}

/// Waits `delay` as exactly as the OS sleeps, not to tokio's millisecond timer wheel, which
/// rounds every sleep up and made a 5 ms injected latency hold the HA lock for over 6 ms: the
/// benchmarks' floor is N × the latency asked for.
async fn injected_delay(delay: Duration) {
    if tokio::task::spawn_blocking(move || std::thread::sleep(delay))
        .await
        .is_err()
    {
        tokio::time::sleep(delay).await;
    }
}

/// Accept connections until `shutdown` flips.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        // A reply written in two segments otherwise waits for the client's delayed ACK: a 40 ms
        // stall on a request that costs a millisecond.
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let mut stop = shutdown.clone();
        let (handshake_timeout, header_read_timeout) =
            (shared.handshake_timeout, shared.header_read_timeout);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                handle(shared.clone(), peer, req)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            match tls {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
                    let Ok(Ok(stream)) = handshake.await else {
                        return;
                    };
                    let conn =
                        builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
                }
                None => {
                    let conn =
                        builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
                }
            }
        });
    }
}
