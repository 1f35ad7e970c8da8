//! Failed-login counters in CacheDB, shared by every SystemAPI replica: one per (e-mail,
//! client address), per client address and per e-mail, each over a fixed window that starts at
//! its first failure. The budgets they feed are `domain::login_limits`.

use std::time::Duration;

use astro_shared::AppError;
use fred::{interfaces::LuaInterface as _, prelude::KeysInterface as _};

use crate::domain::login_limits::{Budget, FailureCounts};

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
pub struct LoginFailures {
    redis: fred::prelude::Client,
    prefix: String,
}

impl LoginFailures {
    pub fn new(redis: fred::prelude::Client, prefix: String) -> Self {
        Self { redis, prefix }
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

    /// The pair's, the client's and the e-mail's keys, in [`FailureCounts`]' order.
    fn keys(&self, email: &str, client: &str) -> Vec<String> {
        vec![
            self.pair_key(email, client),
            self.client_key(client),
            self.email_key(email),
        ]
    }

    /// The recent failures of this e-mail and client, in one read.
    pub async fn counts(&self, email: &str, client: &str) -> Result<FailureCounts, AppError> {
        let counts: Vec<Option<i64>> = self.redis.mget(self.keys(email, client)).await?;
        let count = |index: usize| counts.get(index).copied().flatten().unwrap_or(0);
        Ok(FailureCounts {
            pair: count(0),
            client: count(1),
            email: count(2),
        })
    }

    /// How long until `budget`'s window ends; `None` if the counter has no expiry or is gone.
    pub async fn remaining(
        &self,
        budget: Budget,
        email: &str,
        client: &str,
    ) -> Result<Option<Duration>, AppError> {
        let key = match budget {
            Budget::Pair => self.pair_key(email, client),
            Budget::Client => self.client_key(client),
        };
        let remaining_ms: i64 = self.redis.pttl(key).await?;
        Ok(u64::try_from(remaining_ms).ok().map(Duration::from_millis))
    }

    /// Counts one failure on all three counters; a counter's first failure starts its window.
    pub async fn record(
        &self,
        email: &str,
        client: &str,
        window: Duration,
    ) -> Result<(), AppError> {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let _: i64 = self
            .redis
            .eval(RECORD_FAILURE, self.keys(email, client), vec![window_ms])
            .await?;
        Ok(())
    }

    /// Forgives the failures of the e-mail from this client (not the client's own budget, nor
    /// the e-mail's from elsewhere).
    pub async fn clear_pair(&self, email: &str, client: &str) -> Result<(), AppError> {
        let _: i64 = self.redis.del(self.pair_key(email, client)).await?;
        Ok(())
    }
}
