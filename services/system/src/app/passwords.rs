//! Password hashing with argon2id at OWASP's minimum cost (m=19456 KiB, t=2, p=1). No I/O, but
//! not a plain rule either: hashing is CPU-bound (tens of milliseconds), so it runs on this
//! process's own hashing threads, never on a request thread, under a bound of slots; hence a
//! service of the use cases, beside them.
//!
//! At most one hash per core runs at once (one hashing thread per core; each hash takes
//! 19 MiB), and a few more per core may wait in their queue; beyond that a login or registration is answered RESOURCE_EXHAUSTED at once, so a
//! flood of logins cannot spawn hundreds of hashes and starve everything else.
//!
//! The hashing threads run at a lower scheduling priority (nice 10) than the request threads:
//! when the CPU is short, a hash waits a little longer instead of every other call on the same
//! CPU waiting for it. Idle CPU is still all theirs, so a login alone is as fast as before.

use std::{
    sync::{Arc, Mutex, OnceLock, mpsc},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

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
/// How much nicer than the request threads the hashing threads are (Linux nice, 0 to 19).
const HASHING_NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

struct Slots {
    /// Hashes running or queued: the threads bound how many run.
    admitted: Arc<Semaphore>,
    /// Jobs for the hashing threads (one per core), which share the receiving end.
    jobs: mpsc::Sender<Job>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..cores {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || hashing_thread(&queue));
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        Slots {
            admitted: Arc::new(Semaphore::new(cores * (1 + WAITING_PER_CORE))),
            jobs,
        }
    })
}

/// Lowers its own priority once, then runs hashes until the process ends.
fn hashing_thread(queue: &Mutex<mpsc::Receiver<Job>>) {
    // On Linux the nice value belongs to the calling thread, not to the whole process.
    if let Err(error) = rustix::process::nice(HASHING_NICENESS) {
        tracing::warn!(%error, "password hashing runs at normal priority");
    }
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// A place among the hashes running and queued, or RESOURCE_EXHAUSTED when they are full.
fn slot() -> Result<OwnedSemaphorePermit, AppError> {
    Arc::clone(&slots().admitted)
        .try_acquire_owned()
        .map_err(|_| AppError::ResourceExhausted {
            message: "too many sign-ins at once; retry in a second".into(),
            retry_after: Duration::from_secs(1),
        })
}

/// Runs `work` on the next free hashing thread.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let permit = slot()?;
    let (answer, answered) = oneshot::channel();
    let job: Job = Box::new(move || {
        // A caller that left while its hash was queued (its deadline passed) costs no hash.
        if answer.is_closed() {
            return;
        }
        let outcome = work();
        // The slot is free again before the caller hears back.
        drop(permit);
        // The caller may have gone (its deadline passed): nobody to tell.
        let _ = answer.send(outcome);
    });
    slots()
        .jobs
        .send(job)
        .map_err(|_| AppError::internal(anyhow::anyhow!("no password hashing thread runs")))?;
    answered
        .await
        .map_err(|_| AppError::internal(anyhow::anyhow!("a password hash was dropped")))
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of `password`.
pub async fn hash(password: String) -> Result<String, AppError> {
    on_hashing_thread(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| AppError::internal(anyhow::anyhow!("argon2: {error}")))
    })
    .await?
}

/// Whether `password` matches `phc`. A malformed stored hash counts as no match.
pub async fn verify(password: String, phc: String) -> Result<bool, AppError> {
    on_hashing_thread(move || {
        PasswordHash::new(&phc).is_ok_and(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slots are the process's: a flood in one test would refuse another test's hashes.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test]
    async fn hashes_are_argon2id_at_owasp_cost_and_verify() {
        let _alone = ONE_AT_A_TIME.lock().await;
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
        let _alone = ONE_AT_A_TIME.lock().await;
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
