//! The acceptance suite: one test binary driving the real `terraform` CLI (every version found) and `pveha sim`.
//! Modules are areas: `protocol` (first light through the example provider), `sim` (the simulator harness).
//! Tests here assert what users see; they never link the provider or the simulator.

mod audit;
mod cluster;
mod docs;
mod drill;
mod examples;
mod group;
mod guest_startup;
mod ha_settings;
mod homelab;
mod lifecycle;
mod mirror;
mod prediction;
mod protocol;
mod provider_config;
mod reliability;
mod remediation;
mod resource;
mod review;
mod rule;
mod security;
mod sim;
mod throughput;

use pveha_acceptance::{terraforms, workspace_root};

/// CI must prove both ends of the supported range: when the bundled 1.0.3 is installed and no single
/// Terraform was chosen, it is among the versions every test runs against.
#[test]
fn the_suite_runs_against_every_terraform_found() {
    let found = terraforms();
    assert!(!found.is_empty());
    let bundled = workspace_root().join("tools/terraform-1.0.3/terraform");
    if std::env::var_os("TF_ACC_TERRAFORM_PATH").is_none() && bundled.is_file() {
        assert!(
            found.iter().any(|tf| tf.version == "1.0.3"),
            "1.0.3 is installed but not used: {found:?}"
        );
    }
    eprintln!(
        "terraform under test: {}",
        found
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}
