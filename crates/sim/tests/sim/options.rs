//! `/cluster/options`: PUT merges whole keys and deletes the named ones, GET shows property strings parsed,
//! errors are the real checker's; and the hash formats the simulator checks equal the official schema's.

use pveha_sim::api::options::{format, SubKey};
use pveha_sim::params::Ty;
use pveha_sim::specs::Major;
use serde_json::{json, Value};

use crate::harness::{pve8, pve9};

#[tokio::test]
async fn put_sets_given_keys_deletes_named_ones_and_keeps_the_rest() {
    let s = pve8().await;
    let before = s.get("/cluster/options").await.ok();
    assert_eq!(before["keyboard"], "en-us");
    s.call(
        "PUT",
        "/cluster/options",
        &[
            ("ha", "shutdown_policy=migrate"),
            ("crs", "ha=static,ha-rebalance-on-start=1"),
            ("fencing", "watchdog"),
        ],
    )
    .await
    .ok();
    let after = s.get("/cluster/options").await.ok();
    assert_eq!(after["ha"], json!({"shutdown_policy": "migrate"}));
    assert_eq!(
        after["crs"],
        json!({"ha": "static", "ha-rebalance-on-start": 1})
    );
    assert_eq!(after["fencing"], "watchdog");
    assert_eq!(after["keyboard"], before["keyboard"]);
    assert_eq!(after["next-id"], before["next-id"]);

    // Deletion comes after setting, and names nobody stored are ignored.
    s.call(
        "PUT",
        "/cluster/options",
        &[("delete", "ha,fencing,bwlimit"), ("fencing", "both")],
    )
    .await
    .ok();
    let last = s.get("/cluster/options").await.ok();
    assert!(
        last.get("ha").is_none() && last.get("fencing").is_none(),
        "{last}"
    );
    assert_eq!(last["crs"]["ha"], "static");
    assert_eq!(last["keyboard"], "en-us");
}

#[tokio::test]
async fn bad_property_strings_get_the_real_parameter_errors() {
    let s = pve8().await;
    let a = s
        .call(
            "PUT",
            "/cluster/options",
            &[("ha", "shutdown_policy=sometimes")],
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["message"], "Parameter verification failed.\n");
    assert_eq!(
        a.error("ha"),
        "invalid format - format error\nha.shutdown_policy: value 'sometimes' does not have a value in the \
         enumeration 'freeze, failover, conditional, migrate'\n"
    );
    let a = s
        .call("PUT", "/cluster/options", &[("crs", "ha=dynamic")])
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.error("crs").contains("crs.ha: value 'dynamic'"),
        "{}",
        a.raw
    );
    let a = s
        .call("PUT", "/cluster/options", &[("crs", "mode=static")])
        .await;
    assert_eq!(
        a.error("crs"),
        "invalid format - invalid key in comma-separated list property: mode\n"
    );
    let a = s
        .call("PUT", "/cluster/options", &[("fencing", "stonith")])
        .await;
    assert_eq!(
        a.error("fencing"),
        "value 'stonith' does not have a value in the enumeration 'watchdog, hardware, both'"
    );
    let a = s
        .call("PUT", "/cluster/options", &[("digest", "abc")])
        .await;
    assert!(a
        .error("digest")
        .starts_with("property is not defined in schema"));
    let unchanged = s.get("/cluster/options").await.ok();
    assert_eq!(
        unchanged["crs"],
        json!({"ha": "basic"}),
        "a refused PUT changes nothing"
    );
}

#[tokio::test]
async fn pve9_accepts_dynamic_crs() {
    let s = pve9().await;
    s.call("PUT", "/cluster/options", &[("crs", "ha=dynamic")])
        .await
        .ok();
    assert_eq!(s.get("/cluster/options").await.ok()["crs"]["ha"], "dynamic");
}

fn compare(ours: &SubKey, theirs: &Value, at: &str) {
    let ty = match ours.ty {
        Ty::String => "string",
        Ty::Integer => "integer",
        Ty::Boolean => "boolean",
        Ty::Number => "number",
    };
    assert_eq!(theirs["type"], ty, "{at}: type");
    assert_eq!(
        theirs["optional"].as_bool() == Some(true),
        ours.optional,
        "{at}: optional"
    );
    let their_enum: Option<Vec<&str>> = theirs["enum"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    assert_eq!(
        their_enum,
        ours.enumeration.map(<[&str]>::to_vec),
        "{at}: enum"
    );
    assert_eq!(theirs["minimum"].as_i64(), ours.minimum, "{at}: minimum");
    assert_eq!(
        theirs["default_key"].as_i64() == Some(1) || theirs["default_key"].as_bool() == Some(true),
        ours.default_key,
        "{at}: default_key"
    );
    assert_eq!(theirs["requires"].as_str(), ours.requires, "{at}: requires");
}

fn check_formats(major: Major, file: &str) {
    // The compact description in the repository, checked against the official files by `conformance`.
    let doc = crate::conformance::compact(file);
    let props = &doc["paths"]["/cluster/options"]["PUT"]["parameters"];
    for option in ["ha", "crs", "migration"] {
        let theirs = props[option]["format"]["properties"]
            .as_object()
            .expect("hash format");
        let ours = format(major, option).expect("checked format");
        let mut names: Vec<&str> = ours.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let mut their_names: Vec<&str> = theirs.keys().map(String::as_str).collect();
        their_names.sort_unstable();
        assert_eq!(names, their_names, "{file}: {option} keys");
        for key in &ours {
            compare(
                key,
                &theirs[key.name],
                &format!("{file}: {option}.{}", key.name),
            );
        }
    }
}

#[test]
fn pve8_option_formats_match_the_official_schema() {
    check_formats(Major::Pve8, "pve8.json");
}

#[test]
fn pve9_option_formats_match_the_official_schema() {
    check_formats(Major::Pve9, "pve9.json");
}
