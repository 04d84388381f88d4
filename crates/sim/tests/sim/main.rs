//! Integration tests of the simulator: one binary, a small reqwest client and scenario files per area.

mod conformance;
mod endpoints;
mod failover;
mod harness;
mod lifecycle;
mod options;
