//! Node-failure impact: for each online node, where the HA manager would recover its HA services (via
//! `pveha-placement`, the project's one implementation of HA placement), what stays down, which services lose every
//! replica, the memory afterwards of the survivors that receive services, and each affected service's predicted
//! recovery time.
//!
//! Every failure is planned with one `Recoverer`, which indexes the cluster once: each node's failure then costs about
//! that node's services, not the whole cluster, and the result is recovery on the whole cluster (placement's tests
//! prove it against the direct implementation).

use std::collections::{BTreeMap, BTreeSet};

use pveha_model::{HaModel, Sid};
use pveha_placement::fasthash::{FastMap, FastSet};
use pveha_placement::{
    Cluster, CrmState, Node, NodeAffinity, NodeStats, Recoverer, ResourceAffinity, Scheduler,
    Service, ServiceStats,
};

use crate::report::NodeFailureImpact;
use crate::services::Services;
use crate::view::ClusterView;

/// Seconds from a node failure to an HA service running again elsewhere: the fence delay plus the expiry of the
/// failed node's HA lock (pve-api.md §11, "about two minutes").
pub const RECOVERY_SECONDS: u64 = 120;

/// The placement model's view of the cluster, with the CRS the cluster runs (`dynamic` is not modelled and is
/// scheduled as basic; [`note_scheduler`] says so).
pub(crate) fn placement_cluster(view: &ClusterView) -> Cluster {
    let nodes = view
        .nodes
        .iter()
        .map(|n| Node {
            name: n.name.clone(),
            online: n.online,
            stats: (n.maxcpu > 0.0 && n.maxmem > 0).then_some(NodeStats {
                cpus: n.maxcpu,
                memory: n.maxmem,
            }),
        })
        .collect();
    let mut services = BTreeMap::new();
    let mut node_affinity = BTreeMap::new();
    for (sid, h) in &view.ha {
        let Some(node) = h.node.clone() else { continue };
        let group = h
            .group
            .as_ref()
            .and_then(|g| view.groups.get(g))
            .filter(|_| view.model == HaModel::Groups);
        let state = if h.request_state == "disabled" {
            CrmState::Disabled
        } else {
            match h.crm_state.as_deref().and_then(|s| s.parse().ok()) {
                Some(state) => state,
                None if h.request_state == "stopped" => CrmState::Stopped,
                None => CrmState::Started,
            }
        };
        let failback = match group {
            Some(g) => !g.nofailback.unwrap_or(false),
            None => h.failback,
        };
        let key = sid.to_string();
        if let Some(g) = group {
            node_affinity.insert(
                key.clone(),
                NodeAffinity {
                    nodes: g
                        .nodes
                        .0
                        .iter()
                        .map(|(n, p)| (n.clone(), i64::from(*p)))
                        .collect(),
                    strict: g.restricted.unwrap_or(false),
                },
            );
        }
        services.insert(
            key.clone(),
            Service {
                sid: key,
                node,
                state,
                target: h.target.clone(),
                failback,
                stats: view.guest(sid).and_then(service_stats),
            },
        );
    }
    let mut resource_affinity = Vec::new();
    if view.model == HaModel::Rules {
        for rule in view.active_rules() {
            let resources: BTreeSet<String> = rule.resources.iter().cloned().collect();
            match rule.kind.as_str() {
                "node-affinity" => {
                    let Some(nodes) = &rule.nodes else { continue };
                    let affinity = NodeAffinity {
                        nodes: nodes
                            .0
                            .iter()
                            .map(|(n, p)| (n.clone(), i64::from(*p)))
                            .collect(),
                        strict: rule.strict.unwrap_or(false),
                    };
                    for sid in resources {
                        node_affinity.insert(sid, affinity.clone());
                    }
                }
                "resource-affinity" => resource_affinity.push(ResourceAffinity {
                    name: rule.rule.clone(),
                    positive: rule.affinity.as_deref() == Some("positive"),
                    resources,
                }),
                _ => {}
            }
        }
    }
    let mut non_ha_running: BTreeMap<String, u32> = BTreeMap::new();
    for g in view
        .guests
        .iter()
        .filter(|g| g.running && !view.is_ha(&g.sid))
    {
        *non_ha_running.entry(g.node.clone()).or_default() += 1;
    }
    // Counting non-HA guests arrived in pve-ha-manager 5.1.2, which no supported PVE release is known to ship yet.
    Cluster {
        nodes,
        services,
        node_affinity,
        resource_affinity,
        non_ha_running,
        count_non_ha: false,
        scheduler: if view.settings.crs == "static" {
            Scheduler::Static
        } else {
            Scheduler::Basic
        },
        rebalance_on_start: view.settings.rebalance_on_start,
        ..Cluster::default()
    }
}

/// What the static CRS reads of a guest (upstream's `static_service_stats`): CPUs are `vcpus`, else
/// `cores` × `sockets` (a VM's defaults are 1 and 1; a container without `cores` may use every CPU, 0 here),
/// capped by `cpulimit` when set; memory is the configured MiB, else the inventory's limit. `None` without a config.
fn service_stats(guest: &crate::view::Guest) -> Option<ServiceStats> {
    let config = guest.config.as_ref()?;
    let number = |key: &str| {
        config
            .other
            .get(key)
            .and_then(|v| match v {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
    };
    let mut cpus = match guest.sid.kind {
        pveha_model::GuestKind::Vm => number("vcpus")
            .filter(|v| *v > 0.0)
            .unwrap_or_else(|| number("cores").unwrap_or(1.0) * number("sockets").unwrap_or(1.0)),
        pveha_model::GuestKind::Ct => number("cores").unwrap_or(0.0),
    };
    if let Some(limit) = number("cpulimit").filter(|l| *l > 0.0) {
        cpus = if cpus > 0.0 { cpus.min(limit) } else { limit };
    }
    let memory = config
        .memory
        .and_then(|mib| mib.checked_mul(1 << 20))
        .unwrap_or(guest.maxmem);
    Some(ServiceStats {
        maxcpu: cpus,
        maxmem: memory,
    })
}

/// A note when the predictions do not use the cluster's CRS mode.
pub(crate) fn note_scheduler(view: &ClusterView, cluster: &Cluster, notes: &mut Vec<String>) {
    let crs = view.settings.crs.as_str();
    let unmodelled = match crs {
        "dynamic" => true,
        "static" => !cluster.uses_static(),
        _ => false,
    };
    if unmodelled {
        notes.push(format!(
            "the cluster runs crs: ha={crs}, which the placement model cannot follow here: node-failure and reboot predictions use the basic scheduler"
        ));
    }
}

/// HA services (sids) that would find no recovery node, per failed node.
pub(crate) type Unplaced = BTreeMap<String, Vec<String>>;

/// Guests by node and running replicas per service, which every node's prediction reads.
pub(crate) struct GuestIndex<'a> {
    /// Node → indexes into `view.guests`.
    pub on_node: FastMap<&'a str, Vec<usize>>,
    /// Service index → running members in the whole cluster.
    pub running_total: Vec<usize>,
    /// Node → memory of its running guests, bytes.
    pub committed: BTreeMap<&'a str, u64>,
}

/// Indexes the guests once for all nodes' predictions.
pub(crate) fn guest_index<'a>(view: &'a ClusterView, services: &Services) -> GuestIndex<'a> {
    let mut index = GuestIndex {
        on_node: FastMap::default(),
        running_total: vec![0; services.list.len()],
        committed: BTreeMap::new(),
    };
    for (i, g) in view.guests.iter().enumerate() {
        index.on_node.entry(g.node.as_str()).or_default().push(i);
        if g.running {
            *index.committed.entry(g.node.as_str()).or_default() += g.maxmem;
            if let Some(&s) = services.of_guest.get(&g.sid) {
                index.running_total[s] += 1;
            }
        }
    }
    index
}

/// The impact of each online node's failure, in node order, and the HA services that would find no node.
pub(crate) fn node_failure_impact(
    view: &ClusterView,
    services: &Services,
    recoverer: &Recoverer<'_>,
    index: &GuestIndex<'_>,
) -> (Vec<NodeFailureImpact>, Unplaced) {
    let GuestIndex {
        on_node,
        running_total,
        committed,
    } = index;

    let mut out = Vec::new();
    let mut unplaced = Unplaced::new();
    for failed in view.nodes.iter().filter(|n| n.online) {
        let recoveries = recoverer.recover(&BTreeSet::from([failed.name.clone()]));
        let mut recovered = BTreeMap::new();
        let mut restarted: FastSet<Sid> = FastSet::default();
        // Only the survivors that receive a service: every other node keeps the memory `distribution` shows, and
        // listing all of them for every failure would grow with the square of the cluster.
        let mut memory_after: BTreeMap<String, u64> = BTreeMap::new();
        for r in recoveries.iter().filter(|r| r.to.is_none()) {
            unplaced
                .entry(failed.name.clone())
                .or_default()
                .push(r.sid.clone());
        }
        for r in &recoveries {
            let (Some(to), Ok(sid)) = (&r.to, r.sid.parse::<Sid>()) else {
                continue;
            };
            recovered.insert(r.sid.clone(), to.clone());
            if !memory_after.contains_key(to) {
                let before = committed.get(to.as_str()).copied().unwrap_or(0);
                memory_after.insert(to.clone(), before);
            }
            let Some(guest) = view.guest(&sid) else {
                continue;
            };
            // A service configured `stopped` is recovered stopped: it neither runs nor uses memory there.
            if guest.running
                && view
                    .ha
                    .get(&sid)
                    .is_none_or(|h| h.request_state == "started")
            {
                restarted.insert(sid);
                if let Some(m) = memory_after.get_mut(to) {
                    *m += guest.maxmem;
                }
            }
        }

        let mut down = Vec::new();
        let mut affected: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for &gi in on_node.get(failed.name.as_str()).into_iter().flatten() {
            let g = &view.guests[gi];
            if !g.running {
                continue;
            }
            let back = restarted.contains(&g.sid);
            if !back {
                down.push(g.sid.to_string());
            }
            if let Some(&s) = services.of_guest.get(&g.sid) {
                let entry = affected.entry(s).or_default();
                entry.0 += 1;
                entry.1 += usize::from(back);
            }
        }
        let mut lost_services = Vec::new();
        let mut rto_seconds = BTreeMap::new();
        for (s, (running_here, back)) in affected {
            let service = &services.list[s];
            let rto = if running_total[s] > running_here {
                Some(0)
            } else if back > 0 {
                Some(RECOVERY_SECONDS)
            } else {
                lost_services.push(service.name.clone());
                None
            };
            rto_seconds.insert(service.name.clone(), rto);
        }
        out.push(NodeFailureImpact {
            node: failed.name.clone(),
            recovered,
            down,
            lost_services,
            memory_after,
            rto_seconds,
        });
    }
    (out, unplaced)
}
