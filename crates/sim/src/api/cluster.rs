//! Inventory and log endpoints: `/version`, `/cluster/status`, `/cluster/resources`, `/nodes`, the verbatim
//! datacenter paths, `/nodes/{node}/journal` and `/nodes/{node}/syslog`. Rendering only; no mutation.

use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::params::Params;
use crate::state::{Cluster, Obj};

use super::Reply;

/// `GET /cluster/status`.
pub fn status(c: &Cluster) -> Value {
    let mut out = Vec::new();
    if let Some(entry) = &c.cluster_entry {
        let mut e = entry.clone();
        let online = c.nodes.iter().filter(|n| n.powered).count();
        let quorate = online * 2 > c.nodes.len();
        e.insert("quorate".into(), json!(i64::from(quorate)));
        out.push(Value::Object(e));
    }
    for n in &c.nodes {
        let mut e = n.status_entry.clone();
        e.insert("online".into(), json!(i64::from(n.powered)));
        out.push(Value::Object(e));
    }
    Value::Array(out)
}

fn zero_stats(e: &mut Obj, keys: &[&str]) {
    for k in keys {
        if e.contains_key(*k) {
            e.insert((*k).into(), json!(0));
        }
    }
}

/// The `hastate` of an HA guest: the CRM state once the manager has seen it, else the config state.
pub fn hastate(c: &Cluster, sid: &str) -> Option<String> {
    let section = c.ha_resource(sid)?;
    if let Some(s) = c.manager.services.get(sid) {
        return Some(s.state.clone());
    }
    Some(
        section
            .props
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("started")
            .to_string(),
    )
}

/// `GET /cluster/resources[?type=]`.
pub fn resources(c: &Cluster, filter: Option<&str>) -> Value {
    let mut out = Vec::new();
    let want = |t: &str| filter.is_none_or(|f| f == t);
    if want("vm") {
        for g in &c.guests {
            let mut e = g.entry.clone();
            e.insert(
                "id".into(),
                json!(format!("{}/{}", g.kind.as_str(), g.vmid)),
            );
            e.insert("node".into(), json!(g.node));
            let status = if !c.node_online(&g.node) {
                "unknown"
            } else if g.running {
                "running"
            } else {
                "stopped"
            };
            if g.entry.get("status").and_then(Value::as_str) != Some(status) {
                e.insert("status".into(), json!(status));
                if status != "running" {
                    zero_stats(
                        &mut e,
                        &[
                            "uptime",
                            "cpu",
                            "mem",
                            "netin",
                            "netout",
                            "diskread",
                            "diskwrite",
                        ],
                    );
                }
            }
            let name_key = if g.kind == crate::state::Kind::Lxc {
                "hostname"
            } else {
                "name"
            };
            if let Some(name) = g.config.get(name_key) {
                e.insert("name".into(), name.clone());
            }
            match g.config.get("tags") {
                Some(t) => {
                    e.insert("tags".into(), t.clone());
                }
                None => {
                    e.remove("tags");
                }
            }
            match hastate(c, &g.sid()) {
                Some(s) => {
                    e.insert("hastate".into(), json!(s));
                }
                None => {
                    e.remove("hastate");
                }
            }
            out.push(Value::Object(e));
        }
    }
    if want("node") {
        for n in &c.nodes {
            let mut e = n.resource_entry.clone();
            let status = if n.powered { "online" } else { "offline" };
            if e.get("status").and_then(Value::as_str) != Some(status) {
                e.insert("status".into(), json!(status));
                if !n.powered {
                    zero_stats(&mut e, &["uptime", "cpu", "mem"]);
                }
            }
            if let Some(s) = c.manager.node_status.get(&n.name) {
                e.insert("hastate".into(), json!(s));
            }
            out.push(Value::Object(e));
        }
    }
    for r in &c.other_resources {
        let ty = r.get("type").and_then(Value::as_str).unwrap_or("");
        if want(ty) {
            out.push(r.clone());
        }
    }
    Value::Array(out)
}

/// `GET /nodes`.
pub fn nodes(c: &Cluster) -> Value {
    let base = c.verbatim.get("/nodes").and_then(Value::as_array);
    let mut out = Vec::new();
    for n in &c.nodes {
        let loaded = base.and_then(|b| {
            b.iter()
                .find(|e| e.get("node").and_then(Value::as_str) == Some(n.name.as_str()))
        });
        let mut e = match loaded {
            Some(Value::Object(o)) => o.clone(),
            _ => {
                let r = &n.resource_entry;
                let mut o = Obj::new();
                o.insert("node".into(), json!(n.name));
                o.insert("id".into(), json!(format!("node/{}", n.name)));
                o.insert("type".into(), json!("node"));
                for k in ["cpu", "maxcpu", "mem", "maxmem", "uptime", "level"] {
                    if let Some(v) = r.get(k) {
                        o.insert(k.into(), v.clone());
                    }
                }
                let fp = crate::state::sha1_hex(&n.name).to_uppercase();
                let fp: Vec<String> = fp
                    .as_bytes()
                    .chunks(2)
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                o.insert("ssl_fingerprint".into(), json!(fp.join(":")));
                o.insert("status".into(), json!("online"));
                o
            }
        };
        let status = if n.powered { "online" } else { "offline" };
        if e.get("status").and_then(Value::as_str) != Some(status) {
            e.insert("status".into(), json!(status));
        }
        out.push(Value::Object(e));
    }
    Value::Array(out)
}

/// `GET /cluster/backup/{id}`.
pub fn backup_job(c: &Cluster, id: &str) -> ApiResult<Value> {
    let jobs = c.verbatim.get("/cluster/backup").and_then(Value::as_array);
    jobs.and_then(|j| {
        j.iter()
            .find(|e| e.get("id").and_then(Value::as_str) == Some(id))
    })
    .cloned()
    .ok_or_else(|| crate::error::ApiError::fail(format!("job '{id}' does not exist")))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Epoch seconds of a classic journal line (`Nov 10 08:36:35 host ...`), in the given year, UTC.
fn line_time(line: &str, year: i32) -> Option<i64> {
    let mut it = line.split_whitespace();
    let mon = MONTHS.iter().position(|m| Some(*m) == it.next())? as u8 + 1;
    let day: u8 = it.next()?.parse().ok()?;
    let hms: Vec<u8> = it
        .next()?
        .split(':')
        .filter_map(|p| p.parse().ok())
        .collect();
    let [h, mi, s] = hms.as_slice() else {
        return None;
    };
    let month = time::Month::try_from(mon).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = date.with_hms(*h, *mi, *s).ok()?.assume_utc();
    Some(t.unix_timestamp())
}

fn cursor(i: usize) -> String {
    format!("s=pveha-sim;i={i:x}")
}

fn parse_cursor(s: &str) -> Option<usize> {
    usize::from_str_radix(s.strip_prefix("s=pveha-sim;i=")?, 16).ok()
}

/// `GET /nodes/{node}/journal`: first and last elements are cursors, as the real reader emits them.
pub fn journal(c: &Cluster, node: &str, p: &Params) -> ApiResult<Reply> {
    let all = c.journals.get(node).cloned().unwrap_or_default();
    let filtered = ["since", "until", "lastentries", "startcursor", "endcursor"]
        .iter()
        .any(|k| p.has(k));
    if !filtered && all.len() >= 2 {
        return Ok(Reply::data(json!(all)));
    }
    if p.has("lastentries") && (p.has("since") || p.has("until")) {
        return Err(crate::error::ApiError::fail(
            "option 'lastentries' conflicts with 'since'/'until'",
        ));
    }
    let lines: &[String] = if all.len() >= 2 {
        &all[1..all.len() - 1]
    } else {
        &[]
    };
    let year = c
        .captured_at
        .as_deref()
        .and_then(crate::snapshot::parse_rfc3339)
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t as i64).ok())
        .map(|t| t.year())
        .unwrap_or(2025);
    let mut last_t = i64::MIN;
    let mut idx: Vec<usize> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(t) = line_time(l, year) {
            last_t = t;
        }
        let since_ok = p.int("since").is_none_or(|s| last_t >= s);
        let until_ok = p.int("until").is_none_or(|u| last_t <= u);
        let start_ok = p
            .str("startcursor")
            .and_then(parse_cursor)
            .is_none_or(|s| i >= s);
        let end_ok = p
            .str("endcursor")
            .and_then(parse_cursor)
            .is_none_or(|e| i < e);
        if since_ok && until_ok && start_ok && end_ok {
            idx.push(i);
        }
    }
    if let Some(n) = p.int("lastentries") {
        let n = usize::try_from(n).unwrap_or(0);
        if idx.len() > n {
            idx.drain(..idx.len() - n);
        }
    }
    let first = idx.first().copied().unwrap_or(lines.len());
    let end = idx.last().map_or(first, |l| l + 1);
    let mut out = vec![json!(cursor(first))];
    out.extend(idx.iter().map(|i| json!(lines[*i])));
    out.push(json!(cursor(end)));
    Ok(Reply::data(Value::Array(out)))
}

/// `GET /nodes/{node}/syslog`: oldest first, `limit` 50 by default, with `total`.
pub fn syslog(c: &Cluster, node: &str, p: &Params) -> ApiResult<Reply> {
    let entries: Vec<Value> = match c.syslogs.get(node).and_then(Value::as_array) {
        Some(a) => a.clone(),
        None => {
            let all = c.journals.get(node).cloned().unwrap_or_default();
            let lines: &[String] = if all.len() >= 2 {
                &all[1..all.len() - 1]
            } else {
                &[]
            };
            lines
                .iter()
                .filter(|l| !l.starts_with("-- "))
                .enumerate()
                .map(|(i, l)| json!({"n": i + 1, "t": l}))
                .collect()
        }
    };
    let start = usize::try_from(p.int("start").unwrap_or(0)).unwrap_or(0);
    let limit = usize::try_from(p.int("limit").unwrap_or(50)).unwrap_or(50);
    let total = entries.len();
    let window: Vec<Value> = entries.into_iter().skip(start).take(limit).collect();
    let data = if window.is_empty() {
        vec![json!({"n": 1, "t": "no content"})]
    } else {
        window
    };
    Ok(Reply {
        data: Value::Array(data),
        total: Some(total as u64),
    })
}
