//! The overall risk level, from the findings alone. The rule, documented for users: any critical finding makes the
//! risk CRITICAL; else any high finding makes it HIGH; else any medium finding makes it MEDIUM; else it is LOW
//! (low and info findings never raise it).

use crate::report::{Finding, Risk, Severity};

/// The rule in one sentence, for reports and docs.
pub const RULE: &str =
    "any critical finding → CRITICAL; else any high → HIGH; else any medium → MEDIUM; else LOW";

/// The risk the findings add up to.
pub fn risk(findings: &[Finding]) -> Risk {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Critical) => Risk::Critical,
        Some(Severity::High) => Risk::High,
        Some(Severity::Medium) => Risk::Medium,
        _ => Risk::Low,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A finding of `severity` with nothing else set: the risk depends on severities alone.
    pub(crate) fn with(severity: Severity) -> Finding {
        Finding {
            code: "x".into(),
            severity,
            title: String::new(),
            detail: String::new(),
            subjects: Vec::new(),
            remediation: String::new(),
            remediation_hcl: None,
            remediation_actions: Vec::new(),
        }
    }

    #[test]
    fn the_worst_finding_sets_the_risk() {
        assert_eq!(risk(&[]), Risk::Low);
        assert_eq!(
            risk(&[with(Severity::Info), with(Severity::Low)]),
            Risk::Low
        );
        assert_eq!(
            risk(&[with(Severity::Low), with(Severity::Medium)]),
            Risk::Medium
        );
        assert_eq!(
            risk(&[with(Severity::High), with(Severity::Medium)]),
            Risk::High
        );
        assert_eq!(
            risk(&[with(Severity::Info), with(Severity::Critical)]),
            Risk::Critical
        );
    }
}
