//! `tfplugin`: a Terraform provider server in Rust — go-plugin handshake with AutoMTLS, the tfplugin6
//! gRPC protocol, cty values (msgpack/JSON), schemas derived from schemars, and a small framework of
//! typed `Provider`/`Resource`/`DataSource` traits. It knows nothing of any particular provider's domain.
//!
//! # Writing a provider
//!
//! A model struct is both the schema and the state. Plain fields are required; [`Value<T>`] (or
//! `Option<T>`) fields are optional; doc comments become Markdown descriptions; flags are schema keywords:
//! `#[schemars(extend("x-tf-computed" = true))]` (computed), `"x-tf-optional"` (computed but settable),
//! `"x-tf-required"` (required yet a `Value<T>`, so it may be unknown during plan), `"x-tf-sensitive"`,
//! `"x-tf-replace"` (a change replaces the resource), `"x-tf-default" = <json>` (optional + computed,
//! planned when unset), `"x-tf-deprecated"`, and `"x-tf-nested"` (send an object-valued field as protocol-6
//! nested attributes rather than an object type; Terraform 1.0 crashes on null nested attributes).
//!
//! ```no_run
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use tfplugin::{
//!     async_trait, resource, ConfigureRequest, Context, CreateRequest, DeleteRequest, Diagnostics, DynResource,
//!     Provider, ReadRequest, Resource, UpdateRequest, Value,
//! };
//!
//! /// Provider configuration.
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Config {
//!     /// API endpoint.
//!     endpoint: Value<String>,
//! }
//!
//! /// A widget.
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Widget {
//!     /// Widget name. Changing it replaces the widget.
//!     #[schemars(extend("x-tf-replace" = true))]
//!     name: String,
//!     /// Size, defaults to 1.
//!     #[schemars(extend("x-tf-default" = 1))]
//!     size: Value<i64>,
//!     /// Server-assigned ID.
//!     #[schemars(extend("x-tf-computed" = true))]
//!     id: Value<String>,
//! }
//!
//! struct Client;
//! struct Widgets;
//!
//! #[async_trait]
//! impl Resource for Widgets {
//!     type Client = Client;
//!     type Model = Widget;
//!     fn type_name(&self) -> &'static str { "example_widget" }
//!     async fn create(&self, _ctx: &Context<Client>, req: CreateRequest<Widget>, _d: &mut Diagnostics) -> Option<Widget> {
//!         let mut w = req.planned;
//!         w.id = Value::Known(format!("w-{}", w.name));
//!         Some(w)
//!     }
//!     async fn read(&self, _ctx: &Context<Client>, req: ReadRequest<Widget>, _d: &mut Diagnostics) -> Option<Widget> {
//!         Some(req.current)
//!     }
//!     async fn update(&self, _ctx: &Context<Client>, req: UpdateRequest<Widget>, _d: &mut Diagnostics) -> Option<Widget> {
//!         let mut w = req.planned;
//!         w.id = req.prior.id;
//!         Some(w)
//!     }
//!     async fn delete(&self, _ctx: &Context<Client>, _req: DeleteRequest<Widget>, _d: &mut Diagnostics) {}
//! }
//!
//! struct Example;
//!
//! #[async_trait]
//! impl Provider for Example {
//!     type Config = Config;
//!     type Client = Client;
//!     fn type_name(&self) -> &'static str { "example" }
//!     async fn configure(&self, _req: ConfigureRequest<Config>, _d: &mut Diagnostics) -> Option<Client> {
//!         Some(Client)
//!     }
//!     fn resources(&self) -> Vec<Box<dyn DynResource<Client>>> {
//!         vec![resource(Widgets)]
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     tfplugin::serve(Example, "registry.terraform.io/example/example")
//! }
//! ```

mod diag;
mod framework;
pub mod log;
pub mod schema;
mod server;
pub mod value;

use std::io::Write;
use std::process::ExitCode;

pub use async_trait::async_trait;
pub use diag::{AttributePath, Diagnostic, Diagnostics, PathStep, Severity};
pub use framework::{
    data_source, resource, Cancellation, ConfigureRequest, Context, CreateRequest, DataSource,
    DeleteRequest, DynDataSource, DynResource, ImportRequest, Model, Plan, Provider,
    ReadDataRequest, ReadRequest, Resource, UpdateRequest, UpgradeRequest,
};
pub use schema::Schema;
pub use server::{
    bind, negotiate, tls, Bound, Handshake, Network, ServeConfig, ServeError, ShutdownHandle,
    MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, NOT_A_PROGRAM, PROTOCOL_VERSION,
};
pub use value::{Dynamic, Number, Type, Value, ValueError};

/// The whole life of a provider binary: with `--debug`, serve and print `TF_REATTACH_PROVIDERS`; otherwise
/// refuse to run without Terraform's magic cookie (message, exit 1), then handshake and serve until
/// Terraform shuts the provider down. `address` is the source address, e.g. `registry.terraform.io/pveha/pveha`.
pub fn serve<P: Provider>(provider: P, address: &str) -> ExitCode {
    let debug = std::env::args().skip(1).any(|a| a == "--debug");
    if !debug && std::env::var(MAGIC_COOKIE_KEY).ok().as_deref() != Some(MAGIC_COOKIE_VALUE) {
        eprintln!("{NOT_A_PROGRAM}");
        return ExitCode::from(1);
    }
    log::init("provider");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let mut config = ServeConfig::from_env(address);
        if debug {
            // Reattached providers are reached directly by Terraform, without AutoMTLS.
            config.client_cert_pem = None;
            config.protocol_versions = None;
        }
        let bound = bind(provider, config).await?;
        let stop = bound.shutdown_handle();
        let mut stdout = std::io::stdout();
        if debug {
            let _ = writeln!(
                stdout,
                "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable:\n\n\
                 \tTF_REATTACH_PROVIDERS='{}'\n",
                bound.reattach_json()
            );
        } else {
            let _ = writeln!(stdout, "{}", bound.handshake().line());
        }
        let _ = stdout.flush();
        tokio::spawn(async move {
            // Terraform forwards Ctrl-C to its plugins and then shuts them down itself; only a debug
            // server, which nobody else will stop, exits on it.
            while tokio::signal::ctrl_c().await.is_ok() {
                if debug {
                    stop.shutdown();
                    return;
                }
                tracing::debug!("ignoring interrupt; Terraform will shut the provider down");
            }
        });
        bound.run().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provider failed: {e}");
            ExitCode::from(1)
        }
    }
}
