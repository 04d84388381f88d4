//! HA groups, resources and rules through their lifecycles, PVE 8/9 gates, migrate, and guest
//! startup settings, read back from the simulator after every write.

use pveha_model::{GuestKind, NodePriorities, Sid, Startup};
use pveha_pve::guests::{self, StartupUpdate};
use pveha_pve::ha::groups::{self, HaGroupUpdate, NewHaGroup};
use pveha_pve::ha::resources::{self, HaResourceUpdate, NewHaResource};
use pveha_pve::ha::rules::{self, HaRuleUpdate, NewHaRule, RuleKind};
use pveha_pve::ha::status;
use pveha_pve::{nodes, storage, Change, Error};

use crate::harness::{Fixture, Sim};

fn sid(s: &str) -> Sid {
    s.parse().unwrap()
}

fn nodes_of(s: &str) -> NodePriorities {
    s.parse().unwrap()
}

#[tokio::test]
async fn group_create_read_update_delete() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    groups::create(
        &client,
        &NewHaGroup {
            group: "web".into(),
            nodes: nodes_of("proxmox3:1,proxmox:2,proxmox2"),
            restricted: Some(false),
            nofailback: None,
            comment: Some("front".into()),
        },
    )
    .await
    .unwrap();
    let g = groups::get(&client, "web").await.unwrap();
    assert_eq!(g.nodes, nodes_of("proxmox:2,proxmox2,proxmox3:1"));
    assert_eq!(g.comment.as_deref(), Some("front"));
    groups::update(
        &client,
        "web",
        &HaGroupUpdate {
            restricted: Change::Set(true),
            comment: Change::Unset,
            digest: g.digest.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let g = groups::get(&client, "web").await.unwrap();
    assert_eq!(g.restricted, Some(true));
    assert_eq!(g.comment, None, "delete=comment unsets it");
    groups::delete(&client, "web").await.unwrap();
    assert!(groups::get(&client, "web")
        .await
        .unwrap_err()
        .is_not_found());
    // The server answers success for a group that is already gone.
    groups::delete(&client, "web").await.unwrap();
}

#[tokio::test]
async fn resource_create_read_update_delete_on_pve8() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let traefik = sid("ct:110");
    let mut new = NewHaResource::new(traefik);
    new.max_relocate = Some(2);
    resources::create(&client, &new).await.unwrap();
    let r = resources::get(&client, &traefik).await.unwrap();
    assert_eq!(r.max_relocate, Some(2));
    assert_eq!(r.state, None, "unset keys stay absent");
    resources::update(
        &client,
        &traefik,
        &HaResourceUpdate {
            state: Change::Set("stopped".into()),
            max_relocate: Change::Unset,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let r = resources::get(&client, &traefik).await.unwrap();
    assert_eq!(r.state.as_deref(), Some("stopped"));
    assert_eq!(r.max_relocate, None);
    resources::delete(&client, &traefik).await.unwrap();
    assert!(resources::get(&client, &traefik)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn pve9_settings_are_refused_on_pve8_before_any_request() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    client.version().await.unwrap();
    sim.reset_requests().await;
    let mut new = NewHaResource::new(sid("ct:110"));
    new.failback = Some(false);
    let err = resources::create(&client, &new).await.unwrap_err();
    assert!(matches!(err, Error::VersionUnsupported { .. }), "{err:?}");
    let err = rules::list(&client).await.unwrap_err();
    assert!(matches!(err, Error::VersionUnsupported { .. }), "{err:?}");
    assert_eq!(sim.total_requests().await, 0);
}

#[tokio::test]
async fn rule_lifecycle_and_re_enabling_by_delete() {
    let sim = Sim::start(Fixture::Pve9).await;
    let client = sim.client();
    rules::create(
        &client,
        &NewHaRule {
            rule: "db-pref".into(),
            kind: RuleKind::NodeAffinity,
            resources: vec![sid("ct:113"), sid("ct:100")],
            nodes: Some(nodes_of("proxmox2:2,proxmox3")),
            strict: Some(true),
            affinity: None,
            disable: false,
            comment: None,
        },
    )
    .await
    .unwrap();
    let r = rules::get(&client, "db-pref").await.unwrap();
    assert_eq!(r.resources, ["ct:100", "ct:113"]);
    assert_eq!(r.strict, Some(true));
    let mut disable = HaRuleUpdate::new(RuleKind::NodeAffinity);
    disable.disable = Change::Set(true);
    rules::update(&client, "db-pref", &disable).await.unwrap();
    assert_eq!(
        rules::get(&client, "db-pref").await.unwrap().disable,
        Some(true)
    );
    let mut enable = HaRuleUpdate::new(RuleKind::NodeAffinity);
    enable.disable = Change::Set(false);
    rules::update(&client, "db-pref", &enable).await.unwrap();
    assert_eq!(rules::get(&client, "db-pref").await.unwrap().disable, None);
    rules::delete(&client, "db-pref").await.unwrap();
    assert!(rules::get(&client, "db-pref")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn deleting_a_resource_on_pve9_leaves_its_rules_alone() {
    let sim = Sim::start(Fixture::Pve9).await;
    let client = sim.client();
    rules::create(
        &client,
        &NewHaRule {
            rule: "solo".into(),
            kind: RuleKind::NodeAffinity,
            resources: vec![sid("ct:130")],
            nodes: Some(nodes_of("proxmox3")),
            strict: None,
            affinity: None,
            disable: false,
            comment: None,
        },
    )
    .await
    .unwrap();
    sim.reset_requests().await;
    resources::delete(&client, &sid("ct:130")).await.unwrap();
    assert_eq!(sim.requests("DELETE /cluster/ha/resources/ct:130").await, 1);
    let rule = rules::get(&client, "solo").await.unwrap();
    assert_eq!(
        rule.resources,
        ["ct:130"],
        "purge=0 keeps the rule untouched"
    );
}

#[tokio::test]
async fn migrate_answers_by_version() {
    let sim8 = Sim::start(Fixture::Pve8).await;
    let answer = resources::migrate(&sim8.client(), &sid("ct:100"), "proxmox3")
        .await
        .unwrap();
    assert_eq!(answer.requested_node, None, "PVE 8 answers null");
    let sim9 = Sim::start(Fixture::Pve9).await;
    let answer = resources::relocate(&sim9.client(), &sid("ct:100"), "proxmox3")
        .await
        .unwrap();
    assert_eq!(answer.requested_node.as_deref(), Some("proxmox3"));
}

#[tokio::test]
async fn guest_startup_set_read_and_unset() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let at = guests::locate(&client, 110).await.unwrap();
    assert_eq!((at.node.as_str(), at.kind), ("proxmox", GuestKind::Ct));
    assert_eq!(at.sid(), sid("ct:110"));
    let before = guests::config(&client, &at).await.unwrap();
    assert_eq!(before.onboot, Some(true));
    let order = Startup {
        order: Some(2),
        up: Some(30),
        down: None,
    };
    guests::update_startup(
        &client,
        &at,
        &StartupUpdate {
            startup: Change::Set(order),
            onboot: Change::Unset,
            digest: before.digest.clone(),
        },
    )
    .await
    .unwrap();
    let after = guests::config(&client, &at).await.unwrap();
    assert_eq!(after.startup(), Some(order));
    assert_eq!(after.onboot, None);
    let stale = guests::update_startup(
        &client,
        &at,
        &StartupUpdate {
            startup: Change::Unset,
            digest: before.digest,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(stale, Error::DigestMismatch { .. }), "{stale:?}");
    assert!(guests::locate(&client, 999)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn inventory_reads_decode() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let all = nodes::list(&client).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|n| n.is_online()));
    let lines = nodes::journal(&client, "proxmox", &Default::default())
        .await
        .unwrap();
    assert!(lines.iter().any(|l| l.contains("EDAC igen6 MC0")));
    assert!(
        !lines.iter().any(|l| l.starts_with("s=")),
        "cursors dropped"
    );
    assert!(!storage::list(&client).await.unwrap().is_empty());
    let current = status::current(&client).await.unwrap();
    assert!(current.iter().any(|e| e.kind == "quorum"));
    assert!(status::manager_status(&client).await.unwrap().is_object());
    let backups = pveha_pve::cluster::backup_jobs(&client).await.unwrap();
    assert!(backups.iter().any(|b| b.vmid.contains(&"100".to_string())));
    pveha_pve::cluster::replication_jobs(&client).await.unwrap();
    assert!(pveha_pve::cluster::options(&client)
        .await
        .unwrap()
        .is_object());
}

#[tokio::test]
async fn a_name_with_a_slash_cannot_reach_another_path() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let victim = resources::list(&client).await.unwrap()[0].sid;
    sim.reset_requests().await;
    let escape = format!("../resources/{victim}");
    let _ = groups::delete(&client, &escape).await;
    assert_eq!(
        sim.requests(&format!("DELETE /cluster/ha/resources/{victim}"))
            .await,
        0,
        "the delete stayed under /cluster/ha/groups"
    );
    client.invalidate_ha_cache();
    assert!(
        resources::get(&client, &victim).await.is_ok(),
        "{victim} is still managed"
    );
    // Positive control: the counter sees a real delete of that path.
    resources::delete(&client, &victim).await.unwrap();
    assert_eq!(
        sim.requests(&format!("DELETE /cluster/ha/resources/{victim}"))
            .await,
        1
    );
}

#[tokio::test]
async fn a_polling_read_of_the_ha_status_sees_what_the_cache_does_not_yet() {
    let sim = Sim::start(Fixture::Pve8).await;
    let options = pveha_pve::ClientOptions {
        ha_cache_ttl: std::time::Duration::from_secs(3600),
        ..crate::harness::options()
    };
    let client = pveha_pve::Client::with_options(&sim.token_config(), options).unwrap();
    fn lrm<'a>(mut entries: impl Iterator<Item = &'a pveha_model::HaStatusEntry>) -> String {
        entries
            .find(|e| e.id == "lrm:proxmox3")
            .and_then(|e| e.status.clone())
            .unwrap_or_default()
    }
    let cached = status::current(&client).await.unwrap();
    assert!(!lrm(cached.iter()).contains("dead"), "{cached:?}");
    sim.power("proxmox3", false).await;
    sim.reset_requests().await;
    let fresh = status::current_uncached(&client).await.unwrap();
    assert!(
        lrm(fresh.entries.iter()).contains("old timestamp - dead?"),
        "{fresh:?}"
    );
    assert!(
        fresh.clock.is_some(),
        "the master and LRMs carry timestamps"
    );
    assert_eq!(sim.requests("GET /cluster/ha/status/current").await, 1);
    // The cache keeps its window: the provider's readers still share one read.
    let again = status::current(&client).await.unwrap();
    assert!(!lrm(again.iter()).contains("dead"));
    assert_eq!(sim.requests("GET /cluster/ha/status/current").await, 1);
}
