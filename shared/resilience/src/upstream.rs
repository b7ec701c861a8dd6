//! [`Upstream`]: a `reqwest::Client` for one API, with breaker, limits, timeout and retry
//! applied to every request, and [`Call`], the request builder the connectors use.
//!
//! One call is a first attempt and, when that fails in a way worth retrying, a `backon`
//! retry loop over the attempts left (a single attempt when it may not be retried: a write
//! without an idempotency key, or `max_attempts` of 1, which also spares the copy of the
//! request kept for retries). Each attempt asks the breaker for a permit (failing fast
//! while open), passes the rate limits (waiting or refusing), sends the request and reads
//! the whole body under one timeout, then classifies the answer:
//!
//! | answer                          | breaker  | retried (if idempotent)        |
//! |---------------------------------|----------|--------------------------------|
//! | 2xx, 3xx, 4xx except 408 / 429  | success  | no: returned as `Ok(Response)` |
//! | 429                             | neutral  | yes, after `Retry-After`       |
//! | 408, 5xx                        | failure  | yes, after `Retry-After` if any|
//! | timeout, connect or I/O error   | failure  | yes                            |
//!
//! A 429 is neutral for the breaker: the upstream is working and asking us to slow down,
//! which the limits and `Retry-After` handle. The body is read inside the attempt so a body
//! that stalls is covered by the timeout and retried like any other transient failure.
//!
//! Tracing: a `debug` span per call with the upstream, method and URL *path* (never the
//! query string, which may carry an API key); `info` events for retries and limit hits,
//! `warn` for breaker openings and failed calls, `trace` per attempt. No header or body is
//! ever recorded.
//!
//! The path a call that is answered at once takes is kept short, because it is paid on
//! every call (the `overhead` bench measures it against a bare `reqwest` call): the base URL
//! is parsed once, the retry loop and its backoff are set up only after a failure, the
//! limits are checked without a clock reading or a future unless one refuses, one clock
//! reading starts both the timeout and the retry budget, and the call's state is one
//! allocation, so it is not copied as it is wrapped and awaited.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use backon::Retryable;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, Request, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;

use crate::breaker::{BreakerConfig, CircuitBreaker, Rejection};
use crate::error::{Error, wall_clock_after};
use crate::health::{Stats, UpstreamHealth, bump};
use crate::limit::{
    Denied, LimitKeys, LimitMode, LimitScope, Quotas, RateLimit, RateLimits, ScopeLimits,
};
use crate::retry::{RetryPolicy, is_idempotent, parse_retry_after};

/// The header that makes a POST or PATCH safe to retry: the upstream applies a request
/// with a key it has already seen only once.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Limits on how long one attempt may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection, TLS included (default 5 s). Applies to clients this
    /// crate builds; a client passed in keeps its own.
    pub connect: Duration,
    /// The whole attempt: connect, send, headers and body (default 30 s).
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
        }
    }
}

/// Everything an [`Upstream`] needs to know; start from [`UpstreamConfig::new`] or a named
/// constructor and adjust with the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// Shown to users and in events, e.g. "HubSpot".
    pub name: String,
    /// Relative paths are joined to it; absolute URLs are used as they are.
    pub base_url: String,
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
    pub timeouts: Timeouts,
    /// The upstream's own quotas, all enforced.
    pub quotas: Vec<RateLimit>,
    /// Our per-lead, per-account and global limits, used unless the upstream is given a
    /// shared [`RateLimits`] with [`UpstreamBuilder::shared_limits`].
    pub limits: ScopeLimits,
    /// What a call over a limit does, unless the call says otherwise.
    pub limit_mode: LimitMode,
}

impl UpstreamConfig {
    /// An upstream with the default retry, breaker, timeouts and limits, and no quota.
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into(),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            timeouts: Timeouts::default(),
            quotas: Vec::new(),
            limits: ScopeLimits::default(),
            limit_mode: LimitMode::default(),
        }
    }

    /// HubSpot (`https://api.hubapi.com`) at the Free and Starter quota: 100 requests per
    /// 10 seconds per app and 250,000 per day per account, from HubSpot's "API usage
    /// guidelines and limits" (developers.hubspot.com/docs/developer-tooling/platform/
    /// usage-guidelines, August 2025). The lowest tier is the safe default; pick the
    /// account's tier with [`Self::hubspot_professional`] or [`Self::hubspot_enterprise`].
    /// Daily limits reset at midnight in the account's time zone; ours is a rolling day.
    pub fn hubspot() -> Self {
        Self::new("HubSpot", "https://api.hubapi.com").with_quotas(vec![
            RateLimit::new(100, Duration::from_secs(10)),
            RateLimit::per_day(250_000),
        ])
    }

    /// HubSpot, Professional tier: 190 requests per 10 seconds per app, 625,000 per day per
    /// account (same source as [`Self::hubspot`]).
    pub fn hubspot_professional() -> Self {
        Self::hubspot().with_quotas(vec![
            RateLimit::new(190, Duration::from_secs(10)),
            RateLimit::per_day(625_000),
        ])
    }

    /// HubSpot, Enterprise tier: 190 requests per 10 seconds per app, 1,000,000 per day per
    /// account (same source as [`Self::hubspot`]).
    pub fn hubspot_enterprise() -> Self {
        Self::hubspot().with_quotas(vec![
            RateLimit::new(190, Duration::from_secs(10)),
            RateLimit::per_day(1_000_000),
        ])
    }

    /// Salesforce at the org's instance URL (from the OAuth token response), with the base
    /// allocation of 100,000 API requests per rolling 24 hours for Enterprise, Unlimited and
    /// Performance editions, from Salesforce's "API Request Limits and Allocations"
    /// (developer.salesforce.com, Salesforce App Limits Cheatsheet). The real allocation adds
    /// 1,000 (Enterprise) or 5,000 (Unlimited, Performance) per licence; raise the quota
    /// with [`Self::with_quotas`] when it is known. Salesforce has no per-second rate, and
    /// answers an exhausted allocation with 403 `REQUEST_LIMIT_EXCEEDED`, which is not
    /// retried.
    pub fn salesforce(instance_url: impl Into<String>) -> Self {
        Self::new("Salesforce", instance_url).with_quotas(vec![RateLimit::per_day(100_000)])
    }

    /// Salesforce Developer Edition: 15,000 API requests per rolling 24 hours (same source
    /// as [`Self::salesforce`]).
    pub fn salesforce_developer(instance_url: impl Into<String>) -> Self {
        Self::salesforce(instance_url).with_quotas(vec![RateLimit::per_day(15_000)])
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }

    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    pub fn with_quotas(mut self, quotas: Vec<RateLimit>) -> Self {
        self.quotas = quotas;
        self
    }

    pub fn with_limits(mut self, limits: ScopeLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_limit_mode(mut self, mode: LimitMode) -> Self {
        self.limit_mode = mode;
        self
    }
}

/// Builds an [`Upstream`] with an optional client of your own and optional shared limits.
#[derive(Debug)]
#[must_use]
pub struct UpstreamBuilder {
    config: UpstreamConfig,
    client: Option<reqwest::Client>,
    limits: Option<Arc<RateLimits>>,
}

impl UpstreamBuilder {
    /// Use this client (e.g. one with TLS settings of your own); its timeouts stay as they
    /// are, and the request timeout still applies to each attempt.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Count calls against these limits, shared with other upstreams, instead of the
    /// config's own.
    pub fn shared_limits(mut self, limits: Arc<RateLimits>) -> Self {
        self.limits = Some(limits);
        self
    }

    pub fn build(self) -> Result<Upstream, Error> {
        let UpstreamConfig {
            name,
            base_url,
            retry,
            breaker,
            timeouts,
            quotas,
            limits,
            limit_mode,
        } = self.config;
        let client = match self.client {
            Some(client) => client,
            None => {
                install_tls_provider();
                reqwest::Client::builder()
                    .connect_timeout(timeouts.connect)
                    .build()
                    .map_err(|error| Error::InvalidRequest {
                        upstream: name.clone(),
                        detail: format!(
                            "the HTTP client could not be set up ({})",
                            describe(&error)
                        ),
                    })?
            }
        };
        let name: Arc<str> = Arc::from(name);
        let base_url = base_url.trim_end_matches('/').to_owned();
        // Parsed once for `Inner::join`; a base with a query or fragment (which a joined
        // path would land in) is left to be parsed with each path, as written.
        let base = reqwest::Url::parse(&base_url).ok().filter(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.query().is_none()
                && url.fragment().is_none()
        });
        Ok(Upstream {
            inner: Arc::new(Inner {
                breaker: CircuitBreaker::new(name.as_ref(), breaker),
                limits: self
                    .limits
                    .unwrap_or_else(|| Arc::new(RateLimits::new(limits))),
                quotas: Quotas::new(&quotas),
                name,
                base_url,
                base,
                client,
                retry,
                timeouts,
                limit_mode,
                stats: Stats::default(),
            }),
        })
    }
}

/// One upstream API. Cheap to clone: clones share the client, breaker, limits and counters.
#[derive(Debug, Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: Arc<str>,
    base_url: String,
    /// `base_url` parsed, when paths can be joined to it without parsing it again.
    base: Option<reqwest::Url>,
    client: reqwest::Client,
    retry: RetryPolicy,
    timeouts: Timeouts,
    limit_mode: LimitMode,
    breaker: CircuitBreaker,
    limits: Arc<RateLimits>,
    quotas: Quotas,
    stats: Stats,
}

/// Per-call choices that are not part of the HTTP request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The caller vouches that repeating this write cannot apply it twice (e.g. an upsert
    /// keyed by an external id), so it may be retried without an idempotency key.
    pub idempotent: bool,
    /// The lead and account the call is about, for the keyed limits.
    pub keys: LimitKeys,
    /// Overrides the upstream's [`LimitMode`] for this call.
    pub limit_mode: Option<LimitMode>,
}

impl Upstream {
    /// An upstream with a client built from the config's timeouts and its own limits.
    pub fn new(config: UpstreamConfig) -> Result<Self, Error> {
        Self::builder(config).build()
    }

    pub fn builder(config: UpstreamConfig) -> UpstreamBuilder {
        UpstreamBuilder {
            config,
            client: None,
            limits: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A request to `url`: a path joined to the base URL, or an absolute URL.
    pub fn request(&self, method: Method, url: &str) -> Call {
        let client = &self.inner.client;
        let builder = if url.starts_with("http://") || url.starts_with("https://") {
            client.request(method, url)
        } else if let Some(joined) = self.inner.join(url) {
            client.request(method, joined)
        } else {
            let joined = format!("{}/{}", self.inner.base_url, url.trim_start_matches('/'));
            client.request(method, joined)
        };
        Call {
            builder,
            upstream: self.clone(),
            options: CallOptions::default(),
        }
    }

    pub fn get(&self, url: &str) -> Call {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Call {
        self.request(Method::POST, url)
    }

    pub fn put(&self, url: &str) -> Call {
        self.request(Method::PUT, url)
    }

    pub fn patch(&self, url: &str) -> Call {
        self.request(Method::PATCH, url)
    }

    pub fn delete(&self, url: &str) -> Call {
        self.request(Method::DELETE, url)
    }

    /// Send a request built elsewhere (with this upstream's client, ideally) through the
    /// breaker, limits, timeout and retry.
    pub async fn execute(&self, request: Request, options: CallOptions) -> Result<Response, Error> {
        let span = self.span(&request);
        Arc::clone(&self.inner)
            .run(Box::new(request), options)
            .instrument(span)
            .await
    }

    /// The call's span: the upstream, the method and the URL's path, never its query.
    fn span(&self, request: &Request) -> tracing::Span {
        tracing::debug_span!(
            "outbound",
            upstream = %self.inner.name,
            method = %request.method(),
            path = %request.url().path(),
        )
    }

    /// The upstream's health now, for a health tool.
    pub fn health(&self) -> UpstreamHealth {
        self.inner
            .stats
            .snapshot(&self.inner.name, self.inner.breaker.snapshot())
    }

    /// The upstream's circuit breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.inner.breaker
    }
}

/// Why one attempt did not produce a final answer.
#[derive(Debug)]
enum Failure {
    Open(Rejection),
    Limited(Denied),
    Timeout,
    Transport {
        detail: String,
        transient: bool,
    },
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    Unclonable,
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Timeout | Failure::Status { .. } => true,
            Failure::Transport { transient, .. } => *transient,
            Failure::Open(_) | Failure::Limited(_) | Failure::Unclonable => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Open(rejection) => write!(f, "circuit open ({})", rejection.reason),
            Failure::Limited(denied) => write!(f, "{} limit reached", denied.scope),
            Failure::Timeout => f.write_str("timed out"),
            Failure::Transport { detail, .. } => f.write_str(detail),
            Failure::Status { status, .. } => write!(f, "HTTP {}", status.as_u16()),
            Failure::Unclonable => f.write_str("streaming body"),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Bytes a URL path keeps as they are, whether it is parsed as part of a whole URL or set
/// on its own: unreserved and sub-delimiter characters, `:`, `@`, `/` and `%`.
fn is_plain_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&byte)
}

/// Counts kept while one call runs. Atomics only so that the retry loop's closures can
/// share them; one call touches them from one task at a time, so a load and a store do
/// (no locked read-modify-write).
#[derive(Debug, Default)]
struct Tally {
    attempts: AtomicU32,
    waited_ns: AtomicU64,
}

impl Tally {
    /// Counts an attempt and returns its number, the first being 1.
    fn next_attempt(&self) -> u32 {
        let attempt = self.attempts.load(Ordering::Relaxed) + 1;
        self.attempts.store(attempt, Ordering::Relaxed);
        attempt
    }

    fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    fn add_wait(&self, delay: Duration) {
        let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        let total = self.waited_ns.load(Ordering::Relaxed).saturating_add(ns);
        self.waited_ns.store(total, Ordering::Relaxed);
    }

    fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed))
    }
}

impl Inner {
    /// `path` joined to the base URL parsed once at build time: a clone and a new path,
    /// instead of parsing the whole URL (its host above all) again for every call. Only for
    /// paths of plain characters, for which this gives exactly the URL that parsing the
    /// joined text gives (a unit test holds the two together); anything else is parsed as
    /// text.
    fn join(&self, path: &str) -> Option<reqwest::Url> {
        let base = self.base.as_ref()?;
        let relative = path.trim_start_matches('/');
        if !relative.bytes().all(is_plain_path_byte) {
            return None;
        }
        let mut url = base.clone();
        let prefix = base.path().trim_end_matches('/');
        if prefix.is_empty() && path.len() == relative.len() + 1 {
            // The common case: a root base and a path with one leading slash, as it is.
            url.set_path(path);
        } else {
            let mut joined = String::with_capacity(prefix.len() + 1 + relative.len());
            joined.push_str(prefix);
            joined.push('/');
            joined.push_str(relative);
            url.set_path(&joined);
        }
        Some(url)
    }

    /// One call. It owns its upstream, so that [`Call::send`] can box it whole. The request
    /// is boxed, like the copy kept for retries, to keep the call's state under a kilobyte:
    /// the allocator serves that from its per-thread cache, and every move of it is a copy.
    async fn run(
        self: Arc<Self>,
        request: Box<Request>,
        options: CallOptions,
    ) -> Result<Response, Error> {
        bump(&self.stats.calls);
        let idempotent = options.idempotent
            || is_idempotent(request.method())
            || request.headers().contains_key(IDEMPOTENCY_KEY);
        let mode = options.limit_mode.unwrap_or(self.limit_mode);
        let keys = &options.keys;
        let tally = Tally::default();
        let template = if idempotent && self.retry.max_attempts > 1 {
            // The copy kept to send again. A streaming body cannot be copied, and a call
            // that cannot be retried as promised is refused before anything is sent.
            let Some(template) = request.try_clone() else {
                return Err(self.failed(Failure::Unclonable, 0, idempotent));
            };
            Some(Box::new(template))
        } else {
            // Sent once: no copy kept (and a streaming body works).
            None
        };
        // One attempt awaited in one place, so the call's state holds one attempt's.
        let started = Instant::now();
        let first = self.attempt(request, keys, mode, &tally, started).await;
        let outcome = match (first, &template) {
            // Boxed: only a call that failed pays for the retry loop's state.
            (Err(failure), Some(template)) if failure.is_transient() => {
                Box::pin(self.retry(template, failure, started, keys, mode, &tally)).await
            }
            (answered, _) => answered,
        };
        match outcome {
            Ok(mut response) => {
                response.attempts = tally.attempts();
                response.waited = tally.waited();
                Ok(response)
            }
            Err(failure) => Err(self.failed(failure, tally.attempts(), idempotent)),
        }
    }

    /// The error for a call that ended in `failure`, counted and reported.
    fn failed(&self, failure: Failure, attempts: u32, idempotent: bool) -> Error {
        let error = self.error(failure, attempts, idempotent);
        bump(&self.stats.failed_calls);
        if matches!(error, Error::CircuitOpen { .. } | Error::RateLimited { .. }) {
            // Fail-fast refusals: the root cause stays as the last error.
            tracing::info!(error = %error, "outbound call refused");
        } else {
            tracing::warn!(error = %error, attempts, "outbound call failed");
            self.stats.set_last_error(error.to_string());
        }
        error
    }

    /// After a transient failure of the first attempt (made at `started`): wait, then the
    /// `backon` loop over the attempts left, on copies of `template`, until one succeeds, a
    /// failure is not transient, the attempts are used up or the next wait would overrun
    /// the time budget. The first attempt runs outside the loop so that a call answered at
    /// once (nearly all of them) never sets it up; the first wait is decided here exactly
    /// as the loop decides the others.
    async fn retry(
        &self,
        template: &Request,
        first: Failure,
        started: Instant,
        keys: &LimitKeys,
        mode: LimitMode,
        tally: &Tally,
    ) -> Result<Response, Failure> {
        let max_total = self.retry.max_total;
        let next_delay = move |failure: &Failure, next: Option<Duration>| {
            // `next` is None once the attempts are used up. A `Retry-After` is a floor: the
            // upstream knows better than our backoff when it can take the call.
            let delay = next?.max(failure.retry_after().unwrap_or_default());
            (started.elapsed() + delay <= max_total).then_some(delay)
        };
        let notify = |failure: &Failure, delay: Duration| {
            bump(&self.stats.retries);
            tally.add_wait(delay);
            tracing::info!(
                attempt = tally.attempts(),
                delay_ms = millis(delay),
                cause = %failure,
                "retrying outbound call"
            );
        };
        let mut backoff = self.retry.backoff();
        let Some(delay) = next_delay(&first, backoff.next()) else {
            return Err(first);
        };
        notify(&first, delay);
        tokio::time::sleep(delay).await;
        (move || async move {
            let request = template.try_clone().ok_or(Failure::Unclonable)?;
            Box::pin(self.attempt(Box::new(request), keys, mode, tally, Instant::now())).await
        })
        .retry(backoff)
        .when(Failure::is_transient)
        .adjust(next_delay)
        .notify(notify)
        .await
    }

    /// One attempt; `now` is a clock reading taken just before, which also starts the
    /// timeout when the limits let the call through at once.
    async fn attempt(
        &self,
        request: Box<Request>,
        keys: &LimitKeys,
        mode: LimitMode,
        tally: &Tally,
        now: Instant,
    ) -> Result<Response, Failure> {
        let permit = self.breaker.try_acquire().map_err(Failure::Open)?;
        let began = match self.pass_from(0, keys) {
            Ok(()) => now,
            Err((gate, denied)) => {
                // Boxed: a timer is large and only the rare limited call needs one.
                Box::pin(self.admit_waiting(keys, mode, gate, denied))
                    .await
                    .map_err(Failure::Limited)?;
                Instant::now()
            }
        };
        let attempt = tally.next_attempt();
        bump(&self.stats.attempts);
        let exchange = self.exchange(request);
        // One clock reading serves the deadline; a timeout too long to add up never fires.
        let result = match began.checked_add(self.timeouts.request) {
            Some(deadline) => tokio::time::timeout_at(deadline, exchange).await,
            None => tokio::time::timeout(self.timeouts.request, exchange).await,
        };
        // `elapsed_ms` is worked out only when the event is enabled.
        match result {
            Err(_elapsed) => {
                permit.failure();
                tracing::trace!(
                    attempt,
                    elapsed_ms = millis(began.elapsed()),
                    "attempt timed out"
                );
                Err(Failure::Timeout)
            }
            Ok(Err(error)) => {
                let transient = error.is_connect()
                    || error.is_timeout()
                    || error.is_request()
                    || error.is_body();
                // A redirect loop or a malformed request says nothing about the upstream's
                // health, so only transient errors count against the breaker.
                if transient {
                    permit.failure();
                } else {
                    drop(permit);
                }
                let failure = Failure::Transport {
                    detail: describe(&error),
                    transient,
                };
                tracing::trace!(
                    attempt,
                    elapsed_ms = millis(began.elapsed()),
                    cause = %failure,
                    "attempt failed"
                );
                Err(failure)
            }
            Ok(Ok(response)) => {
                let status = response.status;
                tracing::trace!(
                    attempt,
                    elapsed_ms = millis(began.elapsed()),
                    status = status.as_u16(),
                    "attempt answered"
                );
                if status == StatusCode::TOO_MANY_REQUESTS {
                    drop(permit);
                    bump(&self.stats.rate_limit_hits);
                    tracing::info!(attempt, "upstream answered 429 Too Many Requests");
                } else if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
                    permit.failure();
                } else {
                    permit.success();
                    return Ok(response);
                }
                Err(Failure::Status {
                    status,
                    retry_after: response
                        .headers
                        .get(RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| parse_retry_after(value, SystemTime::now())),
                })
            }
        }
    }

    /// Check (and spend) limit number `gate`: lead, account, global, then the upstream's
    /// quotas.
    fn check_gate(&self, gate: usize, keys: &LimitKeys) -> Result<(), Denied> {
        match gate {
            0 => self.limits.check_scope(LimitScope::Lead, keys),
            1 => self.limits.check_scope(LimitScope::Account, keys),
            2 => self.limits.check_scope(LimitScope::Global, keys),
            n => self.quotas.check(n - 3),
        }
    }

    /// Pass every limit from `first` on, in order, without waiting; on a refusal, the
    /// limit that refused and why. The clock is not read: most calls pass at once.
    fn pass_from(&self, first: usize, keys: &LimitKeys) -> Result<(), (usize, Denied)> {
        for gate in first..3 + self.quotas.len() {
            self.check_gate(gate, keys)
                .map_err(|denied| (gate, denied))?;
        }
        Ok(())
    }

    /// A limit said no: wait where the mode allows, then go on with the limits from the
    /// one that refused. A limit passed before a wait is not checked again, so a wait does
    /// not spend it twice.
    async fn admit_waiting(
        &self,
        keys: &LimitKeys,
        mode: LimitMode,
        mut gate: usize,
        mut denied: Denied,
    ) -> Result<(), Denied> {
        let mut deadline = None;
        loop {
            bump(&self.stats.rate_limit_hits);
            let within = match mode {
                LimitMode::Refuse => false,
                LimitMode::Wait { max_wait } => {
                    let now = Instant::now();
                    let deadline = *deadline.get_or_insert(now + max_wait);
                    now + denied.retry_after <= deadline
                }
            };
            if !within {
                tracing::info!(
                    scope = %denied.scope,
                    limit = %denied.limit,
                    retry_after_ms = millis(denied.retry_after),
                    "rate limit refused the call"
                );
                return Err(denied);
            }
            tracing::debug!(
                scope = %denied.scope,
                limit = %denied.limit,
                wait_ms = millis(denied.retry_after),
                "rate limit reached: waiting for a slot"
            );
            tokio::time::sleep(denied.retry_after).await;
            match self.pass_from(gate, keys) {
                Ok(()) => return Ok(()),
                Err((next_gate, next_denied)) => (gate, denied) = (next_gate, next_denied),
            }
        }
    }

    /// Send the request and read the whole answer.
    async fn exchange(&self, request: Box<Request>) -> Result<Response, reqwest::Error> {
        #[allow(
            clippy::disallowed_methods,
            reason = "the one place outbound HTTP leaves the suite; every caller gets here through the breaker, limits, timeout and retry"
        )]
        let mut answer = self.client.execute(*request).await?;
        let status = answer.status();
        let headers = std::mem::take(answer.headers_mut());
        // Boxed: reading the body is the largest state of an attempt, and the attempt's
        // future is moved as it is wrapped (in the timeout) and awaited; a small allocation
        // (from the allocator's per-thread cache) costs less than copying a kilobyte each time.
        let body = Box::pin(answer.bytes()).await?;
        Ok(Response {
            upstream: Arc::clone(&self.name),
            status,
            headers,
            body: Vec::from(body),
            attempts: 0,
            waited: Duration::ZERO,
        })
    }

    fn error(&self, failure: Failure, attempts: u32, idempotent: bool) -> Error {
        let upstream = self.name.to_string();
        let unsafe_to_retry = !idempotent;
        match failure {
            Failure::Open(rejection) => Error::CircuitOpen {
                upstream,
                reason: rejection.reason,
                retry_after: rejection.retry_after,
                resume_at: wall_clock_after(rejection.retry_after),
            },
            Failure::Limited(denied) => Error::RateLimited {
                upstream,
                scope: denied.scope,
                limit: denied.limit,
                retry_after: denied.retry_after,
                retry_at: wall_clock_after(denied.retry_after),
            },
            Failure::Timeout => Error::Timeout {
                upstream,
                attempts,
                timeout: self.timeouts.request,
                unsafe_to_retry,
            },
            Failure::Transport { detail, .. } => Error::Unreachable {
                upstream,
                attempts,
                detail,
                unsafe_to_retry,
            },
            Failure::Status {
                status: StatusCode::TOO_MANY_REQUESTS,
                retry_after,
            } => Error::Throttled {
                upstream,
                attempts,
                retry_after,
                retry_at: retry_after.map(wall_clock_after),
            },
            Failure::Status {
                status,
                retry_after,
            } => Error::Unavailable {
                upstream,
                status: status.as_u16(),
                attempts,
                unsafe_to_retry,
                retry_after,
            },
            Failure::Unclonable => Error::InvalidRequest {
                upstream,
                detail: "its body is a stream, which cannot be retried; send bytes instead"
                    .to_owned(),
            },
        }
    }
}

/// What went wrong in a reqwest error, without its URL (the query string may hold a key):
/// the kind, and the innermost I/O error's kind.
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_connect() {
        "connection failed"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "the answer could not be read"
    } else if error.is_redirect() {
        "too many redirects"
    } else if error.is_builder() {
        "invalid URL or header"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut io_kind = None;
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        source = cause.source();
    }
    match io_kind {
        Some(kind) => format!("{what}: {kind}"),
        None => what.to_owned(),
    }
}

/// A request on its way: a `reqwest::RequestBuilder` plus the options this crate needs.
/// Finish with [`Call::send`].
#[must_use = "a call does nothing until it is sent"]
pub struct Call {
    upstream: Upstream,
    builder: RequestBuilder,
    options: CallOptions,
}

impl fmt::Debug for Call {
    // Not the request builder's: it prints the URL with its query string (which may hold an
    // API key) and every header not marked sensitive.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("upstream", &self.upstream.name())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Call {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// `Authorization: Bearer …`, marked sensitive.
    pub fn bearer_auth(mut self, token: impl fmt::Display) -> Self {
        self.builder = self.builder.bearer_auth(token);
        self
    }

    pub fn query<T: Serialize + ?Sized>(mut self, query: &T) -> Self {
        self.builder = self.builder.query(query);
        self
    }

    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.builder = self.builder.json(body);
        self
    }

    /// An `application/x-www-form-urlencoded` body (OAuth token requests).
    pub fn form<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.builder = self.builder.form(body);
        self
    }

    pub fn body(mut self, body: impl Into<reqwest::Body>) -> Self {
        self.builder = self.builder.body(body);
        self
    }

    /// Anything else `reqwest::RequestBuilder` offers.
    pub fn with(mut self, build: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        self.builder = build(self.builder);
        self
    }

    /// Send `Idempotency-Key: key`, which makes a POST or PATCH retryable. Use one key per
    /// logical change, kept across retries and restarts, so the upstream applies it once.
    pub fn idempotency_key(mut self, key: &str) -> Self {
        self.builder = self.builder.header(IDEMPOTENCY_KEY, key);
        self.options.idempotent = true;
        self
    }

    /// Vouch that repeating this write cannot apply it twice (an upsert by external id, a
    /// PATCH setting absolute values), so it may be retried without a key.
    pub fn idempotent(mut self) -> Self {
        self.options.idempotent = true;
        self
    }

    /// The lead this call is about, for the per-lead limit.
    pub fn lead(mut self, lead_id: impl Into<String>) -> Self {
        self.options.keys.lead = Some(lead_id.into());
        self
    }

    /// The account this call is about, for the per-account limit.
    pub fn account(mut self, account_id: impl Into<String>) -> Self {
        self.options.keys.account = Some(account_id.into());
        self
    }

    /// Wait for or refuse a call over a limit, for this call only.
    pub fn limit_mode(mut self, mode: LimitMode) -> Self {
        self.options.limit_mode = Some(mode);
        self
    }

    /// Send through the breaker, limits, timeout and retry. `Ok` is any final answer from
    /// the upstream, 4xx included (see [`Response::error_for_status`]); `Err` means the
    /// call got no usable answer.
    ///
    /// The request is built now and nothing is sent until the future is polled. The whole
    /// call's state lives in one allocation, so what callers move about as they wrap and
    /// await the future is a pointer rather than a state machine of a kilobyte or more.
    pub fn send(self) -> impl Future<Output = Result<Response, Error>> + Send + 'static {
        let Call {
            upstream,
            builder,
            options,
        } = self;
        let call: Pin<Box<dyn Future<Output = Result<Response, Error>> + Send>> =
            match builder.build() {
                Ok(request) => {
                    let span = upstream.span(&request);
                    Box::pin(
                        upstream
                            .inner
                            .run(Box::new(request), options)
                            .instrument(span),
                    )
                }
                Err(error) => Box::pin(std::future::ready(Err(Error::InvalidRequest {
                    upstream: upstream.name().to_owned(),
                    detail: describe(&error),
                }))),
            };
        call
    }
}

/// An upstream's final answer, read in full.
#[derive(Clone)]
pub struct Response {
    upstream: Arc<str>,
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    attempts: u32,
    waited: Duration,
}

impl fmt::Debug for Response {
    // Headers and body may hold tokens (an OAuth token response, a Set-Cookie); only
    // their size is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("upstream", &self.upstream)
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.len())
            .field("attempts", &self.attempts)
            .field("waited", &self.waited)
            .finish()
    }
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.body
    }

    /// Requests sent for this call, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time spent waiting between attempts (backoff and `Retry-After`).
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// `Err(Error::Rejected)` for a 4xx or 5xx status, which says what to do about it.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.status.is_client_error() || self.status.is_server_error() {
            Err(Error::Rejected {
                upstream: self.upstream.to_string(),
                status: self.status.as_u16(),
            })
        } else {
            Ok(self)
        }
    }

    pub fn text(&self) -> Result<String, Error> {
        String::from_utf8(self.body.clone()).map_err(|_| Error::Decode {
            upstream: self.upstream.to_string(),
            detail: "the text is not valid UTF-8".to_owned(),
        })
    }

    /// The body as JSON. A failure names the kind of problem and its position, never the
    /// content (serde's messages quote values, which may be secrets).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|error| {
            let what = match error.classify() {
                serde_json::error::Category::Io => "unreadable JSON",
                serde_json::error::Category::Syntax => "invalid JSON",
                serde_json::error::Category::Data => "JSON of an unexpected shape",
                serde_json::error::Category::Eof => "truncated JSON",
            };
            Error::Decode {
                upstream: self.upstream.to_string(),
                detail: format!("{what} at line {} column {}", error.line(), error.column()),
            }
        })
    }
}

/// Makes ring the process's TLS provider (once; a provider installed earlier is kept).
/// reqwest is built without a default provider (so a clean clone needs no C toolchain beyond
/// ring's), and panics if a client is built before one is installed: [`Upstream`] calls this
/// itself; anything else that builds a reqwest client (the MCP HTTP client, tests) calls it
/// first.
pub fn install_tls_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Err means a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_joined_to_the_parsed_base_is_the_url_that_parsing_the_joined_text_gives() {
        let bases = [
            "https://api.hubapi.com",
            "https://api.hubapi.com/",
            "http://127.0.0.1:8080",
            "https://example.my.salesforce.com/services/data/v59.0/",
            "https://user:secret@host:8443/a%20b",
            "https://host/a b/",
        ];
        let paths = [
            "/crm/v3/objects/contacts/42",
            "crm/v3/objects/contacts",
            "",
            "/",
            "//x",
            "///a//b/",
            "/a/./b/../c",
            "/a/%2e%2E/b",
            "/../x",
            "/a/..",
            "/a/.",
            "/~user/x-y_z.json",
            "/sobjects/Account/001:x@y!$&'()*+,;=",
            "/a%20b%zz",
        ];
        for base in bases {
            let upstream = Upstream::new(UpstreamConfig::new("Test", base)).unwrap();
            for path in paths {
                let text = format!(
                    "{}/{}",
                    upstream.inner.base_url,
                    path.trim_start_matches('/')
                );
                let parsed = reqwest::Url::parse(&text).unwrap();
                let joined = upstream.inner.join(path).unwrap();
                assert_eq!(joined.as_str(), parsed.as_str(), "{base} + {path}");
            }
        }
    }

    #[test]
    fn a_path_with_a_query_fragment_or_unusual_character_is_parsed_as_text() {
        let upstream = Upstream::new(UpstreamConfig::new("Test", "https://host")).unwrap();
        for path in [
            "/a?b=c", "/a#f", "/a b", "/a\\b", "/ä", "/a\tb", "/a\"b", "/a<b>",
        ] {
            assert_eq!(upstream.inner.join(path), None, "{path:?}");
        }
        let query_base = Upstream::new(UpstreamConfig::new("Test", "https://host?k=v")).unwrap();
        assert_eq!(query_base.inner.join("/a"), None);
        let no_base = Upstream::new(UpstreamConfig::new("Test", "")).unwrap();
        assert_eq!(no_base.inner.join("/a"), None);
    }
}
