//! TLS trust: system roots refuse the self-signed certificate; `ca_cert`, the right fingerprint and
//! `insecure` pass; a wrong fingerprint fails; bad settings fail before any request.

use pveha_pve::{cluster, Client, Error, TransportKind};
use pveha_sim::TlsMode;

use crate::harness::{options, Fixture, Sim};

fn tls_error(err: &Error) -> &str {
    match err {
        Error::Transport {
            kind: TransportKind::Tls,
            message,
        } => message,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_untrusted_certificate_fails_and_says_what_to_set() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    cfg.tls_fingerprint = None;
    let err = cluster::status(&sim.client_for(&cfg)).await.unwrap_err();
    let message = tls_error(&err);
    assert!(
        message.contains("ca_cert") && message.contains("tls_fingerprint"),
        "{message}"
    );
    assert!(
        !err.is_retryable(),
        "a TLS refusal does not go away by retrying"
    );
}

#[tokio::test]
async fn ca_cert_with_the_servers_certificate_passes() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    cfg.tls_fingerprint = None;
    cfg.ca_cert = sim.running.cert_pem();
    cluster::status(&sim.client_for(&cfg)).await.unwrap();
}

#[tokio::test]
async fn a_certificate_signed_by_a_private_ca_passes_with_ca_cert_only() {
    let (ca_pem, cert_pem, key_pem) = private_ca_and_leaf();
    let sim = Sim::start_with(Fixture::Pve8, TlsMode::Provided { cert_pem, key_pem }).await;
    let mut cfg = sim.token_config();
    cfg.tls_fingerprint = None;
    let err = cluster::status(&sim.client_for(&cfg)).await.unwrap_err();
    tls_error(&err);
    cfg.ca_cert = Some(ca_pem);
    cluster::status(&sim.client_for(&cfg)).await.unwrap();
}

#[tokio::test]
async fn the_right_fingerprint_passes_without_any_ca() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    // The web UI shows upper case with colons; users also paste lower case.
    cfg.tls_fingerprint = sim.running.fingerprint().map(|f| f.to_lowercase());
    cluster::status(&sim.client_for(&cfg)).await.unwrap();
}

#[tokio::test]
async fn a_wrong_fingerprint_fails_and_shows_the_real_one() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    cfg.tls_fingerprint = Some(["AB"; 32].join(":"));
    let err = cluster::status(&sim.client_for(&cfg)).await.unwrap_err();
    let message = tls_error(&err);
    let real = sim.running.fingerprint().unwrap();
    assert!(message.contains(&real), "{message}");
}

#[tokio::test]
async fn insecure_passes() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    cfg.tls_fingerprint = None;
    cfg.insecure = true;
    cluster::status(&sim.client_for(&cfg)).await.unwrap();
}

/// Breaks one setting of a good config.
type Breaker = fn(&mut pveha_pve::ClientConfig);

#[tokio::test]
async fn bad_settings_fail_before_any_request() {
    let sim = Sim::start(Fixture::Pve8).await;
    sim.reset_requests().await;
    let cases: [(&str, Breaker); 4] = [
        ("endpoint", |c| c.endpoint = "proxmox:8006".into()),
        ("api_token", |c| {
            c.auth = pveha_pve::Auth::token("root@pam:secret")
        }),
        ("tls_fingerprint", |c| {
            c.tls_fingerprint = Some("AB:CD:EF".into())
        }),
        ("ca_cert", |c| {
            c.ca_cert = Some("/etc/pve/pve-root-ca.pem".into())
        }),
    ];
    for (setting, break_it) in cases {
        let mut cfg = sim.token_config();
        break_it(&mut cfg);
        match Client::with_options(&cfg, options()) {
            Err(Error::InvalidConfig { setting: s, .. }) => assert_eq!(s, setting),
            other => panic!("{setting}: expected InvalidConfig, got {other:?}"),
        }
    }
    assert_eq!(sim.total_requests().await, 0);
}

/// A CA and a leaf for 127.0.0.1 signed by it, as PEM: (ca, leaf, leaf key).
fn private_ca_and_leaf() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "pveha test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}
