//! The astro-system binary: configuration from `ASTRO_SYSTEM_*` variables, then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("system", || async {
        astro_system::run(astro_system::Config::from_env()?).await
    })
}
