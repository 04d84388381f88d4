//! `pveha sim`: load a snapshot, serve it, print the address (and fingerprint), stop on SIGINT/SIGTERM and
//! optionally write the final state. Problems before serving print one line and exit 2.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use pveha_sim::{SimOptions, TlsMode};

/// Flags of `pveha sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Snapshot file (pveha-snapshot/1 JSON).
    #[arg(long, value_name = "FILE")]
    snapshot: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8006")]
    listen: SocketAddr,
    /// Serve HTTPS (the default).
    #[arg(long, conflicts_with = "plain_http")]
    tls: bool,
    /// Serve plain HTTP.
    #[arg(long)]
    plain_http: bool,
    /// TLS certificate chain (PEM) instead of a generated self-signed one.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        conflicts_with = "plain_http"
    )]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Simulated seconds per wall second (0 = clock moves only through /_sim/advance).
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    time_scale: f64,
    /// Delay every 401 answer by this many milliseconds (the real server waits ~3000).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    auth_failure_delay_ms: u64,
    /// Write the state as a snapshot here on shutdown.
    #[arg(long, value_name = "FILE")]
    state_out: Option<PathBuf>,
}

fn fail(msg: String) -> i32 {
    eprintln!("pveha sim: {msg}");
    2
}

/// Run `pveha sim`; returns the exit code.
pub fn run(args: SimArgs) -> i32 {
    if !args.time_scale.is_finite() || args.time_scale < 0.0 {
        return fail(format!(
            "--time-scale must be a non-negative number, got {}",
            args.time_scale
        ));
    }
    let text = match std::fs::read_to_string(&args.snapshot) {
        Ok(t) => t,
        Err(e) => {
            return fail(format!(
                "cannot read snapshot {}: {e}",
                args.snapshot.display()
            ))
        }
    };
    let sim = match pveha_sim::load_snapshot(&text) {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", args.snapshot.display())),
    };
    let tls = if args.plain_http {
        TlsMode::Plain
    } else if let (Some(c), Some(k)) = (&args.tls_cert, &args.tls_key) {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        match (read(c), read(k)) {
            (Ok(cert_pem), Ok(key_pem)) => TlsMode::Provided { cert_pem, key_pem },
            (Err(e), _) | (_, Err(e)) => return fail(e),
        }
    } else {
        TlsMode::SelfSigned
    };
    let opts = SimOptions {
        tls,
        time_scale: args.time_scale,
        auth_failure_delay: Duration::from_millis(args.auth_failure_delay_ms),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start runtime: {e}")),
    };
    runtime.block_on(serve(sim, args.listen, opts, args.state_out))
}

async fn serve(
    sim: pveha_sim::Simulator,
    listen: SocketAddr,
    opts: SimOptions,
    state_out: Option<PathBuf>,
) -> i32 {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {listen}: {e}")),
    };
    let running = match pveha_sim::start(sim, listener, opts).await {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start: {e}")),
    };
    // Handlers go in before the greeting: a caller may signal as soon as it has read the address.
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot install signal handlers: {e}")),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {}", running.base_url());
    if let Some(fp) = running.fingerprint() {
        let _ = writeln!(out, "fingerprint {fp}");
    }
    let _ = out.flush();
    drop(out);
    signals.wait().await;
    let state = running.snapshot();
    running.shutdown().await;
    if let Some(path) = state_out {
        let text = serde_json::to_string_pretty(&state).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("pveha sim: cannot write state to {}: {e}", path.display());
            return 1;
        }
    }
    0
}

/// SIGINT and SIGTERM, registered up front so that none is missed.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
