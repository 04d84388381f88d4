//! A serde `Deserializer` over [`Dynamic`], so a model struct decodes straight from a Terraform value.
//! Unknown values reach only [`super::Value`] fields; anywhere else they are an error naming the field.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::typed::VALUE_TOKEN;
use super::{Dynamic, Number, ValueError};

/// Decodes a model from a dynamic value.
pub fn from_dynamic<T: DeserializeOwned>(value: Dynamic) -> Result<T, ValueError> {
    T::deserialize(value)
}

impl de::Error for ValueError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ValueError::new("", msg.to_string())
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for Dynamic {
    type Deserializer = Dynamic;
    fn into_deserializer(self) -> Dynamic {
        self
    }
}

impl<'de> de::Deserializer<'de> for Dynamic {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Dynamic::Null => visitor.visit_unit(),
            Dynamic::Unknown => Err(ValueError::new("", "value is unknown until apply")),
            Dynamic::Bool(b) => visitor.visit_bool(b),
            Dynamic::Number(Number::Int(i)) => visitor.visit_i64(i),
            Dynamic::Number(Number::Float(f)) => visitor.visit_f64(f),
            Dynamic::Number(Number::Big(s)) => {
                visitor.visit_f64(s.parse().map_err(|_| ValueError::new("", "bad number"))?)
            }
            Dynamic::String(s) => visitor.visit_string(s),
            Dynamic::List(v) | Dynamic::Set(v) | Dynamic::Tuple(v) => {
                visitor.visit_seq(v.into_deserializer())
            }
            Dynamic::Map(m) | Dynamic::Object(m) => visitor.visit_map(m.into_deserializer()),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Dynamic::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        // A string field may hold a number verbatim: the only lossless home for a big decimal in a model.
        match self {
            Dynamic::Number(n) => visitor.visit_string(n.to_string()),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if name == VALUE_TOKEN {
            return visitor.visit_enum(ValueAccess(self));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Dynamic::String(s) => visitor.visit_enum(s.into_deserializer()),
            Dynamic::Object(m) | Dynamic::Map(m) if m.len() == 1 => {
                let Some((k, v)) = m.into_iter().next() else {
                    return Err(ValueError::new("", "empty enum object"));
                };
                visitor.visit_enum(VariantObject(k, v))
            }
            _ => Err(ValueError::new("", "expected an enum variant name")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// Presents a dynamic value to [`super::Value`] as the enum `Known(T) | Null | Unknown`.
struct ValueAccess(Dynamic);

impl<'de> de::EnumAccess<'de> for ValueAccess {
    type Error = ValueError;
    type Variant = Dynamic;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Dynamic), ValueError> {
        let tag = match &self.0 {
            Dynamic::Null => "Null",
            Dynamic::Unknown => "Unknown",
            _ => "Known",
        };
        Ok((seed.deserialize(tag.into_deserializer())?, self.0))
    }
}

impl<'de> de::VariantAccess<'de> for Dynamic {
    type Error = ValueError;
    fn unit_variant(self) -> Result<(), ValueError> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, ValueError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _f: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

/// An externally tagged enum variant spelled as a one-attribute object.
struct VariantObject(String, Dynamic);

impl<'de> de::EnumAccess<'de> for VariantObject {
    type Error = ValueError;
    type Variant = Dynamic;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Dynamic), ValueError> {
        Ok((seed.deserialize(self.0.into_deserializer())?, self.1))
    }
}
