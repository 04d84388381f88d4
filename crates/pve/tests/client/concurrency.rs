//! Terraform's parallelism: N concurrent reads of HA resources cost one list request; concurrent
//! HA writes queue in the client, reach the server two at a time and all land, with no lock error
//! surfacing.

use futures::future::join_all;
use pveha_model::{NodePriorities, Sid};
use pveha_pve::ha::groups::{self, NewHaGroup};
use pveha_pve::ha::resources::{self, HaResourceUpdate};
use pveha_pve::Change;
use serde_json::json;

use pveha_pve::{Client, ClientOptions, RetryPolicy};

use crate::harness::{fast_retries, options, Fixture, Sim};

const HA_SIDS: [&str; 7] = [
    "ct:100", "ct:113", "ct:116", "ct:122", "ct:130", "ct:131", "ct:1250",
];

fn sids() -> Vec<Sid> {
    HA_SIDS.iter().map(|s| s.parse().unwrap()).collect()
}

#[tokio::test]
async fn fifty_concurrent_resource_reads_cost_one_list_request() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    client.version().await.unwrap();
    sim.reset_requests().await;
    let all = sids();
    let reads = (0..50).map(|i| {
        let client = client.clone();
        let sid = all[i % all.len()];
        async move { resources::get(&client, &sid).await }
    });
    let results = join_all(reads).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.as_ref().unwrap().sid, all[i % all.len()]);
    }
    assert_eq!(sim.requests("GET /cluster/ha/resources").await, 1);
    assert_eq!(sim.total_requests().await, 1);

    // Positive control: a write invalidates, so the next read asks the server again.
    resources::update(
        &client,
        &all[0],
        &HaResourceUpdate {
            max_relocate: Change::Set(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let after = resources::get(&client, &all[0]).await.unwrap();
    assert_eq!(
        after.max_relocate,
        Some(2),
        "the read after a write sees it"
    );
    assert_eq!(sim.requests("GET /cluster/ha/resources").await, 2);
}

#[tokio::test]
async fn twenty_concurrent_ha_writes_all_land_without_lock_errors() {
    let sim = Sim::start(Fixture::Pve8).await;
    // Which write draws which of the seeded timeouts depends on how the writes interleave; with
    // this many attempts a write that exhausts them (0.3^12) does not happen in practice.
    let options = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 12,
            ..fast_retries()
        },
        ..options()
    };
    let client = Client::with_options(&sim.token_config(), options).unwrap();
    client.version().await.unwrap();
    // Writes hold the cluster lock for a while, and some meet a lock timeout, as under load.
    sim.fault(
        json!({"path": "^/cluster/ha/", "method": "POST", "kind": "latency", "latency_ms": 20}),
    )
    .await;
    sim.fault(
        json!({"path": "^/cluster/ha/", "method": "PUT", "kind": "latency", "latency_ms": 20}),
    )
    .await;
    sim.fault(json!({"path": "^/cluster/ha/", "method": "POST", "kind": "lock-timeout", "probability": 0.3, "seed": 7}))
        .await;
    sim.reset_requests().await;
    let creates = (0..13).map(|i| {
        let client = client.clone();
        async move {
            let group = NewHaGroup {
                group: format!("g{i:02}"),
                nodes: "proxmox2:2,proxmox3:1".parse::<NodePriorities>().unwrap(),
                restricted: None,
                nofailback: None,
                comment: None,
            };
            groups::create(&client, &group).await
        }
    });
    let updates = sids().into_iter().map(|sid| {
        let client = client.clone();
        async move {
            let update = HaResourceUpdate {
                comment: Change::Set(format!("managed {sid}")),
                ..Default::default()
            };
            resources::update(&client, &sid, &update).await
        }
    });
    let (created, updated) = futures::join!(join_all(creates), join_all(updates));
    for r in created.iter().chain(updated.iter()) {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(groups::list(&client).await.unwrap().len(), 13);
    for r in resources::list(&client).await.unwrap() {
        assert_eq!(
            r.comment.as_deref(),
            Some(format!("managed {}", r.sid).as_str())
        );
    }
    assert!(
        sim.requests("POST /cluster/ha/groups").await > 13,
        "the injected lock timeouts fired and were absorbed"
    );
    // Two at a time: one holding the HA lock and one waiting behind it at the server, so the lock
    // does not idle for a round trip, and never a pile-up that would meet the lock's timeout.
    assert_eq!(sim.max_ha_writes_in_flight().await, 2);
}

#[tokio::test]
async fn read_backs_go_before_the_last_queued_writes_so_the_lock_stays_busy() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    client.version().await.unwrap();
    // Slow writes and quick lists: a read-back that waited for the queue to empty would come
    // after every write; Terraform would start no new resource meanwhile and the lock would idle.
    sim.fault(
        json!({"path": "^/cluster/ha/groups$", "method": "POST", "kind": "latency", "latency_ms": 50}),
    )
    .await;
    sim.reset_requests().await;
    let events = std::sync::Mutex::new(Vec::new());
    let creates = (0..10).map(|i| {
        let (client, events) = (&client, &events);
        async move {
            let group = NewHaGroup {
                group: format!("q{i:02}"),
                nodes: "proxmox2:2,proxmox3:1".parse::<NodePriorities>().unwrap(),
                restricted: None,
                nofailback: None,
                comment: None,
            };
            groups::create(client, &group).await.unwrap();
            events.lock().unwrap().push('w');
            let read = groups::get(client, &group.group).await.unwrap();
            assert_eq!(read.group, group.group, "the read-back shows the write");
            events.lock().unwrap().push('r');
        }
    });
    join_all(creates).await;
    let events: String = events.into_inner().unwrap().into_iter().collect();
    let last_write = events.rfind('w').unwrap();
    let first_read = events.find('r').unwrap();
    assert!(
        first_read < last_write,
        "no read-back returned before the last write: {events}"
    );
    let lists = sim.requests("GET /cluster/ha/groups").await;
    assert!(
        (1..=3).contains(&lists),
        "{lists} list reads for 10 read-backs: {events}"
    );
}

/// Creates `name` and reads it back, as a resource's create does.
async fn create_and_read_back(client: &pveha_pve::Client, name: String) -> NewHaGroup {
    let group = NewHaGroup {
        group: name,
        nodes: "proxmox2:2,proxmox3:1".parse::<NodePriorities>().unwrap(),
        restricted: Some(true),
        nofailback: None,
        comment: None,
    };
    groups::create(client, &group).await.unwrap();
    let read = groups::get(client, &group.group).await.unwrap();
    assert_eq!(
        (read.nodes.clone(), read.restricted),
        (group.nodes.clone(), Some(true)),
        "the read-back shows the write"
    );
    group
}

#[tokio::test]
async fn twenty_concurrent_creates_are_confirmed_by_a_few_list_reads() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    client.version().await.unwrap();
    // Each write holds the cluster lock a while, so the others queue behind it.
    sim.fault(
        json!({"path": "^/cluster/ha/groups$", "method": "POST", "kind": "latency", "latency_ms": 5}),
    )
    .await;
    sim.reset_requests().await;
    let creates = (0..20).map(|i| create_and_read_back(&client, format!("c{i:02}")));
    join_all(creates).await;
    assert_eq!(sim.requests("POST /cluster/ha/groups").await, 20);
    let lists = sim.requests("GET /cluster/ha/groups").await;
    assert!(
        (1..=3).contains(&lists),
        "{lists} list reads for 20 read-backs"
    );
    assert_eq!(sim.total_requests().await, 20 + lists, "no per-object GET");

    // Positive control: read-backs that do not overlap each pay their own list read.
    sim.reset_requests().await;
    for i in 0..20 {
        create_and_read_back(&client, format!("s{i:02}")).await;
    }
    assert_eq!(sim.requests("GET /cluster/ha/groups").await, 20);
}

#[tokio::test]
async fn a_write_leaves_the_cached_list_answering_for_the_other_resources() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let all = sids();
    resources::list(&client).await.unwrap();
    sim.reset_requests().await;
    let update = HaResourceUpdate {
        comment: Change::Set("edited".into()),
        ..Default::default()
    };
    resources::update(&client, &all[0], &update).await.unwrap();
    for sid in &all[1..] {
        assert_eq!(resources::get(&client, sid).await.unwrap().sid, *sid);
    }
    assert_eq!(
        sim.requests("GET /cluster/ha/resources").await,
        0,
        "a write to {} made the others be asked again",
        all[0]
    );
    // Positive control: the written object is read from a list fetched after the write.
    let written = resources::get(&client, &all[0]).await.unwrap();
    assert_eq!(written.comment.as_deref(), Some("edited"));
    assert_eq!(sim.requests("GET /cluster/ha/resources").await, 1);
    // That list postdates every write, so a reader of the whole list is served it too.
    assert_eq!(resources::list(&client).await.unwrap().len(), all.len());
    assert_eq!(sim.requests("GET /cluster/ha/resources").await, 1);
}

#[tokio::test]
async fn a_read_back_shows_a_change_another_writer_made_after_the_write() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    let other = sim.client();
    let sid: Sid = "ct:133".parse().unwrap();
    // The cached list predates the create, and does not have the new resource.
    resources::list(&client).await.unwrap();
    resources::create(&client, &resources::NewHaResource::new(sid))
        .await
        .unwrap();
    let elsewhere = HaResourceUpdate {
        comment: Change::Set("changed elsewhere".into()),
        ..Default::default()
    };
    resources::update(&other, &sid, &elsewhere).await.unwrap();
    let read_back = resources::get(&client, &sid).await.unwrap();
    assert_eq!(
        read_back.comment.as_deref(),
        Some("changed elsewhere"),
        "the read-back did not read the server after the write"
    );
}
