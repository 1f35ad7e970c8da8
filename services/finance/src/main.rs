//! The astro-finance binary: configuration from `ASTRO_FINANCE_*` variables (an unknown one is refused), then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("finance", || async {
        let config = astro_shared::config::load("ASTRO_FINANCE", astro_finance::Config::from_env)?;
        astro_finance::run(config).await
    })
}
