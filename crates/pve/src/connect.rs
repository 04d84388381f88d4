//! Connection settings as a front end gathers them (a provider block, command-line flags), with the
//! `PROXMOX_VE_*` environment variables as fallbacks, resolved into one [`ClientConfig`].
//!
//! The provider and `pveha` share these rules (which variable backs which setting, how a boolean reads, a token
//! before a password); each front end only says a [`ResolveError`] in its own words (attribute or flag).

use std::fmt;

use crate::config::{Auth, ClientConfig};
use crate::error::Error;

/// One connection setting, to name it in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The API endpoint URL.
    Endpoint,
    /// `USER@REALM!TOKENID=SECRET`.
    ApiToken,
    /// The user for ticket login.
    Username,
    /// The password for ticket login.
    Password,
    /// The pinned certificate fingerprint.
    TlsFingerprint,
    /// The PEM of a private CA.
    CaCert,
    /// Accept any certificate.
    Insecure,
    /// Accept a plain `http://` endpoint.
    AllowInsecureHttp,
}

impl Setting {
    /// The environment variable that backs it.
    pub fn env(self) -> &'static str {
        match self {
            Setting::Endpoint => "PROXMOX_VE_ENDPOINT",
            Setting::ApiToken => "PROXMOX_VE_API_TOKEN",
            Setting::Username => "PROXMOX_VE_USERNAME",
            Setting::Password => "PROXMOX_VE_PASSWORD",
            Setting::TlsFingerprint => "PROXMOX_VE_TLS_FINGERPRINT",
            Setting::CaCert => "PROXMOX_VE_CA_CERT",
            Setting::Insecure => "PROXMOX_VE_INSECURE",
            Setting::AllowInsecureHttp => "PROXMOX_VE_ALLOW_INSECURE_HTTP",
        }
    }
}

/// Why settings do not make a client configuration.
#[derive(Debug)]
pub enum ResolveError {
    /// No endpoint at all.
    MissingEndpoint,
    /// A username without a password.
    MissingPassword,
    /// Neither a token nor a username.
    MissingCredentials,
    /// A boolean environment variable that is not true or false.
    InvalidFlag {
        /// Which setting.
        setting: Setting,
        /// What the variable holds (never a secret: only boolean settings get here).
        value: String,
    },
    /// The settings are all there, but one of them is malformed.
    Invalid(Error),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::MissingEndpoint => write!(f, "no Proxmox VE endpoint is set"),
            ResolveError::MissingPassword => write!(f, "a username is set but no password"),
            ResolveError::MissingCredentials => {
                write!(f, "neither an API token nor a username is set")
            }
            ResolveError::InvalidFlag { setting, value } => {
                write!(f, "{} is {value:?}; use true or false", setting.env())
            }
            ResolveError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ResolveError {}

/// Reads a boolean setting as the provider documents it: empty, 0, false, no → false; 1, true, yes → true.
pub fn parse_flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" => Some(false),
        "1" | "true" | "yes" => Some(true),
        _ => None,
    }
}

/// The settings a front end has; `None` means "not given here", to be filled from the environment.
#[derive(Debug, Default, Clone)]
pub struct ConnectionSettings {
    /// API endpoint URL.
    pub endpoint: Option<String>,
    /// API token.
    pub api_token: Option<crate::Secret>,
    /// User for ticket login.
    pub username: Option<String>,
    /// Password for ticket login.
    pub password: Option<crate::Secret>,
    /// Certificate fingerprint to pin.
    pub tls_fingerprint: Option<String>,
    /// PEM of a private CA.
    pub ca_cert: Option<String>,
    /// Accept any certificate.
    pub insecure: Option<bool>,
    /// Accept a plain `http://` endpoint.
    pub allow_insecure_http: Option<bool>,
}

impl ConnectionSettings {
    /// Fills every setting not given from its environment variable, as `getenv` reads them; blank values count
    /// as unset.
    pub fn with_env_fallbacks(
        mut self,
        getenv: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnectionSettings, ResolveError> {
        let text = |s: Setting| getenv(s.env()).filter(|v| !v.trim().is_empty());
        let fill = |slot: &mut Option<String>, s: Setting| {
            if slot.is_none() {
                *slot = text(s);
            }
        };
        fill(&mut self.endpoint, Setting::Endpoint);
        fill(&mut self.username, Setting::Username);
        fill(&mut self.tls_fingerprint, Setting::TlsFingerprint);
        fill(&mut self.ca_cert, Setting::CaCert);
        if self.api_token.is_none() {
            self.api_token = text(Setting::ApiToken).map(crate::Secret::new);
        }
        if self.password.is_none() {
            self.password = text(Setting::Password).map(crate::Secret::new);
        }
        for (slot, s) in [
            (&mut self.insecure, Setting::Insecure),
            (&mut self.allow_insecure_http, Setting::AllowInsecureHttp),
        ] {
            if slot.is_none() {
                if let Some(value) = getenv(s.env()) {
                    *slot = Some(
                        parse_flag(&value)
                            .ok_or(ResolveError::InvalidFlag { setting: s, value })?,
                    );
                }
            }
        }
        Ok(self)
    }

    /// The client configuration: a token wins over a username and password; every value is checked.
    pub fn resolve(self) -> Result<ClientConfig, ResolveError> {
        let present = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let secret = |v: Option<crate::Secret>| v.filter(|s| !s.expose().trim().is_empty());
        let endpoint = present(self.endpoint).ok_or(ResolveError::MissingEndpoint)?;
        let auth = match (
            secret(self.api_token),
            present(self.username),
            secret(self.password),
        ) {
            (Some(token), _, _) => Auth::token(token.expose().trim()),
            (None, Some(user), Some(pass)) => Auth::password(user, pass.expose()),
            (None, Some(_), None) => return Err(ResolveError::MissingPassword),
            (None, None, _) => return Err(ResolveError::MissingCredentials),
        };
        let mut config = ClientConfig::new(endpoint, auth);
        config.tls_fingerprint = present(self.tls_fingerprint);
        config.ca_cert = present(self.ca_cert);
        config.insecure = self.insecure.unwrap_or(false);
        config.allow_insecure_http = self.allow_insecure_http.unwrap_or(false);
        config.validate().map_err(ResolveError::Invalid)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "root@pam!terraform=secret";

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_fills_only_what_is_not_given() {
        let given = ConnectionSettings {
            endpoint: Some("https://a:8006".into()),
            ..Default::default()
        };
        let vars = env(&[
            ("PROXMOX_VE_ENDPOINT", "https://b:8006"),
            ("PROXMOX_VE_API_TOKEN", TOKEN),
            ("PROXMOX_VE_INSECURE", "yes"),
        ]);
        let config = given.with_env_fallbacks(&vars).unwrap().resolve().unwrap();
        assert_eq!(config.endpoint, "https://a:8006");
        assert!(config.insecure);
        assert!(matches!(config.auth, Auth::Token { .. }));
    }

    #[test]
    fn a_token_wins_over_a_password_and_a_lone_username_is_refused() {
        let both = ConnectionSettings {
            endpoint: Some("https://h:8006".into()),
            api_token: Some(crate::Secret::new(TOKEN)),
            username: Some("root@pam".into()),
            password: Some(crate::Secret::new("pw")),
            ..Default::default()
        };
        assert!(matches!(both.resolve().unwrap().auth, Auth::Token { .. }));
        let lone = ConnectionSettings {
            endpoint: Some("https://h:8006".into()),
            username: Some("root@pam".into()),
            ..Default::default()
        };
        assert!(matches!(lone.resolve(), Err(ResolveError::MissingPassword)));
        let none = ConnectionSettings {
            endpoint: Some("https://h:8006".into()),
            ..Default::default()
        };
        assert!(matches!(
            none.resolve(),
            Err(ResolveError::MissingCredentials)
        ));
        assert!(matches!(
            ConnectionSettings::default().resolve(),
            Err(ResolveError::MissingEndpoint)
        ));
    }

    #[test]
    fn a_boolean_variable_that_is_not_one_is_named() {
        let err = ConnectionSettings::default()
            .with_env_fallbacks(&env(&[("PROXMOX_VE_ALLOW_INSECURE_HTTP", "maybe")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("PROXMOX_VE_ALLOW_INSECURE_HTTP"),
            "{err}"
        );
        assert_eq!(parse_flag(" No "), Some(false));
        assert_eq!(parse_flag("1"), Some(true));
    }

    #[test]
    fn malformed_values_are_checked_before_any_request() {
        let bad = ConnectionSettings {
            endpoint: Some("http://h:8006".into()),
            api_token: Some(crate::Secret::new(TOKEN)),
            ..Default::default()
        };
        assert!(matches!(bad.resolve(), Err(ResolveError::Invalid(_))));
    }
}
