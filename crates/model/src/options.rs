//! The HA-relevant datacenter options of `GET /cluster/options` (datacenter.cfg): the `ha` and `crs`
//! property strings (which GET returns parsed as objects) and `fencing`, and how a desired state becomes a
//! `PUT /cluster/options` that rewrites only the sub-keys pveha owns and keeps every other one.

use std::collections::BTreeMap;

use serde_json::Value;

/// Why the options do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// The options are not a JSON object.
    #[error("the datacenter options are not an object")]
    NotAnObject,
    /// A property-string option is neither an object nor a `k=v,...` string.
    #[error("datacenter option '{0}' is neither an object nor a property string")]
    BadProperty(String),
}

/// A hash-format option as sub-key → the text it is written as (`1`/`0` for booleans).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertyMap(pub BTreeMap<String, String>);

impl PropertyMap {
    /// Reads the object GET returns, or a `k=v,...` string (a snapshot may hold either).
    pub fn from_value(name: &str, v: &Value) -> Result<PropertyMap, OptionsError> {
        let bad = || OptionsError::BadProperty(name.to_string());
        let mut out = BTreeMap::new();
        match v {
            Value::Object(obj) => {
                for (k, v) in obj {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                        _ => return Err(bad()),
                    };
                    out.insert(k.clone(), text);
                }
            }
            Value::String(s) => {
                for part in s.split(',').filter(|p| !p.trim().is_empty()) {
                    let (k, v) = part.split_once('=').ok_or_else(bad)?;
                    out.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
            _ => return Err(bad()),
        }
        Ok(PropertyMap(out))
    }

    /// The property string PUT takes: `k=v` pairs joined by commas, keys sorted.
    pub fn to_property_string(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A sub-key's text.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn put(&mut self, key: &str, value: Option<String>) {
        match value {
            Some(v) => self.0.insert(key.to_string(), v),
            None => self.0.remove(key),
        };
    }
}

/// Datacenter `ha` sub-key: what a planned shutdown or reboot does to HA services.
pub const HA_SHUTDOWN_POLICY: &str = "shutdown_policy";
/// Datacenter `crs` sub-key: the HA scheduler mode.
pub const CRS_HA: &str = "ha";
/// Datacenter `crs` sub-key: use the scheduler when a service goes from stopped to started.
pub const CRS_REBALANCE_ON_START: &str = "ha-rebalance-on-start";

/// The HA-relevant datacenter options as the server holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatacenterHa {
    /// The `ha` option, every sub-key (absent: the server's defaults).
    pub ha: Option<PropertyMap>,
    /// The `crs` option, every sub-key.
    pub crs: Option<PropertyMap>,
    /// The `fencing` option (`watchdog`, `hardware`, `both`).
    pub fencing: Option<String>,
}

/// The values pveha manages; `None` means "not set" (the key is deleted, the server default applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HaSettings {
    /// `ha: shutdown_policy=...` (`conditional` when unset).
    pub shutdown_policy: Option<String>,
    /// `crs: ha=...` (`basic` when unset).
    pub crs: Option<String>,
    /// `crs: ha-rebalance-on-start=...` (false when unset).
    pub rebalance_on_start: Option<bool>,
    /// `fencing` (`watchdog` when unset).
    pub fencing: Option<String>,
}

/// A `PUT /cluster/options` body: options to set whole, options to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionsUpdate {
    /// Options and the values to send.
    pub set: Vec<(String, String)>,
    /// Options for `delete=`.
    pub delete: Vec<String>,
}

impl OptionsUpdate {
    /// Whether nothing would be sent.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }
}

impl DatacenterHa {
    /// Reads the options object GET returns; other options are ignored.
    pub fn from_options(options: &Value) -> Result<DatacenterHa, OptionsError> {
        let obj = options.as_object().ok_or(OptionsError::NotAnObject)?;
        let map = |name: &str| {
            obj.get(name)
                .filter(|v| !v.is_null())
                .map(|v| PropertyMap::from_value(name, v))
                .transpose()
        };
        Ok(DatacenterHa {
            ha: map("ha")?,
            crs: map("crs")?,
            fencing: obj
                .get("fencing")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The values pveha manages, as set on the server (unset where the server uses its default).
    pub fn settings(&self) -> HaSettings {
        let sub = |m: &Option<PropertyMap>, k: &str| {
            m.as_ref().and_then(|m| m.get(k)).map(str::to_string)
        };
        HaSettings {
            shutdown_policy: sub(&self.ha, HA_SHUTDOWN_POLICY),
            crs: sub(&self.crs, CRS_HA),
            rebalance_on_start: sub(&self.crs, CRS_REBALANCE_ON_START)
                .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true")),
            fencing: self.fencing.clone(),
        }
    }

    /// The write that makes the server show `want`, touching only options whose managed sub-keys change
    /// and keeping every sub-key pveha does not manage. An option left with no sub-keys is deleted.
    pub fn update_for(&self, want: &HaSettings) -> OptionsUpdate {
        let have = self.settings();
        let mut up = OptionsUpdate::default();
        if have.shutdown_policy != want.shutdown_policy {
            let mut ha = self.ha.clone().unwrap_or_default();
            ha.put(HA_SHUTDOWN_POLICY, want.shutdown_policy.clone());
            put_map(&mut up, "ha", &ha);
        }
        if have.crs != want.crs || have.rebalance_on_start != want.rebalance_on_start {
            let mut crs = self.crs.clone().unwrap_or_default();
            crs.put(CRS_HA, want.crs.clone());
            crs.put(
                CRS_REBALANCE_ON_START,
                want.rebalance_on_start
                    .map(|b| if b { "1" } else { "0" }.to_string()),
            );
            put_map(&mut up, "crs", &crs);
        }
        if have.fencing != want.fencing {
            match &want.fencing {
                Some(f) => up.set.push(("fencing".into(), f.clone())),
                None => up.delete.push("fencing".into()),
            }
        }
        up
    }
}

fn put_map(up: &mut OptionsUpdate, name: &str, map: &PropertyMap) {
    // The `ha` string needs shutdown_policy, so an `ha` left without it must go rather than be sent empty.
    let usable = !map.0.is_empty() && (name != "ha" || map.get(HA_SHUTDOWN_POLICY).is_some());
    if usable {
        up.set.push((name.to_string(), map.to_property_string()));
    } else {
        up.delete.push(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dc(v: Value) -> DatacenterHa {
        DatacenterHa::from_options(&v).unwrap()
    }

    #[test]
    fn reads_the_objects_get_returns() {
        let s = dc(json!({"crs": {"ha": "static", "ha-rebalance-on-start": 1}, "ha": {"shutdown_policy": "migrate"},
            "keyboard": "de"}))
        .settings();
        assert_eq!(s.crs.as_deref(), Some("static"));
        assert_eq!(s.rebalance_on_start, Some(true));
        assert_eq!(s.shutdown_policy.as_deref(), Some("migrate"));
        assert_eq!(s.fencing, None);
    }

    #[test]
    fn a_change_keeps_sub_keys_pveha_does_not_manage() {
        let have = dc(json!({"crs": {"ha": "basic", "ha-auto-rebalance": 1}}));
        let up = have.update_for(&HaSettings {
            crs: Some("static".into()),
            ..HaSettings::default()
        });
        assert_eq!(
            up.set,
            vec![(
                "crs".to_string(),
                "ha=static,ha-auto-rebalance=1".to_string()
            )]
        );
        assert!(up.delete.is_empty());
    }

    #[test]
    fn unset_values_delete_options_that_become_empty() {
        let have = dc(
            json!({"crs": {"ha": "static"}, "ha": {"shutdown_policy": "freeze"}, "fencing": "both"}),
        );
        let up = have.update_for(&HaSettings::default());
        assert!(up.set.is_empty());
        assert_eq!(up.delete, vec!["ha", "crs", "fencing"]);
    }

    #[test]
    fn nothing_is_sent_when_the_server_already_matches() {
        let have = dc(json!({"ha": "shutdown_policy=migrate", "fencing": "watchdog"}));
        let up = have.update_for(&HaSettings {
            shutdown_policy: Some("migrate".into()),
            fencing: Some("watchdog".into()),
            ..HaSettings::default()
        });
        assert!(up.is_empty());
    }

    #[test]
    fn odd_shapes_are_errors_not_panics() {
        assert_eq!(
            DatacenterHa::from_options(&json!([])),
            Err(OptionsError::NotAnObject)
        );
        assert_eq!(
            DatacenterHa::from_options(&json!({"crs": 3})),
            Err(OptionsError::BadProperty("crs".into()))
        );
    }
}
