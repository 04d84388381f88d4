//! The one read and write path of the HA section-config collections (groups, resources, rules):
//! the cached, indexed list, the lookup of one object, and create/update/delete through the HA
//! write queue with the re-read that settles an ambiguous failure. Each collection only says what
//! differs: its path, record, key, not-found wording and PVE version gate ([`Section`]).

use std::borrow::Borrow;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;

use pveha_model::HaModel;
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::cache::Cached;
use crate::client::{decode, HaCaches, Need, WriteScope};
use crate::error::{Error, Result};
use crate::ha::{verify_gone, verify_shows, Indexed};
use crate::transport::{segment, Form};
use crate::Client;

/// What distinguishes one HA collection from the others.
pub(crate) trait Section {
    /// The key a record is looked up by.
    type Key: Hash + Eq + Display + Send + Sync;
    /// One record as the list returns it.
    type Record: DeserializeOwned + Clone + Send + Sync;
    /// The collection's path, e.g. `/cluster/ha/groups`.
    const COLLECTION: &'static str;
    /// The server's words for a missing object, before `'key'`, e.g. `no such ha group`.
    const NOT_FOUND: &'static str;
    /// The HA model the collection exists in, with the operation named in the refusal; `None`
    /// when it exists in both.
    const GATE: Option<(HaModel, &'static str)>;
    /// Whether a write changes no record but its own (nor any other collection), so that a cached
    /// list keeps answering lookups of the objects it left alone. False where the server derives
    /// a record's fields from the others (a rule's `errors`).
    const CONFINED: bool;

    /// The record's key, if it has one.
    fn key(record: &Self::Record) -> Option<Self::Key>;
    /// The collection's cache.
    fn cache(caches: &HaCaches) -> &Cached<Indexed<Self::Key, Self::Record>>;
}

/// Declares one HA collection: its [`Section`] marker type, the cached list's type alias and the
/// public `shared`, `list` and `get` of the collection's module.
macro_rules! collection {
    (
        $section:ident, $alias:ident: Indexed<$key:ty, $record:ty>, $noun:literal,
        path $path:literal, not_found $not_found:literal, gate $gate:expr, confined $confined:literal,
        key |$r:ident| $key_of:expr, cache $field:ident, get($name:ident: &$borrowed:ty)
    ) => {
        #[doc = concat!("The ", $noun, " collection for the shared section-config path.")]
        pub(crate) struct $section;

        impl $crate::ha::section::Section for $section {
            type Key = $key;
            type Record = $record;
            const COLLECTION: &'static str = $path;
            const NOT_FOUND: &'static str = $not_found;
            const GATE: Option<(pveha_model::HaModel, &'static str)> = $gate;
            const CONFINED: bool = $confined;

            fn key($r: &$record) -> Option<$key> {
                $key_of
            }

            fn cache(caches: &$crate::client::HaCaches) -> &$crate::cache::Cached<$alias> {
                &caches.$field
            }
        }

        #[doc = concat!("The ", $noun, " list as cached, indexed by its key.")]
        pub type $alias = $crate::ha::Indexed<$key, $record>;

        #[doc = concat!("Every ", $noun, ", shared with the cache (one list request per validity window, however many callers).")]
        pub async fn shared(client: &Client) -> Result<std::sync::Arc<$alias>> {
            $crate::ha::section::shared::<$section>(client).await
        }

        #[doc = concat!("Every ", $noun, ", as an owned copy of the cached list ([`shared`] avoids the copy).")]
        pub async fn list(client: &Client) -> Result<Vec<$record>> {
            Ok(shared(client).await?.to_vec())
        }

        #[doc = concat!("One ", $noun, ", looked up in the cached list; `NotFound` as the server words it.")]
        pub async fn get(client: &Client, $name: &$borrowed) -> Result<$record> {
            $crate::ha::section::get::<$section, $borrowed>(client, $name).await
        }
    };
}
pub(crate) use collection;

/// The API path of one object.
pub(crate) fn item_path<S: Section>(key: &impl Display) -> String {
    format!("{}/{}", S::COLLECTION, segment(&key.to_string()))
}

/// Refuses the call on a cluster whose HA model lacks the collection, before any request.
pub(crate) async fn gate<S: Section>(client: &Client) -> Result<()> {
    match S::GATE {
        Some((model, operation)) => client.require(model, operation).await,
        None => Ok(()),
    }
}

/// The whole collection, shared with the cache (one list request per validity window).
pub(crate) async fn shared<S: Section>(client: &Client) -> Result<Arc<Indexed<S::Key, S::Record>>> {
    cached::<S>(client, Need::Everything).await
}

/// The collection as cached, fetched again when it predates a write `need` asks for.
async fn cached<S: Section>(
    client: &Client,
    need: Need<'_>,
) -> Result<Arc<Indexed<S::Key, S::Record>>> {
    gate::<S>(client).await?;
    client
        .ha_cached(S::cache, need, || async {
            let data = client.get_raw(S::COLLECTION, &[]).await?;
            let list = decode::<Vec<S::Record>>(S::COLLECTION, data)?;
            Ok(Indexed::new(list, S::key))
        })
        .await
}

/// One object, looked up in the cached list; `NotFound` in the server's words. In a confined
/// collection the list only has to postdate this client's writes of this object: a thousand
/// creates then each find their object absent in one list, and each read-back still waits for a
/// list fetched after its own write.
pub(crate) async fn get<S: Section, Q>(client: &Client, key: &Q) -> Result<S::Record>
where
    S::Key: Borrow<Q>,
    Q: Hash + Eq + Display + ?Sized,
{
    let path = item_path::<S>(&key);
    let need = if S::CONFINED {
        Need::Object(&path)
    } else {
        Need::Everything
    };
    cached::<S>(client, need)
        .await?
        .get(key)
        .cloned()
        .ok_or_else(|| Error::NotFound {
            message: format!("{} '{key}'", S::NOT_FOUND),
        })
}

/// POSTs a new object named `key`; an ambiguous failure is settled by re-reading it.
pub(crate) async fn create<S: Section>(
    client: &Client,
    key: &impl Display,
    form: Form,
) -> Result<()> {
    write::<S>(client, Method::POST, key, form).await
}

/// PUTs changes to `key`; nothing is sent when `form` changes nothing. `digest` rides along.
pub(crate) async fn update<S: Section>(
    client: &Client,
    key: &impl Display,
    mut form: Form,
    digest: Option<&String>,
) -> Result<()> {
    if form.is_empty() {
        return gate::<S>(client).await;
    }
    form.set_opt("digest", digest);
    write::<S>(client, Method::PUT, key, form).await
}

/// DELETEs `key` with the query parameters in `form`; an ambiguous failure is settled by
/// checking that it is gone.
pub(crate) async fn delete<S: Section>(
    client: &Client,
    key: &impl Display,
    form: Form,
) -> Result<()> {
    write::<S>(client, Method::DELETE, key, form).await
}

/// One write through the HA write queue: a create goes to the collection, the others to the
/// object; after an ambiguous failure the object is re-read (shows the form, or is gone).
async fn write<S: Section>(
    client: &Client,
    method: Method,
    key: &impl Display,
    form: Form,
) -> Result<()> {
    gate::<S>(client).await?;
    let one = item_path::<S>(key);
    let route = if method == Method::POST {
        S::COLLECTION
    } else {
        one.as_str()
    };
    let removes = method == Method::DELETE;
    let verify = || async {
        if removes {
            verify_gone(client, &one).await
        } else {
            verify_shows(client, &one, &form).await
        }
    };
    let scope = if S::CONFINED {
        WriteScope::Object(one.clone())
    } else {
        WriteScope::Any
    };
    client
        .ha_write(scope, || client.write(method, route, form.clone(), verify))
        .await?;
    Ok(())
}
