//! Deserializers for the API's wire quirks, handled once: Perl booleans as 0/1 (sometimes strings),
//! numbers that arrive as strings, and comma- or semicolon-separated lists. Each reads the one token it is given
//! (no `serde_json::Value` in between, so a snapshot's hundred thousand guests cost no tree of them); arrays and
//! objects, which only odd input holds, are read whole to name them in the error.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One value as the quirk readers see it: a scalar as it came, or a whole array or object.
enum Token<'de> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'de, str>),
    Array(Vec<Value>),
    Object(Value),
}

impl Token<'_> {
    /// The JSON text of a token that has the wrong type, as `serde_json::Value` displays it.
    fn describe(&self) -> String {
        match self {
            Token::Null => "null".to_string(),
            Token::Bool(b) => b.to_string(),
            Token::U64(_) | Token::I64(_) | Token::F64(_) => self.number_text().unwrap_or_default(),
            Token::Str(s) => Value::String(s.to_string()).to_string(),
            Token::Array(items) => Value::Array(items.clone()).to_string(),
            Token::Object(v) => v.to_string(),
        }
    }

    /// A number as `serde_json::Number` displays it.
    fn number_text(&self) -> Option<String> {
        match self {
            Token::U64(n) => Some(n.to_string()),
            Token::I64(n) => Some(n.to_string()),
            Token::F64(f) => serde_json::Number::from_f64(*f).map(|n| n.to_string()),
            _ => None,
        }
    }
}

struct TokenVisitor;

impl<'de> Visitor<'de> for TokenVisitor {
    type Value = Token<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Token<'de>, E> {
        Ok(Token::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Token<'de>, E> {
        Ok(Token::I64(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Token<'de>, E> {
        Ok(Token::U64(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Token<'de>, E> {
        Ok(Token::F64(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Token<'de>, E> {
        Ok(Token::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Token<'de>, E> {
        Ok(Token::Str(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Token<'de>, E> {
        Ok(Token::Str(Cow::Owned(v)))
    }

    fn visit_none<E>(self) -> Result<Token<'de>, E> {
        Ok(Token::Null)
    }

    fn visit_unit<E>(self) -> Result<Token<'de>, E> {
        Ok(Token::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Token<'de>, D::Error> {
        d.deserialize_any(TokenVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Token<'de>, A::Error> {
        Vec::<Value>::deserialize(SeqAccessDeserializer::new(seq)).map(Token::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Token<'de>, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Token::Object)
    }
}

fn token<'de, D: Deserializer<'de>>(d: D) -> Result<Token<'de>, D::Error> {
    d.deserialize_option(TokenVisitor)
}

/// Reads an optional boolean sent as 0/1, `"0"`/`"1"` or `true`/`false`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match token(d)? {
        Token::Null => None,
        Token::Bool(b) => Some(b),
        Token::U64(n) => Some(n != 0),
        Token::I64(n) => Some(n != 0),
        Token::F64(f) => Some(f != 0.0),
        Token::Str(s) => Some(!(s.is_empty() || s == "0")),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a boolean, got {}",
                other.describe()
            )))
        }
    })
}

/// Reads an optional number sent as a JSON number or a numeric string.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match token(d)? {
        Token::Null => None,
        Token::U64(n) => Some(n),
        Token::I64(n) => u64::try_from(n).ok(),
        Token::F64(f) => (f >= 0.0).then_some(f as u64),
        Token::Str(s) if s.is_empty() => None,
        Token::Str(s) => Some(s.trim().parse().map_err(serde::de::Error::custom)?),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, got {}",
                other.describe()
            )))
        }
    })
}

/// Reads an optional float sent as a JSON number or a numeric string.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match token(d)? {
        Token::Null => None,
        Token::U64(n) => Some(n as f64),
        Token::I64(n) => Some(n as f64),
        Token::F64(f) => Some(f),
        Token::Str(s) if s.is_empty() => None,
        Token::Str(s) => Some(s.trim().parse().map_err(serde::de::Error::custom)?),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, got {}",
                other.describe()
            )))
        }
    })
}

/// Reads a list sent as a separated string (`a,b;c`) or a JSON array; absent means empty.
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let t = token(d)?;
    if let Some(n) = t.number_text() {
        return Ok(vec![n]);
    }
    Ok(match t {
        Token::Null => Vec::new(),
        Token::Str(s) => split_list(&s),
        Token::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a list, got {}",
                other.describe()
            )))
        }
    })
}

/// An object key, borrowed from the input when it has no escapes (so reading a key allocates nothing).
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }

            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Splits a list on the separators the server accepts: commas, semicolons and white space.
pub fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', ' ', '\t', '\n'])
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Q {
        #[serde(default, deserialize_with = "super::opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "super::opt_u64")]
        u: Option<u64>,
        #[serde(default, deserialize_with = "super::opt_f64")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "super::list")]
        l: Vec<String>,
    }

    /// Reads `doc` both from text and from a parsed value, which must agree, errors included.
    fn both(doc: serde_json::Value) -> Result<Q, String> {
        let from_value = Q::deserialize(&doc).map_err(|e| e.to_string());
        let text = doc.to_string();
        let from_text = serde_json::from_str::<Q>(&text).map_err(|e| {
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let m = e.to_string();
            m.strip_suffix(&suffix).map(str::to_string).unwrap_or(m)
        });
        assert_eq!(from_value, from_text, "{text}");
        from_value
    }

    #[test]
    fn quirks_read_alike_from_text_and_from_values() {
        let q = both(json!({"b": "0", "u": " 42 ", "f": 1, "l": "a,b;c d"})).unwrap();
        assert_eq!(q.b, Some(false));
        assert_eq!(q.u, Some(42));
        assert_eq!(q.f, Some(1.0));
        assert_eq!(q.l, ["a", "b", "c", "d"]);
        let q = both(json!({"b": 2, "u": 3.9, "f": "", "l": [1, "x", true]})).unwrap();
        assert_eq!((q.b, q.u, q.f), (Some(true), Some(3), None));
        assert_eq!(q.l, ["1", "x", "true"]);
        let q = both(json!({"b": null, "u": -1, "l": 1.5})).unwrap();
        assert_eq!((q.b, q.u), (None, None));
        assert_eq!(q.l, ["1.5"]);
    }

    #[test]
    fn wrong_types_name_what_they_got() {
        assert_eq!(
            both(json!({"b": [1, {"k": "v"}]})).unwrap_err(),
            r#"expected a boolean, got [1,{"k":"v"}]"#
        );
        assert_eq!(
            both(json!({"u": true})).unwrap_err(),
            "expected a number, got true"
        );
        assert_eq!(
            both(json!({"f": {"x": 1}})).unwrap_err(),
            r#"expected a number, got {"x":1}"#
        );
        assert_eq!(
            both(json!({"l": false})).unwrap_err(),
            "expected a list, got false"
        );
        assert_eq!(
            both(json!({"u": "x"})).unwrap_err(),
            "invalid digit found in string"
        );
    }
}
