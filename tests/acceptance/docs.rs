//! The docs against the schemas Terraform actually receives: `terraform providers schema -json` lists every
//! attribute of the provider, each resource and each data source, and each must appear in its `docs/` page
//! with its type (nested attributes in their "Nested Schema" section). Complements the provider's own
//! staleness test, which renders the pages and compares them byte for byte.

use anyhow::{Context, Result};
use pveha_acceptance::{workspace_root, Workdir};
use serde_json::Value;

use crate::provider_config::{each_terraform, hcl};

/// The words the docs use for a Terraform type (`List of String`, `Map of Number`, …).
fn type_words(ty: &Value) -> String {
    match ty {
        Value::String(s) => match s.as_str() {
            "string" => "String".into(),
            "number" => "Number".into(),
            "bool" => "Boolean".into(),
            other => other.to_string(),
        },
        Value::Array(parts) if parts.len() == 2 && parts[0] == "object" => "Object".into(),
        Value::Array(parts) if parts.len() == 2 => {
            let outer = match parts[0].as_str() {
                Some("list") => "List",
                Some("set") => "Set",
                Some("map") => "Map",
                _ => "Object",
            };
            format!("{outer} of {}", type_words(&parts[1]))
        }
        other => other.to_string(),
    }
}

/// The fields of an object type, or of the objects in a list, set or map type.
fn object_fields(ty: &Value) -> Option<&serde_json::Map<String, Value>> {
    let parts = ty.as_array()?;
    match parts.first()?.as_str()? {
        "object" => parts.get(1)?.as_object(),
        "list" | "set" | "map" => object_fields(parts.get(1)?),
        _ => None,
    }
}

/// Every (path, expected line prefix) of a block's attributes, nested ones included.
fn expected_lines(
    attrs: &serde_json::Map<String, Value>,
    parent: &str,
    out: &mut Vec<(String, String)>,
) {
    for (name, a) in attrs {
        let path = if parent.is_empty() {
            name.clone()
        } else {
            format!("{parent}.{name}")
        };
        let words = match a.get("nested_type") {
            Some(n) => {
                let mode = match n["nesting_mode"].as_str() {
                    Some("list") => "Attributes List",
                    Some("set") => "Attributes Set",
                    Some("map") => "Attributes Map",
                    _ => "Attributes",
                };
                if let Some(inner) = n["attributes"].as_object() {
                    expected_lines(inner, &path, out);
                }
                mode.to_string()
            }
            None => {
                if let Some(fields) = object_fields(&a["type"]) {
                    let inner: serde_json::Map<String, Value> = fields
                        .iter()
                        .map(|(k, t)| (k.clone(), serde_json::json!({ "type": t })))
                        .collect();
                    expected_lines(&inner, &path, out);
                }
                type_words(&a["type"])
            }
        };
        out.push((path, format!("- `{name}` ({words}")));
    }
}

/// The part of a page documenting `path`'s parent: the whole reference for top-level attributes, else the
/// nested section.
fn section<'a>(page: &'a str, path: &str) -> &'a str {
    match path.rsplit_once('.') {
        None => page,
        Some((parent, _)) => page
            .split(&format!("### Nested Schema for `{parent}`"))
            .nth(1)
            .map(|rest| rest.split("### Nested Schema for").next().unwrap_or(rest))
            .unwrap_or(""),
    }
}

fn check_page(page_path: &str, block: &Value, missing: &mut Vec<String>) -> Result<()> {
    let page = std::fs::read_to_string(workspace_root().join(page_path))
        .with_context(|| page_path.to_string())?;
    let attrs = block["attributes"].as_object().cloned().unwrap_or_default();
    let mut lines = Vec::new();
    expected_lines(&attrs, "", &mut lines);
    for (path, line) in lines {
        if !section(&page, &path).contains(&line) {
            missing.push(format!(
                "{page_path}: {path} (expected a line starting `{line}`)"
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_served_attribute_is_documented_with_its_type() -> Result<()> {
    let tf = &each_terraform()[0];
    let mut w = Workdir::new(tf);
    w.write_config(&hcl(""));
    w.init().await;
    let out = w
        .run(&["providers", "schema", "-json"])
        .await
        .expect_success();
    let json: Value = serde_json::from_str(&out.stdout).context("providers schema -json")?;
    let schemas = &json["provider_schemas"]["registry.terraform.io/pveha/pveha"];
    let mut missing = Vec::new();
    check_page("docs/index.md", &schemas["provider"]["block"], &mut missing)?;
    let mut documented = 0;
    for (kind, dir) in [
        ("resource_schemas", "resources"),
        ("data_source_schemas", "data-sources"),
    ] {
        let types = schemas[kind].as_object().cloned().unwrap_or_default();
        assert!(!types.is_empty(), "the provider serves no {kind}");
        for (name, schema) in types {
            let short = name.strip_prefix("pveha_").unwrap_or(&name);
            check_page(
                &format!("docs/{dir}/{short}.md"),
                &schema["block"],
                &mut missing,
            )?;
            documented += 1;
        }
    }
    assert_eq!(documented, 7, "5 resources and 2 data sources");
    assert!(
        missing.is_empty(),
        "undocumented or mistyped attributes (run `make docs`):\n{}",
        missing.join("\n")
    );
    Ok(())
}
