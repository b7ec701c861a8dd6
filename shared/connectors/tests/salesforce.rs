//! The Salesforce connector against a local server that misbehaves on purpose (wiremock):
//! an expired session under concurrent calls (one refresh), the API host taken from the
//! token answer, SOQL `nextRecordsUrl` paging, a keyset sync interrupted and resumed, and a
//! push that is never retried blindly (Salesforce has no idempotency key) and never
//! duplicates. Logs are captured at TRACE level and must hold no token.

#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Setup, capture, external_ids, lead_count, local_lead, requests_to, secret, setup};
use connectors::auth::Auth;
use connectors::salesforce::SObject;
use connectors::sync::SyncKind;
use connectors::{ConnectorError, PushAction, Salesforce, SalesforceConfig};
use resilience::{BreakerConfig, RetryPolicy, Timeouts, UpstreamConfig};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, query_param_contains};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EXPIRED_ACCESS: &str = "00Dexpired!session-secret-1111";
const FRESH_ACCESS: &str = "00Dfresh!session-secret-2222";
const REFRESH: &str = "5Aep-refresh-secret-3333";
const ROTATED_REFRESH: &str = "5Aep-rotated-secret-4444";
const CLIENT_SECRET: &str = "sf-client-secret-5555";
const SECRETS: &[&str] = &[
    EXPIRED_ACCESS,
    FRESH_ACCESS,
    REFRESH,
    ROTATED_REFRESH,
    CLIENT_SECRET,
];

const TOKEN: &str = "/services/oauth2/token";
const QUERY: &str = "/services/data/v62.0/query";

fn config(server: &MockServer) -> SalesforceConfig {
    let login = UpstreamConfig::new("Salesforce", server.uri())
        .with_retry(RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(10),
            max_attempts: 4,
            max_total: Duration::from_secs(5),
        })
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_millis(500),
        })
        .with_breaker(BreakerConfig {
            failure_threshold: 50,
            ..BreakerConfig::default()
        });
    SalesforceConfig {
        login,
        ..SalesforceConfig::default()
    }
}

/// A connected app in the vault; with `session`, a saved access token and its API host.
async fn connect(setup: &Setup, session: Option<&str>) -> Salesforce {
    let vault = &setup.vault;
    vault
        .put("salesforce", "client_id", secret("3MVG9-client-id"))
        .await
        .unwrap();
    vault
        .put("salesforce", "client_secret", secret(CLIENT_SECRET))
        .await
        .unwrap();
    vault
        .put("salesforce", "refresh_token", secret(REFRESH))
        .await
        .unwrap();
    if let Some(session) = session {
        vault
            .put("salesforce", "access_token", secret(session))
            .await
            .unwrap();
        vault
            .put("salesforce", "instance_url", secret(&setup.server.uri()))
            .await
            .unwrap();
    }
    Salesforce::from_vault(Arc::clone(vault), config(&setup.server))
        .await
        .unwrap()
}

/// The token endpoint: a fresh session on this server's host, rotating the refresh token.
async fn token_endpoint(server: &MockServer, delay: Duration) {
    Mock::given(method("POST"))
        .and(path(TOKEN))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(REFRESH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(delay)
                .set_body_json(json!({
                    "access_token": FRESH_ACCESS,
                    "refresh_token": ROTATED_REFRESH,
                    "instance_url": server.uri(),
                    "token_type": "Bearer",
                })),
        )
        .expect(1)
        .mount(server)
        .await;
}

fn lead_id(n: u32) -> String {
    format!("00Q{n:015}")
}

fn lead(n: u32) -> Value {
    json!({
        "attributes": {"type": "Lead", "url": format!("/services/data/v62.0/sobjects/Lead/{}", lead_id(n))},
        "Id": lead_id(n),
        "Email": format!("lead{n}@example.org"),
        "FirstName": "Grace",
        "LastName": format!("Hopper{n}"),
        "Company": "Navy",
        "NumberOfEmployees": 120,
        "Country": null,
        "LastModifiedDate": "2026-11-20T10:00:00.000+0000",
    })
}

fn records(range: std::ops::RangeInclusive<u32>, next: Option<&str>) -> ResponseTemplate {
    let records: Vec<Value> = range.map(lead).collect();
    let mut body = json!({"totalSize": records.len(), "done": next.is_none(), "records": records});
    if let Some(next) = next {
        body["nextRecordsUrl"] = json!(next);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test(flavor = "current_thread")]
async fn an_expired_session_is_refreshed_once_for_concurrent_calls_and_the_rotated_token_is_kept() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let salesforce = connect(&setup, Some(EXPIRED_ACCESS)).await;
    token_endpoint(&setup.server, Duration::from_millis(100)).await;
    let record = format!("/services/data/v62.0/sobjects/Lead/{}", lead_id(1));
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("Bearer {EXPIRED_ACCESS}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        ))
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(path(record.as_str()))
        .and(header(
            "authorization",
            format!("Bearer {FRESH_ACCESS}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(lead(1)))
        .mount(&setup.server)
        .await;

    let calls: Vec<_> = (0..8)
        .map(|_| {
            let salesforce = salesforce.clone();
            tokio::spawn(async move { salesforce.get(SObject::Lead, &lead_id(1)).await })
        })
        .collect();
    for call in calls {
        let got = call.await.unwrap().unwrap();
        assert_eq!(got.property("Email"), Some("lead1@example.org"));
        assert_eq!(got.property("NumberOfEmployees"), Some("120"));
    }
    assert_eq!(requests_to(&setup.server, TOKEN).await.len(), 1);
    let Auth::OAuth(session) = salesforce.auth() else {
        panic!("not OAuth")
    };
    assert_eq!(session.refreshes(), 1);
    let stored = setup
        .vault
        .get("salesforce", "refresh_token")
        .await
        .unwrap();
    assert_eq!(stored.expose_secret(), ROTATED_REFRESH);
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_soql_query_follows_next_records_url_to_the_last_page() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let salesforce = connect(&setup, None).await;
    token_endpoint(&setup.server, Duration::ZERO).await;
    let next = "/services/data/v62.0/query/01gD0000002HU6KIAW-2000";
    Mock::given(method("GET"))
        .and(path(QUERY))
        .and(query_param_contains("q", "FROM Lead"))
        .respond_with(records(1..=2, Some(next)))
        .expect(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(path(next))
        .respond_with(records(3..=3, None))
        .expect(1)
        .mount(&setup.server)
        .await;

    let first = salesforce.query("SELECT Id FROM Lead").await.unwrap();
    assert_eq!(first.records.len(), 2);
    let more = first.next_records_url.unwrap();
    let last = salesforce.query_more(&more).await.unwrap();
    assert_eq!(last.records[0].id, lead_id(3));
    assert_eq!(last.next_records_url, None);
    // A locator from elsewhere is refused before anything is sent.
    assert!(matches!(
        salesforce.query_more("https://evil.example/x").await,
        Err(ConnectorError::Invalid(_))
    ));
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_salesforce_sync_interrupted_mid_way_resumes_from_the_last_id_and_keeps_each_lead_once() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let salesforce = connect(&setup, None).await;
    token_endpoint(&setup.server, Duration::ZERO).await;
    // A full first page (200), then a second page that fails for the whole first run.
    Mock::given(method("GET"))
        .and(path(QUERY))
        .and(query_param_contains("q", "ORDER BY Id LIMIT 200"))
        .respond_with(records(1..=200, None))
        .with_priority(5)
        .mount(&setup.server)
        .await;
    let after_first = format!("Id > '{}'", lead_id(200));
    Mock::given(method("GET"))
        .and(path(QUERY))
        .and(query_param_contains("q", after_first.as_str()))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(4)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(path(QUERY))
        .and(query_param_contains("q", after_first.as_str()))
        .respond_with(records(201..=203, None))
        .with_priority(2)
        .mount(&setup.server)
        .await;

    let error = connectors::sync_from_crm(&setup.store, &salesforce, SyncKind::Leads, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::SyncInterrupted {
                pages: 1,
                records: 200,
                ..
            }
        ),
        "{error:?}"
    );
    let cursor = store::sync::get(&setup.store, "salesforce", "leads")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.page_cursor, Some(lead_id(200)));

    let report = connectors::sync_from_crm(&setup.store, &salesforce, SyncKind::Leads, 10)
        .await
        .unwrap();
    assert!(report.resumed && report.complete);
    assert_eq!(report.created, 3);
    assert_eq!(lead_count(&setup.store).await, 203);
    let ids = external_ids(&setup.store).await;
    let expected: Vec<String> = (1..=203).map(lead_id).collect();
    assert_eq!(ids, expected);
    let one = store::leads::list(&setup.store, &Default::default(), None, Some(1))
        .await
        .unwrap();
    let first = &one.items[0];
    assert_eq!(
        (first.source.as_str(), first.country.as_str()),
        ("salesforce", "unknown")
    );
    assert_eq!(first.employee_count, 120);
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_salesforce_create_is_sent_once_and_a_repeated_push_links_instead_of_duplicating() {
    let (logs, _guard) = capture();
    let setup = setup().await;
    let salesforce = connect(&setup, None).await;
    token_endpoint(&setup.server, Duration::ZERO).await;
    let lead = local_lead(&setup.store, "ada@engines.example").await;
    let create = "/services/data/v62.0/sobjects/Lead";
    // The first lookup finds nothing; the create's answer is lost (503), though it landed,
    // so the second lookup finds it.
    Mock::given(method("GET"))
        .and(path(QUERY))
        .and(query_param_contains("q", "Email = 'ada@engines.example'"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"totalSize": 0, "done": true, "records": []})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(path(QUERY))
        .and(query_param_contains("q", "Email = 'ada@engines.example'"))
        .respond_with(records(7..=7, None))
        .with_priority(2)
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path(create))
        .respond_with(ResponseTemplate::new(503))
        .mount(&setup.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{create}/{}", lead_id(7)).as_str()))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&setup.server)
        .await;

    let error = connectors::push_lead(&setup.store, &salesforce, &lead)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::Upstream(resilience::Error::Unavailable {
                attempts: 1,
                unsafe_to_retry: true,
                ..
            })
        ),
        "{error:?}"
    );
    let creates = requests_to(&setup.server, create).await;
    assert_eq!(creates.len(), 1, "a create without a key was retried");
    let body: Value = serde_json::from_slice(&creates[0].body).unwrap();
    assert_eq!(body["LastName"], "Lovelace");
    assert_eq!(body["NumberOfEmployees"], 30);

    let pushed = connectors::push_lead(&setup.store, &salesforce, &lead)
        .await
        .unwrap();
    assert_eq!(
        (pushed.remote_id.clone(), pushed.action),
        (lead_id(7), PushAction::Linked)
    );
    let again = connectors::push_lead(&setup.store, &salesforce, &lead)
        .await
        .unwrap();
    assert_eq!(again.action, PushAction::Updated);
    assert_eq!(requests_to(&setup.server, create).await.len(), 1);
    let stored = store::leads::get(&setup.store, &lead).await.unwrap();
    assert_eq!(stored.external_id, Some(lead_id(7)));
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn without_salesforce_credentials_the_error_says_how_to_configure_them() {
    let setup = setup().await;
    let error = Salesforce::from_vault(Arc::clone(&setup.vault), config(&setup.server))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ConnectorError::NotConfigured { .. }),
        "{error:?}"
    );
    assert!(message.contains("revops vault init"), "{message}");
    assert!(
        message.contains("revops vault set salesforce refresh_token"),
        "{message}"
    );
}
