//! cty types and their JSON spelling (`"string"`, `["list","number"]`, `["object",{...}]`, ...), which
//! Terraform uses in schemas and in `dynamic` values.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::ValueError;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `string`
    String,
    /// `number`
    Number,
    /// `bool`
    Bool,
    /// `dynamic`: any type, decided by the value.
    Dynamic,
    /// `list(T)`
    List(Box<Type>),
    /// `set(T)`
    Set(Box<Type>),
    /// `map(T)`
    Map(Box<Type>),
    /// `object({name = T, ...})`
    Object(BTreeMap<String, Type>),
    /// `tuple([T, ...])`
    Tuple(Vec<Type>),
}

impl Type {
    /// Parses the JSON spelling of a type.
    pub fn from_json(bytes: &[u8]) -> Result<Type, ValueError> {
        let json: Json = serde_json::from_slice(bytes)
            .map_err(|e| ValueError::new("", format!("invalid type JSON: {e}")))?;
        Type::from_json_value(&json)
    }

    /// Parses an already-parsed JSON spelling of a type.
    pub fn from_json_value(json: &Json) -> Result<Type, ValueError> {
        let bad = || ValueError::new("", format!("invalid type {json}"));
        match json {
            Json::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(bad()),
            },
            Json::Array(parts) => {
                let kind = parts.first().and_then(Json::as_str).ok_or_else(bad)?;
                let arg = parts.get(1).ok_or_else(bad)?;
                match (kind, parts.len()) {
                    ("list", 2) => Ok(Type::List(Box::new(Type::from_json_value(arg)?))),
                    ("set", 2) => Ok(Type::Set(Box::new(Type::from_json_value(arg)?))),
                    ("map", 2) => Ok(Type::Map(Box::new(Type::from_json_value(arg)?))),
                    // A third element lists optional attributes; it matters only for type conversion in Terraform.
                    ("object", 2 | 3) => {
                        let attrs = arg.as_object().ok_or_else(bad)?;
                        let mut out = BTreeMap::new();
                        for (name, t) in attrs {
                            out.insert(name.clone(), Type::from_json_value(t)?);
                        }
                        Ok(Type::Object(out))
                    }
                    ("tuple", 2) => {
                        let elems = arg.as_array().ok_or_else(bad)?;
                        Ok(Type::Tuple(
                            elems
                                .iter()
                                .map(Type::from_json_value)
                                .collect::<Result<_, _>>()?,
                        ))
                    }
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }

    /// The JSON spelling of this type.
    pub fn to_json_value(&self) -> Json {
        match self {
            Type::String => Json::from("string"),
            Type::Number => Json::from("number"),
            Type::Bool => Json::from("bool"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(t) => serde_json::json!(["list", t.to_json_value()]),
            Type::Set(t) => serde_json::json!(["set", t.to_json_value()]),
            Type::Map(t) => serde_json::json!(["map", t.to_json_value()]),
            Type::Object(attrs) => {
                let m: serde_json::Map<String, Json> = attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json_value()))
                    .collect();
                serde_json::json!(["object", m])
            }
            Type::Tuple(ts) => serde_json::json!([
                "tuple",
                ts.iter().map(Type::to_json_value).collect::<Vec<_>>()
            ]),
        }
    }

    /// The JSON spelling as bytes, as schemas carry it.
    pub fn to_json(&self) -> Vec<u8> {
        self.to_json_value().to_string().into_bytes()
    }

    /// The attribute types, when this is an object type.
    pub fn attributes(&self) -> Option<&BTreeMap<String, Type>> {
        match self {
            Type::Object(attrs) => Some(attrs),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_json_round_trips() {
        let spellings = [
            r#""string""#,
            r#""number""#,
            r#""bool""#,
            r#""dynamic""#,
            r#"["list","string"]"#,
            r#"["set",["map","number"]]"#,
            r#"["object",{"a":"string","b":["tuple",["bool","number"]]}]"#,
        ];
        for s in spellings {
            let t = Type::from_json(s.as_bytes()).unwrap();
            assert_eq!(String::from_utf8(t.to_json()).unwrap(), s);
        }
    }

    #[test]
    fn object_with_optional_attributes_parses() {
        let t = Type::from_json(br#"["object",{"a":"string"},["a"]]"#).unwrap();
        assert_eq!(t, Type::Object([("a".to_string(), Type::String)].into()));
    }

    #[test]
    fn malformed_types_are_rejected() {
        for bad in [
            &b"\"strin\""[..],
            b"[\"list\"]",
            b"[\"list\",1]",
            b"42",
            b"{",
            b"[\"object\",[]]",
        ] {
            assert!(
                Type::from_json(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
