//! Placement against pve-ha-manager's own regression tests, ported as data under `tests/scenarios/*.json`.
//!
//! Each file names its upstream `src/test/test-*` folder; each case is the cluster as the CRM saw it just before the
//! decision, and the decision that test's `log.expect` records (`recover service ... to node ...`, `no recovery node
//! found`, `migrate service ... to node ...`, a service frozen, a rebalance on start). A file may set the CRS
//! (`datacenter.cfg` `crs`), the node stats (`hardware_status` `maxcpu`/`maxmem`), the service stats
//! (`static_service_stats`) and the shutdown policy; a case may then name a node event and what it does to each
//! service. Files marked `"source": "ha-tester.pl"` record what upstream's own tester printed for a scenario that
//! has no upstream folder. This file only loads and runs them; it holds no expectations itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pveha_placement::{
    node_event, rebalance_starts, recover, select_service_node_with, Cluster, CrmState, Fate,
    Hints, Node, NodeAffinity, NodeEvent, NodeStats, Preference, Recovery, ResourceAffinity,
    Scheduler, Service, ServiceStats, ShutdownPolicy, Usage,
};
use serde::Deserialize;

/// One scenario file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// The upstream test folder, `test-...` (for `ha-tester.pl` sources: the scenario folder given to the tester).
    upstream: String,
    /// What the upstream test shows, in a sentence.
    about: String,
    /// Where the expectations come from when not the folder's `log.expect` (`ha-tester.pl`).
    #[serde(default)]
    source: Option<String>,
    /// All cluster nodes.
    nodes: Vec<String>,
    /// `crs: ha=` (basic when absent).
    #[serde(default)]
    crs: Option<String>,
    /// `crs: ha-rebalance-on-start=1`.
    #[serde(default)]
    rebalance_on_start: bool,
    /// `ha: shutdown_policy=` (conditional when absent).
    #[serde(default)]
    shutdown_policy: Option<String>,
    /// `hardware_status` `maxcpu`/`maxmem` per node.
    #[serde(default)]
    node_stats: BTreeMap<String, Stats>,
    /// `static_service_stats` per sid.
    #[serde(default)]
    service_stats: BTreeMap<String, Stats>,
    #[serde(default)]
    node_affinity: Vec<NodeRule>,
    #[serde(default)]
    resource_affinity: Vec<ResourceRule>,
    cases: Vec<Case>,
}

/// `maxcpu` and `maxmem`, as upstream's test files spell them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Stats {
    maxcpu: f64,
    maxmem: u64,
}

/// An upstream node-affinity rule (or a PVE 8 group as the CRM converts it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeRule {
    resources: Vec<String>,
    /// `node[:prio],...` as in `rules_config` / `groups`.
    nodes: String,
    #[serde(default)]
    strict: bool,
}

/// An upstream resource-affinity rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceRule {
    name: String,
    affinity: String,
    resources: Vec<String>,
}

/// The CRM's view of one service.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceState {
    node: String,
    #[serde(default)]
    state: CrmState,
    #[serde(default)]
    target: Option<String>,
    #[serde(default = "yes")]
    failback: bool,
}

fn yes() -> bool {
    true
}

/// One decision of the upstream run.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case checks.
    what: String,
    /// Nodes not online before anything fails.
    #[serde(default)]
    offline: Vec<String>,
    /// Nodes in maintenance (not online either).
    #[serde(default)]
    maintenance: Vec<String>,
    services: BTreeMap<String, ServiceState>,
    /// Nodes that fail (are fenced) before `expect_recovery` is checked.
    #[serde(default)]
    fail: Vec<String>,
    /// `[sid, from, to-or-null]` in the order upstream recovers them; absent = recovery is not checked.
    #[serde(default)]
    expect_recovery: Option<Vec<(String, String, Option<String>)>>,
    /// Normal-round selections.
    #[serde(default)]
    select: Vec<Select>,
    /// One round over the services in `request_start`: those that rebalance-on-start sends elsewhere, and where
    /// (`request_start_balance`); every other one starts on its node.
    #[serde(default)]
    expect_starts: Option<BTreeMap<String, String>>,
    /// A node event and what it does to each service it touches.
    #[serde(default)]
    event: Option<Event>,
}

/// A node event (`reboot nodeX`, `shutdown nodeX`, a crash, `crm-command node-maintenance enable nodeX`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    node: String,
    /// `crash`, `reboot`, `shutdown` or `maintenance`.
    kind: String,
    /// Fate per touched sid: `"frozen"`, `"stays"`, `"stopped"`, `{"migrated": node}`, `{"recovered": node|null}`.
    expect: BTreeMap<String, FateSpec>,
}

/// A fate as the scenario files spell it.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum FateSpec {
    Frozen,
    Stays,
    Stopped,
    Migrated(String),
    Recovered(Option<String>),
}

impl From<FateSpec> for Fate {
    fn from(spec: FateSpec) -> Fate {
        match spec {
            FateSpec::Frozen => Fate::Frozen,
            FateSpec::Stays => Fate::Stays,
            FateSpec::Stopped => Fate::Stopped,
            FateSpec::Migrated(to) => Fate::Migrated { to },
            FateSpec::Recovered(to) => Fate::Recovered { to },
        }
    }
}

fn node_event_kind(kind: &str) -> Result<NodeEvent> {
    Ok(match kind {
        "crash" => NodeEvent::Crash,
        "reboot" => NodeEvent::Reboot,
        "shutdown" => NodeEvent::Shutdown,
        "maintenance" => NodeEvent::Maintenance,
        other => bail!("event kind '{other}'"),
    })
}

/// A `select_service_node` call and its upstream answer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Select {
    sid: String,
    pref: String,
    /// Nodes the service already failed to start on (read by `try-next`).
    #[serde(default)]
    failed_nodes: Vec<String>,
    /// The node the service left for maintenance (`maintenance_node`).
    #[serde(default)]
    maintenance_node: Option<String>,
    expect: Option<String>,
}

fn parse_nodes(list: &str) -> Result<BTreeMap<String, i64>> {
    let mut nodes = BTreeMap::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, prio) = match entry.split_once(':') {
            Some((name, prio)) => (
                name,
                prio.parse()
                    .with_context(|| format!("priority in '{entry}'"))?,
            ),
            None => (entry, 0),
        };
        nodes.insert(name.to_owned(), prio);
    }
    Ok(nodes)
}

fn cluster(s: &Scenario, case: &Case) -> Result<Cluster> {
    let mut node_affinity = BTreeMap::new();
    for rule in &s.node_affinity {
        let affinity = NodeAffinity {
            nodes: parse_nodes(&rule.nodes)?,
            strict: rule.strict,
        };
        for sid in &rule.resources {
            node_affinity.insert(sid.clone(), affinity.clone());
        }
    }
    let mut resource_affinity = Vec::new();
    for rule in &s.resource_affinity {
        let positive = match rule.affinity.as_str() {
            "positive" => true,
            "negative" => false,
            other => bail!("affinity '{other}'"),
        };
        let resources = rule.resources.iter().cloned().collect();
        resource_affinity.push(ResourceAffinity {
            name: rule.name.clone(),
            positive,
            resources,
        });
    }
    for name in case
        .offline
        .iter()
        .chain(&case.fail)
        .chain(&case.maintenance)
    {
        if !s.nodes.contains(name) {
            bail!("unknown node '{name}' in case '{}'", case.what);
        }
    }
    let nodes = s
        .nodes
        .iter()
        .map(|name| Node {
            name: name.clone(),
            online: !case.offline.contains(name) && !case.maintenance.contains(name),
            stats: s.node_stats.get(name).map(|st| NodeStats {
                cpus: st.maxcpu,
                memory: st.maxmem,
            }),
        })
        .collect();
    let services = case
        .services
        .iter()
        .map(|(sid, st)| {
            let service = Service {
                sid: sid.clone(),
                node: st.node.clone(),
                state: st.state,
                target: st.target.clone(),
                failback: st.failback,
                stats: s.service_stats.get(sid).map(|st| ServiceStats {
                    maxcpu: st.maxcpu,
                    maxmem: st.maxmem,
                }),
            };
            (sid.clone(), service)
        })
        .collect();
    let scheduler = match s.crs.as_deref() {
        None | Some("basic") => Scheduler::Basic,
        Some("static") => Scheduler::Static,
        Some(other) => bail!("crs '{other}' is not modelled"),
    };
    let c = Cluster {
        nodes,
        services,
        node_affinity,
        resource_affinity,
        non_ha_running: BTreeMap::new(),
        count_non_ha: false,
        non_ha_stats: BTreeMap::new(),
        scheduler,
        rebalance_on_start: s.rebalance_on_start,
        maintenance: case.maintenance.iter().cloned().collect(),
    };
    if scheduler == Scheduler::Static && !c.uses_static() {
        bail!(
            "case '{}': static CRS without stats for every node and service",
            case.what
        );
    }
    Ok(c)
}

fn preference(name: &str) -> Result<Preference> {
    Ok(match name {
        "best-score" => Preference::BestScore,
        "none" => Preference::None,
        "try-next" => Preference::TryNext,
        other => bail!("preference '{other}'"),
    })
}

/// Runs one file; returns the failures as sentences.
fn run(path: &Path) -> Result<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(path)?;
    let s: Scenario =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let stem = path
        .file_stem()
        .and_then(|f| f.to_str())
        .unwrap_or_default();
    if !s.upstream.starts_with("test-") || s.about.is_empty() || s.cases.is_empty() {
        bail!("{stem}: needs an upstream test name, an about line and cases");
    }
    if s.source.as_deref().is_some_and(|src| src != "ha-tester.pl") {
        bail!("{stem}: the only other source is ha-tester.pl");
    }
    let mut checks = 0;
    let mut failures = Vec::new();
    for case in &s.cases {
        let c = cluster(&s, case)?;
        if !case.fail.is_empty() && case.expect_recovery.is_none() {
            bail!(
                "{stem}: case '{}' fails nodes but expects nothing",
                case.what
            );
        }
        if case.expect_recovery.is_none()
            && case.select.is_empty()
            && case.expect_starts.is_none()
            && case.event.is_none()
        {
            bail!("{stem}: case '{}' checks nothing", case.what);
        }
        if let Some(expect) = &case.expect_recovery {
            checks += 1;
            let failed: BTreeSet<String> = case.fail.iter().cloned().collect();
            let got = recover(&c, &failed);
            let want: Vec<Recovery> = expect
                .iter()
                .map(|(sid, from, to)| Recovery {
                    sid: sid.clone(),
                    from: from.clone(),
                    to: to.clone(),
                })
                .collect();
            if got != want {
                failures.push(format!(
                    "{stem} ({}): '{}': recover\n  want {want:?}\n  got  {got:?}",
                    s.upstream, case.what
                ));
            }
        }
        let usage = Usage::from_cluster(&c);
        for sel in &case.select {
            checks += 1;
            let current = c
                .services
                .get(&sel.sid)
                .map(|x| x.node.clone())
                .context("select of unknown sid")?;
            let hints = Hints {
                failed_nodes: sel.failed_nodes.clone(),
                maintenance_node: sel.maintenance_node.clone(),
            };
            let got = select_service_node_with(
                &c,
                &usage,
                &sel.sid,
                &current,
                preference(&sel.pref)?,
                &hints,
            );
            if got != sel.expect {
                failures.push(format!(
                    "{stem} ({}): '{}': select {} ({}) want {:?} got {got:?}",
                    s.upstream, case.what, sel.sid, sel.pref, sel.expect
                ));
            }
        }
        if let Some(want) = &case.expect_starts {
            checks += 1;
            let got: BTreeMap<String, String> = rebalance_starts(&c)
                .into_iter()
                .filter_map(|(sid, to)| to.map(|to| (sid, to)))
                .collect();
            if &got != want {
                failures.push(format!(
                    "{stem} ({}): '{}': starts\n  want {want:?}\n  got  {got:?}",
                    s.upstream, case.what
                ));
            }
        }
        if let Some(event) = &case.event {
            checks += 1;
            let policy: ShutdownPolicy = match &s.shutdown_policy {
                Some(p) => p.parse()?,
                None => ShutdownPolicy::default(),
            };
            let kind = node_event_kind(&event.kind)?;
            let got = node_event(&c, &event.node, kind, policy).services;
            let want: BTreeMap<String, Fate> = event
                .expect
                .iter()
                .map(|(sid, f)| (sid.clone(), f.clone().into()))
                .collect();
            if got != want {
                failures.push(format!(
                    "{stem} ({}): '{}': {} of {} under {policy}\n  want {want:?}\n  got  {got:?}",
                    s.upstream, case.what, event.kind, event.node
                ));
            }
        }
    }
    Ok((checks, failures))
}

fn scenario_files() -> Result<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    Ok(files)
}

#[test]
fn every_upstream_scenario_places_as_upstream_does() -> Result<()> {
    let files = scenario_files()?;
    let mut upstreams = BTreeSet::new();
    let mut checks = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        let s: Scenario =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        upstreams.insert(s.upstream);
        let (n, f) = run(file)?;
        checks += n;
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Guards against the directory going missing or silently shrinking.
    assert!(
        upstreams.len() >= 60,
        "only {} upstream scenarios ported",
        upstreams.len()
    );
    Ok(())
}
