//! `pveha drill --observe`: a read-only watch of a live cluster while the user reboots, powers off or drains a node
//! by hand. It captures the cluster first (the prediction's input), then polls `/cluster/ha/status/current` and
//! `/cluster/resources` at a bounded rate, times every HA service's stops and starts on the cluster's own clock, and
//! ends when every affected service has settled, at the timeout, or on Ctrl-C. It sends GET requests only.

mod watch;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use pveha_audit::{Event, EventImpact, Options, Outage};
use pveha_model::Snapshot;
use pveha_pve::cluster;
use pveha_pve::ha::status;
use pveha_pve::{Client, ClientOptions, RetryPolicy};

use super::compare::{self, TOLERANCE_SECONDS};
use super::{timeline, DrillArgs};
use watch::{Poll, Watch};

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
    policy: &str,
    mut settled: impl FnMut(&Watch) -> bool,
    mut progress: impl FnMut(&Watch),
) -> Result<Observation> {
    let interval = interval.max(MIN_INTERVAL);
    let deadline = tokio::time::Instant::now() + timeout;
    // Registered before the user is told to act, so a Ctrl-C from then on ends the watch with its figures.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot install the Ctrl-C handler")?;
    let first = poll(client).await.context("the first poll")?;
    let mut watch = Watch::new(first);
    watch.policy = policy.to_string();
    let mut obs = Observation {
        watch,
        stop: Stop::Timeout,
        failed_polls: 0,
        last_error: None,
    };
    progress(&obs.watch);
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

/// How long the watch polls unless `--interval` says.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// How long the watch waits for the event and the settling unless `--timeout` says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The twin's flags, which choose or shape the event: with `--observe` the user does that, so they are refused.
fn check_flags(args: &DrillArgs) -> Result<(), String> {
    for (set, flag) in [
        (!args.nodes.is_empty(), "--node"),
        (!args.events.is_empty(), "--event"),
        (args.plan.is_some(), "--plan"),
        (args.down.is_some(), "--down"),
        (args.horizon.is_some(), "--horizon"),
        (args.source.snapshot.is_some(), "--snapshot"),
    ] {
        if set {
            return Err(format!(
                "{flag} makes no sense with --observe: you trigger the event on the live cluster yourself"
            ));
        }
    }
    if args.interval.is_some_and(|i| i < MIN_INTERVAL) {
        return Err(format!(
            "--interval must be at least {}s, so the watch does not load the cluster",
            MIN_INTERVAL.as_secs()
        ));
    }
    if args.timeout.is_some_and(|t| t.is_zero()) {
        return Err("--timeout must be more than 0".into());
    }
    Ok(())
}

/// A client for polling: the connection flags, a request timeout of a few polls, and few retries (a poll that
/// fails is simply missed; the next one is due soon).
fn client(args: &DrillArgs, interval: Duration) -> Result<Client> {
    let mut config = args.source.connect.config()?;
    config.timeout = (interval * 5).max(Duration::from_secs(10));
    let options = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(1),
            deadline: interval,
        },
        ..ClientOptions::default()
    };
    Ok(Client::with_options(&config, options)?)
}

/// The audit's predictions for the event node, one per event kind as the watch tells them apart.
struct Predictions<'s> {
    snapshot: &'s Snapshot,
    options: &'s Options,
    made: HashMap<(String, Event), Option<EventImpact>>,
}

impl Predictions<'_> {
    fn get(&mut self, node: &str, event: Event) -> Option<&EventImpact> {
        self.made
            .entry((node.to_string(), event))
            .or_insert_with(|| pveha_audit::predict(self.snapshot, self.options, node, event).ok())
            .as_ref()
    }

    /// What the prediction expects of each guest: where it runs afterwards and its outage.
    fn expect(&mut self, w: &Watch) -> BTreeMap<String, (Option<String>, Outage)> {
        let (Some(e), Some(kind)) = (&w.event, w.kind(false)) else {
            return BTreeMap::new();
        };
        let node = e.node.clone();
        self.get(&node, kind)
            .map(|p| {
                p.guests
                    .iter()
                    .map(|g| (g.sid.clone(), (g.node.clone(), g.outage)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs `pveha drill --observe`; returns the exit code (as the twin's: 0 observed, 1 bad input or nothing seen,
/// 2 usage error or a critical service that missed `--rto-target`).
pub(crate) fn run(args: &DrillArgs) -> i32 {
    let usage = |e: String| {
        eprintln!("pveha drill: {e}");
        2
    };
    let options = match args.source.checked_options() {
        Ok(o) => o,
        Err(e) => return usage(e),
    };
    if let Err(e) = check_flags(args) {
        return usage(e);
    }
    match watch_and_compare(args, &options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pveha drill: {e:#}");
            1
        }
    }
}

fn watch_and_compare(args: &DrillArgs, options: &Options) -> Result<i32> {
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    let timeout = args.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let client = client(args, interval)?;
    // The prediction's input: the cluster before the user acts, captured with GET requests like `pveha snapshot`.
    let capture = crate::snapshot::capture_live(&client).context("capturing the cluster")?;
    let snapshot = capture.snapshot;
    let any_node = snapshot
        .resources()
        .ok()
        .into_iter()
        .flatten()
        .find(|r| r.kind == "node" && r.status.as_deref() == Some("online"))
        .and_then(|r| r.node)
        .ok_or_else(|| anyhow!("the cluster has no online node"))?;
    let policy = pveha_audit::predict(&snapshot, options, &any_node, Event::Crash)
        .map(|p| p.policy)
        .map_err(|e| anyhow!(e))?;
    let mut predictions = Predictions {
        snapshot: &snapshot,
        options,
        made: HashMap::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut said = Said::default();
    let obs = runtime.block_on(observe(
        &client,
        interval,
        timeout,
        &policy,
        |w| {
            let expect = predictions.expect(w);
            w.event.is_some()
                && w.affected().iter().all(|sid| {
                    let e = expect.get(sid).map(|(n, o)| (n.as_deref(), *o));
                    w.settled(sid, e)
                })
        },
        |w| said.tell(w, interval),
    ))?;
    let w = &obs.watch;
    let (Some(e), Some(kind)) = (&w.event, w.kind(true)) else {
        let why = match obs.stop {
            Stop::Interrupted => "interrupted".to_string(),
            _ => format!(
                "no node event within {}",
                compare::seconds(timeout.as_secs_f64())
            ),
        };
        eprintln!(
            "pveha drill: {why}: no node went off, into maintenance or into a shutdown in {} poll(s); nothing to compare",
            w.polls
        );
        return Ok(1);
    };
    let prediction = predictions
        .get(&e.node, kind)
        .cloned()
        .ok_or_else(|| anyhow!("no prediction for a {kind} of {}", e.node))?;
    // Every guest that ran when the watch began, wherever: a service's replica on another node keeps it up.
    let measured: BTreeMap<String, timeline::Measured> = w
        .baseline
        .guests
        .iter()
        .filter(|(_, g)| g.running)
        .map(|(sid, _)| (sid.clone(), timeline::measure(&w.timeline, sid, e.t0)))
        .collect();
    let rto = Some(options.rto_target.as_secs_f64());
    let ctx = compare::Context {
        node_away_seconds: match (kind, e.off_at, e.back_at) {
            (Event::Reboot, Some(off), Some(back)) => Some(back - off),
            _ => None,
        },
        rto_target_seconds: rto,
        resolution_seconds: w.resolution,
    };
    let mut drill = compare::compare(&prediction, &measured, &ctx);
    drill.notes.extend(notes(&obs, interval, timeout));
    drill.notes.extend(capture.warnings);
    let mut report = compare::Report::new("observe", source(args), rto, vec![drill]);
    report.tolerance_seconds = TOLERANCE_SECONDS + w.resolution;
    super::finish(
        &report,
        args.format,
        args.source.rto_target.is_some(),
        "the live cluster",
    )
}

/// The endpoint the watch polled, for the report's source line.
fn source(args: &DrillArgs) -> String {
    args.source
        .connect
        .endpoint
        .clone()
        .unwrap_or_else(|| "the live cluster".into())
}

/// What the reader of the figures must know: how finely they were measured, how the watch ended, what it missed.
fn notes(obs: &Observation, interval: Duration, timeout: Duration) -> Vec<String> {
    let w = &obs.watch;
    let mut notes = vec![format!(
        "measured by polling every {}s: ±{} (the largest step of the cluster's clock between two polls; the \
         tolerance is widened by as much)",
        interval.as_secs(),
        compare::seconds(w.resolution)
    )];
    match obs.stop {
        Stop::Settled => {}
        Stop::Timeout => notes.push(format!(
            "the watch timed out after {}: what was still down is reported as staying down",
            compare::seconds(timeout.as_secs_f64())
        )),
        Stop::Interrupted => notes.push(
            "the watch was interrupted (Ctrl-C): what was still down is reported as staying down"
                .into(),
        ),
    }
    if let Some(e) = &w.event {
        if e.planned == Some(watch::Lrm::Maintenance) && e.off_at.is_none() {
            notes.push(
                "maintenance mode was seen and the node stayed up; under the migrate policy a reboot starts the same way"
                    .into(),
            );
        }
    }
    let down = w.down_at_start();
    if !down.is_empty() {
        notes.push(format!(
            "not up when the watch began, not watched: {}",
            down.join(", ")
        ));
    }
    if !w.others.is_empty() {
        notes.push(format!(
            "other nodes changed during the watch (only the first event is measured): {}",
            w.others.join(", ")
        ));
    }
    if obs.failed_polls > 0 {
        notes.push(format!(
            "{} of {} poll(s) failed (last: {}); nothing was measured while the API did not answer",
            obs.failed_polls,
            w.polls + obs.failed_polls,
            obs.last_error.as_deref().unwrap_or("?")
        ));
    }
    notes
}

/// What the progress lines have told so far, so that each fact is said once.
#[derive(Default)]
struct Said {
    started: bool,
    event: bool,
    changes: BTreeMap<String, usize>,
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
                "pveha drill: watching {} nodes and {} guests every {}s{note}; reboot, power off or drain a node now \
                 (Ctrl-C ends the watch and prints what was measured)",
                w.baseline.nodes.len(),
                w.baseline.guests.len(),
                interval.as_secs()
            );
        }
        let (Some(e), Some(kind)) = (&w.event, w.kind(false)) else {
            return;
        };
        if !self.event {
            self.event = true;
            eprintln!(
                "pveha drill: {kind} of {} seen; waiting for {} guest(s) to settle",
                e.node,
                w.affected().len()
            );
            for sid in w.affected() {
                let before = w
                    .timeline
                    .get(&sid)
                    .map_or(0, |l| l.iter().filter(|t| t.at < e.t0).count());
                self.changes.insert(sid, before);
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
                    "pveha drill:   {sid} {word} on {node} at +{}",
                    compare::seconds(t.at - e.t0)
                );
            }
            *told = list.len();
        }
    }
}
