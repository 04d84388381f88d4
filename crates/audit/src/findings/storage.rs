//! Storage finding: `local-storage-ha`, HA guests with a disk on storage that is neither shared nor replicated; the
//! HA manager would "recover" them onto a node that does not have their disk.

use pveha_model::Sid;

use super::{finding, short_list, Ctx};
use crate::report::{Finding, Severity};

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>, notes: &mut Vec<String>) {
    let view = ctx.view;
    let mut local: Vec<(Sid, String)> = Vec::new();
    let mut no_config = 0usize;
    let mut unknown: Vec<String> = Vec::new();
    for sid in view.ha.keys() {
        let Some(guest) = view.guest(sid) else {
            continue;
        };
        let Some(config) = &guest.config else {
            no_config += 1;
            continue;
        };
        if view.replicated.contains(&u64::from(sid.vmid)) {
            continue;
        }
        let mut stores = Vec::new();
        for id in config.storages() {
            match view.storage.get(&id) {
                Some(s) if s.is_shared() => {}
                Some(_) => stores.push(id),
                None => unknown.push(format!("{id} ({sid})")),
            }
        }
        if !stores.is_empty() {
            local.push((*sid, stores.join(", ")));
        }
    }
    if no_config > 0 {
        notes.push(format!(
            "{no_config} HA guest(s) have no config in the snapshot: their storage was not checked"
        ));
    }
    if !unknown.is_empty() {
        notes.push(format!(
            "storage not in /storage, not judged: {}",
            short_list(&unknown, 10)
        ));
    }
    if local.is_empty() {
        return;
    }
    let described: Vec<String> = local.iter().map(|(s, st)| format!("{s} on {st}")).collect();
    out.push(finding(
        "local-storage-ha",
        Severity::High,
        format!("{} HA guest(s) have disks on local, unreplicated storage", local.len()),
        format!(
            "These HA guests cannot start on another node after a failure, because their disks stay on the failed one: {}.",
            short_list(&described, 20)
        ),
        local.iter().map(|(s, _)| s.to_string()).collect(),
        None,
        Vec::new(),
    ));
}
