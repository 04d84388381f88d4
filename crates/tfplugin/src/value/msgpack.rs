//! The msgpack encoding of cty values (`DynamicValue.msgpack`): null is nil, unknown is an extension
//! (type 0 when we write it; any extension type is read as unknown, e.g. 12 for refined unknowns),
//! `dynamic`-typed values travel as `[type JSON, value]`. Decoding never trusts lengths from the input.

use std::collections::BTreeMap;

use rmp::Marker;

use super::{Dynamic, Number, Type, ValueError, MAX_DEPTH};

/// Decodes one value of type `ty`; trailing bytes are an error.
pub(super) fn decode(bytes: &[u8], ty: &Type) -> Result<Dynamic, ValueError> {
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        path: String::new(),
        depth: 0,
    };
    let v = r.value(ty)?;
    if r.pos != bytes.len() {
        return Err(ValueError::new(
            "",
            format!("{} trailing bytes after the value", bytes.len() - r.pos),
        ));
    }
    Ok(v)
}

/// Encodes `value` as type `ty`.
pub(super) fn encode(value: &Dynamic, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    write(&mut out, value, ty, &mut String::new())?;
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: String,
    depth: usize,
}

impl Reader<'_> {
    fn err(&self, message: impl Into<String>) -> ValueError {
        ValueError::new(&self.path, message)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], ValueError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(self.err("unexpected end of msgpack input"));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, ValueError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn marker(&mut self) -> Result<Marker, ValueError> {
        Ok(Marker::from_u8(self.take(1)?[0]))
    }

    /// Length of an extension's payload for its marker, or None when the marker is no extension.
    fn ext_len(&mut self, m: Marker) -> Result<Option<usize>, ValueError> {
        Ok(Some(match m {
            Marker::FixExt1 => 1,
            Marker::FixExt2 => 2,
            Marker::FixExt4 => 4,
            Marker::FixExt8 => 8,
            Marker::FixExt16 => 16,
            Marker::Ext8 => self.be(1)? as usize,
            Marker::Ext16 => self.be(2)? as usize,
            Marker::Ext32 => self.be(4)? as usize,
            _ => return Ok(None),
        }))
    }

    fn str_len(&mut self, m: Marker) -> Result<Option<usize>, ValueError> {
        Ok(Some(match m {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 | Marker::Bin8 => self.be(1)? as usize,
            Marker::Str16 | Marker::Bin16 => self.be(2)? as usize,
            Marker::Str32 | Marker::Bin32 => self.be(4)? as usize,
            _ => return Ok(None),
        }))
    }

    fn array_len(&mut self, m: Marker) -> Result<Option<usize>, ValueError> {
        Ok(Some(match m {
            Marker::FixArray(n) => n as usize,
            Marker::Array16 => self.be(2)? as usize,
            Marker::Array32 => self.be(4)? as usize,
            _ => return Ok(None),
        }))
    }

    fn map_len(&mut self, m: Marker) -> Result<Option<usize>, ValueError> {
        Ok(Some(match m {
            Marker::FixMap(n) => n as usize,
            Marker::Map16 => self.be(2)? as usize,
            Marker::Map32 => self.be(4)? as usize,
            _ => return Ok(None),
        }))
    }

    fn string(&mut self, m: Marker) -> Result<Option<String>, ValueError> {
        let Some(n) = self.str_len(m)? else {
            return Ok(None);
        };
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => Err(self.err("string is not valid UTF-8")),
        }
    }

    fn number(&mut self, m: Marker) -> Result<Option<Number>, ValueError> {
        let n = match m {
            Marker::FixPos(v) => Number::Int(i64::from(v)),
            Marker::FixNeg(v) => Number::Int(i64::from(v)),
            Marker::U8 => Number::Int(self.be(1)? as i64),
            Marker::U16 => Number::Int(self.be(2)? as i64),
            Marker::U32 => Number::Int(self.be(4)? as i64),
            Marker::U64 => {
                let v = self.be(8)?;
                i64::try_from(v)
                    .map(Number::Int)
                    .unwrap_or_else(|_| Number::Big(v.to_string()))
            }
            Marker::I8 => Number::Int(i64::from(self.be(1)? as u8 as i8)),
            Marker::I16 => Number::Int(i64::from(self.be(2)? as u16 as i16)),
            Marker::I32 => Number::Int(i64::from(self.be(4)? as u32 as i32)),
            Marker::I64 => Number::Int(self.be(8)? as i64),
            Marker::F32 => {
                let bits = self.be(4)? as u32;
                self.float(f64::from(f32::from_bits(bits)))?
            }
            Marker::F64 => {
                let bits = self.be(8)?;
                self.float(f64::from_bits(bits))?
            }
            m => match self.string(m)? {
                Some(s) => {
                    Number::parse(&s).ok_or_else(|| self.err(format!("{s:?} is not a number")))?
                }
                None => return Ok(None),
            },
        };
        Ok(Some(n))
    }

    fn float(&self, f: f64) -> Result<Number, ValueError> {
        if f.is_nan() {
            return Err(self.err("NaN is not a number Terraform can represent"));
        }
        Ok(Number::from_f64(f))
    }

    fn value(&mut self, ty: &Type) -> Result<Dynamic, ValueError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err("value nested too deeply"));
        }
        self.depth += 1;
        let v = self.value_inner(ty);
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self, ty: &Type) -> Result<Dynamic, ValueError> {
        let m = self.marker()?;
        if let Some(n) = self.ext_len(m)? {
            // Type byte plus payload; refinements in the payload are not needed by a provider.
            self.take(n + 1)?;
            return Ok(Dynamic::Unknown);
        }
        if matches!(m, Marker::Null) {
            return Ok(Dynamic::Null);
        }
        let mismatch = |r: &Self| r.err(format!("expected {ty}, found msgpack {m:?}"));
        match ty {
            Type::Dynamic => {
                if self.array_len(m)? != Some(2) {
                    return Err(self.err("a dynamic value must be a [type, value] pair"));
                }
                let tm = self.marker()?;
                let Some(n) = self.str_len(tm)? else {
                    return Err(self.err("dynamic value's type is not bytes"));
                };
                let inner = Type::from_json(self.take(n)?).map_err(|e| self.err(e.message))?;
                self.value(&inner)
            }
            Type::String => self
                .string(m)?
                .map(Dynamic::String)
                .ok_or_else(|| mismatch(self)),
            Type::Number => self
                .number(m)?
                .map(Dynamic::Number)
                .ok_or_else(|| mismatch(self)),
            Type::Bool => match m {
                Marker::True => Ok(Dynamic::Bool(true)),
                Marker::False => Ok(Dynamic::Bool(false)),
                _ => Err(mismatch(self)),
            },
            Type::List(et) | Type::Set(et) => {
                let n = self.array_len(m)?.ok_or_else(|| mismatch(self))?;
                let items = self.items(n, |_| Some(et))?;
                Ok(if matches!(ty, Type::Set(_)) {
                    Dynamic::Set(items)
                } else {
                    Dynamic::List(items)
                })
            }
            Type::Tuple(ets) => {
                let n = self.array_len(m)?.ok_or_else(|| mismatch(self))?;
                if n != ets.len() {
                    return Err(
                        self.err(format!("expected {} tuple elements, found {n}", ets.len()))
                    );
                }
                Ok(Dynamic::Tuple(self.items(n, |i| ets.get(i))?))
            }
            Type::Map(et) => {
                let n = self.map_len(m)?.ok_or_else(|| mismatch(self))?;
                Ok(Dynamic::Map(self.entries(n, |_| Some(et))?))
            }
            Type::Object(attrs) => {
                let n = self.map_len(m)?.ok_or_else(|| mismatch(self))?;
                let mut out = self.entries(n, |k| attrs.get(k))?;
                for name in attrs.keys() {
                    out.entry(name.clone()).or_insert(Dynamic::Null);
                }
                Ok(Dynamic::Object(out))
            }
        }
    }

    fn items<'t>(
        &mut self,
        n: usize,
        ty_at: impl Fn(usize) -> Option<&'t Type>,
    ) -> Result<Vec<Dynamic>, ValueError> {
        // Each element takes at least one byte, so a length beyond the input is malformed, not a reason to allocate.
        let mut out = Vec::with_capacity(n.min(self.buf.len() - self.pos));
        for i in 0..n {
            let len = self.path.len();
            self.path.push_str(&format!("[{i}]"));
            let ty = ty_at(i).ok_or_else(|| self.err("too many elements"))?;
            out.push(self.value(ty)?);
            self.path.truncate(len);
        }
        Ok(out)
    }

    fn entries<'t>(
        &mut self,
        n: usize,
        ty_of: impl Fn(&str) -> Option<&'t Type>,
    ) -> Result<BTreeMap<String, Dynamic>, ValueError> {
        let mut out = BTreeMap::new();
        for _ in 0..n {
            let km = self.marker()?;
            let key = self
                .string(km)?
                .ok_or_else(|| self.err("map key is not a string"))?;
            let ty =
                ty_of(&key).ok_or_else(|| self.err(format!("unsupported attribute {key:?}")))?;
            let len = self.path.len();
            self.path.push_str(&format!(".{key}"));
            let v = self.value(ty)?;
            self.path.truncate(len);
            if out.insert(key, v).is_some() {
                return Err(self.err("duplicate map key"));
            }
        }
        Ok(out)
    }
}

fn write(
    out: &mut Vec<u8>,
    value: &Dynamic,
    ty: &Type,
    path: &mut String,
) -> Result<(), ValueError> {
    let io = |e: std::io::Error| ValueError::new("", format!("msgpack write failed: {e}"));
    let mismatch =
        |path: &str| ValueError::new(path, format!("expected {ty}, found {}", value.kind()));
    match (ty, value) {
        (_, Dynamic::Null) => rmp::encode::write_nil(out).map_err(io),
        (_, Dynamic::Unknown) => {
            rmp::encode::write_ext_meta(out, 1, 0)
                .map_err(|e| ValueError::new(path, e.to_string()))?;
            out.push(0);
            Ok(())
        }
        (Type::Dynamic, v) => {
            let inner = v.infer_type();
            rmp::encode::write_array_len(out, 2)
                .map_err(|e| ValueError::new(path, e.to_string()))?;
            rmp::encode::write_bin(out, &inner.to_json())
                .map_err(|e| ValueError::new(path, e.to_string()))?;
            write(out, v, &inner, path)
        }
        (Type::String, Dynamic::String(s)) => {
            rmp::encode::write_str(out, s).map_err(|e| ValueError::new(path, e.to_string()))
        }
        (Type::Number, Dynamic::Number(n)) => match n {
            Number::Int(i) => rmp::encode::write_sint(out, *i)
                .map(|_| ())
                .map_err(|e| ValueError::new(path, e.to_string())),
            Number::Float(f) => match Number::from_f64(*f) {
                Number::Int(i) => rmp::encode::write_sint(out, i)
                    .map(|_| ())
                    .map_err(|e| ValueError::new(path, e.to_string())),
                _ if f.is_nan() => Err(ValueError::new(path, "NaN cannot be encoded")),
                _ => rmp::encode::write_f64(out, *f)
                    .map_err(|e| ValueError::new(path, e.to_string())),
            },
            Number::Big(s) => {
                rmp::encode::write_str(out, s).map_err(|e| ValueError::new(path, e.to_string()))
            }
        },
        (Type::Bool, Dynamic::Bool(b)) => rmp::encode::write_bool(out, *b).map_err(io),
        (
            Type::List(et) | Type::Set(et),
            Dynamic::List(v) | Dynamic::Set(v) | Dynamic::Tuple(v),
        ) => write_array(out, v, |_| Some(et), path),
        (Type::Tuple(ets), Dynamic::List(v) | Dynamic::Tuple(v)) if v.len() == ets.len() => {
            write_array(out, v, |i| ets.get(i), path)
        }
        (Type::Map(et), Dynamic::Map(m) | Dynamic::Object(m)) => {
            rmp::encode::write_map_len(out, len32(m.len(), path)?)
                .map_err(|e| ValueError::new(path, e.to_string()))?;
            for (k, v) in m {
                rmp::encode::write_str(out, k).map_err(|e| ValueError::new(path, e.to_string()))?;
                let len = path.len();
                path.push_str(&format!("[{k:?}]"));
                write(out, v, et, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Type::Object(attrs), Dynamic::Object(m) | Dynamic::Map(m)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(ValueError::new(
                    path,
                    format!("unsupported attribute {extra:?}"),
                ));
            }
            rmp::encode::write_map_len(out, len32(attrs.len(), path)?)
                .map_err(|e| ValueError::new(path, e.to_string()))?;
            for (k, aty) in attrs {
                rmp::encode::write_str(out, k).map_err(|e| ValueError::new(path, e.to_string()))?;
                let len = path.len();
                path.push('.');
                path.push_str(k);
                write(out, m.get(k).unwrap_or(&Dynamic::Null), aty, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Err(mismatch(path)),
    }
}

fn write_array<'t>(
    out: &mut Vec<u8>,
    items: &[Dynamic],
    ty_at: impl Fn(usize) -> Option<&'t Type>,
    path: &mut String,
) -> Result<(), ValueError> {
    rmp::encode::write_array_len(out, len32(items.len(), path)?)
        .map_err(|e| ValueError::new(path, e.to_string()))?;
    for (i, v) in items.iter().enumerate() {
        let ty = ty_at(i).ok_or_else(|| ValueError::new(path, "too many tuple elements"))?;
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        write(out, v, ty, path)?;
        path.truncate(len);
    }
    Ok(())
}

fn len32(n: usize, path: &str) -> Result<u32, ValueError> {
    u32::try_from(n).map_err(|_| ValueError::new(path, "collection too large for msgpack"))
}
