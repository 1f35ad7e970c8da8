//! The astro-booking binary: configuration from `ASTRO_BOOKING_*` variables (an unknown one is refused), then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("booking", || async {
        let config = astro_shared::config::load("ASTRO_BOOKING", astro_booking::Config::from_env)?;
        astro_booking::run(config).await
    })
}
