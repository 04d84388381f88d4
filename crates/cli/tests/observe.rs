//! `pveha drill --observe` against a `pveha sim` process, with the simulator's control API playing the user: the
//! watch starts, the "user" powers a node off, reboots it or puts it in maintenance, and the watch must time the HA
//! services' failover on the simulated clock, agree with the audit's prediction, and make no write. Assertions are
//! on simulated-clock figures and on agreement, never on wall time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// The fixtures' API token (examples/homelab).
const TOKEN: &str = "root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

fn pveha() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pveha"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/homelab/{name}"))
}

/// A `pveha sim` process on 127.0.0.1:0 (plain HTTP), killed when dropped.
struct Sim {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    url: String,
}

impl Sim {
    /// Serves `fixture` with the HA clock running `scale` simulated seconds per wall second.
    fn start(fixture_name: &str, scale: &str) -> Sim {
        let mut child = pveha()
            .arg("sim")
            .arg("--snapshot")
            .arg(fixture(fixture_name))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--plain-http",
                "--time-scale",
                scale,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pveha sim starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the greeting");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected greeting {line:?}"))
            .to_string();
        Sim { child, url }
    }

    /// One control-API or API request; the status and the JSON body.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect to the simulator");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = format!("Authorization: PVEAPIToken={TOKEN}\r\n");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        let (head, text) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, serde_json::from_str(text).unwrap_or(Value::Null))
    }

    fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, v) = self.request(method, &format!("/_sim/{path}"), Some(body));
        assert_eq!(status, 200, "{method} /_sim/{path}: {v}");
        v
    }

    /// The API requests counted since the start, by `METHOD /path`.
    fn requests(&self) -> Value {
        self.request("GET", "/_sim/requests", None).1
    }

    /// The simulator's own record of when each HA service stopped and started (simulated seconds).
    fn timeline(&self) -> Value {
        self.request("GET", "/_sim/timeline", None).1
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `pveha drill --observe` with its stderr read line by line.
struct Observer {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

impl Observer {
    /// Starts the watch against `sim` with `extra` flags and waits until it says it is watching.
    fn start(sim: &Sim, extra: &[&str]) -> Observer {
        let mut child = pveha()
            .args([
                "drill",
                "--observe",
                "--endpoint",
                &sim.url,
                "--api-token",
                TOKEN,
            ])
            .args(["--allow-insecure-http", "--interval", "1s"])
            .args(extra)
            .env_remove("PROXMOX_VE_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pveha drill starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut o = Observer {
            child,
            lines,
            stderr: Vec::new(),
        };
        o.wait_for("watching");
        o
    }

    /// Reads stderr until a line contains `needle` (or the process ends, which fails the test).
    fn wait_for(&mut self, needle: &str) {
        loop {
            // A generous bound against a hung process; the test asserts nothing about how long this takes.
            match self.lines.recv_timeout(Duration::from_secs(300)) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.stderr.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!(
                    "pveha drill --observe never said {needle:?}; stderr:\n{}",
                    self.stderr.join("\n")
                ),
            }
        }
    }

    /// Waits for the end; the exit code, stdout and the whole stderr.
    fn finish(mut self) -> (i32, String, String) {
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).expect("stdout");
        }
        let status = self.child.wait().expect("exit");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stderr.push(line);
        }
        (status.code().unwrap_or(-1), out, self.stderr.join("\n"))
    }
}

/// Every request the watch made was a GET (the counters include nothing of the test's own control calls).
fn assert_read_only(sim: &Sim) {
    let requests = sim.requests();
    let routes = requests["by_route"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let gets: u64 = routes
        .iter()
        .filter(|(route, _)| route.starts_with("GET "))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    // Positive control: the counters did see the watch's polls.
    assert!(
        routes.contains_key("GET /cluster/ha/status/current") && gets > 2,
        "{requests}"
    );
    let writes: Vec<&String> = routes.keys().filter(|r| !r.starts_with("GET ")).collect();
    assert!(writes.is_empty(), "the watch wrote: {writes:?}");
}

/// Runs a watch on a fresh simulator, lets `act` play the user once the watch is ready, and returns the JSON report
/// with the simulator (for its counters and timeline).
fn observe(fixture_name: &str, act: impl FnOnce(&Sim)) -> (Value, Sim, String) {
    observe_at(fixture_name, "10", act)
}

/// [`observe`] with the simulator's clock at `scale` simulated seconds per wall second.
fn observe_at(fixture_name: &str, scale: &str, act: impl FnOnce(&Sim)) -> (Value, Sim, String) {
    let sim = Sim::start(fixture_name, scale);
    let observer = Observer::start(&sim, &["--format", "json", "--timeout", "5m"]);
    act(&sim);
    let (code, out, err) = observer.finish();
    assert_eq!(code, 0, "stderr:\n{err}\nstdout:\n{out}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (report, sim, err)
}

/// The simulator's own outage of `sid` (from its first stop to its next start), simulated seconds.
fn sim_outage(timeline: &Value, sid: &str) -> f64 {
    let list = timeline[sid].as_array().cloned().unwrap_or_default();
    let down = list
        .iter()
        .find(|c| c["running"] == false)
        .expect("it stopped");
    let up = list
        .iter()
        .find(|c| c["running"] == true && c["at"].as_f64() > down["at"].as_f64())
        .expect("it ran again");
    up["at"].as_f64().unwrap() - down["at"].as_f64().unwrap()
}

/// The drill's only drill, with the resolution the watch measured at.
fn only_drill(report: &Value) -> (&Value, f64) {
    assert_eq!(report["mode"], "observe", "{report}");
    let drills = report["drills"].as_array().expect("drills");
    assert_eq!(drills.len(), 1, "{report}");
    let resolution = report["tolerance_seconds"].as_f64().unwrap() - 20.0;
    assert!(resolution >= 0.0, "{report}");
    (&drills[0], resolution)
}

fn guest<'a>(drill: &'a Value, sid: &str) -> &'a Value {
    drill["guests"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["sid"] == sid))
        .unwrap_or_else(|| panic!("no row for {sid}: {drill}"))
}

#[test]
fn a_powered_off_node_is_timed_as_a_crash_on_the_simulated_clock_and_agrees_with_the_prediction() {
    let (report, sim, err) = observe("cluster-pve8.json", |sim| {
        sim.control("POST", "nodes/proxmox3/power", json!({"on": false}));
    });
    let (drill, resolution) = only_drill(&report);
    assert_eq!(
        (drill["node"].as_str(), drill["event"].as_str()),
        (Some("proxmox3"), Some("crash"))
    );
    assert_eq!(report["verdict"]["disagreements"], 0, "{report}");
    let timeline = sim.timeline();
    let ha: Vec<&Value> = drill["guests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["ha"] == true)
        .collect();
    assert_eq!(ha.len(), 4, "proxmox3 runs four HA containers: {drill}");
    for g in ha {
        let sid = g["sid"].as_str().unwrap();
        let measured = g["measured"]["seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("{g}"));
        // A fence delay and a lock expiry: minutes on the simulated clock, not the seconds the watch took.
        assert!(measured >= 60.0, "{g}");
        let truth = sim_outage(&timeline, sid);
        assert!(
            (measured - truth).abs() <= resolution,
            "{sid}: measured {measured}, the simulator says {truth}"
        );
        assert_eq!(g["measured_node"], g["predicted_node"], "{g}");
        assert_ne!(g["measured_node"], "proxmox3");
    }
    let polling = drill["notes"].as_array().unwrap().iter().any(|n| {
        n.as_str()
            .is_some_and(|n| n.starts_with("measured by polling every 1s: ±"))
    });
    assert!(polling, "{drill}");
    assert!(err.contains("crash of proxmox3 seen"), "{err}");
    assert_read_only(&sim);
}

#[test]
fn a_planned_reboot_is_told_from_a_crash_and_its_frozen_services_are_timed_to_the_nodes_return() {
    let (report, sim, _) = observe("cluster-pve8.json", |sim| {
        sim.control("POST", "nodes/proxmox2/reboot", json!({"down_seconds": 90}));
    });
    let (drill, resolution) = only_drill(&report);
    assert_eq!(
        (drill["node"].as_str(), drill["event"].as_str()),
        (Some("proxmox2"), Some("reboot"))
    );
    let away = drill["node_away_seconds"]
        .as_f64()
        .expect("the node's time away");
    assert!((away - 90.0).abs() <= resolution, "away {away}");
    assert_eq!(report["verdict"]["disagreements"], 0, "{report}");
    let timeline = sim.timeline();
    for sid in ["ct:100", "ct:116", "ct:131"] {
        let g = guest(drill, sid);
        assert_eq!(
            g["measured_node"], "proxmox2",
            "frozen, then back on its node: {g}"
        );
        let measured = g["measured"]["seconds"].as_f64().unwrap();
        assert!(
            (measured - sim_outage(&timeline, sid)).abs() <= resolution,
            "{g}"
        );
    }
    assert_read_only(&sim);
}

#[test]
fn maintenance_is_told_apart_and_the_services_move_off_the_node_that_stays_up() {
    let (report, sim, _) = observe("cluster-pve8.json", |sim| {
        sim.control(
            "POST",
            "nodes/proxmox3/maintenance",
            json!({"enable": true}),
        );
    });
    let (drill, _) = only_drill(&report);
    assert_eq!(
        (drill["node"].as_str(), drill["event"].as_str()),
        (Some("proxmox3"), Some("maintenance"))
    );
    assert_eq!(drill["node_away_seconds"], Value::Null);
    assert_eq!(report["verdict"]["disagreements"], 0, "{report}");
    for sid in ["ct:113", "ct:122", "ct:1250", "ct:130"] {
        let g = guest(drill, sid);
        assert_ne!(g["measured_node"], "proxmox3", "{g}");
        assert_eq!(g["measured_node"], g["predicted_node"], "{g}");
    }
    assert_read_only(&sim);
}

fn interrupt(observer: &Observer) {
    let status = Command::new("kill")
        .args(["-INT", &observer.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn ctrl_c_during_a_failover_prints_what_was_measured_so_far() {
    let sim = Sim::start("cluster-pve8.json", "10");
    let mut observer = Observer::start(&sim, &["--format", "json"]);
    sim.control("POST", "nodes/proxmox3/power", json!({"on": false}));
    observer.wait_for("crash of proxmox3 seen");
    interrupt(&observer);
    let (code, out, err) = observer.finish();
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let (drill, _) = only_drill(&report);
    assert_eq!(drill["event"], "crash");
    let interrupted = drill["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().is_some_and(|n| n.contains("interrupted")));
    assert!(interrupted, "{drill}");
    // The fence delay alone is a minute of simulated time: the Ctrl-C came before any recovery.
    assert_eq!(
        guest(drill, "ct:130")["measured"]["kind"],
        "stays_down",
        "{drill}"
    );
    assert_read_only(&sim);
}

#[test]
fn ctrl_c_before_any_event_says_nothing_was_measured() {
    let sim = Sim::start("cluster-pve8.json", "10");
    let observer = Observer::start(&sim, &[]);
    interrupt(&observer);
    let (code, out, err) = observer.finish();
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("interrupted") && err.contains("nothing to compare"),
        "{err}"
    );
    assert_read_only(&sim);
}

#[test]
fn flags_that_choose_the_event_and_a_faster_poll_than_once_a_second_are_usage_errors() {
    for extra in [
        &["--event", "crash"][..],
        &["--node", "proxmox"],
        &["--plan", "plan.json"],
        &["--horizon", "5m"],
        &["--down", "1m"],
        &["--snapshot", "cluster.json"],
        &["--interval", "0s"],
        &["--timeout", "0s"],
    ] {
        // Nothing listens there: a usage error must come before any connection.
        let out = pveha()
            .args([
                "drill",
                "--observe",
                "--endpoint",
                "http://127.0.0.1:9",
                "--api-token",
                TOKEN,
            ])
            .arg("--allow-insecure-http")
            .args(extra)
            .output()
            .expect("pveha runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.contains("warning")).collect();
        assert_eq!(lines.len(), 1, "{extra:?}: one line: {err}");
        assert!(lines[0].contains(extra[0]), "{extra:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_planned_shutdown_under_the_conditional_policy_is_told_from_a_reboot_and_agrees() {
    // Stopping four containers takes one HA round, and only that round shows `shutdown mode`: at half the usual
    // clock speed it lasts two polls, so the watch sees it however the polls fall.
    let (report, sim, _) = observe_at("cluster-pve8.json", "5", |sim| {
        sim.control("POST", "nodes/proxmox3/shutdown", json!({}));
    });
    let (drill, _) = only_drill(&report);
    assert_eq!(
        (drill["node"].as_str(), drill["event"].as_str()),
        (Some("proxmox3"), Some("shutdown"))
    );
    assert_eq!(drill["policy"], "conditional");
    assert_eq!(report["verdict"]["disagreements"], 0, "{report}");
    for sid in ["ct:113", "ct:122", "ct:1250", "ct:130"] {
        let g = guest(drill, sid);
        assert_eq!(g["measured_node"], g["predicted_node"], "{g}");
    }
    assert_read_only(&sim);
}
