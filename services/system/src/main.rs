//! The astro-system binary: configuration from `ASTRO_SYSTEM_*` variables (an unknown one is refused), then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("system", || async {
        let config = astro_shared::config::load("ASTRO_SYSTEM", astro_system::Config::from_env)?;
        astro_system::run(config).await
    })
}
