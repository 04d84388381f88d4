//! Terraform schemas derived from a model struct's schemars `JsonSchema`, so the struct is the schema.
//! Field doc comments become Markdown descriptions; `Value<T>`/`Option<T>` fields are optional, plain
//! fields required; flags come from `#[schemars(extend("x-tf-…" = …))]` keywords (see the crate docs).

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value as Json};

use crate::value::{Dynamic, Type};

/// Keyword marking an attribute computed by the provider.
pub const COMPUTED: &str = "x-tf-computed";
/// Keyword making a computed attribute also settable in configuration.
pub const OPTIONAL: &str = "x-tf-optional";
/// Keyword making a `Value<T>` attribute required (so it may still be unknown during plan).
pub const REQUIRED: &str = "x-tf-required";
/// Keyword marking an attribute sensitive: Terraform masks it in output, and it is never logged.
pub const SENSITIVE: &str = "x-tf-sensitive";
/// Keyword making a change of the attribute replace the resource.
pub const REPLACE: &str = "x-tf-replace";
/// Keyword giving the attribute's default (a JSON value); implies optional + computed.
pub const DEFAULT: &str = "x-tf-default";
/// Keyword sending an object-valued attribute as protocol-6 nested attributes instead of an object type.
/// Off by default: Terraform 1.0 crashes planning a null nested attribute, while object types work everywhere.
pub const NESTED: &str = "x-tf-nested";
/// Keyword marking an attribute deprecated.
pub const DEPRECATED: &str = "x-tf-deprecated";

/// Why a model could not be turned into a schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema of {model}: {message}")]
pub struct SchemaError {
    /// The Rust type.
    pub model: String,
    /// What is unsupported.
    pub message: String,
}

/// A versioned schema of a provider configuration, resource or data source.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Schema version; stored state of an older version goes through the resource's upgrade.
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

/// A block: attributes plus a Markdown description.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    /// Attributes in declaration order.
    pub attributes: Vec<Attribute>,
    /// Markdown description (the struct's doc comment).
    pub description: String,
    /// Whether the whole block is deprecated.
    pub deprecated: bool,
}

/// How a nested attribute nests its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// One object.
    Single,
    /// A list of objects.
    List,
    /// A set of objects.
    Set,
    /// A map of objects.
    Map,
}

/// Attributes nested inside an attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedType {
    /// The nested object's attributes.
    pub attributes: Vec<Attribute>,
    /// How the objects nest.
    pub nesting: Nesting,
}

/// One attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// The attribute name (the serde field name).
    pub name: String,
    /// The type, for attributes that are not nested.
    pub ty: Type,
    /// Nested attributes, for object-valued attributes.
    pub nested: Option<NestedType>,
    /// Markdown description (the field's doc comment).
    pub description: String,
    /// Must be set in configuration.
    pub required: bool,
    /// May be set in configuration.
    pub optional: bool,
    /// Set by the provider (possibly as well as by configuration when `optional`).
    pub computed: bool,
    /// Masked in Terraform's output; never logged.
    pub sensitive: bool,
    /// Deprecated.
    pub deprecated: bool,
    /// A change forces replacement (framework-only; not sent to Terraform).
    pub requires_replace: bool,
    /// Planned when configuration leaves the attribute null (framework-only).
    pub default: Option<Dynamic>,
}

impl Schema {
    /// Derives the schema of model `M` at `version`.
    pub fn of<M: JsonSchema>(version: i64) -> Result<Schema, SchemaError> {
        let generator = SchemaSettings::draft07()
            .with(|s| s.inline_subschemas = true)
            .into_generator();
        let root = generator.into_root_schema_for::<M>();
        let fail = |message: String| SchemaError {
            model: M::schema_name().into_owned(),
            message,
        };
        let obj = root
            .as_object()
            .ok_or_else(|| fail("the root schema is not an object".into()))?;
        let attributes = attributes_of(obj).map_err(fail)?;
        let block = Block {
            attributes,
            description: text(obj, "description"),
            deprecated: flag(obj, DEPRECATED),
        };
        Ok(Schema { version, block })
    }

    /// The object type of values of this schema.
    pub fn value_type(&self) -> Type {
        object_type(&self.block.attributes)
    }

    /// Names of sensitive attributes at the top level, for keeping them out of logs.
    pub fn sensitive_attributes(&self) -> impl Iterator<Item = &str> {
        self.block
            .attributes
            .iter()
            .filter(|a| a.sensitive)
            .map(|a| a.name.as_str())
    }
}

impl Attribute {
    /// The type of this attribute's values (derived from nested attributes when nested).
    pub fn value_type(&self) -> Type {
        match &self.nested {
            None => self.ty.clone(),
            Some(n) => {
                let obj = object_type(&n.attributes);
                match n.nesting {
                    Nesting::Single => obj,
                    Nesting::List => Type::List(Box::new(obj)),
                    Nesting::Set => Type::Set(Box::new(obj)),
                    Nesting::Map => Type::Map(Box::new(obj)),
                }
            }
        }
    }
}

fn object_type(attrs: &[Attribute]) -> Type {
    Type::Object(
        attrs
            .iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect(),
    )
}

fn text(obj: &Map<String, Json>, key: &str) -> String {
    obj.get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

fn flag(obj: &Map<String, Json>, key: &str) -> bool {
    obj.get(key).and_then(Json::as_bool).unwrap_or(false)
}

fn attributes_of(obj: &Map<String, Json>) -> Result<Vec<Attribute>, String> {
    let Some(props) = obj.get("properties").and_then(Json::as_object) else {
        return Ok(Vec::new());
    };
    props.iter().map(|(name, s)| attribute(name, s)).collect()
}

/// Splits "nullable" off a property schema: `Option<T>` (type list with null, or anyOf with null) and `Value<T>`.
fn strip_null(schema: &Json) -> (Map<String, Json>, bool) {
    let mut obj = schema.as_object().cloned().unwrap_or_default();
    let mut nullable = obj
        .remove(crate::value::NULLABLE_KEYWORD)
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if let Some(Json::Array(types)) = obj.get("type").cloned() {
        let rest: Vec<Json> = types.into_iter().filter(|t| t != "null").collect();
        if rest.len() == 1 {
            nullable = true;
            obj.insert("type".into(), rest[0].clone());
        }
    }
    if let Some(Json::Array(any)) = obj.get("anyOf").cloned() {
        let (nulls, rest): (Vec<Json>, Vec<Json>) = any
            .into_iter()
            .partition(|s| s.get("type") == Some(&Json::from("null")));
        if !nulls.is_empty() && rest.len() == 1 {
            nullable = true;
            obj.remove("anyOf");
            if let Some(inner) = rest[0].as_object() {
                for (k, v) in inner {
                    obj.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    (obj, nullable)
}

fn attribute(name: &str, schema: &Json) -> Result<Attribute, String> {
    let (obj, nullable) = strip_null(schema);
    let (ty, mut nested) = shape(&obj).map_err(|e| format!("attribute {name}: {e}"))?;
    if !flag(&obj, NESTED) {
        nested = None;
    }
    let default = match obj.get(DEFAULT) {
        None => None,
        Some(j) => Some(
            Dynamic::from_json(j.to_string().as_bytes(), &ty)
                .map_err(|e| format!("attribute {name}: default: {e}"))?,
        ),
    };
    let computed = flag(&obj, COMPUTED) || default.is_some();
    let required = flag(&obj, REQUIRED) || (!nullable && !computed);
    let optional = !required && (!computed || flag(&obj, OPTIONAL) || default.is_some());
    Ok(Attribute {
        name: name.to_string(),
        ty,
        nested,
        description: text(&obj, "description"),
        required,
        optional,
        computed,
        sensitive: flag(&obj, SENSITIVE),
        deprecated: flag(&obj, DEPRECATED),
        requires_replace: flag(&obj, REPLACE),
        default,
    })
}

/// The type of a (null-stripped) schema, and its nested attributes when it holds objects with properties.
fn shape(obj: &Map<String, Json>) -> Result<(Type, Option<NestedType>), String> {
    if obj.contains_key("$ref") {
        return Err("references are not supported (schemas are generated inline)".into());
    }
    let nested =
        |inner: &Json, nesting: Nesting| -> Result<Option<(Type, Option<NestedType>)>, String> {
            let (inner, _) = strip_null(inner);
            if inner.get("properties").is_none() {
                return Ok(None);
            }
            let attributes = attributes_of(&inner)?;
            let n = NestedType {
                attributes,
                nesting,
            };
            let ty = Attribute {
                name: String::new(),
                ty: Type::Dynamic,
                nested: Some(n.clone()),
                description: String::new(),
                required: false,
                optional: false,
                computed: false,
                sensitive: false,
                deprecated: false,
                requires_replace: false,
                default: None,
            }
            .value_type();
            Ok(Some((ty, Some(n))))
        };
    let ty = obj.get("type").and_then(Json::as_str).unwrap_or("");
    Ok(match ty {
        "string" => (Type::String, None),
        "integer" | "number" => (Type::Number, None),
        "boolean" => (Type::Bool, None),
        "array" => {
            let items = obj.get("items").cloned().unwrap_or(Json::Bool(true));
            let set = flag(obj, "uniqueItems");
            if let Some(n) = nested(&items, if set { Nesting::Set } else { Nesting::List })? {
                return Ok(n);
            }
            let (et, _) = shape(&strip_null(&items).0)?;
            (
                if set {
                    Type::Set(Box::new(et))
                } else {
                    Type::List(Box::new(et))
                },
                None,
            )
        }
        "object" if obj.contains_key("properties") => {
            let whole = Json::Object(obj.clone());
            nested(&whole, Nesting::Single)?.ok_or("object without properties")?
        }
        "object" => {
            let values = obj
                .get("additionalProperties")
                .cloned()
                .unwrap_or(Json::Bool(true));
            if let Some(n) = nested(&values, Nesting::Map)? {
                return Ok(n);
            }
            (Type::Map(Box::new(shape(&strip_null(&values).0)?.0)), None)
        }
        _ => (Type::Dynamic, None),
    })
}

#[cfg(test)]
mod tests;
