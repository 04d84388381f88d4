//! `pveha audit --format prometheus` as `docs/guides/monitoring.md` runs it from cron: the guide's command on the
//! homelab snapshot writes the textfile through `--output` (replaced whole, no temporary file left), exits 2 under
//! `--fail-on` after writing, and 1 without touching the file when the audit cannot run; every metric and label the
//! guide's alert rules use is in the output; a live audit of `pveha sim` reports the CRM's states.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use prometheus_parse::Scrape;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> String {
    root()
        .join("examples/homelab")
        .join(name)
        .display()
        .to_string()
}

fn guide() -> String {
    let path = root().join("docs/guides/monitoring.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `pveha ARGS` with no connection settings from the environment.
fn pveha(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pveha"));
    cmd.args(args);
    for var in [
        "ENDPOINT",
        "API_TOKEN",
        "USERNAME",
        "PASSWORD",
        "TLS_FINGERPRINT",
        "CA_CERT",
        "INSECURE",
        "ALLOW_INSECURE_HTTP",
    ] {
        cmd.env_remove(format!("PROXMOX_VE_{var}"));
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running pveha: {e}"))
}

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pveha-metrics-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Family name → the label names its samples carry, from a parse of the text.
fn families(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let scrape =
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap_or_else(|e| panic!("{e}"));
    let mut out: BTreeMap<String, BTreeSet<String>> = scrape
        .docs
        .keys()
        .map(|name| (name.clone(), BTreeSet::new()))
        .collect();
    for s in &scrape.samples {
        out.entry(s.metric.clone())
            .or_default()
            .extend(s.labels.keys().cloned());
    }
    out
}

/// The value of the sample with exactly these labels.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).ok()?;
    scrape.samples.iter().find_map(|s| {
        let same = s.metric == name
            && s.labels.len() == labels.len()
            && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
        match (same, &s.value) {
            (true, prometheus_parse::Value::Gauge(v)) => Some(*v),
            _ => None,
        }
    })
}

/// The guide's `pveha audit` command line, as arguments after `pveha`.
fn guide_command() -> Vec<String> {
    let text = guide();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pveha audit ") && l.contains("--output"))
        .unwrap_or_else(|| panic!("the guide shows no `pveha audit … --output` line"));
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// The guide's command with `--output` pointed into `dir` and the cluster read from a snapshot file.
fn guide_command_in(dir: &Path, snapshot: &str) -> (Vec<String>, PathBuf) {
    let mut args = guide_command();
    let i = args
        .iter()
        .position(|a| a == "--output")
        .unwrap_or_else(|| panic!("no --output in {args:?}"));
    let file_name = Path::new(&args[i + 1])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| panic!("--output names no file in {args:?}"));
    let target = dir.join(file_name);
    args[i + 1] = target.display().to_string();
    args.extend(["--snapshot".to_string(), snapshot.to_string()]);
    (args, target)
}

#[test]
fn the_guides_cron_command_replaces_the_textfile_whole_and_still_fails_on_high() {
    for name in ["cluster-pve8.json", "cluster-pve9.json"] {
        let dir = scratch(&format!("cron-{name}"));
        let (args, target) = guide_command_in(&dir, &fixture(name));
        assert!(args.iter().any(|a| a == "prometheus"), "{args:?}");
        assert!(args.iter().any(|a| a == "--fail-on"), "{args:?}");
        std::fs::write(&target, "stale_metric 1\n").unwrap_or_else(|e| panic!("{e}"));

        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = pveha(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "the homelab has high findings: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "the metrics go to the file only");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--fail-on high"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written = std::fs::read_to_string(&target).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            files(&dir),
            [target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()],
            "no temporary file left"
        );
        assert!(!written.contains("stale_metric"), "replaced, not appended");

        // The same text as stdout gives, and exit 0 without --fail-on.
        let printed = pveha(&[
            "audit",
            "--snapshot",
            &fixture(name),
            "--format",
            "prometheus",
        ]);
        assert_eq!(printed.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&printed.stdout), written);

        assert!(value(&written, "pveha_audit_risk", &[]).is_some_and(|r| r >= 3.0));
        assert_eq!(
            value(
                &written,
                "pveha_audit_findings",
                &[("severity", "critical"), ("code", "replicas-colocated")]
            ),
            Some(1.0),
            "Traefik's replicas share proxmox"
        );
        assert!(value(
            &written,
            "pveha_node_failure_lost_services",
            &[("node", "proxmox")]
        )
        .is_some_and(|n| n >= 1.0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_failed_audit_exits_1_and_leaves_the_previous_textfile_alone() {
    let dir = scratch("failed");
    let (args, target) = guide_command_in(&dir, &dir.join("missing.json").display().to_string());
    std::fs::write(&target, "pveha_audit_risk 1\n").unwrap_or_else(|e| panic!("{e}"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = pveha(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&target).ok().as_deref(),
        Some("pveha_audit_risk 1\n"),
        "the old file stays for the staleness alert to notice"
    );
    assert_eq!(files(&dir), ["pveha.prom"]);

    // An --output whose directory does not exist is an error too, with nothing on stdout.
    let nowhere = dir
        .join("no-such-dir")
        .join("pveha.prom")
        .display()
        .to_string();
    let out = pveha(&[
        "audit",
        "--snapshot",
        &fixture("cluster-pve8.json"),
        "--format",
        "prometheus",
        "--output",
        &nowhere,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot write"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every `pveha_…` name in the text, with the label names of a `{…}` selector that follows it.
fn names_used(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("pveha_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].to_string();
        let mut labels = Vec::new();
        if let Some(selector) = tail[end..].strip_prefix('{') {
            let inside = selector.split('}').next().unwrap_or_default();
            for matcher in inside.split(',') {
                let label: String = matcher
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !label.is_empty() {
                    labels.push(label);
                }
            }
        }
        out.push((name, labels));
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_metric_and_label_the_monitoring_guide_uses_is_written() {
    let out = pveha(&[
        "audit",
        "--snapshot",
        &fixture("cluster-pve8.json"),
        "--format",
        "prometheus",
    ]);
    let written = families(&String::from_utf8_lossy(&out.stdout));
    let used = names_used(&guide());
    assert!(
        used.len() >= 10,
        "the guide's table and rules name the metrics: {used:?}"
    );
    let mut missing = Vec::new();
    for (name, labels) in &used {
        match written.get(name) {
            None => missing.push(format!("{name} is not written")),
            Some(have) => {
                for l in labels.iter().filter(|l| !have.contains(*l)) {
                    missing.push(format!("{name} has no label {l}"));
                }
            }
        }
    }
    for name in written.keys() {
        assert!(
            used.iter().any(|(n, _)| n == name),
            "the guide does not document {name}"
        );
    }
    assert!(
        missing.is_empty(),
        "docs/guides/monitoring.md uses what pveha does not write:\n{}",
        missing.join("\n")
    );
}

/// A `pveha sim` process on loopback, ended by its id when dropped.
struct SimProcess {
    child: std::process::Child,
    url: String,
}

impl SimProcess {
    fn start(snapshot: &str) -> SimProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pveha"))
            .args([
                "sim",
                "--snapshot",
                snapshot,
                "--listen",
                "127.0.0.1:0",
                "--plain-http",
                "--time-scale",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting pveha sim: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("pveha sim said {line:?}"))
            .trim_end_matches('/')
            .to_string();
        SimProcess { child, url }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_live_audit_reports_each_ha_service_in_the_crms_state_on_its_node() {
    let sim = SimProcess::start(&fixture("cluster-pve8.json"));
    let out = pveha(&[
        "audit",
        "--endpoint",
        &sim.url,
        "--api-token",
        "root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b",
        "--allow-insecure-http",
        "--format",
        "prometheus",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let scrape =
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap_or_else(|e| panic!("{e}"));
    let states: BTreeMap<String, (String, String)> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "pveha_ha_service_state")
        .map(|s| {
            let l = |k: &str| s.labels.get(k).unwrap_or_default().to_string();
            (l("sid"), (l("state"), l("node")))
        })
        .collect();
    let sids: Vec<&str> = states.keys().map(String::as_str).collect();
    assert_eq!(
        sids,
        ["ct:100", "ct:113", "ct:116", "ct:122", "ct:1250", "ct:130", "ct:131"]
    );
    assert!(
        states.values().all(|(state, _)| state == "started"),
        "a live capture reads the CRM's states: {states:?}"
    );
    assert_eq!(
        states.get("ct:113").map(|(_, n)| n.as_str()),
        Some("proxmox3")
    );
    assert_eq!(
        states.get("ct:100").map(|(_, n)| n.as_str()),
        Some("proxmox2")
    );
    assert!(
        value(&text, "pveha_audit_timestamp_seconds", &[]).is_some(),
        "the HA clock's time"
    );
    assert_eq!(value(&text, "pveha_quorum_margin", &[]), Some(1.0));
}

/// The guide's cron script, with its credentials file and textfile path moved into `dir`.
fn guide_script(dir: &Path, env_file: &Path, textfile: &Path) -> PathBuf {
    let text = guide();
    let script = text
        .split("```sh\n")
        .find(|block| block.starts_with("#!/bin/sh"))
        .and_then(|block| block.split("```").next())
        .unwrap_or_else(|| panic!("the guide shows no #!/bin/sh script"));
    for path in [
        "/etc/pveha/env",
        "/var/lib/prometheus/node-exporter/pveha.prom",
    ] {
        assert!(script.contains(path), "the script uses {path}");
    }
    let script = script
        .replace("/etc/pveha/env", &env_file.display().to_string())
        .replace(
            "/var/lib/prometheus/node-exporter/pveha.prom",
            &textfile.display().to_string(),
        );
    let path = dir.join("pveha-metrics");
    std::fs::write(&path, script).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Decodes a query string's `%XX` and `+`.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_guides_script_pushes_down_to_uptime_kuma_when_the_audit_fails_on_high() {
    use std::io::{Read, Write};

    let dir = scratch("kuma");
    let sim = SimProcess::start(&fixture("cluster-pve8.json"));
    // A stand-in for Uptime Kuma on loopback: it answers one push and hands back the request line.
    let kuma = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let kuma_addr = kuma.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let pushes = std::thread::spawn(move || {
        let (mut conn, _) = kuma.accept().ok()?;
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}");
        let text = String::from_utf8_lossy(&request).into_owned();
        text.lines().next().map(str::to_string)
    });

    let env_file = dir.join("env");
    std::fs::write(
        &env_file,
        format!(
            "export PROXMOX_VE_ENDPOINT={}\nexport PROXMOX_VE_API_TOKEN='root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b'\nexport PROXMOX_VE_ALLOW_INSECURE_HTTP=true\nexport KUMA_PUSH_URL=http://{kuma_addr}/api/push/PUSHTOKEN\n",
            sim.url
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let textfile = dir.join("pveha.prom");
    let script = guide_script(&dir, &env_file, &textfile);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_pveha"))
        .parent()
        .unwrap_or_else(|| panic!("the binary has no directory"))
        .display()
        .to_string();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .arg(&script)
        .env("PATH", path)
        .env_remove("PROXMOX_VE_TLS_FINGERPRINT")
        .env_remove("PROXMOX_VE_CA_CERT")
        .output()
        .unwrap_or_else(|e| panic!("running the guide's script: {e}"));
    if !pushes.is_finished() {
        // The script never pushed: wake the stand-in so the test ends and fails on the missing push.
        let _ = std::net::TcpStream::connect(kuma_addr);
    }
    let request = pushes.join().ok().flatten().unwrap_or_default();
    assert!(
        out.status.success(),
        "the script exits with curl's status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = request.split_whitespace().nth(1).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    assert_eq!(path, "/api/push/PUSHTOKEN", "{request:?}");
    let params: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    assert_eq!(
        params.get("status").map(String::as_str),
        Some("down"),
        "{request:?}"
    );
    assert!(
        params
            .get("msg")
            .is_some_and(|m| m.contains("at or above high")),
        "{params:?}"
    );
    let written = std::fs::read_to_string(&textfile).unwrap_or_else(|e| panic!("{e}"));
    assert!(value(&written, "pveha_audit_risk", &[]).is_some_and(|r| r >= 3.0));
    let _ = std::fs::remove_dir_all(&dir);
}
