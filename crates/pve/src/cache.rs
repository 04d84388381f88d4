//! A single-flight, short-lived cache for one HA collection. Concurrent readers wait for the one
//! list request in flight instead of sending their own; an entry is served only while it is young
//! and the caller's validity test accepts the write generation its request started at. A reader
//! the current entry satisfies never waits behind a fetch another reader needs.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
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
    /// The last fetched entry; held only to look at or replace it, never across an await.
    slot: SyncMutex<Option<Entry<T>>>,
    /// Held by the one reader fetching, so the others wait for its result instead of asking too.
    fetching: Mutex<()>,
}

impl<T> Default for Cached<T> {
    fn default() -> Cached<T> {
        Cached {
            slot: SyncMutex::new(None),
            fetching: Mutex::new(()),
        }
    }
}

impl<T> Cached<T> {
    /// The cached value if it is young and `valid` accepts the generation its fetch started at,
    /// else the result of `fetch` (one caller at a time fetches; the others wait and then find its
    /// result). Before a fetch, `settle` is awaited: the HA caches wait there for queued writes to
    /// finish, so that one list read confirms them all. The fetch's generation is read after
    /// `settle`, so the entry never claims writes it could not have seen.
    pub(crate) async fn get<F, Fut, S>(
        &self,
        generation: &AtomicU64,
        valid: impl Fn(u64) -> bool,
        ttl: Duration,
        settle: S,
        fetch: F,
    ) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
        S: Future<Output = ()>,
    {
        if let Some(value) = self.current(&valid, ttl) {
            return Ok(value);
        }
        let _turn = self.fetching.lock().await;
        // The reader before us may have fetched what we need while we waited.
        if let Some(value) = self.current(&valid, ttl) {
            return Ok(value);
        }
        settle.await;
        let current = generation.load(Ordering::Acquire);
        let value = Arc::new(fetch().await?);
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Entry {
            value: value.clone(),
            generation: current,
            fetched: Instant::now(),
        });
        Ok(value)
    }

    fn current(&self, valid: &impl Fn(u64) -> bool, ttl: Duration) -> Option<Arc<T>> {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = slot.as_ref()?;
        (valid(entry.generation) && entry.fetched.elapsed() < ttl).then(|| entry.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Valid while no write completed since the fetch started, as whole-list readers ask.
    fn unchanged(generation: &AtomicU64) -> impl Fn(u64) -> bool + '_ {
        move |g| g == generation.load(Ordering::Acquire)
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_readers_share_one_fetch() {
        let cache: Cached<u32> = Cached::default();
        let generation = AtomicU64::new(0);
        let fetches = AtomicU32::new(0);
        let ttl = Duration::from_secs(2);
        let reads = (0..20).map(|_| {
            cache.get(
                &generation,
                unchanged(&generation),
                ttl,
                async {},
                || async {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    Ok(5)
                },
            )
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
            cache.get(
                &generation,
                unchanged(&generation),
                ttl,
                async {},
                || async { Ok(fetches.fetch_add(1, Ordering::SeqCst)) },
            )
        };
        assert_eq!(*read().await.unwrap(), 0);
        assert_eq!(*read().await.unwrap(), 0, "served from cache");
        generation.fetch_add(1, Ordering::AcqRel);
        assert_eq!(*read().await.unwrap(), 1, "a write invalidates");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(*read().await.unwrap(), 2, "an old entry is refetched");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_the_entry_satisfies_does_not_wait_behind_a_fetch() {
        let cache: Cached<u32> = Cached::default();
        let generation = AtomicU64::new(0);
        let ttl = Duration::from_secs(2);
        let first = cache.get(&generation, |_| true, ttl, async {}, || async { Ok(1) });
        assert_eq!(*first.await.unwrap(), 1);
        generation.fetch_add(1, Ordering::AcqRel);
        // A reader that needs a newer list is stuck settling (a queued write that never ends).
        let (never_tx, never) = tokio::sync::oneshot::channel::<()>();
        let stuck = cache.get(
            &generation,
            |g| g >= 1,
            ttl,
            async {
                let _ = never.await;
            },
            || async { Ok(2) },
        );
        tokio::pin!(stuck);
        assert!(futures::poll!(stuck.as_mut()).is_pending());
        // One to whom the older list still answers is served at once.
        let other = cache.get(&generation, |_| true, ttl, async {}, || async { Ok(3) });
        assert_eq!(*other.await.unwrap(), 1);
        // Positive control: a reader that needs a newer list waits for the fetch in progress.
        let behind = cache.get(&generation, |g| g >= 1, ttl, async {}, || async { Ok(4) });
        tokio::pin!(behind);
        assert!(futures::poll!(behind.as_mut()).is_pending());
        drop(never_tx);
        assert_eq!(*stuck.await.unwrap(), 2);
        assert_eq!(
            *behind.await.unwrap(),
            2,
            "it shares the fetch it waited for"
        );
    }
}
