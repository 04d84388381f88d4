//! Integration tests of the simulator: one binary, a small reqwest client and scenario files per area.

mod conformance;
mod crs;
mod endpoints;
mod failover;
mod fidelity;
mod harness;
mod lifecycle;
mod options;
mod reboot;
mod resource_update;
mod rule_conflicts;
