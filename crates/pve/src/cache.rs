//! A single-flight, short-lived cache for one HA collection. Concurrent readers wait for the one
//! list request in flight instead of sending their own; an entry is served only while it is young
//! and no HA write has completed since its request started (the generation counter).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::Result;

struct Entry<T> {
    value: Arc<T>,
    generation: u64,
    fetched: Instant,
}

/// One cached collection.
pub(crate) struct Cached<T> {
    slot: Mutex<Option<Entry<T>>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Cached<T> {
        Cached {
            slot: Mutex::new(None),
        }
    }
}

impl<T> Cached<T> {
    /// The cached value if it is still valid, else the result of `fetch` (one caller at a time
    /// fetches; the others wait and then find its result). Before a fetch, `settle` is awaited:
    /// the HA caches wait there for queued writes to finish, so that one list read confirms them
    /// all. The fetch's generation is read after `settle`, so the entry never claims writes it
    /// could not have seen.
    pub(crate) async fn get<F, Fut, S>(
        &self,
        generation: &AtomicU64,
        ttl: Duration,
        settle: S,
        fetch: F,
    ) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
        S: Future<Output = ()>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(entry) = slot.as_ref() {
            let current = generation.load(Ordering::Acquire);
            if entry.generation == current && entry.fetched.elapsed() < ttl {
                return Ok(entry.value.clone());
            }
        }
        settle.await;
        let current = generation.load(Ordering::Acquire);
        let value = Arc::new(fetch().await?);
        *slot = Some(Entry {
            value: value.clone(),
            generation: current,
            fetched: Instant::now(),
        });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[tokio::test(start_paused = true)]
    async fn concurrent_readers_share_one_fetch() {
        let cache: Cached<u32> = Cached::default();
        let generation = AtomicU64::new(0);
        let fetches = AtomicU32::new(0);
        let ttl = Duration::from_secs(2);
        let reads = (0..20).map(|_| {
            cache.get(&generation, ttl, async {}, || async {
                fetches.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(5)
            })
        });
        let results = futures::future::join_all(reads).await;
        assert!(results.iter().all(|r| *r.as_ref().unwrap().as_ref() == 5));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_or_age_invalidates() {
        let cache: Cached<u32> = Cached::default();
        let generation = AtomicU64::new(0);
        let fetches = AtomicU32::new(0);
        let ttl = Duration::from_secs(2);
        let read = || {
            cache.get(&generation, ttl, async {}, || async {
                Ok(fetches.fetch_add(1, Ordering::SeqCst))
            })
        };
        assert_eq!(*read().await.unwrap(), 0);
        assert_eq!(*read().await.unwrap(), 0, "served from cache");
        generation.fetch_add(1, Ordering::AcqRel);
        assert_eq!(*read().await.unwrap(), 1, "a write invalidates");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(*read().await.unwrap(), 2, "an old entry is refetched");
    }
}
