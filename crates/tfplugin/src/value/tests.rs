//! Codec tests: every type, unknowns at every depth, big numbers, malformed input rejected without panics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

fn obj(pairs: &[(&str, Dynamic)]) -> Dynamic {
    Dynamic::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn s(v: &str) -> Dynamic {
    Dynamic::String(v.into())
}

fn every_type() -> Type {
    Type::from_json(
        br#"["object",{
            "s":"string","n":"number","b":"bool","d":"dynamic",
            "l":["list","string"],"st":["set","number"],"m":["map","bool"],
            "o":["object",{"a":"string","inner":["list",["map","string"]]}],
            "t":["tuple",["string","number"]]
        }]"#,
    )
    .unwrap()
}

fn sample() -> Dynamic {
    obj(&[
        ("s", s("héllo \"q\" \n")),
        ("n", Dynamic::Number(Number::Float(2.5))),
        ("b", Dynamic::Bool(true)),
        ("d", Dynamic::List(vec![s("x")])),
        ("l", Dynamic::List(vec![s("a"), Dynamic::Null])),
        (
            "st",
            Dynamic::Set(vec![
                Dynamic::Number(Number::Int(-3)),
                Dynamic::Number(Number::Big("123456789012345678901234567890".into())),
            ]),
        ),
        (
            "m",
            Dynamic::Map([("k".to_string(), Dynamic::Bool(false))].into()),
        ),
        (
            "o",
            obj(&[
                ("a", Dynamic::Null),
                (
                    "inner",
                    Dynamic::List(vec![Dynamic::Map([("x".to_string(), s("y"))].into())]),
                ),
            ]),
        ),
        (
            "t",
            Dynamic::Tuple(vec![s("t"), Dynamic::Number(Number::Int(i64::MAX))]),
        ),
    ])
}

#[test]
fn msgpack_round_trips_every_type() {
    let ty = every_type();
    let v = sample();
    let bytes = v.to_msgpack(&ty).unwrap();
    assert_eq!(Dynamic::from_msgpack(&bytes, &ty).unwrap(), v);
}

#[test]
fn json_round_trips_every_type() {
    let ty = every_type();
    let v = sample();
    let bytes = v.to_json(&ty).unwrap();
    assert_eq!(Dynamic::from_json(&bytes, &ty).unwrap(), v);
}

/// Replaces the value at each position in turn by unknown, so every depth is covered.
fn with_unknown_everywhere(v: &Dynamic) -> Vec<Dynamic> {
    let mut out = vec![Dynamic::Unknown];
    match v {
        Dynamic::List(items) | Dynamic::Set(items) | Dynamic::Tuple(items) => {
            for (i, item) in items.iter().enumerate() {
                for variant in with_unknown_everywhere(item) {
                    let mut copy = items.clone();
                    copy[i] = variant;
                    out.push(match v {
                        Dynamic::List(_) => Dynamic::List(copy),
                        Dynamic::Set(_) => Dynamic::Set(copy),
                        _ => Dynamic::Tuple(copy),
                    });
                }
            }
        }
        Dynamic::Map(m) | Dynamic::Object(m) => {
            for (k, item) in m {
                for variant in with_unknown_everywhere(item) {
                    let mut copy = m.clone();
                    copy.insert(k.clone(), variant);
                    out.push(if matches!(v, Dynamic::Map(_)) {
                        Dynamic::Map(copy)
                    } else {
                        Dynamic::Object(copy)
                    });
                }
            }
        }
        _ => {}
    }
    out
}

#[test]
fn unknowns_round_trip_at_every_depth() {
    let ty = every_type();
    let variants = with_unknown_everywhere(&sample());
    assert!(variants.len() > 20);
    for v in variants {
        let bytes = v.to_msgpack(&ty).unwrap();
        let back = Dynamic::from_msgpack(&bytes, &ty).unwrap();
        assert_eq!(back, v);
        assert!(!back.is_wholly_known());
        assert!(v.to_json(&ty).is_err(), "unknown must not encode as JSON");
    }
}

#[test]
fn any_extension_type_decodes_as_unknown() {
    // fixext1 type 0 (classic unknown), ext8 type 12 with a refinement payload.
    assert_eq!(
        Dynamic::from_msgpack(&[0xd4, 0, 0], &Type::String).unwrap(),
        Dynamic::Unknown
    );
    assert_eq!(
        Dynamic::from_msgpack(&[0xc7, 3, 12, 0x81, 0x01, 0xc3], &Type::String).unwrap(),
        Dynamic::Unknown
    );
    let list = [0x92, 0xa1, b'a', 0xd4, 12, 0];
    let v = Dynamic::from_msgpack(&list, &Type::List(Box::new(Type::String))).unwrap();
    assert_eq!(v, Dynamic::List(vec![s("a"), Dynamic::Unknown]));
}

#[test]
fn numbers_decode_from_int_float_and_string() {
    let big = "98765432109876543210.123456789";
    let mut bytes = vec![0xd9, big.len() as u8];
    bytes.extend_from_slice(big.as_bytes());
    let v = Dynamic::from_msgpack(&bytes, &Type::Number).unwrap();
    assert_eq!(v, Dynamic::Number(Number::Big(big.into())));
    let mut as_str = Vec::new();
    rmp::encode::write_str(&mut as_str, big).unwrap();
    assert_eq!(
        v.to_msgpack(&Type::Number).unwrap(),
        as_str,
        "big numbers go back out as strings"
    );
    assert_eq!(
        Dynamic::from_msgpack(
            &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &Type::Number
        )
        .unwrap(),
        Dynamic::Number(Number::Big(u64::MAX.to_string()))
    );
    let f = Dynamic::from_msgpack(&[0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], &Type::Number).unwrap();
    assert_eq!(f, Dynamic::Number(Number::Float(1.5)));
    assert_eq!(
        Dynamic::from_msgpack(&[0x05], &Type::Number).unwrap(),
        Dynamic::Number(Number::Int(5))
    );
    let json = Dynamic::from_json(b"123456789012345678901234567890.5", &Type::Number).unwrap();
    assert_eq!(
        json.to_json(&Type::Number).unwrap(),
        b"123456789012345678901234567890.5"
    );
}

#[test]
fn dynamic_values_carry_their_type() {
    let v = obj(&[("a", s("x")), ("n", Dynamic::Number(Number::Int(1)))]);
    let bytes = v.to_msgpack(&Type::Dynamic).unwrap();
    assert_eq!(Dynamic::from_msgpack(&bytes, &Type::Dynamic).unwrap(), v);
    let json = v.to_json(&Type::Dynamic).unwrap();
    assert_eq!(Dynamic::from_json(&json, &Type::Dynamic).unwrap(), v);
}

#[test]
fn malformed_msgpack_is_an_error_not_a_panic() {
    let ty = every_type();
    let good = sample().to_msgpack(&ty).unwrap();
    for cut in 0..good.len() {
        assert!(
            Dynamic::from_msgpack(&good[..cut], &ty).is_err(),
            "truncated at {cut}"
        );
    }
    let mut trailing = good.clone();
    trailing.push(0xc0);
    assert!(Dynamic::from_msgpack(&trailing, &ty).is_err());
    // Every single-byte corruption either decodes or errors; none may panic.
    for i in 0..good.len() {
        for b in [0x00, 0x7f, 0x90, 0xc1, 0xdc, 0xdd, 0xdf, 0xff] {
            let mut bad = good.clone();
            bad[i] = b;
            let _ = Dynamic::from_msgpack(&bad, &ty);
        }
    }
    // Huge declared lengths with no data behind them.
    assert!(Dynamic::from_msgpack(
        &[0xdd, 0xff, 0xff, 0xff, 0xff],
        &Type::List(Box::new(Type::String))
    )
    .is_err());
    assert!(Dynamic::from_msgpack(&[0xdb, 0xff, 0xff, 0xff, 0xff], &Type::String).is_err());
    assert!(
        Dynamic::from_msgpack(&[0xa1, 0xff], &Type::String).is_err(),
        "invalid UTF-8"
    );
    assert!(
        Dynamic::from_msgpack(&[0xc3], &Type::String).is_err(),
        "type mismatch"
    );
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    let ty = every_type();
    for bad in [
        &b""[..],
        b"{",
        b"{\"s\":",
        b"[1,]",
        b"{\"s\":\"\\u12\"}",
        b"{\"s\":1}",
        b"{\"zzz\":1}",
        b"nul",
        b"\xff",
    ] {
        assert!(
            Dynamic::from_json(bad, &ty).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let deep = "[".repeat(10_000);
    assert!(Dynamic::from_json(deep.as_bytes(), &Type::Dynamic).is_err());
    assert!(
        Dynamic::from_json_lenient(b"{\"zzz\":1}", &ty).is_ok(),
        "lenient drops unknown attributes"
    );
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Model {
    name: String,
    size: Value<i64>,
    id: Value<String>,
    tags: Value<Vec<String>>,
    labels: BTreeMap<String, String>,
    ratio: Option<f64>,
}

#[test]
fn models_round_trip_through_dynamic_with_all_three_states() {
    let m = Model {
        name: "a".into(),
        size: Value::Known(3),
        id: Value::Unknown,
        tags: Value::Null,
        labels: [("k".to_string(), "v".to_string())].into(),
        ratio: Some(0.5),
    };
    let ty = Type::from_json(
        br#"["object",{"name":"string","size":"number","id":"string","tags":["list","string"],"labels":["map","string"],"ratio":"number"}]"#,
    )
    .unwrap();
    let d = to_dynamic(&m).unwrap().conform(&ty).unwrap();
    assert_eq!(d.get("id"), Some(&Dynamic::Unknown));
    let wire = d.to_msgpack(&ty).unwrap();
    let back: Model = from_dynamic(Dynamic::from_msgpack(&wire, &ty).unwrap()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn unknown_in_a_plain_field_is_an_error() {
    let d = obj(&[
        ("name", Dynamic::Unknown),
        ("size", Dynamic::Null),
        ("id", Dynamic::Null),
        ("tags", Dynamic::Null),
        ("labels", Dynamic::Map(BTreeMap::new())),
        ("ratio", Dynamic::Null),
    ]);
    assert!(from_dynamic::<Model>(d).is_err());
}

#[test]
fn value_serde_json_treats_value_as_optional() {
    let v: Value<String> = serde_json::from_str("null").unwrap();
    assert_eq!(v, Value::Null);
    let v: Value<String> = serde_json::from_str("\"x\"").unwrap();
    assert_eq!(v, Value::Known("x".into()));
}
