//! The `/api2/json` surface: matching a path to an endpoint template, and dispatching a checked request to its
//! handler. One module per API area below; none of them touches HTTP.

pub mod cluster;
pub mod guests;
pub mod ha;
pub mod ha_status;
pub mod options;

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::specs::{self, Major};
use crate::state::{Cluster, Kind};

/// A successful answer: `data` plus the optional top-level `total`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The `data` member.
    pub data: Value,
    /// The `total` member (syslog).
    pub total: Option<u64>,
}

impl Reply {
    /// Just data.
    pub fn data(data: Value) -> Self {
        Reply { data, total: None }
    }
}

/// Every template served on this version, including paths outside the schema subset.
fn templates(major: Major) -> Vec<(&'static str, &'static str)> {
    let mut v = specs::endpoints(major);
    v.push(("GET", "/storage"));
    v
}

fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut out = Vec::new();
    for (ts, ps) in t.iter().zip(p.iter()) {
        if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            let decoded = percent_encoding::percent_decode_str(ps)
                .decode_utf8_lossy()
                .into_owned();
            out.push((name.to_string(), decoded));
        } else if ts != ps {
            return None;
        }
    }
    Some(out)
}

/// Find the endpoint for a method and path (relative to `/api2/json`), or the real 501.
pub fn route(
    major: Major,
    method: &str,
    path: &str,
) -> ApiResult<(&'static str, Vec<(String, String)>)> {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    for (m, t) in templates(major) {
        if m == method {
            if let Some(params) = match_template(t, trimmed) {
                return Ok((t, params));
            }
        }
    }
    Err(ApiError::not_implemented(method, path))
}

/// The parameter specs of a routed endpoint.
pub fn specs_for(major: Major, method: &str, template: &str) -> Vec<crate::params::ParamSpec> {
    if template == "/storage" {
        return vec![crate::params::ParamSpec::string("type").opt().opaque()];
    }
    specs::params(major, method, template).unwrap_or_default()
}

/// Whether the request writes HA configuration (and so takes the `domain-ha` lock).
pub fn is_ha_write(method: &str, template: &str) -> bool {
    method != "GET" && template.starts_with("/cluster/ha/")
}

/// The lock-error context the real handler wraps a `domain-ha` failure in.
pub fn lock_context(method: &str, template: &str) -> &'static str {
    match (method, template) {
        ("POST", "/cluster/ha/resources") => "create resource failed",
        ("PUT", "/cluster/ha/resources/{sid}") => "update resources config failed",
        ("DELETE", "/cluster/ha/resources/{sid}") => "delete resource failed",
        ("POST", "/cluster/ha/groups") => "create ha group failed",
        ("PUT", "/cluster/ha/groups/{group}") => "update ha group failed",
        ("DELETE", "/cluster/ha/groups/{group}") => "delete ha group failed",
        ("POST", "/cluster/ha/rules") => "create HA rules failed",
        ("PUT", "/cluster/ha/rules/{rule}") => "update HA rules failed",
        ("DELETE", "/cluster/ha/rules/{rule}") => "delete HA rules failed",
        _ => "cannot lock ha config",
    }
}

fn node_reachable(c: &Cluster, p: &Params) -> ApiResult<()> {
    let node = p.str("node").unwrap_or_default();
    match c.node(node) {
        None => Err(ApiError::fail(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
        ))),
        Some(n) if !n.powered => Err(ApiError::unreachable()),
        Some(_) => Ok(()),
    }
}

/// Run a checked request against the model.
pub fn dispatch(c: &mut Cluster, method: &str, template: &str, p: &Params) -> ApiResult<Reply> {
    let major = c.major;
    let data = match (method, template) {
        ("GET", "/version") => c.version.clone(),
        ("GET", "/cluster/status") => cluster::status(c),
        ("GET", "/cluster/resources") => cluster::resources(c, p.str("type")),
        ("GET", "/nodes") => cluster::nodes(c),
        ("GET", "/cluster/options") => options::get(c),
        ("PUT", "/cluster/options") => options::update(c, p)?,
        ("GET", "/cluster/backup") | ("GET", "/cluster/replication") | ("GET", "/storage") => {
            let v = c
                .verbatim
                .get(template)
                .cloned()
                .unwrap_or_else(|| json!([]));
            match (template, p.str("type")) {
                ("/storage", Some(t)) => Value::Array(
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter(|s| s.get("type").and_then(Value::as_str) == Some(t))
                        .cloned()
                        .collect(),
                ),
                _ => v,
            }
        }
        ("GET", "/cluster/backup/{id}") => cluster::backup_job(c, p.str("id").unwrap_or_default())?,
        ("GET", "/nodes/{node}/journal") => {
            node_reachable(c, p)?;
            return cluster::journal(c, p.str("node").unwrap_or_default(), p);
        }
        ("GET", "/nodes/{node}/syslog") => {
            node_reachable(c, p)?;
            return cluster::syslog(c, p.str("node").unwrap_or_default(), p);
        }
        ("GET", "/nodes/{node}/lxc/{vmid}/config") => guests::get(c, p, Kind::Lxc)?,
        ("GET", "/nodes/{node}/qemu/{vmid}/config") => guests::get(c, p, Kind::Qemu)?,
        ("PUT", "/nodes/{node}/lxc/{vmid}/config") => {
            guests::update(c, p, Kind::Lxc, false, major)?
        }
        ("PUT", "/nodes/{node}/qemu/{vmid}/config") => {
            guests::update(c, p, Kind::Qemu, false, major)?
        }
        ("POST", "/nodes/{node}/qemu/{vmid}/config") => {
            guests::update(c, p, Kind::Qemu, true, major)?
        }
        ("GET", "/cluster/ha") => {
            let mut v = vec![
                json!({"id": "status"}),
                json!({"id": "resources"}),
                json!({"id": "groups"}),
            ];
            if major == Major::Pve9 {
                v.push(json!({"id": "rules"}));
            }
            Value::Array(v)
        }
        ("GET", "/cluster/ha/status") => json!([{"name": "current"}, {"name": "manager_status"}]),
        ("GET", "/cluster/ha/status/current") => ha_status::current(c),
        ("GET", "/cluster/ha/status/manager_status") => ha_status::manager_status(c),
        ("GET", "/cluster/ha/groups") => ha::groups_index(c)?,
        ("POST", "/cluster/ha/groups") => ha::group_create(c, p)?,
        ("GET", "/cluster/ha/groups/{group}") => ha::group_get(c, p)?,
        ("PUT", "/cluster/ha/groups/{group}") => ha::group_update(c, p)?,
        ("DELETE", "/cluster/ha/groups/{group}") => ha::group_delete(c, p)?,
        ("GET", "/cluster/ha/resources") => ha::resources_list(c, p.str("type")),
        ("POST", "/cluster/ha/resources") => ha::resource_create(c, p)?,
        ("GET", "/cluster/ha/resources/{sid}") => ha::resource_get(c, p)?,
        ("PUT", "/cluster/ha/resources/{sid}") => ha::resource_update(c, p)?,
        ("DELETE", "/cluster/ha/resources/{sid}") => ha::resource_delete(c, p)?,
        ("POST", "/cluster/ha/resources/{sid}/migrate") => ha::resource_move(c, p, "migrate")?,
        ("POST", "/cluster/ha/resources/{sid}/relocate") => ha::resource_move(c, p, "relocate")?,
        ("GET", "/cluster/ha/rules") => ha::rules_list(c, p.str("type"), p.str("resource")),
        ("POST", "/cluster/ha/rules") => ha::rule_create(c, p)?,
        ("GET", "/cluster/ha/rules/{rule}") => ha::rule_get(c, p)?,
        ("PUT", "/cluster/ha/rules/{rule}") => ha::rule_update(c, p)?,
        ("DELETE", "/cluster/ha/rules/{rule}") => ha::rule_delete(c, p)?,
        _ => return Err(ApiError::not_implemented(method, template)),
    };
    Ok(Reply::data(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_capture_path_parameters() {
        let (t, p) = route(Major::Pve8, "GET", "/cluster/ha/resources/ct:110").unwrap();
        assert_eq!(t, "/cluster/ha/resources/{sid}");
        assert_eq!(p, vec![("sid".to_string(), "ct:110".to_string())]);
        assert_eq!(
            route(Major::Pve8, "GET", "/cluster/ha/rules")
                .unwrap_err()
                .status,
            501
        );
        assert!(route(Major::Pve9, "GET", "/cluster/ha/rules").is_ok());
        assert_eq!(
            route(Major::Pve8, "PATCH", "/version").unwrap_err().status,
            501
        );
    }
}
