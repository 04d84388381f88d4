//! The client against the in-process simulator: auth, TLS, error classes, retries, concurrency,
//! HA operations, guests and snapshot capture. One test binary; `harness` holds the setup.

mod harness;

mod auth;
mod concurrency;
mod errors;
mod ha;
mod options;
mod retries;
mod send;
mod snapshot;
mod tls;
