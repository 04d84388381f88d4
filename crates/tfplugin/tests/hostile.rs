//! Hostile input for the protocol layer: the value codecs on arbitrary bytes (never a panic; what decodes
//! round-trips), and the example provider served in-process on loopback, fed garbage `DynamicValue`s on
//! ValidateResourceConfig, PlanResourceChange, ApplyResourceChange and ReadResource. Every undecodable
//! value must come back as an error diagnostic, and the server must keep answering afterwards.
//! Case counts are bounded so `make test` stays fast; `make fuzz` runs the codec properties for longer.

#[allow(dead_code)]
#[path = "../examples/testprovider.rs"]
mod testprovider;

#[allow(
    dead_code,
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub
)]
mod pb {
    tonic::include_proto!("tfplugin6");
}

use std::collections::BTreeMap;

use pb::provider_client::ProviderClient;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tfplugin::{Dynamic, Number, Schema, ServeConfig, Type};
use tonic::transport::Channel;

const THING: &str = "pvehatest_thing";

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn thing_type() -> Type {
    Schema::of::<testprovider::Thing>(0)
        .map(|s| s.value_type())
        .unwrap_or_else(|e| panic!("schema: {e}"))
}

/// Types with every collection kind nested in an object, as resource schemas produce, plus `dynamic`.
fn codec_types() -> Vec<Type> {
    let spellings = [
        r#"["object",{"name":"string","size":"number","on":"bool","tags":["list","string"],
            "labels":["map","string"],"ids":["set","number"],
            "nested":["object",{"a":"string","b":["list",["object",{"c":"number","d":["set","string"]}]]}],
            "pair":["tuple",["string","number"]]}]"#,
        r#"["list",["map",["set","string"]]]"#,
        r#""dynamic""#,
    ];
    spellings
        .iter()
        .map(|s| Type::from_json(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

fn has_dynamic(ty: &Type) -> bool {
    match ty {
        Type::Dynamic => true,
        Type::List(t) | Type::Set(t) | Type::Map(t) => has_dynamic(t),
        Type::Object(a) => a.values().any(has_dynamic),
        Type::Tuple(ts) => ts.iter().any(has_dynamic),
        _ => false,
    }
}

/// Bytes that look like msgpack: markers for every kind, with small and huge declared lengths.
fn msgpackish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            0x80u8, 0x81, 0x82, 0x88, 0x90, 0x91, 0x92, 0xa1, 0xa4, 0xc0, 0xc2, 0xc3, 0xd4
        ])
        .prop_map(|b| vec![b]),
        Just(vec![0xdd, 0xff, 0xff, 0xff, 0xff]),
        Just(vec![0xdf, 0x7f, 0xff, 0xff, 0xff]),
        Just(vec![0xc7, 0x00, 0x0c]),
        Just(vec![0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1]),
        "[a-z]{1,4}".prop_map(|s| {
            let mut v = vec![0xa0 | s.len() as u8];
            v.extend(s.bytes());
            v
        }),
    ];
    vec(token, 0..24).prop_map(|ts| ts.concat())
}

/// Text that looks like JSON values.
fn jsonish() -> impl Strategy<Value = String> {
    prop_oneof![
        r#"[\[\]{}",:0-9a-z.eE+ -]{0,40}"#,
        r#"\{("(name|size|tags|labels|nested|pair|ids|x)":(null|1|"a"|\[\]|\{\}|1e999|-0|true|\["a",1\]),?){0,5}\}"#,
        ".{0,40}",
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn msgpack_decoding_never_panics_and_round_trips(pick in 0usize..3, bytes in msgpackish()) {
        let ty = &codec_types()[pick];
        if let Ok(v) = Dynamic::from_msgpack(&bytes, ty) {
            match v.to_msgpack(ty) {
                Ok(again) => prop_assert_eq!(Dynamic::from_msgpack(&again, ty), Ok(v)),
                Err(e) => prop_assert!(has_dynamic(ty), "decoded value does not re-encode: {}", e),
            }
        }
    }

    #[test]
    fn json_decoding_never_panics_and_round_trips(pick in 0usize..3, text in jsonish()) {
        let ty = &codec_types()[pick];
        for decoded in [Dynamic::from_json(text.as_bytes(), ty), Dynamic::from_json_lenient(text.as_bytes(), ty)] {
            let Ok(v) = decoded else { continue };
            match v.to_json(ty) {
                Ok(again) => prop_assert_eq!(Dynamic::from_json(&again, ty), Ok(v)),
                Err(e) => prop_assert!(has_dynamic(ty), "decoded value does not re-encode: {}", e),
            }
        }
    }

    #[test]
    fn type_spellings_never_panic(text in jsonish()) {
        if let Ok(t) = Type::from_json(text.as_bytes()) {
            prop_assert_eq!(Type::from_json(&t.to_json()), Ok(t));
        }
    }
}

#[test]
fn nesting_beyond_the_limit_is_an_error_not_a_stack_overflow() {
    let deep_list = (0..1_000).fold(Type::String, |t, _| Type::List(Box::new(t)));
    let mut bytes = vec![0x91u8; 1_000];
    bytes.push(0xa0);
    assert!(Dynamic::from_msgpack(&bytes, &deep_list).is_err());
    let json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Dynamic::from_json(json.as_bytes(), &deep_list).is_err());
    assert!(Dynamic::from_json(json.as_bytes(), &Type::Dynamic).is_err());
    assert!(Type::from_json(json.as_bytes()).is_err());
}

#[test]
fn huge_declared_lengths_are_errors_without_allocating() {
    let ty = Type::List(Box::new(Type::String));
    assert!(Dynamic::from_msgpack(&[0xdd, 0xff, 0xff, 0xff, 0xff], &ty).is_err());
    assert!(Dynamic::from_msgpack(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'], &Type::String).is_err());
    let map = Type::Map(Box::new(Type::String));
    assert!(Dynamic::from_msgpack(&[0xdf, 0xff, 0xff, 0xff, 0xff], &map).is_err());
}

#[test]
fn nan_is_refused_in_both_codecs() {
    let nan = [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1];
    assert!(Dynamic::from_msgpack(&nan, &Type::Number).is_err());
    assert!(Dynamic::from_json(b"NaN", &Type::Number).is_err());
}

/// The example provider served in-process on loopback TCP, and a client to it.
struct Served {
    runtime: tokio::runtime::Runtime,
    client: ProviderClient<Channel>,
    thing: Type,
}

fn serve() -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = runtime.block_on(async {
        let config = ServeConfig {
            tcp: true,
            ..ServeConfig::default()
        };
        let bound = tfplugin::bind(testprovider::TestProvider, config)
            .await
            .expect("bind");
        let addr = bound.handshake().address.clone();
        assert!(addr.starts_with("127.0.0.1:"), "served on {addr}");
        tokio::spawn(bound.run());
        ProviderClient::connect(format!("http://{addr}"))
            .await
            .expect("connect")
    });
    Served {
        runtime,
        client,
        thing: thing_type(),
    }
}

fn dv_msgpack(bytes: Vec<u8>) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: bytes,
        json: Vec::new(),
    })
}

/// A malformed `DynamicValue`, by how it is malformed.
#[derive(Debug, Clone)]
enum Garbage {
    /// Random msgpack-looking bytes.
    Msgpack(Vec<u8>),
    /// Random JSON-looking text in the `json` field.
    Json(String),
    /// A valid encoding cut short after this many bytes.
    Truncated(usize),
    /// A valid msgpack value of the wrong shape.
    WrongType(usize),
}

fn valid_thing(ty: &Type) -> Vec<u8> {
    let mut attrs: BTreeMap<String, Dynamic> = BTreeMap::new();
    attrs.insert("name".into(), Dynamic::String("a".into()));
    attrs.insert("size".into(), Dynamic::Number(Number::Int(2)));
    attrs.insert(
        "tags".into(),
        Dynamic::List(vec![Dynamic::String("x".into()), Dynamic::Unknown]),
    );
    attrs.insert(
        "labels".into(),
        Dynamic::Map([("k".to_string(), Dynamic::String("v".into()))].into()),
    );
    Dynamic::Object(attrs)
        .conform(ty)
        .and_then(|v| v.to_msgpack(ty))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn wrong_types() -> Vec<Vec<u8>> {
    vec![
        vec![0xa3, b'a', b'b', b'c'], // a string, not an object
        vec![0x92, 0x01, 0x02],       // an array
        vec![0x81, 0xa4, b'n', b'a', b'm', b'e', 0x05], // name is a number
        vec![0x81, 0xa4, b's', b'i', b'z', b'e', 0xa1, b'x'], // size is "x"
        vec![0x81, 0xa5, b'b', b'o', b'g', b'u', b's', 0xc0], // an attribute the schema lacks
        vec![
            0x82, 0xa4, b'n', b'a', b'm', b'e', 0xc0, 0xa4, b'n', b'a', b'm', b'e', 0xc0,
        ], // a duplicate key
        vec![0x81, 0xa4, b't', b'a', b'g', b's', 0x81, 0xa1, b'k', 0xc0], // tags is a map
        vec![0x81, 0xa4, b'n', b'a', b'm', b'e', 0xa2, 0xff, 0xfe], // invalid UTF-8
    ]
}

fn garbage() -> impl Strategy<Value = Garbage> {
    prop_oneof![
        msgpackish().prop_map(Garbage::Msgpack),
        jsonish().prop_map(Garbage::Json),
        (1usize..10_000).prop_map(Garbage::Truncated),
        (0usize..wrong_types().len()).prop_map(Garbage::WrongType),
    ]
}

impl Garbage {
    fn value(&self, ty: &Type) -> pb::DynamicValue {
        match self {
            Garbage::Msgpack(b) => pb::DynamicValue {
                msgpack: b.clone(),
                json: Vec::new(),
            },
            Garbage::Json(t) => pb::DynamicValue {
                msgpack: Vec::new(),
                json: t.clone().into_bytes(),
            },
            Garbage::Truncated(n) => {
                let mut full = valid_thing(ty);
                full.truncate(n % (full.len() - 1) + 1);
                pb::DynamicValue {
                    msgpack: full,
                    json: Vec::new(),
                }
            }
            Garbage::WrongType(i) => pb::DynamicValue {
                msgpack: wrong_types()[*i].clone(),
                json: Vec::new(),
            },
        }
    }

    /// Whether the provider's own codec refuses this value (then the RPC must answer with an error).
    fn undecodable(&self, ty: &Type) -> bool {
        let v = self.value(ty);
        let decoded = if !v.msgpack.is_empty() {
            Dynamic::from_msgpack(&v.msgpack, ty)
        } else if !v.json.is_empty() {
            Dynamic::from_json(&v.json, ty)
        } else {
            Ok(Dynamic::Null)
        };
        decoded.is_err()
    }
}

fn errors(diags: &[pb::Diagnostic]) -> Vec<&str> {
    diags
        .iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .map(|d| d.summary.as_str())
        .collect()
}

/// Sends `g` to one of the four RPCs in the slot `slot` and returns the error summaries.
async fn send(
    client: &mut ProviderClient<Channel>,
    rpc: usize,
    slot: usize,
    g: pb::DynamicValue,
) -> Vec<String> {
    let null = || dv_msgpack(vec![0xc0]);
    let pick = |i: usize| if i == slot { Some(g.clone()) } else { null() };
    let diags = match rpc {
        0 => client
            .validate_resource_config(pb::validate_resource_config::Request {
                type_name: THING.into(),
                config: Some(g.clone()),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().diagnostics),
        1 => client
            .plan_resource_change(pb::plan_resource_change::Request {
                type_name: THING.into(),
                prior_state: pick(0),
                proposed_new_state: pick(1),
                config: pick(2),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().diagnostics),
        2 => client
            .apply_resource_change(pb::apply_resource_change::Request {
                type_name: THING.into(),
                prior_state: pick(0),
                planned_state: pick(1 + slot % 2),
                config: null(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().diagnostics),
        _ => client
            .read_resource(pb::read_resource::Request {
                type_name: THING.into(),
                current_state: Some(g.clone()),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().diagnostics),
    };
    let diags = diags.unwrap_or_else(|s| {
        panic!("the server failed the call instead of answering a diagnostic: {s}")
    });
    errors(&diags).into_iter().map(str::to_string).collect()
}

#[test]
fn garbage_values_get_error_diagnostics_and_the_server_keeps_answering() {
    let s = serve();
    let mut runner = TestRunner::new(Config {
        cases: 192,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0usize..4, 0usize..3, garbage());
    let result = runner.run(&strategy, |(rpc, slot, g)| {
        let value = g.value(&s.thing);
        let undecodable = g.undecodable(&s.thing);
        let mut client = s.client.clone();
        let errs = s.runtime.block_on(send(&mut client, rpc, slot, value));
        if undecodable {
            prop_assert!(
                errs.iter().any(|e| e.starts_with("Invalid ")),
                "rpc {} took {:?} without an Invalid … error: {:?}",
                rpc,
                g,
                errs
            );
        }
        let alive = s
            .runtime
            .block_on(client.get_metadata(pb::get_metadata::Request {}));
        prop_assert!(alive.is_ok(), "the server stopped answering after {:?}", g);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn a_valid_config_validates_cleanly_after_garbage() {
    let mut s = serve();
    let garbage = Garbage::WrongType(3).value(&s.thing);
    let errs = s.runtime.block_on(send(&mut s.client, 0, 0, garbage));
    assert_eq!(errs, ["Invalid configuration"]);
    let valid = dv_msgpack(valid_thing(&s.thing)).expect("value");
    let errs = s.runtime.block_on(send(&mut s.client, 0, 0, valid));
    assert!(
        errs.is_empty(),
        "a valid configuration was refused: {errs:?}"
    );
}

#[test]
fn every_truncation_of_a_valid_value_is_refused() {
    let mut s = serve();
    let full = valid_thing(&s.thing);
    for cut in 1..full.len() {
        let v = pb::DynamicValue {
            msgpack: full[..cut].to_vec(),
            json: Vec::new(),
        };
        let errs = s.runtime.block_on(send(&mut s.client, 3, 0, v));
        assert_eq!(errs, ["Invalid state"], "cut at {cut} of {}", full.len());
    }
}

#[test]
fn unknown_resource_types_and_empty_requests_are_diagnosed() {
    let mut s = serve();
    let diags = s
        .runtime
        .block_on(
            s.client
                .plan_resource_change(pb::plan_resource_change::Request {
                    type_name: "pvehatest_nope".into(),
                    ..Default::default()
                }),
        )
        .map(|r| r.into_inner().diagnostics)
        .expect("answered");
    assert_eq!(errors(&diags), ["Unknown resource type"]);
    let diags = s
        .runtime
        .block_on(
            s.client
                .apply_resource_change(pb::apply_resource_change::Request::default()),
        )
        .map(|r| r.into_inner().diagnostics)
        .expect("answered");
    assert_eq!(errors(&diags), ["Unknown resource type"]);
}
