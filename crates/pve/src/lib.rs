//! The Proxmox VE API client of pveha: typed operations laid out by API path, classified errors,
//! retries that never write twice, a queue for HA configuration writes, cached HA reads and PVE 8/9
//! gates. It knows nothing of Terraform; the records it returns are `pveha_model`'s.

mod cache;
mod client;
mod config;
mod error;
mod retry;
mod tls;
mod transport;

pub mod cluster;
pub mod connect;
pub mod guests;
pub mod ha;
pub mod nodes;
pub mod options;
pub mod snapshot;
pub mod storage;

pub use client::{Client, ClientOptions, MAX_IN_FLIGHT};
pub use config::{Auth, ClientConfig, Secret};
pub use error::{classify, Error, Result, TransportKind};
pub use retry::RetryPolicy;

use transport::Form;

/// A change to one optional setting: leave it, set it, or unset it (back to the server's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Change<T> {
    /// Do not send the key.
    #[default]
    Keep,
    /// Send this value.
    Set(T),
    /// Send the key in `delete=`.
    Unset,
}

impl<T> Change<T> {
    /// `Set` for `Some`, `Unset` for `None`: how a declarative caller states the desired value.
    pub fn from_option(value: Option<T>) -> Change<T> {
        match value {
            Some(v) => Change::Set(v),
            None => Change::Unset,
        }
    }

    /// Whether nothing would be sent.
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }
}

impl<T: ToString> Change<T> {
    pub(crate) fn apply(&self, form: &mut Form, key: &str) {
        match self {
            Change::Keep => {}
            Change::Set(v) => {
                form.set(key, v.to_string());
            }
            Change::Unset => {
                form.delete(key);
            }
        }
    }
}

impl Change<bool> {
    pub(crate) fn apply_bool(&self, form: &mut Form, key: &str) {
        match self {
            Change::Keep => {}
            Change::Set(v) => {
                form.set_bool(key, Some(*v));
            }
            Change::Unset => {
                form.delete(key);
            }
        }
    }
}
