//! Object-safe wrappers over the typed traits, implemented for every `Resource`/`DataSource` by blanket
//! impls. They work on [`Dynamic`] values shaped by the schema, do the generic planning, and decode
//! models only where every field they need is known.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{
    Context, CreateRequest, DataSource, DeleteRequest, ImportRequest, Model, Plan, ReadDataRequest,
    ReadRequest, Resource, UpdateRequest, UpgradeRequest,
};
use crate::diag::{AttributePath, Diagnostics};
use crate::schema::{Attribute, Nesting, Schema, SchemaError};
use crate::value::{from_dynamic, to_dynamic, Dynamic};

/// The object-safe face of a [`Resource`], driven by the gRPC server.
#[async_trait]
pub trait DynResource<C>: Send + Sync {
    /// The full type name.
    fn type_name(&self) -> &str;
    /// The derived schema.
    fn schema(&self) -> Result<Schema, SchemaError>;
    /// Validates a configuration value.
    fn validate(&self, schema: &Schema, config: Dynamic, diags: &mut Diagnostics);
    /// Plans a change; returns the planned state and replace paths.
    async fn plan(
        &self,
        ctx: &Context<C>,
        schema: &Schema,
        prior: Dynamic,
        proposed: Dynamic,
        config: Dynamic,
        diags: &mut Diagnostics,
    ) -> (Dynamic, Vec<AttributePath>);
    /// Applies a planned change (create, update or delete); returns the new state.
    async fn apply(
        &self,
        ctx: &Context<C>,
        schema: &Schema,
        prior: Dynamic,
        planned: Dynamic,
        diags: &mut Diagnostics,
    ) -> Dynamic;
    /// Refreshes a state; null means the object is gone.
    async fn read(
        &self,
        ctx: &Context<C>,
        schema: &Schema,
        current: Dynamic,
        diags: &mut Diagnostics,
    ) -> Dynamic;
    /// Imports by ID.
    async fn import(
        &self,
        ctx: &Context<C>,
        schema: &Schema,
        id: String,
        diags: &mut Diagnostics,
    ) -> Option<Dynamic>;
    /// Upgrades stored JSON state to the current schema.
    async fn upgrade(
        &self,
        ctx: &Context<C>,
        schema: &Schema,
        version: i64,
        raw_json: Vec<u8>,
        diags: &mut Diagnostics,
    ) -> Option<Dynamic>;
}

/// The object-safe face of a [`DataSource`].
#[async_trait]
pub trait DynDataSource<C>: Send + Sync {
    /// The full type name.
    fn type_name(&self) -> &str;
    /// The derived schema.
    fn schema(&self) -> Result<Schema, SchemaError>;
    /// Validates a configuration value.
    fn validate(&self, schema: &Schema, config: Dynamic, diags: &mut Diagnostics);
    /// Reads; with an unknown configuration returns it with computed attributes unknown.
    async fn read(
        &self,
        ctx: &Context<C>,
        schema: &Schema,
        config: Dynamic,
        diags: &mut Diagnostics,
    ) -> Dynamic;
}

/// Decodes a model, reporting failures as an error diagnostic.
fn decode<M: Model>(value: Dynamic, what: &str, diags: &mut Diagnostics) -> Option<M> {
    match from_dynamic(value) {
        Ok(m) => Some(m),
        Err(e) => {
            diags.error(
                format!("Invalid {what}"),
                format!("The {what} could not be decoded: {e}."),
            );
            None
        }
    }
}

/// Decodes a model only when the value is decodable; a value with unknowns in plain fields yields None silently.
fn decode_if_known<M: Model>(value: &Dynamic) -> Option<M> {
    from_dynamic(value.clone()).ok()
}

/// Encodes a model into a value of the schema's type, reporting failures as an error diagnostic.
fn encode<M: Model>(model: &M, schema: &Schema, diags: &mut Diagnostics) -> Option<Dynamic> {
    match to_dynamic(model).and_then(|v| v.conform(&schema.value_type())) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.error(
                "Provider produced an invalid value",
                format!("The provider's model does not fit its schema: {e}."),
            );
            None
        }
    }
}

#[async_trait]
impl<R: Resource> DynResource<R::Client> for R {
    fn type_name(&self) -> &str {
        Resource::type_name(self)
    }

    fn schema(&self) -> Result<Schema, SchemaError> {
        Schema::of::<R::Model>(self.schema_version())
    }

    fn validate(&self, _schema: &Schema, config: Dynamic, diags: &mut Diagnostics) {
        if let Some(m) = decode_if_known::<R::Model>(&config) {
            Resource::validate(self, &m, diags);
        }
    }

    async fn plan(
        &self,
        ctx: &Context<R::Client>,
        schema: &Schema,
        prior: Dynamic,
        proposed: Dynamic,
        config: Dynamic,
        diags: &mut Diagnostics,
    ) -> (Dynamic, Vec<AttributePath>) {
        if proposed.is_null() {
            return (Dynamic::Null, Vec::new());
        }
        let mut planned = proposed;
        let mut replace = Vec::new();
        let prior_obj = if prior.is_null() { None } else { Some(&prior) };
        plan_attributes(
            &schema.block.attributes,
            prior_obj,
            &config,
            &mut planned,
            &AttributePath::default(),
            &mut replace,
        );
        let (Some(config_m), Some(planned_m)) = (
            decode_if_known::<R::Model>(&config),
            decode_if_known::<R::Model>(&planned),
        ) else {
            return (planned, replace);
        };
        let prior_m = match prior_obj {
            Some(p) => match decode::<R::Model>(p.clone(), "prior state", diags) {
                Some(m) => Some(m),
                None => return (planned, replace),
            },
            None => None,
        };
        let mut plan = Plan {
            prior: prior_m,
            config: config_m,
            planned: planned_m,
            requires_replace: replace,
        };
        Resource::plan(self, ctx, &mut plan, diags).await;
        match encode(&plan.planned, schema, diags) {
            Some(v) => (v, plan.requires_replace),
            None => (planned, plan.requires_replace),
        }
    }

    async fn apply(
        &self,
        ctx: &Context<R::Client>,
        schema: &Schema,
        prior: Dynamic,
        planned: Dynamic,
        diags: &mut Diagnostics,
    ) -> Dynamic {
        if planned.is_null() {
            let Some(prior_m) = decode::<R::Model>(prior.clone(), "prior state", diags) else {
                return prior;
            };
            self.delete(ctx, DeleteRequest { prior: prior_m }, diags)
                .await;
            return if diags.has_errors() {
                prior
            } else {
                Dynamic::Null
            };
        }
        let Some(planned_m) = decode::<R::Model>(planned, "planned state", diags) else {
            return prior;
        };
        if prior.is_null() {
            let made = self
                .create(ctx, CreateRequest { planned: planned_m }, diags)
                .await;
            return made
                .and_then(|m| encode(&m, schema, diags))
                .unwrap_or(Dynamic::Null);
        }
        let Some(prior_m) = decode::<R::Model>(prior.clone(), "prior state", diags) else {
            return prior;
        };
        let updated = self
            .update(
                ctx,
                UpdateRequest {
                    prior: prior_m,
                    planned: planned_m,
                },
                diags,
            )
            .await;
        updated
            .and_then(|m| encode(&m, schema, diags))
            .unwrap_or(prior)
    }

    async fn read(
        &self,
        ctx: &Context<R::Client>,
        schema: &Schema,
        current: Dynamic,
        diags: &mut Diagnostics,
    ) -> Dynamic {
        if current.is_null() {
            return current;
        }
        let Some(current_m) = decode::<R::Model>(current.clone(), "state", diags) else {
            return current;
        };
        match Resource::read(self, ctx, ReadRequest { current: current_m }, diags).await {
            Some(m) => encode(&m, schema, diags).unwrap_or(current),
            None if diags.has_errors() => current,
            None => Dynamic::Null,
        }
    }

    async fn import(
        &self,
        ctx: &Context<R::Client>,
        schema: &Schema,
        id: String,
        diags: &mut Diagnostics,
    ) -> Option<Dynamic> {
        let m = Resource::import(self, ctx, ImportRequest { id }, diags).await?;
        encode(&m, schema, diags)
    }

    async fn upgrade(
        &self,
        ctx: &Context<R::Client>,
        schema: &Schema,
        version: i64,
        raw_json: Vec<u8>,
        diags: &mut Diagnostics,
    ) -> Option<Dynamic> {
        if version == schema.version {
            return match Dynamic::from_json_lenient(&raw_json, &schema.value_type()) {
                Ok(v) => Some(v),
                Err(e) => {
                    diags.error(
                        "Invalid stored state",
                        format!("The stored state could not be read: {e}."),
                    );
                    None
                }
            };
        }
        let m = self
            .upgrade_state(ctx, UpgradeRequest { version, raw_json }, diags)
            .await?;
        encode(&m, schema, diags)
    }
}

/// The generic part of planning, per attribute: defaults for null configuration, unknown for computed
/// attributes on create, and replace paths for changed `requires_replace` attributes.
fn plan_attributes(
    attrs: &[Attribute],
    prior: Option<&Dynamic>,
    config: &Dynamic,
    planned: &mut Dynamic,
    path: &AttributePath,
    replace: &mut Vec<AttributePath>,
) {
    let empty = BTreeMap::new();
    let Dynamic::Object(planned_obj) = planned else {
        return;
    };
    let config_obj = match config {
        Dynamic::Object(m) => m,
        _ => &empty,
    };
    for a in attrs {
        let here = path.clone().attr(&a.name);
        let cfg = config_obj.get(&a.name).unwrap_or(&Dynamic::Null);
        let prior_v = prior.and_then(|p| p.get(&a.name));
        let slot = planned_obj.entry(a.name.clone()).or_insert(Dynamic::Null);
        if cfg.is_null() {
            if let Some(default) = &a.default {
                *slot = default.clone();
            } else if a.computed && prior.is_none() {
                *slot = Dynamic::Unknown;
            }
        }
        if let (Some(nested), Dynamic::Object(_)) = (&a.nested, &*slot) {
            if nested.nesting == Nesting::Single {
                let prior_nested = prior_v.filter(|p| !p.is_null());
                plan_attributes(&nested.attributes, prior_nested, cfg, slot, &here, replace);
            }
        }
        if a.requires_replace {
            if let Some(pv) = prior_v {
                if pv != slot {
                    replace.push(here);
                }
            }
        }
    }
}

#[async_trait]
impl<D: DataSource> DynDataSource<D::Client> for D {
    fn type_name(&self) -> &str {
        DataSource::type_name(self)
    }

    fn schema(&self) -> Result<Schema, SchemaError> {
        Schema::of::<D::Model>(0)
    }

    fn validate(&self, _schema: &Schema, config: Dynamic, diags: &mut Diagnostics) {
        if let Some(m) = decode_if_known::<D::Model>(&config) {
            DataSource::validate(self, &m, diags);
        }
    }

    async fn read(
        &self,
        ctx: &Context<D::Client>,
        schema: &Schema,
        config: Dynamic,
        diags: &mut Diagnostics,
    ) -> Dynamic {
        if !config.is_wholly_known() {
            let mut deferred = config;
            if let Dynamic::Object(m) = &mut deferred {
                for a in schema.block.attributes.iter().filter(|a| a.computed) {
                    let slot = m.entry(a.name.clone()).or_insert(Dynamic::Null);
                    if slot.is_null() {
                        *slot = Dynamic::Unknown;
                    }
                }
            }
            return deferred;
        }
        let Some(config_m) = decode::<D::Model>(config, "configuration", diags) else {
            return Dynamic::Null;
        };
        let read = DataSource::read(self, ctx, ReadDataRequest { config: config_m }, diags).await;
        read.and_then(|m| encode(&m, schema, diags))
            .unwrap_or(Dynamic::Null)
    }
}
