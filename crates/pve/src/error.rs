//! The client's one error type and the only place where server answers are classified. Proxmox VE
//! reports most failures as HTTP 500 with a text, so classification matches the real server's
//! exact texts (see pve-api.md §2); nothing outside this file inspects status codes or messages.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;

/// The result type of every client operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong below HTTP: the request may or may not have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be set up (refused, unreachable, DNS): nothing was sent.
    Connect,
    /// The TLS handshake failed, typically an untrusted or unpinned certificate.
    Tls,
    /// The request timed out after it was sent: the server may have acted on it.
    Timeout,
    /// The connection broke while the request or answer was on the wire.
    Broken,
}

/// Every failure of the client, classified so that callers can act on it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A connection setting is invalid; raised before any request.
    #[error("invalid setting {setting}: {problem}")]
    InvalidConfig {
        /// The setting's name (`endpoint`, `api_token`, `tls_fingerprint`, `ca_cert`, ...).
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The object does not exist (the server's 500 `no such resource 'vm:999'` and kin).
    #[error("not found on the server: {message}")]
    NotFound {
        /// The server's text.
        message: String,
    },
    /// The server rejected parameters (400 with an `errors` object, or a bad reference).
    #[error("the server rejected the request: {}; correct these values and try again", render_params(.errors, .message))]
    Validation {
        /// Parameter → message, as the server reported them.
        errors: BTreeMap<String, String>,
        /// The overall message (`Parameter verification failed.`).
        message: String,
    },
    /// Authentication failed (401): wrong, expired or missing credentials.
    #[error("authentication failed ({reason}): check the API token or the username and password")]
    Unauthorized {
        /// The server's reason phrase, e.g. `Authentication failed!`.
        reason: String,
    },
    /// The credentials lack a privilege (403).
    #[error("permission denied ({message}): grant {} to the user, and to the API token too when it has privilege separation", .privilege.as_deref().unwrap_or("the missing privilege"))]
    Forbidden {
        /// The missing privilege, e.g. `Sys.Console`, when the server names it.
        privilege: Option<String>,
        /// The ACL path the privilege is needed on, e.g. `/`.
        acl_path: Option<String>,
        /// The server's text.
        message: String,
    },
    /// A configuration lock could not be taken in time; nothing was changed.
    #[error("the cluster configuration lock was busy ({message}): retry later or lower terraform's -parallelism")]
    LockTimeout {
        /// The server's text.
        message: String,
    },
    /// The cluster has no quorum, so its configuration is read-only.
    #[error("the cluster has no quorum ({message}): bring enough nodes online before changing its configuration")]
    NoQuorum {
        /// The server's text.
        message: String,
    },
    /// The API node could not reach the node the request is for (595).
    #[error("the API could not reach the target node ({status} {reason}): check that the node is online")]
    NodeUnreachable {
        /// 595 (connection setup failed) or another 59x proxy status.
        status: u16,
        /// The reason phrase, e.g. `No route to host`.
        reason: String,
    },
    /// Someone changed the object since it was read (optimistic lock via `digest`).
    #[error("the object was changed by someone else since it was read ({message}): refresh and apply again")]
    DigestMismatch {
        /// The server's text.
        message: String,
    },
    /// The cluster's Proxmox VE version lacks the operation.
    #[error("{operation} is not available on this cluster (Proxmox VE {version}): {hint}")]
    VersionUnsupported {
        /// What was attempted, e.g. `HA groups`.
        operation: String,
        /// The cluster's pve-manager version, or `unknown`.
        version: String,
        /// What to use instead.
        hint: String,
    },
    /// The request did not complete at the HTTP level.
    #[error("could not talk to the Proxmox VE API: {message}")]
    Transport {
        /// Where it failed.
        kind: TransportKind,
        /// Cause and advice.
        message: String,
    },
    /// The server answered with a body the client cannot read.
    #[error("unexpected answer from {path}: {message}; this is a bug in pveha or an unsupported Proxmox VE version")]
    Decode {
        /// The API path.
        path: String,
        /// What did not match.
        message: String,
    },
    /// Any other server error, verbatim.
    #[error("the server answered {status} {reason}: {message}")]
    Other {
        /// HTTP status.
        status: u16,
        /// Reason phrase.
        reason: String,
        /// Full message.
        message: String,
    },
}

fn render_params(errors: &BTreeMap<String, String>, message: &str) -> String {
    if errors.is_empty() {
        return message.trim_end_matches('.').to_string();
    }
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.trim_end().replace('\n', "; ")))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// Whether a read may be retried: transient transport failures, 595, lock timeouts and
    /// transient gateway statuses.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { kind, .. } => *kind != TransportKind::Tls,
            Error::LockTimeout { .. } | Error::NodeUnreachable { .. } => true,
            Error::Other { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }

    /// Whether the object the request named does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether a write certainly did not reach or change the server, so sending it again is safe.
    pub fn write_not_applied(&self) -> bool {
        matches!(
            self,
            Error::LockTimeout { .. }
                | Error::NodeUnreachable { .. }
                | Error::Transport {
                    kind: TransportKind::Connect,
                    ..
                }
        )
    }

    /// Whether a write's outcome is unknown (the server may or may not have applied it), so the
    /// caller must re-read before deciding anything.
    pub fn write_outcome_unknown(&self) -> bool {
        match self {
            Error::Transport { kind, .. } => {
                matches!(kind, TransportKind::Timeout | TransportKind::Broken)
            }
            Error::Other { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }

    /// The server's parameter errors, if this is a validation error.
    pub fn param_errors(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Error::Validation { errors, .. } => Some(errors),
            _ => None,
        }
    }

    /// Builds the error for a setting that fails validation.
    pub(crate) fn config(setting: &'static str, problem: impl Into<String>) -> Error {
        Error::InvalidConfig {
            setting,
            problem: problem.into(),
        }
    }

    /// Builds the error for an operation the cluster's version lacks.
    pub(crate) fn unsupported(operation: &str, version: &str, hint: &str) -> Error {
        Error::VersionUnsupported {
            operation: operation.to_string(),
            version: version.to_string(),
            hint: hint.to_string(),
        }
    }
}

/// Gateway-style statuses that a later attempt may not see (proxies, a restarting pveproxy).
fn is_transient_status(status: u16) -> bool {
    matches!(status, 502..=504 | 596 | 599)
}

/// Hint given whenever a server or the client refuses HA groups on PVE 9.
pub(crate) const GROUPS_ON_PVE9_HINT: &str =
    "PVE 9 replaced HA groups with node-affinity rules: use HA rules";
/// Hint given whenever HA rules are used on PVE 8.
pub(crate) const RULES_ON_PVE8_HINT: &str =
    "HA rules exist from PVE 9 on: use HA groups on PVE 8";

/// Classifies an error answer of the API from its status, reason phrase and body.
pub fn classify(status: u16, reason: &str, body: &[u8]) -> Error {
    let envelope: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let body_message = envelope
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(|m| m.as_str())
        .map(|m| m.trim_end().to_string());
    // The reason phrase is the message's first line; the body (newer servers) has all of it.
    let message = body_message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| reason.trim().to_string());
    let errors = envelope
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_object())
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let text = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                    (k.clone(), text.trim_end().to_string())
                })
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap_or_default();
    let reason = reason.trim().to_string();

    match status {
        400 => Error::Validation { errors, message },
        401 => Error::Unauthorized {
            reason: if reason.is_empty() { message } else { reason },
        },
        403 => forbidden(message),
        595 => Error::NodeUnreachable {
            status,
            reason: if reason.is_empty() { message } else { reason },
        },
        500 => classify_500(message),
        _ => Error::Other {
            status,
            reason,
            message,
        },
    }
}

/// Maps the texts of plain `die`s in handler code (always status 500).
fn classify_500(message: String) -> Error {
    let m = message.as_str();
    if m.contains("got lock request timeout")
        || (m.contains("can't lock file") && m.contains("got timeout"))
    {
        return Error::LockTimeout { message };
    }
    if m.contains("no quorum") {
        return Error::NoQuorum { message };
    }
    if m.contains("detected modified configuration - file changed by other user")
        || m.contains("checksum mismatch (file change by other user?)")
    {
        return Error::DigestMismatch { message };
    }
    if m.contains("ha groups have been migrated to rules") {
        return Error::unsupported("HA groups", "9", GROUPS_ON_PVE9_HINT);
    }
    if m.contains("ha groups have not been migrated yet") {
        return Error::unsupported(
            "Writing HA rules",
            "9",
            "this cluster still has HA groups; they migrate to rules once every node runs PVE 9 and is online",
        );
    }
    if is_not_found_text(m) {
        return Error::NotFound { message };
    }
    if let Some(param) = reference_param(m) {
        return Error::Validation {
            errors: BTreeMap::from([(param.to_string(), message.clone())]),
            message,
        };
    }
    Error::Other {
        status: 500,
        reason: message.lines().next().unwrap_or_default().to_string(),
        message,
    }
}

/// The real "does not exist" texts of the objects the request itself names (not of objects it
/// references, which are validation errors).
fn is_not_found_text(m: &str) -> bool {
    const PATTERNS: &[&str] = &[
        "no such resource '",
        "no such ha group '",
        "no such ha rule '",
        ", not HA managed!",
        "is not HA managed",
        "unable to detect SID from VMID",
        "no such job '",
        "no such VM ('",
    ];
    if PATTERNS.iter().any(|p| m.contains(p)) {
        return true;
    }
    // `HA rule 'r' does not exist`, `Configuration file '...' does not exist`.
    (m.contains("HA rule '") || m.starts_with("Configuration file '"))
        && m.trim_end().ends_with("does not exist")
}

/// Server texts that reject a referenced object, mapped to the parameter that named it.
fn reference_param(m: &str) -> Option<&'static str> {
    if m.starts_with("HA group '") && m.contains("' does not exist") {
        return Some("group");
    }
    if m.contains("does not exist in cluster") || m.contains("- guest with ID") {
        return Some("sid");
    }
    if m.contains("cannot use unmanaged resource(s)") {
        return Some("resources");
    }
    if m.contains("cannot use non-existent node(s)") {
        return Some("nodes");
    }
    None
}

/// Reads `Permission check failed (/, Sys.Console)` into path and privilege.
fn forbidden(message: String) -> Error {
    let inner = message
        .split_once("Permission check failed (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inner, _)| inner);
    let (acl_path, privilege) = match inner.and_then(|i| i.split_once(", ")) {
        Some((path, privs)) if path.starts_with('/') => {
            (Some(path.to_string()), Some(privs.trim().to_string()))
        }
        _ => (None, None),
    };
    Error::Forbidden {
        privilege,
        acl_path,
        message,
    }
}

/// Classifies a reqwest failure, naming TLS problems with what to set.
pub(crate) fn from_reqwest(err: &reqwest::Error) -> Error {
    let detail = chain(err);
    if let Some(tls) = find_rustls(err) {
        return Error::Transport {
            kind: TransportKind::Tls,
            message: tls_advice(tls),
        };
    }
    let kind = if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Broken
    };
    let advice = match kind {
        TransportKind::Connect => "; check the endpoint URL and that the host is reachable",
        TransportKind::Timeout => "; the server did not answer within the timeout",
        _ => "",
    };
    Error::Transport {
        kind,
        message: format!("{detail}{advice}"),
    }
}

fn chain(err: &dyn StdError) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn find_rustls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&'a (dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // I/O errors nest (hyper wraps tokio-rustls' error in another one), and their
        // `source()` skips the wrapped error itself, so descend through `get_ref()`.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            current = Some(inner);
            continue;
        }
        current = e.source();
    }
    None
}

fn tls_advice(err: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "the server's TLS certificate is not trusted ({err}); set ca_cert to the PEM of the CA that signed it, or tls_fingerprint to its SHA-256 fingerprint"
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
            "the server's TLS certificate does not name the endpoint's host ({err}); use the host name in the certificate, or pin it with tls_fingerprint"
        ),
        rustls::Error::InvalidCertificate(C::Other(other)) => format!(
            "the server's TLS certificate was refused: {}",
            other.0
        ),
        _ => format!("TLS handshake failed ({err}); check ca_cert, tls_fingerprint and the endpoint"),
    }
}

/// A fingerprint mismatch, reported through rustls so the handshake fails with this text.
#[derive(Debug)]
pub(crate) struct PinMismatch {
    pub(crate) expected: String,
    pub(crate) actual: String,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "its SHA-256 fingerprint is {} but tls_fingerprint pins {}; check the fingerprint in the Proxmox VE web UI (node → Certificates)",
            self.actual, self.expected
        )
    }
}

impl StdError for PinMismatch {}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(message: &str) -> Vec<u8> {
        serde_json::json!({"data": null, "message": message})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn not_found_from_the_real_500_texts() {
        for text in [
            "no such resource 'vm:999'\n",
            "no such ha group 'g'\n",
            "no such ha rule 'r'\n",
            "update resources config failed: no such resource 'vm:999'\n",
            "cannot delete service 'vm:999', not HA managed!\n",
            "resource 'vm:999' is not HA managed\n",
            "unable to detect SID from VMID - VM/CT 999 does not exist\n",
            "update HA rules failed: HA rule 'r' does not exist\n",
            "Configuration file 'nodes/pve/lxc/999.conf' does not exist\n",
        ] {
            let e = classify(500, text.lines().next().unwrap(), &json(text));
            assert!(e.is_not_found(), "{text:?} → {e:?}");
        }
    }

    #[test]
    fn old_servers_without_a_message_body_classify_from_the_reason() {
        let e = classify(500, "no such resource 'ct:201'", br#"{"data":null}"#);
        assert!(e.is_not_found());
        assert!(e.to_string().contains("ct:201"));
    }

    #[test]
    fn a_missing_referenced_group_is_validation_not_not_found() {
        let e = classify(
            500,
            "HA group 'x' does not exist",
            &json("HA group 'x' does not exist\n"),
        );
        assert!(!e.is_not_found());
        assert_eq!(
            e.param_errors().unwrap()["group"],
            "HA group 'x' does not exist"
        );
    }

    #[test]
    fn validation_keeps_each_parameter_message() {
        let body = br#"{"data":null,"errors":{"nodes":"invalid format - value does not look like a valid ha node\n","state":"value 'x' does not have a value in the enumeration 'started, stopped, enabled, disabled, ignored'"},"message":"Parameter verification failed.\n"}"#;
        let e = classify(400, "Parameter verification failed.", body);
        let errors = e.param_errors().unwrap();
        assert_eq!(
            errors["nodes"],
            "invalid format - value does not look like a valid ha node"
        );
        assert!(e.to_string().contains("state: value 'x'"), "{e}");
        assert!(!e.to_string().ends_with('.'));
    }

    #[test]
    fn auth_failures_keep_the_reason_phrase() {
        for reason in [
            "No ticket",
            "Authentication failed!",
            "Permission denied - invalid csrf token",
            "authentication failure",
        ] {
            let e = classify(401, reason, b"");
            assert_eq!(
                e,
                Error::Unauthorized {
                    reason: reason.into()
                }
            );
        }
    }

    #[test]
    fn forbidden_names_the_missing_privilege() {
        let e = classify(
            403,
            "Permission check failed (/, Sys.Console)",
            &json("Permission check failed (/, Sys.Console)\n"),
        );
        match &e {
            Error::Forbidden {
                privilege,
                acl_path,
                ..
            } => {
                assert_eq!(privilege.as_deref(), Some("Sys.Console"));
                assert_eq!(acl_path.as_deref(), Some("/"));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("grant Sys.Console"));
    }

    #[test]
    fn lock_timeouts_quorum_and_digest() {
        let lock = classify(
            500,
            "create resource failed: cfs-lock 'domain-ha' error: got lock request timeout",
            &json("create resource failed: cfs-lock 'domain-ha' error: got lock request timeout\n"),
        );
        assert!(matches!(lock, Error::LockTimeout { .. }));
        assert!(lock.is_retryable() && lock.write_not_applied());
        let flock = classify(
            500,
            "can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout",
            b"",
        );
        assert!(matches!(flock, Error::LockTimeout { .. }));
        let quorum = classify(500, "cluster not ready - no quorum?", b"");
        assert!(matches!(quorum, Error::NoQuorum { .. }));
        let cfs_quorum = classify(500, "x: cfs-lock 'domain-ha' error: no quorum!", b"");
        assert!(matches!(cfs_quorum, Error::NoQuorum { .. }));
        for text in [
            "update ha group failed: detected modified configuration - file changed by other user? Try again.",
            "checksum mismatch (file change by other user?)",
        ] {
            assert!(matches!(classify(500, text, b""), Error::DigestMismatch { .. }));
        }
    }

    #[test]
    fn unreachable_node_is_595_and_retryable() {
        let e = classify(595, "No route to host", b"");
        assert_eq!(
            e,
            Error::NodeUnreachable {
                status: 595,
                reason: "No route to host".into()
            }
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn groups_on_pve9_carry_the_rules_hint() {
        let e = classify(
            500,
            "cannot index groups: ha groups have been migrated to rules",
            b"",
        );
        assert!(matches!(e, Error::VersionUnsupported { .. }));
        assert!(e.to_string().contains("use HA rules"), "{e}");
    }

    #[test]
    fn other_errors_are_verbatim_and_not_retried() {
        let e = classify(
            500,
            "create ha group failed: ha group ID 'g' already defined",
            b"",
        );
        assert!(matches!(e, Error::Other { status: 500, .. }));
        assert!(!e.is_retryable() && !e.write_not_applied() && !e.write_outcome_unknown());
        let e = classify(501, "Method 'GET /foo' not implemented", b"");
        assert!(e
            .to_string()
            .contains("501 Method 'GET /foo' not implemented"));
        assert!(classify(503, "Service Unavailable", b"").is_retryable());
    }
}
