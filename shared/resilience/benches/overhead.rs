//! What the resilience layer costs.
//!
//! * `round_trip/bare_reqwest` vs `round_trip/resilience`: one GET of the same URL on the
//!   same local server that never fails, read in full, with the same `reqwest::Client`
//!   (one connection pool, so both reuse a warm keep-alive connection): bare, and through an
//!   [`Upstream`] (breaker, every limit scope with a lead and an account, timeout, retry
//!   policy, tracing span, counters). Target: under 5% added.
//! * `limiter/*`: one rate-limit check that passes, for one keyed scope and for the three
//!   scopes a call with a lead and an account goes through. Target: under 1 µs.
//!
//! A local round trip is tens of microseconds and moves with whatever else the machine is
//! doing, more than the layer's cost; two criterion runs minutes apart can differ by 20%.
//! So each timed arm interleaves the other arm's call, untimed, to see the same conditions,
//! and a paired run at the end times the calls back to back, rotating which goes first, and
//! reports (on stderr) the median and the mean of the per-round differences: the median is
//! the figure the 5% target is checked against, the mean shows the tail (on a busy machine,
//! a few calls in a thousand take milliseconds). It also compares with a bare call under
//! `tokio::time::timeout`, since the layer's timeout is a timer that any call that must not
//! hang pays for.
//!
//! Limits are set so high that they never refuse: the bench measures the checking, not
//! the waiting. Run with `cargo bench -p resilience`.

#![allow(clippy::unwrap_used, reason = "a bench: a panic is how it fails")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{
    LimitKeys, LimitScope, RateLimit, RateLimits, ScopeLimits, Upstream, UpstreamConfig,
};
use tokio::runtime::Runtime;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Back-to-back rounds in the paired run.
const PAIRS: usize = 15_000;

fn unlimited() -> RateLimit {
    RateLimit::per_second(u32::MAX)
}

fn unlimited_scopes() -> ScopeLimits {
    ScopeLimits {
        per_lead: Some(unlimited()),
        per_account: Some(unlimited()),
        global: Some(unlimited()),
    }
}

/// A local server, a bare client and an upstream pointing at it.
struct Setup {
    runtime: Runtime,
    _server: MockServer,
    url: String,
    bare: reqwest::Client,
    upstream: Upstream,
}

impl Setup {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(async {
            // No recording: a long bench would otherwise keep every request in memory.
            let server = MockServer::builder()
                .disable_request_recording()
                .start()
                .await;
            Mock::given(path("/ping"))
                .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"ok":true}"#))
                .mount(&server)
                .await;
            server
        });
        // The bare client is built before any `Upstream`, so the TLS provider must be
        // installed first (reqwest has no default one and panics without it).
        resilience::install_tls_provider();
        let bare = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        // The same client, so both sides share one connection pool and differ only by the
        // layer.
        let upstream = Upstream::builder(
            UpstreamConfig::new("Bench", server.uri())
                .with_limits(unlimited_scopes())
                .with_quotas(vec![unlimited()]),
        )
        .client(bare.clone())
        .build()
        .unwrap();
        Self {
            runtime,
            url: format!("{}/ping", server.uri()),
            _server: server,
            bare,
            upstream,
        }
    }

    fn bare_call(&self) {
        self.runtime.block_on(async {
            #[allow(
                clippy::disallowed_methods,
                reason = "the yardstick: the same call without the resilience layer"
            )]
            let response = self.bare.get(&self.url).send().await.unwrap();
            black_box(response.bytes().await.unwrap());
        });
    }

    fn bare_call_with_timeout(&self) {
        self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), async {
                #[allow(
                    clippy::disallowed_methods,
                    reason = "the yardstick: the same call without the resilience layer"
                )]
                let response = self.bare.get(&self.url).send().await.unwrap();
                black_box(response.bytes().await.unwrap());
            })
            .await
            .unwrap();
        });
    }

    fn resilient_call(&self) {
        self.runtime.block_on(async {
            let response = self
                .upstream
                .get("/ping")
                .lead("lead_000001")
                .account("acc_000001")
                .send()
                .await
                .unwrap();
            black_box(response.into_bytes());
        });
    }
}

fn timed(call: impl FnOnce()) -> Duration {
    let start = Instant::now();
    call();
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn round_trip(c: &mut Criterion) {
    let setup = Setup::new();
    let mut group = c.benchmark_group("round_trip");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("bare_reqwest", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    setup.resilient_call();
                    timed(|| setup.bare_call())
                })
                .sum()
        });
    });
    group.bench_function("resilience", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    setup.bare_call();
                    timed(|| setup.resilient_call())
                })
                .sum()
        });
    });
    group.finish();

    // Triples back to back, rotating which call goes first. The third call is the bare one
    // under `tokio::time::timeout`: what any call that must not hang costs at least.
    let mut bare = Vec::with_capacity(PAIRS);
    let mut added = Vec::with_capacity(PAIRS);
    let mut added_over_timeout = Vec::with_capacity(PAIRS);
    for round in 0..PAIRS {
        let mut times = [0.0; 3];
        for turn in 0..3 {
            let which = (round + turn) % 3;
            let elapsed = match which {
                0 => timed(|| setup.bare_call()),
                1 => timed(|| setup.resilient_call()),
                _ => timed(|| setup.bare_call_with_timeout()),
            };
            times[which] = elapsed.as_secs_f64() * 1e6;
        }
        bare.push(times[0]);
        added.push(times[1] - times[0]);
        added_over_timeout.push(times[1] - times[2]);
    }
    let (bare_mean, added_mean) = (mean(&bare), mean(&added));
    let over_timeout_mean = mean(&added_over_timeout);
    let bare = median(&mut bare);
    let added = median(&mut added);
    let added_over_timeout = median(&mut added_over_timeout);
    eprintln!(
        "round_trip/paired ({PAIRS} rounds) medians: bare round trip {bare:.1} µs; added by \
         the resilience layer {added:.2} µs = {:.1}% (over a bare call with a timeout: \
         {added_over_timeout:.2} µs = {:.1}%)",
        100.0 * added / bare,
        100.0 * added_over_timeout / bare
    );
    eprintln!(
        "round_trip/paired ({PAIRS} rounds) means: bare round trip {bare_mean:.1} µs; added by \
         the resilience layer {added_mean:.2} µs = {:.1}% (over a bare call with a timeout: \
         {over_timeout_mean:.2} µs = {:.1}%)",
        100.0 * added_mean / bare_mean,
        100.0 * over_timeout_mean / bare_mean
    );
}

fn limiter(c: &mut Criterion) {
    let limits = RateLimits::new(unlimited_scopes());
    let keys = LimitKeys {
        lead: Some("lead_000001".to_owned()),
        account: Some("acc_000001".to_owned()),
    };
    let mut group = c.benchmark_group("limiter");
    group.bench_function("one_keyed_check", |b| {
        b.iter(|| black_box(limits.check_scope(LimitScope::Lead, black_box(&keys))));
    });
    group.bench_function("lead_account_global", |b| {
        b.iter(|| black_box(limits.check(black_box(&keys))));
    });
    group.finish();
}

criterion_group!(benches, round_trip, limiter);
criterion_main!(benches);
