//! Shared checks for the fuzz targets: the schema types the value codecs are driven with, the round-trip
//! properties each target asserts, and a structured model of a simulator request. Each check panics on a
//! broken property (that is how libFuzzer learns of it) and must not panic on input that is merely invalid.

pub mod sim;

use tfplugin::{Dynamic, Type};

fn t(json: &str) -> Type {
    // The spellings below are fixed and valid; a typo here is a bug in the fuzz crate, not in the input.
    Type::from_json(json.as_bytes())
        .unwrap_or_else(|e| panic!("fuzz schema {json} does not parse: {e}"))
}

/// The schema types the codecs are fuzzed against; the first input byte picks one.
pub fn schema_types() -> Vec<Type> {
    vec![
        // A resource-like object: scalars, nested collections, a nested object with a list of objects, a tuple.
        t(r#"["object",{
            "name":"string","size":"number","enabled":"bool",
            "tags":["list","string"],"labels":["map","string"],"ids":["set","number"],
            "nested":["object",{"a":"string","b":["list",["object",{"c":"number","d":["set","string"]}]]}],
            "pair":["tuple",["string","number"]]
        }]"#),
        t(r#"["list",["map",["set","string"]]]"#),
        t(r#"["map",["object",{"n":"number","flags":["set","bool"]}]]"#),
        t(r#""dynamic""#),
        t(
            r#"["object",{"meta":"dynamic","rows":["list",["object",{"x":"dynamic","y":"string"}]]}]"#,
        ),
    ]
}

/// Splits fuzz input into a type and the value bytes: the first byte picks one of [`schema_types`], or,
/// past their number, the input up to the first NUL byte is a type's JSON spelling, so types are fuzzed too.
pub fn split_typed(data: &[u8]) -> Option<(Type, &[u8])> {
    let (&pick, rest) = data.split_first()?;
    let types = schema_types();
    match types.get(usize::from(pick) % (types.len() + 1)) {
        Some(ty) => Some((ty.clone(), rest)),
        None => {
            let nul = rest.iter().position(|b| *b == 0)?;
            let ty = Type::from_json(&rest[..nul]).ok()?;
            Some((ty, &rest[nul + 1..]))
        }
    }
}

/// Whether `ty` contains `dynamic` anywhere. cty wants one element type per collection, but a decoded
/// `list(dynamic)` may mix element types, which the encoder (inferring one type) may then refuse.
pub fn has_dynamic(ty: &Type) -> bool {
    match ty {
        Type::Dynamic => true,
        Type::List(t) | Type::Set(t) | Type::Map(t) => has_dynamic(t),
        Type::Object(attrs) => attrs.values().any(has_dynamic),
        Type::Tuple(ts) => ts.iter().any(has_dynamic),
        Type::String | Type::Number | Type::Bool => false,
    }
}

/// msgpack: whatever decodes must re-encode (unless `dynamic` is involved) and decode to an equal value.
pub fn check_msgpack(ty: &Type, bytes: &[u8]) {
    let Ok(value) = Dynamic::from_msgpack(bytes, ty) else {
        return;
    };
    let encoded = match value.to_msgpack(ty) {
        Ok(e) => e,
        Err(_) if has_dynamic(ty) => return,
        Err(e) => panic!("decoded msgpack does not re-encode as {ty}: {e}\nvalue: {value:?}"),
    };
    let back = Dynamic::from_msgpack(&encoded, ty).unwrap_or_else(|e| {
        panic!("re-encoded msgpack does not decode: {e}\nvalue: {value:?}\nbytes: {encoded:02x?}")
    });
    assert_eq!(back, value, "msgpack round trip changed the value");
}

/// JSON (the state format): the same round trip, strict and lenient, plus JSON → msgpack → equal value,
/// which is the path a stored state takes to become a `DynamicValue`.
pub fn check_json(ty: &Type, bytes: &[u8]) {
    let strict = Dynamic::from_json(bytes, ty);
    let lenient = Dynamic::from_json_lenient(bytes, ty);
    if let Ok(v) = &strict {
        assert_eq!(
            lenient.as_ref().ok(),
            Some(v),
            "lenient decoding disagrees with strict decoding"
        );
    }
    for value in [strict, lenient].into_iter().flatten() {
        let encoded = match value.to_json(ty) {
            Ok(e) => e,
            Err(_) if has_dynamic(ty) => continue,
            Err(e) => panic!("decoded JSON does not re-encode as {ty}: {e}\nvalue: {value:?}"),
        };
        let back = Dynamic::from_json(&encoded, ty).unwrap_or_else(|e| {
            panic!(
                "re-encoded JSON does not decode: {e}\nvalue: {value:?}\njson: {}",
                String::from_utf8_lossy(&encoded)
            )
        });
        assert_eq!(back, value, "JSON round trip changed the value");
        let Ok(msgpack) = value.to_msgpack(ty) else {
            continue;
        };
        let via = Dynamic::from_msgpack(&msgpack, ty)
            .unwrap_or_else(|e| panic!("JSON → msgpack does not decode: {e}"));
        assert_eq!(via, value, "JSON → msgpack changed the value");
    }
}
