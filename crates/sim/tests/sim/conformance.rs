//! Every parameter spec the simulator encodes equals the official API schema (`pve-apischema-pve{8,9}.json`,
//! read from `PVEHA_APISCHEMA_DIR` or the `shared/` folder beside the repository). A missing file fails.

use std::collections::BTreeSet;
use std::path::PathBuf;

use pveha_sim::params::{ParamSpec, Ty};
use pveha_sim::specs::{self, Major};
use serde_json::Value;

fn schema(file: &str) -> Value {
    let dir = std::env::var("PVEHA_APISCHEMA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the official API schema {} is required (set PVEHA_APISCHEMA_DIR): {e}",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("schema is JSON")
}

fn check(major: Major, file: &str) -> usize {
    let doc = schema(file);
    let mut checked = 0;
    for (method, path) in specs::endpoints(major) {
        let official = &doc["paths"][path][method]["parameters"];
        assert!(
            official.is_object(),
            "{file}: {method} {path} is not in the schema"
        );
        assert_eq!(official["additionalProperties"], 0, "{method} {path}");
        let props = official["properties"]
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
    let ty = match ours.ty {
        Ty::String => "string",
        Ty::Integer => "integer",
        Ty::Boolean => "boolean",
        Ty::Number => "number",
    };
    assert_eq!(theirs["type"], ty, "{at}: type");
    assert_eq!(
        theirs["optional"].as_i64() == Some(1),
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

#[test]
fn pve8_specs_match_the_official_schema() {
    assert!(check(Major::Pve8, "pve-apischema-pve8.json") > 200);
}

#[test]
fn pve9_specs_match_the_official_schema() {
    assert!(check(Major::Pve9, "pve-apischema-pve9.json") > 200);
}
