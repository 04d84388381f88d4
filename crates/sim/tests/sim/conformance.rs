//! Every parameter spec the simulator encodes equals the official API schema, as kept in the repository by
//! `scripts/derive-apischema.py` (`tests/apischema/pve{8,9}.json`, `make apischema`). When the official files
//! are at hand (`PVEHA_APISCHEMA_DIR`), the compact files are also checked to be a faithful derivation of them.

use std::collections::BTreeSet;
use std::path::PathBuf;

use pveha_sim::params::ParamSpec;
use pveha_sim::specs::{self, Major};
use serde_json::Value;

const FORMAT: &str = "pveha-apischema/1";
const TYPES: &[&str] = &[
    "string", "integer", "boolean", "number", "array", "object", "null", "any",
];

/// One of the compact API descriptions kept in the repository (`make apischema` derives them).
pub(crate) fn compact(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/apischema")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} (run `make apischema`): {e}", path.display()));
    serde_json::from_str(&text).expect("compact schema is JSON")
}

fn check(major: Major, file: &str) -> usize {
    let doc = compact(file);
    let mut checked = 0;
    for (method, path) in specs::endpoints(major) {
        let official = &doc["paths"][path][method];
        assert!(
            official.is_object(),
            "{file}: {method} {path} is served but not in the compact schema (add it to \
             scripts/derive-apischema.py and run `make apischema`)"
        );
        assert_eq!(official["additionalProperties"], false, "{method} {path}");
        let props = official["parameters"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let ours = specs::params(major, method, path).expect("spec for served endpoint");
        let our_names: BTreeSet<&str> = ours.iter().map(|s| s.name).collect();
        let their_names: BTreeSet<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(
            our_names, their_names,
            "{file}: {method} {path} parameter names"
        );
        for spec in &ours {
            compare(
                spec,
                &props[spec.name],
                &format!("{file}: {method} {path} {}", spec.name),
            );
            checked += 1;
        }
    }
    checked
}

fn compare(ours: &ParamSpec, theirs: &Value, at: &str) {
    assert_eq!(theirs["type"], ours.ty.as_str(), "{at}: type");
    assert_eq!(
        theirs["optional"].as_bool() == Some(true),
        ours.optional,
        "{at}: optional"
    );
    if ours.opaque {
        return;
    }
    assert_eq!(theirs["format"].as_str(), ours.format, "{at}: format");
    let their_enum: Option<Vec<&str>> = theirs["enum"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    assert_eq!(
        their_enum,
        ours.enumeration.map(|e| e.to_vec()),
        "{at}: enum"
    );
    assert_eq!(theirs["minimum"].as_i64(), ours.minimum, "{at}: minimum");
    assert_eq!(theirs["maximum"].as_i64(), ours.maximum, "{at}: maximum");
    assert_eq!(
        theirs["maxLength"].as_u64(),
        ours.max_length.map(|m| m as u64),
        "{at}: maxLength"
    );
    assert_eq!(theirs["pattern"].as_str(), ours.pattern, "{at}: pattern");
}

/// A schema node in the compact format: a known type, and only the facts the format keeps.
fn well_formed(node: &Value, at: &str) {
    let obj = node
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object"));
    for key in obj.keys() {
        assert!(
            [
                "type",
                "format",
                "enum",
                "minimum",
                "maximum",
                "maxLength",
                "pattern",
                "default",
                "default_key",
                "requires",
                "optional",
                "items",
                "properties",
            ]
            .contains(&key.as_str()),
            "{at}: unexpected key {key}"
        );
    }
    if let Some(ty) = node.get("type") {
        assert!(
            ty.as_str().is_some_and(|t| TYPES.contains(&t)),
            "{at}: type {ty}"
        );
    }
    if let Some(o) = node.get("optional") {
        assert!(o.is_boolean(), "{at}: optional");
    }
    if let Some(e) = node.get("enum") {
        assert!(e.as_array().is_some_and(|a| !a.is_empty()), "{at}: enum");
    }
    if let Some(items) = node.get("items") {
        well_formed(items, &format!("{at}[]"));
    }
    for (k, v) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        well_formed(v, &format!("{at}.{k}"));
    }
}

fn check_well_formed(file: &str) -> usize {
    let doc = compact(file);
    assert_eq!(doc["format"], FORMAT, "{file}: format");
    assert!(
        doc["source"].as_str().is_some_and(|s| !s.is_empty()),
        "{file}: source"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut endpoints = 0;
    for (path, methods) in paths {
        assert!(path.starts_with('/'), "{file}: {path}");
        for (method, entry) in methods.as_object().expect("methods") {
            assert!(
                ["GET", "POST", "PUT", "DELETE"].contains(&method.as_str()),
                "{file}: {method} {path}"
            );
            assert!(entry["additionalProperties"].is_boolean());
            for (name, spec) in entry["parameters"].as_object().expect("parameters") {
                well_formed(spec, &format!("{file}: {method} {path} {name}"));
                assert!(spec.get("type").is_some(), "{method} {path} {name}: type");
            }
            if let Some(r) = entry.get("returns") {
                well_formed(r, &format!("{file}: {method} {path} returns"));
            }
            endpoints += 1;
        }
    }
    endpoints
}

/// The official file, when `PVEHA_APISCHEMA_DIR` names a folder holding it.
fn official(file: &str) -> Option<Value> {
    let dir = PathBuf::from(std::env::var_os("PVEHA_APISCHEMA_DIR")?);
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Each compact parameter keeps its official type, optionality and scalar constraints.
fn faithful(compact_file: &str, official_file: &str) {
    let Some(full) = official(official_file) else {
        return;
    };
    let doc = compact(compact_file);
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        for (method, entry) in methods.as_object().expect("methods") {
            let theirs = &full["paths"][path][method]["parameters"]["properties"];
            let ours = entry["parameters"].as_object().expect("parameters");
            let their_names: BTreeSet<&String> = theirs
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .collect();
            assert_eq!(
                ours.keys().collect::<BTreeSet<_>>(),
                their_names,
                "{method} {path}: stale, run `make apischema`"
            );
            for (name, spec) in ours {
                let t = &theirs[name];
                for key in ["type", "enum", "minimum", "maximum", "maxLength", "pattern"] {
                    assert_eq!(spec.get(key), t.get(key), "{method} {path} {name} {key}");
                }
                assert_eq!(
                    spec["optional"].as_bool() == Some(true),
                    t["optional"].as_i64() == Some(1),
                    "{method} {path} {name} optional"
                );
            }
        }
    }
}

#[test]
fn pve8_specs_match_the_official_schema() {
    assert!(check(Major::Pve8, "pve8.json") > 200);
}

#[test]
fn pve9_specs_match_the_official_schema() {
    assert!(check(Major::Pve9, "pve9.json") > 200);
}

#[test]
fn compact_schemas_are_well_formed_and_cover_the_client_paths() {
    for file in ["pve8.json", "pve9.json"] {
        assert!(check_well_formed(file) >= 38, "{file}");
        let doc = compact(file);
        // Paths the client or real tools call that the simulator may serve without a spec of its own yet.
        for (method, path) in [
            ("PUT", "/cluster/options"),
            ("GET", "/cluster/nextid"),
            ("GET", "/nodes/{node}/lxc"),
            ("GET", "/nodes/{node}/qemu"),
            ("GET", "/nodes/{node}/lxc/{vmid}/status/current"),
            ("GET", "/nodes/{node}/qemu/{vmid}/status/current"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{file}: {method} {path}"
            );
        }
    }
    assert!(compact("pve9.json")["paths"]["/cluster/ha/rules"]["POST"].is_object());
    assert!(compact("pve8.json")["paths"]["/cluster/ha/rules"].is_null());
}

#[test]
fn compact_schemas_are_derived_from_the_official_files_when_present() {
    faithful("pve8.json", "pve-apischema-pve8.json");
    faithful("pve9.json", "pve-apischema-pve9.json");
}
