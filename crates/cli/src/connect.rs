//! The connection flags `pveha audit` and `pveha snapshot` share, with the provider's environment variables
//! as fallbacks (`PROXMOX_VE_ENDPOINT`, `PROXMOX_VE_API_TOKEN`, …), turned into a `pveha_pve::Client`.
//! Parsing and validation only; the client sends nothing until a command asks it to.

use anyhow::{bail, Context, Result};
use clap::Args;
use pveha_pve::connect::{parse_flag, ConnectionSettings, ResolveError};
use pveha_pve::{Client, ClientConfig, Secret};

/// How to reach a live cluster; every flag falls back to the provider's environment variable.
#[derive(Args, Debug, Default)]
pub struct ConnectArgs {
    /// Proxmox VE API endpoint, e.g. https://192.168.1.137:8006.
    #[arg(long, env = "PROXMOX_VE_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// API token USER@REALM!TOKENID=SECRET (takes precedence over --username/--password).
    #[arg(
        long,
        env = "PROXMOX_VE_API_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// User for ticket login, e.g. root@pam.
    #[arg(long, env = "PROXMOX_VE_USERNAME", value_name = "USER")]
    pub username: Option<String>,
    /// Password for ticket login.
    #[arg(
        long,
        env = "PROXMOX_VE_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// SHA-256 fingerprint of the server certificate (AB:CD:…); pins it.
    #[arg(long, env = "PROXMOX_VE_TLS_FINGERPRINT", value_name = "HEX")]
    pub tls_fingerprint: Option<String>,
    /// A private CA to trust: a PEM file, or the PEM itself (as PROXMOX_VE_CA_CERT holds it for the provider).
    #[arg(long, env = "PROXMOX_VE_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<String>,
    /// Accept any server certificate (prefer --tls-fingerprint).
    #[arg(long, env = "PROXMOX_VE_INSECURE", value_parser = parse_bool, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub insecure: Option<bool>,
    /// Accept a plain http:// endpoint, which sends the credentials unencrypted (loopback test servers only).
    #[arg(long, env = "PROXMOX_VE_ALLOW_INSECURE_HTTP", value_parser = parse_bool, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub allow_insecure_http: Option<bool>,
}

/// The provider's reading of a boolean (`pveha_pve::connect::parse_flag`), as a clap value parser.
fn parse_bool(text: &str) -> Result<bool, String> {
    parse_flag(text).ok_or_else(|| format!("{:?} is not true or false", text.trim()))
}

impl ConnectArgs {
    /// The client settings; errors name both the flag and the environment variable.
    pub fn config(&self) -> Result<ClientConfig> {
        // A --ca-cert that is not PEM text names a file to read.
        let ca_cert = match self.ca_cert.as_deref().map(str::trim) {
            Some(path) if !path.is_empty() && !path.starts_with("-----BEGIN") => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --ca-cert {path}"))?,
            ),
            other => other.map(str::to_string),
        };
        // clap already read the environment variables, so nothing is filled in here.
        let settings = ConnectionSettings {
            endpoint: self.endpoint.clone(),
            api_token: self.api_token.clone().map(Secret::new),
            username: self.username.clone(),
            password: self.password.clone().map(Secret::new),
            tls_fingerprint: self.tls_fingerprint.clone(),
            ca_cert,
            insecure: self.insecure,
            allow_insecure_http: self.allow_insecure_http,
        };
        let config = match settings.resolve() {
            Ok(config) => config,
            Err(ResolveError::MissingEndpoint) => bail!(
                "no cluster given: pass --endpoint (or set PROXMOX_VE_ENDPOINT), or audit a file with --snapshot"
            ),
            Err(ResolveError::MissingPassword) => {
                bail!("--username is set but --password is not (or set PROXMOX_VE_PASSWORD)")
            }
            Err(ResolveError::MissingCredentials) => bail!(
                "no credentials: pass --api-token (PROXMOX_VE_API_TOKEN) or --username and --password \
                 (PROXMOX_VE_USERNAME, PROXMOX_VE_PASSWORD)"
            ),
            Err(e) => bail!("{e}"),
        };
        if config.allow_insecure_http && config.endpoint.trim_start().starts_with("http://") {
            eprintln!("pveha: warning: the endpoint is plain http: the credentials cross the network unencrypted");
        }
        Ok(config)
    }

    /// A client for these settings.
    pub fn client(&self) -> Result<Client> {
        Ok(Client::new(&self.config()?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(endpoint: Option<&str>, token: Option<&str>) -> ConnectArgs {
        ConnectArgs {
            endpoint: endpoint.map(str::to_string),
            api_token: token.map(str::to_string),
            ..ConnectArgs::default()
        }
    }

    #[test]
    fn missing_endpoint_names_the_flag_and_the_variable() {
        let err = args(None, Some("root@pam!t=s"))
            .config()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--endpoint") && err.contains("PROXMOX_VE_ENDPOINT"),
            "{err}"
        );
    }

    #[test]
    fn missing_credentials_name_both_ways_to_log_in() {
        let err = args(Some("https://h:8006"), None)
            .config()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PROXMOX_VE_API_TOKEN") && err.contains("--password"),
            "{err}"
        );
    }

    #[test]
    fn a_token_and_endpoint_make_a_valid_config() {
        let c = args(Some("https://h:8006"), Some("root@pam!terraform=secret"))
            .config()
            .unwrap();
        assert_eq!(c.endpoint, "https://h:8006");
        assert!(!c.insecure);
    }

    #[test]
    fn plain_http_needs_the_flag() {
        let mut a = args(
            Some("http://127.0.0.1:8006"),
            Some("root@pam!terraform=secret"),
        );
        let err = a.config().unwrap_err().to_string();
        assert!(err.contains("allow_insecure_http"), "{err}");
        a.allow_insecure_http = Some(true);
        assert!(a.config().unwrap().allow_insecure_http);
    }

    #[test]
    fn insecure_reads_like_the_provider() {
        assert_eq!(parse_bool("yes"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }
}
