//! The client handle every API module takes: retries around the transport, the cached `/version`
//! and its PVE 8/9 gates, the queue that admits HA configuration writes two at a time and the
//! single-flight caches of the HA collections. Cheap to clone; clones share all of it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
use std::time::Duration;

use pveha_model::{
    ClusterResource, HaGroup, HaModel, HaResource, HaRule, HaStatusEntry, Sid, VersionInfo,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{watch, OnceCell, Semaphore};

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
    /// Requests on the wire at once (at least 1); more callers wait their turn in the client.
    pub max_in_flight: usize,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            retry: RetryPolicy::default(),
            ha_cache_ttl: Duration::from_secs(2),
            ticket_renew_after: Duration::from_secs(90 * 60),
            // `/cluster/resources` of a 100,000-guest cluster is ~40 MB; far beyond any real answer.
            max_answer_bytes: 256 << 20,
            max_in_flight: MAX_IN_FLIGHT,
        }
    }
}

/// Default of [`ClientOptions::max_in_flight`]: Terraform's default `-parallelism`, so a default run
/// waits for nothing, while a run with `-parallelism=100` (or a resource type that reads one guest
/// config per instance) still keeps at most this many requests at the API, whose pveproxy serves
/// them with a few worker processes anyway. N one-request reads then take N × latency ÷ 10.
pub const MAX_IN_FLIGHT: usize = 10;

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

/// What one HA write may change, so that a cached list keeps answering for the objects it left alone.
#[derive(Debug, Clone)]
pub(crate) enum WriteScope {
    /// Only the object at this API path: its own record, and its HA status entry.
    Object(String),
    /// Anything in the HA configuration or status.
    Any,
}

/// The writes a cached HA list must postdate to answer a reader.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Need<'a> {
    /// Every write this client made: the reader looks at the whole list.
    Everything,
    /// The writes that may have changed the object at this API path.
    Object(&'a str),
}

/// The generation each HA write ended at, for [`Need::Object`] readers: the last unconfined write,
/// and the last write confined to each object.
#[derive(Debug, Default)]
struct WriteLog {
    any: u64,
    by_object: HashMap<String, u64>,
}

/// A reader about to refetch an HA list waits for the queue to empty, but never for more than
/// this many further writes, so a steady stream of writers cannot starve it.
const MAX_WRITES_WAITED_FOR: u64 = 32;

/// A reader refetches once no more than this many writes are left in the queue, instead of waiting
/// for it to empty. Terraform starts its next resources only when the ones it is waiting for
/// return, so a read-back that waits for the last write leaves the HA lock idle for a list read
/// and Terraform's turnaround; the writes left keep it busy meanwhile, at the cost of one more
/// list read for each of them.
const WRITES_LEFT_QUEUED: u64 = 2;

/// HA writes sent at once: one holding the server's HA lock and one waiting at the server behind
/// it, so that the lock does not idle for a round trip between two writes; never more, so that
/// no write waits at the server long enough to meet its lock timeout.
const HA_WRITES_IN_FLIGHT: usize = 2;

struct Inner {
    transport: Transport,
    options: ClientOptions,
    version: OnceCell<VersionInfo>,
    ha_write: Semaphore,
    /// Bumped when an HA write ends; a fetched list is stamped with its value at the fetch's start.
    ha_generation: AtomicU64,
    ha_writes: SyncMutex<WriteLog>,
    ha_queue: watch::Sender<Queue>,
    inventory_generation: AtomicU64,
    caches: HaCaches,
}

impl Inner {
    /// Records that a write with `scope` ended: lists fetched before now no longer answer for
    /// what it may have changed.
    fn wrote(&self, scope: &WriteScope) {
        let mut log = self
            .ha_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ended = self.ha_generation.fetch_add(1, Ordering::AcqRel) + 1;
        match scope {
            WriteScope::Object(path) => {
                log.by_object.insert(path.clone(), ended);
            }
            WriteScope::Any => log.any = ended,
        }
    }

    /// Whether a list fetched from `generation` on shows every write `need` asks for.
    fn postdates(&self, need: Need<'_>, generation: u64) -> bool {
        match need {
            Need::Everything => generation == self.ha_generation.load(Ordering::Acquire),
            Need::Object(path) => {
                let log = self
                    .ha_writes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                generation >= log.any && generation >= log.by_object.get(path).copied().unwrap_or(0)
            }
        }
    }
}

/// Marks one HA write as queued; dropping it (done, failed or cancelled) makes the HA lists stale
/// for what it may have changed and lets waiting readers go.
struct QueuedWrite<'a>(&'a Inner, WriteScope);

impl<'a> QueuedWrite<'a> {
    fn enter(inner: &'a Inner, scope: WriteScope) -> QueuedWrite<'a> {
        inner.ha_queue.send_modify(|q| q.queued += 1);
        QueuedWrite(inner, scope)
    }
}

impl Drop for QueuedWrite<'_> {
    fn drop(&mut self) {
        // Even a failed write may have changed something (an ambiguous failure).
        self.0.wrote(&self.1);
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
        let transport = Transport::new(
            config,
            options.ticket_renew_after,
            options.max_answer_bytes,
            options.max_in_flight,
        )?;
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                options,
                version: OnceCell::new(),
                ha_write: Semaphore::new(HA_WRITES_IN_FLIGHT),
                ha_generation: AtomicU64::new(0),
                ha_writes: SyncMutex::new(WriteLog::default()),
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

    /// Runs an HA configuration write once it is one of [`HA_WRITES_IN_FLIGHT`]: the server
    /// serializes them on `domain-ha` anyway, and queuing here instead of there avoids lock-timeout
    /// storms. After it, no cached HA list answers for what `scope` says it may have changed.
    pub(crate) async fn ha_write<T, F, Fut>(&self, scope: WriteScope, write: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let _queued = QueuedWrite::enter(&self.inner, scope);
        let _turn = self
            .inner
            .ha_write
            .acquire()
            .await
            .expect("the client never closes its HA write queue");
        write().await
    }

    /// Waits until at most [`WRITES_LEFT_QUEUED`] HA writes are queued (or
    /// [`MAX_WRITES_WAITED_FOR`] more have finished). A read-back after a write then shares one
    /// list read with the read-backs of the writes queued behind it, instead of each paying its
    /// own: the writes are serialized anyway.
    async fn ha_settled(&self) {
        let mut queue = self.inner.ha_queue.subscribe();
        let start = queue.borrow().finished;
        let settled = queue
            .wait_for(|q| {
                q.queued <= WRITES_LEFT_QUEUED || q.finished >= start + MAX_WRITES_WAITED_FOR
            })
            .await
            .is_ok();
        debug_assert!(settled, "the sender lives as long as the client");
    }

    /// Forgets every cached HA list, so the next read asks the server (e.g. after a change made
    /// outside this client that must be seen at once).
    pub fn invalidate_ha_cache(&self) {
        self.inner.wrote(&WriteScope::Any);
    }

    /// A cached HA collection, fetched by `fetch` at most once per validity window and only when
    /// the cached list predates a write `need` asks for.
    pub(crate) async fn ha_cached<T, F, Fut>(
        &self,
        pick: impl FnOnce(&HaCaches) -> &Cached<T>,
        need: Need<'_>,
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
                |generation| self.inner.postdates(need, generation),
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
                |generation| generation == self.inner.inventory_generation.load(Ordering::Acquire),
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
