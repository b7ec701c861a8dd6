//! HTTP in production, against the built binaries: browser origins and hosts, request size
//! limits, `/healthz`, Prometheus `/metrics`, a graceful stop on SIGTERM that lets calls in
//! flight finish and records them, and two server processes sharing one Postgres database
//! (one audit chain, caps that hold, single-use confirmation tokens across instances).
#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests probe the suite's own HTTP server directly, not an upstream"
)]

mod util;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use revops::client::{self, Handshake, Session};
use serde_json::{Value, json};
use util::*;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"http-ops","version":"1"}}}"#;

/// POSTs an MCP `initialize` to `/mcp` with `headers`, and returns the status.
async fn initialize_with(bind: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("http://{bind}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INITIALIZE);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// `/metrics` as text, with `token` when given; panics unless it answers 200.
async fn scrape(bind: &str, token: Option<&str>) -> String {
    let mut request = reqwest::Client::new().get(format!("http://{bind}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The value of the sample `series` (name and labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

async fn healthz(bind: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{bind}/healthz"))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The audit summary of `revops audit verify`, which must pass.
fn verify_audit(url: &str) -> Value {
    let verify = std::process::Command::new(binary("revops"))
        .args(["audit", "verify", "--json", "--database-url", url])
        .env("REVOPS_CONFIG", "none")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert!(
        verify.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    report["summary"].clone()
}

/// Waits (bounded) until the verified chain holds `expected` entries, and returns the summary:
/// successful reads reach the log through each server's background writer.
async fn audit_with_entries(url: &str, expected: i64) -> Value {
    let mut summary = Value::Null;
    for _ in 0..100 {
        summary = verify_audit(url);
        if summary["entries"].as_i64() >= Some(expected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    summary
}

/// What the shutdown test does to a server it started.
trait Stoppable {
    /// Sends SIGTERM.
    fn terminate(&self);
    async fn exit_status(&mut self) -> std::process::ExitStatus;
    /// Whether the server still accepts new connections.
    fn accepts_connections(&self) -> bool;
}

impl Stoppable for HttpServer {
    fn terminate(&self) {
        let pid = self.child.0.id().unwrap();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the process to exit (it must, within a minute) and returns its status.
    async fn exit_status(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(60), self.child.0.wait())
            .await
            .expect("the server exited after SIGTERM")
            .unwrap()
    }

    fn accepts_connections(&self) -> bool {
        std::net::TcpStream::connect(&self.bind).is_ok()
    }
}

async fn open_store(db: &SeededDatabase) -> store::Store {
    store::Store::open(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_browser_origin_that_is_not_allowed_is_refused() {
    let db = seeded_sqlite().await;
    let mut env = server_env(&db, "rep");
    env.push((
        "REVOPS_ALLOWED_ORIGINS",
        "https://app.example.com, http://tools.example.com:8080",
    ));
    let server = start_http(&binary("revops-marketing"), &["--transport", "http"], &env).await;
    let bind = server.bind.as_str();

    for origin in [
        "https://evil.example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "http://tools.example.com",
        "http://localhost.evil.example.com",
        "https://localhost",
        "null",
        "not an origin",
    ] {
        assert_eq!(
            initialize_with(bind, &[("origin", origin)]).await,
            403,
            "{origin} is refused"
        );
    }
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:3000",
        "http://[::1]:8080",
        "http://localhost",
        "https://app.example.com",
        "https://APP.example.com:443",
        "http://tools.example.com:8080",
    ] {
        assert_eq!(
            initialize_with(bind, &[("origin", origin)]).await,
            200,
            "{origin} is allowed"
        );
    }
    // A client that is not a browser sends no Origin and is served as before.
    assert_eq!(initialize_with(bind, &[]).await, 200);
    // The Host check (a rebound DNS name) still holds.
    assert_eq!(
        initialize_with(bind, &[("host", "evil.example.com")]).await,
        403
    );
    // The other endpoints refuse a foreign page too.
    let health = reqwest::Client::new()
        .get(format!("http://{bind}/healthz"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 403);
    let metrics = reqwest::Client::new()
        .get(format!("http://{bind}/metrics"))
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        metrics.status(),
        403,
        "without a token, /metrics answers only its own hosts"
    );

    let session = client::connect_http(
        &format!("http://{bind}/mcp"),
        None,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    client::call_ok(
        &session,
        "get_campaign",
        json!({"campaign_id": "cmp_000001"}),
    )
    .await
    .unwrap();
    session.cancel().await.unwrap();
}

#[tokio::test]
async fn a_bad_http_setting_stops_the_server_with_its_reason() {
    let db = seeded_sqlite().await;
    for (variable, value) in [
        ("REVOPS_ALLOWED_ORIGINS", "app.example.com"),
        ("REVOPS_HTTP_MAX_BODY_BYTES", "a lot"),
        ("REVOPS_SHUTDOWN_GRACE_SECONDS", "-1"),
    ] {
        let output = std::process::Command::new(binary("revops-marketing"))
            .args(["--transport", "http", "--bind", "127.0.0.1:0"])
            .envs(server_env(&db, "rep"))
            .env(variable, value)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}={value} starts");
        assert!(stderr.contains(variable), "{stderr}");
    }
}

#[tokio::test]
async fn an_oversized_request_is_refused_and_the_server_keeps_serving() {
    const LIMIT: usize = 64 * 1024;
    let db = seeded_sqlite().await;
    let mut env = server_env(&db, "rep");
    let limit = LIMIT.to_string();
    env.push(("REVOPS_HTTP_MAX_BODY_BYTES", &limit));
    let server = start_http(&binary("revops-marketing"), &["--transport", "http"], &env).await;
    let bind = server.bind.clone();

    // Declared too large: refused on its Content-Length.
    let padding = "x".repeat(LIMIT + 1);
    let oversized = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"_meta":{{"padding":"{padding}"}}}}}}"#
    );
    let refused = reqwest::Client::new()
        .post(format!("http://{bind}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(oversized.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);

    // Streamed without a length (chunked): refused once the limit is passed.
    let mut stream = std::net::TcpStream::connect(&bind).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {bind}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    for piece in oversized.as_bytes().chunks(8 * 1024) {
        stream
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .unwrap();
        stream.write_all(piece).unwrap();
        stream.write_all(b"\r\n").unwrap();
    }
    stream.write_all(b"0\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "a chunked body over the limit is refused: {answer}"
    );

    // The server keeps serving, and a request within the limit is served.
    let session = client::connect_http(
        &format!("http://{bind}/mcp"),
        None,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let campaign = client::call_ok(
        &session,
        "get_campaign",
        json!({"campaign_id": "cmp_000001"}),
    )
    .await
    .unwrap();
    assert_eq!(campaign["id"], "cmp_000001");
    session.cancel().await.unwrap();
    let (status, _) = healthz(&bind).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn healthz_reports_the_store_and_migrations() {
    let db = seeded_sqlite().await;
    let mut env = server_env(&db, "rep");
    env.push(("REVOPS_HTTP_TOKEN", "healthz-secret-token"));
    let server = start_http(&binary("revops-marketing"), &["--transport", "http"], &env).await;
    let bind = server.bind.clone();

    // No token needed: load balancers probe without one.
    let (status, health) = healthz(&bind).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["servers"], json!(["marketing"]));
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        health["store"],
        json!({"backend": "sqlite", "reachable": true})
    );
    assert_eq!(health["migrations"]["current"], true);
    assert_eq!(
        health["migrations"]["applied"],
        health["migrations"]["known"]
    );
    assert!(health["migrations"]["known"].as_i64().unwrap() > 0);
    assert_eq!(health["upstreams"], json!([]), "no CRM has been opened yet");
    let text = health.to_string();
    let path = db.url.trim_start_matches("sqlite://");
    assert!(
        !text.contains(path) && !text.contains("healthz-secret-token"),
        "{text}"
    );

    // A database behind this build (restored from an older backup) is not healthy.
    let store = open_store(&db).await;
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    let (status, health) = healthz(&bind).await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["migrations"]["current"], false);
    let reason = health["reason"].as_str().unwrap();
    assert!(
        reason.contains("migration") && reason.contains("revops db migrate"),
        "{reason}"
    );
    assert!(!health.to_string().contains(path));
}

#[tokio::test]
async fn metrics_count_calls_by_tool_and_outcome() {
    const CAP: i64 = 50_000_000;
    const TOKEN: &str = "metrics-token";
    let db = seeded_sqlite().await;
    let mut env = server_env(&db, "rep");
    env.push(("REVOPS_HTTP_TOKEN", TOKEN));
    let cap = CAP.to_string();
    env.push(("REVOPS_MONTHLY_SPEND_CAP_MINOR", &cap));
    let server = start_http(&binary("revops-marketing"), &["--transport", "http"], &env).await;
    let bind = server.bind.clone();

    // The same bearer token as /mcp.
    let anonymous = reqwest::get(format!("http://{bind}/metrics"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = reqwest::Client::new()
        .get(format!("http://{bind}/metrics"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let before = scrape(&bind, Some(TOKEN)).await;
    let entries_before = sample(&before, "mcp_audit_entries").unwrap();

    let session = client::connect_http(
        &format!("http://{bind}/mcp"),
        Some(TOKEN),
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    for _ in 0..2 {
        client::call_ok(
            &session,
            "get_campaign",
            json!({"campaign_id": "cmp_000001"}),
        )
        .await
        .unwrap();
    }
    let missing = client::call(
        &session,
        "get_campaign",
        json!({"campaign_id": "cmp_999999"}),
    )
    .await
    .unwrap();
    assert_eq!(missing.is_error, Some(true));
    // A rep may not delete a campaign: denied, and recorded as such.
    let denied = client::call(
        &session,
        "delete_campaign",
        json!({"campaign_id": "cmp_000001"}),
    )
    .await
    .unwrap();
    assert_eq!(denied.is_error, Some(true), "{}", client::text_of(&denied));
    session.cancel().await.unwrap();

    // Successful reads reach the audit log through the background writer: wait for them.
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&bind, Some(TOKEN)).await;
        if sample(&text, "mcp_audit_entries") >= Some(entries_before + 4.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&text, "mcp_audit_entries"),
        Some(entries_before + 4.0),
        "{text}"
    );
    let summary = verify_audit(&db.url);
    assert_eq!(
        sample(&text, "mcp_audit_entries"),
        summary["entries"].as_f64()
    );

    let get_campaign = r#"server="marketing",tool="get_campaign""#;
    let delete_campaign = r#"server="marketing",tool="delete_campaign""#;
    for (series, value) in [
        (
            format!("mcp_actions_total{{{get_campaign},outcome=\"ok\"}}"),
            2.0,
        ),
        (
            format!("mcp_actions_total{{{get_campaign},outcome=\"error\"}}"),
            1.0,
        ),
        (
            format!("mcp_actions_total{{{get_campaign},outcome=\"denied\"}}"),
            0.0,
        ),
        (
            format!("mcp_actions_total{{{delete_campaign},outcome=\"denied\"}}"),
            1.0,
        ),
        (
            format!("mcp_actions_total{{{delete_campaign},outcome=\"ok\"}}"),
            0.0,
        ),
        (
            format!("mcp_action_duration_seconds_bucket{{{get_campaign},le=\"+Inf\"}}"),
            3.0,
        ),
        (
            format!("mcp_action_duration_seconds_count{{{get_campaign}}}"),
            3.0,
        ),
        ("mcp_http_requests_in_flight".to_string(), 0.0),
    ] {
        assert_eq!(sample(&text, &series), Some(value), "{series}\n{text}");
    }
    // Buckets are cumulative and end at the count.
    let buckets: Vec<f64> = text
        .lines()
        .filter(|line| {
            line.starts_with(&format!(
                "mcp_action_duration_seconds_bucket{{{get_campaign}"
            ))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), 14, "13 bounds and +Inf");
    assert!(
        buckets.windows(2).all(|pair| pair[0] <= pair[1]),
        "{buckets:?}"
    );
    assert!(
        sample(
            &text,
            &format!("mcp_action_duration_seconds_sum{{{get_campaign}}}")
        )
        .unwrap()
            >= 0.0
    );
    // A denied call never ran, so it is not timed.
    assert_eq!(
        sample(
            &text,
            &format!("mcp_action_duration_seconds_count{{{delete_campaign}}}")
        ),
        None
    );

    // The organisation's monthly headroom, as the budget sees it.
    let store = open_store(&db).await;
    let month = &store::clock::now()[..7];
    let held =
        store::campaigns::held_between(&store, &format!("{month}-01"), &format!("{month}-31"))
            .await
            .unwrap();
    store.close().await;
    assert_eq!(
        sample(&text, "mcp_budget_headroom_minor"),
        Some((CAP - held).max(0) as f64)
    );

    // Well-formed exposition: each family announced once, before its samples.
    for family in [
        "mcp_actions_total",
        "mcp_action_duration_seconds",
        "mcp_circuit_breaker_state",
        "mcp_rate_limit_violations_total",
        "mcp_audit_entries",
        "mcp_budget_headroom_minor",
        "mcp_http_requests_in_flight",
    ] {
        let help = format!("# HELP {family} ");
        let kind = format!("# TYPE {family} ");
        assert_eq!(text.matches(&help).count(), 1, "{family}");
        assert_eq!(text.matches(&kind).count(), 1, "{family}");
        let announced = text.find(&kind).unwrap();
        if let Some(first) = text
            .lines()
            .position(|line| !line.starts_with('#') && line.starts_with(family))
        {
            let first_offset: usize = text.lines().take(first).map(|l| l.len() + 1).sum();
            assert!(announced < first_offset, "{family}");
        }
    }
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(series.starts_with("mcp_"), "{line}");
        assert_eq!(series.contains('{'), series.ends_with('}'), "{line}");
    }
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_call_finish_and_records_it() {
    let db = seeded_sqlite().await;
    let mut env = server_env(&db, "rep");
    // Longer than this test can take, so only the calls' end can end the wait.
    env.push(("REVOPS_SHUTDOWN_GRACE_SECONDS", "120"));
    let mut server = start_http(&binary("revops-marketing"), &["--transport", "http"], &env).await;
    let bind = server.bind.clone();
    let session = client::connect_http(
        &format!("http://{bind}/mcp"),
        None,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();

    // Hold the database's write lock, so a write call waits inside the server for as long
    // as this test wants it to.
    let store = open_store(&db).await;
    let lock = store.begin_write().await.unwrap();

    // A read is answered at once; its audit entry waits in the server's queue for the lock.
    client::call_ok(
        &session,
        "get_campaign",
        json!({"campaign_id": "cmp_000001"}),
    )
    .await
    .unwrap();

    let request_id = "sigterm-in-flight-1";
    let write = client::call(
        &session,
        "create_campaign",
        json!({"name": "Started before SIGTERM", "channel": "email", "starts_on": "2027-01-04",
               "lifetime_cap_minor": 100_000, "request_id": request_id}),
    );
    let stop_while_the_write_waits = async {
        // The write is in flight once the server counts it.
        let mut in_flight = false;
        for _ in 0..400 {
            let text = scrape(&bind, None).await;
            if sample(&text, "mcp_http_requests_in_flight") == Some(1.0) {
                in_flight = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(in_flight, "the write call reached the server");
        server.terminate();
        // The listener closes at the signal: no new connections.
        let mut closed = false;
        for _ in 0..400 {
            if !server.accepts_connections() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(
            closed,
            "the server stopped accepting connections after SIGTERM"
        );
        lock.rollback().await.unwrap();
    };
    // Bounded, so a call cut off by the stop fails the test instead of hanging it.
    let write = tokio::time::timeout(Duration::from_secs(60), write);
    let (answer, ()) = tokio::join!(write, stop_while_the_write_waits);
    let answer = answer
        .expect("the call in flight was answered before the server stopped")
        .unwrap();
    assert_ne!(answer.is_error, Some(true), "{}", client::text_of(&answer));
    let created = answer.structured_content.unwrap();
    assert_eq!(created["created"], true);
    let campaign_id = created["campaign"]["id"].as_str().unwrap().to_string();
    drop(session);

    let status = server.exit_status().await;
    assert!(status.success(), "a SIGTERM stop exits 0, got {status}");

    // The write and the queued read are both in the audit log (in either order: both waited
    // for the lock), in one valid chain.
    let mut rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT tool, outcome FROM audit_log WHERE tool IN ('create_campaign', 'get_campaign')",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("create_campaign".to_string(), "ok".to_string()),
            ("get_campaign".to_string(), "ok".to_string())
        ]
    );
    let name: String = sqlx::query_scalar("SELECT name FROM campaigns WHERE id = $1")
        .bind(&campaign_id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(name, "Started before SIGTERM");
    store.close().await;
    verify_audit(&db.url);
}

/// Today (UTC), `YYYY-MM-DD`.
fn today() -> String {
    store::clock::now()[..10].to_string()
}

async fn create_running_campaign(session: &Session, name: &str, cap: i64) -> String {
    let created = client::call_ok(
        session,
        "create_campaign",
        json!({"name": name, "channel": "paid_social", "starts_on": today(), "lifetime_cap_minor": cap}),
    )
    .await
    .unwrap();
    let id = created["campaign"]["id"].as_str().unwrap().to_string();
    let launched = client::call_ok(
        session,
        "launch_campaign",
        json!({"campaign_id": id, "reserve_minor": 0}),
    )
    .await
    .unwrap();
    assert_eq!(launched["campaign"]["status"], "active", "{launched}");
    id
}

#[tokio::test]
async fn two_instances_on_one_postgres_keep_one_audit_chain_and_the_caps() {
    const CAP: i64 = 10_000;
    const SPENDS: usize = 60;
    let Some(db) = seeded_postgres("two_instances_on_one_postgres_keep_one_audit_chain").await
    else {
        return;
    };
    let env = server_env(&db, "manager");
    let first = start_http(&binary("revops-marketing"), &["--transport", "http"], &env).await;
    let second = start_http(&binary("revops-marketing"), &["--transport", "http"], &env).await;
    let a = client::connect_http(
        &format!("http://{}/mcp", first.bind),
        None,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let b = client::connect_http(
        &format!("http://{}/mcp", second.bind),
        None,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let entries_before = verify_audit(&db.url)["entries"].as_i64().unwrap();
    let mut calls_made: i64 = 0;

    // Spend from both instances at once, asking for more than the cap; reads beside them.
    let id = create_running_campaign(&a, "Two instances", CAP).await;
    calls_made += 2;
    let day = today();
    let spends = (0..SPENDS).map(|i| {
        let session = if i % 2 == 0 { &a } else { &b };
        let args = json!({"campaign_id": id, "amount_minor": 300, "spend_date": day,
                          "request_id": format!("two-instances-{i}")});
        async move { client::call(session, "record_spend", args).await.unwrap() }
    });
    let reads = (0..SPENDS).map(|i| {
        let session = if i % 2 == 0 { &b } else { &a };
        async move {
            client::call_ok(
                session,
                "get_campaign",
                json!({"campaign_id": "cmp_000001"}),
            )
            .await
            .unwrap()
        }
    });
    let (spent, _) = tokio::join!(
        futures::future::join_all(spends),
        futures::future::join_all(reads)
    );
    calls_made += 2 * SPENDS as i64;
    let accepted = spent.iter().filter(|r| r.is_error != Some(true)).count() as i64;
    for refused in spent.iter().filter(|r| r.is_error == Some(true)) {
        let reason = client::text_of(refused);
        assert!(reason.contains("lifetime cap"), "{reason}");
    }
    let committed = client::call_ok(&b, "get_campaign", json!({"campaign_id": id}))
        .await
        .unwrap()["spent_minor"]
        .as_i64()
        .unwrap();
    calls_made += 1;
    assert_eq!(
        committed,
        accepted * 300,
        "every accepted spend, and only those"
    );
    assert!(committed <= CAP, "{committed} > {CAP}");
    assert_eq!(accepted, CAP / 300, "the cap is filled as far as 300s fit");

    // A confirmation token issued by one instance works once, on the other.
    let doomed = client::call_ok(
        &a,
        "create_campaign",
        json!({"name": "To delete", "channel": "email", "starts_on": day, "lifetime_cap_minor": 1_000}),
    )
    .await
    .unwrap()["campaign"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let preview = client::call_ok(&a, "delete_campaign", json!({"campaign_id": doomed}))
        .await
        .unwrap();
    calls_made += 2;
    assert_eq!(preview["status"], "preview");
    let confirm = json!({"campaign_id": doomed,
                         "confirm_token": preview["confirmation"]["confirm_token"].clone()});
    let done = client::call_ok(&b, "delete_campaign", confirm.clone())
        .await
        .unwrap();
    calls_made += 1;
    assert_eq!(done["status"], "done");
    let (replay_b, replay_a) = tokio::join!(
        client::call(&b, "delete_campaign", confirm.clone()),
        client::call(&a, "delete_campaign", confirm.clone())
    );
    calls_made += 2;
    for replay in [replay_b.unwrap(), replay_a.unwrap()] {
        assert_eq!(replay.is_error, Some(true));
        let reason = client::text_of(&replay);
        assert!(reason.contains("already been used"), "{reason}");
    }
    let gone = client::call(&a, "get_campaign", json!({"campaign_id": doomed}))
        .await
        .unwrap();
    calls_made += 1;
    assert!(client::text_of(&gone).contains("no campaign has id"));
    for session in [a, b] {
        session.cancel().await.unwrap();
    }

    // One chain, no gaps, every call of both instances in it.
    let summary = audit_with_entries(&db.url, entries_before + calls_made).await;
    assert_eq!(
        summary["entries"].as_i64(),
        Some(entries_before + calls_made),
        "{summary}"
    );
    drop((first, second));
}
