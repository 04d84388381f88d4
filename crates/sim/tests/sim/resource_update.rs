//! `PUT /cluster/ha/resources/{sid}` checks in the real handler's order: the group before the locked update
//! looks at the digest and whether the resource exists.

use crate::harness::pve8;

#[tokio::test]
async fn an_update_naming_a_missing_group_is_refused_for_the_group_before_the_missing_resource() {
    let s = pve8().await;
    let a = s
        .call("PUT", "/cluster/ha/resources/ct:110", &[("group", "nope")])
        .await;
    assert_eq!(
        (a.status, a.body["message"].as_str()),
        (500, Some("HA group 'nope' does not exist\n"))
    );
    let stale = s
        .call(
            "PUT",
            "/cluster/ha/resources/ct:100",
            &[("group", "nope"), ("digest", "0000")],
        )
        .await;
    assert_eq!(
        stale.body["message"].as_str(),
        Some("HA group 'nope' does not exist\n"),
        "the group is checked before the digest"
    );
    let missing = s
        .call("PUT", "/cluster/ha/resources/ct:110", &[("comment", "x")])
        .await;
    assert_eq!(
        missing.body["message"].as_str(),
        Some("update resources config failed: no such resource 'ct:110'\n")
    );
}
