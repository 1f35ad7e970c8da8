//! The astro-gateway binary: configuration from `ASTRO_GATEWAY_*` variables (an unknown one is refused), then serve.

// Every relayed call allocates and frees many small buffers across threads; mimalloc does that
// with less CPU than glibc's malloc (measured in the release benchmark, README "Benchmarks").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("gateway", || async {
        let config = astro_shared::config::load("ASTRO_GATEWAY", astro_gateway::Config::from_env)?;
        astro_gateway::run(config).await
    })
}
