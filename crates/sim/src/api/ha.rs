//! HA configuration endpoints: groups (PVE 8, and PVE 9 before migration), resources, migrate/relocate and
//! rules (PVE 9), with the real server's texts for every refusal. Callers hold the `domain-ha` lock for writes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::params::{split_list, Params};
use crate::rules;
use crate::specs::Major;
use crate::state::{hash_order, Cluster, Command, Obj, Section};

const MIGRATED: &str = "ha groups have been migrated to rules";
const MODIFIED: &str = "detected modified configuration - file changed by other user? Try again.";

fn sorted_props(props: Obj) -> Obj {
    let mut v: Vec<(String, Value)> = props.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().collect()
}

fn check_quorum(c: &Cluster) -> ApiResult<()> {
    let online = c.nodes.iter().filter(|n| n.powered).count();
    if online * 2 > c.nodes.len() {
        Ok(())
    } else {
        Err(ApiError::fail("cluster not ready - no quorum?"))
    }
}

// ---------------------------------------------------------------------------------------------- groups

fn group_json(c: &Cluster, s: &Section) -> Value {
    let mut o = Obj::new();
    o.insert("group".into(), json!(s.id));
    o.insert("type".into(), json!("group"));
    for (k, v) in &s.props {
        o.insert(k.clone(), v.clone());
    }
    o.insert("digest".into(), json!(c.groups.digest()));
    Value::Object(o)
}

/// `GET /cluster/ha/groups`.
pub fn groups_list(c: &Cluster) -> Value {
    Value::Array(c.groups.sections.iter().map(|s| group_json(c, s)).collect())
}

fn groups_gate(c: &Cluster, verb: &str) -> ApiResult<()> {
    if c.groups_migrated() {
        Err(ApiError::fail(format!("cannot {verb} group: {MIGRATED}")))
    } else {
        Ok(())
    }
}

/// `GET /cluster/ha/groups` with the PVE 9 gate.
pub fn groups_index(c: &Cluster) -> ApiResult<Value> {
    if c.groups_migrated() {
        return Err(ApiError::fail(format!("cannot index groups: {MIGRATED}")));
    }
    Ok(groups_list(c))
}

/// `GET /cluster/ha/groups/{group}`.
pub fn group_get(c: &Cluster, p: &Params) -> ApiResult<Value> {
    groups_gate(c, "read")?;
    let id = p.str("group").unwrap_or_default();
    let s = c
        .groups
        .get(id)
        .ok_or_else(|| ApiError::fail(format!("no such ha group '{id}'")))?;
    Ok(group_json(c, s))
}

fn stored_nodes(group: &str, nodes: &str) -> String {
    hash_order(split_list(nodes), group).join(",")
}

/// `POST /cluster/ha/groups`.
pub fn group_create(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    groups_gate(c, "create")?;
    let id = p.str("group").unwrap_or_default().to_string();
    if p.str("type").is_some_and(|t| t != "group") {
        return Err(ApiError::fail("types does not match"));
    }
    if c.groups.get(&id).is_some() {
        return Err(ApiError::fail(format!(
            "create ha group failed: ha group ID '{id}' already defined"
        )));
    }
    let mut props = Obj::new();
    props.insert(
        "nodes".into(),
        json!(stored_nodes(&id, p.str("nodes").unwrap_or_default())),
    );
    for k in ["restricted", "nofailback", "comment"] {
        if let Some(v) = p.0.get(k) {
            props.insert(k.into(), v.to_json());
        }
    }
    c.groups.touch();
    c.groups.sections.push(Section {
        kind: "group".into(),
        id,
        props: sorted_props(props),
        order: 0,
    });
    Ok(Value::Null)
}

fn check_digest(p: &Params, current: &str, ctx: &str) -> ApiResult<()> {
    match p.str("digest") {
        Some(d) if d != current => Err(ApiError::fail(format!("{ctx}{MODIFIED}"))),
        _ => Ok(()),
    }
}

/// `PUT /cluster/ha/groups/{group}`.
pub fn group_update(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    groups_gate(c, "update")?;
    let id = p.str("group").unwrap_or_default().to_string();
    let ctx = "update ha group failed: ";
    check_digest(p, &c.groups.digest(), ctx)?;
    if c.groups.get(&id).is_none() {
        return Err(ApiError::fail(format!("{ctx}no such ha group '{id}'")));
    }
    let deletes = p.str("delete").map(split_list).unwrap_or_default();
    for d in &deletes {
        match d.as_str() {
            "nodes" => {
                return Err(ApiError::fail(format!(
                    "{ctx}unable to delete required option 'nodes'"
                )))
            }
            "restricted" | "nofailback" | "comment" => {}
            other => return Err(ApiError::fail(format!("{ctx}no such option '{other}'"))),
        }
    }
    let nodes = p.str("nodes").map(|n| stored_nodes(&id, n));
    let Some(s) = c.groups.get_mut(&id) else {
        return Ok(Value::Null);
    };
    for d in &deletes {
        s.props.remove(d);
    }
    if let Some(n) = nodes {
        s.props.insert("nodes".into(), json!(n));
    }
    for k in ["restricted", "nofailback", "comment"] {
        if let Some(v) = p.0.get(k) {
            s.props.insert(k.into(), v.to_json());
        }
    }
    s.props = sorted_props(std::mem::take(&mut s.props));
    Ok(Value::Null)
}

/// `DELETE /cluster/ha/groups/{group}`: a missing group is a silent success.
pub fn group_delete(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    groups_gate(c, "delete")?;
    let id = p.str("group").unwrap_or_default();
    if c.groups.get(id).is_none() {
        return Ok(Value::Null);
    }
    for r in &c.resources.sections {
        if r.props.get("group").and_then(Value::as_str) == Some(id) {
            return Err(ApiError::fail(format!(
                "delete ha group failed: ha group is used by service '{}:{}'",
                r.kind, r.id
            )));
        }
    }
    c.groups.touch();
    c.groups.sections.retain(|s| s.id != id);
    Ok(Value::Null)
}

// ------------------------------------------------------------------------------------------- resources

/// Resolve a sid parameter: `ct:100` as given, a bare VMID by the guest's real type.
pub fn resolve_sid(c: &Cluster, raw: &str) -> ApiResult<String> {
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        let vmid: u64 = raw
            .parse()
            .map_err(|_| ApiError::fail(format!("unable to parse service id '{raw}'")))?;
        return match c.guest(vmid) {
            Some(g) => Ok(g.sid()),
            None => Err(ApiError::fail(format!(
                "unable to detect SID from VMID - VM/CT {raw} does not exist"
            ))),
        };
    }
    match raw.split_once(':') {
        Some(("vm" | "ct", id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(raw.to_string())
        }
        _ => Err(ApiError::fail(format!(
            "unable to parse service id '{raw}'"
        ))),
    }
}

fn resource_json(c: &Cluster, s: &Section) -> Value {
    let mut o = Obj::new();
    o.insert("sid".into(), json!(format!("{}:{}", s.kind, s.id)));
    o.insert("type".into(), json!(s.kind));
    for (k, v) in &s.props {
        o.insert(k.clone(), v.clone());
    }
    o.insert("digest".into(), json!(c.resources.digest()));
    if let Some(g) = s.props.get("group").and_then(Value::as_str) {
        if c.groups.get(g).is_none() {
            o.insert(
                "errors".into(),
                json!({"group": format!("group '{g}' does not exist")}),
            );
        }
    }
    Value::Object(o)
}

/// `GET /cluster/ha/resources[?type=]`.
pub fn resources_list(c: &Cluster, ty: Option<&str>) -> Value {
    Value::Array(
        c.resources
            .sections
            .iter()
            .filter(|s| ty.is_none_or(|t| t == s.kind))
            .map(|s| resource_json(c, s))
            .collect(),
    )
}

/// `GET /cluster/ha/resources/{sid}`.
pub fn resource_get(c: &Cluster, p: &Params) -> ApiResult<Value> {
    let sid = resolve_sid(c, p.str("sid").unwrap_or_default())?;
    let s = c
        .ha_resource(&sid)
        .ok_or_else(|| ApiError::fail(format!("no such resource '{sid}'")))?;
    Ok(resource_json(c, s))
}

fn group_param_gate(c: &Cluster, p: &Params) -> ApiResult<()> {
    if p.has("group") && c.groups_migrated() {
        return Err(ApiError::fail(format!(
            "invalid parameter 'group': {MIGRATED}"
        )));
    }
    Ok(())
}

const RESOURCE_PROPS: [&str; 6] = [
    "state",
    "group",
    "comment",
    "max_restart",
    "max_relocate",
    "failback",
];

/// `POST /cluster/ha/resources`.
pub fn resource_create(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    let sid = resolve_sid(c, p.str("sid").unwrap_or_default())?;
    let (ty, id) = sid.split_once(':').unwrap_or(("", ""));
    if p.str("type").is_some_and(|t| t != ty) {
        return Err(ApiError::fail("types does not match"));
    }
    group_param_gate(c, p)?;
    let vmid: u64 = id.parse().unwrap_or(0);
    match c.guest(vmid) {
        None => {
            return Err(ApiError::fail(format!(
                "resource '{sid}' does not exist in cluster"
            )))
        }
        Some(g) if g.kind.ha_type() != ty => {
            let what = if ty == "vm" { "VM" } else { "CT" };
            return Err(ApiError::fail(format!(
                "resource '{sid}' - guest with ID {vmid} is not a {what}"
            )));
        }
        Some(_) => {}
    }
    check_quorum(c)?;
    if c.ha_resource(&sid).is_some() {
        return Err(ApiError::fail(format!(
            "create resource failed: resource ID '{sid}' already defined"
        )));
    }
    let mut props = Obj::new();
    for k in RESOURCE_PROPS {
        if let Some(v) = p.0.get(k) {
            props.insert(k.into(), v.to_json());
        }
    }
    c.resources.touch();
    c.resources.sections.push(Section {
        kind: ty.into(),
        id: id.into(),
        props: sorted_props(props),
        order: 0,
    });
    Ok(Value::Null)
}

/// `PUT /cluster/ha/resources/{sid}`.
pub fn resource_update(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    let sid = resolve_sid(c, p.str("sid").unwrap_or_default())?;
    group_param_gate(c, p)?;
    let ctx = "update resources config failed: ";
    check_digest(p, &c.resources.digest(), ctx)?;
    if c.ha_resource(&sid).is_none() {
        return Err(ApiError::fail(format!("{ctx}no such resource '{sid}'")));
    }
    if let Some(g) = p.str("group") {
        if c.groups.get(g).is_none() {
            return Err(ApiError::fail(format!(
                "{ctx}HA group '{g}' does not exist"
            )));
        }
    }
    if c.manager
        .services
        .get(&sid)
        .is_some_and(|s| s.state == "error")
        && p.str("state") != Some("disabled")
    {
        return Err(ApiError::fail(format!(
            "service '{sid}' in error state, must be disabled and fixed first"
        )));
    }
    let deletes = p.str("delete").map(split_list).unwrap_or_default();
    for d in &deletes {
        if !RESOURCE_PROPS.contains(&d.as_str()) || (d == "failback" && c.major == Major::Pve8) {
            return Err(ApiError::fail(format!("{ctx}no such option '{d}'")));
        }
    }
    let (ty, id) = sid.split_once(':').unwrap_or(("", ""));
    c.resources.touch();
    if let Some(s) = c
        .resources
        .sections
        .iter_mut()
        .find(|s| s.kind == ty && s.id == id)
    {
        for d in &deletes {
            s.props.remove(d);
        }
        for k in RESOURCE_PROPS {
            if let Some(v) = p.0.get(k) {
                s.props.insert(k.into(), v.to_json());
            }
        }
        s.props = sorted_props(std::mem::take(&mut s.props));
    }
    Ok(Value::Null)
}

/// `DELETE /cluster/ha/resources/{sid}`; on PVE 9 `purge` (default 1) also edits rules.
pub fn resource_delete(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    let sid = resolve_sid(c, p.str("sid").unwrap_or_default())?;
    if c.ha_resource(&sid).is_none() {
        return Err(ApiError::fail(format!(
            "cannot delete service '{sid}', not HA managed!"
        )));
    }
    let (ty, id) = sid.split_once(':').unwrap_or(("", ""));
    c.resources.touch();
    c.resources
        .sections
        .retain(|s| !(s.kind == ty && s.id == id));
    if c.major == Major::Pve9 && p.int("purge").unwrap_or(1) == 1 {
        let mut changed = false;
        for r in &mut c.rules.sections {
            let list = r
                .props
                .get("resources")
                .and_then(Value::as_str)
                .map(split_list)
                .unwrap_or_default();
            if list.contains(&sid) {
                let rest: Vec<String> = list.into_iter().filter(|s| *s != sid).collect();
                r.props.insert("resources".into(), json!(rest.join(",")));
                changed = true;
            }
        }
        let before = c.rules.sections.len();
        c.rules.sections.retain(|r| {
            r.props
                .get("resources")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        });
        if changed || before != c.rules.sections.len() {
            c.rules.touch();
        }
    }
    Ok(Value::Null)
}

/// `POST /cluster/ha/resources/{sid}/migrate|relocate`: queue a CRM command.
pub fn resource_move(c: &mut Cluster, p: &Params, verb: &str) -> ApiResult<Value> {
    let sid = resolve_sid(c, p.str("sid").unwrap_or_default())?;
    if c.ha_resource(&sid).is_none() {
        return Err(ApiError::fail(format!(
            "resource '{sid}' is not HA managed"
        )));
    }
    let node = p.str("node").unwrap_or_default().to_string();
    if c.node(&node).is_none() {
        return Err(ApiError::fail(format!("no such cluster node '{node}'")));
    }
    c.manager.commands.push(Command {
        verb: verb.into(),
        sid: sid.clone(),
        node: node.clone(),
    });
    if c.major == Major::Pve8 {
        return Ok(Value::Null);
    }
    let mut out = Obj::new();
    out.insert("sid".into(), json!(sid));
    out.insert("requested-node".into(), json!(node));
    let (positive, negative) = rules::affinity_partners(c, &sid);
    if !positive.is_empty() {
        out.insert("comigrated-resources".into(), json!(positive));
    }
    let blocking: Vec<Value> = negative
        .iter()
        .filter(|s| {
            c.manager
                .services
                .get(*s)
                .is_some_and(|st| st.node == node || st.target.as_deref() == Some(node.as_str()))
        })
        .map(|s| json!({"sid": s, "cause": "resource-affinity"}))
        .collect();
    if !blocking.is_empty() {
        out.insert("blocking-resources".into(), Value::Array(blocking));
    }
    Ok(Value::Object(out))
}

// ----------------------------------------------------------------------------------------------- rules

fn rule_json(c: &Cluster, s: &Section, errors: Option<&BTreeMap<String, Vec<String>>>) -> Value {
    let mut o = Obj::new();
    o.insert("rule".into(), json!(s.id));
    o.insert("type".into(), json!(s.kind));
    for (k, v) in &s.props {
        o.insert(k.clone(), v.clone());
    }
    o.insert("digest".into(), json!(c.rules.digest()));
    o.insert("order".into(), json!(s.order));
    if let Some(e) = errors.filter(|e| !e.is_empty()) {
        o.insert("errors".into(), json!(e));
    }
    Value::Object(o)
}

/// `GET /cluster/ha/rules[?type=][&resource=]`, sorted by `order`.
pub fn rules_list(c: &Cluster, ty: Option<&str>, resource: Option<&str>) -> Value {
    let all = rules::effective_rules(c);
    let errors = rules::check(c, &all);
    let mut list: Vec<&Section> = all
        .iter()
        .filter(|s| ty.is_none_or(|t| t == s.kind))
        .filter(|s| {
            resource.is_none_or(|r| {
                s.props
                    .get("resources")
                    .and_then(Value::as_str)
                    .is_some_and(|l| split_list(l).iter().any(|x| x == r))
            })
        })
        .collect();
    list.sort_by_key(|s| s.order);
    Value::Array(
        list.into_iter()
            .map(|s| rule_json(c, s, errors.get(&s.id)))
            .collect(),
    )
}

/// `GET /cluster/ha/rules/{rule}`.
pub fn rule_get(c: &Cluster, p: &Params) -> ApiResult<Value> {
    let id = p.str("rule").unwrap_or_default();
    let all = rules::effective_rules(c);
    let errors = rules::check(c, &all);
    let s = all
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::fail(format!("no such ha rule '{id}'")))?;
    Ok(rule_json(c, s, errors.get(id)))
}

/// Check type-specific parameters and references; returns the normalised properties to set.
fn rule_props(c: &Cluster, p: &Params, kind: &str) -> ApiResult<Obj> {
    let mut bad = BTreeMap::new();
    let foreign: &[&str] = if kind == "node-affinity" {
        &["affinity"]
    } else {
        &["nodes", "strict"]
    };
    for k in foreign {
        if p.has(k) {
            bad.insert(
                (*k).to_string(),
                "property is not defined in schema and the schema does not allow additional properties".to_string(),
            );
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::params(bad));
    }
    let mut props = Obj::new();
    if let Some(r) = p.str("resources") {
        let list: BTreeSet<String> = split_list(r).into_iter().collect();
        if list.is_empty() {
            return Err(ApiError::param("resources", "no resources were specified"));
        }
        let unmanaged: Vec<&str> = list
            .iter()
            .filter(|s| c.ha_resource(s).is_none())
            .map(String::as_str)
            .collect();
        if !unmanaged.is_empty() {
            return Err(ApiError::param(
                "resources",
                format!("cannot use unmanaged resource(s) {}.", unmanaged.join(", ")),
            ));
        }
        props.insert(
            "resources".into(),
            json!(list.into_iter().collect::<Vec<_>>().join(",")),
        );
    }
    if let Some(n) = p.str("nodes") {
        let mut entries: Vec<(String, i64)> = Vec::new();
        for tok in split_list(n) {
            let (name, prio) = match tok.split_once(':') {
                Some((a, b)) => (a.to_string(), b.parse().unwrap_or(0)),
                None => (tok.clone(), 0),
            };
            entries.push((name, prio));
        }
        if entries.is_empty() {
            return Err(ApiError::param("nodes", "no nodes were specified"));
        }
        let unknown: Vec<&str> = entries
            .iter()
            .filter(|(n, _)| c.node(n).is_none())
            .map(|(n, _)| n.as_str())
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::param(
                "nodes",
                format!("cannot use non-existent node(s) {}.", unknown.join(", ")),
            ));
        }
        entries.sort();
        let text: Vec<String> = entries
            .iter()
            .map(|(n, p)| {
                if *p == 0 {
                    n.clone()
                } else {
                    format!("{n}:{p}")
                }
            })
            .collect();
        props.insert("nodes".into(), json!(text.join(",")));
    }
    for k in ["strict", "affinity", "comment"] {
        if let Some(v) = p.0.get(k) {
            props.insert(k.into(), v.to_json());
        }
    }
    // The API drops a falsy `disable`: only `delete=disable` re-enables a rule.
    if p.int("disable") == Some(1) {
        props.insert("disable".into(), json!(1));
    }
    Ok(props)
}

fn feasibility(c: &Cluster, id: &str) -> ApiResult<()> {
    let all = rules::effective_rules(c);
    let errors = rules::check(c, &all);
    if let Some(e) = errors.get(id).filter(|e| !e.is_empty()) {
        let joined = e.iter().map(|(k, v)| (k.clone(), v.join(", "))).collect();
        return Err(ApiError {
            status: 400,
            message: format!("Rule '{id}' is invalid."),
            errors: Some(joined),
            empty_body: false,
        });
    }
    Ok(())
}

/// `POST /cluster/ha/rules`.
pub fn rule_create(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    if !c.groups.sections.is_empty() {
        return Err(ApiError::fail(
            "cannot create ha rule: ha groups have not been migrated yet",
        ));
    }
    let id = p.str("rule").unwrap_or_default().to_string();
    let kind = p.str("type").unwrap_or_default().to_string();
    if c.rules.get(&id).is_some() {
        return Err(ApiError::fail(format!(
            "create HA rules failed: HA rule '{id}' already defined"
        )));
    }
    if kind == "node-affinity" && !p.has("nodes") {
        return Err(ApiError::param(
            "nodes",
            "property is missing and it is not optional",
        ));
    }
    if kind == "resource-affinity" && !p.has("affinity") {
        return Err(ApiError::param(
            "affinity",
            "property is missing and it is not optional",
        ));
    }
    let props = rule_props(c, p, &kind)?;
    let order = c
        .rules
        .sections
        .iter()
        .map(|s| s.order)
        .min()
        .map_or(1, |m| m + 1);
    let mut next = c.clone();
    next.rules.sections.push(Section {
        kind,
        id: id.clone(),
        props: sorted_props(props),
        order,
    });
    next.rules.touch();
    feasibility(&next, &id)?;
    c.rules = next.rules;
    Ok(Value::Null)
}

/// `PUT /cluster/ha/rules/{rule}`.
pub fn rule_update(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    if !c.groups.sections.is_empty() {
        return Err(ApiError::fail(
            "cannot update ha rule: ha groups have not been migrated yet",
        ));
    }
    let id = p.str("rule").unwrap_or_default().to_string();
    let kind = p.str("type").unwrap_or_default().to_string();
    let ctx = "update HA rules failed: ";
    check_digest(p, &c.rules.digest(), ctx)?;
    let Some(existing) = c.rules.get(&id) else {
        return Err(ApiError::fail(format!(
            "{ctx}HA rule '{id}' does not exist"
        )));
    };
    if existing.kind != kind {
        return Err(ApiError::fail(format!(
            "{ctx}rule type '{kind}' does not match the rule's type '{}'",
            existing.kind
        )));
    }
    let deletes = p.str("delete").map(split_list).unwrap_or_default();
    let allowed: &[&str] = if kind == "node-affinity" {
        &["strict", "disable", "comment"]
    } else {
        &["disable", "comment"]
    };
    for d in &deletes {
        if !allowed.contains(&d.as_str()) {
            let msg = if d == "resources" || d == "nodes" || d == "affinity" {
                format!("{ctx}unable to delete required option '{d}'")
            } else {
                format!("{ctx}no such option '{d}'")
            };
            return Err(ApiError::fail(msg));
        }
    }
    let props = rule_props(c, p, &kind)?;
    let mut next = c.clone();
    next.rules.touch();
    if let Some(s) = next.rules.sections.iter_mut().find(|s| s.id == id) {
        for d in &deletes {
            s.props.remove(d);
        }
        for (k, v) in props {
            s.props.insert(k, v);
        }
        s.props = sorted_props(std::mem::take(&mut s.props));
    }
    feasibility(&next, &id)?;
    c.rules = next.rules;
    Ok(Value::Null)
}

/// `DELETE /cluster/ha/rules/{rule}`: a missing rule is a silent success.
pub fn rule_delete(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    let id = p.str("rule").unwrap_or_default();
    if c.rules.get(id).is_some() {
        c.rules.touch();
        c.rules.sections.retain(|s| s.id != id);
    }
    Ok(Value::Null)
}
