//! The resilience layer against a local HTTP server that misbehaves on purpose (wiremock):
//! throttling with `Retry-After`, bursts of server errors, hanging answers, refusals that
//! must not be retried, writes with and without idempotency keys, the circuit breaker's
//! whole cycle, and our own rate limits. Backoff bases are a few milliseconds and the
//! breaker's pause is skipped on tokio's paused clock, so the whole file runs in a couple of
//! seconds; no assertion depends on how fast anything ran, only on lower bounds that waiting
//! guarantees.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resilience::{
    BreakerConfig, BreakerState, Error, LimitMode, LimitScope, OpenReason, RateLimit, RetryPolicy,
    ScopeLimits, StatusCode, Timeouts, Upstream, UpstreamConfig, UpstreamHealth,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Retries that cost milliseconds, not seconds.
fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(2),
        cap: Duration::from_millis(10),
        max_attempts,
        max_total: Duration::from_secs(10),
    }
}

fn config(server: &MockServer) -> UpstreamConfig {
    UpstreamConfig::new("TestCRM", server.uri())
        .with_retry(fast_retry(4))
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_secs(2),
        })
}

fn upstream(config: UpstreamConfig) -> Upstream {
    Upstream::new(config).unwrap()
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

/// `status` for the first `times` requests to `route`, ahead of later mounts.
async fn fail_first(server: &MockServer, route: &str, times: u64, answer: ResponseTemplate) {
    Mock::given(path(route))
        .respond_with(answer)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
}

async fn succeed(server: &MockServer, route: &str, status: u16) {
    Mock::given(path(route))
        .respond_with(ResponseTemplate::new(status).set_body_json(serde_json::json!({"ok": true})))
        .with_priority(10)
        .mount(server)
        .await;
}

// ---------------------------------------------------------------------------------------
// Retry-After

#[tokio::test]
async fn a_429_with_retry_after_in_seconds_is_waited_out_then_retried() {
    let server = MockServer::start().await;
    fail_first(
        &server,
        "/contacts",
        1,
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
    )
    .await;
    succeed(&server, "/contacts", 200).await;
    let api = upstream(config(&server));

    let response = api.get("/contacts").send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.attempts(), 2);
    assert!(
        response.waited() >= Duration::from_secs(1),
        "{:?}",
        response.waited()
    );
    assert_eq!(received(&server).await, 2);
    let health = api.health();
    assert_eq!(health.retries, 1);
    assert_eq!(health.rate_limit_hits, 1);
    assert_eq!(health.breaker, BreakerState::Closed);
    assert_eq!(
        health.consecutive_failures, 0,
        "a 429 is not a breaker failure"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_as_an_http_date_is_waited_out_then_retried() {
    let server = MockServer::start().await;
    // The next-but-one whole second: between one and two seconds away.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = UNIX_EPOCH + Duration::from_secs(now + 2);
    fail_first(
        &server,
        "/contacts",
        1,
        ResponseTemplate::new(429).insert_header("Retry-After", httpdate::fmt_http_date(at)),
    )
    .await;
    succeed(&server, "/contacts", 200).await;
    let api = upstream(config(&server));

    let response = api.get("/contacts").send().await.unwrap();

    assert_eq!(response.attempts(), 2);
    // Our own backoff is at most 10 ms here, so only the date explains a long wait.
    assert!(
        response.waited() >= Duration::from_millis(900),
        "{:?}",
        response.waited()
    );
    assert_eq!(received(&server).await, 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_time_budget_is_not_waited_for_and_the_error_says_when_to_retry() {
    let server = MockServer::start().await;
    Mock::given(path("/contacts"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let api = upstream(config(&server));

    let error = api.get("/contacts").send().await.unwrap_err();

    assert!(
        matches!(
            error,
            Error::Throttled {
                attempts: 1,
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(3600)
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("retry after "), "{error}");
    assert!(error.to_string().contains(" UTC"), "{error}");
    assert_eq!(received(&server).await, 1);
}

// ---------------------------------------------------------------------------------------
// Transient failures

#[tokio::test]
async fn bursts_of_500_and_503_are_retried_until_success_and_every_attempt_is_counted() {
    let server = MockServer::start().await;
    fail_first(&server, "/deals", 2, ResponseTemplate::new(500)).await;
    Mock::given(path("/deals"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    succeed(&server, "/deals", 200).await;
    let api = upstream(config(&server).with_retry(fast_retry(5)));

    let response = api.get("/deals").send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.attempts(), 4);
    assert_eq!(received(&server).await, 4);
    let health = api.health();
    assert_eq!((health.calls, health.attempts, health.retries), (1, 4, 3));
    assert_eq!(health.failed_calls, 0);
    assert_eq!(health.consecutive_failures, 0, "the success reset the run");
    assert_eq!(health.breaker, BreakerState::Closed);
}

#[tokio::test]
async fn retries_stop_at_the_maximum_number_of_attempts_and_the_error_says_so() {
    let server = MockServer::start().await;
    Mock::given(path("/deals"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let api = upstream(config(&server).with_retry(fast_retry(3)));

    let error = api.get("/deals").send().await.unwrap_err();

    assert!(
        matches!(
            error,
            Error::Unavailable {
                status: 503,
                attempts: 3,
                unsafe_to_retry: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "TestCRM is having trouble (HTTP 503 after 3 attempt(s)); try again in a few minutes"
    );
    assert_eq!(received(&server).await, 3);
    let health = api.health();
    assert_eq!(health.failed_calls, 1);
    assert_eq!(health.consecutive_failures, 3);
    assert_eq!(
        health.last_error.as_deref(),
        Some(error.to_string().as_str())
    );
}

#[tokio::test]
async fn a_hanging_response_times_out_and_is_retried() {
    let server = MockServer::start().await;
    fail_first(
        &server,
        "/companies",
        1,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(10)),
    )
    .await;
    succeed(&server, "/companies", 200).await;
    let api = upstream(config(&server).with_timeouts(Timeouts {
        connect: Duration::from_secs(1),
        request: Duration::from_millis(500),
    }));

    let response = api.get("/companies").send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.attempts(), 2);
    assert_eq!(received(&server).await, 2);
    assert_eq!(api.health().retries, 1);
}

#[tokio::test]
async fn a_server_that_always_hangs_ends_in_a_timeout_error() {
    let server = MockServer::start().await;
    Mock::given(path("/companies"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let api = upstream(
        config(&server)
            .with_retry(fast_retry(2))
            .with_timeouts(Timeouts {
                connect: Duration::from_secs(1),
                request: Duration::from_millis(100),
            }),
    );

    let error = api.get("/companies").send().await.unwrap_err();

    assert!(
        matches!(error, Error::Timeout { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("did not answer within 100 ms"));
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported_as_unreachable() {
    let port = closed_port();
    let api = upstream(
        UpstreamConfig::new("TestCRM", format!("http://127.0.0.1:{port}"))
            .with_retry(fast_retry(3)),
    );

    let error = api.get("/contacts").send().await.unwrap_err();

    assert!(
        matches!(error, Error::Unreachable { attempts: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("connection failed"), "{error}");
    assert_eq!(api.health().retries, 2);
}

// ---------------------------------------------------------------------------------------
// What must not be retried

#[tokio::test]
async fn a_400_is_not_retried_and_comes_back_as_the_upstreams_answer() {
    let server = MockServer::start().await;
    Mock::given(path("/contacts"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&server)
        .await;
    let api = upstream(config(&server));

    let response = api.get("/contacts").send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.attempts(), 1);
    assert_eq!(received(&server).await, 1);
    let error = response.error_for_status().unwrap_err();
    assert_eq!(
        error.to_string(),
        "TestCRM refused the request (HTTP 400); the request was invalid; check the values sent"
    );
    let health = api.health();
    assert_eq!(health.retries, 0);
    assert_eq!(
        health.consecutive_failures, 0,
        "a 4xx means the upstream works"
    );
}

#[tokio::test]
async fn a_post_without_an_idempotency_key_is_sent_once_only() {
    let server = MockServer::start().await;
    fail_first(&server, "/contacts", 1, ResponseTemplate::new(503)).await;
    succeed(&server, "/contacts", 201).await;
    let api = upstream(config(&server));

    let error = api
        .post("/contacts")
        .json(&serde_json::json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            Error::Unavailable {
                attempts: 1,
                unsafe_to_retry: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("was not retried, because it is a write")
    );
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_retried_with_the_same_key() {
    let server = MockServer::start().await;
    fail_first(&server, "/contacts", 1, ResponseTemplate::new(503)).await;
    succeed(&server, "/contacts", 201).await;
    let api = upstream(config(&server));

    let response = api
        .post("/contacts")
        .idempotency_key("push-lead_000042-v7")
        .json(&serde_json::json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.attempts(), 2);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.method, wiremock::http::Method::POST);
        assert_eq!(
            request.headers.get("idempotency-key").unwrap(),
            "push-lead_000042-v7"
        );
        assert_eq!(request.body, requests[0].body, "the same body both times");
    }
}

#[tokio::test]
async fn a_write_the_caller_vouches_for_or_that_carries_the_header_is_retried() {
    let server = MockServer::start().await;
    fail_first(&server, "/upsert", 1, ResponseTemplate::new(502)).await;
    fail_first(&server, "/keyed", 1, ResponseTemplate::new(502)).await;
    succeed(&server, "/upsert", 200).await;
    succeed(&server, "/keyed", 200).await;
    let api = upstream(config(&server));

    let vouched = api.patch("/upsert").idempotent().send().await.unwrap();
    let keyed = api
        .post("/keyed")
        .header("Idempotency-Key", "k-1")
        .send()
        .await
        .unwrap();

    assert_eq!((vouched.attempts(), keyed.attempts()), (2, 2));
}

// ---------------------------------------------------------------------------------------
// Circuit breaker

/// The default breaker (5 failures, 30 s open) with one probe, and no retries so that each
/// call is one failure. The 30 s pause is skipped with tokio's paused clock: time is frozen
/// while the open breaker is checked (no network is involved), advanced past the pause, then
/// resumed for the probe, which needs the real clock for its I/O.
fn breaker_config(server: &MockServer) -> UpstreamConfig {
    config(server)
        .with_retry(RetryPolicy::none())
        .with_breaker(BreakerConfig {
            half_open_probes: 1,
            ..BreakerConfig::default()
        })
}

async fn skip_the_pause() {
    tokio::time::advance(Duration::from_secs(30)).await;
    tokio::time::resume();
}

#[tokio::test]
async fn the_breaker_opens_after_five_failures_fails_fast_then_a_probe_closes_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let api = upstream(breaker_config(&server));

    for n in 1..=4 {
        api.get("/deals").send().await.unwrap_err();
        assert_eq!(
            api.health().breaker,
            BreakerState::Closed,
            "after {n} failures"
        );
    }
    api.get("/deals").send().await.unwrap_err();
    tokio::time::pause();
    let health = api.health();
    assert_eq!(health.breaker, BreakerState::Open);
    assert_eq!(health.consecutive_failures, 5);
    assert!(health.resumes_at.is_some());

    // Open: fails fast, nothing reaches the server, the message says when calls resume.
    let error = api.get("/deals").send().await.unwrap_err();
    assert!(
        matches!(
            &error,
            Error::CircuitOpen {
                reason: OpenReason::ConsecutiveFailures(5),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("TestCRM is failing (5 errors in a row); calls resume after "),
        "{error}"
    );
    let retry_after = error.retry_after().unwrap();
    assert!(retry_after > Duration::from_secs(29) && retry_after <= Duration::from_secs(30));
    assert_eq!(received(&server).await, 5);

    // After the pause: half-open, and one successful probe closes it.
    skip_the_pause().await;
    assert_eq!(api.health().breaker, BreakerState::HalfOpen);
    server.reset().await;
    succeed(&server, "/deals", 200).await;
    let response = api.get("/deals").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(received(&server).await, 1);
    let health = api.health();
    assert_eq!(health.breaker, BreakerState::Closed);
    assert_eq!(health.consecutive_failures, 0);
    assert!(
        health.last_error.unwrap().contains("HTTP 500"),
        "the root cause, not the fail-fast refusal"
    );
}

#[tokio::test]
async fn a_failed_probe_opens_the_breaker_again() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let api = upstream(breaker_config(&server));
    for _ in 0..5 {
        api.get("/deals").send().await.unwrap_err();
    }
    tokio::time::pause();
    skip_the_pause().await;

    let probe = api.get("/deals").send().await.unwrap_err();
    assert!(matches!(probe, Error::Unavailable { .. }), "{probe:?}");
    tokio::time::pause();
    let error = api.get("/deals").send().await.unwrap_err();

    assert!(
        matches!(
            &error,
            Error::CircuitOpen {
                reason: OpenReason::ProbeFailed,
                ..
            }
        ),
        "{error:?}"
    );
    let retry_after = error.retry_after().unwrap();
    assert!(retry_after > Duration::from_secs(29) && retry_after <= Duration::from_secs(30));
    assert_eq!(api.health().breaker, BreakerState::Open);
    assert_eq!(received(&server).await, 6);
}

#[tokio::test]
async fn a_breaker_opening_mid_call_stops_the_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let api = upstream(
        breaker_config(&server)
            .with_retry(fast_retry(10))
            .with_breaker(BreakerConfig {
                failure_threshold: 3,
                ..BreakerConfig::default()
            }),
    );

    let error = api.get("/deals").send().await.unwrap_err();

    assert!(matches!(error, Error::CircuitOpen { .. }), "{error:?}");
    assert_eq!(received(&server).await, 3);
}

// ---------------------------------------------------------------------------------------
// Rate limits

fn one_per_minute_per_lead(server: &MockServer, mode: LimitMode) -> UpstreamConfig {
    config(server)
        .with_limits(ScopeLimits {
            per_lead: Some(RateLimit::per_minute(1)),
            ..ScopeLimits::default()
        })
        .with_limit_mode(mode)
}

#[tokio::test]
async fn the_rate_limiter_refuses_with_the_time_to_retry_and_sends_nothing() {
    let server = MockServer::start().await;
    succeed(&server, "/contacts", 200).await;
    let api = upstream(one_per_minute_per_lead(&server, LimitMode::Refuse));

    api.get("/contacts").lead("lead_1").send().await.unwrap();
    let error = api
        .get("/contacts")
        .lead("lead_1")
        .send()
        .await
        .unwrap_err();

    let Error::RateLimited {
        scope, retry_after, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(*scope, LimitScope::Lead);
    assert!(*retry_after > Duration::from_secs(50), "{retry_after:?}");
    assert!(
        error
            .to_string()
            .starts_with("TestCRM: the per-lead limit (1 per minute) is used up; retry after "),
        "{error}"
    );
    assert_eq!(received(&server).await, 1);
    // Another lead has its own budget.
    api.get("/contacts").lead("lead_2").send().await.unwrap();
    assert_eq!(api.health().rate_limit_hits, 1);
}

#[tokio::test]
async fn the_rate_limiter_in_waiting_mode_waits_for_the_next_slot() {
    let server = MockServer::start().await;
    succeed(&server, "/contacts", 200).await;
    let api = upstream(
        config(&server)
            .with_limits(ScopeLimits {
                per_lead: Some(RateLimit::new(1, Duration::from_millis(150))),
                ..ScopeLimits::default()
            })
            .with_limit_mode(LimitMode::Wait {
                max_wait: Duration::from_secs(2),
            }),
    );

    for _ in 0..3 {
        api.get("/contacts").lead("lead_1").send().await.unwrap();
    }

    assert_eq!(received(&server).await, 3);
    assert!(api.health().rate_limit_hits >= 2);
}

#[tokio::test]
async fn waiting_mode_refuses_when_the_next_slot_is_beyond_the_longest_wait() {
    let server = MockServer::start().await;
    succeed(&server, "/contacts", 200).await;
    let api = upstream(one_per_minute_per_lead(
        &server,
        LimitMode::Wait {
            max_wait: Duration::from_millis(100),
        },
    ));

    api.get("/contacts").lead("lead_1").send().await.unwrap();
    let error = api
        .get("/contacts")
        .lead("lead_1")
        .send()
        .await
        .unwrap_err();

    assert!(error.retry_after().unwrap() > Duration::from_secs(50));
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn a_call_may_choose_to_be_refused_rather_than_wait() {
    let server = MockServer::start().await;
    succeed(&server, "/contacts", 200).await;
    let api = upstream(
        config(&server)
            .with_limits(ScopeLimits {
                per_account: Some(RateLimit::new(1, Duration::from_secs(5))),
                ..ScopeLimits::default()
            })
            .with_limit_mode(LimitMode::Wait {
                max_wait: Duration::from_secs(10),
            }),
    );

    api.get("/contacts").account("acc_1").send().await.unwrap();
    let error = api
        .get("/contacts")
        .account("acc_1")
        .limit_mode(LimitMode::Refuse)
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            Error::RateLimited {
                scope: LimitScope::Account,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_upstreams_own_quota_is_enforced_for_every_call() {
    let server = MockServer::start().await;
    succeed(&server, "/contacts", 200).await;
    let api = upstream(
        config(&server)
            .with_quotas(vec![RateLimit::per_minute(2)])
            .with_limit_mode(LimitMode::Refuse),
    );

    api.get("/contacts").send().await.unwrap();
    api.get("/contacts").lead("lead_9").send().await.unwrap();
    let error = api.get("/contacts").send().await.unwrap_err();

    assert!(
        matches!(
            error,
            Error::RateLimited {
                scope: LimitScope::Upstream,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(received(&server).await, 2);
}

#[test]
fn the_named_upstreams_carry_their_documented_quotas() {
    let hubspot = UpstreamConfig::hubspot();
    assert_eq!(hubspot.base_url, "https://api.hubapi.com");
    assert_eq!(
        hubspot.quotas,
        [
            RateLimit::new(100, Duration::from_secs(10)),
            RateLimit::per_day(250_000)
        ]
    );
    assert_eq!(
        UpstreamConfig::hubspot_enterprise().quotas[1],
        RateLimit::per_day(1_000_000)
    );
    let salesforce = UpstreamConfig::salesforce("https://example.my.salesforce.com");
    assert_eq!(salesforce.quotas, [RateLimit::per_day(100_000)]);
    assert_eq!(salesforce.limits, ScopeLimits::default());
    assert_eq!(
        ScopeLimits::default().per_lead,
        Some(RateLimit::per_minute(10))
    );
}

// ---------------------------------------------------------------------------------------
// Health

#[tokio::test]
async fn the_health_snapshot_is_json_with_a_schema() {
    let server = MockServer::start().await;
    succeed(&server, "/contacts", 200).await;
    let api = upstream(config(&server));
    api.get("/contacts").send().await.unwrap();

    let value = serde_json::to_value(api.health()).unwrap();

    assert_eq!(value["upstream"], "TestCRM");
    assert_eq!(value["breaker"], "closed");
    assert_eq!(value["calls"], 1);
    let back: UpstreamHealth = serde_json::from_value(value).unwrap();
    assert_eq!(back, api.health());
    let schema = serde_json::to_value(schemars::schema_for!(UpstreamHealth)).unwrap();
    assert!(
        schema["properties"]["rate_limit_hits"].is_object(),
        "{schema}"
    );
}

/// A local port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
