//! Authentication as pveproxy does it: API tokens (`PVEAPIToken=USER@REALM!ID=SECRET`), tickets from
//! `POST /access/ticket` sent as the `PVEAuthCookie` cookie, and `CSRFPreventionToken` on ticket writes.
//! Every failure maps to the real 401 status line; the reason never says why.

use std::sync::OnceLock;

use base64::Engine;
use hmac::{Hmac, Mac};
use regex::Regex;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

use crate::error::{ApiError, ApiResult};
use crate::state::Auth;

/// Ticket lifetime, seconds.
pub const TICKET_LIFETIME: f64 = 7200.0;

fn token_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^([^\s:/]+)@([A-Za-z][A-Za-z0-9.\-_]+)!([A-Za-z][A-Za-z0-9.\-_]+)$")
            .unwrap_or_else(|_| unreachable!())
    })
}

/// Whether `user@realm!tokenid` is well formed.
pub fn token_id_valid(id: &str) -> bool {
    token_re().is_match(id)
}

/// Who made a request, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// An API token (`user@realm!id`): no CSRF needed.
    Token(String),
    /// A ticket for `user@realm`.
    Ticket(String),
}

/// The signing key of this simulator's tickets and CSRF tokens.
#[derive(Clone)]
pub struct Keys {
    secret: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

impl Keys {
    /// Fresh random keys.
    pub fn random() -> Self {
        Keys {
            secret: rand::random(),
        }
    }

    fn mac(&self, data: &str) -> HmacSha256 {
        // HMAC, not a keyed hash: `sha256(key || data)` would let anyone holding a ticket extend it.
        let mut m = HmacSha256::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(data.as_bytes());
        m
    }

    fn sign(&self, data: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.mac(data).finalize().into_bytes())
    }

    /// Whether `sig` is the signature of `data`, compared in constant time.
    fn signed(&self, data: &str, sig: &str) -> bool {
        let Ok(given) = base64::engine::general_purpose::STANDARD.decode(sig) else {
            return false;
        };
        self.mac(data).verify_slice(&given).is_ok()
    }

    /// `PVE:<user>:<HEX8 time>::<signature>`.
    pub fn ticket(&self, user: &str, now: f64) -> String {
        let plain = format!("PVE:{user}:{:08X}", now as u64);
        format!("{plain}::{}", self.sign(&plain))
    }

    /// `<HEX8 time>:<signature>`.
    pub fn csrf(&self, user: &str, now: f64) -> String {
        let t = format!("{:08X}", now as u64);
        format!("{t}:{}", self.sign(&format!("csrf:{t}:{user}")))
    }

    fn verify_ticket(&self, ticket: &str, now: f64) -> Option<String> {
        let (plain, sig) = ticket.split_once("::")?;
        if !self.signed(plain, sig) {
            return None;
        }
        let rest = plain.strip_prefix("PVE:")?;
        let (user, time) = rest.rsplit_once(':')?;
        let t = u64::from_str_radix(time, 16).ok()? as f64;
        (now - t <= TICKET_LIFETIME && t - now <= 300.0).then(|| user.to_string())
    }

    fn verify_csrf(&self, token: &str, user: &str, now: f64) -> bool {
        let Some((t, sig)) = token.split_once(':') else {
            return false;
        };
        let Ok(time) = u64::from_str_radix(t, 16) else {
            return false;
        };
        self.signed(&format!("csrf:{t}:{user}"), sig) && now - time as f64 <= TICKET_LIFETIME
    }
}

/// The request headers authentication reads.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    /// `Authorization` header.
    pub authorization: Option<String>,
    /// `Cookie` header.
    pub cookie: Option<String>,
    /// `CSRFPreventionToken` header.
    pub csrf: Option<String>,
}

fn unescape(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Authenticate a request; `write` = not a GET.
pub fn authenticate(
    auth: &Auth,
    keys: &Keys,
    creds: &Credentials,
    write: bool,
    now: f64,
) -> ApiResult<Identity> {
    let failed = || ApiError::unauthorized("Authentication failed!");
    if let Some(h) = &creds.authorization {
        let h = h.trim();
        let token = h
            .strip_prefix("PVEAPIToken=")
            .or_else(|| h.strip_prefix("PVEAPIToken "));
        if let Some(value) = token {
            let value = unescape(value);
            let value = value.split(';').next().unwrap_or("");
            let (id, secret) = value.rsplit_once('=').ok_or_else(failed)?;
            if !token_id_valid(id) {
                return Err(failed());
            }
            return match auth.tokens.get(id) {
                Some(s) if bool::from(s.as_bytes().ct_eq(secret.as_bytes())) => {
                    Ok(Identity::Token(id.to_string()))
                }
                _ => Err(failed()),
            };
        }
        if let Some(ticket) = h.strip_prefix("PVEAuthCookie=") {
            return ticket_identity(keys, &unescape(ticket), creds, write, now);
        }
    }
    let cookie = creds.cookie.as_deref().and_then(|c| {
        c.split(';')
            .map(str::trim)
            .find_map(|kv| kv.strip_prefix("PVEAuthCookie="))
            .map(unescape)
    });
    match cookie {
        Some(ticket) => ticket_identity(keys, &ticket, creds, write, now),
        None => Err(ApiError::unauthorized("No ticket")),
    }
}

fn ticket_identity(
    keys: &Keys,
    ticket: &str,
    creds: &Credentials,
    write: bool,
    now: f64,
) -> ApiResult<Identity> {
    let user = keys
        .verify_ticket(ticket, now)
        .ok_or_else(|| ApiError::unauthorized("Authentication failed!"))?;
    if write {
        let ok = creds
            .csrf
            .as_deref()
            .is_some_and(|t| keys.verify_csrf(t, &user, now));
        if !ok {
            return Err(ApiError::unauthorized(
                "Permission denied - invalid csrf token",
            ));
        }
    }
    Ok(Identity::Ticket(user))
}

/// `POST /access/ticket`: check the password and issue a ticket and CSRF token.
pub fn login(
    auth: &Auth,
    keys: &Keys,
    username: &str,
    realm: Option<&str>,
    password: &str,
    now: f64,
) -> ApiResult<serde_json::Value> {
    let user = match (username.contains('@'), realm) {
        (true, _) => username.to_string(),
        (false, Some(r)) => format!("{username}@{r}"),
        (false, None) => username.to_string(),
    };
    match auth.users.get(&user) {
        Some(p) if bool::from(p.as_bytes().ct_eq(password.as_bytes())) => Ok(serde_json::json!({
            "username": user,
            "ticket": keys.ticket(&user, now),
            "CSRFPreventionToken": keys.csrf(&user, now),
            "clustername": "homelab-cluster",
        })),
        _ => Err(ApiError::with_status(401, "authentication failure")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let mut a = Auth::default();
        a.tokens.insert("root@pam!tf".into(), "s3cret".into());
        a.users.insert("root@pam".into(), "pw".into());
        a
    }

    #[test]
    fn token_splits_at_last_equals_and_accepts_space_form() {
        let k = Keys::random();
        for h in [
            "PVEAPIToken=root@pam!tf=s3cret",
            "PVEAPIToken root@pam!tf=s3cret",
        ] {
            let c = Credentials {
                authorization: Some(h.into()),
                ..Default::default()
            };
            assert_eq!(
                authenticate(&auth(), &k, &c, true, 0.0),
                Ok(Identity::Token("root@pam!tf".into()))
            );
        }
        let c = Credentials {
            authorization: Some("PVEAPIToken=root@pam!tf=nope".into()),
            ..Default::default()
        };
        assert_eq!(
            authenticate(&auth(), &k, &c, false, 0.0)
                .unwrap_err()
                .reason(),
            "Authentication failed!"
        );
    }

    #[test]
    fn ticket_writes_need_csrf() {
        let k = Keys::random();
        let login = login(&auth(), &k, "root", Some("pam"), "pw", 1000.0).unwrap();
        let ticket = login["ticket"].as_str().unwrap().to_string();
        let mut c = Credentials {
            cookie: Some(format!("PVEAuthCookie={ticket}")),
            ..Default::default()
        };
        assert!(authenticate(&auth(), &k, &c, false, 1000.0).is_ok());
        assert_eq!(
            authenticate(&auth(), &k, &c, true, 1000.0)
                .unwrap_err()
                .reason(),
            "Permission denied - invalid csrf token"
        );
        c.csrf = login["CSRFPreventionToken"].as_str().map(str::to_string);
        assert!(authenticate(&auth(), &k, &c, true, 1000.0).is_ok());
        assert!(authenticate(&auth(), &k, &c, false, 1000.0 + TICKET_LIFETIME + 1.0).is_err());
    }

    /// HMAC-SHA256 written out from RFC 2104, independent of the `hmac` crate.
    fn rfc2104(key: &[u8], data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        let mut k = [0u8; 64];
        k[..key.len()].copy_from_slice(key);
        let inner: Vec<u8> = k
            .iter()
            .map(|b| b ^ 0x36)
            .chain(data.iter().copied())
            .collect();
        let inner = Sha256::digest(&inner);
        let outer: Vec<u8> = k
            .iter()
            .map(|b| b ^ 0x5c)
            .chain(inner.iter().copied())
            .collect();
        Sha256::digest(&outer).to_vec()
    }

    #[test]
    fn tickets_are_signed_with_hmac_sha256_and_forgeries_fail() {
        let k = Keys { secret: [7u8; 32] };
        let ticket = k.ticket("root@pam", 1000.0);
        let (plain, sig) = ticket.split_once("::").unwrap();
        let want =
            base64::engine::general_purpose::STANDARD.encode(rfc2104(&[7u8; 32], plain.as_bytes()));
        assert_eq!(sig, want);
        assert_eq!(
            k.verify_ticket(&ticket, 1000.0).as_deref(),
            Some("root@pam")
        );
        let forged = ticket.replacen("root@pam", "admin@pam", 1);
        assert_eq!(k.verify_ticket(&forged, 1000.0), None);
        let mut bad_sig = ticket.clone();
        bad_sig.truncate(ticket.len() - 4);
        bad_sig.push_str("AAA=");
        assert_eq!(k.verify_ticket(&bad_sig, 1000.0), None);
        assert_eq!(
            k.verify_ticket(&format!("{plain}::not base64!"), 1000.0),
            None
        );
        let other = Keys { secret: [8u8; 32] };
        assert_eq!(other.verify_ticket(&ticket, 1000.0), None);
    }

    #[test]
    fn no_credentials_is_no_ticket() {
        let e = authenticate(
            &auth(),
            &Keys::random(),
            &Credentials::default(),
            false,
            0.0,
        )
        .unwrap_err();
        assert_eq!((e.status, e.reason()), (401, "No ticket".to_string()));
    }
}
