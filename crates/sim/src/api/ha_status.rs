//! `GET /cluster/ha/status/current` and `/cluster/ha/status/manager_status`, rendered from the simulated
//! manager state. Rendering only.

use serde_json::{json, Value};

use crate::state::{Cluster, Obj};

/// Perl `localtime` style: `Mon Nov 10 09:30:00 2025` (UTC here).
pub fn ctime(epoch: f64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(epoch as i64) else {
        return String::new();
    };
    let fmt = time::macros::format_description!(
        "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
    );
    t.format(&fmt).unwrap_or_default()
}

fn answering_node(c: &Cluster) -> String {
    c.nodes
        .iter()
        .find(|n| n.powered && n.status_entry.get("local").and_then(Value::as_i64) == Some(1))
        .or_else(|| c.nodes.iter().find(|n| n.powered))
        .map(|n| n.name.clone())
        .unwrap_or_default()
}

fn quorate(c: &Cluster) -> bool {
    c.nodes.iter().filter(|n| n.powered).count() * 2 > c.nodes.len()
}

fn lrm_state(c: &Cluster, node: &str) -> &'static str {
    if crate::lifecycle::lrm_mode(c, node) == "maintenance" {
        "maintenance"
    } else if c.manager.services.values().any(|s| s.node == node) {
        "active"
    } else {
        "wait_for_agent_lock"
    }
}

fn lrm_time(c: &Cluster, node: &str) -> f64 {
    c.node(node)
        .and_then(|n| n.off_since)
        .unwrap_or(c.manager.timestamp)
        .floor()
}

/// `GET /cluster/ha/status/current`.
pub fn current(c: &Cluster) -> Value {
    let me = answering_node(c);
    let q = quorate(c);
    let mut out = vec![json!({
        "id": "quorum", "type": "quorum", "node": me, "quorate": i64::from(q),
        "status": if q { "OK".to_string() } else { format!("No quorum on node '{me}'!") },
    })];
    if !c.manager.active {
        return Value::Array(out);
    }
    let now = c.clock.now();
    if let Some(master) = &c.manager.master {
        let ts = c.manager.timestamp.floor();
        let age = if now - ts > 30.0 {
            "old timestamp - dead?"
        } else {
            "active"
        };
        out.push(json!({
            "id": "master", "type": "master", "node": master, "timestamp": ts as i64,
            "status": format!("{master} ({age}, {}){}", ctime(ts), crate::lifecycle::crs_suffix(c)),
        }));
    }
    for n in &c.nodes {
        let ts = lrm_time(c, &n.name);
        let mode = crate::lifecycle::lrm_mode(c, &n.name);
        let state = if !n.powered || now - ts > 30.0 {
            "old timestamp - dead?".to_string()
        } else if mode != "active" {
            format!("{mode} mode")
        } else if lrm_state(c, &n.name) == "active" {
            "active".to_string()
        } else {
            "idle".to_string()
        };
        out.push(json!({
            "id": format!("lrm:{}", n.name), "type": "lrm", "node": n.name, "timestamp": ts as i64,
            "status": format!("{} ({state}, {})", n.name, ctime(ts)),
        }));
    }
    for s in &c.resources.sections {
        let sid = format!("{}:{}", s.kind, s.id);
        let request = s
            .props
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("started")
            .to_string();
        let mut o = Obj::new();
        o.insert("id".into(), json!(format!("service:{sid}")));
        o.insert("type".into(), json!("service"));
        o.insert("sid".into(), json!(sid));
        let (node, crm, verbose) = match c.manager.services.get(&sid) {
            Some(st) => {
                let verbose = match (st.state.as_str(), request.as_str()) {
                    ("stopped", "disabled") => "disabled".to_string(),
                    (s, _) => s.to_string(),
                };
                (st.node.clone(), Some(st.state.clone()), verbose)
            }
            None => {
                let node = c
                    .guest_by_sid(&sid)
                    .map(|g| g.node.clone())
                    .unwrap_or_default();
                let verbose = if request == "ignored" {
                    "ignored"
                } else {
                    "queued"
                };
                (node, None, verbose.to_string())
            }
        };
        o.insert("node".into(), json!(node));
        if let Some(crm) = crm {
            o.insert("crm_state".into(), json!(crm));
        }
        o.insert("state".into(), json!(verbose));
        o.insert("request_state".into(), json!(request));
        for k in [
            "max_restart",
            "max_relocate",
            "failback",
            "group",
            "comment",
        ] {
            if let Some(v) = s.props.get(k) {
                o.insert(k.into(), v.clone());
            }
        }
        o.insert("status".into(), json!(format!("{sid} ({node}, {verbose})")));
        out.push(Value::Object(o));
    }
    Value::Array(out)
}

/// `GET /cluster/ha/status/manager_status`.
pub fn manager_status(c: &Cluster) -> Value {
    let me = answering_node(c);
    let mut lrm = Obj::new();
    for n in &c.nodes {
        lrm.insert(
            n.name.clone(),
            json!({"state": lrm_state(c, &n.name), "mode": crate::lifecycle::lrm_mode(c, &n.name), "results": {}, "timestamp": lrm_time(c, &n.name) as i64}),
        );
    }
    let mut ms = Obj::new();
    if c.manager.active {
        if let Some(m) = &c.manager.master {
            ms.insert("master_node".into(), json!(m));
        }
        ms.insert(
            "timestamp".into(),
            json!(c.manager.timestamp.floor() as i64),
        );
        ms.insert("node_status".into(), json!(c.manager.node_status));
        let mut services = Obj::new();
        for (sid, s) in &c.manager.services {
            let mut o = s.extra.clone();
            o.insert("state".into(), json!(s.state));
            o.insert("node".into(), json!(s.node));
            o.insert("uid".into(), json!(s.uid));
            if let Some(t) = &s.target {
                o.insert("target".into(), json!(t));
            }
            if s.state == "started" {
                o.insert("running".into(), json!(1));
            } else {
                o.remove("running");
            }
            services.insert(sid.clone(), Value::Object(o));
        }
        ms.insert("service_status".into(), Value::Object(services));
    }
    json!({
        "manager_status": Value::Object(ms),
        "quorum": {"node": me, "quorate": if quorate(c) { "1" } else { "0" }},
        "lrm_status": Value::Object(lrm),
    })
}
