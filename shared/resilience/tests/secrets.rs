//! Secrets never leak through the resilience layer: everything it logs at TRACE level, every
//! error it returns and the health snapshot are searched for a bearer token, an API key in
//! the query string, a secret in a request body and one in a response body, across retries,
//! a breaker opening and a refused connection.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience::{BreakerConfig, RetryPolicy, Timeouts, Upstream, UpstreamConfig};
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BEARER: &str = "sk-secret-bearer-0123456789";
const QUERY_KEY: &str = "sk-secret-query-abcdef";
const BODY_SECRET: &str = "sk-secret-request-body";
const ANSWER_SECRET: &str = "sk-secret-answer-body";

/// Everything the subscriber writes, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [BEARER, QUERY_KEY, BODY_SECRET, ANSWER_SECRET, "sk-secret"] {
        assert!(!text.contains(secret), "{what} contains {secret}:\n{text}");
    }
}

#[tokio::test]
async fn trace_logs_errors_and_health_never_contain_tokens_keys_or_bodies() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    // The test's runtime is single-threaded, so every event of the calls lands here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(path("/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/crm/v3/objects/contacts"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": ANSWER_SECRET})),
        )
        .with_priority(5)
        .mount(&server)
        .await;
    Mock::given(path("/broken"))
        .respond_with(ResponseTemplate::new(500).set_body_string(ANSWER_SECRET))
        .mount(&server)
        .await;
    let api = Upstream::new(
        UpstreamConfig::new("TestCRM", server.uri())
            .with_retry(RetryPolicy {
                base: Duration::from_millis(1),
                cap: Duration::from_millis(5),
                max_attempts: 2,
                max_total: Duration::from_secs(5),
            })
            .with_breaker(BreakerConfig {
                failure_threshold: 2,
                ..BreakerConfig::default()
            })
            .with_timeouts(Timeouts {
                connect: Duration::from_secs(1),
                request: Duration::from_secs(2),
            }),
    )
    .unwrap();

    // A read retried after a 503, then answered with a body holding a token.
    let response = api
        .get("/crm/v3/objects/contacts")
        .bearer_auth(BEARER)
        .query(&[("api_key", QUERY_KEY), ("limit", "10")])
        .lead("lead_000001")
        .send()
        .await
        .unwrap();
    assert_eq!(response.attempts(), 2);
    assert!(String::from_utf8_lossy(response.bytes()).contains(ANSWER_SECRET));
    assert_no_secret("a response's Debug", &format!("{response:?}"));

    // A keyed write that keeps failing until the breaker opens, then fails fast.
    let mut errors = Vec::new();
    for _ in 0..2 {
        let error = api
            .post("/broken")
            .bearer_auth(BEARER)
            .query(&[("api_key", QUERY_KEY)])
            .idempotency_key("key-1")
            .json(&serde_json::json!({"password": BODY_SECRET}))
            .send()
            .await
            .unwrap_err();
        errors.push(error);
    }

    // A connection refused on a URL whose query holds the key.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere =
        Upstream::new(UpstreamConfig::new("Nowhere", "").with_retry(RetryPolicy::none())).unwrap();
    errors.push(
        nowhere
            .get(&format!("http://127.0.0.1:{port}/x?api_key={QUERY_KEY}"))
            .bearer_auth(BEARER)
            .send()
            .await
            .unwrap_err(),
    );
    // And a malformed URL holding the key.
    errors.push(
        nowhere
            .get(&format!("http://exa mple.com/x?api_key={QUERY_KEY}"))
            .send()
            .await
            .unwrap_err(),
    );

    let call = api
        .get("/crm/v3/objects/contacts")
        .bearer_auth(BEARER)
        .header("X-Api-Key", QUERY_KEY)
        .query(&[("api_key", QUERY_KEY)]);
    assert_no_secret("a call's Debug", &format!("{call:?}"));

    let logs = captured.text();
    // The capture really saw the calls: retries, the breaker opening, paths, refusals.
    for expected in [
        "retrying outbound call",
        "circuit breaker opened",
        "path=/crm/v3/objects/contacts",
        "outbound call refused",
        "attempt answered",
        "connection failed",
    ] {
        assert!(logs.contains(expected), "no {expected:?} in:\n{logs}");
    }
    assert_no_secret("the TRACE log", &logs);
    for error in &errors {
        assert_no_secret("an error", &error.to_string());
        assert_no_secret("an error's Debug", &format!("{error:?}"));
    }
    for health in [api.health(), nowhere.health()] {
        assert_no_secret("health", &serde_json::to_string(&health).unwrap());
    }
}
