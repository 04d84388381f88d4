//! The `pveha` provider: its configuration (with the environment fallbacks of the most used Proxmox
//! provider, so existing setups work unchanged), the client every resource and data source receives,
//! and the registry of resources and data sources. It holds no resource logic.

use std::sync::Arc;
use std::time::Duration;

use pveha_model::{ClusterResource, GuestKind, HaModel, Sid};
use pveha_pve::connect::{ConnectionSettings, ResolveError, Setting};
use pveha_pve::{Client, ClientConfig, ClientOptions, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{
    async_trait, resource, AttributePath, ConfigureRequest, Diagnostics, DynDataSource,
    DynResource, Provider, Value,
};

use crate::diag;
use crate::resources::ha_settings::HaSettingsResource;
use crate::resources::rule::RuleResource;
use crate::resources::{
    group::GroupResource, guest_startup::GuestStartupResource, resource::HaResourceResource,
};

/// How long the inventory and HA lists are reused within one Terraform command. Every command starts a
/// fresh provider process and every write made through the client invalidates the HA lists, so a long
/// window only ever serves this process's own view; it keeps refresh at a constant number of requests.
const CACHE_TTL: Duration = Duration::from_secs(60);

/// Configuration of the `pveha` provider. Every attribute falls back to an environment variable.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Config {
    /// Proxmox VE API endpoint, e.g. `https://192.168.1.137:8006`. Environment: `PROXMOX_VE_ENDPOINT`.
    pub endpoint: Value<String>,
    /// API token as `USER@REALM!TOKENID=SECRET`. Environment: `PROXMOX_VE_API_TOKEN`. Takes precedence over
    /// `username`/`password`.
    #[schemars(extend("x-tf-sensitive" = true))]
    pub api_token: Value<String>,
    /// User for ticket login, e.g. `root@pam`. Environment: `PROXMOX_VE_USERNAME`.
    pub username: Value<String>,
    /// Password for ticket login. Environment: `PROXMOX_VE_PASSWORD`.
    #[schemars(extend("x-tf-sensitive" = true))]
    pub password: Value<String>,
    /// SHA-256 fingerprint of the server's certificate (`AB:CD:…`, as the web UI shows it); pins that
    /// certificate. Environment: `PROXMOX_VE_TLS_FINGERPRINT`.
    pub tls_fingerprint: Value<String>,
    /// PEM of a private CA to trust, e.g. `file("pve-root-ca.pem")`. Environment: `PROXMOX_VE_CA_CERT`.
    pub ca_cert: Value<String>,
    /// Accept any server certificate. Defaults to `false`; prefer `tls_fingerprint`. Environment:
    /// `PROXMOX_VE_INSECURE`.
    pub insecure: Value<bool>,
    /// Accept a plain `http://` endpoint, which sends the API credentials unencrypted. Defaults to `false`;
    /// only for a loopback test server such as `pveha sim --plain`. Environment: `PROXMOX_VE_ALLOW_INSECURE_HTTP`.
    pub allow_insecure_http: Value<bool>,
}

/// The pveha provider.
pub struct Pveha;

#[async_trait]
impl Provider for Pveha {
    type Config = Config;
    type Client = Pve;

    fn type_name(&self) -> &'static str {
        "pveha"
    }

    async fn configure(
        &self,
        req: ConfigureRequest<Config>,
        diags: &mut Diagnostics,
    ) -> Option<Pve> {
        let settings = settings(&req.config, &|k| std::env::var(k).ok(), diags)?;
        let client = match Client::with_options(
            &settings,
            ClientOptions {
                ha_cache_ttl: CACHE_TTL,
                ..Default::default()
            },
        ) {
            Ok(c) => c,
            Err(e) => {
                diag::config_error(diags, &e);
                return None;
            }
        };
        // One request up front turns a wrong endpoint, certificate or credential into one clear error here
        // instead of one per resource; the version is cached for the PVE 8/9 gates anyway.
        if let Err(e) = client.version().await {
            diag::api_error(
                diags,
                "connect to",
                &format!("the Proxmox VE API at {}", settings.endpoint),
                &e,
                &[],
            );
            return None;
        }
        // The client logs this too, but only a diagnostic reaches a user who does not read TF_LOG output.
        if settings.allow_insecure_http && settings.endpoint.trim_start().starts_with("http://") {
            diags.warning_at(
                "allow_insecure_http",
                "The Proxmox VE API is reached over plain http",
                "allow_insecure_http = true (or PROXMOX_VE_ALLOW_INSECURE_HTTP) sends the API token or password \
                 unencrypted. Use an https:// endpoint for anything but a loopback test server.",
            );
        }
        if settings.insecure && settings.tls_fingerprint.is_none() {
            diags.warning_at(
                "insecure",
                "TLS certificate verification is off",
                "insecure = true (or PROXMOX_VE_INSECURE) accepts any certificate, so whoever sits on the network \
                 path can read the API credentials. Set tls_fingerprint to the certificate's SHA-256 fingerprint, or \
                 ca_cert to the CA that signed it, instead.",
            );
        }
        Some(Pve::new(client))
    }

    fn resources(&self) -> Vec<Box<dyn DynResource<Pve>>> {
        vec![
            resource(HaResourceResource),
            resource(GroupResource),
            resource(RuleResource),
            resource(GuestStartupResource),
            resource(HaSettingsResource),
        ]
    }

    fn data_sources(&self) -> Vec<Box<dyn DynDataSource<Pve>>> {
        vec![
            tfplugin::data_source(crate::data_sources::cluster::ClusterDataSource),
            tfplugin::data_source(crate::data_sources::audit::AuditDataSource),
        ]
    }
}

/// A setting from the configuration (`None` = not set there, so the environment may fill it); `Err(())` when it
/// is unknown (plan time).
fn given<T: Clone>(value: &Value<T>) -> Result<Option<T>, ()> {
    match value {
        Value::Known(v) => Ok(Some(v.clone())),
        Value::Unknown => Err(()),
        Value::Null => Ok(None),
    }
}

/// The provider attribute of a connection setting.
fn attribute(setting: Setting) -> &'static str {
    match setting {
        Setting::Endpoint => "endpoint",
        Setting::ApiToken => "api_token",
        Setting::Username => "username",
        Setting::Password => "password",
        Setting::TlsFingerprint => "tls_fingerprint",
        Setting::CaCert => "ca_cert",
        Setting::Insecure => "insecure",
        Setting::AllowInsecureHttp => "allow_insecure_http",
    }
}

/// Builds the client settings from configuration and environment (`pveha_pve::connect` holds the rules);
/// errors name both attribute and variable.
fn settings(
    config: &Config,
    getenv: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Option<ClientConfig> {
    let gathered = (|| {
        Ok::<_, ()>(ConnectionSettings {
            endpoint: given(&config.endpoint)?,
            api_token: given(&config.api_token)?.map(Secret::new),
            username: given(&config.username)?,
            password: given(&config.password)?.map(Secret::new),
            tls_fingerprint: given(&config.tls_fingerprint)?,
            ca_cert: given(&config.ca_cert)?,
            // An unknown boolean is taken as false: it can only loosen a check, never tighten one.
            insecure: given(&config.insecure).unwrap_or(Some(false)),
            allow_insecure_http: given(&config.allow_insecure_http).unwrap_or(Some(false)),
        })
    })();
    let Ok(gathered) = gathered else {
        diags.error(
            "Provider configuration is not known yet",
            "The pveha provider block depends on values known only after apply. Configure it with values \
             known at plan time (variables, locals or environment variables).",
        );
        return None;
    };
    let resolved = gathered
        .with_env_fallbacks(getenv)
        .and_then(ConnectionSettings::resolve);
    match resolved {
        Ok(settings) => Some(settings),
        Err(e) => {
            resolve_error(diags, &e);
            None
        }
    }
}

/// A resolution problem as a diagnostic at the attribute it concerns.
fn resolve_error(diags: &mut Diagnostics, err: &ResolveError) {
    match err {
        ResolveError::MissingEndpoint => diags.error_at(
            "endpoint",
            "Missing Proxmox VE endpoint",
            "Set endpoint in the provider block or the PROXMOX_VE_ENDPOINT environment variable, \
             e.g. https://192.168.1.137:8006.",
        ),
        ResolveError::MissingPassword => diags.error_at(
            "password",
            "Missing Proxmox VE password",
            "username is set but password is not: set password in the provider block or the \
             PROXMOX_VE_PASSWORD environment variable (or use api_token / PROXMOX_VE_API_TOKEN instead).",
        ),
        ResolveError::MissingCredentials => diags.error_at(
            "api_token",
            "Missing Proxmox VE credentials",
            "Set api_token in the provider block or the PROXMOX_VE_API_TOKEN environment variable \
             (USER@REALM!TOKENID=SECRET), or username and password (PROXMOX_VE_USERNAME and PROXMOX_VE_PASSWORD).",
        ),
        ResolveError::InvalidFlag { setting, value } => diags.error_at(
            attribute(*setting),
            format!("Invalid {}", setting.env()),
            format!("{} is {value:?}; use true or false.", setting.env()),
        ),
        ResolveError::Invalid(e) => diag::config_error(diags, e),
    }
}

/// What `configure` makes: the API client, whose caches (HA lists and the cluster inventory) make
/// plan-time checks of many resources cost one request. Resources and data sources receive it through
/// the context; the accessors below only name the client's calls.
pub struct Pve {
    api: Client,
}

impl Pve {
    /// Wraps a configured client.
    pub fn new(api: Client) -> Pve {
        Pve { api }
    }

    /// The API client.
    pub fn api(&self) -> &Client {
        &self.api
    }

    /// The cluster's HA model (groups on PVE 8, rules on PVE 9), from the cached `/version`.
    pub async fn ha_model(&self) -> pveha_pve::Result<HaModel> {
        self.api.ha_model().await
    }

    /// Every guest (`/cluster/resources?type=vm`), from the client's inventory cache.
    pub async fn guests(&self) -> pveha_pve::Result<Arc<Vec<ClusterResource>>> {
        pveha_pve::cluster::guests(&self.api).await
    }

    /// Forgets the cached inventory, after a change that moves guests.
    pub async fn forget_guests(&self) {
        self.api.invalidate_inventory();
    }

    /// The guest with `vmid`, if the cluster has one.
    pub async fn guest(&self, vmid: u32) -> pveha_pve::Result<Option<ClusterResource>> {
        pveha_pve::cluster::guest(&self.api, vmid).await
    }

    /// The cluster's node names (`/cluster/status`), sorted, from the client's inventory cache.
    pub async fn node_names(&self) -> pveha_pve::Result<Arc<Vec<String>>> {
        pveha_pve::cluster::node_names(&self.api).await
    }
}

/// Checks that `sid` names a guest of the right kind, at plan time, with "did you mean" help; returns the
/// sid when it is valid. Shared by the resources that take sids.
pub async fn check_sid(
    pve: &Pve,
    raw: &str,
    path: AttributePath,
    diags: &mut Diagnostics,
) -> Option<Sid> {
    let parsed: Result<Sid, _> = raw.parse();
    let guests = match pve.guests().await {
        Ok(g) => g,
        Err(e) => {
            diag::api_error(diags, "read", "the cluster's guests", &e, &[]);
            return None;
        }
    };
    let find = |vmid: u32| {
        guests
            .iter()
            .find(|g| g.vmid == Some(u64::from(vmid)) && g.guest_kind().is_some())
    };
    match parsed {
        Err(pveha_model::SidError::BareVmid(vmid)) => {
            let hint = match find(vmid).and_then(ClusterResource::sid) {
                Some(sid) => format!(
                    "Did you mean {sid}? Guest {vmid} is {}.",
                    kind_words(sid.kind)
                ),
                None => format!("No guest with VMID {vmid} exists in the cluster."),
            };
            diags.error_at(
                path,
                "HA resource id needs its type",
                format!("{raw:?} is a bare VMID; write the HA resource id as ct:<vmid> or vm:<vmid>. {hint}"),
            );
            None
        }
        Err(e) => {
            diags.error_at(path, "Invalid HA resource id", format!("{e}."));
            None
        }
        Ok(sid) => {
            match find(sid.vmid) {
                None => {
                    diags.error_at(
                    path,
                    "No such guest",
                    format!("{sid} names guest {}, but no guest with that VMID exists in the cluster.", sid.vmid),
                );
                    None
                }
                Some(g) => match g.guest_kind() {
                    Some(kind) if kind != sid.kind => {
                        let right = Sid::new(kind, sid.vmid);
                        diags.error_at(
                            path,
                            "Wrong guest type in HA resource id",
                            format!(
                                "Guest {} is {}, so its HA resource id is {right}, not {sid}.",
                                sid.vmid,
                                kind_words(kind)
                            ),
                        );
                        None
                    }
                    _ => Some(sid),
                },
            }
        }
    }
}

fn kind_words(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Vm => "a QEMU virtual machine",
        GuestKind::Ct => "an LXC container",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use pveha_pve::Auth;

    fn config() -> Config {
        Config {
            endpoint: Value::Null,
            api_token: Value::Null,
            username: Value::Null,
            password: Value::Null,
            tls_fingerprint: Value::Null,
            ca_cert: Value::Null,
            insecure: Value::Null,
            allow_insecure_http: Value::Null,
        }
    }

    const TOKEN: &str = "root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn attribute_of_only_error(diags: &Diagnostics) -> (String, String) {
        let d: Vec<_> = diags.iter().collect();
        assert_eq!(d.len(), 1, "{d:?}");
        (
            d[0].attribute
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            d[0].detail.clone(),
        )
    }

    #[test]
    fn environment_fills_what_the_block_leaves_unset() {
        let mut diags = Diagnostics::new();
        let vars = env(&[
            ("PROXMOX_VE_ENDPOINT", "https://127.0.0.1:8006"),
            ("PROXMOX_VE_API_TOKEN", TOKEN),
            ("PROXMOX_VE_INSECURE", "true"),
        ]);
        let s = settings(&config(), &vars, &mut diags).expect("settings");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(s.endpoint, "https://127.0.0.1:8006");
        assert!(s.insecure);
        assert!(matches!(s.auth, Auth::Token { .. }));
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        let mut diags = Diagnostics::new();
        let mut vars = vec![
            ("PROXMOX_VE_ENDPOINT", "http://127.0.0.1:8006"),
            ("PROXMOX_VE_API_TOKEN", TOKEN),
        ];
        assert!(settings(&config(), &env(&vars), &mut diags).is_none());
        assert!(diags.has_errors(), "{diags:?}");
        vars.push(("PROXMOX_VE_ALLOW_INSECURE_HTTP", "true"));
        let mut diags = Diagnostics::new();
        let s = settings(&config(), &env(&vars), &mut diags).expect("allowed");
        assert!(s.allow_insecure_http);
    }

    #[test]
    fn the_block_wins_over_the_environment() {
        let mut c = config();
        c.endpoint = Value::Known("https://10.0.0.1:8006".into());
        c.api_token = Value::Known(TOKEN.into());
        let vars = env(&[("PROXMOX_VE_ENDPOINT", "https://127.0.0.1:8006")]);
        let mut diags = Diagnostics::new();
        let s = settings(&c, &vars, &mut diags).expect("settings");
        assert_eq!(s.endpoint, "https://10.0.0.1:8006");
    }

    #[test]
    fn missing_endpoint_names_attribute_and_variable() {
        let mut diags = Diagnostics::new();
        assert!(settings(
            &config(),
            &env(&[("PROXMOX_VE_API_TOKEN", TOKEN)]),
            &mut diags
        )
        .is_none());
        let (attr, detail) = attribute_of_only_error(&diags);
        assert_eq!(attr, "endpoint");
        assert!(detail.contains("PROXMOX_VE_ENDPOINT"), "{detail}");
    }

    #[test]
    fn missing_credentials_name_attributes_and_variables() {
        let mut diags = Diagnostics::new();
        assert!(settings(
            &config(),
            &env(&[("PROXMOX_VE_ENDPOINT", "https://h:8006")]),
            &mut diags
        )
        .is_none());
        let (attr, detail) = attribute_of_only_error(&diags);
        assert_eq!(attr, "api_token");
        assert!(
            detail.contains("PROXMOX_VE_API_TOKEN") && detail.contains("PROXMOX_VE_PASSWORD"),
            "{detail}"
        );

        let mut diags = Diagnostics::new();
        let vars = env(&[
            ("PROXMOX_VE_ENDPOINT", "https://h:8006"),
            ("PROXMOX_VE_USERNAME", "root@pam"),
        ]);
        assert!(settings(&config(), &vars, &mut diags).is_none());
        assert_eq!(attribute_of_only_error(&diags).0, "password");
    }

    #[test]
    fn password_login_is_built_from_username_and_password() {
        let vars = env(&[
            ("PROXMOX_VE_ENDPOINT", "https://h:8006"),
            ("PROXMOX_VE_USERNAME", "root@pam"),
            ("PROXMOX_VE_PASSWORD", "homelab-demo"),
        ]);
        let mut diags = Diagnostics::new();
        let s = settings(&config(), &vars, &mut diags).expect("settings");
        assert!(matches!(s.auth, Auth::Password { ref username, .. } if username == "root@pam"));
    }

    #[test]
    fn a_bad_setting_points_at_its_attribute() {
        let mut c = config();
        c.tls_fingerprint = Value::Known("AB:CD".into());
        let vars = env(&[
            ("PROXMOX_VE_ENDPOINT", "https://h:8006"),
            ("PROXMOX_VE_API_TOKEN", TOKEN),
        ]);
        let mut diags = Diagnostics::new();
        assert!(settings(&c, &vars, &mut diags).is_none());
        assert_eq!(attribute_of_only_error(&diags).0, "tls_fingerprint");
    }

    #[test]
    fn unknown_configuration_is_reported_not_guessed() {
        let mut c = config();
        c.endpoint = Value::Unknown;
        let mut diags = Diagnostics::new();
        assert!(settings(&c, &env(&[]), &mut diags).is_none());
        assert!(diags.has_errors());
    }
}
