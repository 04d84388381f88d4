//! `pveha drill` on the homelab fixtures, through the built binary: the digital twin's measurements against the
//! audit's predictions, the exit codes a CI job reads, and the JSON field names scripts rely on.

use std::process::Command;

use serde_json::Value;

const FIXTURES: [&str; 2] = ["cluster-pve8.json", "cluster-pve9.json"];
const EVENTS: [&str; 4] = ["crash", "reboot", "shutdown", "maintenance"];

fn fixture(name: &str) -> String {
    format!(
        "{}/../../examples/homelab/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

fn pveha(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_pveha"))
        .args(args)
        .output()
        .expect("pveha runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn service<'a>(drill: &'a Value, name: &str) -> &'a Value {
    drill["services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no service {name} in {drill:#}"))
}

#[test]
fn a_crash_of_proxmox_before_the_blueprint_leaves_traefik_down_and_misses_the_rto_target() {
    let snapshot = fixture("cluster-pve8.json");
    let run = pveha(&[
        "drill",
        "--snapshot",
        &snapshot,
        "--node",
        "proxmox",
        "--event",
        "crash",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = run.json();
    let drill = &report["drills"][0];
    let traefik = service(drill, "traefik");
    assert_eq!(traefik["predicted"]["kind"], "stays_down", "{traefik:#}");
    assert_eq!(traefik["measured"]["kind"], "stays_down", "{traefik:#}");
    assert_eq!(traefik["critical"], true);
    assert_eq!(traefik["meets_rto"], false);
    assert!(traefik["disagreement"].is_null(), "{traefik:#}");

    let strict = pveha(&[
        "drill",
        "--snapshot",
        &snapshot,
        "--event",
        "crash",
        "--rto-target",
        "2m",
    ]);
    assert_eq!(strict.code, Some(2), "{}", strict.stderr);
    assert!(
        strict.stderr.contains("proxmox crash traefik"),
        "{}",
        strict.stderr
    );
    assert!(
        strict
            .stdout
            .contains("| traefik | yes | stays down | stays down | missed | ✓ |"),
        "{}",
        strict.stdout
    );
}

#[test]
fn every_event_on_every_node_of_both_fixtures_measures_what_the_audit_predicts() {
    for name in FIXTURES {
        let run = pveha(&["drill", "--snapshot", &fixture(name), "--format", "json"]);
        assert_eq!(run.code, Some(0), "{name}: {}", run.stderr);
        let report = run.json();
        let drills = report["drills"].as_array().expect("drills");
        let ran: Vec<(String, String)> = drills
            .iter()
            .map(|d| {
                (
                    d["node"].as_str().unwrap_or("").to_string(),
                    d["event"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = ["proxmox", "proxmox2", "proxmox3"]
            .iter()
            .flat_map(|n| EVENTS.iter().map(move |e| (n.to_string(), e.to_string())))
            .collect();
        assert_eq!(ran, expected, "{name}: every online node, every event");
        for d in drills {
            for row in d["guests"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(d["services"].as_array().into_iter().flatten())
            {
                assert!(
                    row["disagreement"].is_null(),
                    "{name}, {} {}: {row:#}",
                    d["node"],
                    d["event"]
                );
            }
        }
        assert_eq!(report["verdict"]["disagreements"], 0, "{name}");
        let touched: usize = drills
            .iter()
            .map(|d| d["guests"].as_array().map_or(0, Vec::len))
            .sum();
        assert!(
            touched > 0,
            "{name}: no guest was drilled, the comparison proves nothing"
        );
    }
}

#[test]
fn the_json_report_keeps_its_field_names() {
    let run = pveha(&[
        "drill",
        "--snapshot",
        &fixture("cluster-pve9.json"),
        "--node",
        "proxmox2",
        "--event",
        "reboot",
        "--down",
        "3m",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = run.json();
    for key in [
        "mode",
        "source",
        "tolerance_seconds",
        "rto_target_seconds",
        "drills",
        "verdict",
    ] {
        assert!(report.get(key).is_some(), "no {key}: {report:#}");
    }
    assert_eq!(report["mode"], "twin");
    assert_eq!(report["tolerance_seconds"], 20.0);
    let drill = &report["drills"][0];
    assert_eq!(
        (drill["node"].as_str(), drill["event"].as_str()),
        (Some("proxmox2"), Some("reboot"))
    );
    assert_eq!(drill["node_away_seconds"], 180.0);
    for key in ["policy", "guests", "services", "disagreements", "notes"] {
        assert!(drill.get(key).is_some(), "no {key}: {drill:#}");
    }
    let guest = &drill["guests"][0];
    for key in [
        "sid",
        "name",
        "service",
        "ha",
        "critical",
        "predicted_node",
        "predicted",
        "measured_node",
        "measured",
        "disagreement",
    ] {
        assert!(guest.get(key).is_some(), "no {key}: {guest:#}");
    }
    assert!(report["verdict"]["rto_missed"].is_array());
    assert!(report["verdict"]["disagreements"].is_number());
}

#[test]
fn usage_errors_print_one_line_and_exit_2() {
    let snapshot = fixture("cluster-pve8.json");
    for args in [
        vec!["drill", "--snapshot", &snapshot, "--event", "explode"],
        vec!["drill", "--snapshot", &snapshot, "--node", "nowhere"],
        vec!["drill", "--snapshot", &snapshot, "--down", "soon"],
        vec!["drill", "--snapshot", &snapshot, "--interval", "5s"],
        vec!["drill", "--snapshot", &snapshot, "--horizon", "0s"],
    ] {
        let run = pveha(&args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_missing_snapshot_or_plan_is_bad_input_with_exit_1() {
    let run = pveha(&["drill", "--snapshot", "/nonexistent/cluster.json"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let plan = pveha(&[
        "drill",
        "--snapshot",
        &fixture("cluster-pve8.json"),
        "--plan",
        "/nonexistent/plan.json",
    ]);
    assert_eq!(plan.code, Some(1), "{}", plan.stderr);
    assert!(plan.stdout.is_empty());
}

#[test]
fn without_a_terminal_the_drill_prints_no_progress() {
    let run = pveha(&[
        "drill",
        "--snapshot",
        &fixture("cluster-pve8.json"),
        "--event",
        "maintenance",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("drill 1/"), "{}", run.stderr);
    assert!(run.stdout.contains("## Verdict"), "{}", run.stdout);
}
