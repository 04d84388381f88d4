//! The go-plugin side of the server: negotiate the protocol, listen (unix socket in a private directory, or
//! loopback TCP), wrap connections in AutoMTLS, print the handshake line, serve the provider and go-plugin's
//! auxiliary services, and exit cleanly on `GRPCController.Shutdown`, or at once when the process that started
//! it dies. The generated protobuf code lives here, private.

mod aux;
mod convert;
mod provider;
pub mod tls;

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::framework::Provider;

#[allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic
)]
pub(crate) mod proto {
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
    pub mod health {
        tonic::include_proto!("grpc.health.v1");
    }
}

/// The go-plugin magic cookie Terraform sets; without it the binary refuses to serve.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// The cookie's value.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The message printed (then exit 1) when the binary is run by hand.
pub const NOT_A_PROGRAM: &str =
    "This binary is a plugin. These are not meant to be executed directly.\n\
Please execute the program that consumes these plugins, which will\nload any plugins automatically";

/// The plugin protocol version this crate serves.
pub const PROTOCOL_VERSION: u32 = 6;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The client offered no protocol version this server speaks.
    #[error("the client offers plugin protocol versions {offered:?}; this provider speaks only {PROTOCOL_VERSION}")]
    UnsupportedProtocol {
        /// What `PLUGIN_PROTOCOL_VERSIONS` said.
        offered: String,
    },
    /// No listener could be opened.
    #[error("cannot listen: {0}")]
    Listen(#[source] io::Error),
    /// AutoMTLS setup failed.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Where and how to serve, normally read from go-plugin's environment variables.
#[derive(Debug, Clone, Default)]
pub struct ServeConfig {
    /// The provider's source address, e.g. `registry.terraform.io/pveha/pveha` (for `--debug`).
    pub address: String,
    /// `PLUGIN_PROTOCOL_VERSIONS`: versions the client speaks, comma separated.
    pub protocol_versions: Option<String>,
    /// `PLUGIN_CLIENT_CERT`: the client's PEM certificate; set means AutoMTLS.
    pub client_cert_pem: Option<String>,
    /// `PLUGIN_UNIX_SOCKET_DIR`: where to create the socket (else the temp dir).
    pub unix_socket_dir: Option<PathBuf>,
    /// `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT`: the TCP port range, when TCP is used.
    pub port_range: Option<(u16, u16)>,
    /// Listen on loopback TCP instead of a unix socket.
    pub tcp: bool,
}

impl ServeConfig {
    /// Reads go-plugin's environment variables.
    pub fn from_env(address: &str) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let port = |k: &str| var(k).and_then(|v| v.parse::<u16>().ok());
        ServeConfig {
            address: address.to_string(),
            protocol_versions: var("PLUGIN_PROTOCOL_VERSIONS"),
            client_cert_pem: var("PLUGIN_CLIENT_CERT"),
            unix_socket_dir: var("PLUGIN_UNIX_SOCKET_DIR").map(PathBuf::from),
            port_range: port("PLUGIN_MIN_PORT").zip(port("PLUGIN_MAX_PORT")),
            tcp: false,
        }
    }
}

/// The network of the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A unix domain socket.
    Unix,
    /// Loopback TCP.
    Tcp,
}

impl Network {
    fn as_str(self) -> &'static str {
        match self {
            Network::Unix => "unix",
            Network::Tcp => "tcp",
        }
    }
}

/// What the handshake line announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The negotiated app protocol version.
    pub protocol_version: u32,
    /// unix or tcp.
    pub network: Network,
    /// The socket path or `127.0.0.1:port`.
    pub address: String,
    /// The server certificate (DER) when AutoMTLS is on.
    pub server_cert: Option<Vec<u8>>,
}

impl Handshake {
    /// The go-plugin handshake line: `1|6|unix|/path|grpc|CERT` (CERT = base64 std without padding).
    pub fn line(&self) -> String {
        let cert = self
            .server_cert
            .as_deref()
            .map(|c| base64::engine::general_purpose::STANDARD_NO_PAD.encode(c))
            .unwrap_or_default();
        format!(
            "1|{}|{}|{}|grpc|{}",
            self.protocol_version,
            self.network.as_str(),
            self.address,
            cert
        )
    }
}

/// Picks the protocol version from `PLUGIN_PROTOCOL_VERSIONS` (absent: ours).
pub fn negotiate(offered: Option<&str>) -> Result<u32, ServeError> {
    let Some(offered) = offered else {
        return Ok(PROTOCOL_VERSION);
    };
    let speaks = offered
        .split(',')
        .filter_map(|v| v.trim().parse::<u32>().ok())
        .any(|v| v == PROTOCOL_VERSION);
    if speaks {
        Ok(PROTOCOL_VERSION)
    } else {
        Err(ServeError::UnsupportedProtocol {
            offered: offered.to_string(),
        })
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// A server whose listener is open and whose handshake is decided, ready to [`Bound::run`].
pub struct Bound<P: Provider> {
    handshake: Handshake,
    address: String,
    listener: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: provider::ProviderService<P>,
    socket_dir: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
}

/// Opens the listener and prepares AutoMTLS; nothing is served until [`Bound::run`].
pub async fn bind<P: Provider>(provider: P, config: ServeConfig) -> Result<Bound<P>, ServeError> {
    let protocol_version = negotiate(config.protocol_versions.as_deref())?;
    let (tls, server_cert) = match &config.client_cert_pem {
        Some(pem) => {
            let client = tls::parse_pem_cert(pem)?;
            let identity = tls::generate_identity()?;
            let der = identity.cert.as_ref().to_vec();
            let server = tls::server_config(identity, client)?;
            (
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))),
                Some(der),
            )
        }
        None => (None, None),
    };
    let (listener, network, address, socket_dir) = listen(&config).await?;
    let (shutdown, _) = watch::channel(false);
    Ok(Bound {
        handshake: Handshake {
            protocol_version,
            network,
            address,
            server_cert,
        },
        address: config.address,
        listener,
        tls,
        service: provider::ProviderService::new(provider),
        socket_dir,
        shutdown,
    })
}

async fn listen(
    config: &ServeConfig,
) -> Result<(Listener, Network, String, Option<PathBuf>), ServeError> {
    if !config.tcp {
        let base = config
            .unix_socket_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("tfplugin-{:016x}", rand::random::<u64>()));
        // Only this user may reach the socket, whatever the umask (go-plugin's own temp dir is 0700 too).
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                let path = dir.join("plugin.sock");
                match UnixListener::bind(&path) {
                    Ok(l) => {
                        return Ok((
                            Listener::Unix(l),
                            Network::Unix,
                            path.display().to_string(),
                            Some(dir),
                        ))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "unix socket failed; falling back to TCP");
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot create socket directory; falling back to TCP")
            }
        }
    }
    let (min, max) = config.port_range.unwrap_or((0, 0));
    let mut last = io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "no port in PLUGIN_MIN_PORT..PLUGIN_MAX_PORT is free",
    );
    for port in min..=max.max(min) {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => {
                let addr = l.local_addr().map_err(ServeError::Listen)?;
                return Ok((Listener::Tcp(l), Network::Tcp, addr.to_string(), None));
            }
            Err(e) => last = e,
        }
    }
    Err(ServeError::Listen(last))
}

/// Asks a running server to shut down gracefully, as `GRPCController.Shutdown` does.
#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Starts a graceful shutdown.
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

impl<P: Provider> Bound<P> {
    /// What the handshake line announces.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The `TF_REATTACH_PROVIDERS` value for `--debug` (AutoMTLS is not used when reattaching).
    pub fn reattach_json(&self) -> String {
        serde_json::json!({
            self.address.clone(): {
                "Protocol": "grpc",
                "ProtocolVersion": self.handshake.protocol_version,
                "Pid": std::process::id(),
                "Test": true,
                "Addr": { "Network": self.handshake.network.as_str(), "String": self.handshake.address },
            }
        })
        .to_string()
    }

    /// A handle that shuts the server down from outside (e.g. on Ctrl-C in debug mode).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until shut down; removes the socket on the way out.
    pub async fn run(self) -> Result<(), ServeError> {
        use proto::health::health_server::HealthServer;
        use proto::plugin::grpc_broker_server::GrpcBrokerServer;
        use proto::plugin::grpc_controller_server::GrpcControllerServer;
        use proto::plugin::grpc_stdio_server::GrpcStdioServer;
        use proto::tfplugin6::provider_server::ProviderServer;

        let Bound {
            listener,
            tls,
            service,
            socket_dir,
            shutdown,
            ..
        } = self;
        let (tx, rx) = mpsc::channel::<io::Result<Conn>>(16);
        let accept = tokio::spawn(accept_loop(listener, tls, tx, shutdown.subscribe()));

        let mut signal = shutdown.subscribe();
        let stop = async move {
            let _ = signal.wait_for(|v| *v).await;
        };
        let server = tonic::transport::Server::builder()
            .add_service(HealthServer::new(aux::Health))
            .add_service(GrpcControllerServer::new(aux::Controller(shutdown.clone())))
            .add_service(GrpcStdioServer::new(aux::Stdio(shutdown.subscribe())))
            .add_service(GrpcBrokerServer::new(aux::Broker(shutdown.subscribe())))
            .add_service(ProviderServer::new(service).max_decoding_message_size(256 << 20))
            .serve_with_incoming_shutdown(ReceiverStream::new(rx), stop);

        // Clients may hold connections open after Shutdown; give in-flight calls a bounded grace period.
        let mut late = shutdown.subscribe();
        let grace = async move {
            let _ = late.wait_for(|v| *v).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        };
        let result = tokio::select! {
            r = server => r.map_err(ServeError::from),
            () = grace => Ok(()),
            // A SIGKILLed Terraform never sends Shutdown; nobody can receive answers or record state any more,
            // so stop at once rather than finish writes that would be orphaned.
            () = parent_gone() => {
                tracing::warn!("the process that started the provider is gone; stopping");
                let _ = shutdown.send(true);
                Ok(())
            }
        };
        accept.abort();
        if let Some(dir) = socket_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        tracing::debug!("server stopped");
        result
    }
}

/// How often the server checks that the process that started it is still its parent.
const PARENT_POLL: Duration = Duration::from_millis(500);

/// Resolves once this process's parent changes: the process that started the plugin died and the kernel
/// re-parented it (to init or a subreaper).
async fn parent_gone() {
    let parent = std::os::unix::process::parent_id();
    loop {
        tokio::time::sleep(PARENT_POLL).await;
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}

async fn accept_loop(
    listener: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::Sender<io::Result<Conn>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted: io::Result<Conn> = tokio::select! {
            _ = shutdown.wait_for(|v| *v) => return,
            r = async {
                match &listener {
                    Listener::Unix(l) => l.accept().await.map(|(s, _)| Conn(Box::new(s))),
                    Listener::Tcp(l) => l.accept().await.map(|(s, _)| Conn(Box::new(s))),
                }
            } => r,
        };
        let conn = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let tx = tx.clone();
        let tls = tls.clone();
        // The TLS handshake runs off the accept loop so a slow peer cannot stall others.
        tokio::spawn(async move {
            let conn = match tls {
                None => conn,
                Some(acceptor) => match acceptor.accept(conn).await {
                    Ok(s) => Conn(Box::new(s)),
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS handshake refused");
                        return;
                    }
                },
            };
            let _ = tx.send(Ok(conn)).await;
        });
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// One accepted connection, plain or TLS, unix or TCP.
struct Conn(Box<dyn Io>);

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_line_has_go_plugin_fields_and_unpadded_base64() {
        let h = Handshake {
            protocol_version: 6,
            network: Network::Unix,
            address: "/tmp/x/plugin.sock".into(),
            server_cert: Some(vec![1, 2, 3, 4]),
        };
        // 4 bytes in standard base64 are "AQIDBA==": the padding must be gone.
        assert_eq!(h.line(), "1|6|unix|/tmp/x/plugin.sock|grpc|AQIDBA");
        let plain = Handshake {
            server_cert: None,
            network: Network::Tcp,
            address: "127.0.0.1:1234".into(),
            ..h
        };
        assert_eq!(plain.line(), "1|6|tcp|127.0.0.1:1234|grpc|");
    }

    #[test]
    fn negotiation_picks_6_or_refuses() {
        assert_eq!(negotiate(Some("5,6")).unwrap(), 6);
        assert_eq!(negotiate(None).unwrap(), 6);
        assert!(matches!(
            negotiate(Some("4,5")),
            Err(ServeError::UnsupportedProtocol { .. })
        ));
    }
}
