//! The astro-notify binary: configuration from `ASTRO_NOTIFY_*` variables, then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("notify", || async {
        astro_notify::run(astro_notify::Config::from_env()?).await
    })
}
