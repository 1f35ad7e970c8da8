//! The astro-booking binary: configuration from `ASTRO_BOOKING_*` variables, then serve.

fn main() -> anyhow::Result<()> {
    astro_shared::run_service("booking", || async {
        astro_booking::run(astro_booking::Config::from_env()?).await
    })
}
