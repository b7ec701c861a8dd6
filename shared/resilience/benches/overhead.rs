//! What the resilience layer costs.
//!
//! * `round_trip/bare_reqwest` vs `round_trip/resilience`: one GET to a local server that
//!   never fails, read in full, bare and through an [`Upstream`] (breaker, every limit
//!   scope, timeout, retry loop, tracing span, counters). Target: under 5% added.
//! * `limiter/*`: one rate-limit check that passes, for one keyed scope and for the three
//!   scopes a call with a lead and an account goes through. Target: under 1 µs.
//!
//! Limits are set so high that they never refuse: the bench measures the checking, not
//! the waiting. Run with `cargo bench -p resilience`.

#![allow(clippy::unwrap_used, reason = "a bench: a panic is how it fails")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{
    LimitKeys, LimitScope, RateLimit, RateLimits, ScopeLimits, Upstream, UpstreamConfig,
};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

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

fn round_trip(c: &mut Criterion) {
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
    let url = format!("{}/ping", server.uri());
    let bare = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let upstream = Upstream::new(
        UpstreamConfig::new("Bench", server.uri())
            .with_limits(unlimited_scopes())
            .with_quotas(vec![unlimited()]),
    )
    .unwrap();

    let mut group = c.benchmark_group("round_trip");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("bare_reqwest", |b| {
        b.iter(|| {
            runtime.block_on(async {
                #[allow(
                    clippy::disallowed_methods,
                    reason = "the yardstick: the same call without the resilience layer"
                )]
                let response = bare.get(&url).send().await.unwrap();
                black_box(response.bytes().await.unwrap());
            });
        });
    });
    group.bench_function("resilience", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = upstream
                    .get("/ping")
                    .lead("lead_000001")
                    .account("acc_000001")
                    .send()
                    .await
                    .unwrap();
                black_box(response.into_bytes());
            });
        });
    });
    group.finish();
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
