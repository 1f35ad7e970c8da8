//! Applies the OperationsDB migrations in `migrations/` to `DATABASE_URL`, waiting for the
//! server if it is still starting. Used by `./dev` and by Kubernetes as an init job.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is required (postgres://user@host:port/db)"))?;
    let _telemetry = astro_shared::telemetry::init("migrate")?;
    let (pool, ready) = astro_shared::db::postgres(&url, 2)?;
    ready.await;
    astro_shared::db::MIGRATOR.run(&pool).await?;
    let applied = astro_shared::db::MIGRATOR.iter().count();
    tracing::info!(migrations = applied, "OperationsDB migrated");
    Ok(())
}
