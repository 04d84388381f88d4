//! HA configuration endpoints: groups (PVE 8, and PVE 9 before migration), resources, migrate/relocate and
//! rules (PVE 9), with the real server's texts for every refusal. Callers hold the `domain-ha` lock for writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// Set a property as `PVE::SectionConfig` writes it: an empty string is not written, so the key is absent.
fn put(props: &mut Obj, key: &str, value: Value) {
    if value.as_str() == Some("") {
        props.remove(key);
    } else {
        props.insert(key.to_string(), value);
    }
}

/// Prefix a failure inside `lock_ha_domain` with its context, as the real helper does (`"$errmsg: $err"`).
fn in_lock(ctx: &str) -> impl Fn(ApiError) -> ApiError + '_ {
    move |e| ApiError::fail(format!("{ctx}: {}", e.message))
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

/// `digest` is the file's, computed once per reply: hashing the whole file per section made a list
/// quadratic in its length.
fn group_json(s: &Section, digest: &str) -> Value {
    let mut o = Obj::new();
    o.insert("group".into(), json!(s.id));
    o.insert("type".into(), json!("group"));
    for (k, v) in &s.props {
        o.insert(k.clone(), v.clone());
    }
    o.insert("digest".into(), json!(digest));
    Value::Object(o)
}

/// `GET /cluster/ha/groups`.
pub fn groups_list(c: &Cluster) -> Value {
    let digest = c.groups.digest();
    Value::Array(
        c.groups
            .sections
            .iter()
            .map(|s| group_json(s, &digest))
            .collect(),
    )
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
    Ok(group_json(s, &c.groups.digest()))
}

fn stored_nodes(group: &str, nodes: &str) -> String {
    let unique: BTreeSet<String> = split_list(nodes).into_iter().collect();
    hash_order(unique.into_iter().collect(), group).join(",")
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
            put(&mut props, k, v.to_json());
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
    // The real handler sets first and deletes after, so a key both set and deleted ends up deleted.
    if let Some(n) = nodes {
        s.props.insert("nodes".into(), json!(n));
    }
    for k in ["restricted", "nofailback", "comment"] {
        if let Some(v) = p.0.get(k) {
            put(&mut s.props, k, v.to_json());
        }
    }
    for d in &deletes {
        s.props.remove(d);
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
                "unable do detect SID from VMID - VM/CT {raw} does not exist"
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

/// `digest` is the file's, computed once per reply (see [`group_json`]).
fn resource_json(c: &Cluster, s: &Section, digest: &str) -> Value {
    let mut o = Obj::new();
    o.insert("sid".into(), json!(format!("{}:{}", s.kind, s.id)));
    o.insert("type".into(), json!(s.kind));
    for (k, v) in &s.props {
        o.insert(k.clone(), v.clone());
    }
    o.insert("digest".into(), json!(digest));
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
    let digest = c.resources.digest();
    Value::Array(
        c.resources
            .sections
            .iter()
            .filter(|s| ty.is_none_or(|t| t == s.kind))
            .map(|s| resource_json(c, s, &digest))
            .collect(),
    )
}

/// `GET /cluster/ha/resources/{sid}`.
pub fn resource_get(c: &Cluster, p: &Params) -> ApiResult<Value> {
    let sid = resolve_sid(c, p.str("sid").unwrap_or_default())?;
    let s = c
        .ha_resource(&sid)
        .ok_or_else(|| ApiError::fail(format!("no such resource '{sid}'")))?;
    Ok(resource_json(c, s, &c.resources.digest()))
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

/// Whether `POST /cluster/ha/resources` refuses `vm:` for a container and `ct:` for a VM: the check came in
/// pve-ha-manager 5.1.1 (PVE 9.1); 8.4 and 9.0 accept either prefix for any guest.
fn checks_guest_type(c: &Cluster) -> bool {
    at_least_9_1(c)
}

/// Whether the simulated version is PVE 9.1 or later (pve-ha-manager 5.1+).
fn at_least_9_1(c: &Cluster) -> bool {
    let mut parts = c
        .pve_version
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().ok());
    let major = parts.next().flatten().unwrap_or(0);
    let minor = parts.next().flatten().unwrap_or(0);
    (major, minor) >= (9, 1)
}

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
        Some(g) if g.kind.ha_type() != ty && checks_guest_type(c) => {
            let what = if ty == "vm" { "VM" } else { "container" };
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
            put(&mut props, k, v.to_json());
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
    let (ty, id) = sid.split_once(':').unwrap_or(("", ""));
    // The handler checks a non-empty `group` before the service state and before the locked update looks
    // at the digest and the resource itself.
    if let Some(g) = p.str("group").filter(|g| !g.is_empty()) {
        group_param_gate(c, p)?;
        if c.groups.get(g).is_none() {
            return Err(ApiError::fail(format!("HA group '{g}' does not exist")));
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
    let ctx = "update resources config failed: ";
    check_digest(p, &c.resources.digest(), ctx)?;
    if c.ha_resource(&sid).is_none() {
        return Err(ApiError::fail(format!("{ctx}no such resource '{sid}'")));
    }
    let deletes = p.str("delete").map(split_list).unwrap_or_default();
    for d in &deletes {
        if !RESOURCE_PROPS.contains(&d.as_str()) || (d == "failback" && c.major == Major::Pve8) {
            return Err(ApiError::fail(format!("{ctx}no such option '{d}'")));
        }
    }
    c.resources.touch();
    if let Some(s) = c
        .resources
        .sections
        .iter_mut()
        .find(|s| s.kind == ty && s.id == id)
    {
        // Set first, delete after, as `update_resources_config` does: delete wins.
        for k in RESOURCE_PROPS {
            if let Some(v) = p.0.get(k) {
                put(&mut s.props, k, v.to_json());
            }
        }
        for d in &deletes {
            s.props.remove(d);
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
    // `service_is_ha_managed`: an ignored service counts as unmanaged.
    let ignored = c
        .ha_resource(&sid)
        .is_none_or(|s| s.props.get("state").and_then(Value::as_str) == Some("ignored"));
    if ignored {
        return Err(ApiError::fail(format!(
            "resource '{sid}' is not HA managed"
        )));
    }
    if c.manager
        .services
        .get(&sid)
        .is_some_and(|s| s.state == "error")
    {
        return Err(ApiError::fail(format!(
            "service '{sid}' in error state, must be disabled and fixed first"
        )));
    }
    // The node is not checked: the command is queued and the CRM drops it if the node is unknown.
    let node = p.str("node").unwrap_or_default().to_string();
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

/// `digest` is the file's, computed once per reply (see [`group_json`]).
fn rule_json(s: &Section, errors: Option<&BTreeMap<String, Vec<String>>>, digest: &str) -> Value {
    let mut o = Obj::new();
    o.insert("rule".into(), json!(s.id));
    o.insert("type".into(), json!(s.kind));
    for (k, v) in &s.props {
        o.insert(k.clone(), v.clone());
    }
    o.insert("digest".into(), json!(digest));
    o.insert("order".into(), json!(s.order));
    if let Some(e) = errors.filter(|e| !e.is_empty()) {
        o.insert("errors".into(), json!(e));
    }
    Value::Object(o)
}

/// Sort sections by `order` and number them 1..N, as writing `rules.cfg` (sorted by order, ties in hash
/// order) and parsing it back (`$pri++` from 1) does.
fn renumber(sections: &mut [Section]) {
    let ids: Vec<String> = sections.iter().map(|s| s.id.clone()).collect();
    let ties: HashMap<String, usize> = hash_order(ids, "rules.cfg")
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    sections.sort_by_key(|s| (s.order, ties.get(&s.id).copied()));
    for (i, s) in sections.iter_mut().enumerate() {
        s.order = i as i64 + 1;
    }
}

/// Feasibility errors by rule id, then by option.
type RuleErrors = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The rules as a read returns them: numbered 1..N in order, with their feasibility errors.
fn numbered_rules(c: &Cluster) -> (Vec<Section>, RuleErrors) {
    let mut all = rules::effective_rules(c);
    let errors = rules::check(c, &all);
    renumber(&mut all);
    (all, errors)
}

/// `GET /cluster/ha/rules[?type=][&resource=]`, sorted by `order`.
pub fn rules_list(c: &Cluster, ty: Option<&str>, resource: Option<&str>) -> Value {
    let (all, errors) = numbered_rules(c);
    let digest = c.rules.digest();
    Value::Array(
        all.iter()
            .filter(|s| ty.is_none_or(|t| t == s.kind))
            .filter(|s| {
                resource.is_none_or(|r| {
                    s.props
                        .get("resources")
                        .and_then(Value::as_str)
                        .is_some_and(|l| split_list(l).iter().any(|x| x == r))
                })
            })
            .map(|s| rule_json(s, errors.get(&s.id), &digest))
            .collect(),
    )
}

/// `GET /cluster/ha/rules/{rule}`.
pub fn rule_get(c: &Cluster, p: &Params) -> ApiResult<Value> {
    let id = p.str("rule").unwrap_or_default();
    let (all, errors) = numbered_rules(c);
    let s = all
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::fail(format!("no such ha rule '{id}'")))?;
    Ok(rule_json(s, errors.get(id), &c.rules.digest()))
}

/// The options a rule type has, and whether each is optional (`PVE::HA::Rules::*` plugin options).
fn rule_options(kind: &str) -> &'static [(&'static str, bool)] {
    if kind == "node-affinity" {
        &[
            ("resources", false),
            ("nodes", false),
            ("strict", true),
            ("disable", true),
            ("comment", true),
        ]
    } else {
        &[
            ("resources", false),
            ("affinity", false),
            ("disable", true),
            ("comment", true),
        ]
    }
}

/// Parameters of the other rule type: refused by the schema check (`instance-types`), before the handler runs.
fn check_foreign(p: &Params, kind: &str) -> ApiResult<()> {
    let foreign: &[&str] = if kind == "node-affinity" {
        &["affinity"]
    } else {
        &["nodes", "strict"]
    };
    let bad: BTreeMap<String, String> = foreign
        .iter()
        .filter(|k| p.has(k))
        .map(|k| {
            (
                (*k).to_string(),
                "property is not defined in schema and the schema does not allow additional properties"
                    .to_string(),
            )
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ApiError::params(bad))
    }
}

/// The options a request sets (`check_config`'s result): a falsy `disable` is dropped by the handler first.
fn set_keys(p: &Params, kind: &str) -> Vec<&'static str> {
    rule_options(kind)
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| {
            if *k == "disable" {
                p.int("disable") == Some(1)
            } else {
                p.has(k)
            }
        })
        .collect()
}

/// Check references; returns the normalised properties to set. Errors are raised inside the lock.
fn rule_props(c: &Cluster, p: &Params, kind: &str) -> ApiResult<Obj> {
    let mut props = Obj::new();
    if let Some(r) = p.str("resources") {
        let list: BTreeSet<String> = split_list(r).into_iter().collect();
        if list.is_empty() {
            return Err(ApiError::fail("no resources were specified"));
        }
        let unmanaged: Vec<&str> = list
            .iter()
            .filter(|s| c.ha_resource(s).is_none())
            .map(String::as_str)
            .collect();
        if !unmanaged.is_empty() {
            return Err(ApiError::fail(format!(
                "cannot use unmanaged resource(s) {}.",
                unmanaged.join(", ")
            )));
        }
        props.insert(
            "resources".into(),
            json!(list.into_iter().collect::<Vec<_>>().join(",")),
        );
    }
    if let Some(n) = p.str("nodes") {
        // `decode_value` keys a hash by node name: a repeated node keeps the last priority given.
        let mut entries: BTreeMap<String, i64> = BTreeMap::new();
        for tok in split_list(n) {
            let (name, prio) = match tok.split_once(':') {
                Some((a, b)) => (a.to_string(), b.parse().unwrap_or(0)),
                None => (tok.clone(), 0),
            };
            entries.insert(name, prio);
        }
        if entries.is_empty() {
            return Err(ApiError::fail("no nodes were specified"));
        }
        let unknown: Vec<&str> = entries
            .keys()
            .filter(|n| c.node(n).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            // pve-ha-manager 5.1 corrected the spelling; 5.0 (PVE 9.0) says "non-existant".
            let word = if at_least_9_1(c) {
                "non-existent"
            } else {
                "non-existant"
            };
            return Err(ApiError::fail(format!(
                "cannot use {word} node(s) {}.",
                unknown.join(", ")
            )));
        }
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
        if kind == "node-affinity" && k == "affinity" || kind != "node-affinity" && k == "strict" {
            continue;
        }
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

/// `$assert_feasibility`: a `400` exception, stringified with its per-option errors by the lock's `die`.
fn feasibility(c: &Cluster, id: &str) -> ApiResult<()> {
    let all = rules::effective_rules(c);
    let errors = rules::check(c, &all);
    if let Some(e) = errors.get(id).filter(|e| !e.is_empty()) {
        let mut msg = format!("400 Rule '{id}' is invalid.\n");
        for (k, v) in e {
            msg.push_str(&format!("{k}: {}\n", v.join(", ")));
        }
        return Err(ApiError::fail(msg));
    }
    Ok(())
}

/// Apply properties to a section as writing and re-reading `rules.cfg` would (empty strings vanish).
fn apply(s: &mut Section, props: Obj, deletes: &[String]) {
    for (k, v) in props {
        put(&mut s.props, &k, v);
    }
    for d in deletes {
        s.props.remove(d);
    }
    s.props = sorted_props(std::mem::take(&mut s.props));
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
    check_foreign(p, &kind)?;
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
    let locked = in_lock("create ha rule failed");
    if c.rules.get(&id).is_some() {
        return Err(locked(ApiError::fail(format!(
            "HA rule '{id}' already defined"
        ))));
    }
    let props = rule_props(c, p, &kind).map_err(&locked)?;
    let order = c
        .rules
        .sections
        .iter()
        .map(|s| s.order)
        .min()
        .map_or(1, |m| m + 1);
    let mut next = c.clone();
    let mut section = Section {
        kind,
        id: id.clone(),
        props: Obj::new(),
        order,
    };
    apply(&mut section, props, &[]);
    next.rules.sections.push(section);
    next.rules.touch();
    feasibility(&next, &id).map_err(&locked)?;
    renumber(&mut next.rules.sections);
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
    check_foreign(p, &kind)?;
    let ctx = "update HA rules failed";
    let locked = in_lock(ctx);
    check_digest(p, &c.rules.digest(), &format!("{ctx}: "))?;
    let Some(existing) = c.rules.get(&id) else {
        return Err(locked(ApiError::fail(format!(
            "HA rule '{id}' does not exist"
        ))));
    };
    // `check_config` of the rule's own type accepts `type` only when it names that type.
    if existing.kind != kind {
        return Err(locked(ApiError::fail("unexpected property 'type'")));
    }
    let props = rule_props(c, p, &kind).map_err(&locked)?;
    let deletes = p.str("delete").map(split_list).unwrap_or_default();
    let set = set_keys(p, &kind);
    for d in &deletes {
        let msg = match rule_options(&kind).iter().find(|(k, _)| k == d) {
            None => format!("no such option '{d}'"),
            Some((_, false)) => format!("unable to delete required option '{d}'"),
            Some(_) if set.contains(&d.as_str()) => {
                format!("cannot set and delete property '{d}' at the same time!")
            }
            Some(_) => continue,
        };
        return Err(locked(ApiError::fail(msg)));
    }
    let mut next = c.clone();
    next.rules.touch();
    if let Some(s) = next.rules.sections.iter_mut().find(|s| s.id == id) {
        apply(s, props, &deletes);
    }
    feasibility(&next, &id).map_err(&locked)?;
    renumber(&mut next.rules.sections);
    c.rules = next.rules;
    Ok(Value::Null)
}

/// `DELETE /cluster/ha/rules/{rule}`: a missing rule is a silent success.
pub fn rule_delete(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    let id = p.str("rule").unwrap_or_default();
    if c.rules.get(id).is_some() {
        c.rules.touch();
        c.rules.sections.retain(|s| s.id != id);
        renumber(&mut c.rules.sections);
    }
    Ok(Value::Null)
}
