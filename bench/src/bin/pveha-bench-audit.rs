//! `pveha-bench-audit`: the audit rows of `make bench` on their own (`make bench-audit`), and the parse floor they
//! are measured against (`pveha-bench-audit parse FILE`: read the snapshot, parse it into a `serde_json::Value`
//! with the same serde_json features as `pveha`, exit without freeing). `pveha-bench` runs the same rows.

#[path = "../audit_floor.rs"]
mod audit_floor;
#[allow(dead_code)] // The whole-process harness's report; this binary uses a part of it.
#[path = "../report.rs"]
mod report;
#[allow(dead_code)] // The simulator's clusters are `pveha-bench`'s.
#[path = "../snapshot.rs"]
mod snapshot;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: pveha-bench-audit [--target-dir DIR] [--out FILE] [--quick] | parse FILE | generate NODES GUESTS HA FILE";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("parse") {
        std::process::exit(match parse(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("pveha-bench-audit: {e:#}");
                1
            }
        });
    }
    if args.first().map(String::as_str) == Some("generate") {
        std::process::exit(match audit_floor::generate(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("pveha-bench-audit: {e:#}");
                1
            }
        });
    }
    let code = match options(&args) {
        Ok((target, out, quick)) => rows(&target, &out, quick),
        Err(e) => {
            eprintln!("pveha-bench-audit: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

/// The floor: exactly what any reader of the file must do before it can look at a single value.
fn parse(args: &[String]) -> Result<()> {
    let [file] = args else {
        bail!("parse needs one FILE\n{USAGE}");
    };
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))?;
    // Freeing is not part of the floor: the process ends here.
    std::mem::forget(std::hint::black_box(value));
    std::mem::forget(text);
    Ok(())
}

fn options(args: &[String]) -> Result<(PathBuf, PathBuf, bool)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let mut out = PathBuf::new();
    let mut quick = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .map(PathBuf::from)
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--target-dir" => target = value()?,
            "--out" => out = value()?,
            "--quick" => quick = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if out.as_os_str().is_empty() {
        out = target.join("bench/audit-results.json");
    }
    Ok((target, out, quick))
}

fn rows(target: &Path, out: &Path, quick: bool) -> i32 {
    let mut figures = Vec::new();
    let mut details = serde_json::Map::new();
    details.insert("quick".into(), serde_json::json!(quick));
    audit_floor::figures(
        &target.join("release/pveha"),
        &target.join("release/pveha-bench-audit"),
        &target.join("bench/audit"),
        quick,
        &mut figures,
        &mut details,
    );
    let report = report::Report {
        latency_ms: 0,
        terraform_version: String::new(),
        figures,
        details,
    };
    print!("{}", report.table());
    if let Err(e) = report.write_json(out) {
        eprintln!("pveha-bench-audit: {e:#}");
        return 1;
    }
    println!("wrote {}", out.display());
    0
}
