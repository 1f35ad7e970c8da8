//! Failed-login budgets in CacheDB, per e-mail and per client address, over a fixed window
//! that starts at the first failure. Kept in Redis so every SystemAPI replica shares them.

use std::time::Duration;

use astro_shared::AppError;
use fred::{prelude::KeysInterface as _, types::ExpireOptions};

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures allowed per e-mail within the window.
    pub per_email: i64,
    /// Failures allowed per client address within the window.
    pub per_client: i64,
    pub window: Duration,
}

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

    fn email_key(&self, email: &str) -> String {
        format!("{}login-failures:email:{email}", self.prefix)
    }

    fn client_key(&self, client: &str) -> String {
        format!("{}login-failures:client:{client}", self.prefix)
    }

    /// RESOURCE_EXHAUSTED, with the time until the window ends, once a budget is spent.
    pub async fn check(&self, email: &str, client: &str) -> Result<(), AppError> {
        let keys = [
            (self.email_key(email), self.limits.per_email),
            (self.client_key(client), self.limits.per_client),
        ];
        for (key, limit) in keys {
            let failures: Option<i64> = self.redis.get(&key).await?;
            if failures.unwrap_or(0) >= limit {
                let remaining_ms: i64 = self.redis.pttl(&key).await?;
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
        Ok(())
    }

    pub async fn record_failure(&self, email: &str, client: &str) -> Result<(), AppError> {
        let window_ms = i64::try_from(self.limits.window.as_millis()).unwrap_or(i64::MAX);
        for key in [self.email_key(email), self.client_key(client)] {
            let _: i64 = self.redis.incr(&key).await?;
            // NX: the window runs from the first failure, later failures do not extend it.
            let _: i64 = self
                .redis
                .pexpire(&key, window_ms, Some(ExpireOptions::NX))
                .await?;
        }
        Ok(())
    }

    /// A successful login forgives the e-mail's failures (not the client address's).
    pub async fn clear(&self, email: &str) -> Result<(), AppError> {
        let _: i64 = self.redis.del(self.email_key(email)).await?;
        Ok(())
    }
}
