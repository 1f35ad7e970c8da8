//! The astro-notify binary: configuration from `ASTRO_NOTIFY_*` variables (an unknown one is refused), then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("notify", || async {
        let config = astro_shared::config::load("ASTRO_NOTIFY", astro_notify::Config::from_env)?;
        astro_notify::run(config).await
    })
}
