//! Backup finding: `no-backup`, guests that no enabled vzdump job covers, by PVE's own selection rule
//! (pool > vmid list > all minus exclude). A job pinned to a node does not count for an HA guest, which HA can move
//! off that node. Ranked by what is at stake: critical guests high, HA guests medium, the rest low.

use pveha_model::Sid;
use pveha_placement::fasthash::{FastMap, FastSet};

use super::{finding, short_list, Ctx};
use crate::report::{Finding, Severity};

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let view = ctx.view;
    let mut by_pool: FastMap<&str, Vec<usize>> = FastMap::default();
    for (i, g) in view.guests.iter().enumerate() {
        if let Some(pool) = g.pool.as_deref() {
            by_pool.entry(pool).or_default().push(i);
        }
    }
    let mut covered: FastSet<usize> = FastSet::default();
    let mut pinned_only: FastSet<usize> = FastSet::default();
    for job in view.backups.iter().filter(|j| j.enabled != Some(false)) {
        let selected: Vec<usize> = if let Some(pool) = job.pool.as_deref() {
            by_pool.get(pool).cloned().unwrap_or_default()
        } else if !job.vmid.is_empty() {
            job.vmid
                .iter()
                .filter_map(|v| v.trim().parse::<u64>().ok())
                .filter_map(|v| view.vmid_index.get(&v).copied())
                .collect()
        } else if job.all == Some(true) {
            let exclude: FastSet<u64> = job
                .exclude
                .iter()
                .filter_map(|v| v.trim().parse().ok())
                .collect();
            (0..view.guests.len())
                .filter(|i| !exclude.contains(&u64::from(view.guests[*i].sid.vmid)))
                .collect()
        } else {
            Vec::new()
        };
        for i in selected {
            let g = &view.guests[i];
            match job.node.as_deref() {
                None => {
                    covered.insert(i);
                }
                Some(node) if node == g.node && !view.is_ha(&g.sid) => {
                    covered.insert(i);
                }
                Some(node) if node == g.node => {
                    pinned_only.insert(i);
                }
                Some(_) => {}
            }
        }
    }

    let mut tiers: [(Severity, &str, Vec<Sid>); 3] = [
        (Severity::High, "critical", Vec::new()),
        (Severity::Medium, "HA-managed", Vec::new()),
        (Severity::Low, "other", Vec::new()),
    ];
    for (i, g) in view.guests.iter().enumerate() {
        if covered.contains(&i) {
            continue;
        }
        let tier = if ctx.services.critical.contains(&g.sid) {
            0
        } else if view.is_ha(&g.sid) {
            1
        } else {
            2
        };
        tiers[tier].2.push(g.sid);
    }
    for (severity, what, sids) in tiers {
        if sids.is_empty() {
            continue;
        }
        let described: Vec<String> = sids
            .iter()
            .map(|s| {
                let name = view.guest(s).map(|g| g.name.as_str()).unwrap_or("?");
                let pinned = view
                    .guest_index
                    .get(s)
                    .is_some_and(|i| pinned_only.contains(i));
                if pinned {
                    format!("{s} ({name}, only by a node-pinned job)")
                } else {
                    format!("{s} ({name})")
                }
            })
            .collect();
        let jobs = if view.backups.is_empty() {
            " There is no backup job at all."
        } else {
            ""
        };
        out.push(finding(
            "no-backup",
            severity,
            format!("{} {what} guest(s) have no backup", sids.len()),
            format!(
                "Not covered by any enabled backup job: {}.{jobs}",
                short_list(&described, 20)
            ),
            sids.iter().map(Sid::to_string).collect(),
            None,
            Vec::new(),
        ));
    }
}
