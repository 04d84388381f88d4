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

/// Runs [`observe`] on a runtime of its own (the commands are synchronous), telling the user on stderr when to act,
/// what the watch saw, and each affected service's stops and starts as they come in cluster seconds from the event.
/// `stays_down` is the prediction's word, per sid, that a service will not run again (so its staying down settles
/// it).
pub fn watch_blocking(
    client: &Client,
    interval: Duration,
    timeout: Duration,
    stays_down: impl Fn(&str) -> bool,
) -> Result<Observation> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut said = Said::default();
    runtime.block_on(observe(
        client,
        interval,
        timeout,
        |w| settled(w, &stays_down),
        |w| said.tell(w, interval),
    ))
}

/// Whether the watch is complete: the event was seen and every service it affects came to rest.
pub fn settled(w: &Watch, stays_down: impl Fn(&str) -> bool) -> bool {
    w.event.is_some()
        && w.affected()
            .iter()
            .all(|sid| w.settled(sid, stays_down(sid)))
}

/// What the progress lines have told so far, so that each fact is said once.
#[derive(Default)]
struct Said {
    started: bool,
    event: bool,
    changes: std::collections::BTreeMap<String, usize>,
}

impl Said {
    fn tell(&mut self, w: &Watch, interval: Duration) {
        if !self.started {
            self.started = true;
            let down = w.down_at_start();
            let note = if down.is_empty() {
                String::new()
            } else {
                format!(" ({} not up, not watched)", down.join(", "))
            };
            eprintln!(
                "pveha drill: watching {} nodes and {} HA services every {}s{note}; reboot, power off or drain a node \
                 now (Ctrl-C ends the watch and prints what was measured)",
                w.baseline.nodes.len(),
                w.baseline.services.len(),
                interval.as_secs()
            );
        }
        let Some(e) = &w.event else { return };
        if !self.event {
            self.event = true;
            eprintln!(
                "pveha drill: {} of {} seen; waiting for {} HA service(s) to settle",
                e.kind().as_str(),
                e.node,
                w.affected().len()
            );
            for sid in w.affected() {
                let seen = w
                    .timeline
                    .get(&sid)
                    .map_or(0, |l| l.iter().filter(|t| t.at < e.t0).count());
                self.changes.insert(sid, seen);
            }
        }
        for (sid, told) in &mut self.changes {
            let Some(list) = w.timeline.get(sid) else {
                continue;
            };
            for t in list.iter().skip(*told) {
                let word = if t.running { "running" } else { "down" };
                let node = t.node.as_deref().unwrap_or("?");
                eprintln!(
                    "pveha drill:   {sid} {word} on {node} at +{:.0}s",
                    t.at - e.t0
                );
            }
            *told = list.len();
        }
    }
}
