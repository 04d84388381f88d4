//! HA lifecycle findings, read from the datacenter's HA settings and the planned-reboot impact: `reboot-outage`,
//! `crs-unmodelled`, `fencing-hardware-unverified`.

use std::collections::BTreeSet;

use pveha_model::Sid;

use super::{finding, short_list, Ctx};
use crate::remediation::{self as fix, Remediation};
use crate::report::{Finding, Severity};

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    reboot_outage(ctx, out);
    crs_unmodelled(ctx, out);
    fencing(ctx, out);
}

fn reboot_outage(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let policy = ctx.view.settings.shutdown_policy.as_str();
    for impact in ctx.reboot {
        let lost: Vec<_> = impact
            .lost_services
            .iter()
            .filter_map(|name| ctx.services.list.iter().find(|s| &s.name == name))
            .filter(|s| s.critical || s.replicated() || s.members.iter().any(|m| ctx.view.is_ha(m)))
            .collect();
        if lost.is_empty() {
            continue;
        }
        let node = &impact.node;
        let frozen: BTreeSet<&str> = impact.frozen.iter().map(String::as_str).collect();
        let mut lines = Vec::new();
        let mut actions: Vec<Remediation> = Vec::new();
        let mut unmanaged: BTreeSet<Sid> = BTreeSet::new();
        let mut any_frozen = false;
        for service in &lost {
            let here: Vec<&Sid> = service
                .members
                .iter()
                .filter(|m| ctx.view.node_of(m) == Some(node.as_str()))
                .collect();
            let is_frozen = here.iter().any(|m| frozen.contains(m.to_string().as_str()));
            any_frozen |= is_frozen;
            let why = if is_frozen {
                format!("the {policy} shutdown policy freezes its HA services on {node}")
            } else if service.replicated() {
                format!("every replica runs on {node} and none is moved away first")
            } else {
                "it is not HA-managed, so nothing moves it away first".to_string()
            };
            lines.push(format!("{}: {why}", service.name));
            if service.replicated() && here.len() == service.members.len() {
                actions.extend(super::placement::spread(ctx, service, node));
            } else {
                unmanaged.extend(service.members.iter().filter(|m| !ctx.view.is_ha(m)));
            }
        }
        actions.extend(unmanaged.iter().map(|s| fix::ha_resource(s, None)));
        if policy != "migrate" {
            actions.insert(0, fix::shutdown_policy("migrate"));
        }
        let names: Vec<&str> = lost.iter().map(|s| s.name.as_str()).collect();
        let severity = if lost.iter().any(|s| s.critical) {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut subjects = vec![node.clone()];
        subjects.extend(names.iter().map(|n| n.to_string()));
        let extra = (!any_frozen && policy != "migrate").then(|| {
            "The policy alone does not help guests outside HA: put them under HA too.".to_string()
        });
        out.push(finding(
            "reboot-outage",
            severity,
            format!("A reboot of {node} takes down {}", short_list(&names, 5)),
            format!(
                "Under shutdown_policy {policy}, a planned reboot of {node} leaves these services with no running replica until the node is back: {}.",
                lines.join("; ")
            ),
            subjects,
            extra,
            actions,
        ));
    }
}

fn crs_unmodelled(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let crs = ctx.view.settings.crs.as_str();
    let why = match crs {
        "dynamic" => "the dynamic CRS scores with live CPU and memory use, which a snapshot does not model",
        "static" if !ctx.cluster.uses_static() => {
            "the static CRS needs every online node's CPU and memory and every HA guest's configured cores and memory, and the snapshot lacks some"
        }
        _ => return,
    };
    out.push(finding(
        "crs-unmodelled",
        Severity::Info,
        format!("Placement predictions use the basic scheduler, not the cluster's {crs} CRS"),
        format!(
            "The cluster runs crs: ha={crs}, but {why}: node-failure and reboot predictions place services as the basic scheduler would, so the real HA manager may pick other nodes."
        ),
        Vec::new(),
        None,
        Vec::new(),
    ));
}

fn fencing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mode = ctx.view.settings.fencing.as_str();
    if mode == "watchdog" {
        return;
    }
    out.push(finding(
        "fencing-hardware-unverified",
        Severity::Medium,
        format!("Fencing mode {mode} relies on fence devices the audit cannot see"),
        format!(
            "The datacenter sets fencing: {mode}. Recovery after a node failure waits until the node is fenced; with {mode} fencing that needs working devices in /etc/pve/ha/fence.cfg, which the API does not expose, so the predicted recoveries assume fencing succeeds."
        ),
        Vec::new(),
        None,
        Vec::new(),
    ));
}
