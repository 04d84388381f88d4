//! The simulated HA manager (CRM): rounds every 10 simulated seconds that apply configuration changes,
//! queued migrate/relocate commands, failback, fencing after `FENCE_DELAY` and recovery placement through
//! `pveha-placement` (pve-api.md §11). It mutates the model only; it never sleeps or reads the wall clock.

use std::collections::BTreeSet;

use pveha_placement::{self as placement, CrmState, Hints, Preference, Usage};
use serde_json::Value;

use crate::crs;
use crate::lifecycle::{self, HaSettings};
use crate::rules;
use crate::state::{Cluster, RunChange, ServiceStatus};

/// Simulated seconds between manager rounds.
pub const ROUND: f64 = 10.0;
/// A node must be gone this long before its services are fenced.
pub const FENCE_DELAY: f64 = 60.0;
/// The dead node's agent lock expires this long after it went off; fencing is then acknowledged.
pub const LOCK_EXPIRY: f64 = 120.0;
/// Rounds that can be run in one catch-up before skipping ahead (the model converges in a handful).
const MAX_ROUNDS: u32 = 200;

fn config_state(c: &Cluster, sid: &str) -> Option<String> {
    let s = c.ha_resource(sid)?;
    Some(
        s.props
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("started")
            .to_string(),
    )
}

fn wants_running(cfg: &str) -> bool {
    cfg == "started" || cfg == "enabled"
}

/// Whether the service's configured state asks for it to run.
pub fn config_wants_running(c: &Cluster, sid: &str) -> bool {
    config_state(c, sid).is_some_and(|cfg| wants_running(&cfg))
}

/// Derive the manager state of a snapshot that has HA resources but no manager_status.
pub fn bootstrap(c: &mut Cluster) {
    c.manager.active = true;
    c.manager.timestamp = c.clock.now().floor();
    c.manager.master = c
        .nodes
        .iter()
        .filter(|n| n.powered)
        .map(|n| n.name.clone())
        .min();
    for n in &c.nodes {
        let st = if n.powered { "online" } else { "unknown" };
        c.manager.node_status.insert(n.name.clone(), st.into());
    }
    let sids: Vec<String> = c
        .resources
        .sections
        .iter()
        .map(|s| format!("{}:{}", s.kind, s.id))
        .collect();
    for sid in sids {
        add_service(c, &sid);
    }
}

fn add_service(c: &mut Cluster, sid: &str) {
    let Some(cfg) = config_state(c, sid) else {
        return;
    };
    if cfg == "ignored" {
        return;
    }
    let Some(node) = c.guest_by_sid(sid).map(|g| g.node.clone()) else {
        return;
    };
    let state = if wants_running(&cfg) {
        "started"
    } else {
        "stopped"
    };
    let uid = c.next_uid();
    c.manager.services.insert(
        sid.to_string(),
        ServiceStatus {
            state: state.into(),
            node,
            target: None,
            uid,
            extra: Default::default(),
        },
    );
}

/// Append a line to the CRM log at simulated time `t`.
pub fn log(c: &mut Cluster, t: f64, line: String) {
    c.manager.log.push(format!("{t:>10.0} {line}"));
    if c.manager.log.len() > 1000 {
        c.manager.log.remove(0);
    }
}

/// Change a service's CRM state and log it as the CRM does.
pub fn change_state(c: &mut Cluster, t: f64, sid: &str, state: &str) {
    let Some(old) = c.manager.services.get(sid).map(|s| s.state.clone()) else {
        return;
    };
    set_state(c, sid, state);
    log(
        c,
        t,
        format!("service '{sid}': state changed from '{old}' to '{state}'"),
    );
}

fn set_state(c: &mut Cluster, sid: &str, state: &str) {
    let uid = c.next_uid();
    if let Some(s) = c.manager.services.get_mut(sid) {
        s.state = state.into();
        s.uid = uid;
    }
}

fn move_guest(c: &mut Cluster, sid: &str, node: &str) {
    if let Some(vmid) = sid
        .split_once(':')
        .and_then(|(_, id)| id.parse::<u64>().ok())
    {
        if let Some(g) = c.guest_mut(vmid) {
            g.node = node.to_string();
        }
    }
}

/// The placement crate's view of the cluster, with the CRS mode and node/guest stats the static scheduler reads.
pub fn placement_view(c: &Cluster) -> placement::Cluster {
    let settings = HaSettings::read(c);
    let mut view = placement::Cluster {
        nodes: c
            .nodes
            .iter()
            .map(|n| placement::Node {
                name: n.name.clone(),
                online: n.powered
                    && c.manager
                        .node_status
                        .get(&n.name)
                        .is_none_or(|s| s == "online"),
                stats: crs::node_stats(n),
            })
            .collect(),
        scheduler: crs::scheduler(&settings.crs),
        rebalance_on_start: settings.rebalance_on_start,
        maintenance: c
            .manager
            .node_status
            .iter()
            .filter(|(_, s)| *s == "maintenance")
            .map(|(n, _)| n.clone())
            .collect(),
        ..Default::default()
    };
    for (sid, s) in &c.manager.services {
        let state = s.state.parse().unwrap_or(CrmState::Started);
        view.services.insert(
            sid.clone(),
            placement::Service {
                sid: sid.clone(),
                node: s.node.clone(),
                state,
                target: s.target.clone(),
                failback: rules::failback(c, sid),
                stats: c.guest_by_sid(sid).map(crs::service_stats),
            },
        );
        if let Some((nodes, strict)) = rules::node_affinity(c, sid) {
            view.node_affinity
                .insert(sid.clone(), placement::NodeAffinity { nodes, strict });
        }
    }
    let mut seen = BTreeSet::new();
    for sid in c.manager.services.keys() {
        let (pos, neg) = rules::affinity_partners(c, sid);
        for (positive, partners) in [(true, pos), (false, neg)] {
            if partners.is_empty() {
                continue;
            }
            let mut members: BTreeSet<String> = partners.into_iter().collect();
            members.insert(sid.clone());
            let key = (positive, members.clone());
            if seen.insert(key) {
                view.resource_affinity.push(placement::ResourceAffinity {
                    name: format!(
                        "{}-{}",
                        if positive { "positive" } else { "negative" },
                        seen.len()
                    ),
                    positive,
                    resources: members,
                });
            }
        }
    }
    for g in c
        .guests
        .iter()
        .filter(|g| g.running && c.ha_resource(&g.sid()).is_none())
    {
        *view.non_ha_running.entry(g.node.clone()).or_default() += 1;
    }
    view
}

/// Run every round due up to the clock's current time.
pub fn catch_up(c: &mut Cluster) {
    let now = c.clock.now();
    let mut ran = 0;
    while c.manager.next_round <= now {
        if ran == MAX_ROUNDS {
            c.manager.next_round = ((now / ROUND).floor() - 5.0) * ROUND;
            ran = 0;
        }
        let t = c.manager.next_round;
        round(c, t);
        c.manager.next_round += ROUND;
        ran += 1;
    }
}

/// Power a node off or on now.
pub fn power(c: &mut Cluster, node: &str, on: bool) -> bool {
    let now = c.clock.now();
    power_at(c, node, on, now)
}

/// Power a node off or on at simulated time `t` (a round may run behind the clock while catching up).
pub fn power_at(c: &mut Cluster, node: &str, on: bool, t: f64) -> bool {
    let Some(n) = c.nodes.iter_mut().find(|n| n.name == node) else {
        return false;
    };
    if n.powered == on {
        return true;
    }
    n.powered = on;
    n.off_since = if on { None } else { Some(t) };
    if on {
        lifecycle::on_power_on(c, node);
    }
    let before = ha_running(c);
    let ha: BTreeSet<u64> = c
        .resources
        .sections
        .iter()
        .filter_map(|s| s.id.parse().ok())
        .collect();
    for g in c.guests.iter_mut().filter(|g| g.node == node) {
        if !on {
            g.running = false;
        } else if !ha.contains(&g.vmid) {
            // startall on boot: non-HA guests with onboot=1 come back; HA guests wait for the manager.
            g.running = g.config.get("onboot").and_then(Value::as_i64) == Some(1)
                || g.config.get("onboot").and_then(Value::as_str) == Some("1");
        }
    }
    record_changes(c, before, t);
    true
}

/// Running flag and node of every HA service's guest.
fn ha_running(c: &Cluster) -> Vec<(String, bool, String)> {
    c.manager
        .services
        .keys()
        .filter_map(|sid| {
            let g = c.guest_by_sid(sid)?;
            Some((sid.clone(), g.running, g.node.clone()))
        })
        .collect()
}

/// Record in the timeline and the log every HA guest that started or stopped since `before`.
fn record_changes(c: &mut Cluster, before: Vec<(String, bool, String)>, t: f64) {
    for (sid, was, _) in before {
        let Some((running, node)) = c.guest_by_sid(&sid).map(|g| (g.running, g.node.clone()))
        else {
            continue;
        };
        if running == was {
            continue;
        }
        let word = if running { "started" } else { "stopped" };
        log(c, t, format!("{node}/lrm: service status {sid} {word}"));
        c.manager.timeline.entry(sid).or_default().push(RunChange {
            at: t,
            running,
            node,
        });
    }
}

/// One manager round at simulated time `t`.
pub fn round(c: &mut Cluster, t: f64) {
    if !c.manager.active && c.resources.sections.is_empty() {
        return;
    }
    c.manager.active = true;
    if c.manager
        .master
        .as_deref()
        .is_none_or(|m| !c.node_online(m))
    {
        c.manager.master = c
            .nodes
            .iter()
            .filter(|n| n.powered)
            .map(|n| n.name.clone())
            .min();
    }
    lifecycle::boot_due(c, t);
    let settings = HaSettings::read(c);
    update_nodes(c, t);
    sync_config(c, t, &settings);
    finish_moves(c, t);
    apply_commands(c, t);
    recover(c, t);
    normal_rounds(c, t);
    lifecycle::freeze_and_thaw(c, t);
    lifecycle::complete_planned(c, t);
    let before = ha_running(c);
    for (sid, s) in c.manager.services.clone() {
        // A relocating container is stopped while it moves; a migrating VM keeps running.
        let running = c.node_online(&s.node) && matches!(s.state.as_str(), "started" | "migrate");
        if let Some(vmid) = sid
            .split_once(':')
            .and_then(|(_, id)| id.parse::<u64>().ok())
        {
            if let Some(g) = c.guest_mut(vmid) {
                g.running = running;
            }
        }
    }
    record_changes(c, before, t);
    c.manager.timestamp = t;
}

fn update_nodes(c: &mut Cluster, t: f64) {
    for i in 0..c.nodes.len() {
        let name = c.nodes[i].name.clone();
        let cur = c
            .manager
            .node_status
            .get(&name)
            .cloned()
            .unwrap_or_else(|| "online".into());
        let maintenance = lifecycle::lrm_mode(c, &name) == "maintenance";
        // NodeStatus.pm: an LRM in maintenance mode makes the node `maintenance`, and it stays so while
        // it is off; it is neither fenced nor recovered from.
        if maintenance && (cur == "online" || cur == "maintenance") {
            if cur == "online" {
                c.manager
                    .node_status
                    .insert(name.clone(), "maintenance".into());
                log(
                    c,
                    t,
                    format!("node '{name}': state changed from 'online' => 'maintenance'"),
                );
            }
            continue;
        }
        if c.nodes[i].powered {
            if cur != "online" {
                c.manager.node_status.insert(name.clone(), "online".into());
                log(
                    c,
                    t,
                    format!("node '{name}': state changed from '{cur}' => 'online'"),
                );
                let fenced: Vec<String> = c
                    .manager
                    .services
                    .iter()
                    .filter(|(_, s)| s.node == name && s.state == "fence")
                    .map(|(k, _)| k.clone())
                    .collect();
                for sid in fenced {
                    set_state(c, &sid, "started");
                }
            }
            continue;
        }
        let off = t - c.nodes[i].off_since.unwrap_or(t);
        let on_node: Vec<String> = c
            .manager
            .services
            .iter()
            .filter(|(_, s)| {
                s.node == name && !matches!(s.state.as_str(), "error" | "freeze" | "recovery")
            })
            .map(|(k, _)| k.clone())
            .collect();
        match cur.as_str() {
            "online" => {
                c.manager.node_status.insert(name.clone(), "unknown".into());
                log(
                    c,
                    t,
                    format!("node '{name}': state changed from 'online' => 'unknown'"),
                );
            }
            "unknown" if off >= FENCE_DELAY && !on_node.is_empty() => {
                c.manager.node_status.insert(name.clone(), "fence".into());
                log(
                    c,
                    t,
                    format!("node '{name}': state changed from 'unknown' => 'fence'"),
                );
                for sid in on_node {
                    set_state(c, &sid, "fence");
                    if let Some(s) = c.manager.services.get_mut(&sid) {
                        s.target = None;
                    }
                    log(c, t, format!("service '{sid}': state changed to 'fence'"));
                }
            }
            "fence" if off >= LOCK_EXPIRY => {
                c.manager.node_status.insert(name.clone(), "unknown".into());
                log(
                    c,
                    t,
                    format!("fencing: acknowledged - got agent lock for node '{name}'"),
                );
                let fenced: Vec<String> = c
                    .manager
                    .services
                    .iter()
                    .filter(|(_, s)| s.node == name && s.state == "fence")
                    .map(|(k, _)| k.clone())
                    .collect();
                for sid in fenced {
                    set_state(c, &sid, "recovery");
                }
            }
            _ => {}
        }
    }
}

fn sync_config(c: &mut Cluster, t: f64, settings: &HaSettings) {
    let configured: Vec<String> = c
        .resources
        .sections
        .iter()
        .map(|s| format!("{}:{}", s.kind, s.id))
        .collect();
    c.manager.services.retain(|sid, _| configured.contains(sid));
    for sid in configured {
        let cfg = config_state(c, &sid).unwrap_or_default();
        match c.manager.services.get(&sid).map(|s| s.state.clone()) {
            None => {
                add_service(c, &sid);
                let started = c
                    .manager
                    .services
                    .get(&sid)
                    .is_some_and(|s| s.state == "started");
                if started && settings.rebalance_on_start {
                    rebalance_on_start(c, t, &sid);
                }
            }
            Some(_) if cfg == "ignored" => {
                c.manager.services.remove(&sid);
            }
            Some(state) => {
                let node_ok = c
                    .manager
                    .services
                    .get(&sid)
                    .is_some_and(|s| c.node_online(&s.node));
                if wants_running(&cfg) && (state == "stopped" || state == "request_stop") && node_ok
                {
                    set_state(c, &sid, "started");
                    if settings.rebalance_on_start {
                        rebalance_on_start(c, t, &sid);
                    }
                } else if (!wants_running(&cfg) && state == "started")
                    || state == "request_stop"
                    || (state == "error" && cfg == "disabled")
                {
                    set_state(c, &sid, "stopped");
                }
            }
        }
    }
}

/// `next_state_request_start` with `ha-rebalance-on-start`: a service about to start goes to the
/// best-scored node instead of its current one.
fn rebalance_on_start(c: &mut Cluster, t: f64, sid: &str) {
    let Some(current) = c.manager.services.get(sid).map(|s| s.node.clone()) else {
        return;
    };
    let view = placement_view(c);
    let usage = Usage::from_cluster(&view);
    let hints = hints(c, sid);
    let target = placement::rebalance_start_target(&view, &usage, sid, &current, &hints);
    let (which, chosen) = match &target {
        Some(t) => ("new", t.clone()),
        None => ("current", current.clone()),
    };
    log(
        c,
        t,
        format!("service {sid}: re-balance selected {which} node {chosen} for startup"),
    );
    if let Some(target) = target {
        set_state(c, sid, "request_start_balance");
        if let Some(s) = c.manager.services.get_mut(sid) {
            s.target = Some(target);
        }
    }
}

fn hints(c: &Cluster, sid: &str) -> Hints {
    Hints {
        failed_nodes: Vec::new(),
        maintenance_node: maintenance_node(c, sid),
    }
}

/// The node the CRM picks for a service, with its `maintenance_node` fallback.
fn select(
    c: &Cluster,
    view: &placement::Cluster,
    usage: &Usage,
    sid: &str,
    current: &str,
    pref: Preference,
) -> Option<String> {
    placement::select_service_node_with(view, usage, sid, current, pref, &hints(c, sid))
}

/// The node a service left for maintenance and returns to.
fn maintenance_node(c: &Cluster, sid: &str) -> Option<String> {
    c.manager
        .services
        .get(sid)?
        .extra
        .get("maintenance_node")?
        .as_str()
        .map(str::to_string)
}

fn set_maintenance_node(c: &mut Cluster, sid: &str, node: Option<String>) {
    if let Some(s) = c.manager.services.get_mut(sid) {
        match node {
            Some(n) => s.extra.insert("maintenance_node".into(), Value::from(n)),
            None => s.extra.remove("maintenance_node"),
        };
    }
}

fn finish_moves(c: &mut Cluster, t: f64) {
    let moving: Vec<(String, String)> = c
        .manager
        .services
        .iter()
        .filter(|(_, s)| {
            matches!(
                s.state.as_str(),
                "migrate" | "relocate" | "request_start_balance"
            )
        })
        .filter_map(|(k, s)| Some((k.clone(), s.target.clone()?)))
        .collect();
    for (sid, target) in moving {
        let cfg = config_state(c, &sid).unwrap_or_default();
        if c.node_online(&target) {
            if let Some(s) = c.manager.services.get_mut(&sid) {
                s.node = target.clone();
                s.target = None;
            }
            move_guest(c, &sid, &target);
        } else if let Some(s) = c.manager.services.get_mut(&sid) {
            s.target = None;
        }
        let next = if wants_running(&cfg) {
            "started"
        } else {
            "stopped"
        };
        let (old, node) = c
            .manager
            .services
            .get(&sid)
            .map(|s| (s.state.clone(), s.node.clone()))
            .unwrap_or_default();
        set_state(c, &sid, next);
        log(
            c,
            t,
            format!("service '{sid}': state changed from '{old}' to '{next}'  (node = {node})"),
        );
    }
}

fn apply_commands(c: &mut Cluster, t: f64) {
    for cmd in std::mem::take(&mut c.manager.commands) {
        let Some(s) = c.manager.services.get(&cmd.sid).cloned() else {
            continue;
        };
        if !c.node_online(&cmd.node) || s.node == cmd.node {
            log(
                c,
                t,
                format!(
                    "ignore crm command - service '{}' already on node '{}' or node offline",
                    cmd.sid, cmd.node
                ),
            );
            continue;
        }
        match s.state.as_str() {
            "started" => {
                set_state(c, &cmd.sid, &cmd.verb);
                if let Some(st) = c.manager.services.get_mut(&cmd.sid) {
                    st.target = Some(cmd.node.clone());
                }
                log(
                    c,
                    t,
                    format!("got crm command: {} {} {}", cmd.verb, cmd.sid, cmd.node),
                );
            }
            "stopped" => {
                // A stopped service just changes its node.
                if let Some(st) = c.manager.services.get_mut(&cmd.sid) {
                    st.node = cmd.node.clone();
                }
                move_guest(c, &cmd.sid, &cmd.node);
            }
            _ => {}
        }
    }
}

fn recover(c: &mut Cluster, t: f64) {
    if !c.manager.services.values().any(|s| s.state == "recovery") {
        return;
    }
    let view = placement_view(c);
    for r in placement::recover(&view, &BTreeSet::new()) {
        match r.to {
            Some(node) => {
                let cfg = config_state(c, &r.sid).unwrap_or_default();
                if let Some(s) = c.manager.services.get_mut(&r.sid) {
                    s.node = node.clone();
                }
                move_guest(c, &r.sid, &node);
                set_state(
                    c,
                    &r.sid,
                    if wants_running(&cfg) {
                        "started"
                    } else {
                        "stopped"
                    },
                );
                log(
                    c,
                    t,
                    format!(
                        "recover service '{}' from fenced node '{}' to node '{node}'",
                        r.sid, r.from
                    ),
                );
            }
            None => log(
                c,
                t,
                format!(
                    "recovering service '{}' from fenced node '{}' failed, no recovery node found",
                    r.sid, r.from
                ),
            ),
        }
    }
}

fn normal_rounds(c: &mut Cluster, t: f64) {
    let mut view = placement_view(c);
    let mut usage = Usage::from_cluster(&view);
    let started: Vec<(String, String)> = c
        .manager
        .services
        .iter()
        .filter(|(_, s)| s.state == "started" && c.node_online(&s.node))
        .map(|(k, s)| (k.clone(), s.node.clone()))
        .collect();
    for (sid, node) in started {
        if c.manager.node_status.get(&node).map(String::as_str) == Some("maintenance") {
            // Manager.pm next_state_started: remember where to come back to.
            set_maintenance_node(c, &sid, Some(node.clone()));
        }
        let Some(best) = select(c, &view, &usage, &sid, &node, Preference::None) else {
            continue;
        };
        if best == node {
            if maintenance_node(c, &sid).as_deref() == Some(node.as_str())
                && c.manager.node_status.get(&node).map(String::as_str) == Some("online")
            {
                log(c, t, format!("service '{sid}': clearing stale maintenance node '{node}' setting (is current node)"));
                set_maintenance_node(c, &sid, None);
            }
            continue;
        }
        if let Some(fallback) = maintenance_node(c, &sid) {
            if best == fallback {
                log(c, t, format!("moving service '{sid}' back to '{fallback}', node came back from maintenance."));
                set_maintenance_node(c, &sid, None);
            } else if node != fallback {
                log(
                    c,
                    t,
                    format!("dropping maintenance fallback node '{fallback}' for '{sid}'"),
                );
                set_maintenance_node(c, &sid, None);
            }
        }
        // VMs migrate live; containers are stopped, moved and started again.
        let verb = if sid.starts_with("vm:") {
            "migrate"
        } else {
            "relocate"
        };
        let old = c
            .manager
            .services
            .get(&sid)
            .map(|s| s.state.clone())
            .unwrap_or_default();
        set_state(c, &sid, verb);
        if let Some(s) = c.manager.services.get_mut(&sid) {
            s.target = Some(best.clone());
        }
        usage.add(&best);
        // Later services in this round must see the move: a negative-affinity partner may not
        // pick the node this one is heading to.
        if let Some(v) = view.services.get_mut(&sid) {
            v.state = if verb == "migrate" {
                CrmState::Migrate
            } else {
                CrmState::Relocate
            };
            v.target = Some(best.clone());
        }
        let running = if verb == "migrate" { " (running)" } else { "" };
        log(
            c,
            t,
            format!("{verb} service '{sid}' to node '{best}'{running}"),
        );
        log(
            c,
            t,
            format!("service '{sid}': state changed from '{old}' to '{verb}'  (node = {node}, target = {best})"),
        );
    }
}
