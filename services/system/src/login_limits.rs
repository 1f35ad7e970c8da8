//! Failed-login budgets in CacheDB, over a fixed window that starts at the first failure. Kept
//! in Redis so every SystemAPI replica shares them.
//!
//! A budget is per (e-mail, client address), so someone guessing the admin's password from one
//! place locks only that place out, never the real admin elsewhere. Each client address has a
//! budget of its own too (one place guessing many accounts). Across all clients, an e-mail past
//! its ceiling of failures is slowed down, not blocked: each attempt waits a little longer, so a
//! distributed guesser gains little while the owner can still sign in.

use std::time::Duration;

use astro_shared::AppError;
use fred::{interfaces::LuaInterface as _, prelude::KeysInterface as _};

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures allowed per (e-mail, client address) within the window.
    pub per_email: i64,
    /// Failures allowed per client address within the window.
    pub per_client: i64,
    /// Failures of one e-mail, from any client, after which each attempt is slowed down.
    pub slow_after_per_email: i64,
    pub window: Duration,
}

/// The longest one login is slowed down by.
const MAX_SLOWDOWN: Duration = Duration::from_secs(3);
/// The slowdown added per failure past the ceiling.
const SLOWDOWN_STEP: Duration = Duration::from_millis(250);

/// Counts a failure on every key and starts the window on the first one, in one step: a
/// crash between the two can never leave a budget that never expires.
const RECORD_FAILURE: &str = r"
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[1])
  end
end
return #KEYS
";

#[derive(Clone)]
pub struct LoginLimiter {
    redis: fred::prelude::Client,
    prefix: String,
    limits: LoginLimits,
}

impl LoginLimiter {
    pub fn new(redis: fred::prelude::Client, prefix: String, limits: LoginLimits) -> Self {
        Self {
            redis,
            prefix,
            limits,
        }
    }

    fn pair_key(&self, email: &str, client: &str) -> String {
        format!("{}login-failures:pair:{client}:{email}", self.prefix)
    }

    fn email_key(&self, email: &str) -> String {
        format!("{}login-failures:email:{email}", self.prefix)
    }

    fn client_key(&self, client: &str) -> String {
        format!("{}login-failures:client:{client}", self.prefix)
    }

    /// RESOURCE_EXHAUSTED, with the time until the window ends, once the (e-mail, client) or
    /// the client's budget is spent; otherwise how long this attempt is to be slowed down.
    pub async fn check(&self, email: &str, client: &str) -> Result<Duration, AppError> {
        let keys = vec![
            self.pair_key(email, client),
            self.client_key(client),
            self.email_key(email),
        ];
        let counts: Vec<Option<i64>> = self.redis.mget(keys.clone()).await?;
        let count = |index: usize| counts.get(index).copied().flatten().unwrap_or(0);
        for (index, limit) in [(0, self.limits.per_email), (1, self.limits.per_client)] {
            if count(index) >= limit {
                let remaining_ms: i64 = self.redis.pttl(&keys[index]).await?;
                let retry_after =
                    Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(1_000).max(1));
                return Err(AppError::ResourceExhausted {
                    message: format!(
                        "too many failed logins; retry in {} s",
                        retry_after.as_secs_f64().ceil()
                    ),
                    retry_after,
                });
            }
        }
        Ok(slowdown(count(2), self.limits.slow_after_per_email))
    }

    pub async fn record_failure(&self, email: &str, client: &str) -> Result<(), AppError> {
        let window_ms = i64::try_from(self.limits.window.as_millis()).unwrap_or(i64::MAX);
        let keys = vec![
            self.pair_key(email, client),
            self.client_key(client),
            self.email_key(email),
        ];
        let _: i64 = self
            .redis
            .eval(RECORD_FAILURE, keys, vec![window_ms])
            .await?;
        Ok(())
    }

    /// A successful login forgives the failures of the e-mail from this client (not the
    /// client's own budget, nor the e-mail's from elsewhere).
    pub async fn clear(&self, email: &str, client: &str) -> Result<(), AppError> {
        let _: i64 = self.redis.del(self.pair_key(email, client)).await?;
        Ok(())
    }
}

/// How long an attempt on an e-mail with `failures` recent failures from anywhere waits.
fn slowdown(failures: i64, ceiling: i64) -> Duration {
    let past = u32::try_from(failures.saturating_sub(ceiling).max(0)).unwrap_or(u32::MAX);
    if past == 0 {
        return Duration::ZERO;
    }
    SLOWDOWN_STEP.saturating_mul(past).min(MAX_SLOWDOWN)
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
}
