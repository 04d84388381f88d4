//! First light: real Terraform drives `tfplugin` through the example provider `pveha/pvehatest` (a thing stored
//! as a JSON file per object, an echo data source). Each test runs against every Terraform found. These prove the
//! protocol layer, not Proxmox behaviour; the example provider never ships in `pveha/pveha`.

use std::path::PathBuf;

use pveha_acceptance::{
    processes_with_marker, terraforms, DirWatch, PlanOutcome, PluginLifecycle, Workdir,
};
use regex::Regex;
use serde_json::{json, Value};

/// `required_providers` and a provider block storing objects in the workdir's `store/`, with prefix `t-`.
fn provider(w: &Workdir) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    pvehatest = {{
      source  = "pveha/pvehatest"
      version = "0.1.0"
    }}
  }}
}}

provider "pvehatest" {{
  store_dir = {store}
  prefix    = "t-"
}}
"#,
        store = w.hcl_path("store")
    )
}

/// The provider block plus `resources`.
fn config(w: &Workdir, resources: &str) -> String {
    format!("{}\n{resources}", provider(w))
}

/// A thing setting every optional attribute.
const THING_FULL: &str = r#"
resource "pvehatest_thing" "a" {
  name   = "alpha"
  value  = "one"
  size   = 3
  tags   = ["x", "y"]
  labels = { env = "test", tier = "db" }
  nested = {
    a = "n"
    b = 2
  }
}
"#;

/// A thing setting only its name.
const THING_MINIMAL: &str = r#"
resource "pvehatest_thing" "b" {
  name = "beta"
}
"#;

/// The workdir's store, created (the provider writes into it; creating it is the user's job).
fn store(w: &Workdir) -> PathBuf {
    let dir = w.path().join("store");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir
}

/// Names of the files in the store, sorted.
fn store_files(w: &Workdir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store(w))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Reads a stored object, edits it, writes it back: drift made behind Terraform's back.
fn edit_stored(w: &Workdir, name: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let path = store(w).join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", path.display()));
    let Some(object) = json.as_object_mut() else {
        panic!("{} is not a JSON object: {text}", path.display())
    };
    edit(object);
    std::fs::write(&path, json.to_string())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

#[tokio::test]
async fn init_installs_both_providers_offline_from_the_mirror() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        // Any attempt to reach a registry goes to a proxy nobody listens on, so it fails loudly.
        w.set_env("HTTPS_PROXY", "http://127.0.0.1:9")
            .set_env("HTTP_PROXY", "http://127.0.0.1:9");
        w.write_config(
            r#"terraform {
  required_providers {
    pveha     = { source = "pveha/pveha" }
    pvehatest = { source = "pveha/pvehatest" }
  }
}
"#,
        );
        let out = w.init().await;
        for name in ["pveha/pveha v0.1.0", "pveha/pvehatest v0.1.0"] {
            assert!(
                out.stdout.contains(name),
                "init did not install {name}:\n{out}"
            );
        }
        let lock =
            std::fs::read_to_string(w.path().join(".terraform.lock.hcl")).unwrap_or_default();
        for source in [
            "registry.terraform.io/pveha/pveha",
            "registry.terraform.io/pveha/pvehatest",
        ] {
            assert!(
                lock.contains(&format!("provider \"{source}\"")),
                "lock file lacks {source}:\n{lock}"
            );
        }
        assert!(lock.contains("\"h1:"), "lock file has no h1: hash:\n{lock}");
    }
}

#[tokio::test]
async fn validate_accepts_a_good_config_and_points_at_a_bad_size() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        let good = config(&w, THING_FULL);
        let out = w.validate(&good).await.expect_success();
        assert!(out.stdout.contains("The configuration is valid"), "{out}");

        let bad = config(&w, &THING_FULL.replace("size   = 3", "size   = 42"));
        let out = w.validate(&bad).await;
        out.expect_error(&bad, "(?i)size", Some("size"));
    }
}

#[tokio::test]
async fn apply_then_plan_is_empty_and_state_holds_every_attribute() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let hcl = config(&w, &format!("{THING_FULL}{THING_MINIMAL}"));
        let applied = w.apply(&hcl).await;
        applied
            .expect_counts(2, 0, 0)
            .expect_attr("pvehatest_thing.a", "name", "alpha")
            .expect_attr("pvehatest_thing.a", "value", "one")
            .expect_attr("pvehatest_thing.a", "size", 3)
            .expect_attr("pvehatest_thing.a", "tags", json!(["x", "y"]))
            .expect_attr(
                "pvehatest_thing.a",
                "labels",
                json!({"env": "test", "tier": "db"}),
            )
            .expect_attr("pvehatest_thing.a", "nested", json!({"a": "n", "b": 2}))
            .expect_attr("pvehatest_thing.b", "size", 1)
            .expect_attr("pvehatest_thing.b", "value", Value::Null);
        let id = applied
            .state
            .attr("pvehatest_thing.a", "id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            id.starts_with("t-alpha") && id.len() > "t-alpha".len(),
            "id {id:?} is not prefix + name + suffix"
        );
        assert_eq!(store_files(&w), ["alpha.json", "beta.json"]);
    }
}

#[tokio::test]
async fn refresh_and_refresh_only_apply_keep_the_state() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let applied = w.apply(&config(&w, THING_FULL)).await;
        w.refresh().await;
        assert_eq!(
            w.state().await.resources,
            applied.state.resources,
            "refresh changed the state"
        );
        w.apply_refresh_only().await;
        assert_eq!(
            w.state().await.resources,
            applied.state.resources,
            "apply -refresh-only changed the state"
        );
        w.plan_current().await.expect_no_changes();
    }
}

#[tokio::test]
async fn import_then_plan_is_empty_and_state_matches() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let applied = w.apply(&config(&w, THING_FULL)).await;
        let imported = w.import("pvehatest_thing.a", "alpha").await;
        imported.expect_no_diff();
        assert_eq!(
            imported.state.resources.get("pvehatest_thing.a"),
            applied.state.resources.get("pvehatest_thing.a"),
            "the imported state differs from the applied one"
        );

        // Importing a name that is not stored fails instead of inventing an object.
        let out = w
            .run(&["state", "rm", "pvehatest_thing.a"])
            .await
            .expect_success();
        assert!(out.stdout.contains("Removed"), "{out}");
        w.run(&[
            "import",
            "-input=false",
            "-no-color",
            "pvehatest_thing.a",
            "nosuch",
        ])
        .await
        .expect_failure();
    }
}

#[tokio::test]
async fn destroy_removes_every_stored_object() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        w.apply(&config(&w, &format!("{THING_FULL}{THING_MINIMAL}")))
            .await;
        assert_eq!(store_files(&w), ["alpha.json", "beta.json"]);
        w.destroy().await;
        assert_eq!(
            store_files(&w),
            Vec::<String>::new(),
            "destroy left files in the store"
        );
    }
}

#[tokio::test]
async fn a_value_unknown_until_apply_round_trips() {
    const CHAIN: &str = r#"
resource "pvehatest_thing" "a" {
  name = "alpha"
}

resource "pvehatest_thing" "b" {
  name  = "beta"
  value = pvehatest_thing.a.id
}

data "pvehatest_echo" "e" {
  input = pvehatest_thing.a.id
}

output "echo" {
  value = data.pvehatest_echo.e.output
}
"#;
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let hcl = config(&w, CHAIN);
        let plan = w.plan(&hcl).await;
        plan.expect_changes()
            .expect_action("pvehatest_thing.a", &["create"]);
        assert!(
            plan.change("pvehatest_thing.a").is_unknown("id"),
            "a.id should be unknown until apply"
        );
        assert!(
            plan.change("pvehatest_thing.b").is_unknown("value"),
            "b.value should be unknown until apply"
        );
        assert_eq!(
            plan.change("pvehatest_thing.b").after("name"),
            Some(&json!("beta"))
        );
        plan.expect_action("data.pvehatest_echo.e", &["read"]);
        assert!(
            plan.output_change("echo").is_unknown(""),
            "output echo should be unknown until apply"
        );

        let applied = w.apply(&hcl).await;
        let id = applied
            .state
            .attr("pvehatest_thing.a", "id")
            .cloned()
            .unwrap_or(Value::Null);
        let id = id
            .as_str()
            .unwrap_or_else(|| panic!("a.id is not a string: {id}"));
        applied
            .expect_attr("pvehatest_thing.b", "value", id)
            .expect_attr("data.pvehatest_echo.e", "output", id.to_uppercase());
        assert_eq!(
            applied.state.outputs.get("echo"),
            Some(&json!(id.to_uppercase()))
        );
        // The harness reads the state file itself; it must agree with terraform's own view.
        let shown = w.show_state().await;
        assert_eq!(shown.resources, applied.state.resources);
        assert_eq!(shown.outputs, applied.state.outputs);
    }
}

#[tokio::test]
async fn diagnostics_point_at_the_attribute_line() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let size = config(&w, &THING_FULL.replace("size   = 3", "size   = 42"));
        w.plan_only(&size)
            .await
            .expect_error("(?i)size", Some("size"));

        let prefix =
            config(&w, THING_MINIMAL).replace("prefix    = \"t-\"", "prefix    = \"has space\"");
        w.plan_only(&prefix)
            .await
            .expect_error("(?i)prefix", Some("prefix"));

        // Neither store_dir nor PVEHATEST_STORE: the error names the attribute, which has no line to point at.
        let no_store = config(&w, THING_MINIMAL).replace("store_dir", "# store_dir");
        w.plan_only(&no_store).await.expect_error("store_dir", None);
    }
}

#[tokio::test]
async fn store_dir_falls_back_to_the_environment() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        let env_store = store(&w);
        let env_store = env_store.display().to_string();
        w.set_env("PVEHATEST_STORE", &env_store);
        let hcl = config(&w, THING_MINIMAL).replace("store_dir", "# store_dir");
        w.apply(&hcl)
            .await
            .expect_attr("pvehatest_thing.b", "name", "beta");
        assert_eq!(store_files(&w), ["beta.json"]);
        w.destroy().await;
    }
}

#[tokio::test]
async fn sensitive_values_are_masked_in_plan_output_and_provider_logs() {
    const SECRET_THING: &str = r#"
resource "pvehatest_thing" "s" {
  name   = "sigma"
  secret = "thing-s3cret-value"
}
"#;
    let masked = Regex::new(r"secret\s+= \(sensitive value\)").unwrap_or_else(|e| panic!("{e}"));
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let hcl = config(&w, SECRET_THING).replace(
            "prefix    = \"t-\"",
            "prefix    = \"t-\"\n  secret    = \"provider-s3cret-value\"",
        );
        let plan = w.plan(&hcl).await;
        plan.expect_changes();
        let shown = plan.output.combined();
        assert!(masked.is_match(&shown), "{}", plan.output);
        assert!(
            !shown.contains("s3cret-value"),
            "a secret leaked into plan output:\n{}",
            plan.output
        );

        w.set_env("TF_LOG", "DEBUG");
        let applied = w.apply(&hcl).await;
        let provider_lines: Vec<&str> = applied
            .output
            .stderr
            .lines()
            .filter(|l| l.contains("provider.terraform-provider-pvehatest"))
            .collect();
        assert!(
            !provider_lines.is_empty(),
            "no provider log lines under TF_LOG=DEBUG:\n{}",
            applied.output
        );
        let leaked: Vec<&&str> = provider_lines
            .iter()
            .filter(|l| l.contains("s3cret-value"))
            .collect();
        assert!(
            leaked.is_empty(),
            "the provider logged a sensitive value: {leaked:#?}"
        );
        w.unset_env("TF_LOG");

        let shown = w.run(&["show", "-no-color"]).await.expect_success();
        assert!(
            !shown.stdout.contains("s3cret-value"),
            "a secret leaked into `terraform show`:\n{shown}"
        );
        applied.expect_attr("pvehatest_thing.s", "secret", "thing-s3cret-value");
    }
}

#[tokio::test]
async fn provider_logs_show_at_the_level_tf_log_asks_for() {
    let created = |name: &str| {
        Regex::new(&format!(
            r"\[DEBUG\]\s+provider\.terraform-provider-pvehatest[^:]*: pvehatest_thing created.*{name}"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    };
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let a = config(
            &w,
            "resource \"pvehatest_thing\" \"a\" {\n  name = \"alpha\"\n}\n",
        );
        let out = w.try_apply(&a).await.expect_success();
        assert!(
            !out.stderr.contains("pvehatest_thing created"),
            "logs without TF_LOG:\n{out}"
        );

        w.set_env("TF_LOG", "INFO");
        let ab = format!("{a}{THING_MINIMAL}");
        let out = w.try_apply(&ab).await.expect_success();
        assert!(
            !out.stderr.contains("pvehatest_thing created"),
            "a debug line under TF_LOG=INFO:\n{out}"
        );

        w.set_env("TF_LOG", "DEBUG");
        let abc = format!("{ab}resource \"pvehatest_thing\" \"c\" {{\n  name = \"gamma\"\n}}\n");
        let out = w.try_apply(&abc).await.expect_success();
        assert!(
            created("gamma").is_match(&out.stderr),
            "no `pvehatest_thing created` debug line for gamma:\n{out}"
        );
    }
}

#[tokio::test]
async fn drift_in_the_store_shows_in_plan_and_apply_restores_it() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let hcl = config(&w, THING_FULL);
        w.apply(&hcl).await;
        edit_stored(&w, "alpha", |o| {
            assert!(
                o.contains_key("value"),
                "no `value` key in the stored object: {o:?}"
            );
            o.insert("value".into(), json!("edited"));
        });
        let plan = w.plan_current().await;
        assert_eq!(
            plan.outcome,
            PlanOutcome::Changes,
            "drift not detected:\n{}",
            plan.output
        );
        plan.expect_action("pvehatest_thing.a", &["update"]);
        assert_eq!(
            plan.change("pvehatest_thing.a").before["value"],
            json!("edited")
        );
        assert_eq!(
            plan.change("pvehatest_thing.a").after("value"),
            Some(&json!("one"))
        );

        w.apply(&hcl).await.expect_in_place_update().expect_attr(
            "pvehatest_thing.a",
            "value",
            "one",
        );
        edit_stored(&w, "alpha", |o| {
            assert_eq!(
                o.get("value"),
                Some(&json!("one")),
                "apply did not restore the file"
            )
        });
    }
}

#[tokio::test]
async fn an_object_deleted_out_of_band_is_recreated() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        let hcl = config(&w, THING_FULL);
        w.apply(&hcl).await;
        let file = store(&w).join("alpha.json");
        std::fs::remove_file(&file)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", file.display()));
        let plan = w.plan_current().await;
        plan.expect_changes()
            .expect_action("pvehatest_thing.a", &["create"]);
        w.apply(&hcl)
            .await
            .expect_counts(1, 0, 0)
            .expect_attr("pvehatest_thing.a", "value", "one");
        assert!(file.is_file(), "apply did not recreate {}", file.display());
    }
}

#[tokio::test]
async fn terraform_exits_with_the_provider_shut_down_cleanly() {
    for tf in terraforms() {
        let mut w = Workdir::new(tf);
        store(&w);
        w.set_env("TF_LOG", "DEBUG");
        let hcl = config(&w, THING_FULL);
        w.write_config(&hcl);
        w.init().await;
        let mut watch =
            DirWatch::new(w.tmpdir()).unwrap_or_else(|e| panic!("cannot watch the tmpdir: {e}"));
        let out = w.try_apply(&hcl).await.expect_success();

        let life = PluginLifecycle::parse(&out.stderr);
        let pids = life.started_matching("terraform-provider-pvehatest");
        assert!(!pids.is_empty(), "no provider start logged:\n{out}");
        for pid in &pids {
            let exit = life.exited.iter().find(|(p, _)| p == pid);
            assert_eq!(
                exit,
                Some(&(*pid, None)),
                "provider pid {pid} did not exit with status 0: {life:?}"
            );
        }
        assert_eq!(
            life.forced_kills, 0,
            "terraform had to kill a provider:\n{out}"
        );
        assert_eq!(
            processes_with_marker(w.marker()),
            Vec::new(),
            "processes left behind"
        );

        // The provider's socket lived in our TMPDIR while terraform ran, and nothing it made there remains.
        let created = watch
            .created()
            .unwrap_or_else(|e| panic!("reading the watch: {e}"))
            .to_vec();
        assert!(
            !created.is_empty(),
            "nothing was created in TMPDIR {}: the provider did not use it",
            w.tmpdir().display()
        );
        let left = watch
            .leftovers()
            .unwrap_or_else(|e| panic!("reading the watch: {e}"));
        assert_eq!(
            left,
            Vec::<String>::new(),
            "left in TMPDIR (created: {created:?})"
        );
    }
}
