//! Proxmox VE vocabulary shared by the API client and the audit engine: ids, property strings, the
//! records the API returns and the `pveha-snapshot/1` document. Pure: no I/O, no async, no clock.
//! The simulator deliberately does not use this crate, so that a parser bug here fails a round trip
//! against it instead of being agreed with.

pub mod options;
pub mod property;
pub mod records;
pub mod sid;
pub mod snapshot;
mod wire;

pub use options::{DatacenterHa, HaSettings, OptionsError, OptionsUpdate, PropertyMap};
pub use property::{NodePriorities, PropertyError, Startup};
pub use records::*;
pub use sid::{GuestKind, Sid, SidError};
pub use snapshot::{Entries, RawSnapshot, Snapshot, SnapshotData, SnapshotError, SNAPSHOT_FORMAT};
