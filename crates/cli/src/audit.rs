//! `pveha audit`: audits a live cluster (captured with the client, as the `pveha_audit` data source does) or
//! a `--snapshot` file, and prints the report as Markdown, as JSON with the data source's field names, or as
//! Prometheus metrics for node_exporter's textfile collector; `--output FILE` replaces FILE atomically instead.
//! `--fail-on SEVERITY` exits 2 when a finding meets it, after the output is written. Output only; the engine does
//! the judging.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use pveha_audit::{Options, Report, Severity};
use pveha_model::{RawSnapshot, Snapshot, SnapshotData};

use crate::connect::ConnectArgs;

/// Output format of a report as `pveha review` prints it (`pveha audit` adds metrics: [`AuditFormat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The report: summary, findings, distribution, node-failure impact, remediation with HCL.
    Markdown,
    /// The `pveha_audit` data source's results as one JSON object.
    Json,
}

/// Output format of `pveha audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// The report: summary, findings, distribution, node-failure impact, remediation with HCL.
    Markdown,
    /// The `pveha_audit` data source's results as one JSON object.
    Json,
    /// Gauges in the Prometheus text format, for node_exporter's textfile collector (docs/guides/monitoring.md).
    Prometheus,
}

/// Where the cluster comes from and how it is judged: the flags `pveha audit` and `pveha review` share.
#[derive(Args, Debug)]
pub struct SourceArgs {
    /// Audit this pveha-snapshot/1 file instead of a live cluster.
    #[arg(long, value_name = "FILE")]
    pub(crate) snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// A tag marking critical guests (repeatable; default: critical).
    #[arg(long = "critical-tag", value_name = "TAG")]
    critical_tags: Vec<String>,
    /// A critical guest's VMID (repeatable).
    #[arg(long = "critical-vmid", value_name = "VMID")]
    critical_vmids: Vec<u64>,
    /// A regular expression on guest names marking critical guests (repeatable).
    #[arg(long = "critical-name", value_name = "REGEX")]
    critical_names: Vec<String>,
    /// A service and its replicas, NAME=VMID,VMID (repeatable).
    #[arg(long = "service", value_name = "NAME=VMIDS", value_parser = parse_service)]
    services: Vec<(String, Vec<u64>)>,
    /// Do not infer services from guest names (traefik / traefik-2).
    #[arg(long)]
    no_infer_services: bool,
    /// Allowed HA load difference between online nodes, percent (default 25).
    #[arg(long, value_name = "P")]
    balance_tolerance_percent: Option<f64>,
    /// How far back the journal is searched, from the snapshot's time (default 24h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    journal_window: Option<std::time::Duration>,
    /// Recovery time critical services must stay under (default 2m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) rto_target: Option<std::time::Duration>,
}

/// Flags of `pveha audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Markdown)]
    format: AuditFormat,
    /// Exit 2 when a finding has this severity or a higher one (critical, high, medium, low, info).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    fail_on: Option<Severity>,
    /// Write the output to FILE instead of stdout: a temporary file in FILE's directory renamed over it, so a
    /// reader (node_exporter's textfile collector) never sees half a file.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_service(text: &str) -> Result<(String, Vec<u64>), String> {
    let (name, list) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VMID,VMID"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("{text:?} has no service name"));
    }
    let vmids = list
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{v:?} in {text:?} is not a VMID"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    Ok((name.to_string(), vmids))
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    pveha_audit::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse()
}

impl SourceArgs {
    /// The engine's options from the flags, the data source's defaults for the rest.
    fn options(&self) -> Options {
        let mut o = Options::default();
        if !self.critical_tags.is_empty() {
            o.critical_tags = self.critical_tags.clone();
        }
        o.critical_vmids = self.critical_vmids.clone();
        o.critical_name_patterns = self.critical_names.clone();
        let mut services: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (name, vmids) in &self.services {
            services.entry(name.clone()).or_default().extend(vmids);
        }
        o.services = services;
        o.infer_services = !self.no_infer_services;
        if let Some(p) = self.balance_tolerance_percent {
            o.balance_tolerance_percent = p;
        }
        if let Some(w) = self.journal_window {
            o.journal_window = w;
        }
        if let Some(t) = self.rto_target {
            o.rto_target = t;
        }
        o
    }

    /// The options, checked; the error is a usage error (exit 2).
    pub fn checked_options(&self) -> Result<Options, String> {
        let options = self.options();
        options.check().map_err(|e| e.to_string())?;
        if let Some(p) = self
            .balance_tolerance_percent
            .filter(|p| !p.is_finite() || *p < 0.0)
        {
            return Err(format!(
                "--balance-tolerance-percent must be 0 or more, got {p}"
            ));
        }
        Ok(options)
    }
}

/// The report as the data source's results, one JSON object (plus `report`, the Markdown).
#[cfg(test)]
pub fn to_json(report: &Report) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(report).context("serializing the report")?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("the report is not a JSON object"))?;
    obj.insert(
        "report".into(),
        serde_json::Value::String(report.to_markdown()),
    );
    Ok(value)
}

/// [`to_json`] as text, written straight from the report (no JSON value of it in between).
pub fn json_text(report: &Report) -> Result<String> {
    #[derive(serde::Serialize)]
    struct WithMarkdown<'a> {
        #[serde(flatten)]
        results: &'a Report,
        report: String,
    }
    let doc = WithMarkdown {
        results: report,
        report: report.to_markdown(),
    };
    serde_json::to_string_pretty(&doc).context("serializing the report")
}

fn read_snapshot_file(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Runs `pveha audit`; returns the exit code (usage errors are 2, like a met `--fail-on`).
pub fn run(args: AuditArgs) -> i32 {
    let options = match args.source.checked_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pveha audit: {e}");
            return 2;
        }
    };
    match &args.source.snapshot {
        // A file is read straight into the engine's records: no JSON value of every path in between.
        Some(path) => {
            let text = match read_snapshot_file(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("pveha audit: {e:#}");
                    return 1;
                }
            };
            let raw = match RawSnapshot::from_json(&text) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("pveha audit: {}: {e}", path.display());
                    return 1;
                }
            };
            let code = report_on(&args, &raw, &options, Vec::new());
            // The process ends after the output: freeing the document's index and text would only cost time.
            std::mem::forget(raw);
            std::mem::forget(text);
            code
        }
        None => match load(&args.source) {
            Ok((snapshot, warnings)) => report_on(&args, &snapshot, &options, warnings),
            Err(e) => {
                eprintln!("pveha audit: {e:#}");
                1
            }
        },
    }
}

/// Audits `snapshot`, writes the report in the chosen format (stdout or `--output`) and returns the exit code.
fn report_on<S: SnapshotData>(
    args: &AuditArgs,
    snapshot: &S,
    options: &Options,
    warnings: Vec<String>,
) -> i32 {
    let (mut report, working) = match pveha_audit::audit_keeping(snapshot, options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pveha audit: {e}");
            return 1;
        }
    };
    report.notes.extend(warnings);
    // The HCL comes from the provider's renderer, so it matches what the `pveha_audit` data source shows.
    terraform_provider_pveha::remediation::fill(&mut report);
    let text = match args.format {
        AuditFormat::Markdown => report.to_markdown(),
        AuditFormat::Prometheus => report.to_prometheus(snapshot),
        AuditFormat::Json => match json_text(&report) {
            Ok(t) => t + "\n",
            Err(e) => {
                eprintln!("pveha audit: {e:#}");
                return 1;
            }
        },
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = write_atomically(path, &text) {
                eprintln!("pveha audit: {e:#}");
                return 1;
            }
        }
        None if !print(&text) => return 1,
        None => {}
    }
    let code = match args.fail_on {
        Some(threshold) if report.at_or_above(threshold).next().is_some() => {
            let n = report.at_or_above(threshold).count();
            eprintln!("pveha audit: {n} finding(s) at or above {threshold} (--fail-on {threshold}); risk {}", report.risk);
            2
        }
        _ => 0,
    };
    // The process exits with the code next: freeing the report and its text would only cost time.
    std::mem::forget(report);
    std::mem::forget(working);
    std::mem::forget(text);
    code
}

/// Writes the whole output to stdout; false when it could not (a closed pipe), which the caller exits 1 on.
pub fn print(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// Replaces `path` with `text` in one step: the text goes to a hidden temporary file in the same directory (a name
/// the textfile collector, which reads `*.prom`, skips), is synced, and is renamed over `path`; a failure removes it.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("--output {} names no file", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// The snapshot to audit, from the file or captured live, with the capture's warnings.
pub fn load(args: &SourceArgs) -> Result<(Snapshot, Vec<String>)> {
    if let Some(path) = &args.snapshot {
        let text = read_snapshot_file(path)?;
        let snapshot = Snapshot::from_json(&text).with_context(|| path.display().to_string())?;
        return Ok((snapshot, Vec::new()));
    }
    let client = args.connect.client()?;
    let capture = crate::snapshot::capture_live(&client)?;
    Ok((capture.snapshot, capture.warnings))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: AuditArgs,
    }

    fn parse(argv: &[&str]) -> AuditArgs {
        let mut full = vec!["pveha-audit"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).unwrap().args
    }

    #[test]
    fn flags_become_the_engines_options() {
        let a = parse(&[
            "--critical-tag",
            "tier0",
            "--critical-vmid",
            "110",
            "--critical-name",
            "^traefik",
            "--service",
            "dns=100,113",
            "--service",
            "dns=114",
            "--no-infer-services",
            "--balance-tolerance-percent",
            "10",
            "--journal-window",
            "7d",
            "--rto-target",
            "5m",
        ]);
        let o = a.source.options();
        assert_eq!(o.critical_tags, ["tier0"]);
        assert_eq!(o.critical_vmids, [110]);
        assert_eq!(o.critical_name_patterns, ["^traefik"]);
        assert_eq!(o.services.get("dns"), Some(&vec![100, 113, 114]));
        assert!(!o.infer_services);
        assert_eq!(o.balance_tolerance_percent, 10.0);
        assert_eq!(o.journal_window.as_secs(), 7 * 86_400);
        assert_eq!(o.rto_target.as_secs(), 300);
    }

    #[test]
    fn prometheus_output_goes_to_the_named_file() {
        let a = parse(&["--format", "prometheus", "--output", "/tmp/pveha.prom"]);
        assert_eq!(a.format, AuditFormat::Prometheus);
        assert_eq!(a.output, Some(PathBuf::from("/tmp/pveha.prom")));
        assert_eq!(parse(&[]).output, None, "stdout by default");
    }

    #[test]
    fn an_output_path_without_a_file_name_is_refused_before_writing() {
        let err = write_atomically(Path::new("/"), "x").map(|()| "written");
        assert!(err.is_err_and(|e| e.to_string().contains("names no file")));
    }

    #[test]
    fn the_json_written_is_the_data_sources_results_with_the_markdown() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/homelab/cluster-pve9.json"
        ))
        .unwrap();
        let snapshot = Snapshot::from_json(&text).unwrap();
        let report = pveha_audit::audit(&snapshot, &Options::default()).unwrap();
        let expected = serde_json::to_string_pretty(&to_json(&report).unwrap()).unwrap();
        assert_eq!(json_text(&report).unwrap(), expected);
    }

    #[test]
    fn no_flags_give_the_data_sources_defaults() {
        assert_eq!(parse(&[]).source.options(), Options::default());
    }

    #[test]
    fn malformed_values_are_usage_errors() {
        for argv in [
            &["--service", "dns"][..],
            &["--service", "=1"],
            &["--service", "dns=1,x"],
            &["--journal-window", "soon"],
            &["--fail-on", "severe"],
            &["--format", "yaml"],
            &["--output"],
        ] {
            let mut full = vec!["pveha-audit"];
            full.extend_from_slice(argv);
            assert!(
                Wrap::try_parse_from(full).is_err(),
                "{argv:?} should be refused"
            );
        }
    }
}
