//! pveha-audit: the HA audit engine. A pure function from a `pveha-snapshot/1` cluster snapshot and [`Options`] to a
//! [`Report`]: findings with stable codes and remediation (prose, and the objects that fix them as data in
//! [`remediation`]), HA distribution, node-failure and planned-reboot impact (predicted with `pveha-placement`)
//! and an overall risk, rendered as Markdown or as Prometheus metrics. The engine knows no Terraform: rendering
//! remediation as HCL is the provider's.
//!
//! No I/O, no async, no clock: time comes from the snapshot's `captured_at`. Odd cluster data never fails an audit;
//! it becomes a note in the report. Only building the typed cluster view from the snapshot can fail.

pub mod event;
mod findings;
pub mod impact;
mod markdown;
mod options;
pub mod plan;
pub mod prometheus;
pub mod reboot;
pub mod remediation;
mod report;
pub mod risk;
mod services;
mod settings;
mod view;

use std::collections::BTreeMap;

use pveha_model::{Snapshot, SnapshotData};

pub use event::{
    predict, predict_reboot, Event, EventImpact, GuestImpact, Outage, PredictError, ServiceImpact,
};
pub use findings::{catalog_entry, CATALOG};
pub use options::{parse_duration, AuditError, Options};
pub use remediation::{Action, Object, Remediation};
pub use report::{
    Counts, Finding, Header, NodeDistribution, NodeFailureImpact, NodeRebootImpact, Report, Risk,
    Severity,
};

use view::ClusterView;

/// Audits a cluster snapshot.
pub fn audit(snapshot: &Snapshot, options: &Options) -> Result<Report, AuditError> {
    audit_data(snapshot, options)
}

/// Audits a snapshot in any form: [`Snapshot`], or a [`pveha_model::RawSnapshot`] indexed from a file's text,
/// which reads each path straight into the records (the same report, for less time and memory).
pub fn audit_data<S: SnapshotData>(snapshot: &S, options: &Options) -> Result<Report, AuditError> {
    audit_keeping(snapshot, options).map(|(report, _)| report)
}

/// What the audit worked on (the cluster's view, services, placement model), handed back by
/// [`audit_keeping`] so that a process about to exit need not free it: a tenth of a large audit's
/// time went to freeing it.
pub struct WorkingSet {
    _view: ClusterView,
    _services: services::Services,
    _cluster: pveha_placement::Cluster,
}

/// [`audit_data`], handing back the working set with the report.
pub fn audit_keeping<S: SnapshotData>(
    snapshot: &S,
    options: &Options,
) -> Result<(Report, WorkingSet), AuditError> {
    let patterns = options.name_patterns()?;
    let view = ClusterView::from_snapshot(snapshot)?;
    let mut notes = view.notes.clone();
    let services = services::build(&view, options, &patterns, &mut notes);
    let distribution = distribution(&view);
    let cluster = impact::placement_cluster(&view);
    // The cluster and the guests are indexed once for both predictions: each node's event then costs about its
    // own services.
    let index = impact::guest_index(&view, &services);
    let events = pveha_placement::NodeEvents::new(&cluster);
    let (node_failure_impact, unplaced) =
        impact::node_failure_impact(&view, &services, events.recoverer(), &index);
    let node_reboot_impact = reboot::node_reboot_impact(&view, &services, &events, &index);
    impact::note_scheduler(&view, &cluster, &mut notes);
    let ctx = findings::Ctx {
        view: &view,
        services: &services,
        options,
        impact: &node_failure_impact,
        reboot: &node_reboot_impact,
        cluster: &cluster,
        distribution: &distribution,
        unplaced: &unplaced,
    };
    let findings = findings::run(&ctx, &mut notes);
    let report = Report {
        risk: risk::risk(&findings),
        counts: Counts::of(&findings),
        findings,
        distribution,
        node_failure_impact,
        node_reboot_impact,
        notes,
        header: Header {
            cluster: view.cluster_name.clone(),
            pve_version: view.pve_version.clone(),
            captured_at: snapshot.captured_at().map(str::to_string),
            rules: view.model == pveha_model::HaModel::Rules,
        },
    };
    let kept = WorkingSet {
        _view: view,
        _services: services,
        _cluster: cluster,
    };
    Ok((report, kept))
}

/// HA resources, guests and memory per node, in node order.
fn distribution(view: &ClusterView) -> Vec<NodeDistribution> {
    let mut rows: BTreeMap<&str, NodeDistribution> = view
        .nodes
        .iter()
        .map(|n| {
            let row = NodeDistribution {
                node: n.name.clone(),
                online: n.online,
                ha_resources: 0,
                guests: 0,
                memory_committed: 0,
                memory_total: n.maxmem,
            };
            (n.name.as_str(), row)
        })
        .collect();
    for g in &view.guests {
        if let Some(row) = rows.get_mut(g.node.as_str()) {
            row.guests += 1;
            if g.running {
                row.memory_committed += g.maxmem;
            }
        }
    }
    for sid in view.ha.keys() {
        if let Some(row) = view.node_of(sid).and_then(|n| rows.get_mut(n)) {
            row.ha_resources += 1;
        }
    }
    rows.into_values().collect()
}
