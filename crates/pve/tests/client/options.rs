//! The HA datacenter options through `pveha_pve::options` against the simulator: read-modify-write of only
//! the managed sub-keys, deletes for unset values, nothing sent when the server already matches.

use pveha_model::HaSettings;
use pveha_pve::{cluster, options, Error};

use crate::harness::{Fixture, Sim, TOKEN_ID, TOKEN_SECRET};

/// A write by another API user, straight over HTTP.
async fn put_as_other_writer(sim: &Sim, pairs: &[(&str, &str)]) -> u16 {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .expect("http client");
    http.put(format!(
        "{}/api2/json/cluster/options",
        sim.running.base_url()
    ))
    .header(
        "Authorization",
        format!("PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}"),
    )
    .form(pairs)
    .send()
    .await
    .expect("request sent")
    .status()
    .as_u16()
}

fn settings(
    policy: Option<&str>,
    crs: Option<&str>,
    rebalance: Option<bool>,
    fencing: Option<&str>,
) -> HaSettings {
    HaSettings {
        shutdown_policy: policy.map(str::to_string),
        crs: crs.map(str::to_string),
        rebalance_on_start: rebalance,
        fencing: fencing.map(str::to_string),
    }
}

#[tokio::test]
async fn update_writes_the_settings_and_keeps_other_options() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let want = settings(
        Some("migrate"),
        Some("static"),
        Some(true),
        Some("watchdog"),
    );
    let shown = options::update(&client, &want).await.unwrap();
    assert_eq!(shown.settings(), want);
    let raw = cluster::options(&client).await.unwrap();
    assert_eq!(
        raw["ha"]["shutdown_policy"], "migrate",
        "GET returns ha parsed"
    );
    assert_eq!(raw["crs"]["ha-rebalance-on-start"], 1);
    assert_eq!(
        raw["keyboard"], "en-us",
        "an option pveha does not own is kept"
    );
    assert_eq!(raw["next-id"]["lower"], "100");

    let back = options::update(&client, &HaSettings::default())
        .await
        .unwrap();
    assert_eq!(back.settings(), HaSettings::default());
    let raw = cluster::options(&client).await.unwrap();
    for key in ["ha", "crs", "fencing"] {
        assert!(raw.get(key).is_none(), "{key} deleted: {raw}");
    }
    assert_eq!(raw["keyboard"], "en-us");
}

#[tokio::test]
async fn sub_keys_pveha_does_not_manage_survive_a_change() {
    let sim = Sim::start(Fixture::Pve9).await;
    let client = sim.client();
    let first = settings(None, Some("basic"), None, None);
    options::update(&client, &first).await.unwrap();
    // Another writer turns on auto-rebalance inside the same `crs` string.
    let status = put_as_other_writer(&sim, &[("crs", "ha=basic,ha-auto-rebalance=1")]).await;
    assert_eq!(status, 200);
    options::update(&client, &settings(None, Some("dynamic"), None, None))
        .await
        .unwrap();
    let raw = cluster::options(&client).await.unwrap();
    assert_eq!(raw["crs"]["ha"], "dynamic");
    assert_eq!(raw["crs"]["ha-auto-rebalance"], 1);
}

#[tokio::test]
async fn a_matching_server_gets_no_write() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let want = settings(Some("freeze"), None, None, None);
    options::update(&client, &want).await.unwrap();
    sim.reset_requests().await;
    options::update(&client, &want).await.unwrap();
    assert_eq!(sim.requests("PUT /cluster/options").await, 0);
    assert!(
        sim.requests("GET /cluster/options").await > 0,
        "positive control: it did read"
    );
    options::update(&client, &settings(Some("failover"), None, None, None))
        .await
        .unwrap();
    assert_eq!(sim.requests("PUT /cluster/options").await, 1);
}

#[tokio::test]
async fn dynamic_crs_on_pve8_is_a_validation_error_naming_crs() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let err = options::update(&client, &settings(None, Some("dynamic"), None, None))
        .await
        .unwrap_err();
    let Error::Validation { errors, .. } = &err else {
        panic!("expected a validation error, got {err:?}");
    };
    assert!(
        errors["crs"].contains(
            "crs.ha: value 'dynamic' does not have a value in the enumeration 'basic, static'"
        ),
        "{errors:?}"
    );
}
