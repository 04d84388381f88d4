//! `pvehatest`: the example provider the protocol and acceptance tests drive through real Terraform
//! (`registry.terraform.io/pveha/pvehatest`). Objects live as JSON files in a store directory.
//! It exercises the framework only; it is never part of the real provider.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{
    async_trait, data_source, resource, ConfigureRequest, Context, CreateRequest, DataSource,
    DeleteRequest, Diagnostics, DynDataSource, DynResource, ImportRequest, Plan, Provider,
    ReadDataRequest, ReadRequest, Resource, UpdateRequest, Value,
};

/// The source address Terraform knows the example provider by.
pub const ADDRESS: &str = "registry.terraform.io/pveha/pvehatest";

/// Provider configuration.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Config {
    /// Directory holding one JSON file per object. Falls back to `PVEHATEST_STORE`.
    pub store_dir: Value<String>,
    /// Prefix of generated IDs; must not contain spaces.
    pub prefix: Value<String>,
    /// A secret that is never shown or logged.
    #[schemars(extend("x-tf-sensitive" = true))]
    pub secret: Value<String>,
}

/// Where objects are stored, made by `configure`.
pub struct Store {
    dir: PathBuf,
    prefix: String,
}

impl Store {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }
}

/// The example provider.
pub struct TestProvider;

fn check_prefix(prefix: &Value<String>, diags: &mut Diagnostics) {
    if prefix.as_str().is_some_and(|p| p.contains(' ')) {
        diags.error_at(
            "prefix",
            "Invalid prefix",
            "The prefix must not contain spaces.",
        );
    }
}

#[async_trait]
impl Provider for TestProvider {
    type Config = Config;
    type Client = Store;

    fn type_name(&self) -> &'static str {
        "pvehatest"
    }

    fn validate(&self, config: &Config, diags: &mut Diagnostics) {
        check_prefix(&config.prefix, diags);
    }

    async fn configure(
        &self,
        req: ConfigureRequest<Config>,
        diags: &mut Diagnostics,
    ) -> Option<Store> {
        check_prefix(&req.config.prefix, diags);
        let dir = match req.config.store_dir {
            Value::Known(d) => Some(d),
            _ => std::env::var("PVEHATEST_STORE")
                .ok()
                .filter(|d| !d.is_empty()),
        };
        let Some(dir) = dir else {
            diags.error_at(
                "store_dir",
                "Missing store directory",
                "Set store_dir or the PVEHATEST_STORE environment variable.",
            );
            return None;
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            diags.error_at(
                "store_dir",
                "Cannot create the store directory",
                format!("{dir}: {e}"),
            );
            return None;
        }
        if diags.has_errors() {
            return None;
        }
        Some(Store {
            dir: PathBuf::from(dir),
            prefix: req.config.prefix.unwrap_or_default(),
        })
    }

    fn resources(&self) -> Vec<Box<dyn DynResource<Store>>> {
        vec![resource(Things)]
    }

    fn data_sources(&self) -> Vec<Box<dyn DynDataSource<Store>>> {
        vec![data_source(Echo)]
    }
}

/// A nested object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Nested {
    /// A string.
    pub a: Value<String>,
    /// A number.
    pub b: Value<f64>,
}

/// A thing, stored as `<store_dir>/<name>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Thing {
    /// The thing's name. Changing it replaces the thing.
    #[schemars(extend("x-tf-required" = true, "x-tf-replace" = true))]
    pub name: Value<String>,
    /// Free text.
    pub value: Value<String>,
    /// Size from 0 to 10. Defaults to `1`.
    #[schemars(extend("x-tf-default" = 1))]
    pub size: Value<f64>,
    /// Tags, in order.
    pub tags: Value<Vec<String>>,
    /// Labels.
    pub labels: Value<BTreeMap<String, String>>,
    /// A secret value.
    #[schemars(extend("x-tf-sensitive" = true))]
    pub secret: Value<String>,
    /// The generated ID: prefix, name and a random suffix.
    #[schemars(extend("x-tf-computed" = true))]
    pub id: Value<String>,
    /// A nested object.
    pub nested: Value<Nested>,
}

fn check_size(thing: &Thing, diags: &mut Diagnostics) {
    if let Value::Known(size) = thing.size {
        if !(0.0..=10.0).contains(&size) {
            diags.error_at(
                "size",
                "Invalid size",
                format!("size must be between 0 and 10, got {size}."),
            );
        }
    }
}

/// The `pvehatest_thing` resource.
pub struct Things;

impl Things {
    fn write(store: &Store, thing: &Thing, diags: &mut Diagnostics) -> bool {
        let Some(name) = thing.name.as_str() else {
            diags.error_at(
                "name",
                "Name unknown",
                "The name must be known at apply time.",
            );
            return false;
        };
        let text = match serde_json::to_string_pretty(thing) {
            Ok(t) => t,
            Err(e) => {
                diags.error("Cannot encode the thing", e.to_string());
                return false;
            }
        };
        if let Err(e) = std::fs::write(store.path(name), text) {
            diags.error(format!("Unable to write thing {name:?}"), e.to_string());
            return false;
        }
        true
    }

    fn load(store: &Store, name: &str, diags: &mut Diagnostics) -> Option<Thing> {
        let text = match std::fs::read_to_string(store.path(name)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                diags.error(format!("Unable to read thing {name:?}"), e.to_string());
                return None;
            }
        };
        match serde_json::from_str(&text) {
            Ok(t) => Some(t),
            Err(e) => {
                diags.error(format!("Unable to parse thing {name:?}"), e.to_string());
                None
            }
        }
    }
}

#[async_trait]
impl Resource for Things {
    type Client = Store;
    type Model = Thing;

    fn type_name(&self) -> &'static str {
        "pvehatest_thing"
    }

    fn validate(&self, config: &Thing, diags: &mut Diagnostics) {
        check_size(config, diags);
    }

    async fn plan(&self, _ctx: &Context<Store>, plan: &mut Plan<Thing>, diags: &mut Diagnostics) {
        check_size(&plan.planned, diags);
    }

    async fn create(
        &self,
        ctx: &Context<Store>,
        req: CreateRequest<Thing>,
        diags: &mut Diagnostics,
    ) -> Option<Thing> {
        let store = ctx.require_client(diags)?;
        let mut thing = req.planned;
        let name = thing.name.as_str()?.to_string();
        thing.id = Value::Known(format!(
            "{}{}-{:08x}",
            store.prefix,
            name,
            rand::random::<u32>()
        ));
        if !Self::write(store, &thing, diags) {
            return None;
        }
        tracing::debug!(name = %name, "pvehatest_thing created");
        Some(thing)
    }

    async fn read(
        &self,
        ctx: &Context<Store>,
        req: ReadRequest<Thing>,
        diags: &mut Diagnostics,
    ) -> Option<Thing> {
        let store = ctx.require_client(diags)?;
        let name = req.current.name.as_str()?;
        Self::load(store, name, diags)
    }

    async fn update(
        &self,
        ctx: &Context<Store>,
        req: UpdateRequest<Thing>,
        diags: &mut Diagnostics,
    ) -> Option<Thing> {
        let store = ctx.require_client(diags)?;
        let mut thing = req.planned;
        thing.id = req.prior.id;
        Self::write(store, &thing, diags).then_some(thing)
    }

    async fn delete(
        &self,
        ctx: &Context<Store>,
        req: DeleteRequest<Thing>,
        diags: &mut Diagnostics,
    ) {
        let Some(store) = ctx.require_client(diags) else {
            return;
        };
        let Some(name) = req.prior.name.as_str() else {
            return;
        };
        match std::fs::remove_file(store.path(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => diags.error(format!("Unable to delete thing {name:?}"), e.to_string()),
        }
    }

    async fn import(
        &self,
        ctx: &Context<Store>,
        req: ImportRequest,
        diags: &mut Diagnostics,
    ) -> Option<Thing> {
        let store = ctx.require_client(diags)?;
        let thing = Self::load(store, &req.id, diags);
        if thing.is_none() && !diags.has_errors() {
            diags.error(
                "Cannot import a missing thing",
                format!("No thing named {:?} exists.", req.id),
            );
        }
        thing
    }
}

/// The `pvehatest_echo` data source's model.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct EchoModel {
    /// Text to echo.
    #[schemars(extend("x-tf-required" = true))]
    pub input: Value<String>,
    /// The input, upper-cased.
    #[schemars(extend("x-tf-computed" = true))]
    pub output: Value<String>,
}

/// The `pvehatest_echo` data source.
pub struct Echo;

#[async_trait]
impl DataSource for Echo {
    type Client = Store;
    type Model = EchoModel;

    fn type_name(&self) -> &'static str {
        "pvehatest_echo"
    }

    async fn read(
        &self,
        _ctx: &Context<Store>,
        req: ReadDataRequest<EchoModel>,
        _diags: &mut Diagnostics,
    ) -> Option<EchoModel> {
        let mut m = req.config;
        m.output = m.input.clone().map(|s| s.to_uppercase());
        Some(m)
    }
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    tfplugin::serve(TestProvider, ADDRESS)
}
