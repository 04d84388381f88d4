//! Converters between the generated protobuf types and the crate's own types. This is the only place
//! the two meet; nothing generated leaves the `server` module.

use super::proto::tfplugin6 as pb;
use crate::diag::{AttributePath, Diagnostic, Diagnostics, PathStep, Severity};
use crate::schema::{Attribute, Nesting, Schema};
use crate::value::{Dynamic, Type};

/// Decodes an optional `DynamicValue` (msgpack preferred, JSON accepted); absent means null.
pub(crate) fn decode_value(
    v: Option<&pb::DynamicValue>,
    ty: &Type,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Dynamic> {
    let Some(v) = v else {
        return Some(Dynamic::Null);
    };
    let decoded = if !v.msgpack.is_empty() {
        Dynamic::from_msgpack(&v.msgpack, ty)
    } else if !v.json.is_empty() {
        Dynamic::from_json(&v.json, ty)
    } else {
        Ok(Dynamic::Null)
    };
    match decoded {
        Ok(d) => Some(d),
        Err(e) => {
            diags.error(
                format!("Invalid {what}"),
                format!("Terraform sent a {what} the provider cannot decode: {e}."),
            );
            None
        }
    }
}

/// Encodes a value as a msgpack `DynamicValue`.
pub(crate) fn encode_value(
    v: &Dynamic,
    ty: &Type,
    diags: &mut Diagnostics,
) -> Option<pb::DynamicValue> {
    match v.to_msgpack(ty) {
        Ok(msgpack) => Some(pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        }),
        Err(e) => {
            diags.error(
                "Provider produced an invalid value",
                format!("The value could not be encoded: {e}."),
            );
            None
        }
    }
}

/// Converts diagnostics to the wire.
pub(crate) fn diagnostics(d: Diagnostics) -> Vec<pb::Diagnostic> {
    d.into_vec().into_iter().map(diagnostic).collect()
}

fn diagnostic(d: Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error as i32,
            Severity::Warning => pb::diagnostic::Severity::Warning as i32,
        },
        summary: d.summary,
        detail: d.detail,
        attribute: d.attribute.map(path),
    }
}

/// Converts an attribute path to the wire.
pub(crate) fn path(p: AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    let steps =
        p.0.into_iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(a) => Selector::AttributeName(a),
                    PathStep::Key(k) => Selector::ElementKeyString(k),
                    PathStep::Index(i) => Selector::ElementKeyInt(i),
                }),
            })
            .collect();
    pb::AttributePath { steps }
}

/// Converts a schema to the wire.
pub(crate) fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(pb::schema::Block {
            version: s.version,
            attributes: s.block.attributes.iter().map(attribute).collect(),
            block_types: Vec::new(),
            description: s.block.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: s.block.deprecated,
        }),
    }
}

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    let nested_type = a.nested.as_ref().map(|n| pb::schema::Object {
        attributes: n.attributes.iter().map(attribute).collect(),
        nesting: match n.nesting {
            Nesting::Single => pb::schema::object::NestingMode::Single,
            Nesting::List => pb::schema::object::NestingMode::List,
            Nesting::Set => pb::schema::object::NestingMode::Set,
            Nesting::Map => pb::schema::object::NestingMode::Map,
        } as i32,
    });
    pb::schema::Attribute {
        name: a.name.clone(),
        // A nested attribute's type is carried by nested_type alone.
        r#type: if nested_type.is_some() {
            Vec::new()
        } else {
            a.ty.to_json()
        },
        nested_type,
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: a.deprecated,
        write_only: false,
    }
}
