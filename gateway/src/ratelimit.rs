//! Token-bucket rate limits per client address and per user, kept in CacheDB (Redis) so every
//! gateway replica spends from the same budget. One Lua script checks and charges every bucket
//! of a request atomically. Limits are set per route group: `auth` (sign-up, login, refresh)
//! is much stricter than `catalogue` reads.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use astro_shared::config::Env;
use fred::{interfaces::LuaInterface as _, prelude::Client};
use tonic::Status;

/// The group of every RPC that is not in [`GROUPS`].
pub const DEFAULT_GROUP: &str = "default";

/// Route groups and their RPCs (by method name); every other RPC is in `default`.
pub const GROUPS: [(&str, &[&str]); 3] = [
    (
        "auth",
        &[
            "Register",
            "Login",
            "RefreshTokens",
            "ConfirmEmail",
            "ChangePassword",
            "RegisterTraveler",
            "RegisterAgency",
        ],
    ),
    ("catalogue", &["ListLaunches", "GetLaunch", "GetJwks"]),
    ("webhook", &["HandleStripeWebhook"]),
];

/// The rate-limit group of an RPC.
pub fn group_of(rpc_name: &str) -> &'static str {
    GROUPS
        .iter()
        .find(|(_, rpcs)| rpcs.contains(&rpc_name))
        .map_or(DEFAULT_GROUP, |(group, _)| group)
}

/// A bucket: `burst` requests at once, refilled at `burst` per `period`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub burst: u32,
    pub period: Duration,
}

impl std::str::FromStr for Limit {
    type Err = String;

    /// `N/period`, period `Ns`, `Nm`, `Nh` or `Nms` (a bare unit means 1): `10/1m`, `200/s`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (burst, period) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not N/period, e.g. 10/1m"))?;
        let burst: u32 = burst
            .trim()
            .parse()
            .map_err(|_| format!("{burst:?} is not a count"))?;
        let period = period.trim();
        let split = period
            .find(|character: char| !character.is_ascii_digit())
            .ok_or_else(|| format!("{period:?} has no unit (ms, s, m, h)"))?;
        let (amount, unit) = period.split_at(split);
        let amount: u64 = if amount.is_empty() {
            1
        } else {
            amount
                .parse()
                .map_err(|_| format!("{amount:?} is not a number"))?
        };
        let period = match unit {
            "ms" => Duration::from_millis(amount),
            "s" => Duration::from_secs(amount),
            "m" => Duration::from_secs(amount * 60),
            "h" => Duration::from_secs(amount * 3600),
            _ => return Err(format!("{unit:?} is not a unit (ms, s, m, h)")),
        };
        if burst == 0 || period.is_zero() {
            return Err("count and period must be positive".to_owned());
        }
        Ok(Self { burst, period })
    }
}

/// Limits per group, from `ASTRO_GATEWAY_RATE_LIMIT_<GROUP>` (`N/period` or `off`).
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub groups: HashMap<&'static str, Option<Limit>>,
}

impl RateLimits {
    pub fn from_env(env: &Env) -> anyhow::Result<Self> {
        let defaults = [
            ("auth", "20/1m"),
            ("catalogue", "200/1s"),
            ("webhook", "100/1s"),
            (DEFAULT_GROUP, "50/1s"),
        ];
        let mut groups = HashMap::new();
        for (group, default) in defaults {
            let name = format!("RATE_LIMIT_{}", group.to_uppercase());
            let text: String = env.or(&name, default.to_owned())?;
            let limit = if text.trim().eq_ignore_ascii_case("off") {
                None
            } else {
                Some(
                    text.parse::<Limit>()
                        .map_err(|reason| anyhow::anyhow!("{}: {reason}", env.variable(&name)))?,
                )
            };
            groups.insert(group, limit);
        }
        Ok(Self { groups })
    }
}

/// Checks and charges token buckets in Redis. Fails open: when Redis cannot be reached the
/// request passes (and a warning is logged), since availability beats strictness here.
#[derive(Clone)]
pub struct RateLimiter {
    redis: Client,
    limits: RateLimits,
    key_prefix: String,
}

/// KEYS: the buckets; ARGV: capacity, refill per millisecond. Charges one token from every
/// bucket if all have one, else none; returns {1, 0} or {0, milliseconds until allowed}.
const TOKEN_BUCKET: &str = r"
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local levels = {}
local wait = 0
for index, key in ipairs(KEYS) do
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or capacity
  local at = tonumber(bucket[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  levels[index] = tokens
  if tokens < 1 then
    wait = math.max(wait, math.ceil((1 - tokens) / rate))
  end
end
local ttl = math.ceil(capacity / rate) + 1000
for index, key in ipairs(KEYS) do
  local tokens = levels[index]
  if wait == 0 then tokens = tokens - 1 end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', now)
  redis.call('PEXPIRE', key, ttl)
end
if wait == 0 then return {1, 0} end
return {0, wait}
";

impl RateLimiter {
    pub fn new(redis: Client, limits: RateLimits, key_prefix: String) -> Self {
        Self {
            redis,
            limits,
            key_prefix,
        }
    }

    /// Charges one request of `group` to the client address and, when known, to the user.
    pub async fn check(
        &self,
        group: &str,
        client: IpAddr,
        user_id: Option<&str>,
    ) -> Result<(), Status> {
        let Some(Some(limit)) = self.limits.groups.get(group) else {
            return Ok(());
        };
        // IPv6 clients per /64: one subscriber holds a whole /64.
        let client = astro_shared::client_address::bucket(client);
        let mut keys = vec![format!("{}ratelimit:{group}:ip:{client}", self.key_prefix)];
        if let Some(user_id) = user_id {
            keys.push(format!(
                "{}ratelimit:{group}:user:{user_id}",
                self.key_prefix
            ));
        }
        let period_ms = u32::try_from(limit.period.as_millis()).unwrap_or(u32::MAX);
        let rate_per_ms = f64::from(limit.burst) / f64::from(period_ms);
        // EVAL with the source each time: the script is small, and this needs no SHA-1 feature.
        let outcome: Result<Vec<i64>, _> = self
            .redis
            .eval(
                TOKEN_BUCKET,
                keys,
                vec![limit.burst.to_string(), format!("{rate_per_ms:.12}")],
            )
            .await;
        match outcome.as_deref() {
            Ok([1, _]) => Ok(()),
            Ok([0, wait_ms]) => {
                let seconds = u64::try_from(*wait_ms).unwrap_or(1).div_ceil(1000).max(1);
                Err(crate::edge::rate_limited(seconds))
            }
            Ok(other) => {
                tracing::warn!(answer = ?other, "unexpected rate-limit script answer; allowing");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "rate limits unavailable (CacheDB); allowing");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_from_counts_and_periods() {
        assert_eq!(
            "10/1m".parse::<Limit>(),
            Ok(Limit {
                burst: 10,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!(
            "200/s".parse::<Limit>(),
            Ok(Limit {
                burst: 200,
                period: Duration::from_secs(1)
            })
        );
        assert_eq!(
            "5/250ms".parse::<Limit>().map(|limit| limit.period),
            Ok(Duration::from_millis(250))
        );
        for bad in ["10", "x/1s", "10/1d", "0/1s", "10/0s", "10/"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn login_is_in_the_strict_group_and_reads_in_the_catalogue() {
        assert_eq!(group_of("Login"), "auth");
        assert_eq!(group_of("ListLaunches"), "catalogue");
        assert_eq!(group_of("CreateBooking"), DEFAULT_GROUP);
    }
}
