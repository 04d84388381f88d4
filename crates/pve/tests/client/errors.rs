//! Every error class, each produced by a real server answer of the simulator (faults only where the
//! simulator cannot otherwise produce the answer: permissions).

use pveha_model::{NodePriorities, Sid};
use pveha_pve::ha::groups::{self, HaGroupUpdate, NewHaGroup};
use pveha_pve::ha::resources::{self, HaResourceUpdate, NewHaResource};
use pveha_pve::{cluster, nodes, Auth, Change, Client, ClientConfig, Error, TransportKind};
use serde_json::json;

use crate::harness::{options, Fixture, Sim, MAX_ATTEMPTS};

fn sid(s: &str) -> Sid {
    s.parse().unwrap()
}

fn web() -> NewHaGroup {
    NewHaGroup {
        group: "web".into(),
        nodes: "proxmox:2,proxmox2".parse::<NodePriorities>().unwrap(),
        restricted: Some(true),
        nofailback: None,
        comment: None,
    }
}

#[tokio::test]
async fn not_found_from_the_servers_500_texts() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let direct = client
        .get_raw("/cluster/ha/resources/ct:999", &[])
        .await
        .unwrap_err();
    assert!(direct.is_not_found(), "{direct:?}");
    let update = resources::update(
        &client,
        &sid("ct:110"),
        &HaResourceUpdate {
            comment: Change::Set("x".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        update.is_not_found(),
        "update of a non-HA guest: {update:?}"
    );
    let delete = resources::delete(&client, &sid("ct:110"))
        .await
        .unwrap_err();
    assert!(delete.is_not_found(), "{delete:?}");
    let cached = resources::get(&client, &sid("ct:110")).await.unwrap_err();
    assert!(cached.is_not_found());
}

#[tokio::test]
async fn validation_names_the_parameter() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let mut bad = NewHaResource::new(sid("ct:110"));
    bad.state = Some("running".into());
    let err = resources::create(&client, &bad).await.unwrap_err();
    let errors = err.param_errors().unwrap_or_else(|| panic!("{err:?}"));
    assert!(errors["state"].contains("enumeration"), "{errors:?}");
}

#[tokio::test]
async fn unauthorized_for_a_wrong_secret() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    cfg.auth = Auth::token("root@pam!terraform=wrong");
    let err = cluster::status(&sim.client_for(&cfg)).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }));
}

#[tokio::test]
async fn forbidden_names_the_missing_privilege() {
    let sim = Sim::start(Fixture::Pve8).await;
    // The simulator has no ACLs, so the real 403 answer is injected.
    sim.fault(
        json!({"method": "POST", "path": "^/cluster/ha/groups$", "kind": "error",
        "status": 403, "message": "Permission check failed (/, Sys.Console)"}),
    )
    .await;
    let err = groups::create(&sim.client(), &web()).await.unwrap_err();
    match &err {
        Error::Forbidden {
            privilege,
            acl_path,
            ..
        } => {
            assert_eq!(privilege.as_deref(), Some("Sys.Console"));
            assert_eq!(acl_path.as_deref(), Some("/"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn lock_timeout_surfaces_after_a_bounded_number_of_attempts() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    client.version().await.unwrap();
    sim.fault(json!({"method": "POST", "path": "^/cluster/ha/groups$", "kind": "lock-timeout"}))
        .await;
    sim.reset_requests().await;
    let err = groups::create(&client, &web()).await.unwrap_err();
    assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("-parallelism"));
    assert_eq!(
        sim.requests("POST /cluster/ha/groups").await,
        u64::from(MAX_ATTEMPTS)
    );
    sim.clear_faults().await;
    assert!(groups::get(&client, "web")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn no_quorum_when_two_of_three_nodes_are_off() {
    let sim = Sim::start(Fixture::Pve8).await;
    sim.power("proxmox2", false).await;
    sim.power("proxmox3", false).await;
    let err = resources::create(&sim.client(), &NewHaResource::new(sid("ct:110")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoQuorum { .. }), "{err:?}");
    assert!(err.to_string().contains("bring enough nodes online"));
}

#[tokio::test]
async fn node_unreachable_for_an_offline_nodes_journal() {
    let sim = Sim::start(Fixture::Pve8).await;
    sim.power("proxmox3", false).await;
    let client = sim.client();
    sim.reset_requests().await;
    let err = nodes::journal(&client, "proxmox3", &Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NodeUnreachable { status: 595, .. }),
        "{err:?}"
    );
    assert_eq!(
        sim.requests("GET /nodes/proxmox3/journal").await,
        u64::from(MAX_ATTEMPTS),
        "595 is retried, within bounds"
    );
}

#[tokio::test]
async fn digest_mismatch_for_a_stale_digest() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    groups::create(&client, &web()).await.unwrap();
    let stale = groups::get(&client, "web").await.unwrap().digest;
    groups::update(
        &client,
        "web",
        &HaGroupUpdate {
            comment: Change::Set("first".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let err = groups::update(
        &client,
        "web",
        &HaGroupUpdate {
            comment: Change::Set("second".into()),
            digest: stale,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn version_unsupported_before_any_request_and_from_the_server() {
    let sim = Sim::start(Fixture::Pve9).await;
    let client = sim.client();
    client.version().await.unwrap();
    sim.reset_requests().await;
    let gated = groups::list(&client).await.unwrap_err();
    assert!(matches!(gated, Error::VersionUnsupported { .. }));
    assert!(gated.to_string().contains("use HA rules"), "{gated}");
    assert_eq!(sim.total_requests().await, 0, "refused before any request");
    let served = client.get_raw("/cluster/ha/groups", &[]).await.unwrap_err();
    assert!(
        matches!(served, Error::VersionUnsupported { .. }),
        "{served:?}"
    );
}

#[tokio::test]
async fn transport_error_when_nothing_listens() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cfg = ClientConfig::new(
        format!("https://{addr}"),
        Auth::token("root@pam!terraform=secret"),
    );
    let err = Client::with_options(&cfg, options())
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn other_errors_keep_the_servers_words() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    groups::create(&client, &web()).await.unwrap();
    let dup = groups::create(&client, &web()).await.unwrap_err();
    match &dup {
        Error::Other {
            status: 500,
            message,
            ..
        } => {
            assert!(message.contains("already defined"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let unknown = client.get_raw("/no/such/path", &[]).await.unwrap_err();
    assert!(
        matches!(unknown, Error::Other { status: 501, .. }),
        "{unknown:?}"
    );
}
