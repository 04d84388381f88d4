//! The client handle every API module takes: retries around the transport, the cached `/version`
//! and its PVE 8/9 gates, the one-at-a-time queue for HA configuration writes and the
//! single-flight caches of the HA collections. Cheap to clone; clones share all of it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pveha_model::{
    ClusterResource, HaGroup, HaModel, HaResource, HaRule, HaStatusEntry, Sid, VersionInfo,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{watch, Mutex, OnceCell};

use crate::cache::Cached;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::ha::Indexed;
use crate::retry::{self, Outcome, RetryPolicy};
use crate::transport::{Form, Request, Transport};

/// Tuning that is not part of the user-facing connection settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Retries of reads and of writes that certainly did not apply.
    pub retry: RetryPolicy,
    /// How long a list of HA groups, resources, rules or status is served from the cache.
    pub ha_cache_ttl: Duration,
    /// Age at which a login ticket is renewed (tickets expire after 2 hours).
    pub ticket_renew_after: Duration,
    /// Largest answer accepted, in bytes after decompression; a larger one fails with `TooLarge`.
    pub max_answer_bytes: u64,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            retry: RetryPolicy::default(),
            ha_cache_ttl: Duration::from_secs(2),
            ticket_renew_after: Duration::from_secs(90 * 60),
            // `/cluster/resources` of a 100,000-guest cluster is ~40 MB; far beyond any real answer.
            max_answer_bytes: 256 << 20,
        }
    }
}

/// The HA collections' caches, each indexed once per fetch so that reading one object is a lookup,
/// and the inventory's, which only writes that move guests invalidate.
#[derive(Default)]
pub(crate) struct HaCaches {
    pub(crate) groups: Cached<Indexed<String, HaGroup>>,
    pub(crate) resources: Cached<Indexed<Sid, HaResource>>,
    pub(crate) rules: Cached<Indexed<String, HaRule>>,
    /// Indexed by the sid of service entries, as the server spells it.
    pub(crate) status: Cached<Indexed<String, HaStatusEntry>>,
    /// `/cluster/resources?type=vm`.
    pub(crate) guests: Cached<Vec<ClusterResource>>,
    /// Node names from `/cluster/status`, sorted.
    pub(crate) nodes: Cached<Vec<String>>,
}

/// The HA write queue as readers see it.
#[derive(Debug, Clone, Copy, Default)]
struct Queue {
    /// Writes waiting for their turn or running.
    queued: u64,
    /// Writes finished (or abandoned) since the client was made.
    finished: u64,
}

/// A reader about to refetch an HA list waits for the queue to empty, but never for more than
/// this many further writes, so a steady stream of writers cannot starve it.
const MAX_WRITES_WAITED_FOR: u64 = 32;

struct Inner {
    transport: Transport,
    options: ClientOptions,
    version: OnceCell<VersionInfo>,
    ha_write: Mutex<()>,
    ha_generation: AtomicU64,
    ha_queue: watch::Sender<Queue>,
    inventory_generation: AtomicU64,
    caches: HaCaches,
}

/// Marks one HA write as queued; dropping it (done, failed or cancelled) makes every HA list
/// stale and lets waiting readers go.
struct QueuedWrite<'a>(&'a Inner);

impl<'a> QueuedWrite<'a> {
    fn enter(inner: &'a Inner) -> QueuedWrite<'a> {
        inner.ha_queue.send_modify(|q| q.queued += 1);
        QueuedWrite(inner)
    }
}

impl Drop for QueuedWrite<'_> {
    fn drop(&mut self) {
        // Even a failed write may have changed something (an ambiguous failure).
        self.0.ha_generation.fetch_add(1, Ordering::AcqRel);
        self.0.ha_queue.send_modify(|q| {
            q.queued = q.queued.saturating_sub(1);
            q.finished += 1;
        });
    }
}

/// A connection to one Proxmox VE cluster's API.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Validates the settings and prepares the connection; sends no request.
    pub fn new(config: &ClientConfig) -> Result<Client> {
        Client::with_options(config, ClientOptions::default())
    }

    /// Like [`Client::new`], with non-default tuning.
    pub fn with_options(config: &ClientConfig, options: ClientOptions) -> Result<Client> {
        let transport =
            Transport::new(config, options.ticket_renew_after, options.max_answer_bytes)?;
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                options,
                version: OnceCell::new(),
                ha_write: Mutex::new(()),
                ha_generation: AtomicU64::new(0),
                ha_queue: watch::Sender::new(Queue::default()),
                inventory_generation: AtomicU64::new(0),
                caches: HaCaches::default(),
            }),
        })
    }

    /// `GET /version`, asked once per client and then served from memory.
    pub async fn version(&self) -> Result<VersionInfo> {
        self.inner
            .version
            .get_or_try_init(|| self.get::<VersionInfo>("/version", &[]))
            .await
            .cloned()
    }

    /// The cluster's HA model: groups (PVE 8) or rules (PVE 9).
    pub async fn ha_model(&self) -> Result<HaModel> {
        Ok(self.version().await?.ha_model())
    }

    /// Any GET under `/api2/json`, retried, returning the raw `data`.
    pub async fn get_raw(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let req = Request::get(path, query);
        let route = req.route();
        let transport = &self.inner.transport;
        retry::read(&self.inner.options.retry, &route, |n| {
            transport.send(&req, n)
        })
        .await
    }

    /// A GET decoded into `T`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T> {
        let data = self.get_raw(path, query).await?;
        decode(path, data)
    }

    /// Fails with `VersionUnsupported` before any other request when the cluster's HA model is
    /// not `needed`.
    pub(crate) async fn require(&self, needed: HaModel, operation: &str) -> Result<()> {
        let version = self.version().await?;
        if version.ha_model() == needed {
            return Ok(());
        }
        let hint = match needed {
            HaModel::Groups => crate::error::GROUPS_ON_PVE9_HINT,
            HaModel::Rules => crate::error::RULES_ON_PVE8_HINT,
        };
        Err(Error::unsupported(operation, &version.version, hint))
    }

    /// A write, retried only where safe; `verify` re-reads the server after an ambiguous failure.
    /// `Ok(None)` means the re-read confirmed the change but the server's answer was lost.
    pub(crate) async fn write<V, VFut>(
        &self,
        method: Method,
        path: &str,
        form: Form,
        verify: V,
    ) -> Result<Option<Value>>
    where
        V: Fn() -> VFut,
        VFut: Future<Output = Result<Outcome>>,
    {
        let req = Request::write(method, path, form);
        let route = req.route();
        let transport = &self.inner.transport;
        retry::write(
            &self.inner.options.retry,
            &route,
            |n| transport.send(&req, n),
            verify,
        )
        .await
    }

    /// Runs an HA configuration write alone: the server serializes them on `domain-ha` anyway, and
    /// queuing here instead of there avoids lock-timeout storms. Every cached HA list is stale after it.
    pub(crate) async fn ha_write<T, F, Fut>(&self, write: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let _queued = QueuedWrite::enter(&self.inner);
        let _turn = self.inner.ha_write.lock().await;
        write().await
    }

    /// Waits until no HA write is queued (or [`MAX_WRITES_WAITED_FOR`] more have finished). A
    /// read-back after a write then shares one list read with the read-backs of the writes queued
    /// behind it, instead of each paying its own: the writes are serialized anyway.
    async fn ha_settled(&self) {
        let mut queue = self.inner.ha_queue.subscribe();
        let start = queue.borrow().finished;
        let settled = queue
            .wait_for(|q| q.queued == 0 || q.finished >= start + MAX_WRITES_WAITED_FOR)
            .await
            .is_ok();
        debug_assert!(settled, "the sender lives as long as the client");
    }

    /// Forgets every cached HA list, so the next read asks the server (e.g. after a change made
    /// outside this client that must be seen at once).
    pub fn invalidate_ha_cache(&self) {
        self.inner.ha_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A cached HA collection, fetched by `fetch` at most once per validity window.
    pub(crate) async fn ha_cached<T, F, Fut>(
        &self,
        pick: impl FnOnce(&HaCaches) -> &Cached<T>,
        fetch: F,
    ) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let cache = pick(&self.inner.caches);
        cache
            .get(
                &self.inner.ha_generation,
                self.inner.options.ha_cache_ttl,
                self.ha_settled(),
                fetch,
            )
            .await
    }

    /// A cached inventory list (guests, nodes), valid for the HA cache's window or until a write
    /// that moves guests.
    pub(crate) async fn inventory_cached<T, F, Fut>(
        &self,
        pick: impl FnOnce(&HaCaches) -> &Cached<T>,
        fetch: F,
    ) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        pick(&self.inner.caches)
            .get(
                &self.inner.inventory_generation,
                self.inner.options.ha_cache_ttl,
                async {},
                fetch,
            )
            .await
    }

    /// Forgets the cached inventory, after a change that moves guests (migrate, relocate, or one
    /// made outside this client).
    pub fn invalidate_inventory(&self) {
        self.inner
            .inventory_generation
            .fetch_add(1, Ordering::AcqRel);
    }
}

/// Decodes a `data` value, naming the path when it does not fit.
pub(crate) fn decode<T: DeserializeOwned>(path: &str, data: Value) -> Result<T> {
    serde_json::from_value(data).map_err(|e| Error::Decode {
        path: path.to_string(),
        message: e.to_string(),
    })
}
