//! `pveha drill --observe`: a read-only watch of a live cluster while the user reboots, powers off or drains a node
//! by hand. It captures the cluster first (the prediction's input), then polls `/cluster/ha/status/current` and
//! `/cluster/resources` at a bounded rate, times every HA service's stops and starts on the cluster's own clock, and
//! ends when every affected service has settled, at the timeout, or on Ctrl-C. It sends GET requests only.

mod watch;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use pveha_pve::cluster;
use pveha_pve::ha::status;
use pveha_pve::Client;

pub use watch::{Event, Lrm, Poll, Seen, Watch};

/// The shortest interval between polls: the watch must not load the cluster it watches.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Why a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stop {
    /// Every affected service came to rest.
    Settled,
    /// `--timeout` passed first.
    Timeout,
    /// The user pressed Ctrl-C.
    Interrupted,
}

/// What a watch saw, however it ended.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The polls, read into the event and the timeline.
    pub watch: Watch,
    /// Why it ended.
    pub stop: Stop,
    /// Polls that failed (the node answering the API may be the one the user rebooted); the watch went on.
    pub failed_polls: u64,
    /// The last poll error, for the notes.
    pub last_error: Option<String>,
}

/// One poll: both reads at once, at the cluster's clock. GET only, past the client's caches.
pub async fn poll(client: &Client) -> Result<Poll> {
    let (status, resources) = tokio::join!(
        status::current_uncached(client),
        cluster::resources(client, None)
    );
    let status = status.context("GET /cluster/ha/status/current")?;
    let resources = resources.context("GET /cluster/resources")?;
    match Poll::read(&status.entries, status.clock, &resources) {
        Some(p) => Ok(p),
        None => bail!(
            "the HA status has no manager or LRM timestamp (is the HA stack running?), so there is no cluster clock to time by"
        ),
    }
}

/// Polls every `interval` (at least [`MIN_INTERVAL`]) until `settled` says the watch is complete, `timeout` passes on
/// the wall clock, or Ctrl-C. The first poll must succeed: it is the state before the user acts. Later failures are
/// counted and the watch goes on, since the node that answers may be the one going down.
pub async fn observe(
    client: &Client,
    interval: Duration,
    timeout: Duration,
    mut settled: impl FnMut(&Watch) -> bool,
    mut progress: impl FnMut(&Watch),
) -> Result<Observation> {
    let interval = interval.max(MIN_INTERVAL);
    let deadline = tokio::time::Instant::now() + timeout;
    let first = poll(client).await.context("the first poll")?;
    let mut obs = Observation {
        watch: Watch::new(first),
        stop: Stop::Timeout,
        failed_polls: 0,
        last_error: None,
    };
    progress(&obs.watch);
    // Registered before the first wait, so a Ctrl-C at any point after the first poll ends the watch with its figures.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot install the Ctrl-C handler")?;
    let mut next = tokio::time::Instant::now() + interval;
    loop {
        if next >= deadline {
            obs.stop = Stop::Timeout;
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = interrupt.recv() => {
                obs.stop = Stop::Interrupted;
                break;
            }
        }
        // The rate bound holds however long a poll takes: the next one is due an interval after this one began.
        next += interval;
        let polled = tokio::select! {
            p = poll(client) => p,
            _ = interrupt.recv() => {
                obs.stop = Stop::Interrupted;
                break;
            }
        };
        match polled {
            Ok(p) => obs.watch.push(p),
            Err(e) => {
                obs.failed_polls += 1;
                obs.last_error = Some(format!("{e:#}"));
            }
        }
        progress(&obs.watch);
        if settled(&obs.watch) {
            obs.stop = Stop::Settled;
            break;
        }
        let now = tokio::time::Instant::now();
        if next < now {
            next = now;
        }
    }
    Ok(obs)
}
