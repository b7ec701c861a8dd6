//! The HubSpot connector against a local server that misbehaves on purpose (wiremock): 429
//! with `Retry-After` during a sync, bursts of 500/503, a hanging answer, an expired access
//! token under concurrent calls, a rotating refresh token, a 400 that must not be retried, a
//! sync interrupted and resumed, a retried push. Every test captures the logs at TRACE level
//! and checks that no token appears in them or in any error.

#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Setup, capture, external_ids, lead_count, local_lead, requests_to, secret, setup, setup_on,
};
use connectors::auth::Auth;
use connectors::hubspot::ObjectType;
use connectors::sync::SyncKind;
use connectors::{ConnectorError, HubSpot, HubSpotConfig, PushAction};
use resilience::{BreakerConfig, BreakerState, RetryPolicy, Timeouts, UpstreamConfig};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PRIVATE_APP_TOKEN: &str = "pat-na1-secret-0000-private-app";
const EXPIRED_ACCESS: &str = "expired-access-secret-1111";
const FRESH_ACCESS: &str = "fresh-access-secret-2222";
const SECOND_ACCESS: &str = "second-access-secret-3333";
const REFRESH: &str = "original-refresh-secret-4444";
const ROTATED_REFRESH: &str = "rotated-refresh-secret-5555";
const THIRD_REFRESH: &str = "third-refresh-secret-6666";
const CLIENT_SECRET: &str = "client-secret-7777";
const SECRETS: &[&str] = &[
    PRIVATE_APP_TOKEN,
    EXPIRED_ACCESS,
    FRESH_ACCESS,
    SECOND_ACCESS,
    REFRESH,
    ROTATED_REFRESH,
    THIRD_REFRESH,
    CLIENT_SECRET,
];

const SEARCH: &str = "/crm/v3/objects/contacts/search";
const TOKEN: &str = "/oauth/v1/token";

/// Fast retries, a short timeout, and a breaker that stays closed through a test's faults.
fn config(server: &MockServer) -> HubSpotConfig {
    let api = UpstreamConfig::new("HubSpot", server.uri())
        .with_retry(RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(10),
            max_attempts: 4,
            max_total: Duration::from_secs(5),
        })
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_millis(300),
        })
        .with_breaker(BreakerConfig {
            failure_threshold: 50,
            ..BreakerConfig::default()
        });
    HubSpotConfig {
        api,
        ..HubSpotConfig::default()
    }
}

async fn with_private_app(setup: &Setup) -> HubSpot {
    setup
        .vault
        .put("hubspot", "private_app_token", secret(PRIVATE_APP_TOKEN))
        .await
        .unwrap();
    HubSpot::from_vault(Arc::clone(&setup.vault), config(&setup.server))
        .await
        .unwrap()
}

async fn with_oauth(setup: &Setup, access: Option<&str>) -> HubSpot {
    let vault = &setup.vault;
    vault
        .put("hubspot", "client_id", secret("client-id-1"))
        .await
        .unwrap();
    vault
        .put("hubspot", "client_secret", secret(CLIENT_SECRET))
        .await
        .unwrap();
    vault
        .put("hubspot", "refresh_token", secret(REFRESH))
        .await
        .unwrap();
    if let Some(access) = access {
        vault
            .put("hubspot", "access_token", secret(access))
            .await
            .unwrap();
    }
    let hubspot = HubSpot::from_vault(Arc::clone(vault), config(&setup.server))
        .await
        .unwrap();
    assert!(matches!(hubspot.auth(), Auth::OAuth(_)));
    hubspot
}

fn contact(id: u32) -> Value {
    json!({
        "id": id.to_string(),
        "properties": {
            "email": format!("person{id}@example.com"),
            "firstname": format!("First{id}"),
            "lastname": "Person",
            "company": "Example Ltd",
            "numemployees": "25-50",
            "country": "Germany",
        },
        "updatedAt": "2026-11-20T10:00:00Z",
        "archived": false,
    })
}

fn page(ids: &[u32], next: Option<&str>) -> ResponseTemplate {
    let results: Vec<Value> = ids.iter().map(|id| contact(*id)).collect();
    let mut body = json!({ "total": results.len(), "results": results });
    if let Some(next) = next {
        body["paging"] = json!({ "next": { "after": next } });
    }
    ResponseTemplate::new(200).set_body_json(body)
}

/// Matches a search whose body asks for the page after `after` (`None`: the first page).
struct After(Option<&'static str>);

impl wiremock::Match for After {
    fn matches(&self, request: &Request) -> bool {
        serde_json::from_slice::<Value>(&request.body)
            .ok()
            .is_some_and(|body| body.get("after").and_then(Value::as_str) == self.0)
    }
}

async fn search_page(server: &MockServer, after: Option<&'static str>, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(After(after))
        .respond_with(answer)
        .mount(server)
        .await;
}

async fn searches_after(server: &MockServer, after: Option<&str>) -> usize {
    requests_to(server, SEARCH)
        .await
        .iter()
        .filter(|r| {
            serde_json::from_slice::<Value>(&r.body)
                .unwrap()
                .get("after")
                .and_then(Value::as_str)
                == after
        })
        .count()
}

async fn a_429_with_retry_after_during_a_sync_is_waited_out_and_no_record_is_lost_or_duplicated(
    setup: Setup,
) {
    let (logs, _guard) = capture();
    let hubspot = with_private_app(&setup).await;
    search_page(&setup.server, None, page(&[1, 2], Some("2"))).await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(After(Some("2")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    search_page(&setup.server, Some("2"), page(&[3, 4], None)).await;

    let started = std::time::Instant::now();
    let report = connectors::sync_from_crm(&setup.store, &hubspot, SyncKind::Leads, 10)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(
        (report.pages, report.created, report.complete),
        (2, 4, true)
    );
    assert_eq!(searches_after(&setup.server, Some("2")).await, 2);
    assert_eq!(external_ids(&setup.store).await, ["1", "2", "3", "4"]);

    // Running it again creates nothing: the records are matched by their remote id.
    let again = connectors::sync_from_crm(&setup.store, &hubspot, SyncKind::Leads, 10)
        .await
        .unwrap();
    assert_eq!((again.created, again.unchanged), (0, 4));
    assert_eq!(lead_count(&setup.store).await, 4);

    let cursor = store::sync::get(&setup.store, "hubspot", "leads")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.page_cursor, None);
    assert!(cursor.synced_through.is_some());
    assert_eq!(cursor.records_created, 4);
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn bursts_of_500_and_503_are_retried_until_the_call_succeeds() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_private_app(&setup).await;
    let record = "/crm/v3/objects/contacts/7";
    Mock::given(method("GET"))
        .and(path(record))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(path(record))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(2)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(path(record))
        .and(header(
            "authorization",
            format!("Bearer {PRIVATE_APP_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact(7)))
        .with_priority(3)
        .mount(&setup.server)
        .await;

    let got = hubspot.get(ObjectType::Contacts, "7").await.unwrap();
    assert_eq!(got.property("email"), Some("person7@example.com"));
    assert_eq!(requests_to(&setup.server, record).await.len(), 4);
    assert_eq!(hubspot.upstream().breaker().state(), BreakerState::Closed);
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_hanging_response_times_out_and_the_error_says_so() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let mut config = config(&setup.server);
    config.api.retry.max_attempts = 2;
    setup
        .vault
        .put("hubspot", "private_app_token", secret(PRIVATE_APP_TOKEN))
        .await
        .unwrap();
    let hubspot = HubSpot::from_vault(Arc::clone(&setup.vault), config)
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/deals/5"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&setup.server)
        .await;

    let started = std::time::Instant::now();
    let error = hubspot.get(ObjectType::Deals, "5").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(
            error,
            ConnectorError::Upstream(resilience::Error::Timeout { attempts: 2, .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("did not answer"), "{error}");
    assert!(error.is_transient());
    common::assert_none_of("the error", &error.to_string(), SECRETS);
    logs.assert_none_of(SECRETS);
}

#[tokio::test(flavor = "current_thread")]
async fn an_expired_access_token_is_refreshed_once_however_many_calls_fail_with_it() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_oauth(&setup, Some(EXPIRED_ACCESS)).await;
    Mock::given(method("POST"))
        .and(path(TOKEN))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(REFRESH))
        .respond_with(
            ResponseTemplate::new(200)
                // A slow token endpoint: every call has failed with the old token and is
                // waiting for the one refresh.
                .set_delay(Duration::from_millis(100))
                .set_body_json(json!({"access_token": FRESH_ACCESS, "expires_in": 1800, "token_type": "bearer"})),
        )
        .expect(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("Bearer {EXPIRED_ACCESS}").as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"category": "EXPIRED_AUTHENTICATION"})),
        )
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("Bearer {FRESH_ACCESS}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact(11)))
        .mount(&setup.server)
        .await;

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let hubspot = hubspot.clone();
            tokio::spawn(async move { hubspot.get(ObjectType::Contacts, "11").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().id, "11");
    }
    assert_eq!(requests_to(&setup.server, TOKEN).await.len(), 1);
    let Auth::OAuth(session) = hubspot.auth() else {
        panic!("not OAuth")
    };
    assert_eq!(session.refreshes(), 1);
    // The capture works: the refresh and the attempts are in the log, their tokens are not.
    assert!(logs.text().contains("access token refreshed"));
    assert!(logs.text().contains("attempt answered"));
    logs.assert_none_of(SECRETS);
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_first_calls_without_an_access_token_share_one_refresh() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_oauth(&setup, None).await;
    Mock::given(method("POST"))
        .and(path(TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(50))
                .set_body_json(json!({"access_token": FRESH_ACCESS, "expires_in": 1800})),
        )
        .expect(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("Bearer {FRESH_ACCESS}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact(12)))
        .mount(&setup.server)
        .await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let hubspot = hubspot.clone();
            tokio::spawn(async move { hubspot.get(ObjectType::Contacts, "12").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(requests_to(&setup.server, TOKEN).await.len(), 1);
    logs.assert_none_of(SECRETS);
}

/// A token endpoint that rotates the refresh token on each refresh (REFRESH, then
/// ROTATED_REFRESH, then THIRD_REFRESH), with access tokens that expire within the 60 s
/// refresh-ahead margin, so every call refreshes first; and a company to fetch.
async fn rotating_token_endpoint_and_a_company(setup: &Setup) {
    Mock::given(method("POST"))
        .and(path(TOKEN))
        .and(body_string_contains(REFRESH))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": FRESH_ACCESS, "refresh_token": ROTATED_REFRESH, "expires_in": 30}),
        ))
        .expect(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN))
        .and(body_string_contains(ROTATED_REFRESH))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": SECOND_ACCESS, "refresh_token": THIRD_REFRESH, "expires_in": 30}),
        ))
        .expect(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/companies/3"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "3", "properties": {"name": "Acme"}})),
        )
        .mount(&setup.server)
        .await;
}

#[tokio::test]
async fn a_rotated_refresh_token_is_saved_to_the_vault_and_used_for_the_next_refresh() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_oauth(&setup, None).await;
    rotating_token_endpoint_and_a_company(&setup).await;

    hubspot.get(ObjectType::Companies, "3").await.unwrap();
    assert_eq!(
        eventually_stored(&setup, ROTATED_REFRESH).await,
        ROTATED_REFRESH
    );

    hubspot.get(ObjectType::Companies, "3").await.unwrap();
    assert_eq!(
        eventually_stored(&setup, THIRD_REFRESH).await,
        THIRD_REFRESH
    );

    let calls = requests_to(&setup.server, "/crm/v3/objects/companies/3").await;
    let auth: Vec<_> = calls
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        auth,
        [
            format!("Bearer {FRESH_ACCESS}"),
            format!("Bearer {SECOND_ACCESS}")
        ]
    );
    logs.assert_none_of(SECRETS);
}

/// The refresh token the vault holds for HubSpot now.
async fn stored_refresh(setup: &Setup) -> String {
    let stored = setup.vault.get("hubspot", "refresh_token").await.unwrap();
    secrecy::ExposeSecret::expose_secret(&stored).to_owned()
}

/// The refresh token the vault holds once it is `expected`, or after 5 s: a rotated token
/// is saved by a task of its own, which a busy machine may run late.
async fn eventually_stored(setup: &Setup, expected: &str) -> String {
    let mut stored = stored_refresh(setup).await;
    for _ in 0..200 {
        if stored == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        stored = stored_refresh(setup).await;
    }
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_tool_transaction_a_rotating_refresh_answers_at_once_and_is_saved_when_it_ends() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_oauth(&setup, None).await;
    rotating_token_endpoint_and_a_company(&setup).await;

    // A tool's write transaction holds SQLite's write lock for this process, as a sync
    // does while it pulls pages.
    let tool_transaction = setup.store.begin_write().await.unwrap();
    // Each call refreshes and rotates; neither waits for the transaction (the busy
    // timeout is 30 s: a call that waited for it would fail this bound, not just be slow).
    for _ in 0..2 {
        tokio::time::timeout(
            Duration::from_secs(20),
            hubspot.get(ObjectType::Companies, "3"),
        )
        .await
        .expect("the call does not wait for the tool's transaction")
        .unwrap();
    }
    // The second refresh spent the rotated token, kept in memory, not the original.
    assert_eq!(
        stored_refresh(&setup).await,
        REFRESH,
        "nothing could be written yet"
    );
    tool_transaction.commit().await.unwrap();
    // Saved as soon as the transaction ends: the newest rotation is in the vault.
    assert_eq!(
        eventually_stored(&setup, THIRD_REFRESH).await,
        THIRD_REFRESH
    );
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_refused_refresh_says_to_re_authorise_without_naming_any_token() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_oauth(&setup, None).await;
    Mock::given(method("POST"))
        .and(path(TOKEN))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"status": "BAD_REFRESH_TOKEN", "message": format!("refresh token {REFRESH} is invalid")}),
        ))
        .expect(1)
        .mount(&setup.server)
        .await;
    let error = hubspot.get(ObjectType::Contacts, "1").await.unwrap_err();
    // The same refused refresh token is not sent again; a new one would be.
    let again = hubspot.get(ObjectType::Contacts, "1").await.unwrap_err();
    assert!(matches!(
        again,
        ConnectorError::RefreshRefused { status: 400, .. }
    ));
    assert_eq!(requests_to(&setup.server, TOKEN).await.len(), 1);
    assert!(
        matches!(error, ConnectorError::RefreshRefused { status: 400, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("revops vault set hubspot refresh_token")
    );
    common::assert_none_of("the error", &format!("{error} {error:?}"), SECRETS);
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_400_is_not_retried_and_the_error_keeps_only_its_category() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_private_app(&setup).await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid: secret-value@example.com",
        })))
        .mount(&setup.server)
        .await;
    let properties = [("email".to_owned(), "bad".to_owned())]
        .into_iter()
        .collect();
    let error = hubspot
        .create(ObjectType::Contacts, &properties, "key-1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            ConnectorError::Rejected { status: 400, category: Some(c), .. } if c == "VALIDATION_ERROR"
        ),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert_eq!(
        requests_to(&setup.server, "/crm/v3/objects/contacts")
            .await
            .len(),
        1
    );
    common::assert_none_of("the error", &format!("{error} {error:?}"), SECRETS);
    logs.assert_none_of(SECRETS);
}

async fn a_sync_interrupted_mid_way_resumes_from_its_cursor_and_keeps_each_record_once(
    setup: Setup,
) {
    let (logs, _guard) = capture();
    let hubspot = with_private_app(&setup).await;
    search_page(&setup.server, None, page(&[1, 2], Some("p2"))).await;
    search_page(&setup.server, Some("p2"), page(&[3, 4], Some("p3"))).await;
    // The third page fails for the whole first run (four attempts), then recovers.
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(After(Some("p3")))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(4)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    search_page(&setup.server, Some("p3"), page(&[5, 6], None)).await;

    let error = connectors::sync_from_crm(&setup.store, &hubspot, SyncKind::Leads, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::SyncInterrupted {
                pages: 2,
                records: 4,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    let cursor = store::sync::get(&setup.store, "hubspot", "leads")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.page_cursor.as_deref(), Some("p3"));
    assert!(cursor.last_error.as_deref().unwrap().contains("HTTP 500"));
    assert_eq!(external_ids(&setup.store).await, ["1", "2", "3", "4"]);

    let report = connectors::sync_from_crm(&setup.store, &hubspot, SyncKind::Leads, 10)
        .await
        .unwrap();
    assert!(report.resumed && report.complete);
    assert_eq!((report.pages, report.created), (1, 2));
    assert_eq!(
        searches_after(&setup.server, None).await,
        1,
        "the pass restarted"
    );
    assert_eq!(
        external_ids(&setup.store).await,
        ["1", "2", "3", "4", "5", "6"]
    );
    assert_eq!(lead_count(&setup.store).await, 6);
    let cursor = store::sync::get(&setup.store, "hubspot", "leads")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cursor.page_cursor, cursor.last_error), (None, None));
    assert_eq!(cursor.pages_synced, 3);
    logs.assert_none_of(SECRETS);
}

async fn a_sync_links_a_contact_to_the_local_lead_with_the_same_email(setup: Setup) {
    let (logs, _guard) = capture();
    let hubspot = with_private_app(&setup).await;
    let lead_id = local_lead(&setup.store, "person1@example.com").await;
    search_page(&setup.server, None, page(&[1], None)).await;
    let report = connectors::sync_from_crm(&setup.store, &hubspot, SyncKind::Leads, 1)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (0, 1));
    let lead = store::leads::get(&setup.store, &lead_id).await.unwrap();
    assert_eq!(lead.external_id.as_deref(), Some("1"));
    assert_eq!(lead.country, "Germany");
    logs.assert_none_of(SECRETS);
}

async fn a_retried_push_sends_the_same_idempotency_key_and_creates_one_remote_record(setup: Setup) {
    let (logs, _guard) = capture();
    let hubspot = with_private_app(&setup).await;
    let lead_id = local_lead(&setup.store, "ada@engines.example").await;
    search_page(&setup.server, None, page(&[], None)).await;
    let create = "/crm/v3/objects/contacts";
    // The first push fails on every attempt; the user's retry then succeeds.
    Mock::given(method("POST"))
        .and(path(create))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(4)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path(create))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "9001", "properties": {}})),
        )
        .expect(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/crm/v3/objects/contacts/9001"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "9001", "properties": {}})),
        )
        .expect(1)
        .mount(&setup.server)
        .await;

    let failed = connectors::push_lead(&setup.store, &hubspot, &lead_id)
        .await
        .unwrap_err();
    assert!(failed.is_transient(), "{failed:?}");
    let pushed = connectors::push_lead(&setup.store, &hubspot, &lead_id)
        .await
        .unwrap();
    assert_eq!(
        (pushed.remote_id.as_str(), pushed.action),
        ("9001", PushAction::Created)
    );

    let creates = requests_to(&setup.server, create).await;
    assert_eq!(creates.len(), 5);
    for request in &creates {
        assert_eq!(
            request
                .headers
                .get(resilience::IDEMPOTENCY_KEY)
                .unwrap()
                .to_str()
                .unwrap(),
            pushed.idempotency_key
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["properties"]["email"], "ada@engines.example");
        assert_eq!(body["properties"]["numemployees"], "25-50");
    }
    let lead = store::leads::get(&setup.store, &lead_id).await.unwrap();
    assert_eq!(lead.external_id.as_deref(), Some("9001"));

    // Pushing a linked lead updates its record; it never creates another.
    let again = connectors::push_lead(&setup.store, &hubspot, &lead_id)
        .await
        .unwrap();
    assert_eq!(
        (again.remote_id.as_str(), again.action),
        ("9001", PushAction::Updated)
    );
    assert_eq!(requests_to(&setup.server, create).await.len(), 5);
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_push_links_an_existing_remote_contact_with_the_same_email_instead_of_creating_one() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_private_app(&setup).await;
    let lead_id = local_lead(&setup.store, "person42@example.com").await;
    search_page(&setup.server, None, page(&[42], None)).await;
    Mock::given(method("PATCH"))
        .and(path("/crm/v3/objects/contacts/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact(42)))
        .expect(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&setup.server)
        .await;
    let pushed = connectors::push_lead(&setup.store, &hubspot, &lead_id)
        .await
        .unwrap();
    assert_eq!(
        (pushed.remote_id.as_str(), pushed.action),
        ("42", PushAction::Linked)
    );
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn without_credentials_the_error_says_how_to_configure_them() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let error = HubSpot::from_vault(Arc::clone(&setup.vault), config(&setup.server))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ConnectorError::NotConfigured { .. }),
        "{error:?}"
    );
    assert!(message.contains("revops vault init"), "{message}");
    assert!(
        message.contains("revops vault set hubspot private_app_token"),
        "{message}"
    );

    // A store without a vault at all says the same.
    let (bare, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    if std::env::var("REVOPS_MASTER_KEY").is_err()
        && std::env::var("REVOPS_MASTER_PASSPHRASE").is_err()
    {
        let error = HubSpot::from_env(&bare, config(&setup.server))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ConnectorError::NotConfigured { .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("revops vault set hubspot private_app_token")
        );
    }
    drop(logs);
}

on_both_backends!(
    a_429_with_retry_after_during_a_sync_is_waited_out_and_no_record_is_lost_or_duplicated,
    a_429_with_retry_after_during_a_sync_loses_and_duplicates_nothing_on_sqlite,
    a_429_with_retry_after_during_a_sync_loses_and_duplicates_nothing_on_postgres
);
on_both_backends!(
    a_sync_interrupted_mid_way_resumes_from_its_cursor_and_keeps_each_record_once,
    an_interrupted_sync_resumes_from_its_cursor_on_sqlite,
    an_interrupted_sync_resumes_from_its_cursor_on_postgres
);
on_both_backends!(
    a_sync_links_a_contact_to_the_local_lead_with_the_same_email,
    a_sync_links_a_contact_to_the_lead_with_its_email_on_sqlite,
    a_sync_links_a_contact_to_the_lead_with_its_email_on_postgres
);
on_both_backends!(
    a_retried_push_sends_the_same_idempotency_key_and_creates_one_remote_record,
    a_retried_push_sends_one_key_and_creates_one_record_on_sqlite,
    a_retried_push_sends_one_key_and_creates_one_record_on_postgres
);

#[tokio::test]
async fn inside_a_tool_transaction_a_failed_page_keeps_the_pages_before_it_and_push_links_the_lead()
{
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_private_app(&setup).await;
    search_page(&setup.server, None, page(&[1, 2], Some("p2"))).await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(After(Some("p2")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(4)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    search_page(&setup.server, Some("p2"), page(&[3], None)).await;

    // The tool's transaction: the sync reports the failure instead of failing the call, so
    // the page it pulled commits with the cursor.
    let mut tx = setup.store.begin_write().await.unwrap();
    let (report, error) =
        connectors::sync::sync_from_crm_in(&mut tx, &hubspot, SyncKind::Leads, 10)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (report.pages, report.created, report.complete),
        (1, 2, false)
    );
    assert!(matches!(
        error,
        Some(ConnectorError::SyncInterrupted { .. })
    ));
    assert_eq!(external_ids(&setup.store).await, ["1", "2"]);

    let mut tx = setup.store.begin_write().await.unwrap();
    let (report, error) =
        connectors::sync::sync_from_crm_in(&mut tx, &hubspot, SyncKind::Leads, 10)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert!(error.is_none());
    assert!(report.resumed && report.complete);
    assert_eq!(external_ids(&setup.store).await, ["1", "2", "3"]);

    // A push inside a tool's transaction links the lead in that transaction.
    let lead_id = local_lead(&setup.store, "new@example.com").await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(body_string_contains("new@example.com"))
        .respond_with(page(&[], None))
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "77"})))
        .expect(1)
        .mount(&setup.server)
        .await;
    let mut tx = setup.store.begin_write().await.unwrap();
    let pushed = connectors::push_lead_in(&mut tx, &hubspot, &lead_id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(pushed.remote_id, "77");
    let lead = store::leads::get(&setup.store, &lead_id).await.unwrap();
    assert_eq!(lead.external_id.as_deref(), Some("77"));
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn repeated_server_errors_open_the_breaker_and_the_next_call_fails_fast_without_a_request() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let mut config = config(&setup.server);
    config.api.breaker = BreakerConfig {
        failure_threshold: 3,
        ..BreakerConfig::default()
    };
    setup
        .vault
        .put("hubspot", "private_app_token", secret(PRIVATE_APP_TOKEN))
        .await
        .unwrap();
    let hubspot = HubSpot::from_vault(Arc::clone(&setup.vault), config)
        .await
        .unwrap();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&setup.server)
        .await;

    let error = hubspot.get(ObjectType::Deals, "1").await.unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::Upstream(resilience::Error::Unavailable { status: 503, .. })
                | ConnectorError::Upstream(resilience::Error::CircuitOpen { .. })
        ),
        "{error:?}"
    );
    assert_eq!(hubspot.upstream().breaker().state(), BreakerState::Open);
    let sent = setup.server.received_requests().await.unwrap().len();
    assert_eq!(sent, 3);

    let error = hubspot.get(ObjectType::Deals, "1").await.unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::Upstream(resilience::Error::CircuitOpen { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("Nothing was sent"), "{error}");
    assert_eq!(setup.server.received_requests().await.unwrap().len(), sent);
    let health = hubspot.health();
    assert_eq!((health.attempts, health.breaker), (3, BreakerState::Open));
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_revoked_private_app_token_is_reported_once_with_the_command_to_replace_it() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let hubspot = with_private_app(&setup).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&setup.server)
        .await;
    let error = hubspot.get(ObjectType::Contacts, "1").await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Unauthorized { status: 401, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("revops vault set hubspot private_app_token"),
        "{error}"
    );
    common::assert_none_of("the error", &format!("{error} {error:?}"), SECRETS);
    logs.assert_none_of(SECRETS);
}

async fn companies_sync_links_by_domain_creates_the_rest_and_is_idempotent(setup: Setup) {
    let (logs, _guard) = capture();
    let hubspot = with_private_app(&setup).await;
    let mut tx = setup.store.begin_write().await.unwrap();
    let local = store::accounts::create(
        &mut tx,
        &store::accounts::NewAccount {
            name: "Acme (local)".to_owned(),
            domain: Some("acme.example".to_owned()),
            industry: "manufacturing".to_owned(),
            employee_count: 40,
            country: "US".to_owned(),
            owner: Some("sam".to_owned()),
            lifecycle_stage: "trial".to_owned(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let company = |id: &str, properties: Value| json!({"id": id, "properties": properties});
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/companies/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [
            company("501", json!({"name": "Acme", "domain": "acme.example", "lifecyclestage": "customer", "numberofemployees": "250"})),
            company("502", json!({"name": "Globex", "domain": "globex.example", "lifecyclestage": "lead"})),
            company("503", json!({"domain": "nameless.example"})),
        ]})))
        .mount(&setup.server)
        .await;

    let report = connectors::sync_from_crm(&setup.store, &hubspot, SyncKind::Accounts, 5)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated, report.skipped), (1, 1, 1));
    assert_eq!(report.skipped_records[0].remote_id, "503");
    let acme = store::accounts::get(&setup.store, &local.id).await.unwrap();
    assert_eq!(acme.external_id.as_deref(), Some("501"));
    assert_eq!(acme.name, "Acme");
    assert_eq!(
        (acme.lifecycle_stage.as_str(), acme.segment.as_str()),
        ("active", "mid_market")
    );
    assert_eq!(acme.owner.as_deref(), Some("sam"), "local fields are kept");

    let again = connectors::sync_from_crm(&setup.store, &hubspot, SyncKind::Accounts, 5)
        .await
        .unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2));
    let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
        .fetch_one(setup.store.pool())
        .await
        .unwrap();
    assert_eq!(accounts, 2);
    let globex: String =
        sqlx::query_scalar("SELECT lifecycle_stage FROM accounts WHERE external_id = '502'")
            .fetch_one(setup.store.pool())
            .await
            .unwrap();
    assert_eq!(globex, "trial");
    logs.assert_none_of(SECRETS);
}

on_both_backends!(
    companies_sync_links_by_domain_creates_the_rest_and_is_idempotent,
    a_companies_sync_links_by_domain_and_is_idempotent_on_sqlite,
    a_companies_sync_links_by_domain_and_is_idempotent_on_postgres
);
