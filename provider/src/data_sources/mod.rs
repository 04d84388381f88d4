//! The provider's data sources, one file each, registered in `provider.rs`: `pveha_cluster` (the cluster as
//! the API shows it) and `pveha_audit` (the HA audit of a snapshot captured at read time). Read-only.

pub mod audit;
pub mod cluster;
