//! `pveha-bench`: the whole-process half of `make bench`. It times the provider's start-up, `terraform plan`
//! and `terraform apply` against `pveha sim` on loopback with injected latency, reads the criterion figures
//! the script ran before it, and prints one table and writes `target/bench/results.json`.
//! It builds nothing (the script does) and asserts nothing: a missed target is reported, not failed.

mod audit_floor;
mod criterion;
mod handshake;
mod report;
mod scenarios;
mod sim;
mod snapshot;
mod terraform;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use audit_floor::{median, mib};
use report::{Figure, Report, Target};
use scenarios::{Env, Kind, CLIENT_MAX_IN_FLIGHT, TERRAFORM_PARALLELISM};

/// Command-line options.
#[derive(Debug)]
struct Options {
    root: PathBuf,
    target: PathBuf,
    out: PathBuf,
    quick: bool,
    criterion_since: Option<SystemTime>,
    latency_ms: u64,
    /// Row groups to run (`--only`); empty runs them all.
    only: Vec<String>,
}

/// The row groups `--only` selects from.
const GROUPS: [&str; 6] = [
    "handshake",
    "refresh",
    "guest_startup",
    "apply",
    "criterion",
    "audit",
];

const USAGE: &str = "usage: pveha-bench [--root DIR] [--target-dir DIR] [--out FILE] [--quick] [--criterion-since EPOCH_SECS] [--only GROUP[,GROUP…]]
groups: handshake, refresh, guest_startup, apply, criterion, audit";

impl Options {
    /// Whether the row group `group` runs.
    fn runs(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }
}

fn parse_args() -> Result<Options> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut o = Options {
        target: std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from),
        root,
        out: PathBuf::new(),
        quick: false,
        criterion_since: None,
        latency_ms: match std::env::var("PVEHA_BENCH_LATENCY_MS") {
            Ok(v) => v
                .trim()
                .parse()
                .with_context(|| format!("PVEHA_BENCH_LATENCY_MS={v:?} is not a number"))?,
            Err(_) => 5,
        },
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--root" => o.root = PathBuf::from(value()?),
            "--target-dir" => o.target = PathBuf::from(value()?),
            "--out" => o.out = PathBuf::from(value()?),
            "--quick" => o.quick = true,
            "--only" => {
                for group in value()?.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                    if !GROUPS.contains(&group) {
                        bail!("--only: unknown group {group:?}\n{USAGE}");
                    }
                    o.only.push(group.to_string());
                }
            }
            "--criterion-since" => {
                let v = value()?;
                let secs: u64 = v
                    .parse()
                    .with_context(|| format!("--criterion-since {v:?} is not epoch seconds"))?;
                o.criterion_since = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if o.out.as_os_str().is_empty() {
        o.out = o.target.join("bench/results.json");
    }
    // Terraform runs in scratch workdirs, where a relative path would name nothing.
    for path in [&mut o.root, &mut o.target, &mut o.out] {
        *path =
            std::path::absolute(&*path).with_context(|| format!("resolving {}", path.display()))?;
    }
    Ok(o)
}

/// Sizes of the scenarios; `--quick` shrinks them for a smoke run (its figures are not the issue's).
struct Sizes {
    handshakes: usize,
    refresh_small: usize,
    refresh_large: usize,
    startup: usize,
    /// Sizes of the apply rows; the middle one carries the target.
    apply: [usize; 3],
    /// Runs per apply size (the median is reported).
    apply_runs: usize,
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pveha-bench: {e:#}");
            std::process::exit(2);
        }
    };
    match run(&opts) {
        Ok(report) => {
            print!("{}", report.table());
            if let Err(e) = report.write_json(&opts.out) {
                eprintln!("pveha-bench: {e:#}");
                std::process::exit(1);
            }
            println!("wrote {}", opts.out.display());
        }
        Err(e) => {
            eprintln!("pveha-bench: {e:#}");
            std::process::exit(1);
        }
    }
}

fn progress(what: &str) {
    eprintln!("pveha-bench: {what}");
}

/// The first line of an error chain, for a table note.
fn short(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let line = text.lines().next().unwrap_or("failed").to_string();
    if line.chars().count() > 160 {
        line.chars().take(157).collect::<String>() + "…"
    } else {
        line
    }
}

fn run(o: &Options) -> Result<Report> {
    let sizes = if o.quick {
        Sizes {
            handshakes: 10,
            refresh_small: 10,
            refresh_large: 100,
            startup: 100,
            apply: [10, 20, 40],
            apply_runs: 1,
        }
    } else {
        Sizes {
            handshakes: 50,
            refresh_small: 100,
            refresh_large: 1000,
            startup: 1000,
            apply: [50, 200, 800],
            apply_runs: 3,
        }
    };
    let provider = o.target.join("release/terraform-provider-pveha");
    let pveha = o.target.join("release/pveha");
    let mut figures = Vec::new();
    let mut details = serde_json::Map::new();
    details.insert("quick".into(), json!(o.quick));

    if o.runs("handshake") {
        progress(&format!("plugin start-up × {}", sizes.handshakes));
        startup_figures(&provider, sizes.handshakes, &mut figures, &mut details);
    }

    let terraform = terraform::find(&o.root);
    let terraform_version = terraform
        .as_ref()
        .ok()
        .and_then(|t| terraform::version(t).ok())
        .unwrap_or_default();
    let env = terraform.and_then(|terraform| {
        if !pveha.is_file() {
            bail!(
                "{} is missing (run `cargo build --release -p pveha`)",
                pveha.display()
            );
        }
        let scratch = scenarios::scratch_dir(&o.target)?;
        let mirror = terraform::Mirror::lay_out(&scratch, &provider)?;
        Ok(Env {
            pveha: pveha.clone(),
            terraform,
            mirror,
            scratch,
            latency_ms: o.latency_ms,
        })
    });
    refresh_figures(env.as_ref(), &sizes, o, &mut figures, &mut details);
    if o.runs("apply") {
        apply_figures(env.as_ref(), &sizes, &mut figures, &mut details);
    }
    if o.runs("criterion") {
        criterion_figures(
            &o.target.join("criterion"),
            o.criterion_since,
            &mut figures,
            &mut details,
        );
    }
    if o.runs("audit") {
        audit_floor::figures(
            &pveha,
            &o.target.join("release/pveha-bench-audit"),
            &o.target.join("bench/audit"),
            o.quick,
            &mut figures,
            &mut details,
        );
    }

    Ok(Report {
        latency_ms: o.latency_ms,
        terraform_version,
        figures,
        details,
    })
}

fn startup_figures(
    provider: &Path,
    runs: usize,
    figures: &mut Vec<Figure>,
    details: &mut serde_json::Map<String, Value>,
) {
    let (k1, n1, t1) = (
        "handshake_median_ms",
        "handshake, median",
        Some(Target::Below(10.0)),
    );
    let (k2, n2) = (
        "provider_idle_rss_mib",
        "provider peak RSS, idle after handshake",
    );
    match handshake::measure(provider, runs) {
        Ok(s) => {
            let hwm: Vec<f64> = s.idle_hwm_kib.iter().map(|k| mib(*k)).collect();
            figures.push(Figure::new(k1, n1, median(&s.samples_ms), "ms", t1));
            figures.push(Figure::new(k2, n2, median(&hwm), "MiB", None));
            details.insert(
                "handshake".into(),
                json!({"samples_ms": s.samples_ms, "idle_hwm_kib": s.idle_hwm_kib, "example_line_prefix":
                    s.example_line.split('|').take(5).collect::<Vec<_>>().join("|")}),
            );
        }
        Err(e) => {
            figures.push(Figure::missing(k1, n1, "ms", t1, short(&e)));
            figures.push(Figure::missing(k2, n2, "MiB", None, short(&e)));
        }
    }
}

fn refresh_figures(
    env: Result<&Env, &anyhow::Error>,
    sizes: &Sizes,
    o: &Options,
    figures: &mut Vec<Figure>,
    details: &mut serde_json::Map<String, Value>,
) {
    let latency_ms = env.map_or(0, |e| e.latency_ms);
    // The guest start-up plan once more at ten times the latency, where the API, not Terraform, bounds it:
    // that row shows the wall time at N × latency ÷ concurrency.
    let api_bound_ms = latency_ms * 10;
    let cases = [
        (Kind::HaResource, sizes.refresh_small, false, false),
        (Kind::HaResource, sizes.refresh_large, true, false),
        (Kind::GuestStartup, sizes.startup, false, false),
        (Kind::GuestStartup, sizes.startup, false, true),
    ];
    for (kind, n, headline, api_bound) in cases {
        if api_bound && api_bound_ms == 0 {
            continue;
        }
        let latency_ms = if api_bound { api_bound_ms } else { latency_ms };
        let group = match kind {
            Kind::HaResource => "refresh",
            Kind::GuestStartup => "guest_startup",
        };
        if !o.runs(group) {
            continue;
        }
        let ty = kind.type_name();
        let at = if api_bound {
            format!(" at {latency_ms} ms")
        } else {
            String::new()
        };
        let key_at = if api_bound {
            format!("_{latency_ms}ms")
        } else {
            String::new()
        };
        let key = |what: &str| format!("plan_{ty}_{n}{key_at}_{what}");
        let name = |what: &str| format!("plan {n} {ty}{at}: {what}");
        // Request counts are constant in N only for HA resources; guest start-up lives in each guest's config.
        let req_target = (kind == Kind::HaResource).then_some(Target::AtMost(10.0));
        progress(&format!("apply then plan {n} {ty}{at}"));
        let measured = env
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .and_then(|env| env.refresh(kind, n, latency_ms));
        let r = match measured {
            Ok(r) => r,
            Err(e) => {
                let why = short(&e);
                progress(&format!("plan {n} {ty} failed: {e:#}"));
                figures.push(Figure::missing(
                    &key("wall_s"),
                    &name("wall time"),
                    "s",
                    None,
                    why.clone(),
                ));
                figures.push(Figure::missing(
                    &key("requests"),
                    &name("API requests"),
                    "",
                    req_target,
                    why,
                ));
                continue;
            }
        };
        details.insert(key("details"), r.details());
        let mut wall = Figure::new(&key("wall_s"), &name("wall time"), r.wall_s, "s", None);
        let mut requests = Figure::new(
            &key("requests"),
            &name("API requests"),
            r.requests as f64,
            "",
            req_target,
        );
        if kind == Kind::GuestStartup {
            // One config read per guest (there is no bulk endpoint), at most `concurrency` on the wire at once.
            let concurrency = CLIENT_MAX_IN_FLIGHT.min(TERRAFORM_PARALLELISM);
            let api_floor_s = n as f64 * r.latency_ms as f64 / 1e3 / concurrency as f64;
            // Terraform's own plan of N objects bounds the wall time too, and the two overlap.
            let floor_s = api_floor_s.max(r.terraform_only_s.unwrap_or(0.0));
            if floor_s > 0.0 {
                wall = wall.with_floor(floor_s);
            }
            let alone = r
                .terraform_only_s
                .map_or("not measured".to_string(), |t| format!("{t:.2} s"));
            wall = wall.with_note(format!(
                "floor = max({n} config reads × {} ms ÷ {concurrency} in flight (the provider's bound and \
                 terraform's -parallelism) = {api_floor_s:.2} s, terraform alone (plan of terraform_data × {n}) \
                 = {alone}); wall ÷ the API floor = {:.2}×; the simulator saw at most {} at once",
                r.latency_ms,
                r.wall_s / api_floor_s.max(f64::MIN_POSITIVE),
                r.max_in_flight
            ));
            requests = requests.with_floor(n as f64);
        }
        if !r.plan_empty {
            wall = wall.with_note("the plan after apply was not empty (provider drift bug): figures include planning changes");
        }
        figures.push(wall);
        figures.push(requests);
        if (!headline && kind == Kind::HaResource) || api_bound {
            continue;
        }
        let (rss_target, ratio_target) = if headline {
            (Some(Target::Below(40.0)), Some(Target::Below(0.10)))
        } else {
            (None, None)
        };
        if r.provider.processes == 0 {
            let why = "the provider wrote no PVEHA_RUSAGE_FILE report (hook missing, or killed before exit)";
            figures.push(Figure::missing(
                &key("provider_rss_mib"),
                &name("provider peak RSS"),
                "MiB",
                rss_target,
                why,
            ));
            figures.push(Figure::missing(
                &key("cpu_ratio"),
                &name("provider CPU ÷ terraform CPU"),
                "",
                ratio_target,
                why,
            ));
            continue;
        }
        figures.push(Figure::new(
            &key("provider_rss_mib"),
            &name("provider peak RSS"),
            mib(r.provider.max_rss_kib),
            "MiB",
            rss_target,
        ));
        let ratio = if r.terraform_cpu_s > 0.0 {
            r.provider.cpu_s / r.terraform_cpu_s
        } else {
            f64::INFINITY
        };
        figures.push(
            Figure::new(
                &key("cpu_ratio"),
                &name("provider CPU ÷ terraform CPU"),
                ratio,
                "",
                ratio_target,
            )
            .with_note(format!(
                "provider {:.3} s CPU over {} process(es), terraform {:.3} s",
                r.provider.cpu_s, r.provider.processes, r.terraform_cpu_s
            )),
        );
    }
}

fn apply_figures(
    env: Result<&Env, &anyhow::Error>,
    sizes: &Sizes,
    figures: &mut Vec<Figure>,
    details: &mut serde_json::Map<String, Value>,
) {
    for n in sizes.apply {
        let (kw, nw) = (
            format!("apply_{n}_wall_s"),
            format!("apply {n} pveha_resource, -parallelism={TERRAFORM_PARALLELISM}: wall time"),
        );
        let (kr, nr) = (
            format!("apply_{n}_lock_ratio"),
            format!("apply {n} HA resources ÷ floor (HA lock, terraform alone)"),
        );
        // The target is for the middle size; the others show how the ratio moves with N.
        let target = (n == sizes.apply[1]).then_some(Target::AtMost(1.5));
        progress(&format!("apply {n} pveha_resource × {}", sizes.apply_runs));
        let a = match env
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .and_then(|env| env.apply(n, sizes.apply_runs))
        {
            Ok(a) => a,
            Err(e) => {
                progress(&format!("apply {n} failed: {e:#}"));
                figures.push(Figure::missing(&kw, &nw, "s", None, short(&e)));
                figures.push(Figure::missing(&kr, &nr, "×", target, short(&e)));
                continue;
            }
        };
        details.insert(format!("apply_{n}_details"), a.details());
        let terraform_only = a.terraform_only_s.map_or_else(
            || "terraform-only baseline failed".to_string(),
            |t| format!("terraform alone (terraform_data × {n}) {t:.2} s"),
        );
        let requests = format!(
            "{} requests ({} list reads of /cluster/ha/resources)",
            a.requests,
            a.by_route["GET /cluster/ha/resources"]
                .as_u64()
                .unwrap_or(0)
        );
        if a.lower_bound_s <= 0.0 {
            figures.push(Figure::new(&kw, &nw, a.wall_s, "s", None));
            figures.push(Figure::missing(
                &kr,
                &nr,
                "×",
                target,
                "no injected latency, so no lock floor",
            ));
            continue;
        }
        // Two lower bounds, each true alone: the writes the HA lock serializes, and what Terraform itself spends
        // on N objects. They overlap (Terraform works on some instances while others wait for the lock), so the
        // floor is the larger, never the sum.
        let floor = a
            .terraform_only_s
            .map_or(a.lower_bound_s, |t| t.max(a.lower_bound_s));
        figures.push(
            Figure::new(&kw, &nw, a.wall_s, "s", None)
                .with_floor(floor)
                .with_note(format!("{terraform_only}; {requests}")),
        );
        figures.push(
            Figure::new(&kr, &nr, a.wall_s / floor, "×", target).with_note(format!(
                "floor = max({n} HA writes × latency = {:.2} s, terraform alone = {}): both bound the wall time \
                 and they overlap; wall ÷ the writes alone = {:.2}×",
                a.lower_bound_s,
                a.terraform_only_s.map_or_else(|| "not measured".to_string(), |t| format!("{t:.2} s")),
                a.wall_s / a.lower_bound_s
            )),
        );
    }
}

/// The largest median among this run's estimates whose id satisfies `pick` (a bench that times parts
/// of a report separately is judged by its largest part: the full report costs at least that).
fn pick_ms(
    estimates: &[criterion::Estimate],
    pick: impl Fn(&str) -> bool,
) -> Option<(f64, Vec<String>)> {
    let chosen: Vec<&criterion::Estimate> = estimates
        .iter()
        .filter(|e| pick(&e.id.to_lowercase()))
        .collect();
    let max = chosen
        .iter()
        .map(|e| e.median_ns)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
    Some((max / 1e6, chosen.iter().map(|e| e.id.clone()).collect()))
}

fn mentions_100k(id: &str) -> bool {
    ["100000", "100_000", "100k"].iter().any(|s| id.contains(s))
}

fn mentions_10k(id: &str) -> bool {
    !mentions_100k(id) && ["10000", "10_000", "10k"].iter().any(|s| id.contains(s))
}

fn criterion_figures(
    dir: &Path,
    since: Option<SystemTime>,
    figures: &mut Vec<Figure>,
    details: &mut serde_json::Map<String, Value>,
) {
    let all = criterion::collect(dir);
    let fresh: Vec<criterion::Estimate> = all
        .into_iter()
        .filter(|e| since.is_none_or(|s| e.written >= s))
        .collect();
    details.insert(
        "criterion".into(),
        Value::Object(
            fresh
                .iter()
                .map(|e| (e.id.clone(), json!({"median_ns": e.median_ns})))
                .collect(),
        ),
    );
    let not_run = "no fresh criterion estimate (did `cargo bench` run this bench?)";
    let audit = |id: &str| !id.starts_with("codec");
    let small = pick_ms(&fresh, |id| audit(id) && mentions_10k(id));
    let large = pick_ms(&fresh, |id| audit(id) && mentions_100k(id));
    let (k, n, t) = (
        "audit_10k_ms",
        "audit, 100 nodes / 10,000 guests",
        Some(Target::Below(50.0)),
    );
    match &small {
        Some((ms, ids)) => figures.push(
            Figure::new(k, n, *ms, "ms", t).with_note(format!("criterion: {}", ids.join(", "))),
        ),
        None => figures.push(Figure::missing(k, n, "ms", t, not_run)),
    }
    let (k, n) = ("audit_100k_ms", "audit, 1,000 nodes / 100,000 guests");
    match &large {
        Some((ms, _)) => figures.push(Figure::new(k, n, *ms, "ms", None)),
        None => figures.push(Figure::missing(k, n, "ms", None, not_run)),
    }
    let (k, n, t) = (
        "audit_growth",
        "audit growth, 10k → 100k guests",
        Some(Target::AtMost(12.0)),
    );
    match (&small, &large) {
        (Some((a, _)), Some((b, _))) if *a > 0.0 => figures.push(Figure::new(k, n, b / a, "×", t)),
        _ => figures.push(Figure::missing(k, n, "×", t, not_run)),
    }
    let (k, n) = (
        "codec_roundtrip_us",
        "codec: decode + encode, 1,000-element msgpack value",
    );
    match pick_ms(&fresh, |id| {
        id.starts_with("codec") && id.contains("roundtrip")
    }) {
        Some((ms, _)) => figures.push(Figure::new(k, n, ms * 1e3, "µs", None)),
        None => figures.push(Figure::missing(k, n, "µs", None, not_run)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn audit_sizes_are_told_apart_by_id() {
        assert!(mentions_10k("audit/report/10000"));
        assert!(!mentions_10k("audit/report/100000"));
        assert!(mentions_100k("audit/report/100k_guests"));
        let est = |id: &str, ns: f64| criterion::Estimate {
            id: id.into(),
            median_ns: ns,
            written: SystemTime::now(),
        };
        let all = [
            est("audit/findings/10000", 2e6),
            est("audit/report/10000", 9e6),
            est("audit/report/100000", 1e8),
        ];
        let (ms, ids) = pick_ms(&all, mentions_10k).unwrap();
        assert_eq!(ms, 9.0);
        assert_eq!(ids.len(), 2);
    }
}
