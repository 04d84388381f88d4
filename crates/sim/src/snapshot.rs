//! Loading a `pveha-snapshot/1` document into the model (validating it, refusing inconsistent ones with the
//! JSON path and the problem) and dumping the current model back into one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::specs::Major;
use crate::state::{
    Auth, Clock, Cluster, Guest, Kind, Manager, Node, Obj, Section, SectionFile, ServiceStatus,
};

/// The snapshot format tag.
pub const FORMAT: &str = "pveha-snapshot/1";

/// Why a snapshot was refused: where in the document, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snapshot {path}: {problem}")]
pub struct LoadError {
    /// JSON path, e.g. `api./cluster/ha/resources[2].sid`.
    pub path: String,
    /// The problem, one sentence.
    pub problem: String,
}

fn err(path: impl Into<String>, problem: impl Into<String>) -> LoadError {
    LoadError {
        path: path.into(),
        problem: problem.into(),
    }
}

fn api_path(p: &str) -> String {
    format!("api.{p}")
}

fn as_array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, LoadError> {
    v.as_array().ok_or_else(|| err(path, "expected an array"))
}

fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, LoadError> {
    v.as_object().ok_or_else(|| err(path, "expected an object"))
}

fn req_str<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a str, LoadError> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(err(format!("{path}.{key}"), "expected a string")),
        None => Err(err(format!("{path}.{key}"), "missing")),
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Parse the major version out of `pve_version`.
fn major_of(version: &str) -> Option<Major> {
    let major: u32 = version.split('.').next()?.parse().ok()?;
    match major {
        8 => Some(Major::Pve8),
        m if m >= 9 => Some(Major::Pve9),
        _ => None,
    }
}

/// Parse `2025-11-10T09:30:00Z` into epoch seconds.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp() as f64)
}

/// Format epoch seconds as RFC 3339 UTC.
pub fn format_rfc3339(epoch: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch.floor() as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Load and validate a snapshot document.
pub fn load(text: &str) -> Result<Cluster, LoadError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| err("$", format!("not valid JSON: {e}")))?;
    let root = as_object(&doc, "$")?;
    match root.get("format") {
        Some(Value::String(f)) if f == FORMAT => {}
        Some(Value::String(f)) => {
            return Err(err(
                "format",
                format!("unsupported format '{f}', expected '{FORMAT}'"),
            ))
        }
        _ => return Err(err("format", format!("missing; expected '{FORMAT}'"))),
    }
    let pve_version = req_str(root, "pve_version", "$")
        .map_err(|_| err("pve_version", "missing or not a string"))?;
    let major = major_of(pve_version).ok_or_else(|| {
        err(
            "pve_version",
            format!("unsupported version '{pve_version}' (PVE 8 or 9 expected)"),
        )
    })?;
    let captured_at = match root.get("captured_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            parse_rfc3339(s)
                .ok_or_else(|| err("captured_at", format!("'{s}' is not an RFC 3339 time")))?;
            Some(s.clone())
        }
        Some(_) => return Err(err("captured_at", "expected a string")),
    };
    let api = as_object(root.get("api").ok_or_else(|| err("api", "missing"))?, "api")?;
    for key in api.keys() {
        if !key.starts_with('/') {
            return Err(err(
                format!("api.{key}"),
                "keys must be API paths starting with '/'",
            ));
        }
    }

    let start = captured_at
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as f64)
                .unwrap_or(0.0)
        });

    let mut cluster = Cluster {
        major,
        pve_version: pve_version.to_string(),
        captured_at,
        version: api
            .get("/version")
            .cloned()
            .unwrap_or_else(|| default_version(pve_version)),
        cluster_entry: None,
        nodes: Vec::new(),
        guests: Vec::new(),
        other_resources: Vec::new(),
        groups: SectionFile::default(),
        resources: SectionFile::default(),
        rules: SectionFile::default(),
        manager: Manager {
            next_round: (start / 10.0).floor() * 10.0 + 10.0,
            ..Manager::default()
        },
        journals: BTreeMap::new(),
        syslogs: BTreeMap::new(),
        verbatim: BTreeMap::new(),
        auth: Auth::default(),
        clock: Clock::new(start),
    };

    load_inventory(&mut cluster, api)?;
    load_configs(&mut cluster, api)?;
    load_ha(&mut cluster, api)?;
    load_logs(&mut cluster, api)?;
    load_auth(&mut cluster, root)?;
    for key in [
        "/cluster/options",
        "/cluster/backup",
        "/cluster/replication",
        "/storage",
        "/nodes",
    ] {
        if let Some(v) = api.get(key) {
            if key != "/cluster/options" {
                as_array(v, &api_path(key))?;
            }
            cluster.verbatim.insert(key.to_string(), v.clone());
        }
    }
    if !cluster.verbatim.contains_key("/cluster/options") {
        cluster
            .verbatim
            .insert("/cluster/options".into(), json!({}));
    }
    Ok(cluster)
}

fn default_version(v: &str) -> Value {
    let release: String = v.split('.').take(2).collect::<Vec<_>>().join(".");
    json!({"version": v, "release": release, "repoid": "0000000000000000"})
}

fn load_inventory(c: &mut Cluster, api: &Obj) -> Result<(), LoadError> {
    let res_path = api_path("/cluster/resources");
    let resources = as_array(
        api.get("/cluster/resources")
            .ok_or_else(|| err(&res_path, "missing"))?,
        &res_path,
    )?;
    let mut status_nodes: BTreeMap<String, Obj> = BTreeMap::new();
    if let Some(status) = api.get("/cluster/status") {
        let p = api_path("/cluster/status");
        for (i, e) in as_array(status, &p)?.iter().enumerate() {
            let ep = format!("{p}[{i}]");
            let o = as_object(e, &ep)?;
            match o.get("type").and_then(Value::as_str) {
                Some("cluster") => c.cluster_entry = Some(o.clone()),
                Some("node") => {
                    let name = req_str(o, "name", &ep)?;
                    status_nodes.insert(name.to_string(), o.clone());
                }
                _ => return Err(err(format!("{ep}.type"), "expected 'cluster' or 'node'")),
            }
        }
    }
    // Nodes first, so guests can be checked against them whatever the entry order.
    for (i, e) in resources.iter().enumerate() {
        let ep = format!("{res_path}[{i}]");
        let o = as_object(e, &ep)?;
        if o.get("type").and_then(Value::as_str) == Some("node") {
            let name = req_str(o, "node", &ep)?.to_string();
            if c.node(&name).is_some() {
                return Err(err(ep, format!("node '{name}' listed twice")));
            }
            let status_entry = status_nodes.remove(&name).unwrap_or_else(|| {
                let mut s = Obj::new();
                s.insert("type".into(), json!("node"));
                s.insert("id".into(), json!(format!("node/{name}")));
                s.insert("name".into(), json!(name));
                s
            });
            let online = o.get("status").and_then(Value::as_str) != Some("offline");
            c.nodes.push(Node {
                name,
                powered: online,
                off_since: None,
                status_entry,
                resource_entry: o.clone(),
            });
        }
    }
    if let Some(name) = status_nodes.keys().next() {
        return Err(err(
            api_path("/cluster/status"),
            format!("node '{name}' is not in /cluster/resources"),
        ));
    }
    if c.nodes.is_empty() {
        return Err(err(res_path, "no node entries"));
    }
    for (i, e) in resources.iter().enumerate() {
        let ep = format!("{res_path}[{i}]");
        let o = as_object(e, &ep)?;
        let kind = match o.get("type").and_then(Value::as_str) {
            Some("node") => continue,
            Some("qemu") => Kind::Qemu,
            Some("lxc") => Kind::Lxc,
            Some(_) => {
                c.other_resources.push(e.clone());
                continue;
            }
            None => return Err(err(format!("{ep}.type"), "missing")),
        };
        let vmid = o
            .get("vmid")
            .and_then(as_u64)
            .ok_or_else(|| err(format!("{ep}.vmid"), "missing or not a number"))?;
        let node = req_str(o, "node", &ep)?.to_string();
        if c.node(&node).is_none() {
            return Err(err(
                format!("{ep}.node"),
                format!("guest {vmid} is on unknown node '{node}'"),
            ));
        }
        if c.guest(vmid).is_some() {
            return Err(err(
                format!("{ep}.vmid"),
                format!("VMID {vmid} listed twice"),
            ));
        }
        let running = o.get("status").and_then(Value::as_str) == Some("running");
        let mut config = Obj::new();
        if let Some(name) = o.get("name").and_then(Value::as_str) {
            config.insert(
                if kind == Kind::Lxc {
                    "hostname"
                } else {
                    "name"
                }
                .into(),
                json!(name),
            );
        }
        if let Some(maxmem) = o.get("maxmem").and_then(Value::as_u64) {
            config.insert("memory".into(), json!(maxmem / (1024 * 1024)));
        }
        if let Some(tags) = o.get("tags").and_then(Value::as_str) {
            config.insert("tags".into(), json!(tags));
        }
        c.guests.push(Guest {
            vmid,
            kind,
            node,
            running,
            entry: o.clone(),
            config,
            digest_override: None,
        });
    }
    Ok(())
}

fn load_configs(c: &mut Cluster, api: &Obj) -> Result<(), LoadError> {
    for (key, value) in api {
        let parts: Vec<&str> = key.trim_start_matches('/').split('/').collect();
        let ["nodes", node, ty, vmid, "config"] = parts.as_slice() else {
            continue;
        };
        let p = api_path(key);
        let kind = match *ty {
            "lxc" => Kind::Lxc,
            "qemu" => Kind::Qemu,
            _ => return Err(err(p, format!("unknown guest type '{ty}'"))),
        };
        let vmid: u64 = vmid
            .parse()
            .map_err(|_| err(&p, format!("'{vmid}' is not a VMID")))?;
        let obj = as_object(value, &p)?;
        let guest = c
            .guest_mut(vmid)
            .ok_or_else(|| err(&p, format!("no guest {vmid} in /cluster/resources")))?;
        if guest.kind != kind {
            return Err(err(
                &p,
                format!(
                    "guest {vmid} is {}, not {}",
                    guest.kind.as_str(),
                    kind.as_str()
                ),
            ));
        }
        if guest.node != *node {
            return Err(err(
                &p,
                format!("guest {vmid} is on node '{}', not '{node}'", guest.node),
            ));
        }
        let mut config = obj.clone();
        guest.digest_override = match config.remove("digest") {
            Some(Value::String(d)) => Some(d),
            _ => None,
        };
        guest.config = config;
    }
    Ok(())
}

fn take_digest(entries: &[Value]) -> Option<String> {
    let digests: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.get("digest")?.as_str())
        .collect();
    if digests.len() == 1 {
        digests.into_iter().next().map(str::to_string)
    } else {
        None
    }
}

fn load_ha(c: &mut Cluster, api: &Obj) -> Result<(), LoadError> {
    if let Some(v) = api.get("/cluster/ha/resources") {
        let p = api_path("/cluster/ha/resources");
        let list = as_array(v, &p)?;
        for (i, e) in list.iter().enumerate() {
            let ep = format!("{p}[{i}]");
            let o = as_object(e, &ep)?;
            let sid = req_str(o, "sid", &ep)?;
            let (ty, id) = sid
                .split_once(':')
                .ok_or_else(|| err(format!("{ep}.sid"), format!("'{sid}' is not a type:id sid")))?;
            if c.guest_by_sid(sid).is_none() {
                return Err(err(
                    format!("{ep}.sid"),
                    format!("HA resource '{sid}' names no existing guest of that type"),
                ));
            }
            if c.ha_resource(sid).is_some() {
                return Err(err(
                    format!("{ep}.sid"),
                    format!("HA resource '{sid}' listed twice"),
                ));
            }
            let mut props = o.clone();
            for k in ["sid", "type", "digest", "errors"] {
                props.remove(k);
            }
            if c.major == Major::Pve9 && c.groups.sections.is_empty() {
                props.remove("group");
            }
            c.resources.sections.push(Section {
                kind: ty.into(),
                id: id.into(),
                props,
                order: 0,
            });
        }
        c.resources.digest_override = take_digest(list);
    }
    if let Some(v) = api.get("/cluster/ha/groups") {
        let p = api_path("/cluster/ha/groups");
        let list = as_array(v, &p)?;
        for (i, e) in list.iter().enumerate() {
            let ep = format!("{p}[{i}]");
            let o = as_object(e, &ep)?;
            let name = req_str(o, "group", &ep)?;
            let nodes = req_str(o, "nodes", &ep)?;
            for tok in crate::params::split_list(nodes) {
                let n = tok.split(':').next().unwrap_or("");
                if c.node(n).is_none() {
                    return Err(err(
                        format!("{ep}.nodes"),
                        format!("group '{name}' names unknown node '{n}'"),
                    ));
                }
            }
            let mut props = o.clone();
            for k in ["group", "type", "digest"] {
                props.remove(k);
            }
            c.groups.sections.push(Section {
                kind: "group".into(),
                id: name.into(),
                props,
                order: 0,
            });
        }
        c.groups.digest_override = take_digest(list);
    }
    if let Some(v) = api.get("/cluster/ha/rules") {
        let p = api_path("/cluster/ha/rules");
        if c.major == Major::Pve8 {
            return Err(err(p, "HA rules exist only on PVE 9"));
        }
        let list = as_array(v, &p)?;
        for (i, e) in list.iter().enumerate() {
            let ep = format!("{p}[{i}]");
            let o = as_object(e, &ep)?;
            let name = req_str(o, "rule", &ep)?;
            let kind = req_str(o, "type", &ep)?;
            if kind != "node-affinity" && kind != "resource-affinity" {
                return Err(err(
                    format!("{ep}.type"),
                    format!("unknown rule type '{kind}'"),
                ));
            }
            if name.starts_with("ha-group-") && !c.groups.sections.is_empty() {
                // Synthetic rules shown for unmigrated groups are derived, not stored.
                continue;
            }
            let order = o
                .get("order")
                .and_then(Value::as_i64)
                .unwrap_or(i as i64 + 1);
            let mut props = o.clone();
            for k in ["rule", "type", "digest", "order", "errors"] {
                props.remove(k);
            }
            c.rules.sections.push(Section {
                kind: kind.into(),
                id: name.into(),
                props,
                order,
            });
        }
        c.rules.digest_override = take_digest(list);
    }
    load_manager(c, api)
}

fn load_manager(c: &mut Cluster, api: &Obj) -> Result<(), LoadError> {
    let p = api_path("/cluster/ha/status/manager_status");
    let ms = api
        .get("/cluster/ha/status/manager_status")
        .and_then(|v| v.get("manager_status"));
    if let Some(Value::Object(ms)) = ms {
        if !ms.is_empty() {
            c.manager.active = true;
            c.manager.master = ms
                .get("master_node")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(Value::Object(ns)) = ms.get("node_status") {
                for (n, s) in ns {
                    if c.node(n).is_none() {
                        return Err(err(
                            format!("{p}.manager_status.node_status.{n}"),
                            format!("unknown node '{n}'"),
                        ));
                    }
                    c.manager
                        .node_status
                        .insert(n.clone(), s.as_str().unwrap_or("unknown").to_string());
                }
            }
            if let Some(Value::Object(ss)) = ms.get("service_status") {
                for (sid, s) in ss {
                    let sp = format!("{p}.manager_status.service_status.{sid}");
                    let o = as_object(s, &sp)?;
                    let node = req_str(o, "node", &sp)?.to_string();
                    if c.node(&node).is_none() {
                        return Err(err(format!("{sp}.node"), format!("unknown node '{node}'")));
                    }
                    let state = req_str(o, "state", &sp)?.to_string();
                    let target = o.get("target").and_then(Value::as_str).map(str::to_string);
                    let uid = o
                        .get("uid")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let mut extra = o.clone();
                    for k in ["node", "state", "target", "uid"] {
                        extra.remove(k);
                    }
                    c.manager.services.insert(
                        sid.clone(),
                        ServiceStatus {
                            state,
                            node,
                            target,
                            uid,
                            extra,
                        },
                    );
                }
            }
        }
    }
    if !c.manager.active && !c.resources.sections.is_empty() {
        crate::ha_manager::bootstrap(c);
    }
    Ok(())
}

fn load_logs(c: &mut Cluster, api: &Obj) -> Result<(), LoadError> {
    for (key, value) in api {
        let parts: Vec<&str> = key.trim_start_matches('/').split('/').collect();
        let ["nodes", node, what] = parts.as_slice() else {
            continue;
        };
        let p = api_path(key);
        if *what != "journal" && *what != "syslog" {
            continue;
        }
        if c.node(node).is_none() {
            return Err(err(p, format!("unknown node '{node}'")));
        }
        if *what == "journal" {
            let mut lines = Vec::new();
            for (i, l) in as_array(value, &p)?.iter().enumerate() {
                lines.push(
                    l.as_str()
                        .ok_or_else(|| err(format!("{p}[{i}]"), "expected a string"))?
                        .to_string(),
                );
            }
            c.journals.insert(node.to_string(), lines);
        } else {
            as_array(value, &p)?;
            c.syslogs.insert(node.to_string(), value.clone());
        }
    }
    Ok(())
}

fn load_auth(c: &mut Cluster, root: &Obj) -> Result<(), LoadError> {
    let Some(auth) = root.get("auth") else {
        return Ok(());
    };
    let auth = as_object(auth, "auth")?;
    for (field, target) in [("tokens", &mut c.auth.tokens), ("users", &mut c.auth.users)] {
        let Some(v) = auth.get(field) else { continue };
        for (k, s) in as_object(v, &format!("auth.{field}"))? {
            let s = s
                .as_str()
                .ok_or_else(|| err(format!("auth.{field}.{k}"), "expected a string"))?;
            target.insert(k.clone(), s.to_string());
        }
    }
    for k in c.auth.tokens.keys() {
        if !crate::auth::token_id_valid(k) {
            return Err(err(
                format!("auth.tokens.{k}"),
                "expected USER@REALM!TOKENID",
            ));
        }
    }
    Ok(())
}

/// Dump the model as a `pveha-snapshot/1` document.
pub fn dump(c: &Cluster) -> Value {
    use crate::api;
    let mut paths = serde_json::Map::new();
    paths.insert("/version".into(), c.version.clone());
    paths.insert("/cluster/status".into(), api::cluster::status(c));
    paths.insert(
        "/cluster/resources".into(),
        api::cluster::resources(c, None),
    );
    for (k, v) in &c.verbatim {
        paths.insert(k.clone(), v.clone());
    }
    paths.insert("/nodes".into(), api::cluster::nodes(c));
    if !c.groups_migrated() {
        paths.insert("/cluster/ha/groups".into(), api::ha::groups_list(c));
    }
    paths.insert(
        "/cluster/ha/resources".into(),
        api::ha::resources_list(c, None),
    );
    if c.major == Major::Pve9 {
        paths.insert(
            "/cluster/ha/rules".into(),
            api::ha::rules_list(c, None, None),
        );
    }
    paths.insert(
        "/cluster/ha/status/current".into(),
        api::ha_status::current(c),
    );
    paths.insert(
        "/cluster/ha/status/manager_status".into(),
        api::ha_status::manager_status(c),
    );
    for g in &c.guests {
        paths.insert(
            format!("/nodes/{}/{}/{}/config", g.node, g.kind.as_str(), g.vmid),
            api::guests::config_json(g),
        );
    }
    for (node, lines) in &c.journals {
        paths.insert(format!("/nodes/{node}/journal"), json!(lines));
    }
    for (node, v) in &c.syslogs {
        paths.insert(format!("/nodes/{node}/syslog"), v.clone());
    }
    json!({
        "format": FORMAT,
        "pve_version": c.pve_version,
        "captured_at": format_rfc3339(c.clock.now()),
        "api": Value::Object(paths),
        "auth": {"tokens": c.auth.tokens, "users": c.auth.users},
    })
}
