//! What a server's health tool shows about an upstream: breaker state, failures in a row,
//! calls, attempts, retries, rate-limit hits and the last error. Counters are relaxed
//! atomics, since a snapshot needs no ordering between them. The last error is an
//! [`crate::Error`]'s message, which by construction holds no header, query or body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::breaker::{BreakerSnapshot, BreakerState};
use crate::error::wall_clock_after;

/// One upstream's health, for a health tool (JSON with a schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamHealth {
    /// The upstream's name, e.g. "HubSpot".
    pub upstream: String,
    pub breaker: BreakerState,
    /// Failed requests in a row (kept while the breaker is open).
    pub consecutive_failures: u32,
    /// While the breaker is open: when trial calls resume (RFC 3339, UTC).
    pub resumes_at: Option<String>,
    /// Calls made through this upstream.
    pub calls: u64,
    /// Requests sent, retries included.
    pub attempts: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// Calls that ended in an error.
    pub failed_calls: u64,
    /// Times a limit said no: ours (including waits) and the upstream's 429s.
    pub rate_limit_hits: u64,
    /// The last error's message (never headers, query strings or bodies).
    pub last_error: Option<String>,
    /// When the last error happened (RFC 3339, UTC).
    pub last_error_at: Option<String>,
}

/// Counters behind [`UpstreamHealth`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) calls: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) failed_calls: AtomicU64,
    pub(crate) rate_limit_hits: AtomicU64,
    last_error: Mutex<Option<(String, DateTime<Utc>)>>,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn set_last_error(&self, message: String) {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = Some((message, Utc::now()));
    }

    pub(crate) fn snapshot(&self, upstream: &str, breaker: BreakerSnapshot) -> UpstreamHealth {
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (last_error, last_error_at) = match last {
            Some((message, at)) => (Some(message), Some(rfc3339(at))),
            None => (None, None),
        };
        UpstreamHealth {
            upstream: upstream.to_owned(),
            breaker: breaker.state,
            consecutive_failures: breaker.consecutive_failures,
            resumes_at: breaker.reopens_in.map(|d| rfc3339(wall_clock_after(d))),
            calls: self.calls.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            failed_calls: self.failed_calls.load(Ordering::Relaxed),
            rate_limit_hits: self.rate_limit_hits.load(Ordering::Relaxed),
            last_error,
            last_error_at,
        }
    }
}

/// Fixed-width UTC RFC 3339, like every timestamp in the suite.
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
