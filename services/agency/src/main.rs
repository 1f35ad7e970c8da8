//! The astro-agency binary: configuration from `ASTRO_AGENCY_*` variables, then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("agency", || async {
        astro_agency::run(astro_agency::Config::from_env()?).await
    })
}
