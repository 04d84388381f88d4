//! Connection settings and their validation. Every check here runs before any request, and each
//! failure names the setting. Secrets live in [`Secret`], which never prints its content.

use std::fmt;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use url::Url;

use crate::error::{Error, Result};

/// A secret string (token secret, password, ticket, CSRF token) whose `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself; call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// An API token, the whole `USER@REALM!TOKENID=SECRET` string.
    Token {
        /// `USER@REALM!TOKENID=SECRET`.
        token: Secret,
    },
    /// A user and password: ticket login, renewed before the ticket's 2-hour expiry.
    Password {
        /// `user@realm`.
        username: String,
        /// The password.
        password: Secret,
    },
}

impl Auth {
    /// Token auth from the full `USER@REALM!TOKENID=SECRET` string.
    pub fn token(token: impl Into<String>) -> Auth {
        Auth::Token {
            token: Secret::new(token),
        }
    }

    /// Ticket auth from a `user@realm` and a password.
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Auth {
        Auth::Password {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

/// Everything needed to connect to one Proxmox VE API endpoint.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://host:8006`; the client appends `/api2/json`.
    pub endpoint: String,
    /// Credentials.
    pub auth: Auth,
    /// PEM of a private CA to trust in addition to the system roots.
    pub ca_cert: Option<String>,
    /// SHA-256 of the server's leaf certificate (`AB:CD:...`, as the web UI shows it); pins it.
    pub tls_fingerprint: Option<String>,
    /// Accept any certificate. Opt-in; logged as a warning.
    pub insecure: bool,
    /// Accept a plain `http://` endpoint, which sends the credentials in clear text. Opt-in (for a
    /// loopback simulator or a TLS-terminating proxy on the same host); logged as a warning.
    pub allow_insecure_http: bool,
    /// Timeout of one HTTP request; also bounds connecting with the TLS handshake, and each read.
    pub timeout: Duration,
}

impl ClientConfig {
    /// Settings with verified TLS and a 30 s request timeout.
    pub fn new(endpoint: impl Into<String>, auth: Auth) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.into(),
            auth,
            ca_cert: None,
            tls_fingerprint: None,
            insecure: false,
            allow_insecure_http: false,
            timeout: Duration::from_secs(30),
        }
    }

    /// Checks every setting, naming the first one that is wrong.
    pub fn validate(&self) -> Result<()> {
        self.parse().map(|_| ())
    }

    /// Checks and parses every setting.
    pub(crate) fn parse(&self) -> Result<Parsed> {
        let base = parse_endpoint(&self.endpoint, self.allow_insecure_http)?;
        let credentials = match &self.auth {
            Auth::Token { token } => parse_token(token.expose())?,
            Auth::Password { username, password } => parse_password(username, password)?,
        };
        let ca_certs = match &self.ca_cert {
            Some(pem) => parse_ca(pem)?,
            None => Vec::new(),
        };
        let fingerprint = match &self.tls_fingerprint {
            Some(f) => Some(parse_fingerprint(f)?),
            None => None,
        };
        if self.timeout.is_zero() {
            return Err(Error::config("timeout", "must be longer than zero"));
        }
        Ok(Parsed {
            base,
            credentials,
            ca_certs,
            fingerprint,
        })
    }
}

/// Validated settings, ready for the transport.
pub(crate) struct Parsed {
    /// `https://host:8006/api2/json`.
    pub(crate) base: Url,
    pub(crate) credentials: Credentials,
    pub(crate) ca_certs: Vec<CertificateDer<'static>>,
    pub(crate) fingerprint: Option<[u8; 32]>,
}

/// Parsed credentials.
pub(crate) enum Credentials {
    /// The header value `PVEAPIToken=USER@REALM!TOKENID=SECRET`.
    Token { header: Secret },
    /// Ticket login material.
    Password { username: String, password: Secret },
}

fn parse_endpoint(raw: &str, allow_http: bool) -> Result<Url> {
    // Error texts show the endpoint without any user:password part, so a pasted secret is not echoed.
    let shown = redact_userinfo(raw.trim());
    let bad = |problem: String| Error::config("endpoint", problem);
    let url = Url::parse(raw.trim()).map_err(|e| {
        bad(format!(
            "'{shown}' is not a URL ({e}); expected https://host:8006"
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(format!(
            "'{shown}' carries a user or password in the URL; give credentials in api_token or username/password, never in the endpoint"
        )));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {
            tracing::warn!(
                "the endpoint is plain http (allow_insecure_http): credentials cross the network unencrypted"
            );
        }
        "http" => {
            return Err(bad(format!(
                "'{shown}' is plain http, which would send the credentials unencrypted; use https://, or set allow_insecure_http (PROXMOX_VE_ALLOW_INSECURE_HTTP) only for a loopback test server"
            )))
        }
        other => {
            return Err(bad(format!(
                "'{shown}' has scheme '{other}'; expected https://host:8006"
            )))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!(
            "'{shown}' has no host; expected https://host:8006"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!(
            "'{shown}' must be only scheme, host and port, e.g. https://host:8006"
        )));
    }
    // Users paste either the bare endpoint or the API root; both mean the same API.
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/api2/json").unwrap_or(path);
    if !path.is_empty() {
        return Err(bad(format!(
            "'{shown}' has the path '{path}'; give only https://host:8006 (the client adds /api2/json)"
        )));
    }
    let mut base = url;
    base.set_path("/api2/json");
    Ok(base)
}

/// `raw` with anything between `scheme://` and the last `@` of the authority replaced by `***`.
/// Works on text, not on a parsed URL, because it must also clean URLs that do not parse.
pub(crate) fn redact_userinfo(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => raw.to_string(),
    }
}

fn is_realm_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

fn parse_token(raw: &str) -> Result<Credentials> {
    let bad = |why: &str| {
        Error::config(
            "api_token",
            format!("{why}; expected USER@REALM!TOKENID=SECRET, e.g. root@pam!terraform=<uuid>"),
        )
    };
    let raw = raw.trim();
    // The server splits at the last '=', so secrets may not contain one, but ids may.
    let (id, secret) = raw
        .rsplit_once('=')
        .ok_or_else(|| bad("the token has no '=' before its secret"))?;
    if secret.is_empty() {
        return Err(bad("the token's secret is empty"));
    }
    let (user_realm, token_id) = id
        .split_once('!')
        .ok_or_else(|| bad("the token id has no '!' between user and token name"))?;
    let (user, realm) = user_realm
        .rsplit_once('@')
        .ok_or_else(|| bad("the token's user has no '@realm'"))?;
    let user_ok =
        !user.is_empty() && !user.contains(|c: char| c.is_whitespace() || c == ':' || c == '/');
    if !user_ok || !is_realm_like(realm) || !is_realm_like(token_id) {
        return Err(bad("the token id is not USER@REALM!TOKENID"));
    }
    if secret.contains(|c: char| c.is_whitespace() || c == ';') {
        return Err(bad("the token's secret contains white space or ';'"));
    }
    Ok(Credentials::Token {
        header: Secret::new(format!("PVEAPIToken={id}={secret}")),
    })
}

fn parse_password(username: &str, password: &Secret) -> Result<Credentials> {
    let Some((user, realm)) = username.rsplit_once('@') else {
        return Err(Error::config(
            "username",
            format!("'{username}' has no realm; expected user@realm, e.g. root@pam"),
        ));
    };
    if user.is_empty() || !is_realm_like(realm) || username.len() > 64 {
        return Err(Error::config(
            "username",
            format!("'{username}' is not user@realm, e.g. root@pam"),
        ));
    }
    if password.expose().is_empty() {
        return Err(Error::config("password", "is empty"));
    }
    Ok(Credentials::Password {
        username: username.to_string(),
        password: password.clone(),
    })
}

fn parse_ca(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |why: String| Error::config("ca_cert", why);
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        certs.push(item.map_err(|e| bad(format!("is not valid PEM ({e})")))?);
    }
    if certs.is_empty() {
        return Err(bad(
            "contains no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA's PEM text, not a path or DER".into(),
        ));
    }
    Ok(certs)
}

/// Parses `AB:CD:...` (or without colons, any case) into the 32 bytes of a SHA-256.
pub(crate) fn parse_fingerprint(raw: &str) -> Result<[u8; 32]> {
    let hex_digits: String = raw.trim().chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&hex_digits).ok().filter(|b| b.len() == 32);
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            Error::config(
                "tls_fingerprint",
                format!(
                    "'{raw}' is not a SHA-256 fingerprint: expected 32 hex bytes, e.g. AB:CD:...:EF as the web UI shows"
                ),
            )
        })
}

/// Renders 32 bytes as the web UI shows a fingerprint.
pub(crate) fn format_fingerprint(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

    fn setting_of(cfg: &ClientConfig) -> &'static str {
        match cfg.validate() {
            Err(Error::InvalidConfig { setting, .. }) => setting,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_config_validates() {
        let cfg = ClientConfig::new("https://pve.example:8006", Auth::token(TOKEN));
        let parsed = cfg.parse().unwrap();
        assert_eq!(parsed.base.as_str(), "https://pve.example:8006/api2/json");
        let cfg = ClientConfig::new(
            "https://10.0.0.1:8006/api2/json/",
            Auth::password("root@pam", "pw"),
        );
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn bad_endpoints_name_the_setting() {
        for bad in [
            "pve:8006",
            "not a url",
            "ftp://pve:8006",
            "https://pve:8006/foo",
            "http://pve:8006",
        ] {
            let cfg = ClientConfig::new(bad, Auth::token(TOKEN));
            assert_eq!(setting_of(&cfg), "endpoint", "{bad}");
        }
    }

    #[test]
    fn plain_http_needs_the_explicit_opt_in() {
        let mut cfg = ClientConfig::new("http://127.0.0.1:8006", Auth::token(TOKEN));
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("allow_insecure_http"), "{err}");
        cfg.allow_insecure_http = true;
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn userinfo_in_the_endpoint_is_refused_and_never_echoed() {
        for bad in [
            "https://:hunter2@pve:8006",
            "https://root:hunter2@pve:8006",
            "https://root@pve:8006",
            "https://root:hunter2@pve:8006/odd path",
            "https://root:hunter2@",
        ] {
            let err = ClientConfig::new(bad, Auth::token(TOKEN))
                .validate()
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidConfig {
                        setting: "endpoint",
                        ..
                    }
                ),
                "{bad}"
            );
            assert!(!err.to_string().contains("hunter2"), "{bad}: {err}");
        }
        assert_eq!(
            redact_userinfo("https://u:p@h:1/x@y"),
            "https://***@h:1/x@y"
        );
        assert_eq!(redact_userinfo("https://h:1"), "https://h:1");
    }

    #[test]
    fn bad_tokens_name_the_setting_and_hide_the_secret() {
        for bad in [
            "root@pam!terraform",
            "root@pam=secret",
            "root!terraform=secret",
            "root@pam!t=",
            "root@p!terraform=secret",
        ] {
            let cfg = ClientConfig::new("https://pve:8006", Auth::token(bad));
            assert_eq!(setting_of(&cfg), "api_token", "{bad}");
        }
        let err = ClientConfig::new("https://pve:8006", Auth::token("root@pam=topsecret"))
            .validate()
            .unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }

    #[test]
    fn fingerprints_need_32_hex_bytes() {
        let good = ["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&good).unwrap(), [0xAB; 32]);
        assert_eq!(
            parse_fingerprint(&good.to_lowercase().replace(':', "")).unwrap(),
            [0xAB; 32]
        );
        for bad in ["AB:CD", &["ZZ"; 32].join(":"), &["AB"; 33].join(":")] {
            let mut cfg = ClientConfig::new("https://pve:8006", Auth::token(TOKEN));
            cfg.tls_fingerprint = Some(bad.to_string());
            assert_eq!(setting_of(&cfg), "tls_fingerprint");
        }
        assert_eq!(format_fingerprint(&[0xAB, 0x01]), "AB:01");
    }

    #[test]
    fn ca_cert_must_be_pem() {
        let mut cfg = ClientConfig::new("https://pve:8006", Auth::token(TOKEN));
        cfg.ca_cert = Some("/etc/pve/pve-root-ca.pem".into());
        assert_eq!(setting_of(&cfg), "ca_cert");
        cfg.ca_cert = Some("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".into());
        assert_eq!(setting_of(&cfg), "ca_cert");
    }

    #[test]
    fn secrets_never_print() {
        let auth = Auth::password("root@pam", "hunter2");
        assert!(!format!("{auth:?}").contains("hunter2"));
        let cfg = ClientConfig::new("https://pve:8006", Auth::token(TOKEN));
        assert!(!format!("{cfg:?}").contains("3f1e9c2a"));
        assert_eq!(Secret::new("x").to_string(), "***");
    }
}
