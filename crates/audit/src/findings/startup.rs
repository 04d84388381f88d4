//! Startup finding: `startup-ignored-for-ha` (info), HA guests with `onboot` or `startup` set. `startall` skips
//! HA-managed guests, so these settings do nothing and suggest an order that does not exist.

use pveha_model::Sid;

use super::{finding, short_list, Ctx};
use crate::report::{Finding, Severity};

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let view = ctx.view;
    let mut found: Vec<(Sid, String)> = Vec::new();
    for sid in view.ha.keys() {
        let Some(config) = view.guest(sid).and_then(|g| g.config.as_ref()) else {
            continue;
        };
        let mut set = Vec::new();
        if config.onboot == Some(true) {
            set.push("onboot=1".to_string());
        }
        if let Some(startup) = config.startup.as_deref().filter(|s| !s.is_empty()) {
            set.push(format!("startup={startup}"));
        }
        if !set.is_empty() {
            found.push((*sid, set.join(" ")));
        }
    }
    if found.is_empty() {
        return;
    }
    let described: Vec<String> = found
        .iter()
        .map(|(s, what)| format!("{s} ({what})"))
        .collect();
    out.push(finding(
        "startup-ignored-for-ha",
        Severity::Info,
        format!(
            "onboot/startup set on {} HA guest(s), where Proxmox ignores them",
            found.len()
        ),
        format!(
            "The HA stack starts these guests, not startall: {}.",
            short_list(&described, 20)
        ),
        found.iter().map(|(s, _)| s.to_string()).collect(),
        None,
        Vec::new(),
    ));
}
