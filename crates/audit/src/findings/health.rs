//! Cluster health findings: `node-offline` (a member not online) and `quorum-at-risk` (no quorum, or one more node
//! failure loses it; one vote per node is assumed, as the snapshot does not carry corosync votes).

use super::{finding, Ctx};
use crate::report::{Finding, Severity};

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let view = ctx.view;
    let offline: Vec<&str> = view
        .nodes
        .iter()
        .filter(|n| !n.online)
        .map(|n| n.name.as_str())
        .collect();
    if !offline.is_empty() {
        out.push(finding(
            "node-offline",
            Severity::High,
            format!("{} node(s) offline: {}", offline.len(), offline.join(", ")),
            format!(
                "Not online in the cluster membership: {}. Their non-HA guests are down and the cluster runs with less headroom.",
                offline.join(", ")
            ),
            offline.iter().map(|n| n.to_string()).collect(),
            None,
            Vec::new(),
        ));
    }

    let total = view.nodes.len();
    if total < 2 {
        return;
    }
    let online = total - offline.len();
    let majority = total / 2 + 1;
    let (severity, what) = if view.quorate == Some(false) || online < majority {
        (
            Severity::Critical,
            format!(
                "The cluster has no quorum: {online} of {total} nodes online, {majority} needed."
            ),
        )
    } else if online - 1 < majority {
        (
            Severity::High,
            format!(
                "{online} of {total} nodes online and {majority} needed for quorum: one more node failure stops HA and blocks configuration changes."
            ),
        )
    } else {
        return;
    };
    let title = if severity == Severity::Critical {
        "The cluster has no quorum".to_string()
    } else {
        "One more node failure loses quorum".to_string()
    };
    out.push(finding(
        "quorum-at-risk",
        severity,
        title,
        what,
        offline.iter().map(|n| n.to_string()).collect(),
        None,
        Vec::new(),
    ));
}
