//! PVE 9's checks between node-affinity and resource-affinity rules (`PVE::HA::Rules`' global checks): a rule
//! that would pair with others in a way the CRM cannot place is refused on create, with the reason per rule.

use crate::harness::{pve9, Sim};

async fn rule(s: &Sim, form: &[(&str, &str)]) -> (u16, String) {
    let a = s.call("POST", "/cluster/ha/rules", form).await;
    (
        a.status,
        a.body["message"].as_str().unwrap_or("").to_string(),
    )
}

async fn node_rule(s: &Sim, id: &str, resources: &str, nodes: &str) -> (u16, String) {
    rule(
        s,
        &[
            ("rule", id),
            ("type", "node-affinity"),
            ("resources", resources),
            ("nodes", nodes),
        ],
    )
    .await
}

async fn affinity_rule(s: &Sim, id: &str, affinity: &str, resources: &str) -> (u16, String) {
    rule(
        s,
        &[
            ("rule", id),
            ("type", "resource-affinity"),
            ("affinity", affinity),
            ("resources", resources),
        ],
    )
    .await
}

fn refused(id: &str, reason: &str) -> (u16, String) {
    (
        500,
        format!("create ha rule failed: 400 Rule '{id}' is invalid.\nresources: {reason}\n"),
    )
}

#[tokio::test]
async fn a_resource_affinity_rule_is_refused_next_to_a_node_affinity_rule_with_several_priorities()
{
    let s = pve9().await;
    assert_eq!(
        node_rule(&s, "db", "ct:100", "proxmox:2,proxmox2").await.0,
        200
    );
    assert_eq!(
        affinity_rule(&s, "pair", "positive", "ct:100,ct:113").await,
        refused(
            "pair",
            "resources are in node affinity rules with multiple priorities"
        )
    );
    assert_eq!(
        affinity_rule(&s, "pair", "positive", "ct:113,ct:116")
            .await
            .0,
        200,
        "resources without a node-affinity rule pair freely"
    );
}

#[tokio::test]
async fn a_node_affinity_rule_with_several_priorities_is_refused_on_a_resource_in_an_affinity_rule()
{
    let s = pve9().await;
    assert_eq!(
        affinity_rule(&s, "apart", "negative", "ct:100,ct:113")
            .await
            .0,
        200
    );
    assert_eq!(
        node_rule(&s, "db", "ct:113", "proxmox:2,proxmox2").await,
        refused(
            "db",
            "resources are in a resource affinity rule and cannot be in a node affinity rule with multiple priorities"
        )
    );
    assert_eq!(
        node_rule(&s, "db", "ct:113", "proxmox:2,proxmox2:2")
            .await
            .0,
        200,
        "one priority class is fine"
    );
}

#[tokio::test]
async fn a_positive_rule_is_refused_over_resources_in_two_node_affinity_rules() {
    let s = pve9().await;
    assert_eq!(node_rule(&s, "on-one", "ct:100", "proxmox").await.0, 200);
    assert_eq!(node_rule(&s, "on-two", "ct:113", "proxmox2").await.0, 200);
    assert_eq!(
        affinity_rule(&s, "pair", "positive", "ct:100,ct:113").await,
        refused("pair", "resources are in multiple node affinity rules")
    );
    assert_eq!(
        affinity_rule(&s, "half", "positive", "ct:100,ct:116")
            .await
            .0,
        200
    );
    assert_eq!(
        affinity_rule(&s, "chain", "positive", "ct:116,ct:113").await,
        refused("chain", "resources are in multiple node affinity rules"),
        "positive rules sharing a resource count as one set"
    );
}

#[tokio::test]
async fn a_negative_rule_is_refused_when_node_affinity_leaves_fewer_nodes_than_resources() {
    let s = pve9().await;
    assert_eq!(
        node_rule(&s, "one-node", "ct:100,ct:113", "proxmox")
            .await
            .0,
        200
    );
    assert_eq!(
        affinity_rule(&s, "apart", "negative", "ct:100,ct:113").await,
        refused(
            "apart",
            "two or more resources are restricted to less nodes than available to the resources"
        )
    );
    assert_eq!(
        node_rule(&s, "two-nodes", "ct:116,ct:122", "proxmox,proxmox2")
            .await
            .0,
        200
    );
    assert_eq!(
        affinity_rule(&s, "spread", "negative", "ct:116,ct:122")
            .await
            .0,
        200
    );
}
