//! The provider's library half: what other programs reuse of the provider without starting it. Today that is the
//! rendering of the audit's structured remediation as HCL for this provider's resources, so that `pveha audit`
//! prints the same HCL as the `pveha_audit` data source, and the reading of saved plans for `pveha review`. The
//! plugin itself is the binary (`main.rs`).

pub mod plan;
pub mod remediation;
