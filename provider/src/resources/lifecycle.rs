//! The lifecycle the four resources share, written once: read (not-found means gone), import (not-found is
//! an error naming the ID), create (refuse an object already there, write, read back), update
//! (compare-before-write, write, read back) and delete (already gone is success). A resource implements
//! [`Lifecycle`] with its id, fetch and write calls through the client's typed API, and
//! [`lifecycle_resource!`] turns that into a `tfplugin::Resource`. Diagnostics still come from `diag.rs`.

use tfplugin::{async_trait, Context, Diagnostics, Model, Plan, Value};

use crate::diag::{self, ParamMap};
use crate::provider::Pve;

/// A managed object as the shared lifecycle sees it: how to name it, read it and write it.
#[async_trait]
pub trait Lifecycle: Send + Sync + Sized + 'static {
    /// The model: schema and state.
    type Model: Model;
    /// What names one object on the cluster: a name, a sid, a VMID.
    type Id: std::fmt::Display + Send + Sync;
    /// The Terraform type name, e.g. `pveha_group`.
    const TYPE_NAME: &'static str;
    /// API parameters and the attributes that set them, so a server's validation error points at HCL.
    const PARAMS: ParamMap<'static>;
    /// Whether this resource makes the object, so that one already there is refused (it names the import).
    /// False for settings of an object that exists anyway, such as a guest's boot settings.
    const EXCLUSIVE: bool = true;
    /// Whether every write carries the object's own digest, so the server refuses a write over another
    /// writer's change by itself and no compare-before-write is needed.
    const DIGEST_GUARDED: bool = false;
    /// The verbs of failed writes: create, update and delete.
    const VERBS: [&'static str; 3] = ["create", "update", "delete"];

    /// Checks the configuration alone (no cluster); unknown values are skipped.
    fn validate(&self, _config: &Self::Model, _diags: &mut Diagnostics) {}

    /// Plan-time checks that need the cluster, and planned values the cluster decides.
    async fn plan(
        &self,
        _ctx: &Context<Pve>,
        _plan: &mut Plan<Self::Model>,
        _diags: &mut Diagnostics,
    ) {
    }

    /// The object's id (name, sid, VMID) in `model`; an error diagnostic when it is not usable.
    fn id(&self, model: &Self::Model, diags: &mut Diagnostics) -> Option<Self::Id>;

    /// The id `terraform import` was given, checked; an error diagnostic when it is malformed.
    fn import_id(&self, raw: &str, diags: &mut Diagnostics) -> Option<Self::Id>;

    /// How the user knows the object with `id`, e.g. `HA group "web"`.
    fn object(&self, id: &Self::Id) -> String;

    /// What an import of `id` looks for and may not find, e.g. `guest 133` (defaults to the object).
    fn missing(&self, id: &Self::Id) -> String {
        self.object(id)
    }

    /// Reads the object as state; `Ok(None)` when it does not exist.
    async fn fetch(
        &self,
        pve: &Pve,
        id: &Self::Id,
        diags: &mut Diagnostics,
    ) -> pveha_pve::Result<Option<Self::Model>>;

    /// Sends the create request for `planned`.
    async fn send_create(
        &self,
        pve: &Pve,
        id: &Self::Id,
        planned: &Self::Model,
    ) -> pveha_pve::Result<()>;

    /// Sends the update that turns `prior` into `planned` (only what differs).
    async fn send_update(
        &self,
        pve: &Pve,
        id: &Self::Id,
        prior: &Self::Model,
        planned: &Self::Model,
    ) -> pveha_pve::Result<()>;

    /// Removes the object from the cluster.
    async fn remove(&self, pve: &Pve, id: &Self::Id) -> pveha_pve::Result<()>;

    /// Compare-before-write: the settings another writer may change, each paired with whether `current`
    /// (fresh from the server) differs from `prior` (what Terraform last read). Reports such as where a
    /// service runs are left out. Unused when [`Lifecycle::DIGEST_GUARDED`].
    fn changed(&self, _current: &Self::Model, _prior: &Self::Model) -> Vec<(&'static str, bool)> {
        Vec::new()
    }

    /// Work after a successful write and before the read-back (moving a service); reports its own errors.
    async fn after_write(
        &self,
        _ctx: &Context<Pve>,
        _pve: &Pve,
        _id: &Self::Id,
        _planned: &Self::Model,
        _diags: &mut Diagnostics,
    ) {
    }

    /// The state to keep when the object exists but could not be read back: the plan with every unknown
    /// settled, since Terraform refuses unknown values in a state.
    fn settled(&self, planned: Self::Model) -> Self::Model {
        planned
    }
}

/// Implements `tfplugin::Resource` for a type that implements [`Lifecycle`], so that a resource file holds
/// only what is its own (model, checks, conversions) and the lifecycle's shape lives here once.
macro_rules! lifecycle_resource {
    ($ty:ty) => {
        #[::tfplugin::async_trait]
        impl ::tfplugin::Resource for $ty {
            type Client = $crate::provider::Pve;
            type Model = <$ty as $crate::resources::lifecycle::Lifecycle>::Model;

            fn type_name(&self) -> &'static str {
                <$ty as $crate::resources::lifecycle::Lifecycle>::TYPE_NAME
            }

            fn validate(&self, config: &Self::Model, diags: &mut ::tfplugin::Diagnostics) {
                $crate::resources::lifecycle::Lifecycle::validate(self, config, diags)
            }

            async fn plan(
                &self,
                ctx: &::tfplugin::Context<$crate::provider::Pve>,
                plan: &mut ::tfplugin::Plan<Self::Model>,
                diags: &mut ::tfplugin::Diagnostics,
            ) {
                $crate::resources::lifecycle::Lifecycle::plan(self, ctx, plan, diags).await
            }

            async fn create(
                &self,
                ctx: &::tfplugin::Context<$crate::provider::Pve>,
                req: ::tfplugin::CreateRequest<Self::Model>,
                diags: &mut ::tfplugin::Diagnostics,
            ) -> Option<Self::Model> {
                $crate::resources::lifecycle::create(self, ctx, req.planned, diags).await
            }

            async fn read(
                &self,
                ctx: &::tfplugin::Context<$crate::provider::Pve>,
                req: ::tfplugin::ReadRequest<Self::Model>,
                diags: &mut ::tfplugin::Diagnostics,
            ) -> Option<Self::Model> {
                $crate::resources::lifecycle::read(self, ctx, &req.current, diags).await
            }

            async fn update(
                &self,
                ctx: &::tfplugin::Context<$crate::provider::Pve>,
                req: ::tfplugin::UpdateRequest<Self::Model>,
                diags: &mut ::tfplugin::Diagnostics,
            ) -> Option<Self::Model> {
                $crate::resources::lifecycle::update(self, ctx, req.prior, req.planned, diags).await
            }

            async fn delete(
                &self,
                ctx: &::tfplugin::Context<$crate::provider::Pve>,
                req: ::tfplugin::DeleteRequest<Self::Model>,
                diags: &mut ::tfplugin::Diagnostics,
            ) {
                $crate::resources::lifecycle::delete(self, ctx, &req.prior, diags).await
            }

            async fn import(
                &self,
                ctx: &::tfplugin::Context<$crate::provider::Pve>,
                req: ::tfplugin::ImportRequest,
                diags: &mut ::tfplugin::Diagnostics,
            ) -> Option<Self::Model> {
                $crate::resources::lifecycle::import(self, ctx, &req.id, diags).await
            }
        }
    };
}
pub(crate) use lifecycle_resource;

/// Refresh: the object's state, `None` (without errors) when it is gone so that Terraform plans a create.
pub async fn read<L: Lifecycle>(
    r: &L,
    ctx: &Context<Pve>,
    current: &L::Model,
    diags: &mut Diagnostics,
) -> Option<L::Model> {
    let pve = ctx.require_client(diags)?;
    let id = r.id(current, diags)?;
    match r.fetch(pve, &id, diags).await {
        Ok(found) => found,
        Err(e) => {
            diag::api_error(diags, "read", &r.object(&id), &e, &[]);
            None
        }
    }
}

/// Import: the object named by the import ID; a missing object is an error naming the ID.
pub async fn import<L: Lifecycle>(
    r: &L,
    ctx: &Context<Pve>,
    raw: &str,
    diags: &mut Diagnostics,
) -> Option<L::Model> {
    let pve = ctx.require_client(diags)?;
    let id = r.import_id(raw, diags)?;
    let object = r.object(&id);
    match r.fetch(pve, &id, diags).await {
        Ok(Some(found)) => Some(found),
        Ok(None) => {
            diag::import_not_found(diags, &r.missing(&id), raw.trim());
            None
        }
        Err(e) => {
            diag::api_error(diags, "import", &object, &e, &[]);
            None
        }
    }
}

/// Create: refuses an object already there (naming the import instead), writes, then reads back. Once
/// written, a failure still returns the object's state, so nothing is orphaned.
pub async fn create<L: Lifecycle>(
    r: &L,
    ctx: &Context<Pve>,
    planned: L::Model,
    diags: &mut Diagnostics,
) -> Option<L::Model> {
    let pve = ctx.require_client(diags)?;
    let id = r.id(&planned, diags)?;
    let object = r.object(&id);
    let verb = L::VERBS[0];
    if L::EXCLUSIVE {
        // Warnings about the object already there would only repeat the error below.
        match r.fetch(pve, &id, &mut Diagnostics::new()).await {
            Ok(Some(_)) => {
                diag::already_exists(diags, L::TYPE_NAME, &object, &id.to_string());
                return None;
            }
            Ok(None) => {}
            Err(e) => {
                diag::api_error(diags, verb, &object, &e, L::PARAMS);
                return None;
            }
        }
    }
    if let Err(e) = r.send_create(pve, &id, &planned).await {
        diag::api_error(diags, verb, &object, &e, L::PARAMS);
        return None;
    }
    r.after_write(ctx, pve, &id, &planned, diags).await;
    read_back(r, pve, &id, planned, diags).await
}

/// Update: refuses to overwrite another writer's change (compare-before-write), writes, then reads back.
pub async fn update<L: Lifecycle>(
    r: &L,
    ctx: &Context<Pve>,
    prior: L::Model,
    planned: L::Model,
    diags: &mut Diagnostics,
) -> Option<L::Model> {
    let pve = ctx.require_client(diags)?;
    let id = r.id(&planned, diags)?;
    if !L::DIGEST_GUARDED && !unchanged_since_read(r, pve, &id, &prior, diags).await {
        return None;
    }
    if let Err(e) = r.send_update(pve, &id, &prior, &planned).await {
        diag::api_error(diags, L::VERBS[1], &r.object(&id), &e, L::PARAMS);
        return None;
    }
    r.after_write(ctx, pve, &id, &planned, diags).await;
    read_back(r, pve, &id, planned, diags).await
}

/// Delete: an object that is already gone counts as deleted.
pub async fn delete<L: Lifecycle>(
    r: &L,
    ctx: &Context<Pve>,
    prior: &L::Model,
    diags: &mut Diagnostics,
) {
    let Some(pve) = ctx.require_client(diags) else {
        return;
    };
    let Some(id) = r.id(prior, diags) else {
        return;
    };
    let result = r.remove(pve, &id).await;
    diag::deleted(diags, L::VERBS[2], &r.object(&id), result);
}

/// Reads the object after a write; when that fails, keeps the settled plan with the error.
async fn read_back<L: Lifecycle>(
    r: &L,
    pve: &Pve,
    id: &L::Id,
    planned: L::Model,
    diags: &mut Diagnostics,
) -> Option<L::Model> {
    let object = r.object(id);
    match r.fetch(pve, id, diags).await {
        Ok(Some(found)) => Some(found),
        Ok(None) => {
            diag::vanished(diags, &object);
            None
        }
        Err(e) => {
            diag::api_error(diags, "read back", &object, &e, &[]);
            Some(r.settled(planned))
        }
    }
}

/// Compare-before-write. The HA config digests cover a whole file (`resources.cfg`, `groups.cfg`,
/// `rules.cfg`), so sending one would fail parallel updates of different objects in one apply; the object
/// itself is read fresh instead and compared with what Terraform last saw.
async fn unchanged_since_read<L: Lifecycle>(
    r: &L,
    pve: &Pve,
    id: &L::Id,
    prior: &L::Model,
    diags: &mut Diagnostics,
) -> bool {
    pve.api().invalidate_ha_cache();
    let current = match r.fetch(pve, id, &mut Diagnostics::new()).await {
        Ok(Some(current)) => current,
        // Gone or unreadable: the update itself reports it with the server's words.
        Ok(None) | Err(_) => return true,
    };
    diag::unchanged_elsewhere(diags, &r.object(id), &r.changed(&current, prior))
}

/// A client lookup with not-found as `None`, the way [`Lifecycle::fetch`] reports it.
pub fn found<T>(result: pveha_pve::Result<T>) -> pveha_pve::Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The id held by a string attribute, or an error at that attribute when it is not known.
pub fn known_id(value: &Value<String>, attribute: &str, diags: &mut Diagnostics) -> Option<String> {
    match value.as_str() {
        Some(id) => Some(id.to_string()),
        None => {
            diags.error_at(
                attribute,
                format!("{attribute} not known"),
                format!("{attribute} must be known to act on the object."),
            );
            None
        }
    }
}
