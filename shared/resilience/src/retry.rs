//! When and how long to wait before trying again.
//!
//! * [`FullJitter`]: exponential backoff with *full* jitter, each delay drawn uniformly from
//!   `[0, min(cap, base × 2ⁿ)]`. Full rather than `backon`'s additive jitter because it
//!   spreads clients that failed together the most, so they do not retry in lock-step
//!   (see the AWS Architecture Blog, "Exponential Backoff And Jitter"). It is an iterator of
//!   delays, which is all `backon` asks of a backoff.
//! * [`parse_retry_after`]: `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
//! * [`is_idempotent`]: whether a method may be repeated without changing the outcome
//!   (RFC 9110 §9.2.2); POST and PATCH are not, and are repeated only with an idempotency key.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

use reqwest::Method;

/// How a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay's ceiling (default 250 ms).
    pub base: Duration,
    /// The largest delay's ceiling (default 8 s).
    pub cap: Duration,
    /// Requests per call, the first included (default 4; 1 disables retries).
    pub max_attempts: u32,
    /// The most time a call may spend, from its first attempt to the start of its last
    /// (default 30 s). A `Retry-After` that would overrun it is not waited for: the call
    /// fails at once with the time to retry.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
            max_attempts: 4,
            max_total: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt per call.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delays before each retry of one call.
    pub fn backoff(&self) -> FullJitter {
        FullJitter::new(self)
    }
}

/// Full-jitter exponential backoff: an iterator over the delays before each retry.
#[derive(Debug, Clone)]
pub struct FullJitter {
    base: Duration,
    cap: Duration,
    retries_left: u32,
    exponent: u32,
    rng: u64,
}

impl FullJitter {
    pub fn new(policy: &RetryPolicy) -> Self {
        Self {
            base: policy.base,
            cap: policy.cap,
            retries_left: policy.max_attempts.saturating_sub(1),
            exponent: 0,
            // A fresh random seed per call, from the standard library's per-process random
            // keys: no RNG dependency for a number that needs no cryptographic quality.
            rng: RandomState::new().hash_one(0x5eed_u64),
        }
    }

    /// The ceiling for the next delay: `min(cap, base × 2ⁿ)`.
    fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.exponent).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A uniform number in `[0, 1)` (splitmix64).
    fn unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Iterator for FullJitter {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.retries_left == 0 {
            return None;
        }
        self.retries_left -= 1;
        let ceiling = self.ceiling();
        self.exponent = self.exponent.saturating_add(1);
        Some(ceiling.mul_f64(self.unit()))
    }
}

/// The wait a `Retry-After` value asks for, measured from `now`; `None` if it is neither
/// delta-seconds nor an HTTP-date. A date in the past means no wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether repeating a request with this method cannot change the outcome.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_a_doubling_ceiling_capped_and_stop_after_the_last_attempt() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
            max_attempts: 5,
            max_total: Duration::from_secs(30),
        };
        for _ in 0..100 {
            let delays: Vec<_> = policy.backoff().collect();
            assert_eq!(delays.len(), 4);
            let ceilings = [100, 200, 300, 300].map(Duration::from_millis);
            for (delay, ceiling) in delays.iter().zip(ceilings) {
                assert!(*delay <= ceiling, "{delay:?} over {ceiling:?}");
            }
        }
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        let policy = RetryPolicy {
            base: Duration::from_millis(1_000),
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let delays: Vec<_> = (0..200).filter_map(|_| policy.backoff().next()).collect();
        assert!(delays.iter().any(|d| *d < Duration::from_millis(250)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(750)));
    }

    #[test]
    fn one_attempt_means_no_retry() {
        assert_eq!(RetryPolicy::none().backoff().next(), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn only_post_and_patch_are_not_idempotent() {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::HEAD] {
            assert!(is_idempotent(&method));
        }
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }
}
