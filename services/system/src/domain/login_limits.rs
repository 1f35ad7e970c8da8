//! Failed-login budgets: the rules. A budget is per (e-mail, client address), so someone
//! guessing the admin's password from one place locks only that place out, never the real admin
//! elsewhere. Each client address has a budget of its own too (one place guessing many
//! accounts). Across all clients, an e-mail past its ceiling of failures is slowed down, not
//! blocked: each attempt waits a little longer, so a distributed guesser gains little while the
//! owner can still sign in. The counters live in CacheDB (`store::login_failures`).

use std::time::Duration;

use astro_shared::AppError;

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures allowed per (e-mail, client address) within the window.
    pub per_email: i64,
    /// Failures allowed per client address within the window.
    pub per_client: i64,
    /// Failures of one e-mail, from any client, after which each attempt is slowed down.
    pub slow_after_per_email: i64,
    /// A window starts at its first failure.
    pub window: Duration,
}

/// The longest one login is slowed down by.
const MAX_SLOWDOWN: Duration = Duration::from_secs(3);
/// The slowdown added per failure past the ceiling.
const SLOWDOWN_STEP: Duration = Duration::from_millis(250);
/// The wait announced when the window's end cannot be read.
const UNKNOWN_WAIT: Duration = Duration::from_secs(1);

/// Recent failures of one login attempt's e-mail and client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts {
    /// Of this e-mail from this client.
    pub pair: i64,
    /// Of this client, whatever the e-mail.
    pub client: i64,
    /// Of this e-mail, from any client.
    pub email: i64,
}

/// The budget that refuses an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Pair,
    Client,
}

impl LoginLimits {
    /// The budget already spent, if any (the pair's first).
    pub fn spent(&self, counts: &FailureCounts) -> Option<Budget> {
        if counts.pair >= self.per_email {
            Some(Budget::Pair)
        } else if counts.client >= self.per_client {
            Some(Budget::Client)
        } else {
            None
        }
    }

    /// How long an attempt on an e-mail with these recent failures from anywhere waits.
    pub fn slowdown(&self, counts: &FailureCounts) -> Duration {
        slowdown(counts.email, self.slow_after_per_email)
    }
}

fn slowdown(failures: i64, ceiling: i64) -> Duration {
    let past = u32::try_from(failures.saturating_sub(ceiling).max(0)).unwrap_or(u32::MAX);
    if past == 0 {
        return Duration::ZERO;
    }
    SLOWDOWN_STEP.saturating_mul(past).min(MAX_SLOWDOWN)
}

/// RESOURCE_EXHAUSTED until a spent budget's window ends (`remaining`, when known).
pub fn too_many_failures(remaining: Option<Duration>) -> AppError {
    let retry_after = remaining
        .unwrap_or(UNKNOWN_WAIT)
        .max(Duration::from_millis(1));
    AppError::ResourceExhausted {
        message: format!(
            "too many failed logins; retry in {} s",
            retry_after.as_secs_f64().ceil()
        ),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_slowed_past_its_ceiling_never_blocked() {
        assert_eq!(slowdown(0, 20), Duration::ZERO);
        assert_eq!(slowdown(20, 20), Duration::ZERO);
        assert_eq!(slowdown(21, 20), SLOWDOWN_STEP);
        assert_eq!(slowdown(24, 20), SLOWDOWN_STEP * 4);
        assert_eq!(slowdown(10_000, 20), MAX_SLOWDOWN);
    }

    #[test]
    fn the_pair_and_the_client_budgets_refuse_the_email_ceiling_only_slows() {
        let limits = LoginLimits {
            per_email: 5,
            per_client: 50,
            slow_after_per_email: 20,
            window: Duration::from_secs(900),
        };
        let counts = |pair, client, email| FailureCounts {
            pair,
            client,
            email,
        };
        assert_eq!(limits.spent(&counts(4, 49, 1_000)), None);
        assert_eq!(limits.spent(&counts(5, 0, 5)), Some(Budget::Pair));
        assert_eq!(limits.spent(&counts(0, 50, 0)), Some(Budget::Client));
        assert_eq!(limits.slowdown(&counts(0, 0, 1_000)), MAX_SLOWDOWN);
        assert!(matches!(
            too_many_failures(None),
            AppError::ResourceExhausted { retry_after, .. } if retry_after == UNKNOWN_WAIT
        ));
        assert!(matches!(
            too_many_failures(Some(Duration::ZERO)),
            AppError::ResourceExhausted { retry_after, .. } if retry_after == Duration::from_millis(1)
        ));
    }
}
