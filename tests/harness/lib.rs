//! Acceptance-test harness (placeholder).
