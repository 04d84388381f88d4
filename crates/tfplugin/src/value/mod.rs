//! Terraform's dynamic values: the cty value model ([`Dynamic`]), its types ([`Type`]), the msgpack and
//! JSON wire codecs, and the serde bridge that turns model structs into values and back.
//! Decoding is driven by the type and never panics on malformed input; it returns a [`ValueError`].

mod de;
mod json;
mod msgpack;
mod number;
mod ser;
mod ty;
mod typed;

use std::collections::BTreeMap;
use std::fmt;

pub use de::from_dynamic;
pub use number::Number;
pub use ser::to_dynamic;
pub use ty::Type;
pub use typed::Value;
pub(crate) use typed::NULLABLE_KEYWORD;

/// Deepest nesting accepted when decoding, so hostile input cannot exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 128;

/// A value as Terraform's cty sees it: typed by a separate [`Type`], possibly null or unknown at any depth.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Dynamic {
    /// A null value of any type.
    #[default]
    Null,
    /// A value that is not known until apply.
    Unknown,
    /// A boolean.
    Bool(bool),
    /// A number (integer, float or big decimal).
    Number(Number),
    /// A UTF-8 string.
    String(String),
    /// An ordered list of values of one type.
    List(Vec<Dynamic>),
    /// A set of values of one type, kept in the order received.
    Set(Vec<Dynamic>),
    /// A fixed-length sequence of values of possibly different types.
    Tuple(Vec<Dynamic>),
    /// A map from string keys to values of one type.
    Map(BTreeMap<String, Dynamic>),
    /// An object with named attributes.
    Object(BTreeMap<String, Dynamic>),
}

/// Why a value or type could not be decoded, encoded or converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {path}")]
pub struct ValueError {
    /// Where in the value the problem is, e.g. `.tags[1]` (`.` for the root).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ValueError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> Self {
        let path = if path.is_empty() { "." } else { path };
        ValueError {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

impl Dynamic {
    /// Decodes a msgpack value of type `ty`, as Terraform sends in `DynamicValue.msgpack`.
    pub fn from_msgpack(bytes: &[u8], ty: &Type) -> Result<Dynamic, ValueError> {
        msgpack::decode(bytes, ty)
    }

    /// Encodes this value as msgpack of type `ty`.
    pub fn to_msgpack(&self, ty: &Type) -> Result<Vec<u8>, ValueError> {
        msgpack::encode(self, ty)
    }

    /// Decodes a JSON value of type `ty` (the state format); object attributes missing from the input are null.
    pub fn from_json(bytes: &[u8], ty: &Type) -> Result<Dynamic, ValueError> {
        json::decode(bytes, ty, false)
    }

    /// Like [`Dynamic::from_json`], but attributes the type does not know are dropped instead of rejected.
    pub fn from_json_lenient(bytes: &[u8], ty: &Type) -> Result<Dynamic, ValueError> {
        json::decode(bytes, ty, true)
    }

    /// Encodes this value as JSON of type `ty`; unknown values cannot be encoded.
    pub fn to_json(&self, ty: &Type) -> Result<Vec<u8>, ValueError> {
        json::encode(self, ty)
    }

    /// True for [`Dynamic::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Dynamic::Null)
    }

    /// True for [`Dynamic::Unknown`] at the top level.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Dynamic::Unknown)
    }

    /// True when no part of the value, at any depth, is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Dynamic::Unknown => false,
            Dynamic::List(v) | Dynamic::Set(v) | Dynamic::Tuple(v) => {
                v.iter().all(Dynamic::is_wholly_known)
            }
            Dynamic::Map(m) | Dynamic::Object(m) => m.values().all(Dynamic::is_wholly_known),
            _ => true,
        }
    }

    /// The attribute `name` of an object (or entry of a map), if present.
    pub fn get(&self, name: &str) -> Option<&Dynamic> {
        match self {
            Dynamic::Object(m) | Dynamic::Map(m) => m.get(name),
            _ => None,
        }
    }

    /// Mutable access to the attribute `name` of an object (or entry of a map).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Dynamic> {
        match self {
            Dynamic::Object(m) | Dynamic::Map(m) => m.get_mut(name),
            _ => None,
        }
    }

    /// Converts an untyped value (as produced by [`to_dynamic`]) into the shape `ty` asks for:
    /// sequences become lists, sets or tuples, maps become maps or objects with every attribute present.
    pub fn conform(self, ty: &Type) -> Result<Dynamic, ValueError> {
        conform(self, ty, &mut String::new())
    }

    /// The type this value most plausibly has, used where the schema says `dynamic`.
    pub fn infer_type(&self) -> Type {
        match self {
            Dynamic::Null | Dynamic::Unknown => Type::Dynamic,
            Dynamic::Bool(_) => Type::Bool,
            Dynamic::Number(_) => Type::Number,
            Dynamic::String(_) => Type::String,
            Dynamic::List(v) => Type::List(Box::new(first_type(v))),
            Dynamic::Set(v) => Type::Set(Box::new(first_type(v))),
            Dynamic::Tuple(v) => Type::Tuple(v.iter().map(Dynamic::infer_type).collect()),
            Dynamic::Map(m) => Type::Map(Box::new(first_type(m.values()))),
            Dynamic::Object(m) => {
                Type::Object(m.iter().map(|(k, v)| (k.clone(), v.infer_type())).collect())
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Dynamic::Null => "null",
            Dynamic::Unknown => "unknown",
            Dynamic::Bool(_) => "bool",
            Dynamic::Number(_) => "number",
            Dynamic::String(_) => "string",
            Dynamic::List(_) => "list",
            Dynamic::Set(_) => "set",
            Dynamic::Tuple(_) => "tuple",
            Dynamic::Map(_) => "map",
            Dynamic::Object(_) => "object",
        }
    }
}

fn first_type<'a>(values: impl IntoIterator<Item = &'a Dynamic>) -> Type {
    values
        .into_iter()
        .map(Dynamic::infer_type)
        .find(|t| *t != Type::Dynamic)
        .unwrap_or(Type::Dynamic)
}

fn conform(value: Dynamic, ty: &Type, path: &mut String) -> Result<Dynamic, ValueError> {
    let mismatch = |v: &Dynamic, path: &str| {
        ValueError::new(path, format!("expected {ty}, found {}", v.kind()))
    };
    match (ty, value) {
        (_, Dynamic::Null) => Ok(Dynamic::Null),
        (_, Dynamic::Unknown) => Ok(Dynamic::Unknown),
        (Type::Dynamic, v) => Ok(v),
        (Type::String, Dynamic::String(s)) => Ok(Dynamic::String(s)),
        (Type::String, Dynamic::Number(n)) => Ok(Dynamic::String(n.to_string())),
        (Type::String, Dynamic::Bool(b)) => Ok(Dynamic::String(b.to_string())),
        (Type::Number, Dynamic::Number(n)) => Ok(Dynamic::Number(n)),
        (Type::Number, Dynamic::String(s)) => Number::parse(&s)
            .map(Dynamic::Number)
            .ok_or_else(|| ValueError::new(path, format!("{s:?} is not a number"))),
        (Type::Bool, Dynamic::Bool(b)) => Ok(Dynamic::Bool(b)),
        (
            Type::List(et) | Type::Set(et),
            Dynamic::List(v) | Dynamic::Set(v) | Dynamic::Tuple(v),
        ) => {
            let items = conform_items(v, |_| et, path)?;
            Ok(if matches!(ty, Type::Set(_)) {
                Dynamic::Set(items)
            } else {
                Dynamic::List(items)
            })
        }
        (Type::Tuple(ets), Dynamic::List(v) | Dynamic::Tuple(v)) => {
            if ets.len() != v.len() {
                return Err(ValueError::new(
                    path,
                    format!("expected {} tuple elements, found {}", ets.len(), v.len()),
                ));
            }
            Ok(Dynamic::Tuple(conform_items(v, |i| &ets[i], path)?))
        }
        (Type::Map(et), Dynamic::Map(m) | Dynamic::Object(m)) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let len = path.len();
                path.push_str(&format!("[{k:?}]"));
                out.insert(k, conform(v, et, path)?);
                path.truncate(len);
            }
            Ok(Dynamic::Map(out))
        }
        (Type::Object(attrs), Dynamic::Map(mut m) | Dynamic::Object(mut m)) => {
            let mut out = BTreeMap::new();
            for (name, aty) in attrs {
                let len = path.len();
                path.push('.');
                path.push_str(name);
                let v = m.remove(name).unwrap_or(Dynamic::Null);
                out.insert(name.clone(), conform(v, aty, path)?);
                path.truncate(len);
            }
            if let Some(extra) = m.keys().next() {
                return Err(ValueError::new(
                    path,
                    format!("unsupported attribute {extra:?}"),
                ));
            }
            Ok(Dynamic::Object(out))
        }
        (_, v) => Err(mismatch(&v, path)),
    }
}

fn conform_items<'t>(
    items: Vec<Dynamic>,
    ty_at: impl Fn(usize) -> &'t Type,
    path: &mut String,
) -> Result<Vec<Dynamic>, ValueError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, v) in items.into_iter().enumerate() {
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        out.push(conform(v, ty_at(i), path)?);
        path.truncate(len);
    }
    Ok(out)
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(t) => write!(f, "list of {t}"),
            Type::Set(t) => write!(f, "set of {t}"),
            Type::Map(t) => write!(f, "map of {t}"),
            Type::Object(_) => f.write_str("object"),
            Type::Tuple(_) => f.write_str("tuple"),
        }
    }
}

#[cfg(test)]
mod tests;
