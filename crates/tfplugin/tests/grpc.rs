//! In-process integration: the example provider served on a unix socket with AutoMTLS, driven by a
//! tonic client presenting a P-521 certificate, through schema, configure, plan, apply and Shutdown.

#![allow(dead_code, clippy::all)]

use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tfplugin::{Dynamic, ServeConfig, Type};
use tonic::transport::{Channel, Endpoint};

mod pb {
    pub mod tfplugin6 {
        include!(concat!(env!("OUT_DIR"), "/tfplugin6.rs"));
    }
    pub mod plugin {
        include!(concat!(env!("OUT_DIR"), "/plugin.rs"));
    }
    pub mod health {
        include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
    }
}

#[path = "../examples/testprovider.rs"]
mod testprovider;

use pb::tfplugin6 as tf;

/// The test client's side of AutoMTLS: trust exactly the certificate from the handshake line.
#[derive(Debug)]
struct PinnedServer(
    CertificateDer<'static>,
    rustls::crypto::WebPkiSupportedAlgorithms,
);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _i: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        _o: &[u8],
        _n: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        assert_eq!(name.to_str(), "localhost");
        if end_entity.as_ref() == self.0.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "unexpected server certificate".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.1)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.1)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.1.supported_schemes()
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n")
}

async fn connect(
    socket: String,
    server_cert: Vec<u8>,
    client: tfplugin::tls::Identity,
) -> anyhow::Result<Channel> {
    let provider = tfplugin::tls::crypto_provider();
    let verifier = PinnedServer(
        CertificateDer::from(server_cert),
        provider.signature_verification_algorithms,
    );
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(vec![client.cert], client.key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (socket, connector) = (socket.clone(), connector.clone());
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
                let tls = connector.connect(name, stream).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await?;
    Ok(channel)
}

fn dv(v: &Dynamic, ty: &Type) -> anyhow::Result<Option<tf::DynamicValue>> {
    Ok(Some(tf::DynamicValue {
        msgpack: v.to_msgpack(ty)?,
        json: Vec::new(),
    }))
}

fn undv(v: Option<tf::DynamicValue>, ty: &Type) -> anyhow::Result<Dynamic> {
    Ok(Dynamic::from_msgpack(
        &v.ok_or_else(|| anyhow!("no value"))?.msgpack,
        ty,
    )?)
}

/// The object type a client derives from a schema's attributes.
fn block_type(schema: &tf::Schema) -> anyhow::Result<Type> {
    let block = schema.block.as_ref().ok_or_else(|| anyhow!("no block"))?;
    let mut attrs = std::collections::BTreeMap::new();
    for a in &block.attributes {
        attrs.insert(a.name.clone(), Type::from_json(&a.r#type)?);
    }
    Ok(Type::Object(attrs))
}

fn obj(pairs: &[(&str, Dynamic)], ty: &Type) -> anyhow::Result<Dynamic> {
    let m = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Ok(Dynamic::Object(m).conform(ty)?)
}

#[tokio::test]
async fn example_provider_over_automtls_unix_socket() -> anyhow::Result<()> {
    let sockets = tempfile::tempdir()?;
    let store = tempfile::tempdir()?;
    let client_id = tfplugin::tls::generate_identity()?;
    let config = ServeConfig {
        address: testprovider::ADDRESS.into(),
        protocol_versions: Some("5,6".into()),
        client_cert_pem: Some(pem(client_id.cert.as_ref())),
        unix_socket_dir: Some(sockets.path().to_path_buf()),
        ..ServeConfig::default()
    };
    let bound = tfplugin::bind(testprovider::TestProvider, config).await?;
    let line = bound.handshake().line();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields[..3], ["1", "6", "unix"]);
    assert_eq!(fields[4], "grpc");
    assert!(fields[3].starts_with(&sockets.path().display().to_string()));
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(fields[5])
        .context("cert field")?;
    let socket = fields[3].to_string();
    let server = tokio::spawn(bound.run());

    // A client with some other certificate is refused.
    let stranger = tfplugin::tls::generate_identity()?;
    let refused = match connect(socket.clone(), server_cert.clone(), stranger).await {
        Err(_) => true,
        Ok(ch) => {
            let mut h = pb::health::health_client::HealthClient::new(ch);
            h.check(pb::health::HealthCheckRequest {
                service: "plugin".into(),
            })
            .await
            .is_err()
        }
    };
    assert!(
        refused,
        "a client without the announced certificate must be refused"
    );

    let channel = connect(socket.clone(), server_cert, client_id).await?;
    let mut health = pb::health::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(pb::health::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        status.status,
        pb::health::health_check_response::ServingStatus::Serving as i32
    );

    let mut p = tf::provider_client::ProviderClient::new(channel.clone());
    let schema = p
        .get_provider_schema(tf::get_provider_schema::Request {})
        .await?
        .into_inner();
    let thing_schema = schema
        .resource_schemas
        .get("pvehatest_thing")
        .ok_or_else(|| anyhow!("no thing"))?;
    let attrs = &thing_schema
        .block
        .as_ref()
        .ok_or_else(|| anyhow!("no block"))?
        .attributes;
    let id = attrs
        .iter()
        .find(|a| a.name == "id")
        .ok_or_else(|| anyhow!("no id"))?;
    assert!(id.computed && !id.optional && !id.required);
    assert!(attrs.iter().any(|a| a.name == "secret" && a.sensitive));
    assert!(schema.data_source_schemas.contains_key("pvehatest_echo"));

    let provider_ty = block_type(
        schema
            .provider
            .as_ref()
            .ok_or_else(|| anyhow!("no provider schema"))?,
    )?;
    let pconf = obj(
        &[
            (
                "store_dir",
                Dynamic::String(store.path().display().to_string()),
            ),
            ("prefix", Dynamic::String("p-".into())),
        ],
        &provider_ty,
    )?;
    let configured = p
        .configure_provider(tf::configure_provider::Request {
            terraform_version: "1.11.4".into(),
            config: dv(&pconf, &provider_ty)?,
            client_capabilities: None,
        })
        .await?
        .into_inner();
    assert!(
        configured.diagnostics.is_empty(),
        "{:?}",
        configured.diagnostics
    );

    let ty = block_type(thing_schema)?;
    let config = obj(
        &[
            ("name", Dynamic::String("alpha".into())),
            ("value", Dynamic::Unknown),
        ],
        &ty,
    )?;
    let plan = p
        .plan_resource_change(tf::plan_resource_change::Request {
            type_name: "pvehatest_thing".into(),
            prior_state: dv(&Dynamic::Null, &ty)?,
            proposed_new_state: dv(&config, &ty)?,
            config: dv(&config, &ty)?,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(plan.diagnostics.is_empty(), "{:?}", plan.diagnostics);
    let planned = undv(plan.planned_state, &ty)?;
    assert_eq!(
        planned.get("id"),
        Some(&Dynamic::Unknown),
        "computed id is unknown on create"
    );
    assert_eq!(
        planned.get("value"),
        Some(&Dynamic::Unknown),
        "unknown config survives the plan"
    );
    assert_eq!(
        planned.get("size"),
        Some(&Dynamic::Number(tfplugin::Number::Int(1))),
        "default planned"
    );

    let mut final_plan = planned.clone();
    if let Some(v) = final_plan.get_mut("value") {
        *v = Dynamic::String("resolved".into());
    }
    let applied = p
        .apply_resource_change(tf::apply_resource_change::Request {
            type_name: "pvehatest_thing".into(),
            prior_state: dv(&Dynamic::Null, &ty)?,
            planned_state: dv(&final_plan, &ty)?,
            config: dv(&config, &ty)?,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let state = undv(applied.new_state, &ty)?;
    let Some(Dynamic::String(new_id)) = state.get("id") else {
        return Err(anyhow!("id not set: {state:?}"));
    };
    assert!(new_id.starts_with("p-alpha-"), "{new_id}");
    assert_eq!(
        state.get("value"),
        Some(&Dynamic::String("resolved".into()))
    );
    assert!(store.path().join("alpha.json").exists());

    let too_big = obj(
        &[
            ("name", Dynamic::String("b".into())),
            ("size", Dynamic::Number(tfplugin::Number::Int(11))),
        ],
        &ty,
    )?;
    let bad = p
        .validate_resource_config(tf::validate_resource_config::Request {
            type_name: "pvehatest_thing".into(),
            config: dv(&too_big, &ty)?,
            client_capabilities: None,
        })
        .await?
        .into_inner();
    let d = bad
        .diagnostics
        .first()
        .ok_or_else(|| anyhow!("expected a diagnostic"))?;
    assert_eq!(d.severity, tf::diagnostic::Severity::Error as i32);
    let step = d
        .attribute
        .as_ref()
        .and_then(|a| a.steps.first())
        .and_then(|s| s.selector.clone());
    assert_eq!(
        step,
        Some(tf::attribute_path::step::Selector::AttributeName(
            "size".into()
        ))
    );

    let mut controller = pb::plugin::grpc_controller_client::GrpcControllerClient::new(channel);
    controller.shutdown(pb::plugin::Empty {}).await?;
    server.await??;
    assert!(
        !std::path::Path::new(&socket).exists(),
        "socket removed on exit"
    );
    Ok(())
}
