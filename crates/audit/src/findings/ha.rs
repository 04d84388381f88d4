//! HA-management findings: `critical-not-ha`, `critical-no-onboot`, `no-placement-policy`, `ha-service-unhealthy`,
//! and those read from the node-failure impact: `node-failure-outage`, `no-recovery-node`, `rto-target-missed`.

use std::collections::{BTreeMap, BTreeSet};

use pveha_model::{HaModel, Sid};

use super::{finding, short_list, Ctx};
use crate::remediation::{self as fix, Remediation};
use crate::report::{Finding, Severity};
use crate::services::Service;

/// At most this many resources are put into a generated fix; the rest are left to the user.
const ACTION_LIMIT: usize = 50;

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    critical_unmanaged(ctx, out);
    no_policy(ctx, out);
    unhealthy(ctx, out);
    outages(ctx, out);
    no_recovery(ctx, out);
    rto(ctx, out);
}

fn describe(ctx: &Ctx<'_>, sid: &Sid) -> String {
    match ctx.view.guest(sid) {
        Some(g) => format!("{sid} ({}) on {}", g.name, g.node),
        None => sid.to_string(),
    }
}

fn critical_unmanaged(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut not_ha: Vec<Sid> = ctx
        .services
        .critical
        .iter()
        .filter(|s| !ctx.view.is_ha(s))
        .copied()
        .collect();
    not_ha.sort();
    if not_ha.is_empty() {
        return;
    }
    let described: Vec<String> = not_ha.iter().map(|s| describe(ctx, s)).collect();
    let actions: Vec<Remediation> = not_ha
        .iter()
        .take(ACTION_LIMIT)
        .map(|s| fix::ha_resource(s, None))
        .collect();
    out.push(finding(
        "critical-not-ha",
        Severity::High,
        format!("{} critical guest(s) are not HA-managed", not_ha.len()),
        format!(
            "Critical guests without HA: {}. Nothing restarts them elsewhere when their node fails.",
            short_list(&described, 20)
        ),
        not_ha.iter().map(Sid::to_string).collect(),
        None,
        actions,
    ));

    let no_onboot: Vec<Sid> = not_ha
        .iter()
        .filter(|s| {
            ctx.view
                .guest(s)
                .and_then(|g| g.config.as_ref())
                .is_some_and(|c| c.onboot != Some(true))
        })
        .copied()
        .collect();
    if no_onboot.is_empty() {
        return;
    }
    let described: Vec<String> = no_onboot.iter().map(|s| describe(ctx, s)).collect();
    let actions: Vec<Remediation> = no_onboot
        .iter()
        .take(ACTION_LIMIT)
        .map(fix::guest_onboot)
        .collect();
    out.push(finding(
        "critical-no-onboot",
        Severity::High,
        format!("{} critical guest(s) start neither by HA nor at boot", no_onboot.len()),
        format!(
            "Not HA-managed and onboot off: {}. After any reboot of their node they stay down until started by hand.",
            short_list(&described, 20)
        ),
        no_onboot.iter().map(Sid::to_string).collect(),
        None,
        actions,
    ));
}

fn no_policy(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let view = ctx.view;
    if view.ha.is_empty() {
        return;
    }
    let (missing, what) = match view.model {
        HaModel::Groups => {
            let used = view.ha.values().any(|h| {
                h.group
                    .as_ref()
                    .is_some_and(|g| view.groups.contains_key(g))
            });
            let what = if view.groups.is_empty() {
                "No HA groups are configured".to_string()
            } else {
                format!(
                    "{} HA group(s) exist but no HA resource uses one",
                    view.groups.len()
                )
            };
            (!used, what)
        }
        HaModel::Rules => (
            view.active_rules().next().is_none(),
            "No enabled HA rules exist".to_string(),
        ),
    };
    if !missing {
        return;
    }
    let online = view.online_nodes();
    let mut by_node: BTreeMap<&str, Vec<Sid>> = BTreeMap::new();
    for (sid, h) in &view.ha {
        if let Some(node) = h.node.as_deref().filter(|n| online.contains(n)) {
            by_node.entry(node).or_default().push(*sid);
        }
    }
    // The generated policy keeps every service where it is now, made explicit: one preference per node.
    let mut actions = Vec::new();
    let mut written = 0usize;
    for (node, sids) in &by_node {
        let name = format!("prefer-{node}");
        let nodes: Vec<(String, u32)> = online
            .iter()
            .map(|n| (n.to_string(), if n == node { 2 } else { 1 }))
            .collect();
        let take: Vec<Sid> = sids
            .iter()
            .take(ACTION_LIMIT.saturating_sub(written))
            .copied()
            .collect();
        if take.is_empty() {
            break;
        }
        written += take.len();
        let comment = format!("Services that belong on {node}; adjust per role.");
        match view.model {
            HaModel::Groups => {
                actions.push(fix::group(&name, &nodes, false, &comment));
                for sid in &take {
                    actions.push(fix::ha_resource(sid, Some(&name)));
                }
            }
            HaModel::Rules => actions.push(fix::node_affinity_rule(&name, &take, &nodes, &comment)),
        }
    }
    let more = (written < view.ha.len()).then(|| {
        format!(
            " The fix places the first {written}; place the other {} the same way.",
            view.ha.len() - written
        )
    });
    let kind = if view.model == HaModel::Groups {
        "groups"
    } else {
        "rules"
    };
    out.push(finding(
        "no-placement-policy",
        Severity::Medium,
        format!("{} HA resources have no placement policy", view.ha.len()),
        format!(
            "{what} while {} HA resources exist: the HA manager places them only by load, so replicas can end up together and recoveries pile onto one node.",
            view.ha.len()
        ),
        Vec::new(),
        Some(format!("The fix makes today's placement explicit with one preference per node; edit it into {kind} per role (the seed's critical-infrastructure, reverse-proxy, databases, applications).{}", more.unwrap_or_default())),
        actions,
    ));
}

fn unhealthy(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (sid, h) in &ctx.view.ha {
        let Some(state) = h.crm_state.as_deref() else {
            continue;
        };
        let severity = match state {
            "error" | "fence" | "recovery" => Severity::High,
            "freeze" => Severity::Medium,
            _ => continue,
        };
        let node = h
            .node
            .clone()
            .unwrap_or_else(|| "an unknown node".to_string());
        out.push(finding(
            "ha-service-unhealthy",
            severity,
            format!("HA service {sid} is in state {state}"),
            format!(
                "The HA manager has {sid} in state '{state}' on {node} (requested: {}).",
                h.request_state
            ),
            vec![sid.to_string(), node],
            None,
            Vec::new(),
        ));
    }
}

/// Whether losing this service is worth a finding: someone meant it to stay up.
fn matters(ctx: &Ctx<'_>, service: &Service) -> bool {
    service.critical || service.replicated() || service.members.iter().any(|m| ctx.view.is_ha(m))
}

fn service_named<'a>(ctx: &'a Ctx<'_>, name: &str) -> Option<&'a Service> {
    let list = &ctx.services.list;
    list.binary_search_by(|s| s.name.as_str().cmp(name))
        .ok()
        .and_then(|i| list.get(i))
}

fn outages(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for impact in ctx.impact {
        let lost: Vec<&Service> = impact
            .lost_services
            .iter()
            .filter_map(|n| service_named(ctx, n))
            .filter(|s| matters(ctx, s))
            .collect();
        if lost.is_empty() {
            continue;
        }
        let node = &impact.node;
        let names: Vec<&str> = lost.iter().map(|s| s.name.as_str()).collect();
        let mut lines = Vec::new();
        let mut unmanaged: BTreeSet<Sid> = BTreeSet::new();
        for service in &lost {
            let why = if service.members.iter().any(|m| ctx.view.is_ha(m)) {
                "its HA replicas would find no recovery node"
            } else {
                "no replica is HA-managed"
            };
            let members: Vec<String> = service.members.iter().map(|m| describe(ctx, m)).collect();
            lines.push(format!("{} ({}): {why}", service.name, members.join(", ")));
            unmanaged.extend(service.members.iter().filter(|m| !ctx.view.is_ha(m)));
        }
        let severity = if lost.iter().any(|s| s.critical) {
            Severity::Critical
        } else {
            Severity::High
        };
        let mut subjects = vec![node.clone()];
        subjects.extend(names.iter().map(|n| n.to_string()));
        let actions: Vec<Remediation> = unmanaged
            .iter()
            .take(ACTION_LIMIT)
            .map(|s| fix::ha_resource(s, None))
            .collect();
        out.push(finding(
            "node-failure-outage",
            severity,
            format!("A failure of {node} takes down {} entirely", short_list(&names, 5)),
            format!(
                "If {node} fails, these services have no running replica left and nothing recovers them: {}.",
                lines.join("; ")
            ),
            subjects,
            Some("Replicated services also need their replicas on separate nodes (see replicas-colocated).".to_string()),
            actions,
        ));
    }
}

fn no_recovery(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut stuck: Vec<String> = Vec::new();
    let mut subjects: BTreeSet<String> = BTreeSet::new();
    for impact in ctx.impact {
        for sid in ctx.unplaced.get(&impact.node).into_iter().flatten() {
            stuck.push(format!("{sid} (if {} fails)", impact.node));
            subjects.insert(sid.clone());
            subjects.insert(impact.node.clone());
        }
    }
    if stuck.is_empty() {
        return;
    }
    out.push(finding(
        "no-recovery-node",
        Severity::High,
        format!("{} HA service(s) would have no recovery node", subjects.iter().filter(|s| s.contains(':')).count()),
        format!(
            "The HA manager would find no node for: {}. They would stay in recovery until their node returns.",
            short_list(&stuck, 20)
        ),
        subjects.into_iter().collect(),
        None,
        Vec::new(),
    ));
}

fn rto(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let target = ctx.options.rto_target.as_secs();
    // Worst case per critical service over every single-node failure: None (stays down) is worst.
    let mut worst: BTreeMap<&str, (Option<u64>, &str)> = BTreeMap::new();
    for impact in ctx.impact {
        for (name, rto) in &impact.rto_seconds {
            if !service_named(ctx, name).is_some_and(|s| s.critical) {
                continue;
            }
            let entry = worst
                .entry(name.as_str())
                .or_insert((Some(0), impact.node.as_str()));
            let worse = match (rto, entry.0) {
                (None, Some(_)) => true,
                (Some(a), Some(b)) => *a > b,
                _ => false,
            };
            if worse {
                *entry = (*rto, impact.node.as_str());
            }
        }
    }
    // "Under the target": a recovery that takes exactly the target misses it.
    let missed: Vec<(&str, Option<u64>, &str)> = worst
        .into_iter()
        .filter(|(_, (rto, _))| rto.is_none_or(|r| r >= target))
        .map(|(name, (rto, node))| (name, rto, node))
        .collect();
    if missed.is_empty() {
        return;
    }
    let lines: Vec<String> = missed
        .iter()
        .map(|(name, rto, node)| match rto {
            Some(r) => format!("{name}: ~{r} s if {node} fails"),
            None => format!("{name}: stays down if {node} fails"),
        })
        .collect();
    out.push(finding(
        "rto-target-missed",
        Severity::Medium,
        format!(
            "{} critical service(s) cannot recover within {target} s",
            missed.len()
        ),
        format!(
            "RTO target {target} s; predicted worst case: {}.",
            lines.join("; ")
        ),
        missed.iter().map(|(n, _, _)| n.to_string()).collect(),
        None,
        Vec::new(),
    ));
}
