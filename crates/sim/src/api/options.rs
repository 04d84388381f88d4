//! `/cluster/options` (datacenter.cfg): GET returns every stored key, PUT sets the given keys whole, then
//! deletes the `delete` list, as pve-manager's `set_options` does. Property strings with a hash format (`ha`,
//! `crs`, `migration`) are checked the way `PVE::JSONSchema::parse_property_string` checks them and stored
//! parsed, in the shape the real GET returns; the HA manager reads `ha`/`crs` from that same stored object.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::params::{split_list, Params, Ty, Val};
use crate::specs::Major;
use crate::state::Cluster;

/// Where the stored options live in the cluster's verbatim map.
pub const PATH: &str = "/cluster/options";

/// One key inside a hash-format property string, as the official schema describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubKey {
    /// Key name.
    pub name: &'static str,
    /// Schema type.
    pub ty: Ty,
    /// `optional: 1` in the schema.
    pub optional: bool,
    /// Allowed values.
    pub enumeration: Option<&'static [&'static str]>,
    /// Minimum for numbers.
    pub minimum: Option<i64>,
    /// `default_key: 1`: the value may be given without `key=`.
    pub default_key: bool,
    /// Another key this one needs.
    pub requires: Option<&'static str>,
}

impl SubKey {
    const fn new(name: &'static str, ty: Ty) -> Self {
        SubKey {
            name,
            ty,
            optional: true,
            enumeration: None,
            minimum: None,
            default_key: false,
            requires: None,
        }
    }
    const fn required(self) -> Self {
        SubKey {
            optional: false,
            ..self
        }
    }
    const fn one_of(self, values: &'static [&'static str]) -> Self {
        SubKey {
            enumeration: Some(values),
            ..self
        }
    }
    const fn min(self, v: i64) -> Self {
        SubKey {
            minimum: Some(v),
            ..self
        }
    }
    const fn default_key(self) -> Self {
        SubKey {
            default_key: true,
            ..self
        }
    }
    const fn requires(self, key: &'static str) -> Self {
        SubKey {
            requires: Some(key),
            ..self
        }
    }
}

const SHUTDOWN_POLICIES: &[&str] = &["freeze", "failover", "conditional", "migrate"];
const CRS_PVE8: &[&str] = &["basic", "static"];
const CRS_PVE9: &[&str] = &["basic", "static", "dynamic"];
const AUTO_REBALANCE: &str = "ha-auto-rebalance";

/// The keys of a hash-format option this simulator checks in full (`None` for other options).
pub fn format(major: Major, option: &str) -> Option<Vec<SubKey>> {
    let keys = match option {
        "ha" => vec![SubKey::new("shutdown_policy", Ty::String)
            .required()
            .one_of(SHUTDOWN_POLICIES)],
        "crs" => {
            let mut v = vec![
                SubKey::new("ha", Ty::String).one_of(match major {
                    Major::Pve8 => CRS_PVE8,
                    Major::Pve9 => CRS_PVE9,
                }),
                SubKey::new("ha-rebalance-on-start", Ty::Boolean),
            ];
            if major == Major::Pve9 {
                v.extend([
                    SubKey::new(AUTO_REBALANCE, Ty::Boolean),
                    SubKey::new("ha-auto-rebalance-hold-duration", Ty::Number)
                        .min(0)
                        .requires(AUTO_REBALANCE),
                    SubKey::new("ha-auto-rebalance-margin", Ty::Number)
                        .min(0)
                        .requires(AUTO_REBALANCE),
                    SubKey::new("ha-auto-rebalance-method", Ty::String)
                        .one_of(&["bruteforce", "topsis"])
                        .requires(AUTO_REBALANCE),
                    SubKey::new("ha-auto-rebalance-threshold", Ty::Number)
                        .min(0)
                        .requires(AUTO_REBALANCE),
                ]);
            }
            v
        }
        "migration" => vec![
            SubKey::new("network", Ty::String),
            SubKey::new("type", Ty::String)
                .required()
                .one_of(&["secure", "insecure"])
                .default_key(),
        ],
        _ => return None,
    };
    Some(keys)
}

/// `GET /cluster/options`: the stored object.
pub fn get(c: &Cluster) -> Value {
    c.verbatim
        .get(PATH)
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// `PUT /cluster/options`: set the given keys (each replaces the stored value whole), then delete the named
/// ones; keys not named are left as they are. Unknown names in `delete` are ignored, as upstream ignores them.
pub fn update(c: &mut Cluster, p: &Params) -> ApiResult<Value> {
    let mut errors = BTreeMap::new();
    let mut set = Map::new();
    for (key, val) in &p.0 {
        if key == "delete" {
            continue;
        }
        let stored = match (format(c.major, key), val) {
            (Some(keys), Val::Str(text)) => match parse_property_string(&keys, key, text) {
                Ok(obj) => Value::Object(obj),
                Err(msg) => {
                    errors.insert(key.clone(), format!("invalid format - {msg}"));
                    continue;
                }
            },
            _ => val.to_json(),
        };
        set.insert(key.clone(), stored);
    }
    if !errors.is_empty() {
        return Err(ApiError::params(errors));
    }
    let deletes = p.str("delete").map(split_list).unwrap_or_default();
    let entry = c
        .verbatim
        .entry(PATH.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    let Some(conf) = entry.as_object_mut() else {
        return Ok(Value::Null);
    };
    for (k, v) in set {
        // The writer drops an empty `crs:` line rather than storing it, so an empty crs is a removal.
        if k == "crs" && v.as_object().is_some_and(Map::is_empty) {
            conf.remove(&k);
        } else {
            conf.insert(k, v);
        }
    }
    for d in deletes {
        conf.remove(&d);
    }
    Ok(Value::Null)
}

/// Parse `k=v[,k=v]` against the format; the error is the text the real checker puts after `invalid format - `.
fn parse_property_string(
    keys: &[SubKey],
    path: &str,
    data: &str,
) -> Result<Map<String, Value>, String> {
    let mut raw: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut default_used = false;
    for part in data.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                let Some(spec) = keys.iter().find(|s| s.name == k) else {
                    return Err(format!(
                        "invalid key in comma-separated list property: {k}\n"
                    ));
                };
                if raw.contains_key(spec.name) {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {k}\n"
                    ));
                }
                raw.insert(spec.name, v.to_string());
            }
            Some(_) => return Err("missing key in comma-separated list property\n".into()),
            None => {
                let Some(spec) = keys.iter().find(|s| s.default_key) else {
                    return Err(
                        "value without key, but schema does not define a default key\n".into(),
                    );
                };
                if default_used || raw.contains_key(spec.name) {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {}\n",
                        spec.name
                    ));
                }
                default_used = true;
                raw.insert(spec.name, part.to_string());
            }
        }
    }
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Map::new();
    for spec in keys {
        let at = format!("{path}.{}", spec.name);
        let Some(text) = raw.get(spec.name) else {
            if !spec.optional {
                errors.insert(at, "property is missing and it is not optional".into());
            }
            continue;
        };
        if let Some(req) = spec.requires {
            if !raw.contains_key(req) {
                errors.insert(
                    format!("{path}.{req}"),
                    format!("missing property required by '{at}'"),
                );
            }
        }
        match check_sub_value(spec, text) {
            Ok(v) => {
                out.insert(spec.name.to_string(), v);
            }
            Err(msg) => {
                errors.insert(at, msg);
            }
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    let mut msg = String::from("format error\n");
    for (k, v) in errors {
        msg.push_str(&format!("{k}: {v}\n"));
    }
    Err(msg)
}

fn check_sub_value(spec: &SubKey, text: &str) -> Result<Value, String> {
    let type_err = || format!("type check ('{}') failed - got '{text}'", spec.ty.as_str());
    match spec.ty {
        Ty::Boolean => match text.to_ascii_lowercase().as_str() {
            "1" | "on" | "yes" | "true" => Ok(Value::from(1)),
            "0" | "off" | "no" | "false" => Ok(Value::from(0)),
            _ => Err(type_err()),
        },
        Ty::Number | Ty::Integer => {
            let n: f64 = text.parse().map_err(|_| type_err())?;
            if !n.is_finite()
                || text.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
            {
                return Err(type_err());
            }
            if let Some(min) = spec.minimum {
                if n < min as f64 {
                    return Err(format!("value must have a minimum value of {min}"));
                }
            }
            // Property-string numbers come back from the real GET as the strings they were written as.
            Ok(Value::String(text.to_string()))
        }
        Ty::String => {
            if let Some(values) = spec.enumeration {
                if !values.contains(&text) {
                    return Err(format!(
                        "value '{text}' does not have a value in the enumeration '{}'",
                        values.join(", ")
                    ));
                }
            }
            Ok(Value::String(text.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ha_keys() -> Vec<SubKey> {
        format(Major::Pve8, "ha").unwrap_or_default()
    }

    #[test]
    fn a_bad_enum_names_the_sub_key_like_the_real_checker() {
        let e = parse_property_string(&ha_keys(), "ha", "shutdown_policy=sometimes").unwrap_err();
        assert_eq!(
            e,
            "format error\nha.shutdown_policy: value 'sometimes' does not have a value in the enumeration \
             'freeze, failover, conditional, migrate'\n"
        );
    }

    #[test]
    fn unknown_and_missing_keys_are_refused() {
        assert_eq!(
            parse_property_string(&ha_keys(), "ha", "policy=migrate").unwrap_err(),
            "invalid key in comma-separated list property: policy\n"
        );
        assert_eq!(
            parse_property_string(&ha_keys(), "ha", "").unwrap_err(),
            "format error\nha.shutdown_policy: property is missing and it is not optional\n"
        );
    }

    #[test]
    fn dynamic_crs_exists_only_where_the_schema_has_it() {
        let pve8 = format(Major::Pve8, "crs").unwrap_or_default();
        let pve9 = format(Major::Pve9, "crs").unwrap_or_default();
        assert!(parse_property_string(&pve8, "crs", "ha=dynamic").is_err());
        let ok = parse_property_string(&pve9, "crs", "ha=dynamic,ha-rebalance-on-start=1").unwrap();
        assert_eq!(ok["ha"], "dynamic");
        assert_eq!(ok["ha-rebalance-on-start"], 1);
    }

    #[test]
    fn auto_rebalance_tuning_requires_auto_rebalance() {
        let pve9 = format(Major::Pve9, "crs").unwrap_or_default();
        let e = parse_property_string(&pve9, "crs", "ha-auto-rebalance-margin=0.2").unwrap_err();
        assert!(e.contains(
            "crs.ha-auto-rebalance: missing property required by 'crs.ha-auto-rebalance-margin'"
        ));
    }

    #[test]
    fn the_default_key_may_be_given_bare() {
        let keys = format(Major::Pve8, "migration").unwrap_or_default();
        let m = parse_property_string(&keys, "migration", "insecure,network=10.0.0.0/24").unwrap();
        assert_eq!(m["type"], "insecure");
        assert_eq!(m["network"], "10.0.0.0/24");
    }
}
