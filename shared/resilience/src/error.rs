//! Errors a tool can show to the person who called it: each says what happened and what to
//! do. None of them holds a header, a URL's query string or a body, because those may carry
//! tokens; an upstream's answer is described by its status code only.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::breaker::OpenReason;
use crate::limit::{LimitScope, RateLimit};

/// Why an outbound call did not produce a usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The upstream's circuit breaker is open: the call failed fast and nothing was sent.
    #[error(
        "{upstream} is failing ({reason}); calls resume after {}. Nothing was sent; try again then.",
        clock(.resume_at)
    )]
    CircuitOpen {
        upstream: String,
        reason: OpenReason,
        /// How long until the breaker lets a trial call through.
        retry_after: Duration,
        resume_at: DateTime<Utc>,
    },

    /// One of our own rate limits refused the call (or it would have waited too long).
    #[error(
        "{upstream}: the {scope} limit ({limit}) is used up; retry after {} (in {}). Nothing was sent.",
        clock(.retry_at),
        human(*.retry_after)
    )]
    RateLimited {
        upstream: String,
        scope: LimitScope,
        limit: RateLimit,
        retry_after: Duration,
        retry_at: DateTime<Utc>,
    },

    /// The upstream answered 429 Too Many Requests and retrying did not help in time.
    #[error("{upstream} is throttling our requests (HTTP 429 after {attempts} attempt(s)); {}", throttle_hint(.retry_at))]
    Throttled {
        upstream: String,
        attempts: u32,
        /// From the last `Retry-After`, when the upstream sent one.
        retry_after: Option<Duration>,
        retry_at: Option<DateTime<Utc>>,
    },

    /// The upstream answered with a server error (5xx) or 408, and retrying did not help.
    #[error(
        "{upstream} is having trouble (HTTP {status} after {attempts} attempt(s)){}; try again in a few minutes",
        once_only(*.unsafe_to_retry)
    )]
    Unavailable {
        upstream: String,
        status: u16,
        attempts: u32,
        /// True when the request was a write without an idempotency key: sent once only,
        /// because repeating it might apply it twice.
        unsafe_to_retry: bool,
        retry_after: Option<Duration>,
    },

    /// No answer arrived within the timeout.
    #[error(
        "{upstream} did not answer within {} ({attempts} attempt(s)){}; try again later",
        human(*.timeout),
        once_only(*.unsafe_to_retry)
    )]
    Timeout {
        upstream: String,
        attempts: u32,
        timeout: Duration,
        unsafe_to_retry: bool,
    },

    /// The connection failed or broke (DNS, refused, reset, unreadable body).
    #[error(
        "could not talk to {upstream} ({detail}; {attempts} attempt(s)){}; check the network and the configured base URL",
        once_only(*.unsafe_to_retry)
    )]
    Unreachable {
        upstream: String,
        attempts: u32,
        detail: String,
        unsafe_to_retry: bool,
    },

    /// The upstream answered, and refused the request (4xx other than 408 and 429). Produced
    /// by [`crate::Response::error_for_status`].
    #[error("{upstream} refused the request (HTTP {status}); {}", rejection_hint(*.status))]
    Rejected { upstream: String, status: u16 },

    /// The request could not be built (a malformed URL or header, an unclonable body).
    #[error("the request to {upstream} could not be built: {detail}")]
    InvalidRequest { upstream: String, detail: String },

    /// The answer could not be read as the expected data.
    #[error("the answer from {upstream} could not be read: {detail}")]
    Decode { upstream: String, detail: String },
}

impl Error {
    /// How long to wait before trying again, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::CircuitOpen { retry_after, .. } | Error::RateLimited { retry_after, .. } => {
                Some(*retry_after)
            }
            Error::Throttled { retry_after, .. } | Error::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// How many requests were sent for the call (0 when it failed before sending).
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Throttled { attempts, .. }
            | Error::Unavailable { attempts, .. }
            | Error::Timeout { attempts, .. }
            | Error::Unreachable { attempts, .. } => *attempts,
            Error::Rejected { .. } => 1,
            _ => 0,
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            Error::Rejected { .. } | Error::InvalidRequest { .. } | Error::Decode { .. }
        )
    }
}

/// A wall-clock time as a person reads it: `14:02:10 UTC` today, with the date otherwise.
pub(crate) fn clock(at: &DateTime<Utc>) -> String {
    if at.date_naive() == Utc::now().date_naive() {
        at.format("%H:%M:%S UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// A duration as a person reads it.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{} s", d.as_secs_f64().ceil())
    } else if ms < 7_200_000 {
        format!("{} min", (d.as_secs_f64() / 60.0).ceil())
    } else {
        format!("{} h", (d.as_secs_f64() / 3_600.0).ceil())
    }
}

/// `now + d` on the wall clock, saturating instead of overflowing.
pub(crate) fn wall_clock_after(d: Duration) -> DateTime<Utc> {
    let now = Utc::now();
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn throttle_hint(retry_at: &Option<DateTime<Utc>>) -> String {
    match retry_at {
        Some(at) => format!("retry after {}", clock(at)),
        None => "wait a minute and try again".to_owned(),
    }
}

fn once_only(unsafe_to_retry: bool) -> &'static str {
    if unsafe_to_retry {
        " and was not retried, because it is a write without an idempotency key"
    } else {
        ""
    }
}

fn rejection_hint(status: u16) -> &'static str {
    match status {
        400 | 422 => "the request was invalid; check the values sent",
        401 => "the credentials were not accepted; reconnect or update them in the vault",
        403 => "the connected account lacks the permission (or its API allowance is used up)",
        404 => "the record does not exist there (it may have been deleted or merged)",
        409 => "it conflicts with the record's current state; refresh and try again",
        _ => "check the request and the connected account",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_millis(14_200)), "15 s");
        assert_eq!(human(Duration::from_secs(600)), "10 min");
        assert_eq!(human(Duration::from_secs(86_400)), "24 h");
    }

    #[test]
    fn an_open_breaker_says_who_is_failing_and_when_calls_resume() {
        let error = Error::CircuitOpen {
            upstream: "HubSpot".into(),
            reason: OpenReason::ConsecutiveFailures(5),
            retry_after: Duration::from_secs(14),
            resume_at: wall_clock_after(Duration::from_secs(14)),
        };
        let text = error.to_string();
        assert!(text.starts_with("HubSpot is failing (5 errors in a row); calls resume after "));
        assert!(text.contains(" UTC"));
    }
}
