//! Password hashing with argon2id at OWASP's minimum cost (m=19456 KiB, t=2, p=1). No I/O, but
//! not a plain rule either: hashing is CPU-bound (tens of milliseconds), so it runs on the
//! blocking pool, never on a request thread, under this process's bound of slots; hence a
//! service of the use cases, beside them.
//!
//! At most one hash per core runs at once (each takes 19 MiB), and a few more per core may wait
//! for one; beyond that a login or registration is answered RESOURCE_EXHAUSTED at once, so a
//! flood of logins cannot spawn hundreds of hashes and starve everything else.

use std::{sync::OnceLock, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};

use astro_shared::AppError;

fn argon2() -> Argon2<'static> {
    #[expect(clippy::expect_used, reason = "constant, valid parameters")]
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Requests that may wait for a hashing slot, per core.
const WAITING_PER_CORE: usize = 4;

struct Slots {
    running: std::sync::Arc<Semaphore>,
    admitted: std::sync::Arc<Semaphore>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Slots {
            running: std::sync::Arc::new(Semaphore::new(cores)),
            admitted: std::sync::Arc::new(Semaphore::new(cores * (1 + WAITING_PER_CORE))),
        }
    })
}

/// A hashing slot, or RESOURCE_EXHAUSTED when too many hashes run and wait already.
async fn slot() -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), AppError> {
    let slots = slots();
    let admitted = std::sync::Arc::clone(&slots.admitted)
        .try_acquire_owned()
        .map_err(|_| AppError::ResourceExhausted {
            message: "too many sign-ins at once; retry in a second".into(),
            retry_after: Duration::from_secs(1),
        })?;
    let running = std::sync::Arc::clone(&slots.running)
        .acquire_owned()
        .await
        .map_err(AppError::internal)?;
    Ok((admitted, running))
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of `password`.
pub async fn hash(password: String) -> Result<String, AppError> {
    let permits = slot().await?;
    tokio::task::spawn_blocking(move || {
        let _permits = permits;
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| AppError::internal(anyhow::anyhow!("argon2: {error}")))
    })
    .await
    .map_err(AppError::internal)?
}

/// Whether `password` matches `phc`. A malformed stored hash counts as no match.
pub async fn verify(password: String, phc: String) -> Result<bool, AppError> {
    let permits = slot().await?;
    tokio::task::spawn_blocking(move || {
        let _permits = permits;
        PasswordHash::new(&phc).is_ok_and(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_at_owasp_cost_and_verify() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify("correct horse battery".into(), phc.clone())
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), phc).await.unwrap());
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_hashes_is_bounded_and_the_excess_refused_at_once() {
        let slots = slots();
        let admitted = slots.admitted.available_permits();
        let outcomes = futures::future::join_all(
            (0..admitted * 3).map(|index| hash(format!("password number {index}"))),
        )
        .await;
        let refused = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Err(AppError::ResourceExhausted { .. })))
            .count();
        let hashed = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        assert!(refused > 0, "some of {} were refused", outcomes.len());
        assert!(
            hashed >= admitted.min(outcomes.len()) / 2,
            "{hashed} hashed"
        );
        assert_eq!(refused + hashed, outcomes.len());
        assert_eq!(
            slots.admitted.available_permits(),
            admitted,
            "every slot given back"
        );
    }
}
