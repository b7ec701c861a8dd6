//! A circuit breaker per upstream: closed → open → half-open → closed.
//!
//! * **Closed**: calls pass. The breaker opens after `failure_threshold` failures in a row,
//!   or when at least `rate_min_calls` calls in the last `rate_window` failed at
//!   `failure_rate` or more (a flaky upstream that fails every other call never builds a run
//!   of five, yet still deserves a pause).
//! * **Open** for `open_for`: calls fail fast, without touching the network, with the time
//!   they resume; this is what keeps a failing upstream from taking a server down with it.
//! * **Half-open**: at most `half_open_probes` trial calls are admitted; when that many
//!   succeed the breaker closes, and the first failure opens it again for another pause.
//!
//! Time is `tokio::time::Instant`, so tests can pause and advance it. Only outcomes the caller
//! reports count: a [`Permit`] dropped without an outcome (a cancelled call, a call refused by
//! a rate limit) changes nothing but frees its trial slot. Outcomes of calls admitted before
//! a transition are ignored, so a slow call from the closed period cannot close a breaker
//! that has since opened.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Most outcomes kept for the failure-rate window, so memory stays bounded whatever the
/// traffic.
const WINDOW_CAPACITY: usize = 4_096;

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Failures in a row that open the breaker (default 5).
    pub failure_threshold: u32,
    /// Share of failed calls in the window that opens the breaker (default 0.5).
    pub failure_rate: f64,
    /// How far back the failure rate looks (default 60 s).
    pub rate_window: Duration,
    /// Fewest calls in the window before the rate counts, so two calls with one failure
    /// do not open it (default 20).
    pub rate_min_calls: u32,
    /// How long the breaker stays open before admitting trial calls (default 30 s).
    pub open_for: Duration,
    /// Trial calls admitted while half-open; this many successes close it (default 2).
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            failure_rate: 0.5,
            rate_window: Duration::from_secs(60),
            rate_min_calls: 20,
            open_for: Duration::from_secs(30),
            half_open_probes: 2,
        }
    }
}

/// The breaker's state, as shown in a health snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls fail fast until the pause ends.
    Open,
    /// A limited number of trial calls pass.
    HalfOpen,
}

/// Why the breaker refuses calls; shown to the user inside [`crate::Error::CircuitOpen`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenReason {
    /// This many failures in a row.
    ConsecutiveFailures(u32),
    /// Too many of the recent calls failed.
    FailureRate {
        failed: u32,
        calls: u32,
        window: Duration,
    },
    /// A trial call after a pause failed.
    ProbeFailed,
    /// After a pause, trial calls are in flight and no more are admitted until they finish.
    ProbesInFlight,
}

impl fmt::Display for OpenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenReason::ConsecutiveFailures(n) => write!(f, "{n} errors in a row"),
            OpenReason::FailureRate {
                failed,
                calls,
                window,
            } => write!(
                f,
                "{failed} of the last {calls} calls failed within {}",
                crate::error::human(*window)
            ),
            OpenReason::ProbeFailed => f.write_str("a trial call after a pause failed too"),
            OpenReason::ProbesInFlight => {
                f.write_str("it is recovering and trial calls are in progress")
            }
        }
    }
}

/// Why a call was not admitted, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: OpenReason,
    pub retry_after: Duration,
}

/// What the breaker looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    /// Failures in a row; kept while open so the reason stays visible.
    pub consecutive_failures: u32,
    /// While open: time until trial calls are admitted.
    pub reopens_in: Option<Duration>,
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant, reason: OpenReason },
    HalfOpen { in_flight: u32, successes: u32 },
}

#[derive(Debug)]
struct Inner {
    state: State,
    consecutive_failures: u32,
    /// Recent outcomes (time, failed) for the failure rate, oldest first.
    window: VecDeque<(Instant, bool)>,
    window_failures: u32,
    /// Bumped at every transition; permits from an earlier generation are ignored.
    generation: u64,
}

/// A transition to report once the lock is released.
enum Transition {
    Opened(OpenReason),
    HalfOpened,
    Closed,
}

/// One upstream's circuit breaker. Cheap to consult: one uncontended mutex per call.
#[derive(Debug)]
pub struct CircuitBreaker {
    name: String,
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Admission for one call; report its outcome with [`Permit::success`] or
/// [`Permit::failure`]. Dropping it reports nothing.
#[derive(Debug)]
#[must_use = "report the call's outcome, or the breaker never learns of failures"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    generation: u64,
    probe: bool,
    reported: bool,
}

impl CircuitBreaker {
    /// A closed breaker for the upstream called `name` (used in events and messages).
    pub fn new(name: impl Into<String>, config: BreakerConfig) -> Self {
        Self {
            name: name.into(),
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                consecutive_failures: 0,
                window: VecDeque::new(),
                window_failures: 0,
                generation: 0,
            }),
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Admit a call, or say why not and for how long.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejection> {
        let mut transition = None;
        let result = {
            let mut inner = self.lock();
            if let State::Open { until, reason } = &inner.state {
                let now = Instant::now();
                if now < *until {
                    return Err(Rejection {
                        reason: reason.clone(),
                        retry_after: *until - now,
                    });
                }
                inner.state = State::HalfOpen {
                    in_flight: 0,
                    successes: 0,
                };
                inner.generation += 1;
                transition = Some(Transition::HalfOpened);
            }
            let generation = inner.generation;
            let probes = self.config.half_open_probes.max(1);
            match &mut inner.state {
                State::Closed => Ok(self.permit(generation, false)),
                State::HalfOpen {
                    in_flight,
                    successes,
                } if *in_flight + *successes < probes => {
                    *in_flight += 1;
                    Ok(self.permit(generation, true))
                }
                // Half-open with every trial slot taken (Open was handled above). The
                // trials finish within a request timeout; a second is a fair hint.
                _ => Err(Rejection {
                    reason: OpenReason::ProbesInFlight,
                    retry_after: Duration::from_secs(1),
                }),
            }
        };
        self.report(transition);
        result
    }

    /// The current state (an elapsed pause reads as half-open).
    pub fn state(&self) -> BreakerState {
        self.snapshot().state
    }

    pub fn snapshot(&self) -> BreakerSnapshot {
        let inner = self.lock();
        let now = Instant::now();
        let (state, reopens_in) = match &inner.state {
            State::Closed => (BreakerState::Closed, None),
            State::Open { until, .. } if now < *until => (BreakerState::Open, Some(*until - now)),
            State::Open { .. } | State::HalfOpen { .. } => (BreakerState::HalfOpen, None),
        };
        BreakerSnapshot {
            state,
            consecutive_failures: inner.consecutive_failures,
            reopens_in,
        }
    }

    fn permit(&self, generation: u64, probe: bool) -> Permit<'_> {
        Permit {
            breaker: self,
            generation,
            probe,
            reported: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent at every step, so a panic elsewhere does not spoil it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, generation: u64, probe: bool, failed: bool) {
        let transition = {
            let mut inner = self.lock();
            if inner.generation != generation {
                return;
            }
            if failed {
                inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
            } else {
                inner.consecutive_failures = 0;
            }
            let now = Instant::now();
            if probe {
                self.record_probe(&mut inner, now, failed)
            } else {
                self.record_closed(&mut inner, now, failed)
            }
        };
        self.report(transition);
    }

    fn record_closed(&self, inner: &mut Inner, now: Instant, failed: bool) -> Option<Transition> {
        inner.window.push_back((now, failed));
        inner.window_failures += u32::from(failed);
        while let Some(&(at, old_failed)) = inner.window.front()
            && (now.saturating_duration_since(at) > self.config.rate_window
                || inner.window.len() > WINDOW_CAPACITY)
        {
            inner.window.pop_front();
            inner.window_failures -= u32::from(old_failed);
        }
        if !failed {
            return None;
        }
        let calls = u32::try_from(inner.window.len()).unwrap_or(u32::MAX);
        let reason = if inner.consecutive_failures >= self.config.failure_threshold.max(1) {
            OpenReason::ConsecutiveFailures(inner.consecutive_failures)
        } else if calls >= self.config.rate_min_calls.max(1)
            && f64::from(inner.window_failures) >= self.config.failure_rate * f64::from(calls)
        {
            OpenReason::FailureRate {
                failed: inner.window_failures,
                calls,
                window: self.config.rate_window,
            }
        } else {
            return None;
        };
        Some(self.open(inner, now, reason))
    }

    fn record_probe(&self, inner: &mut Inner, now: Instant, failed: bool) -> Option<Transition> {
        let State::HalfOpen {
            in_flight,
            successes,
        } = &mut inner.state
        else {
            return None;
        };
        *in_flight = in_flight.saturating_sub(1);
        if failed {
            return Some(self.open(inner, now, OpenReason::ProbeFailed));
        }
        *successes += 1;
        if *successes < self.config.half_open_probes.max(1) {
            return None;
        }
        inner.state = State::Closed;
        inner.generation += 1;
        inner.consecutive_failures = 0;
        inner.window.clear();
        inner.window_failures = 0;
        Some(Transition::Closed)
    }

    fn open(&self, inner: &mut Inner, now: Instant, reason: OpenReason) -> Transition {
        inner.state = State::Open {
            until: now + self.config.open_for,
            reason: reason.clone(),
        };
        inner.generation += 1;
        // The window restarts after the pause: old failures have been paid for.
        inner.window.clear();
        inner.window_failures = 0;
        Transition::Opened(reason)
    }

    fn release_probe(&self, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation
            && let State::HalfOpen { in_flight, .. } = &mut inner.state
        {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    fn report(&self, transition: Option<Transition>) {
        let upstream = self.name.as_str();
        match transition {
            Some(Transition::Opened(reason)) => tracing::warn!(
                upstream,
                reason = %reason,
                open_for_ms = u64::try_from(self.config.open_for.as_millis()).unwrap_or(u64::MAX),
                "circuit breaker opened: calls fail fast"
            ),
            Some(Transition::HalfOpened) => tracing::info!(
                upstream,
                probes = self.config.half_open_probes,
                "circuit breaker half-open: admitting trial calls"
            ),
            Some(Transition::Closed) => {
                tracing::info!(upstream, "circuit breaker closed: calls pass again");
            }
            None => {}
        }
    }
}

impl Permit<'_> {
    /// The call got an answer that shows the upstream is working (2xx–4xx).
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.record(self.generation, self.probe, false);
    }

    /// The call failed in a way that suggests the upstream is not working (connect error,
    /// timeout, 5xx, 408).
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.record(self.generation, self.probe, true);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.probe {
            self.breaker.release_probe(self.generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(30),
            half_open_probes: 1,
            ..BreakerConfig::default()
        }
    }

    fn fail(breaker: &CircuitBreaker, times: u32) {
        for _ in 0..times {
            breaker.try_acquire().unwrap().failure();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn it_opens_after_the_threshold_of_failures_in_a_row_and_says_for_how_long() {
        let breaker = CircuitBreaker::new("Test", config());
        fail(&breaker, 2);
        assert_eq!(breaker.state(), BreakerState::Closed);
        fail(&breaker, 1);
        assert_eq!(breaker.state(), BreakerState::Open);

        tokio::time::advance(Duration::from_secs(10)).await;
        let rejection = breaker.try_acquire().unwrap_err();
        assert_eq!(rejection.reason, OpenReason::ConsecutiveFailures(3));
        assert_eq!(rejection.retry_after, Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_run_of_failures() {
        let breaker = CircuitBreaker::new("Test", config());
        fail(&breaker, 2);
        breaker.try_acquire().unwrap().success();
        fail(&breaker, 2);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.snapshot().consecutive_failures, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_pause_one_probe_is_admitted_and_its_success_closes_the_breaker() {
        let breaker = CircuitBreaker::new("Test", config());
        fail(&breaker, 3);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);

        let probe = breaker.try_acquire().unwrap();
        let refused = breaker.try_acquire().unwrap_err();
        assert_eq!(refused.reason, OpenReason::ProbesInFlight);
        probe.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.snapshot().consecutive_failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_the_breaker_for_another_full_pause() {
        let breaker = CircuitBreaker::new("Test", config());
        fail(&breaker, 3);
        tokio::time::advance(Duration::from_secs(30)).await;
        breaker.try_acquire().unwrap().failure();
        let rejection = breaker.try_acquire().unwrap_err();
        assert_eq!(rejection.reason, OpenReason::ProbeFailed);
        assert_eq!(rejection.retry_after, Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_dropped_without_an_outcome_frees_its_slot() {
        let breaker = CircuitBreaker::new("Test", config());
        fail(&breaker, 3);
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(breaker.try_acquire().unwrap());
        breaker.try_acquire().unwrap().success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn closing_needs_as_many_successful_probes_as_configured() {
        let breaker = CircuitBreaker::new(
            "Test",
            BreakerConfig {
                half_open_probes: 2,
                ..config()
            },
        );
        fail(&breaker, 3);
        tokio::time::advance(Duration::from_secs(30)).await;
        breaker.try_acquire().unwrap().success();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        breaker.try_acquire().unwrap().success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_high_failure_rate_opens_it_without_a_run_of_failures() {
        let breaker = CircuitBreaker::new(
            "Test",
            BreakerConfig {
                failure_threshold: 5,
                failure_rate: 0.5,
                rate_min_calls: 10,
                ..config()
            },
        );
        // Alternate: never two failures in a row, half of all calls failing.
        for _ in 0..4 {
            breaker.try_acquire().unwrap().success();
            breaker.try_acquire().unwrap().failure();
        }
        assert_eq!(
            breaker.state(),
            BreakerState::Closed,
            "8 calls: below the minimum"
        );
        breaker.try_acquire().unwrap().success();
        breaker.try_acquire().unwrap().failure();
        let rejection = breaker.try_acquire().unwrap_err();
        assert!(matches!(
            rejection.reason,
            OpenReason::FailureRate {
                failed: 5,
                calls: 10,
                ..
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn failures_older_than_the_window_do_not_count_towards_the_rate() {
        let breaker = CircuitBreaker::new(
            "Test",
            BreakerConfig {
                failure_threshold: 100,
                rate_min_calls: 4,
                rate_window: Duration::from_secs(60),
                ..config()
            },
        );
        breaker.try_acquire().unwrap().failure();
        breaker.try_acquire().unwrap().success();
        tokio::time::advance(Duration::from_secs(61)).await;
        breaker.try_acquire().unwrap().success();
        breaker.try_acquire().unwrap().success();
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn an_outcome_from_before_a_transition_is_ignored() {
        let breaker = CircuitBreaker::new("Test", config());
        let slow = breaker.try_acquire().unwrap();
        fail(&breaker, 3);
        tokio::time::advance(Duration::from_secs(30)).await;
        let probe = breaker.try_acquire().unwrap();
        slow.success();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        probe.failure();
        assert_eq!(breaker.state(), BreakerState::Open);
    }
}
