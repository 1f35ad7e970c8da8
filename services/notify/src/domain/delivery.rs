//! Retry rules: what happens after a failed sending attempt, and how event resolution and
//! e-mail attempts are paced.
//!
//! Transient failures (4xx, connection trouble) are retried with exponential back-off and
//! jitter; permanent ones (5xx) and the last allowed attempt make the notification FAILED with
//! the error kept.

use std::time::Duration;

use astro_shared::backoff::Backoff;
use chrono::{DateTime, Utc};

/// 1 s, 2 s, 4 s, ... up to 5 minutes between tries to resolve one event's recipients.
pub const RESOLVE_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));

/// Why an attempt failed, in the words kept on the notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// Worth trying again later (4xx, connection trouble)?
    pub transient: bool,
    /// As the server or the connection said, e.g. `smtp 451 4.3.0 try again later`.
    pub error: String,
    /// Without variable parts, for counting by reason, e.g. `smtp 451`.
    pub reason: String,
}

/// What becomes of a notification whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// FAILED, keeping the error.
    Fail,
    /// PENDING again, after this wait.
    RetryIn(Duration),
}

impl SendFailure {
    /// The outcome of the `attempts`-th of `max_attempts` attempts failing so, with retries
    /// paced by `backoff`.
    pub fn after(&self, attempts: i32, max_attempts: i32, backoff: &Backoff) -> AfterFailure {
        if !self.transient || attempts >= max_attempts {
            AfterFailure::Fail
        } else {
            AfterFailure::RetryIn(backoff.jittered(u32::try_from(attempts).unwrap_or(0)))
        }
    }
}

/// The wait before trying again to resolve an event whose `attempts`-th try failed.
pub fn resolve_retry_delay(attempts: i32) -> Duration {
    RESOLVE_BACKOFF.ceiling(u32::try_from(attempts.max(1)).unwrap_or(u32::MAX))
}

/// `time` plus `delay`, saturating: a wait is never an overflow.
pub fn after(time: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| time.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(transient: bool) -> SendFailure {
        SendFailure {
            transient,
            error: "smtp 451 try later".into(),
            reason: "smtp 451".into(),
        }
    }

    #[test]
    fn transient_failures_retry_until_the_last_attempt_and_permanent_ones_fail_at_once() {
        let backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(3600));
        let AfterFailure::RetryIn(wait) = failure(true).after(2, 5, &backoff) else {
            panic!("a 4xx on the second attempt is retried");
        };
        assert!(wait >= Duration::from_secs(30) && wait <= Duration::from_secs(60));
        assert_eq!(failure(true).after(5, 5, &backoff), AfterFailure::Fail);
        assert_eq!(failure(false).after(1, 5, &backoff), AfterFailure::Fail);
    }

    #[test]
    fn event_resolution_backs_off_to_five_minutes() {
        assert_eq!(resolve_retry_delay(0), Duration::from_secs(1));
        assert_eq!(resolve_retry_delay(3), Duration::from_secs(4));
        assert_eq!(resolve_retry_delay(40), Duration::from_secs(300));
    }
}
