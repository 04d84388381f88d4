//! Retries with exponential backoff and jitter under an overall deadline. Reads are retried on
//! transient failures; writes only when the server certainly did not apply them, and after an
//! ambiguous failure the caller's re-read decides instead of a second write. Classification of
//! what is transient lives in `error.rs`, not here.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// How hard the client tries before giving up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per operation, the first one included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles on each further retry.
    pub initial_backoff: Duration,
    /// Ceiling of one backoff.
    pub max_backoff: Duration,
    /// No retry starts after this much time since the first attempt.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            deadline: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `retry` (1-based): exponential, with jitter in its upper half so
    /// that parallel clients spread out.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let capped = exp.min(self.max_backoff);
        let half = capped / 2;
        let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_ns == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=jitter_ns)
        };
        half + Duration::from_nanos(jitter)
    }

    /// Waits before retry number `retry` if attempts and the deadline allow one.
    async fn pause(&self, started: Instant, retry: u32) -> bool {
        if retry >= self.max_attempts {
            return false;
        }
        let delay = self.backoff(retry);
        if started.elapsed() + delay > self.deadline {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }
}

/// Runs a read, retrying what `Error::is_retryable` allows. `op` gets the retry number (0 first).
pub(crate) async fn read<T, F, Fut>(policy: &RetryPolicy, what: &str, mut op: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let started = Instant::now();
    let mut retry = 0;
    loop {
        match op(retry).await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() => {
                retry += 1;
                if !policy.pause(started, retry).await {
                    return Err(e);
                }
                tracing::debug!(request = what, retry, error = %e, "retrying read");
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a re-read after an ambiguous write failure found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The change is on the server.
    Applied,
    /// The change is not on the server; sending it again is safe.
    NotApplied,
}

/// Runs a write. Certainly-not-applied failures (lock timeouts, refused connections) are sent
/// again; after an ambiguous one `verify` reads the server's state, and the write is repeated only
/// if that shows it did not land. Returns `None` when the write was confirmed by the re-read
/// (the server's answer to it was lost).
pub(crate) async fn write<T, F, Fut, V, VFut>(
    policy: &RetryPolicy,
    what: &str,
    mut op: F,
    verify: V,
) -> Result<Option<T>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
    V: Fn() -> VFut,
    VFut: Future<Output = Result<Outcome>>,
{
    let started = Instant::now();
    let mut retry = 0;
    let mut was_ambiguous = false;
    loop {
        let err: Error = match op(retry).await {
            Ok(v) => return Ok(Some(v)),
            Err(e) => e,
        };
        let unknown = err.write_outcome_unknown();
        // After an ambiguous attempt, a refusal of the next one ("already defined", "not HA
        // managed") may only mean that the earlier attempt landed after all: ask the server.
        let refused_after_ambiguity = was_ambiguous && !unknown && !err.write_not_applied();
        if unknown || refused_after_ambiguity {
            was_ambiguous = true;
            match verify().await {
                Ok(Outcome::Applied) => {
                    tracing::debug!(request = what, retry, error = %err, "write confirmed by re-read after an ambiguous failure");
                    return Ok(None);
                }
                Ok(Outcome::NotApplied) if unknown => {}
                // Refused and not applied, or the server's state is unknown too: report the
                // write's own failure.
                Ok(Outcome::NotApplied) | Err(_) => return Err(err),
            }
        } else if !err.write_not_applied() {
            return Err(err);
        }
        retry += 1;
        if !policy.pause(started, retry).await {
            return Err(err);
        }
        tracing::debug!(request = what, retry, error = %err, "retrying write");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{classify, TransportKind};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            deadline: Duration::from_secs(60),
        }
    }

    fn lock_timeout() -> Error {
        classify(
            500,
            "x: cfs-lock 'domain-ha' error: got lock request timeout",
            b"",
        )
    }

    fn timeout() -> Error {
        Error::Transport {
            kind: TransportKind::Timeout,
            message: "timed out".into(),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = fast();
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = p.backoff(10);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reads_stop_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let r: Result<()> = read(&fast(), "GET /x", |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(lock_timeout())
        })
        .await;
        assert!(matches!(r, Err(Error::LockTimeout { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_stop_at_the_deadline() {
        let mut p = fast();
        p.max_attempts = 100;
        p.deadline = Duration::from_secs(2);
        let calls = AtomicU32::new(0);
        let r: Result<()> = read(&p, "GET /x", |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(timeout())
        })
        .await;
        assert!(r.is_err());
        let n = calls.load(Ordering::SeqCst);
        assert!((2..100).contains(&n), "{n} attempts");
    }

    #[tokio::test(start_paused = true)]
    async fn reads_do_not_retry_final_answers() {
        let calls = AtomicU32::new(0);
        let r: Result<()> = read(&fast(), "GET /x", |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(classify(500, "no such resource 'vm:1'", b""))
        })
        .await;
        assert!(r.unwrap_err().is_not_found());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_retry_lock_timeouts_then_land() {
        let calls = AtomicU32::new(0);
        let r = write(
            &fast(),
            "PUT /x",
            |retry| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if retry < 2 {
                        Err(lock_timeout())
                    } else {
                        Ok(7)
                    }
                }
            },
            || async { panic!("a lock timeout is not ambiguous") },
        )
        .await;
        assert_eq!(r.unwrap(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_ambiguous_write_that_landed_is_not_sent_twice() {
        let calls = AtomicU32::new(0);
        let r: Result<Option<()>> = write(
            &fast(),
            "POST /x",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(timeout()) }
            },
            || async { Ok(Outcome::Applied) },
        )
        .await;
        assert_eq!(r.unwrap(), None);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_ambiguous_write_that_did_not_land_is_sent_again() {
        let calls = AtomicU32::new(0);
        let r = write(
            &fast(),
            "POST /x",
            |retry| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if retry == 0 {
                        Err(timeout())
                    } else {
                        Ok(())
                    }
                }
            },
            || async { Ok(Outcome::NotApplied) },
        )
        .await;
        assert_eq!(r.unwrap(), Some(()));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_never_retry_server_refusals() {
        let calls = AtomicU32::new(0);
        let r: Result<Option<()>> = write(
            &fast(),
            "POST /x",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Err(classify(
                        500,
                        "create resource failed: resource ID 'vm:1' already defined",
                        b"",
                    ))
                }
            },
            || async { Ok(Outcome::NotApplied) },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_after_an_ambiguous_attempt_is_checked_against_the_server() {
        let calls = AtomicU32::new(0);
        let r: Result<Option<()>> = write(
            &fast(),
            "POST /x",
            |retry| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if retry == 0 {
                        Err(timeout())
                    } else {
                        Err(classify(
                            500,
                            "create ha group failed: ha group ID 'g' already defined",
                            b"",
                        ))
                    }
                }
            },
            || {
                // Not there at the first look, there at the second: the first attempt was slow.
                let n = calls.load(Ordering::SeqCst);
                async move {
                    Ok(if n < 2 {
                        Outcome::NotApplied
                    } else {
                        Outcome::Applied
                    })
                }
            },
        )
        .await;
        assert_eq!(r.unwrap(), None);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
