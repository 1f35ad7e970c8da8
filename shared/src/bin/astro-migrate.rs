//! Applies the OperationsDB migrations in `migrations/` to `DATABASE_URL` (or the URL in the
//! file `DATABASE_URL_FILE` names, as Kubernetes mounts secrets), waiting for the server if it
//! is still starting. Used by `./dev` and by Kubernetes as a Job.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = match std::env::var_os("DATABASE_URL_FILE") {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|error| anyhow::anyhow!("DATABASE_URL_FILE={path:?}: {error}"))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        None => std::env::var("DATABASE_URL").map_err(|_| {
            anyhow::anyhow!(
                "DATABASE_URL (or DATABASE_URL_FILE) is required (postgres://user@host:port/db)"
            )
        })?,
    };
    let _telemetry = astro_shared::telemetry::init("migrate")?;
    let (pool, ready) = astro_shared::db::postgres(&url, 2)?;
    ready.await;
    astro_shared::db::MIGRATOR.run(&pool).await?;
    let applied = astro_shared::db::MIGRATOR.iter().count();
    tracing::info!(migrations = applied, "OperationsDB migrated");
    Ok(())
}
