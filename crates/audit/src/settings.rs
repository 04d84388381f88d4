//! The cluster-wide HA settings of `datacenter.cfg` as the snapshot's `/cluster/options` shows them: the shutdown
//! policy (`ha: shutdown_policy=`), the CRS mode (`crs: ha=`, `ha-rebalance-on-start`) and the fencing mode. Real PVE
//! returns `ha` and `crs` parsed as objects; a property string (`shutdown_policy=migrate`) is read as well, since
//! hand-written snapshots carry that form. An odd value becomes a note and the default, never an error.

use serde_json::Value;

/// `ha: shutdown_policy=` (default `conditional`).
pub(crate) const SHUTDOWN_POLICIES: [&str; 4] = ["conditional", "freeze", "failover", "migrate"];
/// `crs: ha=` (default `basic`); `dynamic` exists from pve-ha-manager 5.2.0 on.
pub(crate) const CRS_MODES: [&str; 3] = ["basic", "static", "dynamic"];
/// `fencing` (default `watchdog`).
pub(crate) const FENCING_MODES: [&str; 3] = ["watchdog", "hardware", "both"];

/// The HA settings the audit models, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HaSettings {
    /// One of [`SHUTDOWN_POLICIES`].
    pub shutdown_policy: String,
    /// One of [`CRS_MODES`].
    pub crs: String,
    /// Whether the CRS also picks the node when a stopped service is started.
    pub rebalance_on_start: bool,
    /// One of [`FENCING_MODES`].
    pub fencing: String,
}

impl Default for HaSettings {
    fn default() -> HaSettings {
        HaSettings {
            shutdown_policy: "conditional".into(),
            crs: "basic".into(),
            rebalance_on_start: false,
            fencing: "watchdog".into(),
        }
    }
}

impl HaSettings {
    /// Reads the settings from `/cluster/options` data; what cannot be read is a note and stays the default.
    pub fn from_options(options: &Value, notes: &mut Vec<String>) -> HaSettings {
        let mut s = HaSettings::default();
        if !options.is_object() && !options.is_null() {
            notes.push(
                "/cluster/options is not an object: the HA settings are taken as the defaults"
                    .into(),
            );
            return s;
        }
        let ha = sub_keys(options.get("ha"), "shutdown_policy", "ha", notes);
        if let Some(v) = ha.get("shutdown_policy") {
            pick(
                &mut s.shutdown_policy,
                v,
                &SHUTDOWN_POLICIES,
                "ha: shutdown_policy",
                notes,
            );
        }
        let crs = sub_keys(options.get("crs"), "ha", "crs", notes);
        if let Some(v) = crs.get("ha") {
            pick(&mut s.crs, v, &CRS_MODES, "crs: ha", notes);
        }
        if let Some(v) = crs.get("ha-rebalance-on-start") {
            match v.as_str() {
                "1" | "true" => s.rebalance_on_start = true,
                "0" | "false" => s.rebalance_on_start = false,
                other => notes.push(format!(
                    "crs: ha-rebalance-on-start '{other}' is not a boolean: taken as off"
                )),
            }
        }
        match options.get("fencing") {
            None | Some(Value::Null) => {}
            Some(v) => match scalar(v) {
                Some(text) => pick(&mut s.fencing, &text, &FENCING_MODES, "fencing", notes),
                None => notes.push("fencing is not a string: taken as watchdog".into()),
            },
        }
        s
    }
}

/// A JSON scalar as text (`1`, `true`, `"static"`), `None` for arrays and objects.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The sub-keys of a property-string option, given as an object (what GET returns) or as its string form, where
/// a bare first value is the default key (`migrate` for `shutdown_policy=migrate`).
fn sub_keys(
    v: Option<&Value>,
    default_key: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                if let Some(text) = scalar(v) {
                    out.insert(k.clone(), text);
                }
            }
        }
        Some(Value::String(text)) => {
            for (i, part) in text.split(',').map(str::trim).enumerate() {
                match part.split_once('=') {
                    Some((k, v)) => {
                        out.insert(k.trim().to_string(), v.trim().to_string());
                    }
                    None if i == 0 && !part.is_empty() => {
                        out.insert(default_key.to_string(), part.to_string());
                    }
                    None => {}
                }
            }
        }
        Some(_) => notes.push(format!(
            "/cluster/options '{name}' is neither an object nor a property string: its defaults apply"
        )),
    }
    out
}

fn pick(slot: &mut String, value: &str, allowed: &[&str], name: &str, notes: &mut Vec<String>) {
    if allowed.contains(&value) {
        *slot = value.to_string();
    } else {
        notes.push(format!(
            "{name} '{value}' is not one of {}: taken as {slot}",
            allowed.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn absent_options_are_the_defaults() {
        let mut notes = Vec::new();
        assert_eq!(
            HaSettings::from_options(&json!({"keyboard": "en-us"}), &mut notes),
            HaSettings::default()
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn object_and_property_string_forms_read_alike() {
        let mut notes = Vec::new();
        let object = HaSettings::from_options(
            &json!({"ha": {"shutdown_policy": "migrate"}, "crs": {"ha": "static", "ha-rebalance-on-start": 1}, "fencing": "hardware"}),
            &mut notes,
        );
        let text = HaSettings::from_options(
            &json!({"ha": "shutdown_policy=migrate", "crs": "ha=static,ha-rebalance-on-start=1", "fencing": "hardware"}),
            &mut notes,
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(object, text);
        assert_eq!(object.shutdown_policy, "migrate");
        assert_eq!(object.crs, "static");
        assert!(object.rebalance_on_start);
        assert_eq!(object.fencing, "hardware");
    }

    #[test]
    fn odd_values_are_notes_and_defaults() {
        let mut notes = Vec::new();
        let s = HaSettings::from_options(
            &json!({"ha": {"shutdown_policy": "explode"}, "crs": 7, "fencing": ["x"]}),
            &mut notes,
        );
        assert_eq!(s, HaSettings::default());
        assert_eq!(notes.len(), 3, "{notes:?}");
        let mut notes = Vec::new();
        assert_eq!(
            HaSettings::from_options(&json!("nonsense"), &mut notes),
            HaSettings::default()
        );
        assert_eq!(notes.len(), 1);
    }
}
