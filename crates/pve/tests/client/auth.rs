//! Both auth methods, ticket renewal, CSRF on ticket writes, and the 401s.

use pveha_model::NodePriorities;
use pveha_pve::ha::groups::{self, NewHaGroup};
use pveha_pve::{cluster, Auth, Client, ClientOptions, Error};
use std::time::Duration;

use crate::harness::{options, Fixture, Sim, TOKEN_ID};

fn group(name: &str) -> NewHaGroup {
    NewHaGroup {
        group: name.into(),
        nodes: "proxmox:2,proxmox2".parse::<NodePriorities>().unwrap(),
        restricted: None,
        nofailback: None,
        comment: None,
    }
}

#[tokio::test]
async fn token_auth_reads_the_cluster() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let status = cluster::status(&client).await.unwrap();
    assert!(status
        .iter()
        .any(|e| e.kind == "node" && e.name == "proxmox2"));
    assert_eq!(client.version().await.unwrap().version, "8.4.1");
}

#[tokio::test]
async fn a_wrong_token_secret_is_unauthorized_and_not_retried() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    cfg.auth = Auth::token(format!("{TOKEN_ID}=00000000-0000-0000-0000-000000000000"));
    let client = sim.client_for(&cfg);
    sim.reset_requests().await;
    let err = cluster::status(&client).await.unwrap_err();
    assert_eq!(
        err,
        Error::Unauthorized {
            reason: "Authentication failed!".into()
        }
    );
    assert_eq!(sim.requests("GET /cluster/status").await, 1);
}

#[tokio::test]
async fn password_login_reads_and_writes_with_csrf() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client_for(&sim.password_config());
    sim.reset_requests().await;
    groups::create(&client, &group("web")).await.unwrap();
    assert_eq!(groups::get(&client, "web").await.unwrap().group, "web");
    // One login serves every request while the ticket is young.
    assert_eq!(sim.requests("POST /access/ticket").await, 1);
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.password_config();
    cfg.auth = Auth::password("root@pam", "not-the-password");
    let client = sim.client_for(&cfg);
    sim.reset_requests().await;
    let err = cluster::status(&client).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(
        sim.requests("POST /access/ticket").await,
        1,
        "a refused login is not repeated"
    );
    assert_eq!(sim.requests("GET /cluster/status").await, 0);
    assert!(err
        .to_string()
        .contains("check the API token or the username and password"));
}

#[tokio::test]
async fn a_ticket_due_for_renewal_is_renewed_before_the_request() {
    let sim = Sim::start(Fixture::Pve8).await;
    let renewing = Client::with_options(
        &sim.password_config(),
        ClientOptions {
            ticket_renew_after: Duration::ZERO,
            ..options()
        },
    )
    .unwrap();
    sim.reset_requests().await;
    cluster::status(&renewing).await.unwrap();
    cluster::status(&renewing).await.unwrap();
    assert_eq!(sim.requests("POST /access/ticket").await, 2);
}
