//! Request parameters: collecting them from the path, query string and body, and checking them against an
//! endpoint's parameter spec the way `PVE::JSONSchema` does (types, enums, formats, ranges, unknown names).
//! The specs themselves live in `specs.rs`; this module knows no endpoint.

use std::collections::BTreeMap;

use regex::Regex;
use std::sync::OnceLock;

use crate::error::{ApiError, ApiResult};

/// JSON schema type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `string`
    String,
    /// `integer`
    Integer,
    /// `boolean`
    Boolean,
    /// `number`
    Number,
}

impl Ty {
    /// The schema's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Boolean => "boolean",
            Ty::Number => "number",
        }
    }
}

/// One parameter as the official schema describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    /// Parameter name; a trailing `[n]` stands for `name0`, `name1`, ...
    pub name: &'static str,
    /// Schema type.
    pub ty: Ty,
    /// `optional: 1` in the schema.
    pub optional: bool,
    /// Named format (`pve-configid`, ...), checked by `check_format`.
    pub format: Option<&'static str>,
    /// Allowed values.
    pub enumeration: Option<&'static [&'static str]>,
    /// Minimum value for integers/numbers.
    pub minimum: Option<i64>,
    /// Maximum value for integers/numbers.
    pub maximum: Option<i64>,
    /// Maximum string length.
    pub max_length: Option<usize>,
    /// Regex the whole value must match.
    pub pattern: Option<&'static str>,
    /// Accepted without checks beyond the type (parameters the simulator stores verbatim).
    pub opaque: bool,
}

impl ParamSpec {
    /// A required string.
    pub const fn string(name: &'static str) -> Self {
        ParamSpec {
            name,
            ty: Ty::String,
            optional: false,
            format: None,
            enumeration: None,
            minimum: None,
            maximum: None,
            max_length: None,
            pattern: None,
            opaque: false,
        }
    }
    /// A required integer.
    pub const fn integer(name: &'static str) -> Self {
        ParamSpec {
            ty: Ty::Integer,
            ..Self::string(name)
        }
    }
    /// A required boolean.
    pub const fn boolean(name: &'static str) -> Self {
        ParamSpec {
            ty: Ty::Boolean,
            ..Self::string(name)
        }
    }
    /// A required number.
    pub const fn number(name: &'static str) -> Self {
        ParamSpec {
            ty: Ty::Number,
            ..Self::string(name)
        }
    }
    /// Mark optional.
    pub const fn opt(self) -> Self {
        ParamSpec {
            optional: true,
            ..self
        }
    }
    /// Set the format.
    pub const fn fmt(self, format: &'static str) -> Self {
        ParamSpec {
            format: Some(format),
            ..self
        }
    }
    /// Set the enumeration.
    pub const fn one_of(self, values: &'static [&'static str]) -> Self {
        ParamSpec {
            enumeration: Some(values),
            ..self
        }
    }
    /// Set the minimum.
    pub const fn min(self, v: i64) -> Self {
        ParamSpec {
            minimum: Some(v),
            ..self
        }
    }
    /// Set the maximum.
    pub const fn max(self, v: i64) -> Self {
        ParamSpec {
            maximum: Some(v),
            ..self
        }
    }
    /// Set the maximum length.
    pub const fn max_len(self, v: usize) -> Self {
        ParamSpec {
            max_length: Some(v),
            ..self
        }
    }
    /// Set the pattern.
    pub const fn pat(self, p: &'static str) -> Self {
        ParamSpec {
            pattern: Some(p),
            ..self
        }
    }
    /// Accept the value after the type check only.
    pub const fn opaque(self) -> Self {
        ParamSpec {
            opaque: true,
            ..self
        }
    }

    fn matches_name(&self, key: &str) -> bool {
        match self.name.strip_suffix("[n]") {
            Some(prefix) => key
                .strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())),
            None => self.name == key,
        }
    }
}

/// A raw parameter value as it came over the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// From the path, the query string or a form body.
    Text(String),
    /// From a JSON body.
    Json(serde_json::Value),
}

/// A checked parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A string.
    Str(String),
    /// An integer (also booleans, as 0/1).
    Int(i64),
    /// A number.
    Num(f64),
}

impl Val {
    /// The value as the section-config/file text would hold it.
    pub fn to_text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Int(i) => i.to_string(),
            Val::Num(n) => n.to_string(),
        }
    }
    /// The value as JSON (integers stay numbers, as GET returns them).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Val::Str(s) => serde_json::Value::String(s.clone()),
            Val::Int(i) => serde_json::Value::from(*i),
            Val::Num(n) => serde_json::Value::from(*n),
        }
    }
}

/// Checked parameters of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub BTreeMap<String, Val>);

impl Params {
    /// A string parameter.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(Val::Str(s)) => Some(s),
            _ => None,
        }
    }
    /// An integer or boolean parameter.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.0.get(name) {
            Some(Val::Int(i)) => Some(*i),
            _ => None,
        }
    }
    /// Whether the parameter was given.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// Merge the parameters of a request: body first, query string over it, then the path parameters, which
/// must agree with any same-named value (`duplicate parameter` otherwise).
pub fn merge(
    path: &[(String, String)],
    query: Vec<(String, Raw)>,
    body: Vec<(String, Raw)>,
) -> ApiResult<BTreeMap<String, Raw>> {
    let mut all: BTreeMap<String, Raw> = BTreeMap::new();
    for (k, v) in body.into_iter().chain(query) {
        all.insert(k, v);
    }
    for (k, v) in path {
        if let Some(existing) = all.get(k) {
            let same = match existing {
                Raw::Text(t) => t == v,
                Raw::Json(serde_json::Value::String(t)) => t == v,
                Raw::Json(_) => scalar_text(existing, Ty::String).is_ok_and(|t| t == *v),
            };
            if !same {
                return Err(ApiError::param(
                    k,
                    "duplicate parameter (already defined in URI) with conflicting values!",
                ));
            }
        }
        all.insert(k.clone(), Raw::Text(v.clone()));
    }
    Ok(all)
}

/// Check merged parameters against the specs; every problem is collected, as the real checker does.
pub fn validate(specs: &[ParamSpec], raw: BTreeMap<String, Raw>) -> ApiResult<Params> {
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for spec in specs
        .iter()
        .filter(|s| !s.optional && !s.name.ends_with("[n]"))
    {
        if !raw.contains_key(spec.name) {
            errors.insert(
                spec.name.into(),
                "property is missing and it is not optional".into(),
            );
        }
    }
    for (key, value) in raw {
        let Some(spec) = specs.iter().find(|s| s.matches_name(&key)) else {
            errors.insert(
                key,
                "property is not defined in schema and the schema does not allow additional properties"
                    .into(),
            );
            continue;
        };
        match check_value(spec, value) {
            Ok(v) => {
                out.insert(key, v);
            }
            Err(msg) => {
                errors.insert(key, msg);
            }
        }
    }
    if errors.is_empty() {
        Ok(Params(out))
    } else {
        Err(ApiError::params(errors))
    }
}

fn scalar_text(value: &Raw, ty: Ty) -> Result<String, String> {
    match value {
        Raw::Text(t) => Ok(t.clone()),
        Raw::Json(serde_json::Value::String(s)) => Ok(s.clone()),
        Raw::Json(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Raw::Json(serde_json::Value::Bool(b)) => Ok(if *b { "1" } else { "0" }.to_string()),
        Raw::Json(serde_json::Value::Null) => Ok(String::new()),
        // Legacy normalisation: arrays for list-typed strings are joined with commas.
        Raw::Json(serde_json::Value::Array(items)) if ty == Ty::String => {
            let mut parts = Vec::new();
            for item in items {
                match item {
                    serde_json::Value::String(s) => parts.push(s.clone()),
                    serde_json::Value::Number(n) => parts.push(n.to_string()),
                    _ => return Err(format!("type check ('{}') failed - got ARRAY", ty.as_str())),
                }
            }
            Ok(parts.join(","))
        }
        Raw::Json(serde_json::Value::Array(_)) => {
            Err(format!("type check ('{}') failed - got ARRAY", ty.as_str()))
        }
        Raw::Json(serde_json::Value::Object(_)) => {
            Err(format!("type check ('{}') failed - got HASH", ty.as_str()))
        }
    }
}

fn check_value(spec: &ParamSpec, value: Raw) -> Result<Val, String> {
    let is_json_bool = matches!(value, Raw::Json(serde_json::Value::Bool(_)));
    let text = scalar_text(&value, spec.ty)?;
    let type_err = || {
        format!(
            "type check ('{}') failed - got '{}'",
            spec.ty.as_str(),
            text
        )
    };
    let val = match spec.ty {
        Ty::Boolean => match text.as_str() {
            "1" => Val::Int(1),
            "0" => Val::Int(0),
            _ => return Err(type_err()),
        },
        Ty::Integer => {
            if is_json_bool || !integer_re().is_match(&text) {
                return Err(type_err());
            }
            Val::Int(text.parse::<i64>().map_err(|_| type_err())?)
        }
        Ty::Number => {
            if is_json_bool || !number_re().is_match(&text) {
                return Err(type_err());
            }
            Val::Num(text.parse::<f64>().map_err(|_| type_err())?)
        }
        Ty::String => Val::Str(text.clone()),
    };
    if spec.opaque {
        return Ok(val);
    }
    if let Some(format) = spec.format {
        if let Err(msg) = check_format(format, &text) {
            return Err(format!("invalid format - {msg}\n"));
        }
    }
    match &val {
        Val::Int(i) => check_range(spec, *i as f64)?,
        Val::Num(n) => check_range(spec, *n)?,
        Val::Str(_) => {}
    }
    if let Some(max) = spec.max_length {
        if text.chars().count() > max {
            return Err(format!("value may only be {max} characters long"));
        }
    }
    if let Some(values) = spec.enumeration {
        if !values.contains(&text.as_str()) {
            return Err(format!(
                "value '{text}' does not have a value in the enumeration '{}'",
                values.join(", ")
            ));
        }
    }
    if let Some(p) = spec.pattern {
        let anchored = format!("^(?:{})$", p.trim_start_matches('^').trim_end_matches('$'));
        if let Ok(re) = Regex::new(&anchored) {
            if !re.is_match(&text) {
                return Err("value does not match the regex pattern".into());
            }
        }
    }
    Ok(val)
}

fn check_range(spec: &ParamSpec, v: f64) -> Result<(), String> {
    if let Some(min) = spec.minimum {
        if v < min as f64 {
            return Err(format!("value must have a minimum value of {min}"));
        }
    }
    if let Some(max) = spec.maximum {
        if v > max as f64 {
            return Err(format!("value must have a maximum value of {max}"));
        }
    }
    Ok(())
}

fn integer_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[+-]?\d+$").unwrap_or_else(|_| unreachable!()))
}

fn number_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[+-]?(\d+\.\d+|\d+\.?|\.\d+)([eE][+-]?\d+)?$")
            .unwrap_or_else(|_| unreachable!())
    })
}

fn re(cell: &'static OnceLock<Regex>, src: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(src).unwrap_or_else(|_| unreachable!()))
}

/// Split a list value as `PVE::Tools::split_list` does: on commas, semicolons and whitespace.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace() || c == '\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Check a value against a named format; the error is the validator's message.
pub fn check_format(format: &str, value: &str) -> Result<(), String> {
    if let Some(base) = format.strip_suffix("-list") {
        if is_known_format(base) {
            for item in split_list(value) {
                check_format(base, &item)?;
            }
            return Ok(());
        }
    }
    static CONFIGID: OnceLock<Regex> = OnceLock::new();
    static NODE: OnceLock<Regex> = OnceLock::new();
    static HA_NODE: OnceLock<Regex> = OnceLock::new();
    static HA_SID_OR_VMID: OnceLock<Regex> = OnceLock::new();
    static HA_SID: OnceLock<Regex> = OnceLock::new();
    static REALM: OnceLock<Regex> = OnceLock::new();
    match format {
        "pve-configid" => {
            if re(&CONFIGID, r"(?i)^[a-z][a-z0-9_-]+$").is_match(value) {
                Ok(())
            } else {
                Err(format!("invalid configuration ID '{value}'"))
            }
        }
        "pve-node" => {
            if re(&NODE, r"(?i)^[a-z0-9]([a-z0-9-]*[a-z0-9])?$").is_match(value) {
                Ok(())
            } else {
                Err("value does not look like a valid node name".into())
            }
        }
        "pve-ha-group-node" | "pve-ha-node" => {
            if re(&HA_NODE, r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(:\d+)?$").is_match(value) {
                Ok(())
            } else {
                Err("value does not look like a valid ha node".into())
            }
        }
        "pve-ha-resource-or-vm-id" => {
            if re(&HA_SID_OR_VMID, r"^([a-z]+:\S+|\d+)$").is_match(value) {
                Ok(())
            } else {
                Err("value does not look like a valid ha resource id".into())
            }
        }
        "pve-ha-resource-id" => {
            if re(&HA_SID, r"^[a-z]+:\S+$").is_match(value) {
                Ok(())
            } else {
                Err("value does not look like a valid ha resource id".into())
            }
        }
        "pve-vmid" => {
            if value.len() >= 3
                && value.starts_with(|c: char| ('1'..='9').contains(&c))
                && value.bytes().all(|b| b.is_ascii_digit())
            {
                Ok(())
            } else {
                Err("value does not look like a valid VM ID".into())
            }
        }
        "pve-realm" => {
            if re(&REALM, r"^[A-Za-z][A-Za-z.\-_0-9]+$").is_match(value) {
                Ok(())
            } else {
                Err("value does not look like a valid realm".into())
            }
        }
        "pve-startup-order" => parse_startup(value).map(|_| ()),
        _ => Ok(()),
    }
}

fn is_known_format(base: &str) -> bool {
    matches!(
        base,
        "pve-configid"
            | "pve-node"
            | "pve-ha-group-node"
            | "pve-ha-node"
            | "pve-ha-resource-id"
            | "pve-vmid"
    )
}

/// A parsed `startup` property string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Startup {
    /// Start order.
    pub order: Option<u64>,
    /// Delay after start, seconds.
    pub up: Option<u64>,
    /// Shutdown timeout, seconds.
    pub down: Option<u64>,
}

/// Parse `[[order=]N][,up=N][,down=N]` as `PVE::JSONSchema::pve_verify_startup_order` does.
pub fn parse_startup(value: &str) -> Result<Startup, String> {
    let err = || "unable to parse startup options".to_string();
    let mut s = Startup::default();
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, num) = match part.split_once('=') {
            Some((k, v)) => (k, v),
            None => ("order", part),
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: u64 = num.parse().map_err(|_| err())?;
        match key {
            "order" => s.order = Some(n),
            "up" => s.up = Some(n),
            "down" => s.down = Some(n),
            _ => return Err(err()),
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, Raw> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Raw::Text(v.to_string())))
            .collect()
    }

    const SPECS: &[ParamSpec] = &[
        ParamSpec::string("sid").fmt("pve-ha-resource-or-vm-id"),
        ParamSpec::boolean("flag").opt(),
        ParamSpec::integer("n").opt().min(0),
        ParamSpec::string("state")
            .opt()
            .one_of(&["started", "stopped"]),
        ParamSpec::string("net[n]").opt().opaque(),
    ];

    #[test]
    fn form_true_is_rejected_but_json_true_is_one() {
        let e = validate(SPECS, raw(&[("sid", "ct:1"), ("flag", "true")])).unwrap_err();
        assert_eq!(
            e.errors.unwrap()["flag"],
            "type check ('boolean') failed - got 'true'"
        );
        let mut r = raw(&[("sid", "ct:1")]);
        r.insert("flag".into(), Raw::Json(serde_json::Value::Bool(true)));
        assert_eq!(validate(SPECS, r).unwrap().int("flag"), Some(1));
    }

    #[test]
    fn every_error_is_collected() {
        let e = validate(SPECS, raw(&[("n", "-1"), ("state", "x"), ("bogus", "1")])).unwrap_err();
        let errors = e.errors.unwrap();
        assert_eq!(errors["sid"], "property is missing and it is not optional");
        assert_eq!(errors["n"], "value must have a minimum value of 0");
        assert_eq!(
            errors["state"],
            "value 'x' does not have a value in the enumeration 'started, stopped'"
        );
        assert!(errors["bogus"].starts_with("property is not defined in schema"));
    }

    #[test]
    fn indexed_names_match_digits_only() {
        assert!(validate(SPECS, raw(&[("sid", "1"), ("net0", "x")])).is_ok());
        assert!(validate(SPECS, raw(&[("sid", "1"), ("netx", "x")])).is_err());
    }

    #[test]
    fn formats_give_the_real_messages() {
        assert_eq!(
            check_format("pve-configid", "a"),
            Err("invalid configuration ID 'a'".into())
        );
        assert!(check_format("pve-ha-node-list", "n1:2,n2").is_ok());
        assert!(check_format("pve-ha-node-list", "n1:x").is_err());
        assert!(check_format("pve-ha-resource-id-list", "vm:1,ct:2").is_ok());
        assert!(check_format("pve-ha-resource-id-list", "100").is_err());
    }

    #[test]
    fn startup_strings_parse() {
        assert_eq!(
            parse_startup("order=3,up=30").unwrap(),
            Startup {
                order: Some(3),
                up: Some(30),
                down: None
            }
        );
        assert_eq!(parse_startup("2").unwrap().order, Some(2));
        assert!(parse_startup("order=x").is_err());
        assert!(parse_startup("first=1").is_err());
    }
}
