//! The common kit of every AstroBookings process: typed configuration, telemetry and trace
//! context propagation, the one gRPC server builder, the error type mapped to gRPC status,
//! database connections that wait for their servers, and traced clients for calls between services.

/// Every process that links this crate (the services, the gateway, the test and benchmark
/// tools) allocates with mimalloc. A relayed call allocates and frees many small buffers (h2
/// frames, headers, decoded messages) across threads, and glibc's malloc spent a fifth of the
/// gateway's CPU on it (README, "Benchmarks"); set here so no binary can forget it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod accounts;
pub mod activity;
pub mod auth;
pub mod backoff;
pub mod changes;
pub mod client_address;
pub mod config;
pub mod convert;
pub mod db;
pub mod error;
pub mod grpc_client;
pub mod instance;
pub mod launch_history;
pub mod metrics;
pub mod paging;
pub mod server;
pub mod service_auth;
pub mod telemetry;
pub mod text;
pub mod validate;

pub use error::{AppError, AppResult};

/// The `main` of every binary: a Tokio runtime, telemetry, then `run` until it returns; the
/// error, if any, is logged before the exporter is flushed so it reaches the trace backend too.
pub fn run_service<F, Fut>(service_name: &'static str, run: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let telemetry = telemetry::init(service_name)?;
        let outcome = run().await;
        if let Err(error) = &outcome {
            tracing::error!(error = %format!("{error:#}"), "astro-{service_name} stopped with an error");
        }
        telemetry.shutdown().await;
        outcome
    })
}
