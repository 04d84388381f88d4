//! `--write-docs DIR`: renders the registry-layout docs from the schemas this provider serves (descriptions are
//! the model structs' doc comments), the files under `examples/` and the audit's finding catalog, so the reference
//! cannot drift from the code. Only the marked regions of a page are generated; prose around them is kept.
//! It writes files and nothing else; the staleness test below fails when `docs/` differs from what it would write.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tfplugin::schema::{Attribute, Nesting};
use tfplugin::{Provider, Schema, Type};

use crate::provider::{Config, Pveha};

/// What a page documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Provider,
    Resource,
    DataSource,
}

/// One page to render: where it goes, what it documents and the schema that is its reference.
struct Page {
    path: PathBuf,
    kind: Kind,
    type_name: String,
    schema: Schema,
    /// The model's JSON schema, where object-typed attributes find their fields' descriptions.
    json: serde_json::Value,
}

/// The JSON schema of a model, inlined as the framework derives it.
fn json_schema<M: schemars::JsonSchema>() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    generator.into_root_schema_for::<M>().to_value()
}

/// The JSON schema of a data source's model (resources have no object-typed attributes).
fn model_json(type_name: &str) -> serde_json::Value {
    match type_name {
        "pveha_audit" => json_schema::<crate::data_sources::audit::AuditModel>(),
        "pveha_cluster" => json_schema::<crate::data_sources::cluster::ClusterModel>(),
        _ => serde_json::Value::Null,
    }
}

/// Renders every generated page under `docs`; returns (path, content) pairs in a stable order.
pub fn render_all(docs: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let examples = docs.join("..").join("examples");
    let mut out = Vec::new();
    for page in pages(docs)? {
        let existing = read_optional(&page.path)?;
        let text = render_page(&page, &examples, existing.as_deref())?;
        out.push((page.path, text));
    }
    let findings = docs.join("guides").join("findings.md");
    let existing = read_optional(&findings)?;
    out.push((findings, render_findings(existing.as_deref())?));
    Ok(out)
}

/// Writes the rendered pages; for `terraform-provider-pveha --write-docs DIR`.
pub fn write_all(docs: &Path) -> Result<usize, String> {
    let pages = render_all(docs)?;
    for (path, text) in &pages {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(pages.len())
}

/// The pages: the provider, then each resource and data source.
fn pages(docs: &Path) -> Result<Vec<Page>, String> {
    let provider = Pveha;
    let mut pages = vec![Page {
        path: docs.join("index.md"),
        kind: Kind::Provider,
        type_name: provider.type_name().to_string(),
        schema: Schema::of::<Config>(0).map_err(|e| e.to_string())?,
        json: serde_json::Value::Null,
    }];
    for r in provider.resources() {
        let name = r.type_name().to_string();
        pages.push(Page {
            path: docs.join("resources").join(format!("{}.md", short(&name))),
            kind: Kind::Resource,
            schema: r.schema().map_err(|e| e.to_string())?,
            json: model_json(&name),
            type_name: name,
        });
    }
    for d in provider.data_sources() {
        let name = d.type_name().to_string();
        pages.push(Page {
            path: docs
                .join("data-sources")
                .join(format!("{}.md", short(&name))),
            kind: Kind::DataSource,
            schema: d.schema().map_err(|e| e.to_string())?,
            json: model_json(&name),
            type_name: name,
        });
    }
    Ok(pages)
}

/// The type name without the provider prefix: the file name of its page.
fn short(type_name: &str) -> &str {
    type_name.strip_prefix("pveha_").unwrap_or(type_name)
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn read_example(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|t| t.trim_end().to_string())
        .map_err(|e| {
            format!(
                "cannot read the example {}: {e} (every documented type needs one)",
                path.display()
            )
        })
}

fn begin(region: &str) -> String {
    format!("<!-- BEGIN GENERATED: {region} (terraform-provider-pveha --write-docs; edit the source, not this) -->")
}

fn end(region: &str) -> String {
    format!("<!-- END GENERATED: {region} -->")
}

fn region(name: &str, body: &str) -> String {
    format!("{}\n{}\n{}", begin(name), body.trim_end(), end(name))
}

/// Replaces the body of each named region of `page`; a region the page lacks is an error naming it.
fn fill_regions(page: &str, regions: &[(&str, String)]) -> Result<String, String> {
    let mut out = page.to_string();
    for (name, body) in regions {
        let (b, e) = (begin(name), end(name));
        let start = out
            .find(&b)
            .ok_or_else(|| format!("the page has no `{b}` marker"))?;
        let stop = out[start..]
            .find(&e)
            .map(|i| start + i)
            .ok_or_else(|| format!("the page has no `{e}` marker"))?;
        out.replace_range(start..stop + e.len(), &region(name, body));
    }
    Ok(out)
}

/// Replaces (or adds) the YAML front matter the registry reads.
fn with_front_matter(front: &str, body: &str) -> String {
    let rest = match body.strip_prefix("---\n") {
        Some(r) if r.starts_with("---\n") => &r[4..],
        Some(r) => r.find("\n---\n").map_or(body, |i| &r[i + 5..]),
        None => body,
    };
    format!("{front}\n{}", rest.trim_start_matches('\n'))
}

/// The first paragraph of a description, on one line, for the front matter.
fn summary(description: &str) -> String {
    description
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn render_page(page: &Page, examples: &Path, existing: Option<&str>) -> Result<String, String> {
    let (label, dir, file) = match page.kind {
        Kind::Provider => ("Provider", PathBuf::from("provider"), "provider.tf"),
        Kind::Resource => (
            "Resource",
            Path::new("resources").join(&page.type_name),
            "resource.tf",
        ),
        Kind::DataSource => (
            "Data Source",
            Path::new("data-sources").join(&page.type_name),
            "data-source.tf",
        ),
    };
    let example = read_example(&examples.join(&dir).join(file))?;
    let mut regions = vec![
        ("description", page.schema.block.description.clone()),
        ("example", format!("```terraform\n{example}\n```")),
        (
            "schema",
            schema_markdown(&page.schema, page.kind, &page.json),
        ),
    ];
    if page.kind == Kind::Resource {
        let import = read_example(&examples.join(&dir).join("import.sh"))?;
        regions.push((
            "import",
            format!("Import is supported using the following syntax:\n\n```shell\n{import}\n```"),
        ));
    }
    let front = match page.kind {
        Kind::Provider => format!(
            "---\npage_title: \"Provider: {name}\"\ndescription: |-\n  {}\n---\n",
            summary(&page.schema.block.description),
            name = page.type_name
        ),
        _ => format!(
            "---\npage_title: \"{name} {label} - {provider}\"\nsubcategory: \"\"\ndescription: |-\n  {}\n---\n",
            summary(&page.schema.block.description),
            name = page.type_name,
            provider = "pveha",
        ),
    };
    let skeleton = match existing {
        Some(text) => text.to_string(),
        None => skeleton(page, label),
    };
    let body =
        fill_regions(&skeleton, &regions).map_err(|e| format!("{}: {e}", page.path.display()))?;
    Ok(with_front_matter(&front, &body))
}

/// The layout of a page that does not exist yet.
fn skeleton(page: &Page, label: &str) -> String {
    let mut s = match page.kind {
        Kind::Provider => format!("# {} Provider\n\n", page.type_name),
        _ => format!("# {} ({label})\n\n", page.type_name),
    };
    let _ = write!(
        s,
        "{}\n\n## Example Usage\n\n{}\n\n{}\n",
        region("description", ""),
        region("example", ""),
        region("schema", "")
    );
    if page.kind == Kind::Resource {
        let _ = write!(s, "\n## Import\n\n{}\n", region("import", ""));
    }
    s
}

/// The reference: Required, Optional, Read-Only, then each nested object's attributes.
fn schema_markdown(schema: &Schema, kind: Kind, json: &serde_json::Value) -> String {
    let mut out = String::from(if kind == Kind::Provider {
        "## Schema\n"
    } else {
        "## Argument and Attribute Reference\n"
    });
    let mut nested = Vec::new();
    groups(
        &mut out,
        &schema.block.attributes,
        "",
        &mut nested,
        true,
        json,
    );
    while let Some((anchor, title, attrs)) = nested.first().cloned() {
        nested.remove(0);
        let _ = write!(
            out,
            "\n<a id=\"{anchor}\"></a>\n### Nested Schema for `{title}`\n"
        );
        let mut more = Vec::new();
        groups(&mut out, &attrs, &title, &mut more, false, json);
        nested.extend(more);
    }
    out
}

type NestedList = Vec<(String, String, Vec<Attribute>)>;

/// A reference section: its title and which attributes belong in it.
type Section = (&'static str, fn(&Attribute) -> bool);

fn groups(
    out: &mut String,
    attrs: &[Attribute],
    parent: &str,
    nested: &mut NestedList,
    top: bool,
    json: &serde_json::Value,
) {
    let sections: [Section; 3] = [
        ("Required", |a| a.required),
        ("Optional", |a| a.optional && !a.required),
        ("Read-Only", |a| a.computed && !a.optional && !a.required),
    ];
    for (title, keep) in sections {
        let chosen: Vec<&Attribute> = attrs.iter().filter(|a| keep(a)).collect();
        if chosen.is_empty() {
            continue;
        }
        if top {
            let _ = write!(out, "\n### {title}\n\n");
        } else {
            let _ = write!(out, "\n{title}:\n\n");
        }
        for a in chosen {
            let path = if parent.is_empty() {
                a.name.clone()
            } else {
                format!("{parent}.{}", a.name)
            };
            let anchor = format!("nestedatt--{}", path.replace('.', "--"));
            let _ = write!(
                out,
                "- `{}` ({}) {}",
                a.name,
                flags(a),
                one_line(&a.description)
            );
            if let Some(n) = &a.nested {
                let _ = write!(out, " (see [below for nested schema](#{anchor}))");
                nested.push((anchor, path, n.attributes.clone()));
            } else if let Some(fields) = object_fields(&a.ty) {
                let _ = write!(out, " (see [below for nested schema](#{anchor}))");
                let children = object_children(fields, object_schema(json, &path));
                nested.push((anchor, path, children));
            }
            out.push('\n');
        }
    }
}

/// The fields of the object type inside `t` (an object, or a list, set or map of objects).
fn object_fields(t: &Type) -> Option<&std::collections::BTreeMap<String, Type>> {
    match t {
        Type::Object(fields) => Some(fields),
        Type::List(e) | Type::Set(e) | Type::Map(e) => object_fields(e),
        _ => None,
    }
}

/// The JSON schema of the object at the dotted `path` of a model's schema, through the wrappers that lists,
/// maps and nullable values put around it.
fn object_schema<'a>(root: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = root;
    for seg in path.split('.') {
        cur = unwrap_object(cur.get("properties")?.get(seg)?)?;
    }
    Some(cur)
}

fn unwrap_object(s: &serde_json::Value) -> Option<&serde_json::Value> {
    if s.get("properties").is_some() {
        return Some(s);
    }
    if let Some(items) = s.get("items") {
        return unwrap_object(items);
    }
    if let Some(values) = s.get("additionalProperties").filter(|v| v.is_object()) {
        return unwrap_object(values);
    }
    ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| s.get(*k).and_then(serde_json::Value::as_array))
        .flatten()
        .find_map(unwrap_object)
}

/// Read-only attributes for an object type's fields, in the model's declaration order when its schema is known,
/// with the fields' doc comments as descriptions.
fn object_children(
    fields: &std::collections::BTreeMap<String, Type>,
    schema: Option<&serde_json::Value>,
) -> Vec<Attribute> {
    let props = schema
        .and_then(|s| s.get("properties"))
        .and_then(serde_json::Value::as_object);
    let mut names: Vec<&String> = match props {
        Some(p) => p.keys().filter(|k| fields.contains_key(*k)).collect(),
        None => Vec::new(),
    };
    names.extend(
        fields
            .keys()
            .filter(|k| !names.contains(k))
            .collect::<Vec<_>>(),
    );
    names
        .into_iter()
        .map(|name| Attribute {
            name: name.clone(),
            ty: fields[name].clone(),
            nested: None,
            description: props
                .and_then(|p| p.get(name))
                .and_then(|f| f.get("description"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
            required: false,
            optional: false,
            computed: true,
            sensitive: false,
            deprecated: false,
            requires_replace: false,
            default: None,
        })
        .collect()
}

/// The type plus the flags a user acts on: `String, Sensitive, Forces replacement, Default: \`false\``.
fn flags(a: &Attribute) -> String {
    let mut parts = vec![type_name(a)];
    if a.sensitive {
        parts.push("Sensitive".into());
    }
    if a.requires_replace {
        parts.push("Forces replacement".into());
    }
    if a.deprecated {
        parts.push("Deprecated".into());
    }
    if let Some(d) = &a.default {
        let json = d
            .to_json(&a.value_type())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        parts.push(format!("Default: `{json}`"));
    }
    parts.join(", ")
}

fn type_name(a: &Attribute) -> String {
    match &a.nested {
        Some(n) => match n.nesting {
            Nesting::Single => "Attributes".into(),
            Nesting::List => "Attributes List".into(),
            Nesting::Set => "Attributes Set".into(),
            Nesting::Map => "Attributes Map".into(),
        },
        None => words(&a.ty),
    }
}

fn words(t: &Type) -> String {
    match t {
        Type::String => "String".into(),
        Type::Number => "Number".into(),
        Type::Bool => "Boolean".into(),
        Type::List(e) => format!("List of {}", words(e)),
        Type::Set(e) => format!("Set of {}", words(e)),
        Type::Map(e) => format!("Map of {}", words(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
        Type::Dynamic => "Dynamic".into(),
    }
}

/// A description on one line (list items cannot hold paragraph breaks).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The findings catalog guide: every code of `pveha_audit::CATALOG`.
fn render_findings(existing: Option<&str>) -> Result<String, String> {
    let mut body = format!("**Risk rule:** {}.\n\n", pveha_audit::risk::RULE);
    let _ = writeln!(body, "| Code | Default severity |\n|---|---|");
    for (code, severity, _, _) in pveha_audit::CATALOG {
        let _ = writeln!(body, "| [`{code}`](#{code}) | {severity} |");
    }
    for (code, severity, raises, fix) in pveha_audit::CATALOG {
        let _ = write!(body, "\n### `{code}`\n\n**Default severity:** {severity}\n\n**Raised when:** {raises}\n\n**Fix:** {fix}\n");
    }
    let skeleton = existing
        .map(str::to_string)
        .unwrap_or_else(|| format!("# Findings catalog\n\n{}\n", region("catalog", "")));
    let filled = fill_regions(&skeleton, &[("catalog", body)])
        .map_err(|e| format!("docs/guides/findings.md: {e}"))?;
    let front = "---\npage_title: \"Findings catalog\"\nsubcategory: \"Guides\"\ndescription: |-\n  Every finding code the HA audit raises, what raises it and how to fix it.\n---\n";
    Ok(with_front_matter(front, &filled))
}

/// Every page `docs/` should have for the documented types (for the staleness test's "no orphan page" check).
#[cfg(test)]
pub fn expected_reference_files(
    docs: &Path,
) -> Result<std::collections::BTreeSet<PathBuf>, String> {
    Ok(pages(docs)?
        .into_iter()
        .map(|p| p.path)
        .filter(|p| !p.ends_with("index.md"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("docs")
    }

    #[test]
    fn docs_are_what_the_schemas_and_examples_generate() {
        let rendered = render_all(&docs_dir()).unwrap_or_else(|e| panic!("{e}"));
        let mut stale = Vec::new();
        for (path, text) in &rendered {
            if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        assert!(stale.is_empty(), "stale docs (run `make docs`): {stale:?}");
    }

    #[test]
    fn no_reference_page_documents_a_type_the_provider_does_not_serve() {
        let expected = expected_reference_files(&docs_dir()).unwrap_or_else(|e| panic!("{e}"));
        for dir in ["resources", "data-sources"] {
            let Ok(entries) = std::fs::read_dir(docs_dir().join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = docs_dir().join(dir).join(entry.file_name());
                assert!(
                    expected.contains(&path),
                    "{} documents no served type",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn regions_are_replaced_and_prose_around_them_kept() {
        let page = format!(
            "# T\n\nintro\n\n{}\n\nhand-written\n",
            region("schema", "old")
        );
        let out = fill_regions(&page, &[("schema", "new".to_string())]).unwrap();
        assert!(out.contains("intro") && out.contains("hand-written") && out.contains("\nnew\n"));
        assert!(!out.contains("old"));
        assert!(fill_regions("# no markers", &[("schema", String::new())]).is_err());
    }

    #[test]
    fn front_matter_is_replaced_not_duplicated() {
        let once = with_front_matter("---\na: 1\n---\n", "# Body\n");
        let twice = with_front_matter("---\na: 2\n---\n", &once);
        assert_eq!(twice, "---\na: 2\n---\n\n# Body\n");
        assert_eq!(
            with_front_matter("---\na: 3\n---\n", "---\n---\n# Body\n"),
            "---\na: 3\n---\n\n# Body\n"
        );
    }

    #[test]
    fn the_reference_lists_types_flags_and_nested_attributes() {
        let schema = crate::data_sources::audit::AuditDataSource;
        let s = tfplugin::DataSource::type_name(&schema);
        assert_eq!(s, "pveha_audit");
        let schema = Schema::of::<crate::data_sources::audit::AuditModel>(0).unwrap();
        let md = schema_markdown(&schema, Kind::DataSource, &model_json("pveha_audit"));
        assert!(md.contains("- `fail_on` (String) "), "{md}");
        assert!(
            md.contains("- `critical_tags` (List of String, Default: `[\"critical\"]`)"),
            "{md}"
        );
        assert!(md.contains("- `findings` (List of Object) "), "{md}");
        assert!(
            md.contains("- `remediation_hcl` (String) The pveha resources that fix it"),
            "{md}"
        );
        assert!(md.contains("### Nested Schema for `findings`"), "{md}");
        assert!(md.contains("- `rto_seconds` (Map of Number) "), "{md}");
    }
}
