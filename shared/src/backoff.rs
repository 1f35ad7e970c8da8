//! Retry pacing, the same everywhere something is tried again later (an outbox entry, an event
//! to resolve, an e-mail): a base wait doubling per failed attempt up to a maximum.

use std::time::Duration;

use rand::Rng as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The wait after the `attempts`-th failed attempt: `base`, `2 base`, `4 base`, ... up to
    /// `max` (the first attempt waits `base`).
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.base
            .saturating_mul(2_u32.saturating_pow(doublings))
            .min(self.max)
    }

    /// [`Self::ceiling`] drawn between half and all of it, so work that failed together does
    /// not come back together.
    pub fn jittered(&self, attempts: u32) -> Duration {
        let ceiling = self.ceiling(attempts);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_maximum_with_jitter_below_the_ceiling() {
        let backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(3600));
        assert_eq!(backoff.ceiling(1), Duration::from_secs(30));
        assert_eq!(backoff.ceiling(2), Duration::from_secs(60));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(240));
        assert_eq!(backoff.ceiling(8), Duration::from_secs(3600));
        assert_eq!(backoff.ceiling(1_000), Duration::from_secs(3600));
        for attempts in 1..=6 {
            let delay = backoff.jittered(attempts);
            let ceiling = backoff.ceiling(attempts);
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{delay:?} vs {ceiling:?}"
            );
        }
    }
}
