//! What a terraform step produced, and the assertions tests make on it: raw output, plans (exit code and the
//! changes from `show -json`), state as `address → attributes`, and diagnostics matched to the HCL line they name.
//! Every failed assertion panics with the whole terraform output, so a CI log is enough to debug it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use regex::Regex;
use serde_json::Value;

/// One finished terraform command: what ran, where, and everything it printed.
#[derive(Debug, Clone)]
pub struct TfOutput {
    /// The command line after `terraform`, e.g. `plan -detailed-exitcode`.
    pub command: String,
    /// The Terraform version that ran it.
    pub version: String,
    /// The working directory.
    pub workdir: PathBuf,
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr (Terraform's diagnostics and `TF_LOG` output go here).
    pub stderr: String,
}

impl TfOutput {
    /// Whether terraform exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Stdout then stderr, for matching text wherever terraform put it.
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics with the whole output unless terraform exited 0.
    #[track_caller]
    pub fn expect_success(self) -> Self {
        if !self.success() {
            panic!("expected success:\n{self}");
        }
        self
    }

    /// Panics with the whole output unless terraform failed.
    #[track_caller]
    pub fn expect_failure(self) -> Self {
        if self.success() {
            panic!("expected failure:\n{self}");
        }
        self
    }

    /// Panics unless terraform failed with an error diagnostic matching `pattern` that, when `attribute` is given,
    /// points at the line of `config` (the `main.tf` it ran on) setting it. See [`Plan::expect_error`].
    #[track_caller]
    pub fn expect_error(&self, config: &str, pattern: &str, attribute: Option<&str>) -> &Self {
        if self.success() {
            panic!("expected failure with /{pattern}/:\n{self}");
        }
        if let Err(e) = diagnostic_matches(&self.combined(), config, pattern, attribute) {
            panic!("{e}\n---- main.tf:\n{}\n{self}", numbered(config));
        }
        self
    }
}

impl fmt::Display for TfOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self
            .code
            .map_or("killed by a signal".to_string(), |c| format!("exit {c}"));
        writeln!(
            f,
            "---- terraform {} (v{}, in {}): {code}",
            self.command,
            self.version,
            self.workdir.display()
        )?;
        writeln!(f, "---- stdout:\n{}", self.stdout.trim_end())?;
        write!(f, "---- stderr:\n{}\n----", self.stderr.trim_end())
    }
}

/// How `plan -detailed-exitcode` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanOutcome {
    /// Exit 0: the infrastructure matches the configuration.
    NoChanges,
    /// Exit 2: the plan has changes.
    Changes,
    /// Exit 1 (or anything else): terraform reported an error.
    Error,
}

impl PlanOutcome {
    /// Maps a `-detailed-exitcode` exit code.
    pub fn from_code(code: Option<i32>) -> Self {
        match code {
            Some(0) => PlanOutcome::NoChanges,
            Some(2) => PlanOutcome::Changes,
            _ => PlanOutcome::Error,
        }
    }
}

/// One entry of a plan's `resource_changes` (or `output_changes`, with the output's name as address).
#[derive(Debug, Clone)]
pub struct ResourceChange {
    /// `pvehatest_thing.a`, `data.pvehatest_echo.e`, or an output's name.
    pub address: String,
    /// `["create"]`, `["update"]`, `["delete", "create"]`, `["read"]`, `["no-op"]`…
    pub actions: Vec<String>,
    /// Values before the change (null on create).
    pub before: Value,
    /// Known values after the change.
    pub after: Value,
    /// `true` at every path whose value is unknown until apply.
    pub after_unknown: Value,
}

impl ResourceChange {
    /// Reads one change object (`{actions, before, after, after_unknown}`) of `show -json` for `address`.
    pub(crate) fn parse_named(address: &str, change: &Value) -> Self {
        let actions = change["actions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        ResourceChange {
            address: address.to_string(),
            actions,
            before: change["before"].clone(),
            after: change["after"].clone(),
            after_unknown: change["after_unknown"].clone(),
        }
    }

    /// Whether `path` (dotted, e.g. `id` or `nested.a`; empty for a whole output) is unknown until apply.
    pub fn is_unknown(&self, path: &str) -> bool {
        let v = if path.is_empty() {
            Some(&self.after_unknown)
        } else {
            lookup(&self.after_unknown, path)
        };
        v == Some(&Value::Bool(true))
    }

    /// The planned value at `path`, if known.
    pub fn after(&self, path: &str) -> Option<&Value> {
        lookup(&self.after, path)
    }
}

/// The result of `plan -detailed-exitcode`, with the planned changes when there are any.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How the plan ended.
    pub outcome: PlanOutcome,
    /// The plan command's output.
    pub output: TfOutput,
    /// Resource changes (data sources included), from `show -json` of the saved plan; empty unless `Changes`.
    pub changes: Vec<ResourceChange>,
    /// Output changes, by output name.
    pub output_changes: Vec<ResourceChange>,
    /// The `main.tf` the plan ran against, to resolve the line numbers in diagnostics.
    pub config: String,
}

impl Plan {
    /// Panics unless the plan is empty.
    #[track_caller]
    pub fn expect_no_changes(&self) -> &Self {
        if self.outcome != PlanOutcome::NoChanges {
            panic!(
                "expected an empty plan, got {:?}:\n{}\n{}",
                self.outcome,
                self.describe_changes(),
                self.output
            );
        }
        self
    }

    /// Panics unless the plan has changes.
    #[track_caller]
    pub fn expect_changes(&self) -> &Self {
        if self.outcome != PlanOutcome::Changes {
            panic!(
                "expected a plan with changes, got {:?}:\n{}",
                self.outcome, self.output
            );
        }
        self
    }

    /// Panics unless `address` is planned with exactly `actions` (e.g. `&["update"]`).
    #[track_caller]
    pub fn expect_action(&self, address: &str, actions: &[&str]) -> &Self {
        let change = self.change(address);
        if change.actions != actions {
            panic!(
                "expected {address} to be planned as {actions:?}, got {:?}:\n{}\n{}",
                change.actions,
                self.describe_changes(),
                self.output
            );
        }
        self
    }

    /// The change planned for `address`; panics with the plan when there is none.
    #[track_caller]
    pub fn change(&self, address: &str) -> &ResourceChange {
        match self.changes.iter().find(|c| c.address == address) {
            Some(c) => c,
            None => panic!(
                "the plan has no change for {address}:\n{}\n{}",
                self.describe_changes(),
                self.output
            ),
        }
    }

    /// The change planned for output `name`; panics with the plan when there is none.
    #[track_caller]
    pub fn output_change(&self, name: &str) -> &ResourceChange {
        match self.output_changes.iter().find(|c| c.address == name) {
            Some(c) => c,
            None => panic!("the plan has no change for output {name}:\n{}", self.output),
        }
    }

    /// Panics unless the plan failed with a diagnostic matching `pattern` (a regex) and, when `attribute` is given
    /// (dotted path; its last segment is the HCL argument), that diagnostic points at the config line setting it:
    /// `on main.tf line N` plus the `N: <attribute> = …` source snippet Terraform prints under it.
    #[track_caller]
    pub fn expect_error(&self, pattern: &str, attribute: Option<&str>) -> &Self {
        if self.outcome != PlanOutcome::Error {
            panic!(
                "expected the plan to fail with /{pattern}/, got {:?}:\n{}",
                self.outcome, self.output
            );
        }
        self.output.expect_error(&self.config, pattern, attribute);
        self
    }

    fn describe_changes(&self) -> String {
        self.changes
            .iter()
            .filter(|c| c.actions != ["no-op"])
            .map(|c| {
                format!(
                    "  {} {:?}: before {} after {}\n",
                    c.address, c.actions, c.before, c.after
                )
            })
            .collect()
    }
}

/// Checks that some diagnostic in `output` matches `pattern` and (optionally) names `attribute`'s line in `config`.
pub(crate) fn diagnostic_matches(
    output: &str,
    config: &str,
    pattern: &str,
    attribute: Option<&str>,
) -> Result<(), String> {
    let re = Regex::new(pattern).map_err(|e| format!("bad pattern /{pattern}/: {e}"))?;
    let blocks = diagnostic_blocks(output);
    let matching: Vec<&String> = blocks
        .iter()
        .filter(|b| b.starts_with("Error:") && re.is_match(b))
        .collect();
    if matching.is_empty() {
        return Err(format!("no error diagnostic matches /{pattern}/"));
    }
    let Some(attribute) = attribute else {
        return Ok(());
    };
    let name = attribute.rsplit('.').next().unwrap_or(attribute);
    let arg =
        Regex::new(&format!(r"^\s*{}\s*=", regex::escape(name))).map_err(|e| e.to_string())?;
    let lines: Vec<usize> = config
        .lines()
        .enumerate()
        .filter(|(_, l)| arg.is_match(l))
        .map(|(i, _)| i + 1)
        .collect();
    if lines.is_empty() {
        return Err(format!(
            "main.tf has no line setting {name:?}; the test's config is wrong"
        ));
    }
    let on_line = Regex::new(r"on main\.tf line (\d+)").map_err(|e| e.to_string())?;
    for block in &matching {
        for caps in on_line.captures_iter(block) {
            let Ok(n) = caps[1].parse::<usize>() else {
                continue;
            };
            let snippet = Regex::new(&format!(r"(?m)^\s*{n}:\s*{}\s*=", regex::escape(name)))
                .map_err(|e| e.to_string())?;
            if lines.contains(&n) && snippet.is_match(block) {
                return Ok(());
            }
        }
    }
    Err(format!(
        "the error matching /{pattern}/ does not point at the line setting {name:?} (line {lines:?} of main.tf)"
    ))
}

/// Splits terraform's `-no-color` output into diagnostics, each starting at its `Error:`/`Warning:` line
/// (a leading `│ ` frame, which some versions print, is removed).
fn diagnostic_blocks(output: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for raw in output.lines() {
        if raw.starts_with(['╷', '╵']) {
            continue;
        }
        let line = match raw.strip_prefix('│') {
            Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
            None => raw,
        };
        if line.starts_with("Error:") || line.starts_with("Warning:") {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

fn numbered(config: &str) -> String {
    config
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{:>3}: {l}\n", i + 1))
        .collect()
}

/// Terraform state as read by `show -json`: every resource's attributes by address, and the root outputs.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// `pvehatest_thing.a` / `data.pvehatest_echo.e` / `module.m.x.y` → attribute values.
    pub resources: BTreeMap<String, Value>,
    /// Root output values by name.
    pub outputs: BTreeMap<String, Value>,
}

impl State {
    /// Reads a local `terraform.tfstate` (format version 4, written by Terraform 0.12 up to today) without running
    /// terraform: one process less per step. Resources without instances (left by some versions) are skipped.
    pub fn from_tfstate(json: &Value) -> Self {
        let mut state = State::default();
        for r in json["resources"].as_array().into_iter().flatten() {
            let (Some(kind), Some(name)) = (r["type"].as_str(), r["name"].as_str()) else {
                continue;
            };
            let mut base = String::new();
            if let Some(module) = r["module"].as_str() {
                base.push_str(module);
                base.push('.');
            }
            if r["mode"] == "data" {
                base.push_str("data.");
            }
            base.push_str(&format!("{kind}.{name}"));
            for instance in r["instances"].as_array().into_iter().flatten() {
                let address = match &instance["index_key"] {
                    Value::Null => base.clone(),
                    key @ Value::String(_) => format!("{base}[{key}]"),
                    key => format!("{base}[{key}]"),
                };
                state
                    .resources
                    .insert(address, instance["attributes"].clone());
            }
        }
        if let Some(outputs) = json["outputs"].as_object() {
            for (name, out) in outputs {
                state.outputs.insert(name.clone(), out["value"].clone());
            }
        }
        state
    }

    /// Parses `terraform show -json` output (any format version Terraform 1.0–1.11 prints).
    pub fn parse(json: &Value) -> Self {
        let mut state = State::default();
        collect_module(&json["values"]["root_module"], &mut state.resources);
        if let Some(outputs) = json["values"]["outputs"].as_object() {
            for (name, out) in outputs {
                state.outputs.insert(name.clone(), out["value"].clone());
            }
        }
        state
    }

    /// The value at `path` (dotted: `size`, `nested.a`, `tags.0`, `labels.env`) of `address`.
    pub fn attr(&self, address: &str, path: &str) -> Option<&Value> {
        lookup(self.resources.get(address)?, path)
    }

    /// Addresses of managed resources (data sources excluded).
    pub fn managed(&self) -> Vec<&str> {
        self.resources
            .keys()
            .map(String::as_str)
            .filter(|a| !is_data_address(a))
            .collect()
    }

    /// Panics unless `address`'s `path` equals `expected`.
    #[track_caller]
    pub fn expect_attr(&self, address: &str, path: &str, expected: impl Into<Value>) -> &Self {
        let expected = expected.into();
        let Some(resource) = self.resources.get(address) else {
            panic!(
                "state has no {address}; it has {:?}",
                self.resources.keys().collect::<Vec<_>>()
            );
        };
        let actual = lookup(resource, path);
        if actual != Some(&expected) {
            panic!("{address}.{path}: expected {expected}, got {actual:?}\nall attributes: {resource:#}");
        }
        self
    }
}

fn collect_module(module: &Value, into: &mut BTreeMap<String, Value>) {
    if let Some(resources) = module["resources"].as_array() {
        for r in resources {
            if let Some(addr) = r["address"].as_str() {
                into.insert(addr.to_string(), r["values"].clone());
            }
        }
    }
    if let Some(children) = module["child_modules"].as_array() {
        for child in children {
            collect_module(child, into);
        }
    }
}

fn is_data_address(address: &str) -> bool {
    address.starts_with("data.") || address.contains(".data.")
}

/// Follows a dotted path through objects (by key) and arrays (by index).
pub(crate) fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, seg| match v {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => items.get(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

/// A successful `apply`, after which a plan was empty.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The apply command's output.
    pub output: TfOutput,
    /// Resources added, changed and destroyed, from `Apply complete! Resources: …`.
    pub counts: (u32, u32, u32),
    /// The state after apply.
    pub state: State,
}

impl Applied {
    /// Panics unless `address`'s `path` equals `expected` in the state after apply.
    #[track_caller]
    pub fn expect_attr(&self, address: &str, path: &str, expected: impl Into<Value>) -> &Self {
        self.state.expect_attr(address, path, expected);
        self
    }

    /// Panics unless the apply only updated in place (changed > 0, nothing added or destroyed).
    #[track_caller]
    pub fn expect_in_place_update(&self) -> &Self {
        let (added, changed, destroyed) = self.counts;
        if added != 0 || destroyed != 0 || changed == 0 {
            panic!("expected an in-place update, got {added} added, {changed} changed, {destroyed} destroyed:\n{}", self.output);
        }
        self
    }

    /// Panics unless the apply added, changed and destroyed exactly these counts.
    #[track_caller]
    pub fn expect_counts(&self, added: u32, changed: u32, destroyed: u32) -> &Self {
        if self.counts != (added, changed, destroyed) {
            panic!(
                "expected {added} added, {changed} changed, {destroyed} destroyed, got {:?}:\n{}",
                self.counts, self.output
            );
        }
        self
    }
}

/// Reads `Resources: A added, C changed, D destroyed.` from apply output (all zero when absent).
pub(crate) fn apply_counts(stdout: &str) -> (u32, u32, u32) {
    let Ok(re) = Regex::new(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed") else {
        return (0, 0, 0);
    };
    re.captures(stdout).map_or((0, 0, 0), |c| {
        let n = |i: usize| c[i].parse().unwrap_or(0);
        (n(1), n(2), n(3))
    })
}

/// A successful `import` and the plan run right after it.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The import command's output.
    pub output: TfOutput,
    /// The plan after import.
    pub plan: Plan,
    /// The state after import.
    pub state: State,
}

impl Imported {
    /// Panics unless the plan after import is empty: the imported state is exactly what the config plans.
    #[track_caller]
    pub fn expect_no_diff(&self) -> &Self {
        if self.plan.outcome != PlanOutcome::NoChanges {
            panic!(
                "the plan after import is not empty ({:?}):\n{}\n{}\n{}",
                self.plan.outcome,
                self.plan.describe_changes(),
                self.output,
                self.plan.output
            );
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONFIG: &str = "resource \"pvehatest_thing\" \"a\" {\n  name = \"a\"\n  size = 42\n}\n";

    const OUTPUT_111: &str = "\nError: Invalid size\n\n  with pvehatest_thing.a,\n  on main.tf line 3, in resource \"pvehatest_thing\" \"a\":\n   3:   size = 42\n\nsize must be between 0 and 10\n";

    #[test]
    fn error_pointing_at_the_attribute_line_matches() {
        assert_eq!(
            diagnostic_matches(OUTPUT_111, CONFIG, "between 0 and 10", Some("size")),
            Ok(())
        );
        assert_eq!(
            diagnostic_matches(OUTPUT_111, CONFIG, "Invalid size", None),
            Ok(())
        );
    }

    #[test]
    fn error_on_another_line_or_text_does_not_match() {
        let elsewhere = OUTPUT_111
            .replace("line 3", "line 2")
            .replace("   3:   size", "   2:   name");
        assert!(diagnostic_matches(&elsewhere, CONFIG, "between", Some("size")).is_err());
        assert!(diagnostic_matches(OUTPUT_111, CONFIG, "no such text", None).is_err());
        assert!(diagnostic_matches(OUTPUT_111, CONFIG, "between", Some("name")).is_err());
    }

    #[test]
    fn framed_diagnostics_are_unframed() {
        let framed = "╷\n│ Error: Invalid size\n│ \n│   on main.tf line 3, in resource \"pvehatest_thing\" \"a\":\n│    3:   size = 42\n╵\n";
        assert_eq!(
            diagnostic_matches(framed, CONFIG, "Invalid size", Some("size")),
            Ok(())
        );
    }

    #[test]
    fn state_is_read_by_address_including_modules_and_outputs() {
        let show = json!({"values": {
            "outputs": {"o": {"value": "X", "sensitive": false}},
            "root_module": {
                "resources": [{"address": "pvehatest_thing.a", "values": {"size": 1, "tags": ["x"], "nested": {"a": "n"}}}],
                "child_modules": [{"resources": [{"address": "module.m.pvehatest_thing.b", "values": {"size": 2}}]}]
            }
        }});
        let state = State::parse(&show);
        assert_eq!(state.attr("pvehatest_thing.a", "tags.0"), Some(&json!("x")));
        assert_eq!(
            state.attr("pvehatest_thing.a", "nested.a"),
            Some(&json!("n"))
        );
        assert_eq!(
            state.attr("module.m.pvehatest_thing.b", "size"),
            Some(&json!(2))
        );
        assert_eq!(state.outputs["o"], json!("X"));
        assert!(State::parse(&json!({"format_version": "1.0"}))
            .resources
            .is_empty());
    }

    #[test]
    fn tfstate_is_read_by_the_same_addresses_as_show_json() {
        let tfstate = json!({"version": 4, "outputs": {"o": {"value": "X", "type": "string"}}, "resources": [
            {"mode": "managed", "type": "pvehatest_thing", "name": "a", "instances": [{"attributes": {"size": 1}}]},
            {"mode": "data", "type": "pvehatest_echo", "name": "e", "instances": [{"attributes": {"output": "A"}}]},
            {"module": "module.m", "mode": "managed", "type": "t", "name": "n",
             "instances": [{"index_key": 0, "attributes": {}}, {"index_key": "k", "attributes": {}}]},
            {"mode": "managed", "type": "t", "name": "gone", "instances": []}
        ]});
        let state = State::from_tfstate(&tfstate);
        let addresses: Vec<&str> = state.resources.keys().map(String::as_str).collect();
        assert_eq!(
            addresses,
            [
                "data.pvehatest_echo.e",
                "module.m.t.n[\"k\"]",
                "module.m.t.n[0]",
                "pvehatest_thing.a"
            ]
        );
        assert_eq!(state.attr("pvehatest_thing.a", "size"), Some(&json!(1)));
        assert_eq!(
            state.managed(),
            [
                "module.m.t.n[\"k\"]",
                "module.m.t.n[0]",
                "pvehatest_thing.a"
            ]
        );
        assert_eq!(state.outputs["o"], json!("X"));
    }

    #[test]
    fn apply_summary_is_counted() {
        assert_eq!(
            apply_counts("Apply complete! Resources: 2 added, 1 changed, 0 destroyed.\n"),
            (2, 1, 0)
        );
        assert_eq!(apply_counts("nothing"), (0, 0, 0));
    }
}
