//! Planned changes in Proxmox terms and the cluster they leave behind: [`apply`] writes each planned HA resource,
//! group, rule, guest start-up and HA setting into a copy of the snapshot, then lets placement settle the services
//! the way the CRM's normal rounds would, so the audit can judge the cluster as it will be after the change.
//!
//! Pure: no I/O and no clock. Values the plan does not know yet are never guessed: the attribute keeps the value
//! it has in the snapshot and a note says so.

use std::collections::{BTreeMap, BTreeSet};

use pveha_model::snapshot::guest_config_path;
use pveha_model::{GuestKind, Sid, Snapshot};
use pveha_placement::{select_service_node, CrmState, Preference, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::impact::placement_cluster;
use crate::view::ClusterView;

/// Normal CRM rounds simulated at most while services keep moving; placement settles in one or two.
const MAX_ROUNDS: usize = 10;

/// What a planned change does to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    /// A new object.
    Create,
    /// An object changed in place.
    Update,
    /// An object removed.
    Delete,
    /// An object removed and created again.
    Replace,
}

/// An HA resource (`/cluster/ha/resources` entry) as planned; `None` means unset (the server's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaResourceSpec {
    /// `ct:N` or `vm:N`.
    pub sid: String,
    /// Requested state.
    pub state: Option<String>,
    /// PVE 8 group.
    pub group: Option<String>,
    /// Restarts on the same node.
    pub max_restart: Option<u64>,
    /// Relocations to other nodes.
    pub max_relocate: Option<u64>,
    /// PVE 9 failback.
    pub failback: Option<bool>,
    /// Comment.
    pub comment: Option<String>,
    /// The node the change migrates the service to.
    pub node: Option<String>,
}

/// An HA group (PVE 8) as planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// Group id.
    pub name: String,
    /// Member nodes and priorities.
    pub nodes: Option<BTreeMap<String, i64>>,
    /// Only member nodes.
    pub restricted: Option<bool>,
    /// No failback to a higher-priority node.
    pub nofailback: Option<bool>,
    /// Comment.
    pub comment: Option<String>,
}

/// An HA rule (PVE 9) as planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Rule id.
    pub name: String,
    /// `node-affinity` or `resource-affinity`.
    pub kind: String,
    /// Member sids.
    pub resources: Option<BTreeSet<String>>,
    /// Node affinity: nodes and priorities.
    pub nodes: Option<BTreeMap<String, i64>>,
    /// Node affinity: only the listed nodes.
    pub strict: Option<bool>,
    /// Resource affinity: `positive` or `negative`.
    pub affinity: Option<String>,
    /// Whether the rule is disabled.
    pub disable: Option<bool>,
    /// Comment.
    pub comment: Option<String>,
}

/// A guest's start-up settings as planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartupSpec {
    /// The guest.
    pub vmid: u64,
    /// Start at boot.
    pub onboot: Option<bool>,
    /// Start order class.
    pub order: Option<u64>,
    /// Seconds to wait after start.
    pub up: Option<u64>,
    /// Seconds to wait for shutdown.
    pub down: Option<u64>,
}

/// The datacenter's HA settings (`/cluster/options`) as planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsSpec {
    /// `ha: shutdown_policy=`.
    pub shutdown_policy: Option<String>,
    /// `crs: ha=`.
    pub crs: Option<String>,
    /// `crs: ha-rebalance-on-start=`.
    pub rebalance_on_start: Option<bool>,
    /// `fencing`.
    pub fencing: Option<String>,
}

/// The object a change is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlannedObject {
    /// An HA resource.
    HaResource(HaResourceSpec),
    /// An HA group.
    Group(GroupSpec),
    /// An HA rule.
    Rule(RuleSpec),
    /// A guest's start-up settings.
    GuestStartup(StartupSpec),
    /// The HA settings.
    HaSettings(SettingsSpec),
}

/// One planned change: the object before and after (either absent for create and delete) and the attributes whose
/// planned value is unknown until apply (Proxmox names: `group`, `nodes`, `state`...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChange {
    /// Where the change comes from (a Terraform address, for the notes).
    pub address: String,
    /// What it does.
    pub action: ChangeAction,
    /// The object as it is.
    pub before: Option<PlannedObject>,
    /// The object as planned.
    pub after: Option<PlannedObject>,
    /// Attributes of `after` not known yet.
    pub unknown: BTreeSet<String>,
}

/// Why planned changes cannot be applied to a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The change names a guest the snapshot does not have.
    #[error("{address} references guest {guest}, which the snapshot does not have")]
    UnknownGuest {
        /// The change.
        address: String,
        /// The sid or VMID.
        guest: String,
    },
    /// A sid that is not `ct:N` / `vm:N`.
    #[error("{address}: '{sid}' is not a service id")]
    BadSid {
        /// The change.
        address: String,
        /// The text.
        sid: String,
    },
    /// The snapshot's inventory is unusable.
    #[error(transparent)]
    Snapshot(#[from] pveha_model::SnapshotError),
}

/// A service the settled plan moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The service.
    pub sid: String,
    /// Where it was.
    pub from: String,
    /// Where it goes.
    pub to: String,
    /// Why: `requested` (the change sets `node`) or `placement` (the CRM's round).
    pub reason: String,
}

/// The cluster after the planned changes, with what happened on the way.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The snapshot as it will be after apply and the HA rounds that follow.
    pub snapshot: Snapshot,
    /// Services that move, in order.
    pub moves: Vec<Move>,
    /// Unknown values, ignored objects and other remarks.
    pub notes: Vec<String>,
}

/// Applies `changes` to `snapshot` and settles placement; fails only on a guest the snapshot lacks.
pub fn apply(snapshot: &Snapshot, changes: &[PlannedChange]) -> Result<Applied, PlanError> {
    let mut snap = snapshot.clone();
    let mut notes = Vec::new();
    let mut moves = Vec::new();
    let inventory = inventory(&snap)?;
    for change in changes {
        for attr in &change.unknown {
            notes.push(format!(
                "{}: {attr} is unknown until apply and was not guessed (left as it is)",
                change.address
            ));
        }
        check_guests(change, &inventory)?;
        let obj = change.after.as_ref().or(change.before.as_ref());
        match obj {
            Some(PlannedObject::HaResource(_)) => {
                apply_ha_resource(&mut snap, change, &inventory, &mut moves)
            }
            Some(PlannedObject::Group(_)) => {
                apply_list(&mut snap, change, "/cluster/ha/groups");
            }
            Some(PlannedObject::Rule(_)) => {
                apply_list(&mut snap, change, "/cluster/ha/rules");
            }
            Some(PlannedObject::GuestStartup(s)) => {
                apply_startup(&mut snap, change, s.vmid, &inventory)
            }
            Some(PlannedObject::HaSettings(_)) => apply_settings(&mut snap, change),
            None => {}
        }
    }
    settle(&mut snap, &mut moves, &mut notes)?;
    Ok(Applied {
        snapshot: snap,
        moves,
        notes,
    })
}

/// The node of every HA service (not `ignored`) as the snapshot has it: the CRM's, else the inventory's.
pub fn ha_nodes(snapshot: &Snapshot) -> Result<BTreeMap<String, String>, PlanError> {
    let view = ClusterView::from_snapshot(snapshot)?;
    Ok(view
        .ha
        .keys()
        .filter_map(|sid| Some((sid.to_string(), view.node_of(sid)?.to_string())))
        .collect())
}

/// VMID → (kind, node) of every guest in the inventory.
fn inventory(snap: &Snapshot) -> Result<BTreeMap<u64, (GuestKind, String)>, PlanError> {
    Ok(snap
        .resources()?
        .iter()
        .filter_map(|r| Some((r.vmid?, (r.guest_kind()?, r.node.clone()?))))
        .collect())
}

fn parse_sid(address: &str, sid: &str) -> Result<Sid, PlanError> {
    sid.parse().map_err(|_| PlanError::BadSid {
        address: address.to_string(),
        sid: sid.to_string(),
    })
}

/// Every guest the planned object names must exist, or the prediction would be about another cluster.
fn check_guests(
    change: &PlannedChange,
    inventory: &BTreeMap<u64, (GuestKind, String)>,
) -> Result<(), PlanError> {
    let missing = |guest: String| PlanError::UnknownGuest {
        address: change.address.clone(),
        guest,
    };
    let mut sids: Vec<&str> = Vec::new();
    match &change.after {
        Some(PlannedObject::HaResource(r)) => sids.push(&r.sid),
        Some(PlannedObject::Rule(r)) => {
            sids.extend(r.resources.iter().flatten().map(String::as_str))
        }
        Some(PlannedObject::GuestStartup(s)) if !inventory.contains_key(&s.vmid) => {
            return Err(missing(s.vmid.to_string()))
        }
        _ => {}
    }
    for sid in sids {
        let parsed = parse_sid(&change.address, sid)?;
        match inventory.get(&u64::from(parsed.vmid)) {
            Some((kind, _)) if *kind == parsed.kind => {}
            _ => return Err(missing(sid.to_string())),
        }
    }
    Ok(())
}

/// The object's key in its API list and its entry as the API lists it.
fn entry(obj: &PlannedObject) -> (&'static str, String, Vec<(&'static str, Option<Value>)>) {
    let nodes = |n: &Option<BTreeMap<String, i64>>| {
        n.as_ref().map(|m| {
            Value::String(
                m.iter()
                    .map(|(node, p)| format!("{node}:{p}"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
    };
    let flag = |b: Option<bool>| b.map(|b| json!(u8::from(b)));
    let text = |s: &Option<String>| s.clone().map(Value::String);
    match obj {
        PlannedObject::HaResource(r) => (
            "sid",
            r.sid.clone(),
            vec![
                ("state", text(&r.state)),
                ("group", text(&r.group)),
                ("max_restart", r.max_restart.map(|v| json!(v))),
                ("max_relocate", r.max_relocate.map(|v| json!(v))),
                ("failback", flag(r.failback)),
                ("comment", text(&r.comment)),
            ],
        ),
        PlannedObject::Group(g) => (
            "group",
            g.name.clone(),
            vec![
                ("nodes", nodes(&g.nodes)),
                ("restricted", flag(g.restricted)),
                ("nofailback", flag(g.nofailback)),
                ("comment", text(&g.comment)),
            ],
        ),
        PlannedObject::Rule(r) => (
            "rule",
            r.name.clone(),
            vec![
                ("type", Some(Value::String(r.kind.clone()))),
                (
                    "resources",
                    r.resources
                        .as_ref()
                        .map(|s| Value::String(s.iter().cloned().collect::<Vec<_>>().join(","))),
                ),
                ("nodes", nodes(&r.nodes)),
                ("strict", flag(r.strict)),
                ("affinity", text(&r.affinity)),
                ("disable", flag(r.disable.filter(|d| *d))),
                ("comment", text(&r.comment)),
            ],
        ),
        PlannedObject::GuestStartup(s) => ("vmid", s.vmid.to_string(), Vec::new()),
        PlannedObject::HaSettings(_) => ("", String::new(), Vec::new()),
    }
}

/// Writes the planned fields over `target`: a known value is set, an unset one removed, an unknown one kept.
fn overlay(
    target: &mut Map<String, Value>,
    fields: Vec<(&str, Option<Value>)>,
    unknown: &BTreeSet<String>,
) {
    for (key, value) in fields {
        if unknown.contains(key) {
            continue;
        }
        match value {
            Some(v) => {
                target.insert(key.to_string(), v);
            }
            None => {
                target.remove(key);
            }
        }
    }
}

fn list_mut<'a>(snap: &'a mut Snapshot, path: &str) -> &'a mut Vec<Value> {
    let slot = snap
        .api
        .entry(path.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("just made an array"),
    }
}

/// Removes the before object, writes the after one over what the list had under the same key (so unknown fields keep
/// their value), and returns the key of the written entry.
fn apply_list(snap: &mut Snapshot, change: &PlannedChange, path: &str) -> Option<String> {
    let mut previous = Map::new();
    if let Some(before) = &change.before {
        let (key, id, _) = entry(before);
        let items = list_mut(snap, path);
        if let Some(i) = items.iter().position(|v| v[key] == json!(id)) {
            if let Value::Object(m) = items.remove(i) {
                previous = m;
            }
        }
    }
    let after = change.after.as_ref()?;
    let (key, id, fields) = entry(after);
    let items = list_mut(snap, path);
    if let Some(i) = items.iter().position(|v| v[key] == json!(id)) {
        if let Value::Object(m) = items.remove(i) {
            previous = m;
        }
    }
    previous.remove("digest");
    previous.remove("errors");
    previous.insert(key.to_string(), Value::String(id.clone()));
    if path == "/cluster/ha/groups" {
        previous.insert("type".into(), json!("group"));
    }
    overlay(&mut previous, fields, &change.unknown);
    items.push(Value::Object(previous));
    Some(id)
}

fn apply_ha_resource(
    snap: &mut Snapshot,
    change: &PlannedChange,
    inventory: &BTreeMap<u64, (GuestKind, String)>,
    moves: &mut Vec<Move>,
) {
    let removed = change.before.as_ref().and_then(|b| match b {
        PlannedObject::HaResource(r) => Some(r.sid.clone()),
        _ => None,
    });
    let written = apply_list(snap, change, "/cluster/ha/resources");
    if let Some(sid) = removed.filter(|s| Some(s) != written.as_ref()) {
        drop_crm_state(snap, &sid);
    }
    let Some(PlannedObject::HaResource(after)) = &change.after else {
        return;
    };
    let Ok(sid) = after.sid.parse::<Sid>() else {
        return;
    };
    if let Some(entry) = list_mut(snap, "/cluster/ha/resources")
        .iter_mut()
        .find(|v| v["sid"] == json!(after.sid))
    {
        if let Some(kind) = entry["sid"].as_str().and_then(|s| s.split(':').next()) {
            let kind = kind.to_string();
            entry["type"] = Value::String(kind);
        }
    }
    let Some((_, inventory_node)) = inventory.get(&u64::from(sid.vmid)) else {
        return;
    };
    let current = crm_node(snap, &after.sid).unwrap_or_else(|| inventory_node.clone());
    let requested = after
        .state
        .clone()
        .filter(|_| !change.unknown.contains("state"))
        .or_else(|| crm_request(snap, &after.sid))
        .unwrap_or_else(|| "started".to_string());
    let crm_state = match requested.as_str() {
        "stopped" | "disabled" => "stopped",
        "ignored" => return,
        _ => "started",
    };
    set_crm_state(snap, &after.sid, &current, crm_state);
    set_running(snap, sid, crm_state == "started");
    if let Some(node) = after
        .node
        .as_ref()
        .filter(|_| !change.unknown.contains("node"))
    {
        if *node != current {
            move_service(snap, sid, &current, node);
            moves.push(Move {
                sid: after.sid.clone(),
                from: current,
                to: node.clone(),
                reason: "requested".into(),
            });
        }
    }
}

fn apply_startup(
    snap: &mut Snapshot,
    change: &PlannedChange,
    vmid: u64,
    inventory: &BTreeMap<u64, (GuestKind, String)>,
) {
    let Some((kind, node)) = inventory.get(&vmid) else {
        return;
    };
    let path = guest_config_path(node, *kind, vmid);
    let config = snap.api.entry(path).or_insert_with(|| json!({}));
    let Some(config) = config.as_object_mut() else {
        return;
    };
    let spec = match &change.after {
        Some(PlannedObject::GuestStartup(s)) => s.clone(),
        // Deleting the resource unsets what it manages.
        _ => StartupSpec {
            vmid,
            ..StartupSpec::default()
        },
    };
    let unknown = &change.unknown;
    if !unknown.contains("onboot") {
        match spec.onboot {
            Some(b) => {
                config.insert("onboot".into(), json!(u8::from(b)));
            }
            None => {
                config.remove("onboot");
            }
        }
    }
    if ["order", "up", "down"].iter().any(|k| unknown.contains(*k)) {
        return;
    }
    let parts: Vec<String> = [("order", spec.order), ("up", spec.up), ("down", spec.down)]
        .into_iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", v?)))
        .collect();
    if parts.is_empty() {
        config.remove("startup");
    } else {
        config.insert("startup".into(), Value::String(parts.join(",")));
    }
}

fn apply_settings(snap: &mut Snapshot, change: &PlannedChange) {
    let spec = match &change.after {
        Some(PlannedObject::HaSettings(s)) => s.clone(),
        _ => SettingsSpec::default(),
    };
    let options = snap
        .api
        .entry("/cluster/options".to_string())
        .or_insert_with(|| json!({}));
    if !options.is_object() {
        *options = json!({});
    }
    let unknown = &change.unknown;
    let mut sub = |name: &str, key: &str, attr: &str, value: Option<Value>| {
        if unknown.contains(attr) {
            return;
        }
        let slot = &mut options[name];
        if !slot.is_object() {
            *slot = json!({});
        }
        match value {
            Some(v) => slot[key] = v,
            None => {
                if let Some(m) = slot.as_object_mut() {
                    m.remove(key);
                }
            }
        }
    };
    sub(
        "ha",
        "shutdown_policy",
        "shutdown_policy",
        spec.shutdown_policy.map(Value::String),
    );
    sub("crs", "ha", "crs", spec.crs.map(Value::String));
    sub(
        "crs",
        "ha-rebalance-on-start",
        "rebalance_on_start",
        spec.rebalance_on_start.map(|b| json!(u8::from(b))),
    );
    if !unknown.contains("fencing") {
        if let Some(m) = options.as_object_mut() {
            match spec.fencing {
                Some(f) => {
                    m.insert("fencing".into(), Value::String(f));
                }
                None => {
                    m.remove("fencing");
                }
            }
        }
    }
}

fn manager_services(snap: &mut Snapshot) -> &mut Map<String, Value> {
    let ms = snap
        .api
        .entry("/cluster/ha/status/manager_status".to_string())
        .or_insert_with(|| json!({}));
    if !ms.is_object() {
        *ms = json!({});
    }
    let inner = &mut ms["manager_status"];
    if !inner.is_object() {
        *inner = json!({});
    }
    let services = &mut inner["service_status"];
    if !services.is_object() {
        *services = json!({});
    }
    match services {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// The node the CRM has the service on, if the snapshot shows one.
fn crm_node(snap: &Snapshot, sid: &str) -> Option<String> {
    let from_manager = snap
        .api
        .get("/cluster/ha/status/manager_status")
        .and_then(|m| m["manager_status"]["service_status"][sid]["node"].as_str());
    let from_current = || {
        snap.api
            .get("/cluster/ha/status/current")?
            .as_array()?
            .iter()
            .find(|e| e["sid"] == json!(sid))?["node"]
            .as_str()
    };
    from_manager.or_else(from_current).map(str::to_string)
}

/// The configured state of an HA resource the snapshot already has.
fn crm_request(snap: &Snapshot, sid: &str) -> Option<String> {
    snap.api
        .get("/cluster/ha/resources")?
        .as_array()?
        .iter()
        .find(|e| e["sid"] == json!(sid))?["state"]
        .as_str()
        .map(str::to_string)
}

fn set_crm_state(snap: &mut Snapshot, sid: &str, node: &str, state: &str) {
    let services = manager_services(snap);
    let entry = services.entry(sid.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry["node"] = json!(node);
    entry["state"] = json!(state);
    if let Some(m) = entry.as_object_mut() {
        m.remove("target");
    }
    let current = list_mut(snap, "/cluster/ha/status/current");
    let id = format!("service:{sid}");
    match current.iter_mut().find(|e| e["sid"] == json!(sid)) {
        Some(e) => {
            e["node"] = json!(node);
            e["crm_state"] = json!(state);
            e["state"] = json!(state);
        }
        None => current.push(json!({
            "type": "service", "id": id, "sid": sid, "node": node, "crm_state": state, "state": state,
        })),
    }
}

fn drop_crm_state(snap: &mut Snapshot, sid: &str) {
    manager_services(snap).remove(sid);
    list_mut(snap, "/cluster/ha/status/current").retain(|e| e["sid"] != json!(sid));
}

fn set_running(snap: &mut Snapshot, sid: Sid, running: bool) {
    let id = format!("{}/{}", sid.kind.api_type(), sid.vmid);
    if let Some(r) = list_mut(snap, "/cluster/resources")
        .iter_mut()
        .find(|r| r["id"] == json!(id))
    {
        r["status"] = json!(if running { "running" } else { "stopped" });
    }
}

/// Moves a guest: its inventory entry, its config's path and the CRM's record.
fn move_service(snap: &mut Snapshot, sid: Sid, from: &str, to: &str) {
    let id = format!("{}/{}", sid.kind.api_type(), sid.vmid);
    if let Some(r) = list_mut(snap, "/cluster/resources")
        .iter_mut()
        .find(|r| r["id"] == json!(id))
    {
        r["node"] = json!(to);
    }
    let vmid = u64::from(sid.vmid);
    if let Some(config) = snap.api.remove(&guest_config_path(from, sid.kind, vmid)) {
        snap.api
            .insert(guest_config_path(to, sid.kind, vmid), config);
    }
    let key = sid.to_string();
    let state = manager_services(snap)
        .get(&key)
        .and_then(|e| e["state"].as_str())
        .unwrap_or("started")
        .to_string();
    set_crm_state(snap, &key, to, &state);
}

/// Runs normal CRM rounds: each service in `started` or `stopped` goes where `select_service_node` (current node
/// preferred, failback as configured) puts it, until nothing moves.
fn settle(
    snap: &mut Snapshot,
    moves: &mut Vec<Move>,
    notes: &mut Vec<String>,
) -> Result<(), PlanError> {
    for _ in 0..MAX_ROUNDS {
        let view = ClusterView::from_snapshot(snap)?;
        let mut cluster = placement_cluster(&view);
        let mut usage = Usage::from_cluster(&cluster);
        let mut round = Vec::new();
        let sids: Vec<String> = cluster.services.keys().cloned().collect();
        for sid in sids {
            let Some(service) = cluster.services.get(&sid).cloned() else {
                continue;
            };
            if !matches!(service.state, CrmState::Started | CrmState::Stopped) {
                continue;
            }
            let Some(target) =
                select_service_node(&cluster, &usage, &sid, &service.node, Preference::None)
            else {
                notes.push(format!(
                    "{sid}: no node qualifies for it after the change; it stays on {}",
                    service.node
                ));
                continue;
            };
            if target == service.node {
                continue;
            }
            usage.remove_service(&sid);
            let mut moved = service.clone();
            moved.node = target.clone();
            usage.add_service(&moved);
            cluster.services.insert(sid.clone(), moved);
            round.push(Move {
                sid,
                from: service.node,
                to: target,
                reason: "placement".into(),
            });
        }
        if round.is_empty() {
            return Ok(());
        }
        for m in &round {
            if let Ok(sid) = m.sid.parse::<Sid>() {
                move_service(snap, sid, &m.from, &m.to);
            }
        }
        moves.extend(round);
    }
    notes.push(format!(
        "placement did not settle within {MAX_ROUNDS} rounds; the last round's nodes are shown"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot::from_json(
            r#"{"format":"pveha-snapshot/1","pve_version":"8.4.1","api":{
            "/cluster/resources":[
                {"type":"node","id":"node/a","node":"a","status":"online","maxmem":8000000000,"maxcpu":4},
                {"type":"node","id":"node/b","node":"b","status":"online","maxmem":8000000000,"maxcpu":4},
                {"type":"lxc","id":"lxc/110","vmid":110,"name":"traefik","node":"a","status":"running","maxmem":1000},
                {"type":"lxc","id":"lxc/121","vmid":121,"name":"traefik-2","node":"a","status":"stopped","maxmem":1000}
            ],
            "/cluster/ha/resources":[{"sid":"ct:110","type":"ct","state":"started"}],
            "/cluster/ha/groups":[],
            "/cluster/ha/status/current":[{"type":"service","id":"service:ct:110","sid":"ct:110","node":"a","crm_state":"started","state":"started"}],
            "/nodes/a/lxc/110/config":{"onboot":1,"startup":"order=3"},
            "/nodes/a/lxc/121/config":{}
        }}"#,
        )
        .unwrap()
    }

    fn change(
        action: ChangeAction,
        before: Option<PlannedObject>,
        after: Option<PlannedObject>,
    ) -> PlannedChange {
        PlannedChange {
            address: "x".into(),
            action,
            before,
            after,
            unknown: BTreeSet::new(),
        }
    }

    fn resource(sid: &str) -> HaResourceSpec {
        HaResourceSpec {
            sid: sid.into(),
            state: Some("started".into()),
            ..HaResourceSpec::default()
        }
    }

    fn ha(snap: &Snapshot, sid: &str) -> Option<Value> {
        snap.api["/cluster/ha/resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["sid"] == json!(sid))
            .cloned()
    }

    #[test]
    fn a_created_resource_is_managed_and_started_where_the_guest_is() {
        let c = change(
            ChangeAction::Create,
            None,
            Some(PlannedObject::HaResource(resource("ct:121"))),
        );
        let out = apply(&snapshot(), &[c]).unwrap();
        assert_eq!(ha(&out.snapshot, "ct:121").unwrap()["type"], json!("ct"));
        assert_eq!(crm_node(&out.snapshot, "ct:121").as_deref(), Some("a"));
        // The basic scheduler does not move a started service off an allowed node.
        assert!(out.moves.is_empty(), "{:?}", out.moves);
    }

    #[test]
    fn a_deleted_resource_leaves_the_crm() {
        let c = change(
            ChangeAction::Delete,
            Some(PlannedObject::HaResource(resource("ct:110"))),
            None,
        );
        let out = apply(&snapshot(), &[c]).unwrap();
        assert!(ha(&out.snapshot, "ct:110").is_none());
        assert!(crm_node(&out.snapshot, "ct:110").is_none());
    }

    #[test]
    fn a_requested_node_is_a_migration_that_moves_the_config() {
        let mut after = resource("ct:110");
        after.node = Some("b".into());
        after.max_restart = Some(3);
        let c = change(
            ChangeAction::Update,
            Some(PlannedObject::HaResource(resource("ct:110"))),
            Some(PlannedObject::HaResource(after)),
        );
        let out = apply(&snapshot(), &[c]).unwrap();
        assert_eq!(crm_node(&out.snapshot, "ct:110").as_deref(), Some("b"));
        assert_eq!(
            ha(&out.snapshot, "ct:110").unwrap()["max_restart"],
            json!(3)
        );
        assert!(out.snapshot.api.contains_key("/nodes/b/lxc/110/config"));
        assert!(!out.snapshot.api.contains_key("/nodes/a/lxc/110/config"));
        assert_eq!(out.moves[0].reason, "requested");
    }

    #[test]
    fn settle_moves_a_service_out_of_a_node_its_new_group_excludes() {
        let group = GroupSpec {
            name: "only-b".into(),
            nodes: Some(BTreeMap::from([("b".to_string(), 1)])),
            restricted: Some(true),
            ..GroupSpec::default()
        };
        let mut after = resource("ct:110");
        after.group = Some("only-b".into());
        let changes = [
            change(
                ChangeAction::Create,
                None,
                Some(PlannedObject::Group(group)),
            ),
            change(
                ChangeAction::Update,
                Some(PlannedObject::HaResource(resource("ct:110"))),
                Some(PlannedObject::HaResource(after)),
            ),
        ];
        let out = apply(&snapshot(), &changes).unwrap();
        assert_eq!(
            out.moves,
            [Move {
                sid: "ct:110".into(),
                from: "a".into(),
                to: "b".into(),
                reason: "placement".into()
            }]
        );
        let groups = out.snapshot.ha_groups().unwrap();
        assert_eq!(groups[0].restricted, Some(true));
        assert_eq!(crm_node(&out.snapshot, "ct:110").as_deref(), Some("b"));
    }

    #[test]
    fn unknown_values_are_noted_and_keep_their_value() {
        let mut before = resource("ct:110");
        before.group = None;
        let mut after = resource("ct:110");
        after.comment = Some("new".into());
        let mut c = change(
            ChangeAction::Update,
            Some(PlannedObject::HaResource(before)),
            Some(PlannedObject::HaResource(after)),
        );
        c.unknown.insert("state".into());
        let mut snap = snapshot();
        snap.api.insert(
            "/cluster/ha/resources".into(),
            json!([{"sid":"ct:110","type":"ct","state":"stopped"}]),
        );
        let out = apply(&snap, &[c]).unwrap();
        let entry = ha(&out.snapshot, "ct:110").unwrap();
        assert_eq!(
            entry["state"],
            json!("stopped"),
            "an unknown state is not guessed"
        );
        assert_eq!(entry["comment"], json!("new"));
        assert!(
            out.notes.iter().any(|n| n.contains("state is unknown")),
            "{:?}",
            out.notes
        );
    }

    #[test]
    fn rules_startup_and_settings_are_written_as_the_api_lists_them() {
        let rule = RuleSpec {
            name: "apart".into(),
            kind: "resource-affinity".into(),
            resources: Some(["ct:110".to_string(), "ct:121".to_string()].into()),
            affinity: Some("negative".into()),
            disable: Some(false),
            ..RuleSpec::default()
        };
        let startup = StartupSpec {
            vmid: 110,
            onboot: Some(false),
            order: Some(2),
            up: Some(15),
            down: None,
        };
        let settings = SettingsSpec {
            shutdown_policy: Some("migrate".into()),
            crs: Some("static".into()),
            rebalance_on_start: Some(true),
            fencing: None,
        };
        let changes = [
            change(ChangeAction::Create, None, Some(PlannedObject::Rule(rule))),
            change(
                ChangeAction::Update,
                None,
                Some(PlannedObject::GuestStartup(startup)),
            ),
            change(
                ChangeAction::Create,
                None,
                Some(PlannedObject::HaSettings(settings)),
            ),
        ];
        let out = apply(&snapshot(), &changes).unwrap();
        let rules = out.snapshot.ha_rules().unwrap();
        assert_eq!(rules[0].resources, ["ct:110", "ct:121"]);
        assert_eq!(rules[0].disable, None);
        let cfg = out
            .snapshot
            .guest_config("a", GuestKind::Ct, 110)
            .unwrap()
            .unwrap();
        assert_eq!(
            (cfg.onboot, cfg.startup.as_deref()),
            (Some(false), Some("order=2,up=15"))
        );
        let options = out.snapshot.cluster_options();
        assert_eq!(options["crs"]["ha"], json!("static"));
        assert_eq!(options["ha"]["shutdown_policy"], json!("migrate"));
        let deleted = change(
            ChangeAction::Delete,
            Some(PlannedObject::Rule(RuleSpec {
                name: "apart".into(),
                ..RuleSpec::default()
            })),
            None,
        );
        let out = apply(&out.snapshot, &[deleted]).unwrap();
        assert!(out.snapshot.ha_rules().unwrap().is_empty());
    }

    #[test]
    fn a_guest_the_snapshot_lacks_is_an_error() {
        let c = change(
            ChangeAction::Create,
            None,
            Some(PlannedObject::HaResource(resource("vm:999"))),
        );
        let err = apply(&snapshot(), &[c]).unwrap_err().to_string();
        assert_eq!(
            err,
            "x references guest vm:999, which the snapshot does not have"
        );
        let c = change(
            ChangeAction::Create,
            None,
            Some(PlannedObject::GuestStartup(StartupSpec {
                vmid: 555,
                ..StartupSpec::default()
            })),
        );
        assert!(apply(&snapshot(), &[c]).is_err());
    }
}
