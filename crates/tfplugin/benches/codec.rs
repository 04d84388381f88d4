//! Value codec benchmark: decode + encode of a 1,000-element msgpack `DynamicValue` whose elements are
//! nested objects with unknowns at several depths — the shape of a plan over many resources.
//! `pveha-bench` reads the `codec/roundtrip/1000` median from what criterion writes.

// criterion_group! defines a public function without a doc comment.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tfplugin::{Dynamic, Number, Type};

const ELEMENTS: usize = 1_000;

/// `list(object({...}))` with strings, numbers, bools, a set, a map and a nested object with a list.
fn element_type() -> Type {
    let nested = Type::Object(BTreeMap::from([
        ("comment".to_string(), Type::String),
        ("max_restart".to_string(), Type::Number),
        ("history".to_string(), Type::List(Box::new(Type::Number))),
    ]));
    Type::Object(BTreeMap::from([
        ("sid".to_string(), Type::String),
        ("node".to_string(), Type::String),
        ("vmid".to_string(), Type::Number),
        ("weight".to_string(), Type::Number),
        ("enabled".to_string(), Type::Bool),
        ("tags".to_string(), Type::Set(Box::new(Type::String))),
        ("nodes".to_string(), Type::Map(Box::new(Type::Number))),
        ("policy".to_string(), nested),
    ]))
}

/// Element `i`: every 7th has an unknown node, every 11th an unknown nested object, every 13th an
/// unknown inside the nested list, every 17th a null map.
fn element(i: usize) -> Dynamic {
    let s = |v: String| Dynamic::String(v);
    let int = |v: i64| Dynamic::Number(Number::Int(v));
    let history = (0..4)
        .map(|k| {
            if i.is_multiple_of(13) && k == 2 {
                Dynamic::Unknown
            } else {
                int((i * k) as i64)
            }
        })
        .collect();
    let policy = if i.is_multiple_of(11) {
        Dynamic::Unknown
    } else {
        Dynamic::Object(BTreeMap::from([
            (
                "comment".to_string(),
                s(format!("service {i} of the bench cluster")),
            ),
            ("max_restart".to_string(), int((i % 4) as i64)),
            ("history".to_string(), Dynamic::List(history)),
        ]))
    };
    let nodes = if i.is_multiple_of(17) {
        Dynamic::Null
    } else {
        Dynamic::Map(
            (1..=3)
                .map(|n| (format!("node{n}"), int(((i + n) % 1000) as i64)))
                .collect(),
        )
    };
    Dynamic::Object(BTreeMap::from([
        ("sid".to_string(), s(format!("ct:{}", 1000 + i))),
        (
            "node".to_string(),
            if i.is_multiple_of(7) {
                Dynamic::Unknown
            } else {
                s(format!("node{}", i % 3 + 1))
            },
        ),
        ("vmid".to_string(), int(1000 + i as i64)),
        (
            "weight".to_string(),
            Dynamic::Number(Number::Float(i as f64 + 0.5)),
        ),
        ("enabled".to_string(), Dynamic::Bool(i.is_multiple_of(2))),
        (
            "tags".to_string(),
            Dynamic::Set(vec![s("bench".into()), s(format!("tier{}", i % 5))]),
        ),
        ("nodes".to_string(), nodes),
        ("policy".to_string(), policy),
    ]))
}

fn codec(c: &mut Criterion) {
    let ty = Type::List(Box::new(element_type()));
    let value = Dynamic::List((0..ELEMENTS).map(element).collect());
    let Ok(bytes) = value.to_msgpack(&ty) else {
        panic!("the bench value must encode");
    };
    // Guard the figure: a codec that loses unknowns would be timing something else.
    match Dynamic::from_msgpack(&bytes, &ty) {
        Ok(decoded) if decoded == value => {}
        other => panic!("the bench value must round-trip unchanged, got {other:?}"),
    }
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("roundtrip", ELEMENTS),
        &bytes,
        |b, bytes| {
            b.iter(|| {
                let decoded =
                    Dynamic::from_msgpack(black_box(bytes), &ty).map_err(|e| e.to_string());
                black_box(decoded.and_then(|d| d.to_msgpack(&ty).map_err(|e| e.to_string())))
            })
        },
    );
    group.bench_with_input(BenchmarkId::new("decode", ELEMENTS), &bytes, |b, bytes| {
        b.iter(|| black_box(Dynamic::from_msgpack(black_box(bytes), &ty)))
    });
    group.bench_with_input(BenchmarkId::new("encode", ELEMENTS), &value, |b, value| {
        b.iter(|| black_box(value.to_msgpack(&ty)))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
