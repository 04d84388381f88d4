//! The drill report as Markdown: per drill, a table of services (what users feel) and one of guests (what the HA
//! stack did), each with the prediction, the measurement and whether they agree; the verdict last.

use std::fmt::Write;

use pveha_audit::Outage;

use super::compare::{seconds, Drill, MeasuredOutage, Report};

/// `stays down`, `back after 120 s`, `down until the node is back`, `no outage`.
pub fn predicted(outage: Outage) -> String {
    match outage {
        Outage::Seconds(0) => "no outage".into(),
        Outage::Seconds(s) => format!("back after {s} s"),
        Outage::UntilNodeBack => "down until the node is back".into(),
        Outage::StaysDown => "stays down".into(),
    }
}

/// `stays down`, `back after 123 s`, `no outage`.
pub fn measured(outage: MeasuredOutage) -> String {
    match outage {
        MeasuredOutage::Seconds(0.0) => "no outage".into(),
        MeasuredOutage::Seconds(s) => format!("back after {}", seconds(s)),
        MeasuredOutage::StaysDown => "stays down".into(),
    }
}

fn on(node: Option<&str>) -> String {
    node.map_or_else(String::new, |n| format!(" on {n}"))
}

fn agrees(disagreement: Option<&String>) -> String {
    match disagreement {
        None => "✓".into(),
        Some(why) => format!("✗ {}", why.replace('|', "\\|")),
    }
}

fn drill(out: &mut String, d: &Drill) {
    let _ = write!(out, "\n## {} {} (policy {})\n\n", d.node, d.event, d.policy);
    if let Some(away) = d.node_away_seconds {
        let _ = writeln!(out, "The node stays off for {}.\n", seconds(away));
    }
    if d.services.is_empty() && d.guests.is_empty() {
        out.push_str("Nothing runs on the node.\n");
    }
    if !d.services.is_empty() {
        out.push_str("| service | critical | predicted | measured | RTO | agrees |\n|---|---|---|---|---|---|\n");
        for s in &d.services {
            let rto = match s.meets_rto {
                None => "",
                Some(true) => "met",
                Some(false) => "missed",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {rto} | {} |",
                s.name,
                if s.critical { "yes" } else { "" },
                predicted(s.predicted),
                measured(s.measured),
                agrees(s.disagreement.as_ref()),
            );
        }
        out.push('\n');
    }
    if !d.guests.is_empty() {
        out.push_str(
            "| guest | name | HA | predicted | measured | agrees |\n|---|---|---|---|---|---|\n",
        );
        for g in &d.guests {
            let runs = g.measured != MeasuredOutage::StaysDown;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{} | {}{} | {} |",
                g.sid,
                g.name,
                if g.ha { "yes" } else { "no" },
                predicted(g.predicted),
                on(g.predicted_node.as_deref()),
                measured(g.measured),
                on(g.measured_node.as_deref().filter(|_| runs)),
                agrees(g.disagreement.as_ref()),
            );
        }
    }
    for n in &d.notes {
        let _ = writeln!(out, "\n> {n}");
    }
}

/// The whole report.
pub fn markdown(r: &Report) -> String {
    let mut out = String::from("# pveha drill\n\n");
    let _ = write!(
        out,
        "{} of {}. Prediction and measurement agree when the final node and whether it runs again match, and the \
         outage is within {} of the predicted one.",
        if r.mode == "twin" {
            "Simulated on a digital twin"
        } else {
            "Observed on the live cluster"
        },
        r.source,
        seconds(r.tolerance_seconds),
    );
    if let Some(t) = r.rto_target_seconds {
        let _ = write!(out, " Recovery-time target: {}.", seconds(t));
    }
    out.push('\n');
    for d in &r.drills {
        drill(&mut out, d);
    }
    let _ = write!(
        out,
        "\n## Verdict\n\n{} drill(s), {} disagreement(s).",
        r.drills.len(),
        r.verdict.disagreements
    );
    if r.verdict.rto_missed.is_empty() {
        out.push_str(" Every critical service meets the recovery-time target.\n");
    } else {
        let _ = writeln!(
            out,
            " Critical services that miss the recovery-time target: {}.",
            r.verdict.rto_missed.join("; ")
        );
    }
    out
}
