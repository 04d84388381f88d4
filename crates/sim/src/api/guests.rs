//! Guest config endpoints: `GET/PUT /nodes/{node}/lxc/{vmid}/config`, `GET/PUT/POST .../qemu/{vmid}/config`,
//! with the real answers for a guest on another node, locks, digests, `delete=` and empty updates; the guest
//! lists `/nodes/{node}/{lxc,qemu}`, `.../status/current` and `/cluster/nextid`.

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::params::{split_list, Params};
use crate::specs::{self, Major};
use crate::state::{Cluster, Guest, Kind};

/// A guest's config as GET returns it (with `digest`).
pub fn config_json(g: &Guest) -> Value {
    let mut o = g.config.clone();
    o.insert("digest".into(), json!(g.digest()));
    Value::Object(o)
}

/// Find the guest a `/nodes/{node}/{kind}/{vmid}` path names, or the real server's error.
fn locate(c: &Cluster, p: &Params, kind: Kind) -> ApiResult<u64> {
    let node = p.str("node").unwrap_or_default();
    let vmid = p.int("vmid").unwrap_or(0) as u64;
    let Some(n) = c.node(node) else {
        return Err(ApiError::fail(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
        )));
    };
    if !n.powered {
        return Err(ApiError::unreachable());
    }
    match c.guest(vmid) {
        Some(g) if g.node == node && g.kind == kind => Ok(vmid),
        _ => Err(ApiError::fail(format!(
            "Configuration file 'nodes/{node}/{}/{vmid}.conf' does not exist",
            kind.conf_dir()
        ))),
    }
}

/// `GET .../config`.
pub fn get(c: &Cluster, p: &Params, kind: Kind) -> ApiResult<Value> {
    let vmid = locate(c, p, kind)?;
    let g = c
        .guest(vmid)
        .ok_or_else(|| ApiError::fail("guest vanished"))?;
    Ok(config_json(g))
}

/// The `vmstatus` keys both guest types report in a list entry (`cpus` is `/cluster/resources`' `maxcpu`).
const STATUS_KEYS: [&str; 15] = [
    "cpu",
    "disk",
    "diskread",
    "diskwrite",
    "lock",
    "maxdisk",
    "maxmem",
    "mem",
    "name",
    "netin",
    "netout",
    "status",
    "tags",
    "template",
    "uptime",
];

/// One guest's `vmstatus` entry, built from its `/cluster/resources` entry as the model renders it.
fn status_entry(c: &Cluster, g: &Guest) -> Value {
    let rendered = super::cluster::resources(c, Some("vm"));
    let id = format!("{}/{}", g.kind.as_str(), g.vmid);
    let res = rendered
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e.get("id").and_then(Value::as_str) == Some(id.as_str()));
    let mut o = serde_json::Map::new();
    o.insert("vmid".into(), json!(g.vmid));
    for k in STATUS_KEYS {
        if let Some(v) = res.and_then(|e| e.get(k)) {
            o.insert(k.into(), v.clone());
        }
    }
    if let Some(v) = res.and_then(|e| e.get("maxcpu")) {
        o.insert("cpus".into(), v.clone());
    }
    let status = if g.running { "running" } else { "stopped" };
    o.insert("status".into(), json!(status));
    match g.kind {
        Kind::Lxc => {
            o.insert("type".into(), json!("lxc"));
        }
        Kind::Qemu => {
            o.insert("qmpstatus".into(), json!(status));
        }
    }
    Value::Object(o)
}

/// `GET /nodes/{node}/lxc` and `/nodes/{node}/qemu`: the guests of that type on the node.
pub fn list(c: &Cluster, node: &str, kind: Kind) -> Value {
    Value::Array(
        c.guests
            .iter()
            .filter(|g| g.node == node && g.kind == kind)
            .map(|g| status_entry(c, g))
            .collect(),
    )
}

/// `GET .../{vmid}/status/current`: the list entry plus the HA state (`get_service_status`).
pub fn status_current(c: &Cluster, p: &Params, kind: Kind) -> ApiResult<Value> {
    let vmid = locate(c, p, kind)?;
    let g = c
        .guest(vmid)
        .ok_or_else(|| ApiError::fail("guest vanished"))?;
    let mut entry = status_entry(c, g);
    let sid = g.sid();
    let mut ha = serde_json::Map::new();
    match c.ha_resource(&sid) {
        // An ignored service is reported as unmanaged, as `service_check_ha_state` treats it.
        Some(s) if s.props.get("state").and_then(Value::as_str) != Some("ignored") => {
            ha.insert("managed".into(), json!(1));
            if let Some(st) = c.manager.services.get(&sid) {
                ha.insert("state".into(), json!(st.state));
            }
            if let Some(grp) = s.props.get("group") {
                ha.insert("group".into(), grp.clone());
            }
        }
        _ => {
            ha.insert("managed".into(), json!(0));
        }
    }
    if let Some(o) = entry.as_object_mut() {
        o.insert("ha".into(), Value::Object(ha));
    }
    Ok(entry)
}

/// `GET /cluster/nextid`: the lowest free VMID from 100, or the given one if free.
pub fn next_id(c: &Cluster, p: &Params) -> ApiResult<Value> {
    if let Some(vmid) = p.int("vmid") {
        if c.guest(vmid as u64).is_some() {
            return Err(ApiError::param("vmid", format!("VM {vmid} already exists")));
        }
        // The parameter is returned as it came, a string from a form body.
        return Ok(json!(vmid.to_string()));
    }
    (100u64..1_000_000)
        .find(|id| c.guest(*id).is_none())
        .map(|id| json!(id))
        .ok_or_else(|| ApiError::fail("unable to get any free VMID in range [100, 1000000]"))
}

const NOT_CONFIG: [&str; 7] = [
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "background_delay",
];

/// `PUT .../config` (and the QEMU `POST`, which answers with a task id).
pub fn update(
    c: &mut Cluster,
    p: &Params,
    kind: Kind,
    post: bool,
    major: Major,
) -> ApiResult<Value> {
    let vmid = locate(c, p, kind)?;
    let method = if post { "POST" } else { "PUT" };
    let path = format!("/nodes/{{node}}/{}/{{vmid}}/config", kind.as_str());
    let known = specs::params(major, method, &path).unwrap_or_default();
    let deletes = p.str("delete").map(split_list).unwrap_or_default();
    for d in &deletes {
        if NOT_CONFIG.contains(&d.as_str()) || !known.iter().any(|s| name_matches(s.name, d)) {
            return Err(ApiError::param("delete", format!("unknown option '{d}'")));
        }
        if p.has(d) {
            return Err(ApiError::param(
                "delete",
                format!("you can't use '-{d}' and -delete {d}' at the same time"),
            ));
        }
    }
    let changes: Vec<(String, Value)> =
        p.0.iter()
            .filter(|(k, _)| !NOT_CONFIG.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
    if changes.is_empty() && deletes.is_empty() && !p.has("revert") {
        return Err(ApiError::fail("no options specified"));
    }
    let node = p.str("node").unwrap_or_default().to_string();
    let Some(g) = c.guest_mut(vmid) else {
        return Err(ApiError::fail("guest vanished"));
    };
    if let Some(lock) = g.config.get("lock").and_then(Value::as_str) {
        if p.int("skiplock") != Some(1) {
            let what = if kind == Kind::Qemu { "VM" } else { "CT" };
            return Err(ApiError::fail(format!("{what} is locked ({lock})")));
        }
    }
    if let Some(d) = p.str("digest") {
        if d != g.digest() {
            return Err(ApiError::fail(match kind {
                Kind::Qemu => "checksum mismatch (file change by other user?)",
                Kind::Lxc => {
                    "detected modified configuration - file changed by other user? Try again."
                }
            }));
        }
    }
    g.digest_override = None;
    for d in &deletes {
        g.config.shift_remove(d);
    }
    for (k, v) in changes {
        g.config.insert(k, v);
    }
    if post && !p.has("background_delay") {
        let upid = format!(
            "UPID:{node}:{:08X}:{:08X}:{:08X}:qmconfig:{vmid}:root@pam:",
            4000 + vmid % 10000,
            (vmid * 7919) % 0xFFFF_FFFF,
            c.clock.now() as u64
        );
        return Ok(json!(upid));
    }
    Ok(Value::Null)
}

fn name_matches(spec: &str, key: &str) -> bool {
    match spec.strip_suffix("[n]") {
        Some(prefix) => key
            .strip_prefix(prefix)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit())),
        None => spec == key,
    }
}
