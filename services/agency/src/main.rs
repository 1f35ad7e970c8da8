//! The astro-agency binary: configuration from `ASTRO_AGENCY_*` variables (an unknown one is refused), then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("agency", || async {
        let config = astro_shared::config::load("ASTRO_AGENCY", astro_agency::Config::from_env)?;
        astro_agency::run(config).await
    })
}
