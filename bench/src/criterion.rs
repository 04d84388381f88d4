//! Reads the figures criterion left under `target/criterion/**/new/` (`benchmark.json` names the
//! benchmark, `estimates.json` holds its statistics). It runs nothing: `scripts/bench.sh` runs the benches.

use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

/// One benchmark's result.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// criterion's full id, e.g. `audit/report/10000`.
    pub id: String,
    /// Median time per iteration, in nanoseconds.
    pub median_ns: f64,
    /// When criterion wrote it, to tell this run's results from stale ones.
    pub written: SystemTime,
}

/// Every estimate under `dir` (an absent dir gives none).
pub fn collect(dir: &Path) -> Vec<Estimate> {
    let mut out = Vec::new();
    walk(dir, &mut out, 0);
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn walk(dir: &Path, out: &mut Vec<Estimate>, depth: usize) {
    // criterion nests group/function/value/new: a fixed bound keeps a stray symlink loop harmless.
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(e) = read_one(&path) {
                out.push(e);
            }
        } else if path
            .file_name()
            .is_some_and(|n| n != "report" && n != "base" && n != "change")
        {
            walk(&path, out, depth + 1);
        }
    }
}

fn read_one(new: &Path) -> Option<Estimate> {
    let bench: Value =
        serde_json::from_str(&std::fs::read_to_string(new.join("benchmark.json")).ok()?).ok()?;
    let estimates_path = new.join("estimates.json");
    let estimates: Value =
        serde_json::from_str(&std::fs::read_to_string(&estimates_path).ok()?).ok()?;
    let id = bench["full_id"].as_str()?.to_string();
    let median_ns = estimates["median"]["point_estimate"].as_f64()?;
    let written = std::fs::metadata(&estimates_path)
        .and_then(|m| m.modified())
        .ok()?;
    Some(Estimate {
        id,
        median_ns,
        written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_are_found_at_any_depth_with_their_full_id() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("codec/decode/1000/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"full_id":"codec/decode/1000"}"#,
        )
        .unwrap();
        std::fs::write(
            new.join("estimates.json"),
            r#"{"median":{"point_estimate":1234.5}}"#,
        )
        .unwrap();
        let base = dir.path().join("codec/decode/1000/base");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("benchmark.json"), r#"{"full_id":"stale"}"#).unwrap();
        let found = collect(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "codec/decode/1000");
        assert_eq!(found[0].median_ns, 1234.5);
    }
}
