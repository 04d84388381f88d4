//! A serde `Serializer` that turns any `Serialize` model into an untyped [`Dynamic`]; [`Dynamic::conform`]
//! then shapes it to the schema's type. [`super::Value::Unknown`] is recognised through a private token.

use std::collections::BTreeMap;

use serde::ser::{self, Serialize};

use super::typed::VALUE_TOKEN;
use super::{Dynamic, Number, ValueError};

/// Serializes a model into an untyped dynamic value (structs become objects, sequences lists).
pub fn to_dynamic<T: Serialize + ?Sized>(value: &T) -> Result<Dynamic, ValueError> {
    value.serialize(Serializer)
}

impl ser::Error for ValueError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ValueError::new("", msg.to_string())
    }
}

struct Serializer;

/// Collects sequence elements.
pub(super) struct SeqSer(Vec<Dynamic>);
/// Collects map entries; keys must serialize as strings (or numbers, spelled as strings).
pub(super) struct MapSer {
    map: BTreeMap<String, Dynamic>,
    key: Option<String>,
    variant: Option<&'static str>,
    object: bool,
}

fn wrap_variant(variant: Option<&'static str>, v: Dynamic) -> Dynamic {
    match variant {
        Some(name) => Dynamic::Object([(name.to_string(), v)].into()),
        None => v,
    }
}

impl ser::Serializer for Serializer {
    type Ok = Dynamic;
    type Error = ValueError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = SeqSer;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = MapSer;

    fn serialize_bool(self, v: bool) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Dynamic, ValueError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Dynamic, ValueError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Dynamic, ValueError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Number(Number::Int(v)))
    }
    fn serialize_u8(self, v: u8) -> Result<Dynamic, ValueError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Dynamic, ValueError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Dynamic, ValueError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Number(
            i64::try_from(v)
                .map(Number::Int)
                .unwrap_or_else(|_| Number::Big(v.to_string())),
        ))
    }
    fn serialize_f32(self, v: f32) -> Result<Dynamic, ValueError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Dynamic, ValueError> {
        if v.is_nan() {
            return Err(ValueError::new("", "NaN is not a Terraform number"));
        }
        Ok(Dynamic::Number(Number::from_f64(v)))
    }
    fn serialize_char(self, v: char) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::String(v.to_string()))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<Dynamic, ValueError> {
        Err(ValueError::new(
            "",
            "byte strings have no Terraform type; use a String",
        ))
    }
    fn serialize_none(self) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Dynamic, ValueError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Null)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<Dynamic, ValueError> {
        if name == VALUE_TOKEN {
            return Ok(Dynamic::Unknown);
        }
        Ok(Dynamic::String(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Dynamic, ValueError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Dynamic, ValueError> {
        Ok(wrap_variant(Some(variant), value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, ValueError> {
        Ok(SeqSer(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        len: usize,
    ) -> Result<SeqSer, ValueError> {
        Err(ValueError::new(
            "",
            format!("tuple variants have no Terraform type ({len} fields)"),
        ))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapSer, ValueError> {
        Ok(MapSer {
            map: BTreeMap::new(),
            key: None,
            variant: None,
            object: false,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<MapSer, ValueError> {
        Ok(MapSer {
            map: BTreeMap::new(),
            key: None,
            variant: None,
            object: true,
        })
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapSer, ValueError> {
        Ok(MapSer {
            map: BTreeMap::new(),
            key: None,
            variant: Some(variant),
            object: true,
        })
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Dynamic;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.0.push(to_dynamic(value)?);
        Ok(())
    }
    fn end(self) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::List(self.0))
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Dynamic;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Tuple(self.0))
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Dynamic;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Tuple(self.0))
    }
}

impl ser::SerializeTupleVariant for SeqSer {
    type Ok = Dynamic;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Tuple(self.0))
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Dynamic;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.key = Some(match to_dynamic(key)? {
            Dynamic::String(s) => s,
            Dynamic::Number(n) => n.to_string(),
            Dynamic::Bool(b) => b.to_string(),
            _ => return Err(ValueError::new("", "map keys must be strings")),
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ValueError::new("", "map value without a key"))?;
        self.map.insert(key, to_dynamic(value)?);
        Ok(())
    }
    fn end(self) -> Result<Dynamic, ValueError> {
        Ok(if self.object {
            Dynamic::Object(self.map)
        } else {
            Dynamic::Map(self.map)
        })
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Dynamic;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.map.insert(key.to_string(), to_dynamic(value)?);
        Ok(())
    }
    fn end(self) -> Result<Dynamic, ValueError> {
        Ok(Dynamic::Object(self.map))
    }
}

impl ser::SerializeStructVariant for MapSer {
    type Ok = Dynamic;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.map.insert(key.to_string(), to_dynamic(value)?);
        Ok(())
    }
    fn end(self) -> Result<Dynamic, ValueError> {
        let variant = self.variant;
        Ok(wrap_variant(variant, Dynamic::Object(self.map)))
    }
}
