//! TLS trust for the API connection: system roots (plus an optional private CA), a pinned leaf
//! certificate, or, only when asked for, no certificate check at all. Handshake signatures are
//! verified in every mode, so a pin cannot be satisfied by someone who merely copied the certificate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::config::{format_fingerprint, Parsed};
use crate::error::{Error, PinMismatch, Result};

/// Builds the rustls configuration the settings ask for.
pub(crate) fn client_config(parsed: &Parsed, insecure: bool) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("tls", format!("no usable TLS version: {e}")))?;

    let config = if let Some(pin) = parsed.fingerprint {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                provider,
                mode: Mode::Pinned(pin),
            }))
            .with_no_client_auth()
    } else if insecure {
        tracing::warn!(
            "TLS certificate verification is off (insecure = true); set ca_cert or tls_fingerprint instead"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                provider,
                mode: Mode::AnyCertificate,
            }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(&parsed.ca_certs)?)
            .with_no_client_auth()
    };
    Ok(config)
}

/// The system's trust anchors plus the configured CA certificates.
fn roots(extra: &[CertificateDer<'static>]) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::debug!(error = %err, "skipping an unreadable system root certificate");
    }
    // Broken system certificates must not stop a connection that does not need them.
    let (_added, _ignored) = store.add_parsable_certificates(native.certs);
    for cert in extra {
        store.add(cert.clone()).map_err(|e| {
            Error::config(
                "ca_cert",
                format!("holds a certificate rustls cannot use as a CA ({e})"),
            )
        })?;
    }
    Ok(store)
}

#[derive(Debug)]
enum Mode {
    /// Accept exactly the leaf certificate with this SHA-256.
    Pinned([u8; 32]),
    /// Accept any certificate (`insecure`).
    AnyCertificate,
}

#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    mode: Mode,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match &self.mode {
            Mode::AnyCertificate => Ok(ServerCertVerified::assertion()),
            Mode::Pinned(pin) => {
                let actual: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
                if actual == *pin {
                    return Ok(ServerCertVerified::assertion());
                }
                let mismatch = PinMismatch {
                    expected: format_fingerprint(pin),
                    actual: format_fingerprint(&actual),
                };
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(mismatch)),
                )))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
