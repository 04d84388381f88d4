//! The audit's whole-process figures beside their floor: `pveha audit --snapshot F --format json` on synthetic
//! clusters of 10,000 and 100,000 guests, and on the same file the least a reader of it must do, reading it and
//! parsing it with serde_json alone into a `serde_json::Value`. Each process is reaped with `wait4`, so its peak
//! RSS is the kernel's account. It measures and reports; it asserts nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::report::{Figure, Target};
use crate::snapshot;

/// The audit may cost at most this many times the parse of its input (issue 16 item 1).
const RATIO_TARGET: f64 = 2.0;
/// Ten times the cluster may cost at most this many times the time (issue 16 item 1).
const GROWTH_TARGET: f64 = 11.0;

/// One cluster size.
struct Case {
    nodes: usize,
    guests: usize,
    ha: usize,
    runs: usize,
}

/// What one size measured.
struct Measured {
    parse_ms: f64,
    audit_ms: f64,
    parse_rss_mib: f64,
    audit_rss_mib: f64,
    file_mib: f64,
}

/// One reaped process: wall time, CPU time and peak RSS.
#[derive(Debug, Clone, Copy)]
struct Usage {
    wall_ms: f64,
    cpu_ms: f64,
    max_rss_kib: u64,
}

/// `pveha-bench-audit generate NODES GUESTS HA FILE`: writes [`snapshot::audit_cluster`] to FILE.
#[allow(dead_code)] // The mode of pveha-bench-audit; pveha-bench only starts it.
pub fn generate(args: &[String]) -> Result<()> {
    let [nodes, guests, ha, file] = args else {
        bail!("generate needs NODES GUESTS HA FILE");
    };
    let number = |s: &str| {
        s.parse::<usize>()
            .with_context(|| format!("{s:?} is not a count"))
    };
    let doc = snapshot::audit_cluster(number(nodes)?, number(guests)?, number(ha)?);
    std::fs::write(file, serde_json::to_vec(&doc)?).with_context(|| format!("writing {file}"))
}

/// The floor binary's arguments: read `file` and parse it into a `serde_json::Value`, then exit without freeing.
pub fn parse_args(file: &Path) -> Vec<String> {
    vec!["parse".into(), file.display().to_string()]
}

/// Adds the audit rows: parse and audit at both sizes (the audit with the parse as its floor), the growth from the
/// smaller to the larger, and both processes' peak RSS. `floor_bin` is `pveha-bench-audit` (its `parse` mode).
pub fn figures(
    pveha: &Path,
    floor_bin: &Path,
    dir: &Path,
    quick: bool,
    figures: &mut Vec<Figure>,
    details: &mut serde_json::Map<String, Value>,
) {
    // `--quick` keeps the tenfold step, on smaller clusters: its figures are not the issue's.
    let cases = if quick {
        [
            Case {
                nodes: 10,
                guests: 1_000,
                ha: 300,
                runs: 3,
            },
            Case {
                nodes: 100,
                guests: 10_000,
                ha: 3_000,
                runs: 3,
            },
        ]
    } else {
        [
            Case {
                nodes: 100,
                guests: 10_000,
                ha: 3_000,
                runs: 7,
            },
            Case {
                nodes: 1_000,
                guests: 100_000,
                ha: 30_000,
                runs: 3,
            },
        ]
    };
    let mut measured = Vec::new();
    for case in &cases {
        eprintln!(
            "pveha-bench: audit of {} nodes / {} guests × {}",
            case.nodes, case.guests, case.runs
        );
        let m = measure(pveha, floor_bin, dir, case);
        let label = format!("{}n_{}g", case.nodes, case.guests);
        push_case(case, m.as_ref(), figures);
        match m {
            Ok((m, samples)) => {
                details.insert(format!("audit_{label}"), samples);
                measured.push(Some(m));
            }
            Err(e) => {
                eprintln!("pveha-bench: audit of {label} failed: {e:#}");
                measured.push(None);
            }
        }
    }
    let (small, large) = (&cases[0], &cases[1]);
    let key = format!("audit_process_growth_{}g_{}g", small.guests, large.guests);
    let name = format!(
        "audit process growth, {} → {} guests",
        small.guests, large.guests
    );
    let target = Some(Target::AtMost(GROWTH_TARGET));
    match (&measured[0], &measured[1]) {
        (Some(a), Some(b)) if a.audit_ms > 0.0 => {
            let work = large.guests as f64 / small.guests as f64;
            figures.push(
                Figure::new(&key, &name, b.audit_ms / a.audit_ms, "×", target).with_note(format!(
                    "{work:.0}× the guests; the parse alone grew {:.1}×",
                    b.parse_ms / a.parse_ms
                )),
            );
        }
        _ => figures.push(Figure::missing(&key, &name, "×", target, "not measured")),
    }
    for (case, m) in cases.iter().zip(&measured) {
        let key = format!("audit_process_{}g_rss_mib", case.guests);
        let name = format!("audit process peak RSS, {} guests", case.guests);
        match m {
            Some(m) => figures.push(
                Figure::new(&key, &name, m.audit_rss_mib, "MiB", None)
                    .with_floor(m.parse_rss_mib)
                    .with_note(format!(
                        "floor: the parse process's peak RSS; the snapshot file is {:.1} MiB",
                        m.file_mib
                    )),
            ),
            None => figures.push(Figure::missing(&key, &name, "MiB", None, "not measured")),
        }
    }
}

fn push_case(
    case: &Case,
    m: Result<&(Measured, Value), &anyhow::Error>,
    figures: &mut Vec<Figure>,
) {
    let size = format!("{} nodes / {} guests", case.nodes, case.guests);
    let (kp, np) = (
        format!("audit_parse_{}g_ms", case.guests),
        format!("parse floor, {size}: read + serde_json::Value, CPU"),
    );
    let (ka, na) = (
        format!("audit_process_{}g_ms", case.guests),
        format!("pveha audit --format json, {size}, CPU"),
    );
    let (m, _) = match m {
        Ok(m) => m,
        Err(e) => {
            let why = short(e);
            figures.push(Figure::missing(&kp, &np, "ms", None, why.clone()));
            figures.push(Figure::missing(&ka, &na, "ms", None, why));
            return;
        }
    };
    figures.push(Figure::new(&kp, &np, m.parse_ms, "ms", None));
    // The target is on the ratio; as a bound on the value it is that many parses.
    let target = Some(Target::AtMost(RATIO_TARGET * m.parse_ms));
    figures.push(
        Figure::new(&ka, &na, m.audit_ms, "ms", target)
            .with_floor(m.parse_ms)
            .with_note(format!(
                "whole process, CPU time (user + system), median of {} runs; target: at most {RATIO_TARGET}× the parse floor",
                case.runs
            )),
    );
}

/// Writes the case's snapshot, then alternates floor and audit runs (so load on the machine hits both alike).
fn measure(pveha: &Path, floor_bin: &Path, dir: &Path, case: &Case) -> Result<(Measured, Value)> {
    for bin in [pveha, floor_bin] {
        if !bin.is_file() {
            bail!(
                "{} is missing (run `cargo build --release -p pveha -p pveha-bench`)",
                bin.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join(format!("audit-{}n-{}g.json", case.nodes, case.guests));
    // Written by a child: a process started from this one would otherwise inherit its peak RSS, the whole document.
    let generate: Vec<String> = vec![
        "generate".into(),
        case.nodes.to_string(),
        case.guests.to_string(),
        case.ha.to_string(),
        file.display().to_string(),
    ];
    run(floor_bin, &generate, dir)?;
    let file_mib = std::fs::metadata(&file)?.len() as f64 / (1024.0 * 1024.0);

    let audit_args: Vec<String> = vec![
        "audit".into(),
        "--snapshot".into(),
        file.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    let floor_args = parse_args(&file);
    // One unmeasured run of each warms the page cache and checks that both succeed.
    run(floor_bin, &floor_args, dir)?;
    run(pveha, &audit_args, dir)?;
    let mut parse = Vec::new();
    let mut audit = Vec::new();
    for _ in 0..case.runs {
        parse.push(run(floor_bin, &floor_args, dir)?);
        audit.push(run(pveha, &audit_args, dir)?);
    }
    // CPU time, not wall time: on a shared machine other processes stretch the wall clock of both alike, by a
    // different amount each run; a single-threaded process's CPU time is its own work.
    let cpu = |u: &[Usage]| median(&u.iter().map(|u| u.cpu_ms).collect::<Vec<_>>());
    let rss = |u: &[Usage]| u.iter().map(|u| u.max_rss_kib).max().unwrap_or(0);
    let samples = |u: &[Usage]| {
        json!({
            "wall_ms": u.iter().map(|u| u.wall_ms).collect::<Vec<_>>(),
            "cpu_ms": u.iter().map(|u| u.cpu_ms).collect::<Vec<_>>(),
            "max_rss_kib": u.iter().map(|u| u.max_rss_kib).collect::<Vec<_>>(),
        })
    };
    let measured = Measured {
        parse_ms: cpu(&parse),
        audit_ms: cpu(&audit),
        parse_rss_mib: mib(rss(&parse)),
        audit_rss_mib: mib(rss(&audit)),
        file_mib,
    };
    let details = json!({
        "nodes": case.nodes, "guests": case.guests, "ha": case.ha, "file_mib": file_mib,
        "floor": "read the file, serde_json::from_str::<serde_json::Value>, exit without freeing",
        "parse": samples(&parse), "audit": samples(&audit),
    });
    Ok((measured, details))
}

/// The first line of an error chain, for a table note.
fn short(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    text.lines()
        .next()
        .unwrap_or("failed")
        .chars()
        .take(160)
        .collect()
}

/// Runs one process to completion with its output discarded; a failure carries its stderr.
fn run(bin: &Path, args: &[String], dir: &Path) -> Result<Usage> {
    let err_path: PathBuf = dir.join("audit-stderr.log");
    let err = std::fs::File::create(&err_path)
        .with_context(|| format!("creating {}", err_path.display()))?;
    let started = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let (status, usage) = wait4(child.id())?;
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let log = std::fs::read_to_string(&err_path).unwrap_or_default();
        bail!(
            "`{} {}` failed (wait status {status}): {}",
            bin.display(),
            args.join(" "),
            log.trim()
        );
    }
    Ok(Usage {
        wall_ms,
        cpu_ms: usage.0,
        max_rss_kib: usage.1,
    })
}

/// Reaps `pid`: its wait status, CPU milliseconds (user + system) and peak RSS in KiB (of it and its reaped
/// children).
pub(crate) fn wait4(pid: u32) -> Result<(i32, (f64, u64))> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    let mut status = 0;
    // SAFETY: all-zero is a valid `rusage` (plain integers and timevals).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own unreaped child; both out-pointers are valid for the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("waiting for the child");
        }
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    let rss = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok((status, (ms(usage.ru_utime) + ms(usage.ru_stime), rss)))
}

/// The median of `samples` (NaN for none).
pub(crate) fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// KiB as MiB.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The child is reaped by `wait4`, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    fn a_reaped_child_reports_its_peak_rss() {
        let child = Command::new("sh").args(["-c", "exit 0"]).spawn().unwrap();
        let (status, (cpu, rss)) = wait4(child.id()).unwrap();
        assert_eq!(libc::WEXITSTATUS(status), 0);
        assert!(cpu >= 0.0);
        assert!(
            rss > 0,
            "the kernel accounts some resident memory to any process"
        );
    }
}
