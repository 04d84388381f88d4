//! Schema derivation: a model struct becomes the expected block.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;
use crate::value::{Number, Value};

/// Inner object.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Inner {
    /// The a.
    a: Value<String>,
    /// The b.
    b: Value<f64>,
}

/// A **widget**.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Widget {
    /// Name; *changing it* replaces the widget.
    #[schemars(extend("x-tf-replace" = true))]
    name: String,
    /// Optional note.
    note: Value<String>,
    /// Size, default 1.
    #[schemars(extend("x-tf-default" = 1))]
    size: Value<i64>,
    /// Server ID.
    #[schemars(extend("x-tf-computed" = true))]
    id: Value<String>,
    /// Password.
    #[schemars(extend("x-tf-sensitive" = true))]
    password: Option<String>,
    /// Tags.
    tags: Value<Vec<String>>,
    /// Unique ports.
    ports: Value<std::collections::BTreeSet<i64>>,
    /// Labels.
    labels: Value<BTreeMap<String, String>>,
    /// Inner as an object type.
    inner: Value<Inner>,
    /// Inner as nested attributes.
    #[schemars(extend("x-tf-nested" = true))]
    nested: Value<Inner>,
    /// Required but maybe unknown.
    #[schemars(extend("x-tf-required" = true))]
    owner: Value<String>,
    /// Computed, also settable.
    #[schemars(extend("x-tf-computed" = true, "x-tf-optional" = true))]
    zone: Value<String>,
}

fn find<'a>(s: &'a Schema, name: &str) -> &'a Attribute {
    s.block.attributes.iter().find(|a| a.name == name).unwrap()
}

/// (required, optional, computed)
fn flags(a: &Attribute) -> (bool, bool, bool) {
    (a.required, a.optional, a.computed)
}

#[test]
fn model_struct_becomes_the_expected_block() {
    let s = Schema::of::<Widget>(2).unwrap();
    assert_eq!(s.version, 2);
    assert_eq!(s.block.description, "A **widget**.");
    let names: Vec<&str> = s.block.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "name", "note", "size", "id", "password", "tags", "ports", "labels", "inner", "nested",
            "owner", "zone"
        ]
    );

    let name = find(&s, "name");
    assert_eq!(
        (name.ty.clone(), flags(name), name.requires_replace),
        (Type::String, (true, false, false), true)
    );
    assert_eq!(name.description, "Name; *changing it* replaces the widget.");
    assert_eq!(flags(find(&s, "note")), (false, true, false));
    let size = find(&s, "size");
    assert_eq!(
        (size.ty.clone(), flags(size)),
        (Type::Number, (false, true, true))
    );
    assert_eq!(size.default, Some(Dynamic::Number(Number::Int(1))));
    assert_eq!(flags(find(&s, "id")), (false, false, true));
    let pw = find(&s, "password");
    assert!(pw.sensitive && pw.optional);
    assert_eq!(find(&s, "tags").ty, Type::List(Box::new(Type::String)));
    assert_eq!(find(&s, "ports").ty, Type::Set(Box::new(Type::Number)));
    assert_eq!(find(&s, "labels").ty, Type::Map(Box::new(Type::String)));
    let inner_ty = Type::Object(
        [
            ("a".to_string(), Type::String),
            ("b".to_string(), Type::Number),
        ]
        .into(),
    );
    let inner = find(&s, "inner");
    assert_eq!(
        (inner.ty.clone(), inner.nested.is_none()),
        (inner_ty.clone(), true)
    );
    let nested = find(&s, "nested");
    let n = nested.nested.as_ref().unwrap();
    assert_eq!(n.nesting, Nesting::Single);
    assert_eq!(
        n.attributes
            .iter()
            .map(|a| (a.name.as_str(), a.optional))
            .collect::<Vec<_>>(),
        [("a", true), ("b", true)]
    );
    assert_eq!(nested.value_type(), inner_ty);
    assert_eq!(flags(find(&s, "owner")), (true, false, false));
    assert_eq!(flags(find(&s, "zone")), (false, true, true));
    assert_eq!(s.sensitive_attributes().collect::<Vec<_>>(), ["password"]);
}

#[test]
fn value_type_is_the_object_of_all_attributes() {
    let s = Schema::of::<Inner>(0).unwrap();
    assert_eq!(
        s.value_type(),
        Type::Object(
            [
                ("a".to_string(), Type::String),
                ("b".to_string(), Type::Number)
            ]
            .into()
        )
    );
}
