//! The `tfplugin6.Provider` gRPC service: decodes requests with the schemas, calls the framework's
//! dynamic wrappers under `catch_unwind` (a panic becomes an error diagnostic), encodes responses.
//! Values are never logged: they may be sensitive.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, RwLock};

use futures::FutureExt;
use tonic::{Request, Response, Status};

use super::convert::{decode_value, diagnostics, encode_value, path, schema as schema_pb};
use super::proto::tfplugin6 as pb;
use crate::diag::Diagnostics;
use crate::framework::{
    Cancellation, ConfigureRequest, Context, DynDataSource, DynResource, Provider,
};
use crate::schema::Schema;
use crate::value::{from_dynamic, Type};

struct Entry<T: ?Sized> {
    imp: Box<T>,
    schema: Schema,
    ty: Type,
}

/// The provider service state: the provider, its schemas, the configured client and the stop signal.
pub(crate) struct ProviderService<P: Provider> {
    provider: Arc<P>,
    provider_schema: Schema,
    resources: BTreeMap<String, Entry<dyn DynResource<P::Client>>>,
    data_sources: BTreeMap<String, Entry<dyn DynDataSource<P::Client>>>,
    schema_errors: Vec<String>,
    client: RwLock<Option<Arc<P::Client>>>,
    cancel: Mutex<Cancellation>,
}

impl<P: Provider> ProviderService<P> {
    /// Collects the provider's schemas once; schema errors are reported by GetProviderSchema.
    pub(crate) fn new(provider: P) -> Self {
        let mut schema_errors = Vec::new();
        let provider_schema = Schema::of::<P::Config>(0).unwrap_or_else(|e| {
            schema_errors.push(e.to_string());
            Schema {
                version: 0,
                block: Default::default(),
            }
        });
        let mut resources = BTreeMap::new();
        for imp in provider.resources() {
            match imp.schema() {
                Ok(schema) => {
                    let ty = schema.value_type();
                    resources.insert(imp.type_name().to_string(), Entry { imp, schema, ty });
                }
                Err(e) => schema_errors.push(e.to_string()),
            }
        }
        let mut data_sources = BTreeMap::new();
        for imp in provider.data_sources() {
            match imp.schema() {
                Ok(schema) => {
                    let ty = schema.value_type();
                    data_sources.insert(imp.type_name().to_string(), Entry { imp, schema, ty });
                }
                Err(e) => schema_errors.push(e.to_string()),
            }
        }
        ProviderService {
            provider: Arc::new(provider),
            provider_schema,
            resources,
            data_sources,
            schema_errors,
            client: RwLock::new(None),
            cancel: Mutex::new(Cancellation::new()),
        }
    }

    fn context(&self) -> Context<P::Client> {
        let client = self.client.read().map(|c| c.clone()).unwrap_or_default();
        let cancel = self.cancel.lock().map(|c| c.clone()).unwrap_or_default();
        Context::new(client, cancel)
    }

    fn resource(
        &self,
        name: &str,
        diags: &mut Diagnostics,
    ) -> Option<&Entry<dyn DynResource<P::Client>>> {
        let r = self.resources.get(name);
        if r.is_none() {
            diags.error(
                "Unknown resource type",
                format!("This provider has no resource type {name:?}."),
            );
        }
        r
    }

    fn data_source(
        &self,
        name: &str,
        diags: &mut Diagnostics,
    ) -> Option<&Entry<dyn DynDataSource<P::Client>>> {
        let d = self.data_sources.get(name);
        if d.is_none() {
            diags.error(
                "Unknown data source",
                format!("This provider has no data source {name:?}."),
            );
        }
        d
    }

    fn capabilities() -> pb::ServerCapabilities {
        pb::ServerCapabilities {
            plan_destroy: false,
            get_provider_schema_optional: false,
            move_resource_state: false,
        }
    }
}

/// Runs one RPC body; a panic inside becomes an error diagnostic instead of killing the plugin.
async fn guarded<T>(
    rpc: &str,
    diags: &mut Diagnostics,
    body: impl Future<Output = T>,
) -> Option<T> {
    tracing::debug!(rpc, "rpc start");
    match AssertUnwindSafe(body).catch_unwind().await {
        Ok(v) => {
            tracing::debug!(rpc, diagnostics = diags.iter().count(), "rpc done");
            Some(v)
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(rpc, panic = %msg, "provider panicked");
            diags.error(
                "Provider panicked",
                format!("The provider panicked during {rpc}: {msg}. Please report this bug."),
            );
            None
        }
    }
}

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for ProviderService<P> {
    async fn get_metadata(
        &self,
        _r: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(Self::capabilities()),
            diagnostics: Vec::new(),
            data_sources: self
                .data_sources
                .keys()
                .map(|k| pb::get_metadata::DataSourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
            resources: self
                .resources
                .keys()
                .map(|k| pb::get_metadata::ResourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _r: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        let mut diags = Diagnostics::new();
        for e in &self.schema_errors {
            diags.error("Invalid provider schema", e.clone());
        }
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(schema_pb(&self.provider_schema)),
            resource_schemas: self
                .resources
                .iter()
                .map(|(k, e)| (k.clone(), schema_pb(&e.schema)))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(k, e)| (k.clone(), schema_pb(&e.schema)))
                .collect(),
            diagnostics: diagnostics(diags),
            provider_meta: None,
            server_capabilities: Some(Self::capabilities()),
        }))
    }

    async fn get_functions(
        &self,
        _r: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response {
            diagnostics: Vec::new(),
        }))
    }

    async fn validate_provider_config(
        &self,
        r: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let ty = self.provider_schema.value_type();
        if let Some(config) =
            decode_value(r.config.as_ref(), &ty, "provider configuration", &mut diags)
        {
            // A configuration with unknowns in plain fields does not decode; there is nothing known to check.
            let mut d = Diagnostics::new();
            let mut panic = Diagnostics::new();
            if let Ok(m) = from_dynamic::<P::Config>(config) {
                guarded("ValidateProviderConfig", &mut panic, async {
                    self.provider.validate(&m, &mut d)
                })
                .await;
            }
            diags.extend(d);
            diags.extend(panic);
        }
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn validate_resource_config(
        &self,
        r: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        if let Some(e) = self.resource(&r.type_name, &mut diags) {
            if let Some(config) =
                decode_value(r.config.as_ref(), &e.ty, "configuration", &mut diags)
            {
                let mut d = Diagnostics::new();
                let mut panic = Diagnostics::new();
                guarded("ValidateResourceConfig", &mut panic, async {
                    e.imp.validate(&e.schema, config, &mut d)
                })
                .await;
                diags.extend(d);
                diags.extend(panic);
            }
        }
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        r: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        if let Some(e) = self.data_source(&r.type_name, &mut diags) {
            if let Some(config) =
                decode_value(r.config.as_ref(), &e.ty, "configuration", &mut diags)
            {
                let mut d = Diagnostics::new();
                let mut panic = Diagnostics::new();
                guarded("ValidateDataResourceConfig", &mut panic, async {
                    e.imp.validate(&e.schema, config, &mut d)
                })
                .await;
                diags.extend(d);
                diags.extend(panic);
            }
        }
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        r: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut upgraded_state = None;
        if let Some(e) = self.resource(&r.type_name, &mut diags) {
            let raw = r.raw_state.unwrap_or_default();
            if raw.json.is_empty() && !raw.flatmap.is_empty() {
                diags.error(
                    "Unsupported state format",
                    "Legacy flatmap state cannot be upgraded by this provider.",
                );
            } else {
                let ctx = self.context();
                let mut d = Diagnostics::new();
                let mut panic = Diagnostics::new();
                let v = guarded(
                    "UpgradeResourceState",
                    &mut panic,
                    e.imp.upgrade(&ctx, &e.schema, r.version, raw.json, &mut d),
                )
                .await
                .flatten();
                diags.extend(d);
                diags.extend(panic);
                upgraded_state = v.and_then(|v| encode_value(&v, &e.ty, &mut diags));
            }
        }
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state,
            diagnostics: diagnostics(diags),
        }))
    }

    async fn configure_provider(
        &self,
        r: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let ty = self.provider_schema.value_type();
        tracing::info!(terraform_version = %r.terraform_version, "configuring provider");
        if let Some(config) =
            decode_value(r.config.as_ref(), &ty, "provider configuration", &mut diags)
        {
            match from_dynamic::<P::Config>(config) {
                Err(e) => diags.error(
                    "Invalid provider configuration",
                    format!("The configuration could not be decoded: {e}."),
                ),
                Ok(config) => {
                    let req = ConfigureRequest {
                        config,
                        terraform_version: r.terraform_version,
                    };
                    let mut d = Diagnostics::new();
                    let mut panic = Diagnostics::new();
                    let client = guarded(
                        "ConfigureProvider",
                        &mut panic,
                        self.provider.configure(req, &mut d),
                    )
                    .await
                    .flatten();
                    diags.extend(d);
                    diags.extend(panic);
                    if let (Some(c), Ok(mut slot)) = (client, self.client.write()) {
                        *slot = Some(Arc::new(c));
                    }
                }
            }
        }
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: diagnostics(diags),
        }))
    }

    async fn read_resource(
        &self,
        r: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut new_state = r.current_state.clone();
        if let Some(e) = self.resource(&r.type_name, &mut diags) {
            if let Some(current) =
                decode_value(r.current_state.as_ref(), &e.ty, "state", &mut diags)
            {
                let ctx = self.context();
                let mut d = Diagnostics::new();
                let mut panic = Diagnostics::new();
                let v = guarded(
                    "ReadResource",
                    &mut panic,
                    e.imp.read(&ctx, &e.schema, current, &mut d),
                )
                .await;
                diags.extend(d);
                diags.extend(panic);
                if let Some(v) = v {
                    new_state = encode_value(&v, &e.ty, &mut diags).or(new_state);
                }
            }
        }
        Ok(Response::new(pb::read_resource::Response {
            new_state,
            diagnostics: diagnostics(diags),
            private: r.private,
            deferred: None,
        }))
    }

    async fn plan_resource_change(
        &self,
        r: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut planned_state = r.proposed_new_state.clone();
        let mut requires_replace = Vec::new();
        if let Some(e) = self.resource(&r.type_name, &mut diags) {
            let prior = decode_value(r.prior_state.as_ref(), &e.ty, "prior state", &mut diags);
            let proposed = decode_value(
                r.proposed_new_state.as_ref(),
                &e.ty,
                "proposed state",
                &mut diags,
            );
            let config = decode_value(r.config.as_ref(), &e.ty, "configuration", &mut diags);
            if let (Some(prior), Some(proposed), Some(config)) = (prior, proposed, config) {
                let ctx = self.context();
                let mut d = Diagnostics::new();
                let mut panic = Diagnostics::new();
                let planned = guarded(
                    "PlanResourceChange",
                    &mut panic,
                    e.imp.plan(&ctx, &e.schema, prior, proposed, config, &mut d),
                )
                .await;
                diags.extend(d);
                diags.extend(panic);
                if let Some((v, replace)) = planned {
                    planned_state = encode_value(&v, &e.ty, &mut diags).or(planned_state);
                    requires_replace = replace.into_iter().map(path).collect();
                }
            }
        }
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state,
            requires_replace,
            planned_private: r.prior_private,
            diagnostics: diagnostics(diags),
            legacy_type_system: false,
            deferred: None,
        }))
    }

    async fn apply_resource_change(
        &self,
        r: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut new_state = r.prior_state.clone();
        if let Some(e) = self.resource(&r.type_name, &mut diags) {
            let prior = decode_value(r.prior_state.as_ref(), &e.ty, "prior state", &mut diags);
            let planned =
                decode_value(r.planned_state.as_ref(), &e.ty, "planned state", &mut diags);
            if let (Some(prior), Some(planned)) = (prior, planned) {
                let ctx = self.context();
                let mut d = Diagnostics::new();
                let mut panic = Diagnostics::new();
                let v = guarded(
                    "ApplyResourceChange",
                    &mut panic,
                    e.imp.apply(&ctx, &e.schema, prior, planned, &mut d),
                )
                .await;
                diags.extend(d);
                diags.extend(panic);
                if let Some(v) = v {
                    new_state = encode_value(&v, &e.ty, &mut diags).or(new_state);
                }
            }
        }
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state,
            private: r.planned_private,
            diagnostics: diagnostics(diags),
            legacy_type_system: false,
        }))
    }

    async fn import_resource_state(
        &self,
        r: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut imported_resources = Vec::new();
        if let Some(e) = self.resource(&r.type_name, &mut diags) {
            let ctx = self.context();
            let mut d = Diagnostics::new();
            let mut panic = Diagnostics::new();
            let v = guarded(
                "ImportResourceState",
                &mut panic,
                e.imp.import(&ctx, &e.schema, r.id, &mut d),
            )
            .await
            .flatten();
            diags.extend(d);
            diags.extend(panic);
            if let Some(state) = v.and_then(|v| encode_value(&v, &e.ty, &mut diags)) {
                imported_resources.push(pb::import_resource_state::ImportedResource {
                    type_name: r.type_name.clone(),
                    state: Some(state),
                    private: Vec::new(),
                });
            }
        }
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources,
            diagnostics: diagnostics(diags),
            deferred: None,
        }))
    }

    async fn read_data_source(
        &self,
        r: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let r = r.into_inner();
        let mut diags = Diagnostics::new();
        let mut state = None;
        if let Some(e) = self.data_source(&r.type_name, &mut diags) {
            if let Some(config) =
                decode_value(r.config.as_ref(), &e.ty, "configuration", &mut diags)
            {
                let ctx = self.context();
                let mut d = Diagnostics::new();
                let mut panic = Diagnostics::new();
                let v = guarded(
                    "ReadDataSource",
                    &mut panic,
                    e.imp.read(&ctx, &e.schema, config, &mut d),
                )
                .await;
                diags.extend(d);
                diags.extend(panic);
                state = v.and_then(|v| encode_value(&v, &e.ty, &mut diags));
            }
        }
        Ok(Response::new(pb::read_data_source::Response {
            state,
            diagnostics: diagnostics(diags),
            deferred: None,
        }))
    }

    async fn stop_provider(
        &self,
        _r: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!("stop requested: cancelling in-flight work");
        if let Ok(mut c) = self.cancel.lock() {
            c.cancel();
            // Later calls get a fresh signal; Terraform may keep using the provider after a stop.
            *c = Cancellation::new();
        }
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}
