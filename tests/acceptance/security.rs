//! Security, end to end (issue 9, item 7): a whole apply logged at `TF_LOG=trace` holds no token secret,
//! password, ticket or CSRF token; credentials are sensitive in the schema and never shown; TLS to the API is
//! verified and fails closed before any request; the plugin listens on a unix socket in a private directory.
//! The simulator's loopback-only control API is proven in `crates/sim/tests/control_peers.rs` (no traffic may
//! go to a non-loopback address here). Runs against the newest Terraform only: what is checked is the provider.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use anyhow::{anyhow, ensure, Context as _, Result};
use pveha_acceptance::{processes_with_marker, Sim, Workdir, TOKEN, TOKEN_SECRET};
use regex::Regex;
use serde_json::json;

use crate::provider_config::{hcl, workdir};
use crate::reliability::{newest, until, until_requested};

/// The fixtures' password of `root@pam`.
const PASSWORD: &str = "homelab-demo";

/// A config that reads and writes through every kind of API call: HA list reads, an HA write, a guest
/// config read-modify-write.
const EVERYTHING: &str = r#"
resource "pveha_group" "web" {
  name  = "web"
  nodes = { proxmox2 = 2, proxmox3 = 1 }
}

resource "pveha_resource" "traefik" {
  sid          = "ct:110"
  group        = pveha_group.web.name
  max_restart  = 3
}

resource "pveha_guest_startup" "dhcp" {
  vmid   = 133
  onboot = true
  order  = 2
}
"#;

/// The simulator on a frozen clock, so a login made by the test gets the very ticket and CSRF token the
/// provider got (both are signed over user and time), and the test can grep for their literal values.
async fn frozen_sim() -> Result<Sim> {
    Sim::start_with(Sim::fixture("cluster-pve8.json"), &["--time-scale", "0"]).await
}

/// Every secret that may appear during a session with `sim`: token secret, password, ticket, CSRF token.
async fn secrets(sim: &Sim) -> Result<Vec<String>> {
    let login = sim
        .api_with_auth(
            None,
            "POST",
            "/access/ticket",
            &[("username", "root@pam"), ("password", PASSWORD)],
        )
        .await?;
    let data = login.data()?;
    let ticket = data["ticket"]
        .as_str()
        .ok_or_else(|| anyhow!("no ticket: {data}"))?;
    let csrf = data["CSRFPreventionToken"]
        .as_str()
        .ok_or_else(|| anyhow!("no CSRF token: {data}"))?;
    Ok(vec![
        TOKEN_SECRET.to_string(),
        PASSWORD.to_string(),
        ticket.to_string(),
        csrf.to_string(),
        // The ticket's signature alone, in case a log splits or re-encodes the cookie.
        ticket.rsplit("::").next().unwrap_or(ticket).to_string(),
    ])
}

/// Panics naming the secret and the line if `text` holds any of `secrets`.
#[track_caller]
fn expect_no_secret(text: &str, secrets: &[String], what: &str) {
    for secret in secrets {
        if let Some(line) = text.lines().find(|l| l.contains(secret.as_str())) {
            panic!("{what} leaks a secret ({} chars) in: {line}", secret.len());
        }
    }
}

#[tokio::test]
async fn a_trace_log_of_whole_applies_holds_no_secret() -> Result<()> {
    let sim = frozen_sim().await?;
    let secrets = secrets(&sim).await?;
    let cfg = hcl(EVERYTHING);
    let provider_line = Regex::new(r"\[TRACE\]|\[DEBUG\]")?;

    // Token auth: apply, update, destroy.
    let mut w = workdir(newest(), &sim);
    w.set_env("TF_LOG", "trace");
    let created = w.try_apply(&cfg).await.expect_success();
    let changed = w
        .try_apply(&cfg.replace("max_restart  = 3", "max_restart  = 4"))
        .await
        .expect_success();
    let destroyed = w
        .run(&["destroy", "-input=false", "-no-color", "-auto-approve"])
        .await
        .expect_success();
    for out in [&created, &changed, &destroyed] {
        assert!(
            out.stderr.contains("provider.terraform-provider-pveha")
                && provider_line.is_match(&out.stderr),
            "no provider trace lines, so the check below would prove nothing:\n{out}"
        );
        expect_no_secret(&out.combined(), &secrets, "a token-auth run");
    }

    // Ticket auth: the provider logs in with the password and writes with the CSRF token.
    let mut w = Workdir::new(newest());
    w.set_env("PROXMOX_VE_ENDPOINT", sim.endpoint())
        .set_env("PROXMOX_VE_USERNAME", "root@pam")
        .set_env("PROXMOX_VE_PASSWORD", PASSWORD)
        .set_env(
            "PROXMOX_VE_TLS_FINGERPRINT",
            sim.fingerprint().unwrap_or_default(),
        )
        .set_env("TF_LOG", "trace");
    sim.reset_requests().await?;
    let created = w.try_apply(&cfg).await.expect_success();
    let destroyed = w
        .run(&["destroy", "-input=false", "-no-color", "-auto-approve"])
        .await
        .expect_success();
    let counted = sim.requests().await?;
    assert!(
        counted.get("POST /access/ticket") >= 1 && counted.get("POST /cluster/ha/groups") >= 1,
        "the run did not log in and write with a ticket: {counted:?}"
    );
    for out in [&created, &destroyed] {
        expect_no_secret(&out.combined(), &secrets, "a ticket-auth run");
    }
    Ok(())
}

#[tokio::test]
async fn credentials_are_sensitive_and_never_shown() -> Result<()> {
    let sim = frozen_sim().await?;
    let mut w = Workdir::new(newest());
    let block = format!(
        "provider \"pveha\" {{\n  endpoint        = \"{}\"\n  api_token       = var.token\n  tls_fingerprint = \"{}\"\n}}\n\
         variable \"token\" {{\n  type    = string\n  default = \"{TOKEN}\"\n}}\n\
         output \"token\" {{\n  value     = var.token\n  sensitive = true\n}}\n",
        sim.endpoint(),
        sim.fingerprint().unwrap_or_default()
    );
    let cfg = hcl(EVERYTHING).replace("provider \"pveha\" {}\n", &block);
    w.write_config(&cfg);
    w.init().await;
    let schema = w
        .run(&["providers", "schema", "-json"])
        .await
        .expect_success();
    let schema: serde_json::Value = serde_json::from_str(&schema.stdout).context("schema JSON")?;
    let provider = schema["provider_schemas"]
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.ends_with("pveha/pveha")))
        .map(|(_, v)| v["provider"]["block"]["attributes"].clone())
        .ok_or_else(|| anyhow!("no pveha provider schema: {schema}"))?;
    for attr in ["api_token", "password"] {
        assert_eq!(
            provider[attr]["sensitive"],
            json!(true),
            "{attr} is not marked sensitive: {}",
            provider[attr]
        );
    }
    let plan = w.plan_current().await;
    plan.expect_changes();
    expect_no_secret(
        &plan.output.combined(),
        &[TOKEN_SECRET.to_string()],
        "plan output",
    );
    let applied = w.apply(&cfg).await;
    expect_no_secret(
        &applied.output.combined(),
        &[TOKEN_SECRET.to_string()],
        "apply output",
    );
    let shown = w.run(&["show", "-no-color"]).await.expect_success();
    expect_no_secret(
        &shown.combined(),
        &[TOKEN_SECRET.to_string()],
        "`terraform show`",
    );
    Ok(())
}

#[tokio::test]
async fn tls_is_verified_and_fails_closed_before_any_request() -> Result<()> {
    let sim = frozen_sim().await?;
    let cfg = hcl("resource \"pveha_resource\" \"traefik\" {\n  sid = \"ct:110\"\n}\n");
    let mut w = workdir(newest(), &sim);
    w.write_config(&cfg);
    w.init().await;

    // A pin that is not the server's: refused during the handshake, so no API request is ever sent.
    let wrong = ["AB"; 32].join(":");
    w.set_env("PROXMOX_VE_TLS_FINGERPRINT", &wrong);
    sim.reset_requests().await?;
    w.plan_current()
        .await
        .expect_error(r"fingerprint|tls_fingerprint", None);
    assert_eq!(
        sim.requests().await?.total,
        0,
        "a request went out despite the wrong pin"
    );

    // No pin, no CA: the self-signed certificate is not trusted.
    w.unset_env("PROXMOX_VE_TLS_FINGERPRINT");
    w.plan_current()
        .await
        .expect_error(r"not\s+trusted[\s\S]*(ca_cert|tls_fingerprint)", None);
    assert_eq!(
        sim.requests().await?.total,
        0,
        "a request went out to an untrusted server"
    );

    // insecure = true works, and says loudly that nothing is verified.
    w.set_env("PROXMOX_VE_INSECURE", "true");
    let plan = w.plan_current().await;
    plan.expect_changes();
    let warning = Regex::new(r"Warning: TLS certificate verification is off")?;
    assert!(
        warning.is_match(&plan.output.combined()),
        "insecure = true gave no warning:\n{}",
        plan.output
    );
    Ok(())
}

#[tokio::test]
async fn the_plugin_listens_on_a_unix_socket_in_a_private_directory() -> Result<()> {
    let sim = frozen_sim().await?;
    let cfg = hcl("resource \"pveha_resource\" \"traefik\" {\n  sid = \"ct:110\"\n}\n");
    let mut w = workdir(newest(), &sim);
    w.write_config(&cfg);
    w.init().await;
    // The plan's first API call is held, so the provider is serving while the test looks at its socket.
    sim.add_fault(json!({"method": "GET", "path": "^/version$", "kind": "latency", "latency_ms": 3000, "count": 1}))
        .await?;
    let tmp = w.tmpdir().to_path_buf();
    let marker = w.marker().to_string();
    let (plan, looked) = tokio::join!(w.plan_current(), async {
        until_requested(&sim, "GET /version", 1).await?;
        let dirs: Vec<_> = std::fs::read_dir(&tmp)?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("tfplugin-"))
            .map(|e| e.path())
            .collect();
        ensure!(
            dirs.len() == 1,
            "expected one socket directory in {}: {dirs:?}",
            tmp.display()
        );
        let dir = std::fs::metadata(&dirs[0])?;
        ensure!(
            dir.is_dir() && dir.permissions().mode() & 0o777 == 0o700,
            "{} has mode {:o}, not 0700",
            dirs[0].display(),
            dir.permissions().mode() & 0o777
        );
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        ensure!(
            dir.uid() == me,
            "the socket directory belongs to uid {}",
            dir.uid()
        );
        let socket = std::fs::metadata(dirs[0].join("plugin.sock"))?;
        ensure!(
            socket.file_type().is_socket(),
            "plugin.sock is not a socket"
        );
        // No provider process listens on TCP at all (a unix socket was available).
        for (pid, cmd) in processes_with_marker(&marker) {
            if !cmd.contains("terraform-provider-pveha") {
                continue;
            }
            let listens = tcp_listeners(pid)?;
            ensure!(
                listens.is_empty(),
                "provider {pid} listens on TCP: {listens:?}"
            );
        }
        Ok::<_, anyhow::Error>(())
    });
    looked?;
    plan.expect_changes();
    until("the provider to exit", || async {
        Ok(processes_with_marker(&marker).is_empty())
    })
    .await
}

/// Local addresses of TCP sockets in LISTEN state that `pid` owns (from /proc: its fds' inodes).
fn tcp_listeners(pid: u32) -> Result<Vec<String>> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing the fds of {pid}"))?
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|t| {
            t.to_string_lossy()
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .map(str::to_string)
        })
        .collect();
    let mut found = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // Columns: sl local rem st ... inode (10th). State 0A is LISTEN.
            if cols.len() > 9 && cols[3] == "0A" && inodes.iter().any(|i| i == cols[9]) {
                found.push(cols[1].to_string());
            }
        }
    }
    Ok(found)
}
