//! The astro-gateway binary: configuration from `ASTRO_GATEWAY_*` variables (an unknown one is refused), then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("gateway", || async {
        let config = astro_shared::config::load("ASTRO_GATEWAY", astro_gateway::Config::from_env)?;
        astro_gateway::run(config).await
    })
}
