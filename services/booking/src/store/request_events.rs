//! Wake-ups for CreateBooking requests waiting on another request's idempotency claim. The
//! owner announces its answer or its release on the `booking_requests` channel (a NOTIFY in the
//! statement that writes it, so it is sent when that commits); one LISTEN connection per
//! process wakes the waiters of that key, so waiting costs no queries. Notifications sent while
//! the connection is down are lost: waiters then read their claim now and then, and all of
//! them are woken when it is back.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use astro_shared::backoff::Backoff;
use sha2::{Digest as _, Sha256};
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::watch;
use uuid::Uuid;

/// The channel the owners of idempotency keys notify.
pub const CHANNEL: &str = "booking_requests";

/// Pacing of the listener's reconnection attempts.
const RECONNECT: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));

/// How a key is named on the channel: its traveler and a hash of the key, which is client text
/// of up to 255 characters (a payload is short and plain this way).
pub fn channel_key(traveler_id: Uuid, key: &str) -> String {
    format!(
        "{traveler_id}:{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

/// The keys this process's requests wait on, and whether the channel is being listened to.
#[derive(Clone, Default)]
pub struct RequestEvents {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    waiting: Mutex<HashMap<String, Slot>>,
    listening: AtomicBool,
}

/// The waiters of one key: a version bumped on every wake-up, and how many watch it.
struct Slot {
    wake: watch::Sender<()>,
    watchers: usize,
}

impl RequestEvents {
    fn waiting(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the map leaves it consistent (each step is one insert, update
        // or removal), so a poisoned lock is still good to use.
        self.inner
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts watching a key; the watch ends when it is dropped.
    pub fn watch(&self, traveler_id: Uuid, key: &str) -> Watch {
        let name = channel_key(traveler_id, key);
        let receiver = {
            let mut waiting = self.waiting();
            let slot = waiting.entry(name.clone()).or_insert_with(|| Slot {
                wake: watch::channel(()).0,
                watchers: 0,
            });
            slot.watchers += 1;
            slot.wake.subscribe()
        };
        Watch {
            events: self.clone(),
            name,
            receiver,
        }
    }

    fn wake(&self, name: &str) {
        if let Some(slot) = self.waiting().get(name) {
            slot.wake.send_replace(());
        }
    }

    fn wake_all(&self) {
        for slot in self.waiting().values() {
            slot.wake.send_replace(());
        }
    }

    fn set_listening(&self, listening: bool) {
        self.inner.listening.store(listening, Ordering::Relaxed);
        // Whatever was announced meanwhile is lost, and waiters pace themselves by this flag:
        // every one of them reads its claim again now.
        self.wake_all();
    }

    /// Listens on [`CHANNEL`] for ever, reconnecting after a failure. Spawned once per process.
    pub async fn listen(self, pool: PgPool) {
        let mut failures = 0;
        loop {
            let error = self.listen_until_failure(&pool, &mut failures).await;
            self.set_listening(false);
            failures += 1;
            tracing::warn!(error = %error, "not listening for idempotency key releases; waiting requests poll meanwhile");
            tokio::time::sleep(RECONNECT.jittered(failures)).await;
        }
    }

    async fn listen_until_failure(&self, pool: &PgPool, failures: &mut u32) -> sqlx::Error {
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(listener) => listener,
            Err(error) => return error,
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            return error;
        }
        *failures = 0;
        self.set_listening(true);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => self.wake(notification.payload()),
                // The connection dropped and was made again (LISTEN included): announcements
                // in between are lost.
                Ok(None) => self.wake_all(),
                Err(error) => return error,
            }
        }
    }
}

/// One request's watch on a key.
pub struct Watch {
    events: RequestEvents,
    name: String,
    receiver: watch::Receiver<()>,
}

impl Watch {
    /// Forgets earlier wake-ups. Called before each read of the claim, so that an answer or a
    /// release committed after that read ends the next wait at once.
    pub fn mark_seen(&mut self) {
        self.receiver.mark_unchanged();
    }

    /// Waits until the key's owner answers or lets go (since [`Self::mark_seen`]), the channel
    /// is lost or found again, or `timeout` passes.
    pub async fn woken_within(&mut self, timeout: Duration) {
        // The sender lives as long as any watch of the key, so `changed` only ends by a wake-up.
        let _woken = tokio::time::timeout(timeout, self.receiver.changed()).await;
    }

    /// Whether wake-ups arrive now; while they do not, waiters read their claim now and then.
    pub fn is_listening(&self) -> bool {
        self.events.inner.listening.load(Ordering::Relaxed)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut waiting = self.events.waiting();
        if let Some(slot) = waiting.get_mut(&self.name) {
            slot.watchers -= 1;
            if slot.watchers == 0 {
                waiting.remove(&self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_release_wakes_the_waiters_of_its_key_only() {
        let events = RequestEvents::default();
        let traveler = Uuid::from_u128(1);
        let mut first = events.watch(traveler, "key-12345678");
        let mut second = events.watch(traveler, "key-12345678");
        let mut other = events.watch(traveler, "key-87654321");
        first.mark_seen();
        second.mark_seen();
        other.mark_seen();
        // Announced after the read, before the wait: the wait still ends at once.
        events.wake(&channel_key(traveler, "key-12345678"));
        let long = Duration::from_secs(60);
        tokio::time::timeout(Duration::from_secs(5), async {
            first.woken_within(long).await;
            second.woken_within(long).await;
        })
        .await
        .expect("both waiters of the key are woken");
        let started = tokio::time::Instant::now();
        other.woken_within(Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50), "not woken");
        drop((first, second, other));
        assert!(events.waiting().is_empty(), "no watch, no slot");
    }

    #[tokio::test]
    async fn a_wake_up_before_the_read_does_not_end_the_wait() {
        let events = RequestEvents::default();
        let traveler = Uuid::from_u128(2);
        let mut watch = events.watch(traveler, "key-12345678");
        events.wake(&channel_key(traveler, "key-12345678"));
        watch.mark_seen();
        let started = tokio::time::Instant::now();
        watch.woken_within(Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(!watch.is_listening());
        events.set_listening(true);
        assert!(watch.is_listening());
        // Finding the channel again wakes everyone: what it said meanwhile is lost.
        tokio::time::timeout(
            Duration::from_secs(5),
            watch.woken_within(Duration::from_secs(60)),
        )
        .await
        .expect("woken by the reconnection");
    }

    #[test]
    fn channel_keys_name_the_traveler_and_hide_the_key() {
        let traveler = Uuid::from_u128(3);
        let name = channel_key(traveler, "my key, with spaces");
        assert!(name.starts_with(&format!("{traveler}:")));
        assert!(!name.contains("spaces"));
        assert_ne!(name, channel_key(Uuid::from_u128(4), "my key, with spaces"));
    }
}
