//! The one read and write path of the HA section-config collections (groups, resources, rules):
//! the cached, indexed list, the lookup of one object, and create/update/delete through the HA
//! write queue with the re-read that settles an ambiguous failure. Each collection only says what
//! differs: its path, record, key, not-found wording and PVE version gate ([`Section`]).

use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;

use pveha_model::HaModel;
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::cache::Cached;
use crate::client::{decode, HaCaches};
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

    /// The record's key, if it has one.
    fn key(record: &Self::Record) -> Option<Self::Key>;
    /// The collection's cache.
    fn cache(caches: &HaCaches) -> &Cached<Indexed<Self::Key, Self::Record>>;
}

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
    gate::<S>(client).await?;
    client
        .ha_cached(S::cache, || async {
            let data = client.get_raw(S::COLLECTION, &[]).await?;
            let list = decode::<Vec<S::Record>>(S::COLLECTION, data)?;
            Ok(Indexed::new(list, S::key))
        })
        .await
}

/// One object, looked up in the cached list; `NotFound` in the server's words.
pub(crate) async fn get<S: Section>(client: &Client, key: &S::Key) -> Result<S::Record> {
    shared::<S>(client)
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
    gate::<S>(client).await?;
    let one = item_path::<S>(key);
    write(client, Method::POST, S::COLLECTION, &one, form).await
}

/// PUTs changes to `key`; nothing is sent when `form` changes nothing. `digest` rides along.
pub(crate) async fn update<S: Section>(
    client: &Client,
    key: &impl Display,
    mut form: Form,
    digest: Option<&String>,
) -> Result<()> {
    gate::<S>(client).await?;
    if form.is_empty() {
        return Ok(());
    }
    form.set_opt("digest", digest);
    let one = item_path::<S>(key);
    write(client, Method::PUT, &one, &one, form).await
}

/// DELETEs `key` with the query parameters in `form`; an ambiguous failure is settled by
/// checking that it is gone.
pub(crate) async fn delete<S: Section>(
    client: &Client,
    key: &impl Display,
    form: Form,
) -> Result<()> {
    gate::<S>(client).await?;
    let one = item_path::<S>(key);
    client
        .ha_write(|| {
            client.write(Method::DELETE, &one, form.clone(), || {
                verify_gone(client, &one)
            })
        })
        .await?;
    Ok(())
}

/// A create or update through the HA write queue, re-reading `object` after an ambiguous failure.
async fn write(
    client: &Client,
    method: Method,
    route: &str,
    object: &str,
    form: Form,
) -> Result<()> {
    client
        .ha_write(|| {
            client.write(method, route, form.clone(), || {
                verify_shows(client, object, &form)
            })
        })
        .await?;
    Ok(())
}
