//! The acceptance harness: builds the providers once, lays them out in an offline filesystem mirror, and runs the
//! real `terraform` CLI (every version found) in a temp dir per test; it also starts and drives `pveha sim`.
//! It reaches the providers only through `terraform` and the simulator only through its HTTP API: it must not link
//! any pveha crate, so the suite tests what users run.
//!
//! A test body is the scenario, written as steps:
//! ```no_run
//! # async fn demo() {
//! use pveha_acceptance::{terraforms, Workdir};
//! for tf in terraforms() {
//!     let mut w = Workdir::new(tf);
//!     let hcl = format!("{}\nresource \"pvehatest_thing\" \"a\" {{ name = \"a\" }}", "/* provider blocks */");
//!     w.apply(&hcl).await.expect_attr("pvehatest_thing.a", "size", 1);
//!     w.import("pvehatest_thing.a", "a").await.expect_no_diff();
//!     w.destroy().await;
//! }
//! # }
//! ```

mod binaries;
mod files;
mod mirror;
mod outcome;
mod sim;
mod terraform;
mod watch;
mod workdir;

pub use binaries::{provider_binaries, pveha_binary, workspace_root, ProviderBinaries};
pub use files::FileServer;
pub use mirror::{mirror, Mirror, PROVIDER_VERSION};
pub use outcome::{Applied, Imported, Plan, PlanOutcome, ResourceChange, State, TfOutput};
pub use sim::{ApiResponse, Requests, Sim, TOKEN, TOKEN_ID, TOKEN_SECRET};
pub use terraform::{terraforms, Terraform};
pub use watch::{processes_with_marker, DirWatch, PluginLifecycle};
pub use workdir::Workdir;
