//! Deserializers for the API's wire quirks, handled once: Perl booleans as 0/1 (sometimes strings),
//! numbers that arrive as strings, and comma- or semicolon-separated lists.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Reads an optional boolean sent as 0/1, `"0"`/`"1"` or `true`/`false`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(Value::Number(n)) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        Some(Value::String(s)) => Some(!(s.is_empty() || s == "0")),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a boolean, got {other}"
            )))
        }
    })
}

/// Reads an optional number sent as a JSON number or a numeric string.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().parse().map_err(serde::de::Error::custom)?),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, got {other}"
            )))
        }
    })
}

/// Reads an optional float sent as a JSON number or a numeric string.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().parse().map_err(serde::de::Error::custom)?),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, got {other}"
            )))
        }
    })
}

/// Reads a list sent as a separated string (`a,b;c`) or a JSON array; absent means empty.
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => split_list(&s),
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a list, got {other}"
            )))
        }
    })
}

/// Splits a list on the separators the server accepts: commas, semicolons and white space.
pub fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', ' ', '\t', '\n'])
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}
