//! Plugin start-up: exec the provider as Terraform does (magic cookie, protocol 6, an AutoMTLS client
//! certificate) and time the go-plugin handshake line on stdout; read the idle peak RSS, then kill it.
//! It speaks no gRPC: the line is what Terraform waits for before anything else.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// go-plugin's magic cookie for Terraform providers (public, fixed by Terraform).
const MAGIC_COOKIE: (&str, &str) = (
    "TF_PLUGIN_MAGIC_COOKIE",
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
);

/// What `runs` start-ups measured.
#[derive(Debug, Clone)]
pub struct Startup {
    /// Exec → handshake line, per run, in milliseconds.
    pub samples_ms: Vec<f64>,
    /// `VmHWM` right after the handshake line, per run, in KiB.
    pub idle_hwm_kib: Vec<u64>,
    /// One handshake line, for the record.
    pub example_line: String,
}

/// Starts the provider `runs` times and measures each start-up.
pub fn measure(provider: &Path, runs: usize) -> Result<Startup> {
    let client_cert = client_cert_pem()?;
    let sockets = tempfile::tempdir().context("creating the plugin socket dir")?;
    let mut out = Startup {
        samples_ms: Vec::new(),
        idle_hwm_kib: Vec::new(),
        example_line: String::new(),
    };
    for _ in 0..runs {
        let (ms, hwm, line) = start_once(provider, &client_cert, sockets.path())?;
        out.samples_ms.push(ms);
        out.idle_hwm_kib.push(hwm);
        out.example_line = line;
    }
    Ok(out)
}

fn start_once(provider: &Path, client_cert: &str, sockets: &Path) -> Result<(f64, u64, String)> {
    let mut cmd = Command::new(provider);
    crate::terraform::scrub_env(&mut cmd);
    cmd.env(MAGIC_COOKIE.0, MAGIC_COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env("PLUGIN_CLIENT_CERT", client_cert)
        .env("PLUGIN_UNIX_SOCKET_DIR", sockets)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", provider.display()))?;
    let Some(stdout) = child.stdout.take() else {
        bail!("the provider's stdout was not captured");
    };
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    let hwm = vm_hwm_kib(child.id());
    let _ = child.kill();
    let status = child.wait();
    read.context("reading the handshake line")?;
    // `CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK-TYPE|NETWORK-ADDR|PROTOCOL|SERVER-CERT`.
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    if fields.len() < 5 || fields[0] != "1" || fields[1] != "6" || fields[4] != "grpc" {
        bail!("not a go-plugin handshake line for protocol 6: {line:?} (exit: {status:?})");
    }
    let hwm = hwm.with_context(|| "reading VmHWM of the provider".to_string())?;
    Ok((elapsed, hwm, line.trim_end().to_string()))
}

/// The process's peak resident set (`VmHWM` in `/proc/<pid>/status`), in KiB.
pub fn vm_hwm_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM line")
}

/// A self-signed P-521 certificate as Terraform announces in `PLUGIN_CLIENT_CERT`.
fn client_cert_pem() -> Result<String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)
        .context("generating a P-521 key")?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .context("certificate params")?;
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyAgreement,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params
        .self_signed(&key)
        .context("signing the client certificate")?;
    Ok(cert.pem())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_cert_is_one_pem_certificate() {
        let pem = client_cert_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1);
    }

    #[test]
    fn vm_hwm_of_this_process_is_positive() {
        assert!(vm_hwm_kib(std::process::id()).unwrap() > 0);
    }
}
