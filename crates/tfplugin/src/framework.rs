//! The provider framework: the typed `Provider`, `Resource` and `DataSource` traits a provider implements,
//! their request structs, the per-call [`Context`], and the object-safe wrappers the server drives.
//! Nothing here knows about gRPC; the server converts wire values to models before calling in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Notify;

use crate::diag::{AttributePath, Diagnostics};

pub(crate) mod dynamic;

pub use dynamic::{DynDataSource, DynResource};

/// What a model struct must be: the schema (`JsonSchema`) and the state (serde) at once.
pub trait Model: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static> Model for T {}

/// A cancellation signal: set by `StopProvider`, observed by long-running provider methods.
#[derive(Debug, Clone, Default)]
pub struct Cancellation(Arc<(AtomicBool, Notify)>);

impl Cancellation {
    /// A signal that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: wakes every waiter; later waiters return at once.
    pub fn cancel(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0 .0.load(Ordering::SeqCst)
    }

    /// Completes when cancelled; use in `tokio::select!` around slow work.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0 .1.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What every resource and data source method receives: the configured client and the stop signal.
pub struct Context<C> {
    pub(crate) client: Option<Arc<C>>,
    pub(crate) cancel: Cancellation,
}

impl<C> Context<C> {
    /// A context with the given client (tests and embedding).
    pub fn new(client: Option<Arc<C>>, cancel: Cancellation) -> Self {
        Context { client, cancel }
    }

    /// The client made by `Provider::configure`, if configuration has happened and succeeded.
    pub fn client(&self) -> Option<&C> {
        self.client.as_deref()
    }

    /// The client, or an error diagnostic saying the provider is not configured.
    pub fn require_client(&self, diags: &mut Diagnostics) -> Option<&C> {
        if self.client.is_none() {
            diags.error(
                "Provider not configured",
                "The provider's configuration was not applied (it may depend on values unknown until apply).",
            );
        }
        self.client()
    }

    /// The signal `StopProvider` sets.
    pub fn cancellation(&self) -> &Cancellation {
        &self.cancel
    }
}

/// A provider: its configuration model and the resources and data sources it serves.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider block's model.
    type Config: Model;
    /// What `configure` makes and every resource receives (an API client, a store handle...).
    type Client: Send + Sync + 'static;

    /// The provider's local name, e.g. `pveha` (type names start with it).
    fn type_name(&self) -> &'static str;

    /// Checks a configuration that may still hold unknown values; diagnose only what is known.
    fn validate(&self, _config: &Self::Config, _diags: &mut Diagnostics) {}

    /// Applies the configuration; `None` with errors means configuration failed.
    async fn configure(
        &self,
        req: ConfigureRequest<Self::Config>,
        diags: &mut Diagnostics,
    ) -> Option<Self::Client>;

    /// The managed resource types; box each with [`resource`].
    fn resources(&self) -> Vec<Box<dyn DynResource<Self::Client>>>;

    /// The data source types; box each with [`data_source`].
    fn data_sources(&self) -> Vec<Box<dyn DynDataSource<Self::Client>>> {
        Vec::new()
    }
}

/// The input of [`Provider::configure`].
#[derive(Debug)]
pub struct ConfigureRequest<M> {
    /// The provider block, possibly with unknown values.
    pub config: M,
    /// The calling Terraform's version, e.g. `1.11.4`.
    pub terraform_version: String,
}

/// A managed resource type, written against its typed model.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The provider's client type.
    type Client: Send + Sync + 'static;
    /// The model: schema and state.
    type Model: Model;

    /// The full type name, e.g. `pveha_group`.
    fn type_name(&self) -> &'static str;

    /// The schema version; bump it with a matching [`Resource::upgrade_state`] when stored state must change.
    fn schema_version(&self) -> i64 {
        0
    }

    /// Checks a configuration; called only when every field it decodes into is known.
    fn validate(&self, _config: &Self::Model, _diags: &mut Diagnostics) {}

    /// Adjusts the plan the framework made (defaults applied, computed attributes unknown on create,
    /// replace-on-change paths collected): mark more values unknown, add replace paths, diagnose.
    async fn plan(
        &self,
        _ctx: &Context<Self::Client>,
        _plan: &mut Plan<Self::Model>,
        _diags: &mut Diagnostics,
    ) {
    }

    /// Creates the object. On partial failure return what exists plus errors, so nothing is orphaned.
    async fn create(
        &self,
        ctx: &Context<Self::Client>,
        req: CreateRequest<Self::Model>,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model>;

    /// Reads the object; `None` without errors means it is gone.
    async fn read(
        &self,
        ctx: &Context<Self::Client>,
        req: ReadRequest<Self::Model>,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model>;

    /// Updates the object in place; `None` keeps the prior state.
    async fn update(
        &self,
        ctx: &Context<Self::Client>,
        req: UpdateRequest<Self::Model>,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model>;

    /// Deletes the object; an already absent object is success.
    async fn delete(
        &self,
        ctx: &Context<Self::Client>,
        req: DeleteRequest<Self::Model>,
        diags: &mut Diagnostics,
    );

    /// Turns an import ID into a state that [`Resource::read`] can complete.
    async fn import(
        &self,
        _ctx: &Context<Self::Client>,
        req: ImportRequest,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model> {
        diags.error(
            "Import not supported",
            format!("{} cannot be imported (ID {:?}).", self.type_name(), req.id),
        );
        None
    }

    /// Upgrades stored state from an older schema version (the current version is decoded by the framework).
    async fn upgrade_state(
        &self,
        _ctx: &Context<Self::Client>,
        req: UpgradeRequest,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model> {
        diags.error(
            "Unsupported state version",
            format!(
                "{} has no upgrade from schema version {} to {}.",
                self.type_name(),
                req.version,
                self.schema_version()
            ),
        );
        None
    }
}

/// A plan in progress, handed to [`Resource::plan`].
#[derive(Debug)]
pub struct Plan<M> {
    /// The prior state; `None` on create.
    pub prior: Option<M>,
    /// The configuration as written (unknowns possible).
    pub config: M,
    /// The planned state to return; edit it.
    pub planned: M,
    /// Attribute paths whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
}

impl<M> Plan<M> {
    /// True when this plan creates the object.
    pub fn is_create(&self) -> bool {
        self.prior.is_none()
    }
}

/// The input of [`Resource::create`].
#[derive(Debug)]
pub struct CreateRequest<M> {
    /// The planned state: configuration values known, computed ones unknown.
    pub planned: M,
}

/// The input of [`Resource::read`].
#[derive(Debug)]
pub struct ReadRequest<M> {
    /// The state Terraform holds.
    pub current: M,
}

/// The input of [`Resource::update`].
#[derive(Debug)]
pub struct UpdateRequest<M> {
    /// The state before the change.
    pub prior: M,
    /// The planned state.
    pub planned: M,
}

/// The input of [`Resource::delete`].
#[derive(Debug)]
pub struct DeleteRequest<M> {
    /// The state of the object to delete.
    pub prior: M,
}

/// The input of [`Resource::import`].
#[derive(Debug)]
pub struct ImportRequest {
    /// The ID the user gave to `terraform import`.
    pub id: String,
}

/// The input of [`Resource::upgrade_state`].
#[derive(Debug)]
pub struct UpgradeRequest {
    /// The schema version the state was written with.
    pub version: i64,
    /// The stored state as JSON (decode it into the old model with `serde_json`).
    pub raw_json: Vec<u8>,
}

/// A data source type, written against its typed model.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// The provider's client type.
    type Client: Send + Sync + 'static;
    /// The model: arguments and computed results.
    type Model: Model;

    /// The full type name, e.g. `pveha_cluster`.
    fn type_name(&self) -> &'static str;

    /// Checks a configuration; called only when every field it decodes into is known.
    fn validate(&self, _config: &Self::Model, _diags: &mut Diagnostics) {}

    /// Reads the data. Called with a wholly known configuration; otherwise the framework defers.
    async fn read(
        &self,
        ctx: &Context<Self::Client>,
        req: ReadDataRequest<Self::Model>,
        diags: &mut Diagnostics,
    ) -> Option<Self::Model>;
}

/// The input of [`DataSource::read`].
#[derive(Debug)]
pub struct ReadDataRequest<M> {
    /// The configuration (wholly known).
    pub config: M,
}

/// Boxes a typed resource for [`Provider::resources`].
pub fn resource<R: Resource>(r: R) -> Box<dyn DynResource<R::Client>> {
    Box::new(r)
}

/// Boxes a typed data source for [`Provider::data_sources`].
pub fn data_source<D: DataSource>(d: D) -> Box<dyn DynDataSource<D::Client>> {
    Box::new(d)
}
