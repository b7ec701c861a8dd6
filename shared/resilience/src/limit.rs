//! Rate limits on `governor` (GCRA, lock-free per key): per lead, per account and global,
//! shared by every upstream that is given the same [`RateLimits`], plus each upstream's own
//! quota (see [`crate::UpstreamConfig::hubspot`] and [`crate::UpstreamConfig::salesforce`]).
//!
//! Our limits sit below the upstream's so that one busy lead or account cannot spend the
//! whole allowance and get the organisation's integration throttled or banned. Each attempt,
//! retries included, is checked, because each one spends upstream quota.
//!
//! A limit is a burst of `max` calls refilled evenly over `per` (10 per minute admits ten at
//! once, then one every six seconds). Scopes are checked most specific first (lead, account,
//! global, upstream): a call refused by a later scope has already spent its allowance in the
//! earlier ones, which errs on the side of calling less.
//!
//! Every outbound call passes these checks, so they are kept cheap: the keyed stores hash
//! with `foldhash` (several times faster than SipHash on ids of a dozen bytes) and the housekeeping count is a plain load and store, not a locked
//! read-modify-write.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

/// Keyed limiters forget idle keys every this many checks, so memory follows the set of
/// recently active leads and accounts rather than every one ever seen.
const HOUSEKEEPING_EVERY: u64 = 4_096;

/// `max` calls per `per`, as a burst refilled evenly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    max: NonZeroU32,
    per: Duration,
}

impl RateLimit {
    /// `max` calls per `per`; a `max` of zero counts as one, and a `per` shorter than
    /// a nanosecond per call as one nanosecond per call.
    pub const fn new(max: u32, per: Duration) -> Self {
        let max = match NonZeroU32::new(max) {
            Some(max) => max,
            None => NonZeroU32::MIN,
        };
        Self { max, per }
    }

    pub const fn per_second(max: u32) -> Self {
        Self::new(max, Duration::from_secs(1))
    }

    pub const fn per_minute(max: u32) -> Self {
        Self::new(max, Duration::from_secs(60))
    }

    pub const fn per_day(max: u32) -> Self {
        Self::new(max, Duration::from_secs(86_400))
    }

    pub const fn max(&self) -> u32 {
        self.max.get()
    }

    pub const fn per(&self) -> Duration {
        self.per
    }

    fn quota(&self) -> Quota {
        let period = (self.per / self.max.get()).max(Duration::from_nanos(1));
        Quota::with_period(period)
            .unwrap_or(Quota::per_second(self.max))
            .allow_burst(self.max)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self.max;
        match self.per.as_secs() {
            1 if self.per.subsec_nanos() == 0 => write!(f, "{max} per second"),
            60 if self.per.subsec_nanos() == 0 => write!(f, "{max} per minute"),
            3_600 if self.per.subsec_nanos() == 0 => write!(f, "{max} per hour"),
            86_400 if self.per.subsec_nanos() == 0 => write!(f, "{max} per day"),
            _ => write!(f, "{max} per {}", crate::error::human(self.per)),
        }
    }
}

/// Our own limits; `None` switches a scope off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeLimits {
    /// Calls about one lead (default 10 per minute).
    pub per_lead: Option<RateLimit>,
    /// Calls about one account (default 100 per minute).
    pub per_account: Option<RateLimit>,
    /// All calls through these limits (default 1,000 per minute).
    pub global: Option<RateLimit>,
}

impl Default for ScopeLimits {
    fn default() -> Self {
        Self {
            per_lead: Some(RateLimit::per_minute(10)),
            per_account: Some(RateLimit::per_minute(100)),
            global: Some(RateLimit::per_minute(1_000)),
        }
    }
}

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    Lead,
    Account,
    Global,
    /// The upstream's own documented quota.
    Upstream,
}

impl fmt::Display for LimitScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitScope::Lead => "per-lead",
            LimitScope::Account => "per-account",
            LimitScope::Global => "global",
            LimitScope::Upstream => "upstream quota",
        })
    }
}

/// What to do with a call over a limit: the caller's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitMode {
    /// Refuse at once with the time to retry.
    Refuse,
    /// Wait for a slot when it comes within `max_wait`; refuse otherwise.
    Wait { max_wait: Duration },
}

impl Default for LimitMode {
    /// Wait up to two seconds: enough to smooth a burst, short enough for a tool call.
    fn default() -> Self {
        LimitMode::Wait {
            max_wait: Duration::from_secs(2),
        }
    }
}

/// The lead and account a call is about; either may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitKeys {
    pub lead: Option<String>,
    pub account: Option<String>,
}

/// A refusal: which scope, its limit, and when a call would next conform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub scope: LimitScope,
    pub limit: RateLimit,
    pub retry_after: Duration,
}

type Keyed = DefaultKeyedRateLimiter<
    String,
    NoOpMiddleware<<governor::clock::DefaultClock as Clock>::Instant>,
    KeyHasher,
>;
type Direct = DefaultDirectRateLimiter;

/// The keyed limiters' map hasher: `foldhash`, seeded at random per map. Keys are lead and
/// account ids of a dozen bytes, where SipHash's setup and finalisation dominate; the random
/// seed keeps a caller from choosing ids that collide on purpose.
type KeyHasher = foldhash::fast::RandomState;

/// Per-lead, per-account and global limiters. Share one `Arc<RateLimits>` between upstreams
/// for suite-wide limits, or let each upstream make its own.
#[derive(Debug)]
pub struct RateLimits {
    lead: Option<(RateLimit, Keyed)>,
    account: Option<(RateLimit, Keyed)>,
    global: Option<(RateLimit, Direct)>,
    checks: AtomicU64,
}

impl RateLimits {
    pub fn new(limits: ScopeLimits) -> Self {
        Self {
            lead: limits.per_lead.map(|l| {
                (
                    l,
                    Keyed::dashmap_with_hasher(l.quota(), KeyHasher::default()),
                )
            }),
            account: limits.per_account.map(|l| {
                (
                    l,
                    Keyed::dashmap_with_hasher(l.quota(), KeyHasher::default()),
                )
            }),
            global: limits.global.map(|l| (l, Direct::direct(l.quota()))),
            checks: AtomicU64::new(0),
        }
    }

    /// Check (and spend) every scope for a call with these keys.
    pub fn check(&self, keys: &LimitKeys) -> Result<(), Denied> {
        for scope in [LimitScope::Lead, LimitScope::Account, LimitScope::Global] {
            self.check_scope(scope, keys)?;
        }
        Ok(())
    }

    /// Check (and spend) one scope; a scope that is off, or a key the call lacks, passes.
    pub fn check_scope(&self, scope: LimitScope, keys: &LimitKeys) -> Result<(), Denied> {
        let keyed = match scope {
            LimitScope::Lead => self.lead.as_ref().zip(keys.lead.as_ref()),
            LimitScope::Account => self.account.as_ref().zip(keys.account.as_ref()),
            LimitScope::Global => {
                return match &self.global {
                    Some((limit, limiter)) => check_direct(scope, *limit, limiter),
                    None => Ok(()),
                };
            }
            LimitScope::Upstream => None,
        };
        let Some(((limit, limiter), key)) = keyed else {
            return Ok(());
        };
        // A load and a store rather than a locked add: every call passes here, and a count
        // lost to a race only moves the next housekeeping by a check.
        let checks = self.checks.load(Ordering::Relaxed).wrapping_add(1);
        self.checks.store(checks, Ordering::Relaxed);
        if checks.is_multiple_of(HOUSEKEEPING_EVERY) {
            self.housekeeping();
        }
        limiter.check_key(key).map_err(|not_until| Denied {
            scope,
            limit: *limit,
            retry_after: not_until.wait_time_from(limiter.clock().now()),
        })
    }

    fn housekeeping(&self) {
        for (_, limiter) in [&self.lead, &self.account].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new(ScopeLimits::default())
    }
}

/// An upstream's own quotas (several may apply at once, e.g. per 10 s and per day).
#[derive(Debug)]
pub(crate) struct Quotas(Vec<(RateLimit, Direct)>);

impl Quotas {
    pub(crate) fn new(limits: &[RateLimit]) -> Self {
        Self(
            limits
                .iter()
                .map(|l| (*l, Direct::direct(l.quota())))
                .collect(),
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn check(&self, index: usize) -> Result<(), Denied> {
        match self.0.get(index) {
            Some((limit, limiter)) => check_direct(LimitScope::Upstream, *limit, limiter),
            None => Ok(()),
        }
    }
}

fn check_direct(scope: LimitScope, limit: RateLimit, limiter: &Direct) -> Result<(), Denied> {
    limiter.check().map_err(|not_until| Denied {
        scope,
        limit,
        retry_after: not_until.wait_time_from(limiter.clock().now()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(lead: &str, account: &str) -> LimitKeys {
        LimitKeys {
            lead: Some(lead.into()),
            account: Some(account.into()),
        }
    }

    #[test]
    fn a_lead_gets_its_burst_then_is_refused_with_the_time_to_the_next_slot() {
        let limits = RateLimits::default();
        let lead = keys("lead_1", "acc_1");
        for _ in 0..10 {
            limits.check(&lead).unwrap();
        }
        let denied = limits.check(&lead).unwrap_err();
        assert_eq!(denied.scope, LimitScope::Lead);
        assert_eq!(denied.limit, RateLimit::per_minute(10));
        assert!(denied.retry_after <= Duration::from_secs(6));
        assert!(denied.retry_after > Duration::from_secs(5));
    }

    #[test]
    fn leads_do_not_share_a_budget_but_their_account_does() {
        let limits = RateLimits::new(ScopeLimits {
            per_lead: Some(RateLimit::per_minute(1)),
            per_account: Some(RateLimit::per_minute(2)),
            global: None,
        });
        limits.check(&keys("lead_1", "acc_1")).unwrap();
        limits.check(&keys("lead_2", "acc_1")).unwrap();
        let denied = limits.check(&keys("lead_3", "acc_1")).unwrap_err();
        assert_eq!(denied.scope, LimitScope::Account);
        limits.check(&keys("lead_4", "acc_2")).unwrap();
    }

    #[test]
    fn the_global_limit_covers_calls_without_keys() {
        let limits = RateLimits::new(ScopeLimits {
            global: Some(RateLimit::per_minute(1)),
            ..ScopeLimits::default()
        });
        limits.check(&LimitKeys::default()).unwrap();
        let denied = limits.check(&LimitKeys::default()).unwrap_err();
        assert_eq!(denied.scope, LimitScope::Global);
    }

    #[test]
    fn limits_read_naturally() {
        assert_eq!(RateLimit::per_minute(10).to_string(), "10 per minute");
        assert_eq!(
            RateLimit::new(100, Duration::from_secs(10)).to_string(),
            "100 per 10 s"
        );
        assert_eq!(RateLimit::new(0, Duration::from_secs(1)).max(), 1);
    }
}
