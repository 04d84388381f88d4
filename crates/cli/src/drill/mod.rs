//! `pveha drill`: failure drills on a digital twin. The cluster (a `--snapshot` file or captured live, optionally
//! as a Terraform `--plan` would leave it) is loaded into the simulator in-process; each node event is triggered
//! on a fresh twin, the HA manager's rounds run until the cluster settles, and what each guest and service went
//! through is held against the audit's prediction. `--observe` watches a live cluster instead.
//!
//! Exit codes: 0 the drills ran (disagreements are reported, not failed on: they are pveha's to fix, not the
//! cluster's), 1 bad input, 2 usage error or, with `--rto-target`, a critical service that missed it.

pub mod compare;
mod observe;
pub mod render;
pub mod timeline;
mod twin;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use pveha_audit::{Event, Options};
use pveha_model::Snapshot;

use crate::audit::SourceArgs;

/// Output format of `pveha drill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table per drill: each service and guest, predicted and measured, and the disagreements.
    Markdown,
    /// The same as one JSON object (field names are stable).
    Json,
}

/// Flags of `pveha drill`.
#[derive(Args, Debug)]
pub struct DrillArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Drill only this node (repeatable; default: every online node).
    #[arg(long = "node", value_name = "NODE")]
    pub(crate) nodes: Vec<String>,
    /// The event to drill: crash, reboot, shutdown or maintenance (repeatable; default: all four).
    #[arg(long = "event", value_name = "EVENT", value_parser = parse_event)]
    pub(crate) events: Vec<Event>,
    /// Drill the cluster as this Terraform plan leaves it (`terraform show -json tfplan > PLAN.json`).
    #[arg(long, value_name = "PLAN.json")]
    pub(crate) plan: Option<PathBuf>,
    /// How long a rebooted node stays off (default 2m, the simulator's).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) down: Option<Duration>,
    /// How much simulated time a drill may take before what is still down is reported as staying down
    /// (default 15m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) horizon: Option<Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub(crate) format: Format,
    /// Watch a live cluster (read-only polling) through an event triggered by someone else.
    #[arg(long)]
    pub(crate) observe: bool,
    /// With --observe: time between polls (default 2s, at least 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) interval: Option<Duration>,
    /// With --observe: how long to watch before what is still down is reported as staying down (default 15m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
}

/// How long a rebooted node stays off unless `--down` says (the simulator's own default).
pub const DEFAULT_DOWN: Duration = Duration::from_secs(120);
/// How much simulated time a drill may take unless `--horizon` says.
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(15 * 60);

fn parse_event(text: &str) -> Result<Event, String> {
    text.parse()
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    pveha_audit::parse_duration(text).map_err(|e| e.to_string())
}

/// A usage error (exit 2) or bad input (exit 1).
enum Failure {
    Usage(String),
    Input(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Input(e)
    }
}

/// Runs `pveha drill`; returns the exit code.
pub fn run(args: DrillArgs) -> i32 {
    if args.observe {
        return observe::run(&args);
    }
    match drill(&args) {
        Ok(code) => code,
        Err(Failure::Usage(e)) => {
            eprintln!("pveha drill: {e}");
            2
        }
        Err(Failure::Input(e)) => {
            eprintln!("pveha drill: {e:#}");
            1
        }
    }
}

/// The flags that only `--observe` reads, refused without it.
fn check_twin_flags(args: &DrillArgs) -> Result<(), Failure> {
    for (set, flag) in [
        (args.interval.is_some(), "--interval"),
        (args.timeout.is_some(), "--timeout"),
    ] {
        if set {
            return Err(Failure::Usage(format!("{flag} needs --observe")));
        }
    }
    if args.horizon.is_some_and(|h| h.is_zero()) {
        return Err(Failure::Usage("--horizon must be more than 0".into()));
    }
    Ok(())
}

/// The cluster to drill: loaded, then the plan applied when given; with the remarks to show and a label.
fn cluster(args: &DrillArgs) -> Result<(Snapshot, Vec<String>, String), Failure> {
    let (snapshot, mut notes) = crate::audit::load(&args.source)?;
    let mut label = args
        .source
        .snapshot
        .as_ref()
        .map_or_else(|| "live cluster".to_string(), |p| p.display().to_string());
    let Some(path) = &args.plan else {
        return Ok((snapshot, notes, label));
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let plan =
        terraform_provider_pveha::plan::parse(&text).with_context(|| path.display().to_string())?;
    let applied = pveha_audit::plan::apply(&snapshot, &plan.changes)
        .with_context(|| path.display().to_string())?;
    notes.extend(applied.notes);
    label = format!("{label} with {} applied", path.display());
    Ok((applied.snapshot, notes, label))
}

fn drill(args: &DrillArgs) -> Result<i32, Failure> {
    let options: Options = args.source.checked_options().map_err(Failure::Usage)?;
    check_twin_flags(args)?;
    let (snapshot, notes, label) = cluster(args)?;
    let down = args.down.unwrap_or(DEFAULT_DOWN);
    let twin = twin::TwinRun::load(&snapshot, down, args.horizon.unwrap_or(DEFAULT_HORIZON))?;
    let online = twin.online_nodes();
    let nodes: Vec<String> = if args.nodes.is_empty() {
        online.clone()
    } else {
        for n in &args.nodes {
            if !online.contains(n) {
                return Err(Failure::Usage(format!(
                    "no online node '{n}' in the cluster ({})",
                    online.join(", ")
                )));
            }
        }
        args.nodes.clone()
    };
    let events: Vec<Event> = if args.events.is_empty() {
        Event::ALL.to_vec()
    } else {
        args.events.clone()
    };
    let rto_target = args.source.rto_target.map(|d| d.as_secs_f64());
    let ctx_rto = Some(options.rto_target.as_secs_f64());
    let total = nodes.len() * events.len();
    let progress = std::io::stderr().is_terminal();
    let mut drills = Vec::new();
    for (i, (node, event)) in nodes
        .iter()
        .flat_map(|n| events.iter().map(move |e| (n, *e)))
        .enumerate()
    {
        if progress {
            eprint!("\r\x1b[2Kdrill {}/{total}: {node} {event}", i + 1);
        }
        let prediction = match event {
            Event::Reboot => pveha_audit::predict_reboot(&snapshot, &options, node, down.as_secs()),
            _ => pveha_audit::predict(&snapshot, &options, node, event),
        }
        .map_err(|e| Failure::Input(anyhow::anyhow!(e)))?;
        let mut d = twin.drill(&prediction, ctx_rto)?;
        d.notes.extend(notes.iter().cloned());
        drills.push(d);
    }
    if progress {
        eprint!("\r\x1b[2K");
    }
    let report = compare::Report::new("twin", label, ctx_rto, drills);
    Ok(finish(
        &report,
        args.format,
        rto_target.is_some(),
        "the twin",
    )?)
}

/// Prints the report and decides the exit code, for the twin and `--observe` alike: 1 when stdout is gone, 2 when
/// `--rto-target` was given and a critical service missed it, else 0. `against` names what the prediction was held
/// against in the disagreement summary.
pub(crate) fn finish(
    report: &compare::Report,
    format: Format,
    rto_target: bool,
    against: &str,
) -> Result<i32> {
    let text = match format {
        Format::Markdown => render::markdown(report),
        Format::Json => {
            serde_json::to_string_pretty(report).context("serializing the drill")? + "\n"
        }
    };
    if !crate::audit::print(&text) {
        return Ok(1);
    }
    if report.verdict.disagreements > 0 {
        eprintln!(
            "pveha drill: {} row(s) where the prediction and {against} disagree",
            report.verdict.disagreements
        );
    }
    if rto_target && !report.verdict.rto_missed.is_empty() {
        eprintln!(
            "pveha drill: critical service(s) miss --rto-target: {}",
            report.verdict.rto_missed.join("; ")
        );
        return Ok(2);
    }
    Ok(0)
}
