//! Reliability under faults, races, interruptions and node failures (issue 9, items 1–5): real terraform against
//! `pveha sim` with injected faults, each scenario ending with the cluster and Terraform's state agreeing.
//! These scenarios run against the newest Terraform only: what they prove is the provider's handling of faults,
//! which does not change with the Terraform version, and each costs tens of seconds of CI time on 2 cores.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use pveha_acceptance::{
    processes_with_marker, terraforms, workspace_root, DirWatch, PlanOutcome, Sim, Terraform,
    TfOutput, Workdir,
};
use regex::Regex;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::provider_config::{hcl, sim8, sim9, workdir};

/// A hang guard for awaited conditions, not an assertion on speed: a condition that never comes fails the
/// test with what it waited for instead of stalling CI.
const HANG_GUARD: Duration = Duration::from_secs(120);
/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(25);

/// The newest Terraform found (see the module doc for why only one).
pub(crate) fn newest() -> &'static Terraform {
    &terraforms()[0]
}

/// Checks `check` until it holds; fails naming `what` after [`HANG_GUARD`].
pub(crate) async fn until<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("gave up waiting for {what} after {HANG_GUARD:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the simulator has counted `n` requests on `route` (`"POST /cluster/ha/groups"`).
pub(crate) async fn until_requested(sim: &Sim, route: &str, n: u64) -> Result<()> {
    until(&format!("{n} × {route}"), || async {
        Ok(sim.requests().await?.get(route) >= n)
    })
    .await
}

/// The `data` array of a GET.
async fn list(sim: &Sim, path: &str) -> Result<Vec<Value>> {
    let r = sim.api("GET", path, &[]).await?;
    Ok(r.data()?.as_array().cloned().unwrap_or_default())
}

/// The summaries of every `Error:` diagnostic terraform printed.
fn error_summaries(out: &TfOutput) -> Vec<String> {
    out.combined()
        .lines()
        .map(|l| l.trim_start_matches('│').trim())
        .filter_map(|l| l.strip_prefix("Error: "))
        .map(str::to_string)
        .collect()
}

/// A failed run whose every error names the action and object that failed, and nothing crashed.
#[track_caller]
fn expect_clear_failure(out: &TfOutput) -> Vec<String> {
    let summaries = error_summaries(out);
    assert!(
        !out.success() && !summaries.is_empty(),
        "expected a failure with diagnostics:\n{out}"
    );
    let clear =
        Regex::new(r"^(Unable to \S.*|.+ already exists)$").unwrap_or_else(|e| panic!("{e}"));
    for s in &summaries {
        assert!(
            clear.is_match(s),
            "the diagnostic {s:?} does not say which action on which object failed:\n{out}"
        );
    }
    for crash in [
        "panicked",
        "Plugin did not respond",
        "rpc error",
        "inconsistent result",
        "This is a bug in the provider",
    ] {
        assert!(
            !out.combined().contains(crash),
            "the provider crashed or misbehaved ({crash:?}):\n{out}"
        );
    }
    summaries
}

/// The seed's blueprint (PVE 8).
fn blueprint() -> Result<String> {
    let path = workspace_root().join("examples/homelab/main.tf");
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Imports the seven services the fixture already has in HA, as a user adopting the blueprint would.
async fn adopt_homelab_services(w: &mut Workdir) {
    for sid in ["ct:116", "ct:1250", "ct:100", "ct:113", "ct:122", "ct:131"] {
        w.import(&format!("pveha_resource.service[\"{sid}\"]"), sid)
            .await;
    }
    w.import("pveha_resource.mqtt_prod", "ct:130").await;
}

/// The addresses `terraform state list` prints.
async fn state_list(w: &Workdir) -> BTreeSet<String> {
    w.run(&["state", "list"])
        .await
        .expect_success()
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `"a:1,b"` as a sorted `node → priority` map (absent priority = 0).
fn node_map(nodes: &Value) -> BTreeMap<String, i64> {
    nodes
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|n| !n.is_empty())
        .map(|n| match n.split_once(':') {
            Some((name, p)) => (name.to_string(), p.parse().unwrap_or(-1)),
            None => (n.to_string(), 0),
        })
        .collect()
}

/// A 0/1 flag the server omits when unset.
fn flag(v: &Value) -> bool {
    v.as_i64() == Some(1) || v.as_bool() == Some(true)
}

/// The cluster's HA configuration equals Terraform's state (which an empty plan proved equal to the
/// configuration): every group and HA resource exactly once, none missing, none orphaned, and
/// `terraform state list` names every object that exists. HA resources in `unmanaged` (the fixture's own, which
/// the scenario does not manage) are left out of the comparison. Returns the managed HA resources by sid.
async fn expect_cluster_matches_state(
    sim: &Sim,
    w: &mut Workdir,
    unmanaged: &[&str],
) -> Result<BTreeMap<String, Value>> {
    let state = w.state().await;
    let listed = state_list(w).await;
    let by_type = |prefix: &str, key: &str| -> BTreeMap<String, (String, Value)> {
        state
            .resources
            .iter()
            .filter(|(addr, _)| addr.starts_with(prefix))
            .filter_map(|(addr, v)| Some((v[key].as_str()?.to_string(), (addr.clone(), v.clone()))))
            .collect()
    };

    let groups = list(sim, "/cluster/ha/groups").await?;
    let names: Vec<String> = groups
        .iter()
        .filter_map(|g| g["group"].as_str().map(str::to_string))
        .collect();
    let unique: BTreeSet<&String> = names.iter().collect();
    ensure!(
        unique.len() == names.len(),
        "a group exists twice: {names:?}"
    );
    let in_state = by_type("pveha_group.", "name");
    ensure!(
        unique.iter().copied().cloned().collect::<BTreeSet<_>>()
            == in_state.keys().cloned().collect::<BTreeSet<_>>(),
        "groups on the cluster {names:?} differ from groups in state {:?}",
        in_state.keys()
    );
    for g in &groups {
        let name = g["group"].as_str().unwrap_or_default();
        let (addr, s) = &in_state[name];
        ensure!(
            listed.contains(addr),
            "`terraform state list` lacks {addr}: {listed:?}"
        );
        let want: BTreeMap<String, i64> = s["nodes"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(-1)))
                    .collect()
            })
            .unwrap_or_default();
        ensure!(
            node_map(&g["nodes"]) == want,
            "{name}: cluster {g} vs state {s}"
        );
        ensure!(
            flag(&g["restricted"]) == (s["restricted"] == json!(true))
                && flag(&g["nofailback"]) == (s["nofailback"] == json!(true)),
            "{name}: flags differ: cluster {g} vs state {s}"
        );
    }

    let resources = list(sim, "/cluster/ha/resources").await?;
    let all: Vec<&str> = resources.iter().filter_map(|r| r["sid"].as_str()).collect();
    let distinct: BTreeSet<&&str> = all.iter().collect();
    ensure!(
        distinct.len() == all.len(),
        "an HA resource exists twice: {all:?}"
    );
    let resources: Vec<Value> = resources
        .into_iter()
        .filter(|r| !unmanaged.iter().any(|u| r["sid"] == json!(u)))
        .collect();
    let sids: Vec<String> = resources
        .iter()
        .filter_map(|r| r["sid"].as_str().map(str::to_string))
        .collect();
    let unique: BTreeSet<&String> = sids.iter().collect();
    ensure!(
        unique.len() == sids.len(),
        "an HA resource exists twice: {sids:?}"
    );
    let in_state = by_type("pveha_resource.", "sid");
    ensure!(
        unique.iter().copied().cloned().collect::<BTreeSet<_>>()
            == in_state.keys().cloned().collect::<BTreeSet<_>>(),
        "HA resources on the cluster {sids:?} differ from those in state {:?} (orphaned or lost)",
        in_state.keys()
    );
    let mut by_sid = BTreeMap::new();
    for r in resources {
        let sid = r["sid"].as_str().unwrap_or_default().to_string();
        let (addr, s) = &in_state[&sid];
        ensure!(
            listed.contains(addr),
            "`terraform state list` lacks {addr}: {listed:?}"
        );
        let count = |v: &Value| v.as_i64().unwrap_or(1);
        ensure!(
            r["group"] == s["group"]
                && count(&r["max_restart"]) == s["max_restart"].as_i64().unwrap_or(-1)
                && count(&r["max_relocate"]) == s["max_relocate"].as_i64().unwrap_or(-1),
            "{sid}: cluster {r} vs state {s}"
        );
        by_sid.insert(sid, r);
    }
    Ok(by_sid)
}

/// A guest's `startup` property.
async fn startup(sim: &Sim, node: &str, vmid: u32) -> Result<Value> {
    let r = sim
        .api("GET", &format!("/nodes/{node}/lxc/{vmid}/config"), &[])
        .await?;
    Ok(r.data()?["startup"].clone())
}

#[tokio::test]
async fn homelab_apply_under_faults_fails_clearly_then_converges_with_nothing_orphaned(
) -> Result<()> {
    let hcl = blueprint()?;
    let sim = sim8().await?;
    let mut w = workdir(newest(), &sim);
    w.write_config(&hcl);
    adopt_homelab_services(&mut w).await;

    for (seed, method) in ["POST", "PUT", "DELETE"].into_iter().enumerate() {
        sim.add_fault(
            json!({"method": method, "path": "^/cluster/ha/", "kind": "lock-timeout",
                             "probability": 0.3, "seed": 9 + seed}),
        )
        .await?;
    }
    sim.add_fault(json!({"path": "^/", "kind": "latency", "latency_ms": 200}))
        .await?;
    // kea-dhcp-1 (133) lives on proxmox2, whose guest configs answer 595 for the whole run.
    sim.add_fault(json!({"path": "^/nodes/proxmox2/lxc/", "kind": "unreachable"}))
        .await?;
    for path in ["^/cluster/ha/resources$", "^/cluster/ha/groups$"] {
        sim.add_fault(json!({"method": "POST", "path": path, "kind": "drop", "count": 1}))
            .await?;
    }
    sim.add_fault(
        json!({"method": "GET", "path": "^/cluster/resources", "kind": "drop", "count": 1}),
    )
    .await?;
    sim.reset_requests().await?;

    let faulty = w.try_apply(&hcl).await;
    let summaries = expect_clear_failure(&faulty);
    assert!(
        summaries.iter().any(|s| s.contains("guest 133")),
        "no error names guest 133, whose node answered 595:\n{faulty}"
    );
    assert!(
        Regex::new(r"could\s+not\s+reach\s+the\s+target\s+node")?.is_match(&faulty.combined()),
        "the 595 is not explained:\n{faulty}"
    );
    // The lock timeouts and dropped connections made the provider send some HA writes again.
    let counted = sim.requests().await?;
    let writes: Vec<(&String, &u64)> = counted
        .by_route
        .iter()
        .filter(|(r, _)| r.starts_with("POST /cluster/ha/") || r.starts_with("PUT /cluster/ha/"))
        .collect();
    let sent: u64 = writes.iter().map(|(_, n)| **n).sum();
    assert!(
        sent > writes.len() as u64,
        "no HA write was retried, so the faults did not bite: {writes:?}"
    );

    sim.clear_faults().await?;
    w.apply(&hcl).await;
    let resources = expect_cluster_matches_state(&sim, &mut w, &[]).await?;
    assert_eq!(resources.len(), 11, "{resources:?}");
    assert_eq!(
        state_list(&w).await.len(),
        5 + 11 + 2 + 1,
        "5 groups, 11 HA resources, 2 startup settings and the HA settings"
    );
    assert_eq!(
        startup(&sim, "proxmox2", 133).await?,
        json!("order=2,up=15")
    );
    assert_eq!(startup(&sim, "proxmox", 135).await?, json!("order=6"));
    Ok(())
}

/// The HA resources the PVE 8 fixture already has, which most scenarios leave unmanaged.
const FIXTURE_HA: &[&str] = &[
    "ct:100", "ct:113", "ct:116", "ct:122", "ct:130", "ct:131", "ct:1250",
];

const GROUP_WEB: &str = r#"
resource "pveha_group" "web" {
  name  = "web"
  nodes = { proxmox2 = 2, proxmox3 = 1 }
}
"#;

#[tokio::test]
async fn a_create_whose_read_back_fails_stays_in_state_and_an_existing_object_names_the_import(
) -> Result<()> {
    let sim = sim8().await?;
    let mut w = workdir(newest(), &sim);
    let cfg = hcl(GROUP_WEB);
    w.write_config(&cfg);
    w.init().await;
    // The POST is held for a moment so that the fault on the read-back is in place before it happens.
    sim.add_fault(
        json!({"method": "POST", "path": "^/cluster/ha/groups$", "kind": "latency",
                         "latency_ms": 1500, "count": 1}),
    )
    .await?;
    let (out, gate) = tokio::join!(w.try_apply(&cfg), async {
        until_requested(&sim, "POST /cluster/ha/groups", 1).await?;
        sim.add_fault(
            json!({"method": "GET", "path": "^/cluster/ha/groups", "kind": "error",
                             "status": 500, "message": "simulated read failure", "count": 1}),
        )
        .await
    });
    gate?;
    out.expect_error(&cfg, r#"Unable to read back HA group "web""#, None);
    assert!(out.combined().contains("simulated read failure"), "{out}");
    assert!(
        state_list(&w).await.contains("pveha_group.web"),
        "the group was created on the cluster but is not in state: orphaned\n{out}"
    );
    let names: Vec<Value> = list(&sim, "/cluster/ha/groups").await?;
    assert_eq!(names.len(), 1, "{names:?}");

    // Terraform marks a create that reported an error as tainted: the next plan replaces it, or is empty.
    let plan = w.plan_current().await;
    match plan.outcome {
        PlanOutcome::NoChanges => {}
        PlanOutcome::Changes => {
            plan.expect_action("pveha_group.web", &["delete", "create"]);
            let others: Vec<_> = plan
                .changes
                .iter()
                .filter(|c| c.address != "pveha_group.web" && c.actions != ["no-op"])
                .collect();
            assert!(others.is_empty(), "unexpected changes: {others:?}");
        }
        PlanOutcome::Error => panic!("the plan after a partial create failed:\n{}", plan.output),
    }
    w.apply(&cfg).await;
    expect_cluster_matches_state(&sim, &mut w, FIXTURE_HA).await?;

    // Creating what already exists never adopts or overwrites it: the error gives the import command.
    let before = sim.api("GET", "/cluster/ha/resources/ct:100", &[]).await?;
    let taken = hcl(&format!(
        "{GROUP_WEB}\nresource \"pveha_resource\" \"influx\" {{\n  sid         = \"ct:100\"\n  max_restart = 5\n}}\n"
    ));
    w.try_apply(&taken).await.expect_error(
        &taken,
        r"terraform\s+import\s+pveha_resource\.<NAME>\s+ct:100",
        None,
    );
    let after = sim.api("GET", "/cluster/ha/resources/ct:100", &[]).await?;
    assert_eq!(
        before.body, after.body,
        "the existing HA resource was changed"
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_applies_of_rules_and_resources_both_land() -> Result<()> {
    let sim = sim9().await?;
    let (mut rules, mut services) = (workdir(newest(), &sim), workdir(newest(), &sim));
    let rules_hcl = hcl(r#"
resource "pveha_rule" "databases" {
  name      = "databases"
  type      = "node-affinity"
  resources = ["ct:100", "ct:113"]
  nodes     = { proxmox = 1, proxmox2 = 1, proxmox3 = 1 }
}

resource "pveha_rule" "dns_apart" {
  name      = "dns-apart"
  type      = "resource-affinity"
  resources = ["ct:116", "ct:1250"]
  affinity  = "negative"
}
"#);
    let services_hcl = hcl(r#"
resource "pveha_resource" "new" {
  for_each     = toset(["ct:110", "ct:121", "ct:132", "ct:134"])
  sid          = each.key
  max_restart  = 3
  max_relocate = 2
}
"#);
    rules.write_config(&rules_hcl);
    services.write_config(&services_hcl);
    tokio::join!(rules.init(), services.init());
    // Every HA write holds the cluster-wide lock a little, so the two runs' writes interleave.
    sim.add_fault(
        json!({"path": "^/cluster/ha/(rules|resources)", "method": "POST", "kind": "latency",
                         "latency_ms": 150}),
    )
    .await?;
    tokio::join!(rules.apply(&rules_hcl), services.apply(&services_hcl));

    let rule_names: BTreeSet<String> = list(&sim, "/cluster/ha/rules")
        .await?
        .iter()
        .filter_map(|r| r["rule"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        rule_names,
        BTreeSet::from(["databases".to_string(), "dns-apart".to_string()])
    );
    let resources = list(&sim, "/cluster/ha/resources").await?;
    let sids: Vec<&str> = resources.iter().filter_map(|r| r["sid"].as_str()).collect();
    assert_eq!(sids.len(), 11, "7 existing + 4 new, each once: {sids:?}");
    for sid in ["ct:110", "ct:121", "ct:132", "ct:134"] {
        let r = resources
            .iter()
            .find(|r| r["sid"] == json!(sid))
            .ok_or_else(|| anyhow!("{sid} was lost: {resources:?}"))?;
        assert_eq!(
            (r["max_restart"].clone(), r["max_relocate"].clone()),
            (json!(3), json!(2)),
            "{r}"
        );
    }
    rules.plan_current().await.expect_no_changes();
    services.plan_current().await.expect_no_changes();
    Ok(())
}

#[tokio::test]
async fn a_write_racing_another_writer_gets_a_digest_conflict_not_an_overwrite() -> Result<()> {
    let sim = sim8().await?;
    let mut w = workdir(newest(), &sim);
    let cfg = hcl(
        "resource \"pveha_guest_startup\" \"dhcp\" {\n  vmid   = 133\n  onboot = true\n  order  = 2\n  up     = 15\n}\n",
    );
    w.write_config(&cfg);
    w.init().await;
    let config_path = "/nodes/proxmox2/lxc/133/config";
    // The provider's PUT is held after it read the config's digest; another writer changes the config then.
    sim.add_fault(
        json!({"method": "PUT", "path": format!("^{config_path}$"), "kind": "latency",
                         "latency_ms": 1500, "count": 1}),
    )
    .await?;
    let (out, other) = tokio::join!(w.try_apply(&cfg), async {
        until_requested(&sim, &format!("PUT {config_path}"), 1).await?;
        let put = sim
            .api("PUT", config_path, &[("startup", "order=9")])
            .await?;
        ensure!(put.is_success(), "the other writer failed: {put:?}");
        Ok(())
    });
    other?;
    out.expect_error(
        &cfg,
        r"Unable to set the boot settings of guest 133[\s\S]*changed\s+by\s+someone\s+else[\s\S]*refresh\s+and\s+apply\s+again",
        None,
    );
    assert_eq!(
        startup(&sim, "proxmox2", 133).await?,
        json!("order=9"),
        "the other writer's change was silently overwritten"
    );
    // Refresh sees the other change, and a deliberate apply converges.
    w.apply(&cfg).await;
    assert_eq!(
        startup(&sim, "proxmox2", 133).await?,
        json!("order=2,up=15")
    );
    Ok(())
}

/// Sends `signal` to `pid`.
fn signal(pid: u32, signal: libc::c_int) -> Result<()> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: kill(2) with a pid of a process this test started (through terraform) and a valid signal.
    if unsafe { libc::kill(pid, signal) } != 0 {
        bail!("kill({pid}, {signal}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

#[tokio::test]
async fn a_killed_terraform_leaves_no_provider_or_socket_and_a_rerun_converges() -> Result<()> {
    let sim = sim8().await?;
    let mut w = workdir(newest(), &sim);
    let log = w.path().join("terraform.log");
    w.set_env("TF_LOG", "INFO")
        .set_env("TF_LOG_PATH", &log.display().to_string());
    let cfg = hcl(&format!(
        "{GROUP_WEB}\nresource \"pveha_group\" \"db\" {{\n  name  = \"db\"\n  nodes = {{ proxmox = 1 }}\n}}\n\
         resource \"pveha_resource\" \"kuma\" {{\n  sid   = \"ct:132\"\n  group = pveha_group.web.name\n}}\n"
    ));
    w.write_config(&cfg);
    w.init().await;
    let mut watch = DirWatch::new(w.tmpdir()).context("watching TMPDIR")?;
    // The creates' first read is slow, so the apply is mid-flight, with nothing written yet, when killed.
    sim.add_fault(
        json!({"method": "GET", "path": "^/cluster/ha/groups$", "kind": "latency",
                         "latency_ms": 8000, "count": 1}),
    )
    .await?;
    let marker = w.marker().to_string();
    let (out, killed) = tokio::join!(w.try_apply(&cfg), async {
        until_requested(&sim, "GET /cluster/ha/groups", 1).await?;
        let running = processes_with_marker(&marker);
        let terraform = running
            .iter()
            .find(|(_, cmd)| cmd.contains(" apply") && !cmd.contains("terraform-provider-"))
            .map(|(pid, _)| *pid)
            .ok_or_else(|| anyhow!("terraform apply is not running: {running:?}"))?;
        signal(terraform, libc::SIGINT)?;
        // Terraform passed the interrupt on: the provider logged the StopProvider call.
        until("the provider to log StopProvider", || async {
            Ok(std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("stop requested"))
        })
        .await?;
        signal(terraform, libc::SIGKILL)?;
        Ok::<_, anyhow::Error>(running)
    });
    let running = killed?;
    assert_eq!(out.code, None, "terraform was not killed:\n{out}");
    assert!(
        running
            .iter()
            .any(|(_, cmd)| cmd.contains("terraform-provider-pveha")),
        "no provider was running mid-apply: {running:?}"
    );
    // With its parent gone the provider stops by itself; nothing else will ever stop it.
    until("every process of the killed run to exit", || async {
        Ok(processes_with_marker(&marker).is_empty())
    })
    .await
    .with_context(|| format!("left running: {:?}", processes_with_marker(&marker)))?;
    let created = watch.created().context("reading the watch")?.to_vec();
    assert!(
        created.iter().any(|n| n.starts_with("tfplugin-")),
        "the provider's socket directory never appeared in TMPDIR: {created:?}"
    );
    let left: Vec<String> = watch
        .leftovers()
        .context("reading the watch")?
        .into_iter()
        .filter(|n| n.starts_with("tfplugin-"))
        .collect();
    assert!(
        left.is_empty(),
        "the provider's socket was left behind: {left:?}"
    );

    sim.clear_faults().await?;
    w.unset_env("TF_LOG").unset_env("TF_LOG_PATH");
    w.apply(&cfg).await;
    expect_cluster_matches_state(&sim, &mut w, FIXTURE_HA).await?;
    Ok(())
}

#[tokio::test]
async fn a_target_node_powered_off_mid_move_fails_clearly_and_converges_once_back() -> Result<()> {
    // A frozen clock: the HA manager acts only when the test advances it, so the power-off lands mid-move.
    let sim = Sim::start_with(Sim::fixture("cluster-pve8.json"), &["--time-scale", "0"]).await?;
    let mut w = workdir(newest(), &sim);
    let cfg = hcl(
        "resource \"pveha_resource\" \"kuma\" {\n  sid  = \"ct:132\"\n  node = \"proxmox2\"\n}\n",
    );
    w.write_config(&cfg);
    w.init().await;
    let relocate = "POST /cluster/ha/resources/ct:132/relocate";
    let (out, driven) = tokio::join!(w.try_apply(&cfg), async {
        until_requested(&sim, "POST /cluster/ha/resources", 1).await?;
        // Rounds until the HA manager has picked the service up and the provider asked for the move.
        until("the provider to request the relocation", || async {
            if sim.requests().await?.get(relocate) >= 1 {
                return Ok(true);
            }
            sim.advance(10).await?;
            Ok(false)
        })
        .await?;
        sim.power("proxmox2", false).await?;
        // The HA manager runs its rounds with the target gone.
        for _ in 0..3 {
            sim.advance(10).await?;
        }
        Ok::<_, anyhow::Error>(())
    });
    driven?;
    let summaries = expect_clear_failure(&out);
    assert!(
        summaries
            .iter()
            .any(|s| s.contains("ct:132") && s.contains("proxmox2")),
        "no error names the service and the node:\n{out}"
    );
    assert!(
        Regex::new(r"proxmox2\s+is\s+offline")?.is_match(&out.combined()),
        "the error does not say that the target node is offline:\n{out}"
    );
    assert!(
        state_list(&w).await.contains("pveha_resource.kuma"),
        "the HA resource was created but is not in state:\n{out}"
    );

    sim.power("proxmox2", true).await?;
    let (applied, driven) = tokio::join!(w.try_apply(&cfg), async {
        // Keep the HA manager running while the re-run waits for the move.
        until("the re-run's move", || async {
            sim.advance(10).await?;
            Ok(sim.requests().await?.get(relocate) >= 2)
        })
        .await?;
        for _ in 0..3 {
            sim.advance(10).await?;
        }
        Ok::<_, anyhow::Error>(())
    });
    driven?;
    applied.expect_success();
    w.plan_current().await.expect_no_changes();
    let current = list(&sim, "/cluster/ha/status/current").await?;
    let entry = current
        .iter()
        .find(|e| e["sid"] == json!("ct:132"))
        .ok_or_else(|| anyhow!("ct:132 has no HA status: {current:?}"))?;
    assert_eq!(entry["node"], json!("proxmox2"), "{entry}");
    expect_cluster_matches_state(&sim, &mut w, FIXTURE_HA).await?;
    Ok(())
}

#[tokio::test]
async fn a_second_writer_on_the_same_group_gets_a_conflict_not_an_overwrite() -> Result<()> {
    let sim = sim8().await?;
    let mut w = workdir(newest(), &sim);
    let group = |comment: &str| {
        hcl(&format!(
            "resource \"pveha_group\" \"web\" {{\n  name    = \"web\"\n  nodes   = {{ proxmox2 = 2, proxmox3 = 1 }}\n  comment = \"{comment}\"\n}}\n"
        ))
    };
    w.apply(&group("first")).await;

    // Terraform plans its change; another writer changes the same group before the plan is applied.
    w.write_config(&group("second"));
    w.run(&["plan", "-input=false", "-no-color", "-out=tfplan"])
        .await
        .expect_success();
    let other = sim
        .api(
            "PUT",
            "/cluster/ha/groups/web",
            &[("comment", "changed by someone else")],
        )
        .await?;
    ensure!(
        other.status == 200,
        "the other writer's update failed: {other:?}"
    );

    let out = w
        .run(&["apply", "-input=false", "-no-color", "tfplan"])
        .await;
    let text = format!("{}{}", out.stdout, out.stderr);
    out.expect_failure();
    ensure!(
        Regex::new(r"(?s)HA group .web. was changed outside\s+Terraform.*comment")?.is_match(&text),
        "expected a conflict naming the changed attribute:\n{text}"
    );
    let answer = sim.api("GET", "/cluster/ha/groups/web", &[]).await?;
    let data = answer.data()?;
    ensure!(
        data["comment"] == json!("changed by someone else"),
        "the other writer's change was overwritten: {data}"
    );

    // A fresh plan sees the other change and applying it converges.
    w.apply(&group("second")).await;
    w.destroy().await;
    Ok(())
}

/// Writes `cfg` and saves its plan to `tfplan`, for applying after another writer acts.
async fn save_plan(w: &mut Workdir, cfg: &str) {
    w.write_config(cfg);
    w.run(&["plan", "-input=false", "-no-color", "-out=tfplan"])
        .await
        .expect_success();
}

/// Where the HA status says `sid` runs.
async fn service_node(sim: &Sim, sid: &str) -> Result<String> {
    let entries = list(sim, "/cluster/ha/status/current").await?;
    Ok(entries
        .iter()
        .find(|e| e["sid"] == json!(sid))
        .and_then(|e| e["node"].as_str())
        .unwrap_or_default()
        .to_string())
}

#[tokio::test]
async fn a_second_writer_on_the_same_resource_gets_a_conflict_but_a_failover_is_not_one(
) -> Result<()> {
    let sim = sim8().await?;
    let mut w = workdir(newest(), &sim);
    let service = |comment: &str| {
        hcl(&format!(
            "resource \"pveha_resource\" \"traefik\" {{\n  sid     = \"ct:110\"\n  comment = \"{comment}\"\n}}\n"
        ))
    };
    w.apply(&service("first")).await;

    // Terraform plans its change; another writer changes a setting of the same service before the apply.
    save_plan(&mut w, &service("second")).await;
    let other = sim
        .api(
            "PUT",
            "/cluster/ha/resources/ct:110",
            &[("max_restart", "3")],
        )
        .await?;
    ensure!(
        other.is_success(),
        "the other writer's update failed: {other:?}"
    );
    let out = w
        .run(&["apply", "-input=false", "-no-color", "tfplan"])
        .await;
    let text = out.combined();
    out.expect_failure();
    ensure!(
        Regex::new(r#"(?s)HA resource "ct:110" was changed outside\s+Terraform.*max_restart"#)?
            .is_match(&text),
        "expected a conflict naming the changed attribute:\n{text}"
    );
    let data = sim.api("GET", "/cluster/ha/resources/ct:110", &[]).await?;
    let data = data.data()?;
    ensure!(
        data["max_restart"].to_string().trim_matches('"') == "3"
            && data["comment"] == json!("first"),
        "the other writer's change was overwritten, or Terraform's went through: {data}"
    );

    // A fresh plan sees the other change and a deliberate apply converges.
    w.apply(&service("second")).await;

    // The HA stack moving the service between plan and apply changes no setting: the apply goes ahead.
    save_plan(&mut w, &service("third")).await;
    let from = service_node(&sim, "ct:110").await?;
    let to = if from == "proxmox3" {
        "proxmox2"
    } else {
        "proxmox3"
    };
    let moved = sim
        .api(
            "POST",
            "/cluster/ha/resources/ct:110/relocate",
            &[("node", to)],
        )
        .await?;
    ensure!(moved.is_success(), "the relocate failed: {moved:?}");
    sim.advance(120).await?;
    ensure!(
        service_node(&sim, "ct:110").await? == to,
        "the simulator did not move ct:110 from {from} to {to}"
    );
    w.run(&["apply", "-input=false", "-no-color", "tfplan"])
        .await
        .expect_success();
    let data = sim.api("GET", "/cluster/ha/resources/ct:110", &[]).await?;
    ensure!(
        data.data()?["comment"] == json!("third"),
        "the apply after a move did not write: {data:?}"
    );
    w.state()
        .await
        .expect_attr("pveha_resource.traefik", "node", to);
    w.destroy().await;
    Ok(())
}
