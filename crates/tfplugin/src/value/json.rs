//! The JSON encoding of cty values, used for stored state (`RawState.json`). Numbers are kept as text
//! until the type is known, so big decimals survive; `dynamic` values travel as `{"type":T,"value":V}`.

use std::collections::BTreeMap;

use super::{Dynamic, Number, Type, ValueError, MAX_DEPTH};

/// Decodes JSON of type `ty`. With `lenient`, object attributes the type does not know are dropped.
pub(super) fn decode(bytes: &[u8], ty: &Type, lenient: bool) -> Result<Dynamic, ValueError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ValueError::new("", "JSON is not valid UTF-8"))?;
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.ws();
    let tree = p.value()?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(ValueError::new(
            "",
            format!("trailing characters at byte {}", p.pos),
        ));
    }
    typed(tree, ty, lenient, &mut String::new())
}

/// Encodes `value` of type `ty` as JSON.
pub(super) fn encode(value: &Dynamic, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = String::new();
    write(&mut out, value, ty, &mut String::new())?;
    Ok(out.into_bytes())
}

/// A parsed JSON document whose numbers are still text.
enum Tree {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Tree>),
    Obj(Vec<(String, Tree)>),
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, message: &str) -> ValueError {
        ValueError::new("", format!("invalid JSON at byte {}: {message}", self.pos))
    }

    fn ws(&mut self) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> Result<(), ValueError> {
        if self.s[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.err(&format!("expected {lit}")))
        }
    }

    fn value(&mut self) -> Result<Tree, ValueError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let Some(&c) = self.s.get(self.pos) else {
            return Err(self.err("unexpected end"));
        };
        match c {
            b'n' => self.eat("null").map(|_| Tree::Null),
            b't' => self.eat("true").map(|_| Tree::Bool(true)),
            b'f' => self.eat("false").map(|_| Tree::Bool(false)),
            b'"' => self.string().map(Tree::Str),
            b'[' => {
                self.depth += 1;
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value()?);
                        self.ws();
                        match self.s.get(self.pos) {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("expected , or ]")),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Tree::Arr(items))
            }
            b'{' => {
                self.depth += 1;
                self.pos += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.s.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        if self.s.get(self.pos) != Some(&b'"') {
                            return Err(self.err("expected a string key"));
                        }
                        let k = self.string()?;
                        self.ws();
                        self.eat(":")?;
                        self.ws();
                        entries.push((k, self.value()?));
                        self.ws();
                        match self.s.get(self.pos) {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("expected , or }")),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Tree::Obj(entries))
            }
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while matches!(
                    self.s.get(self.pos),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                if Number::parse(&text).is_none() || text.starts_with('+') {
                    return Err(self.err("malformed number"));
                }
                Ok(Tree::Num(text))
            }
            _ => Err(self.err("unexpected character")),
        }
    }

    fn hex4(&mut self) -> Result<u32, ValueError> {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(text, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ValueError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(self.err("unterminated string"));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                self.eat("\\u")?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| self.err("invalid code point"))?
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err("control character in string")),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not valid UTF-8"))
    }
}

fn typed(tree: Tree, ty: &Type, lenient: bool, path: &mut String) -> Result<Dynamic, ValueError> {
    let mismatch = |path: &str| ValueError::new(path, format!("expected {ty} in JSON"));
    match (ty, tree) {
        (_, Tree::Null) => Ok(Dynamic::Null),
        (Type::Dynamic, Tree::Obj(entries)) => {
            let mut t = None;
            let mut v = None;
            for (k, val) in entries {
                match k.as_str() {
                    "type" => t = Some(val),
                    "value" => v = Some(val),
                    _ => {
                        return Err(ValueError::new(
                            path,
                            "a dynamic value must be {\"type\", \"value\"}",
                        ))
                    }
                }
            }
            let (Some(t), Some(v)) = (t, v) else {
                return Err(ValueError::new(
                    path,
                    "a dynamic value must be {\"type\", \"value\"}",
                ));
            };
            let inner = Type::from_json_value(&tree_to_json(t))
                .map_err(|e| ValueError::new(path, e.message))?;
            typed(v, &inner, lenient, path)
        }
        (Type::String, Tree::Str(s)) => Ok(Dynamic::String(s)),
        (Type::Number, Tree::Num(s) | Tree::Str(s)) => Number::parse(&s)
            .map(Dynamic::Number)
            .ok_or_else(|| ValueError::new(path, format!("{s:?} is not a number"))),
        (Type::Bool, Tree::Bool(b)) => Ok(Dynamic::Bool(b)),
        (Type::List(et) | Type::Set(et), Tree::Arr(items)) => {
            let items = typed_items(items, |_| Some(et), lenient, path)?;
            Ok(if matches!(ty, Type::Set(_)) {
                Dynamic::Set(items)
            } else {
                Dynamic::List(items)
            })
        }
        (Type::Tuple(ets), Tree::Arr(items)) if items.len() == ets.len() => Ok(Dynamic::Tuple(
            typed_items(items, |i| ets.get(i), lenient, path)?,
        )),
        (Type::Map(et), Tree::Obj(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let len = path.len();
                path.push_str(&format!("[{k:?}]"));
                let v = typed(v, et, lenient, path)?;
                path.truncate(len);
                out.insert(k, v);
            }
            Ok(Dynamic::Map(out))
        }
        (Type::Object(attrs), Tree::Obj(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let Some(aty) = attrs.get(&k) else {
                    if lenient {
                        continue;
                    }
                    return Err(ValueError::new(
                        path,
                        format!("unsupported attribute {k:?}"),
                    ));
                };
                let len = path.len();
                path.push('.');
                path.push_str(&k);
                let v = typed(v, aty, lenient, path)?;
                path.truncate(len);
                out.insert(k, v);
            }
            for name in attrs.keys() {
                out.entry(name.clone()).or_insert(Dynamic::Null);
            }
            Ok(Dynamic::Object(out))
        }
        _ => Err(mismatch(path)),
    }
}

fn typed_items<'t>(
    items: Vec<Tree>,
    ty_at: impl Fn(usize) -> Option<&'t Type>,
    lenient: bool,
    path: &mut String,
) -> Result<Vec<Dynamic>, ValueError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, v) in items.into_iter().enumerate() {
        let ty = ty_at(i).ok_or_else(|| ValueError::new(path, "too many elements"))?;
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        out.push(typed(v, ty, lenient, path)?);
        path.truncate(len);
    }
    Ok(out)
}

fn tree_to_json(tree: Tree) -> serde_json::Value {
    match tree {
        Tree::Null => serde_json::Value::Null,
        Tree::Bool(b) => serde_json::Value::Bool(b),
        Tree::Num(s) => serde_json::from_str(&s).unwrap_or(serde_json::Value::Null),
        Tree::Str(s) => serde_json::Value::String(s),
        Tree::Arr(v) => serde_json::Value::Array(v.into_iter().map(tree_to_json).collect()),
        Tree::Obj(e) => {
            serde_json::Value::Object(e.into_iter().map(|(k, v)| (k, tree_to_json(v))).collect())
        }
    }
}

fn write(
    out: &mut String,
    value: &Dynamic,
    ty: &Type,
    path: &mut String,
) -> Result<(), ValueError> {
    match (ty, value) {
        (_, Dynamic::Null) => out.push_str("null"),
        (_, Dynamic::Unknown) => {
            return Err(ValueError::new(
                path,
                "an unknown value cannot be encoded as JSON",
            ))
        }
        (Type::Dynamic, v) => {
            let inner = v.infer_type();
            out.push_str("{\"value\":");
            write(out, v, &inner, path)?;
            out.push_str(",\"type\":");
            out.push_str(&inner.to_json_value().to_string());
            out.push('}');
        }
        (Type::String, Dynamic::String(s)) => {
            out.push_str(&serde_json::Value::from(s.as_str()).to_string())
        }
        (Type::Number, Dynamic::Number(n)) => match n {
            Number::Float(f) if !f.is_finite() => {
                return Err(ValueError::new(
                    path,
                    "infinite or NaN numbers cannot be encoded as JSON",
                ))
            }
            n => out.push_str(&n.to_string()),
        },
        (Type::Bool, Dynamic::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
        (
            Type::List(et) | Type::Set(et),
            Dynamic::List(v) | Dynamic::Set(v) | Dynamic::Tuple(v),
        ) => write_items(out, v, |_| Some(et), path)?,
        (Type::Tuple(ets), Dynamic::List(v) | Dynamic::Tuple(v)) if v.len() == ets.len() => {
            write_items(out, v, |i| ets.get(i), path)?
        }
        (Type::Map(_) | Type::Object(_), Dynamic::Map(m) | Dynamic::Object(m)) => {
            if let Type::Object(attrs) = ty {
                if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                    return Err(ValueError::new(
                        path,
                        format!("unsupported attribute {extra:?}"),
                    ));
                }
            }
            out.push('{');
            let keys: Vec<&String> = match ty {
                Type::Object(attrs) => attrs.keys().collect(),
                _ => m.keys().collect(),
            };
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::from(k.as_str()).to_string());
                out.push(':');
                let ety = match ty {
                    Type::Object(attrs) => &attrs[k],
                    Type::Map(et) => et,
                    _ => unreachable!("matched above"),
                };
                let len = path.len();
                path.push('.');
                path.push_str(k);
                write(out, m.get(k).unwrap_or(&Dynamic::Null), ety, path)?;
                path.truncate(len);
            }
            out.push('}');
        }
        _ => {
            return Err(ValueError::new(
                path,
                format!("expected {ty}, found {}", value.kind()),
            ))
        }
    }
    Ok(())
}

fn write_items<'t>(
    out: &mut String,
    items: &[Dynamic],
    ty_at: impl Fn(usize) -> Option<&'t Type>,
    path: &mut String,
) -> Result<(), ValueError> {
    out.push('[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let ty = ty_at(i).ok_or_else(|| ValueError::new(path, "too many tuple elements"))?;
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        write(out, v, ty, path)?;
        path.truncate(len);
    }
    out.push(']');
    Ok(())
}
