//! The astro-finance binary: configuration from `ASTRO_FINANCE_*` variables, then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("finance", || async {
        astro_finance::run(astro_finance::Config::from_env()?).await
    })
}
