//! The astro-gateway binary: configuration from `ASTRO_GATEWAY_*` variables, then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("gateway", || async {
        astro_gateway::run(astro_gateway::Config::from_env()?).await
    })
}
