//! `Value<T>`: a model field that may be known, null or unknown, so "unknown until apply" cannot be
//! forgotten. Serde and schemars see it as an optional `T`; our own (de)serializers see all three states.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// Private name through which [`Value`] and the [`super::Dynamic`] (de)serializers recognise each other.
pub(crate) const VALUE_TOKEN: &str = "$tfplugin::Value";

/// Schema keyword set on a [`Value`] field so schema derivation knows the field may be null.
pub(crate) const NULLABLE_KEYWORD: &str = "x-tf-nullable";

/// A Terraform value of type `T`: known, null (unset), or unknown until apply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Value<T> {
    /// A known value.
    Known(T),
    /// Null: not set in configuration, or absent.
    #[default]
    Null,
    /// Not known until apply.
    Unknown,
}

impl<T> Value<T> {
    /// True when the value is known.
    pub fn is_known(&self) -> bool {
        matches!(self, Value::Known(_))
    }
    /// True when the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// True when the value is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }
    /// The known value, if any.
    pub fn as_ref(&self) -> Option<&T> {
        match self {
            Value::Known(v) => Some(v),
            _ => None,
        }
    }
    /// The known value, consuming self.
    pub fn known(self) -> Option<T> {
        match self {
            Value::Known(v) => Some(v),
            _ => None,
        }
    }
    /// Maps a known value, keeping null and unknown.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Value<U> {
        match self {
            Value::Known(v) => Value::Known(f(v)),
            Value::Null => Value::Null,
            Value::Unknown => Value::Unknown,
        }
    }
    /// The known value, or `default` when null or unknown.
    pub fn unwrap_or(self, default: T) -> T {
        self.known().unwrap_or(default)
    }
    /// The known value, or `T::default()` when null or unknown.
    pub fn unwrap_or_default(self) -> T
    where
        T: Default,
    {
        self.known().unwrap_or_default()
    }
}

impl Value<String> {
    /// The known string as `&str`.
    pub fn as_str(&self) -> Option<&str> {
        self.as_ref().map(String::as_str)
    }
}

impl<T> From<T> for Value<T> {
    fn from(v: T) -> Self {
        Value::Known(v)
    }
}

impl<T> From<Option<T>> for Value<T> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Value::Known)
    }
}

impl<T: Serialize> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Known(v) => v.serialize(serializer),
            Value::Null => serializer.serialize_none(),
            Value::Unknown => serializer.serialize_unit_variant(VALUE_TOKEN, 2, "Unknown"),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(VALUE_TOKEN, ValueVisitor(PhantomData))
    }
}

struct ValueVisitor<T>(PhantomData<T>);

/// The three states as the [`super::Dynamic`] deserializer names them.
enum Tag {
    Known,
    Null,
    Unknown,
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tag, D::Error> {
        struct TagVisitor;
        impl Visitor<'_> for TagVisitor {
            type Value = Tag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Known, Null or Unknown")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tag, E> {
                match v {
                    "Known" => Ok(Tag::Known),
                    "Null" => Ok(Tag::Null),
                    "Unknown" => Ok(Tag::Unknown),
                    _ => Err(E::unknown_variant(v, &["Known", "Null", "Unknown"])),
                }
            }
        }
        d.deserialize_identifier(TagVisitor)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ValueVisitor<T> {
    type Value = Value<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value, null, or unknown")
    }

    // Deserializers other than ours (e.g. serde_json) land here: a plain optional value.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value<T>, D::Error> {
        Ok(Option::<T>::deserialize(d)?.into())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value<T>, A::Error> {
        use de::VariantAccess;
        let (tag, variant) = data.variant::<Tag>()?;
        match tag {
            Tag::Known => variant.newtype_variant().map(Value::Known),
            Tag::Null => variant.unit_variant().map(|_| Value::Null),
            Tag::Unknown => variant.unit_variant().map(|_| Value::Unknown),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Value<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = generator.subschema_for::<T>();
        schema.insert(NULLABLE_KEYWORD.to_string(), true.into());
        schema
    }
}
