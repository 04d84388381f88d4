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
