//! Capacity findings: `ha-imbalance` (HA services or their memory unevenly spread over the online nodes, beyond
//! the balance tolerance) and `capacity-after-failure` (a survivor committed beyond its memory after a failure).

use std::collections::{BTreeMap, BTreeSet};

use pveha_model::Sid;

use super::{finding, gib, short_list, Ctx};
use crate::remediation::{self as fix, Remediation};
use crate::report::{Finding, Severity};

/// At most this many moves are suggested; after them the user re-runs the audit.
const MAX_MOVES: usize = 10;

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    imbalance(ctx, out);
    after_failure(ctx, out);
}

fn imbalance(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let online: Vec<_> = ctx.distribution.iter().filter(|d| d.online).collect();
    if online.len() < 2 {
        return;
    }
    let tolerance = ctx.options.balance_tolerance_percent.max(0.0);
    let counts: BTreeMap<&str, usize> = online
        .iter()
        .map(|d| (d.node.as_str(), d.ha_resources))
        .collect();
    let total: usize = counts.values().sum();
    if total == 0 {
        return;
    }
    let mean = total as f64 / counts.len() as f64;
    let (max, min) = (
        counts.values().max().copied().unwrap_or(0),
        counts.values().min().copied().unwrap_or(0),
    );
    // A difference of one service is unavoidable when the count does not divide evenly.
    let count_skewed = max - min >= 2 && (max - min) as f64 / mean * 100.0 > tolerance;

    let mut ha_memory: BTreeMap<&str, u64> = BTreeMap::new();
    for (sid, h) in &ctx.view.ha {
        let (Some(node), Some(guest)) = (h.node.as_deref(), ctx.view.guest(sid)) else {
            continue;
        };
        if guest.running {
            *ha_memory.entry(node).or_default() += guest.maxmem;
        }
    }
    let shares: Vec<(&str, f64)> = online
        .iter()
        .filter(|d| d.memory_total > 0)
        .map(|d| {
            let used = ha_memory.get(d.node.as_str()).copied().unwrap_or(0);
            (d.node.as_str(), used as f64 / d.memory_total as f64 * 100.0)
        })
        .collect();
    let spread = |v: &[(&str, f64)]| {
        let max = v.iter().map(|x| x.1).fold(f64::MIN, f64::max);
        let min = v.iter().map(|x| x.1).fold(f64::MAX, f64::min);
        max - min
    };
    let memory_skewed = shares.len() >= 2 && spread(&shares) > tolerance;
    if !count_skewed && !memory_skewed {
        return;
    }

    let layout: Vec<String> = online
        .iter()
        .map(|d| {
            let share = shares
                .iter()
                .find(|s| s.0 == d.node)
                .map(|s| format!(", {:.0}% of memory", s.1))
                .unwrap_or_default();
            format!("{} {}{share}", d.node, d.ha_resources)
        })
        .collect();
    let moves = suggest_moves(ctx, &counts);
    let actions: Vec<Remediation> = moves
        .iter()
        .map(|(sid, to)| fix::ha_resource_on(sid, to))
        .collect();
    let mut what = Vec::new();
    if count_skewed {
        what.push(format!(
            "HA services per node range from {min} to {max} (mean {mean:.1})"
        ));
    }
    if memory_skewed {
        what.push(format!(
            "HA memory ranges over {:.0} points of node memory",
            spread(&shares)
        ));
    }
    out.push(finding(
        "ha-imbalance",
        Severity::Medium,
        format!("HA load is unbalanced across {} online nodes", online.len()),
        format!(
            "{}, beyond the {tolerance:.0}% tolerance. HA resources per online node: {}.",
            what.join("; "),
            layout.join(", ")
        ),
        online.iter().map(|d| d.node.clone()).collect(),
        (!moves.is_empty()).then(|| {
            let listed: Vec<String> = moves.iter().map(|(s, to)| format!("{s} → {to}")).collect();
            format!("Suggested moves: {}.", short_list(&listed, MAX_MOVES))
        }),
        actions,
    ));
}

/// Greedy moves from the busiest to the idlest node until counts differ by at most one, never putting a service
/// next to one of its own replicas and never moving a service that a group or rule places.
fn suggest_moves(ctx: &Ctx<'_>, counts: &BTreeMap<&str, usize>) -> Vec<(Sid, String)> {
    let mut counts: BTreeMap<String, usize> =
        counts.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    let placed_by_rule: BTreeSet<String> = ctx
        .view
        .rules
        .iter()
        .flat_map(|r| r.resources.iter().cloned())
        .collect();
    let mut movable: BTreeMap<String, Vec<Sid>> = BTreeMap::new();
    for (sid, h) in &ctx.view.ha {
        let free = h.group.is_none()
            && !placed_by_rule.contains(&sid.to_string())
            && h.request_state == "started";
        if let (true, Some(node)) = (free, h.node.as_deref()) {
            movable.entry(node.to_string()).or_default().push(*sid);
        }
    }
    let mut moved_to: BTreeMap<Sid, String> = BTreeMap::new();
    let mut moves = Vec::new();
    while moves.len() < MAX_MOVES {
        let Some((from, &high)) = counts
            .iter()
            .max_by_key(|(n, c)| (**c, std::cmp::Reverse(n.as_str())))
        else {
            break;
        };
        let Some((to, &low)) = counts.iter().min_by_key(|(n, c)| (**c, n.as_str())) else {
            break;
        };
        if high < low + 2 {
            break;
        }
        let (from, to) = (from.clone(), to.clone());
        let replica_on = |sid: &Sid, node: &str| {
            ctx.services.of(sid).is_some_and(|s| {
                s.members.iter().any(|m| {
                    m != sid
                        && moved_to.get(m).map(String::as_str).or(ctx.view.node_of(m)) == Some(node)
                })
            })
        };
        let candidates = movable.get_mut(&from);
        let Some(pos) = candidates
            .as_ref()
            .and_then(|c| c.iter().position(|s| !replica_on(s, &to)))
        else {
            break;
        };
        let Some(sid) = candidates.map(|c| c.remove(pos)) else {
            break;
        };
        moved_to.insert(sid, to.clone());
        moves.push((sid, to.clone()));
        if let Some(c) = counts.get_mut(&from) {
            *c -= 1;
        }
        if let Some(c) = counts.get_mut(&to) {
            *c += 1;
        }
    }
    moves
}

fn after_failure(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let totals: BTreeMap<&str, u64> = ctx
        .distribution
        .iter()
        .map(|d| (d.node.as_str(), d.memory_total))
        .collect();
    // `memory_after` lists only the survivors that receive services; the others keep their memory, so those already
    // beyond it are short after every other node's failure too.
    let already_over: Vec<(&str, u64, u64)> = ctx
        .distribution
        .iter()
        .filter(|d| d.online && d.memory_total > 0 && d.memory_committed > d.memory_total)
        .map(|d| (d.node.as_str(), d.memory_committed, d.memory_total))
        .collect();
    for impact in ctx.impact {
        let mut over: Vec<(&str, u64, u64)> = impact
            .memory_after
            .iter()
            .filter_map(|(node, after)| {
                let total = totals.get(node.as_str()).copied().unwrap_or(0);
                (total > 0 && *after > total).then_some((node.as_str(), *after, total))
            })
            .collect();
        over.extend(
            already_over.iter().copied().filter(|(node, ..)| {
                *node != impact.node && !impact.memory_after.contains_key(*node)
            }),
        );
        over.sort_by(|a, b| a.0.cmp(b.0));
        if over.is_empty() {
            continue;
        }
        let lines: Vec<String> = over
            .iter()
            .map(|(n, after, total)| format!("{n} at {} of {}", gib(*after), gib(*total)))
            .collect();
        let mut subjects = vec![impact.node.clone()];
        subjects.extend(over.iter().map(|(n, ..)| n.to_string()));
        out.push(finding(
            "capacity-after-failure",
            Severity::High,
            format!("After a failure of {}, survivors lack memory", impact.node),
            format!(
                "If {} fails and its HA services are recovered, committed memory would be {}.",
                impact.node,
                lines.join(", ")
            ),
            subjects,
            None,
            Vec::new(),
        ));
    }
}
