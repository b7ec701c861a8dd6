//! Deal sync against a local server that misbehaves on purpose (wiremock): HubSpot deals
//! (search paging, then a batch read of their company associations) and Salesforce
//! Opportunities (keyset SOQL), with a 429 carrying `Retry-After`, a page that answers 503
//! before it succeeds, and a pass that fails part-way and is resumed. Each deal must land
//! once, keyed by its remote id, on the account synced from its company, with its stage
//! mapped and its amount in minor units; a deal whose company is not synced is reported as
//! unlinked, never given an invented account. Logs hold no token.

#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod common;

use common::{
    After, Setup, capture, hubspot, mount_two_soql_pages, requests_to, salesforce, search_page,
    setup, setup_on, synced_account,
};
use connectors::ConnectorError;
use connectors::hubspot::DEAL_COMPANIES;
use connectors::sync::SyncKind;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PRIVATE_APP_TOKEN: &str = "pat-na1-deals-secret-0000";
const SESSION: &str = "00Ddeals!session-secret-1111";
const SECRETS: &[&str] = &[PRIVATE_APP_TOKEN, SESSION];
const DEAL_SEARCH: &str = "/crm/v3/objects/deals/search";
const QUERY: &str = "/services/data/v62.0/query";

/// Every opportunity as (remote id, account, stage, amount, currency, close date).
async fn deals(setup: &Setup) -> Vec<(String, String, String, i64, String, String)> {
    let mut rows: Vec<(String, String, String, i64, String, String)> = sqlx::query_as(
        "SELECT external_id, account_id, stage, amount_minor, currency, close_date \
         FROM opportunities WHERE external_id IS NOT NULL",
    )
    .fetch_all(setup.store.pool())
    .await
    .unwrap();
    rows.sort();
    rows
}

async fn opportunity_count(setup: &Setup) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM opportunities")
        .fetch_one(setup.store.pool())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// HubSpot

fn hubspot_deal(id: &str, stage: &str, amount: &str) -> Value {
    json!({
        "id": id,
        "properties": {
            "dealname": format!("Deal {id}"),
            "dealstage": stage,
            "amount": amount,
            "deal_currency_code": if id == "3" { "EUR" } else { "USD" },
            "closedate": "2026-12-31T00:00:00Z",
            "pipeline": "default",
        },
        "updatedAt": "2026-11-20T10:00:00Z",
        "archived": false,
    })
}

/// The association batch read: deal 1 has a secondary company first and its primary (501)
/// second; 2 and 3 belong to 501 and 502 (only 501 is synced locally); 4 has no company.
struct Associations;

impl Respond for Associations {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let company = |id: u64, type_id: u64| {
            json!({"toObjectId": id, "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": if type_id == 5 { Value::from("Primary") } else { Value::Null }}
            ]})
        };
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for input in body["inputs"].as_array().unwrap() {
            let id = input["id"].as_str().unwrap();
            let to = match id {
                "1" => vec![company(777, 341), company(501, 5)],
                "2" => vec![company(501, 5)],
                "3" => vec![company(502, 341)],
                _ => {
                    errors.push(json!({"category": "OBJECT_NOT_FOUND", "message": "No associations", "context": {"fromObjectId": [id]}}));
                    continue;
                }
            };
            results.push(json!({"from": {"id": id}, "to": to}));
        }
        let status = if errors.is_empty() { 200 } else { 207 };
        ResponseTemplate::new(status)
            .set_body_json(json!({"status": "COMPLETE", "results": results, "errors": errors}))
    }
}

async fn hubspot_pages(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(DEAL_SEARCH))
        .and(After(None))
        .respond_with(search_page(
            vec![
                hubspot_deal("1", "appointmentscheduled", "1000"),
                hubspot_deal("2", "decisionmakerboughtin", "2500.75"),
            ],
            Some("p2"),
        ))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(DEAL_SEARCH))
        .and(After(Some("p2")))
        .respond_with(search_page(
            vec![
                hubspot_deal("3", "closedwon", "990.5"),
                hubspot_deal("4", "contractsent", "10"),
            ],
            None,
        ))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(DEAL_COMPANIES))
        .respond_with(Associations)
        .mount(server)
        .await;
}

async fn a_hubspot_deal_sync_run_twice_creates_each_deal_once_with_mapped_stages_and_amounts(
    setup: Setup,
) {
    let (logs, _guard) = capture();
    let crm = hubspot(&setup, PRIVATE_APP_TOKEN).await;
    let acme = synced_account(&setup, "501", "Acme").await;
    let globex = synced_account(&setup, "502", "Globex").await;
    // The first association read is rate limited, the second search page 503s once: both
    // are retried inside the run.
    Mock::given(method("POST"))
        .and(path(DEAL_COMPANIES))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path(DEAL_SEARCH))
        .and(After(Some("p2")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    hubspot_pages(&setup.server).await;

    let report = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Deals, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            report.pages,
            report.created,
            report.skipped,
            report.unlinked
        ),
        (2, 3, 1, 1),
        "{report:?}"
    );
    assert!(report.complete);
    assert_eq!(report.skipped_records[0].remote_id, "4");
    assert!(
        report.skipped_records[0].reason.starts_with("unlinked"),
        "{report:?}"
    );
    let expected = vec![
        (
            "1".to_owned(),
            acme.clone(),
            "prospecting".to_owned(),
            100_000,
            "USD".to_owned(),
            "2026-12-31".to_owned(),
        ),
        (
            "2".to_owned(),
            acme.clone(),
            "negotiation".to_owned(),
            250_075,
            "USD".to_owned(),
            "2026-12-31".to_owned(),
        ),
        (
            "3".to_owned(),
            globex.clone(),
            "closed_won".to_owned(),
            99_050,
            "EUR".to_owned(),
            "2026-12-31".to_owned(),
        ),
    ];
    assert_eq!(deals(&setup).await, expected);
    assert_eq!(requests_to(&setup.server, DEAL_COMPANIES).await.len(), 3);

    let again = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Deals, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.unlinked
        ),
        (0, 0, 3, 1)
    );
    assert_eq!(opportunity_count(&setup).await, 3);
    assert_eq!(deals(&setup).await, expected);
    let cursor = store::sync::get(&setup.store, "hubspot", "deals")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cursor.page_cursor, cursor.records_created), (None, 3));
    logs.assert_none_of(SECRETS);
}

async fn an_interrupted_hubspot_deal_sync_resumes_from_its_cursor_without_duplicates(setup: Setup) {
    let (logs, _guard) = capture();
    let crm = hubspot(&setup, PRIVATE_APP_TOKEN).await;
    synced_account(&setup, "501", "Acme").await;
    synced_account(&setup, "502", "Globex").await;
    // The second page fails for the whole first run (four attempts), then recovers.
    Mock::given(method("POST"))
        .and(path(DEAL_SEARCH))
        .and(After(Some("p2")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(4)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    hubspot_pages(&setup.server).await;

    let error = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Deals, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::SyncInterrupted {
                pages: 1,
                records: 2,
                ..
            }
        ),
        "{error:?}"
    );
    let cursor = store::sync::get(&setup.store, "hubspot", "deals")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.page_cursor.as_deref(), Some("p2"));
    assert_eq!(opportunity_count(&setup).await, 2);

    let report = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Deals, 10)
        .await
        .unwrap();
    assert!(report.resumed && report.complete);
    assert_eq!((report.pages, report.created, report.unlinked), (1, 1, 1));
    let first_pages = requests_to(&setup.server, DEAL_SEARCH)
        .await
        .iter()
        .filter(|r| {
            serde_json::from_slice::<Value>(&r.body)
                .unwrap()
                .get("after")
                .is_none()
        })
        .count();
    assert_eq!(first_pages, 1, "the pass restarted");
    let ids: Vec<String> = deals(&setup).await.into_iter().map(|d| d.0).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(opportunity_count(&setup).await, 3);
    logs.assert_none_of(SECRETS);
}

// ---------------------------------------------------------------------------------------
// Salesforce

const SALESFORCE_STAGES: [(&str, &str); 10] = [
    ("Prospecting", "prospecting"),
    ("Qualification", "qualification"),
    ("Needs Analysis", "qualification"),
    ("Value Proposition", "proposal"),
    ("Id. Decision Makers", "proposal"),
    ("Perception Analysis", "proposal"),
    ("Proposal/Price Quote", "proposal"),
    ("Negotiation/Review", "negotiation"),
    ("Closed Won", "closed_won"),
    ("Closed Lost", "closed_lost"),
];

fn opportunity_id(n: u32) -> String {
    format!("006{n:015}")
}

/// Opportunity `n`: a standard stage in turn, an amount of `n` hundred and a half; every
/// tenth has no account, every other one belongs to the synced account.
fn opportunity(n: u32) -> Value {
    let (stage, _) = SALESFORCE_STAGES[(n as usize) % SALESFORCE_STAGES.len()];
    json!({
        "attributes": {"type": "Opportunity"},
        "Id": opportunity_id(n),
        "Name": format!("Opportunity {n}"),
        "StageName": stage,
        "Amount": f64::from(n) * 100.0 + 0.5,
        "CloseDate": "2027-03-31",
        "AccountId": if n.is_multiple_of(10) { Value::Null } else { Value::from("001000000000000AAA") },
        "IsClosed": stage.starts_with("Closed"),
        "IsWon": stage == "Closed Won",
        "LastModifiedDate": "2026-11-20T10:00:00.000+0000",
    })
}

fn opportunities(range: std::ops::RangeInclusive<u32>) -> ResponseTemplate {
    let records: Vec<Value> = range.map(opportunity).collect();
    ResponseTemplate::new(200)
        .set_body_json(json!({"totalSize": records.len(), "done": true, "records": records}))
}

async fn an_interrupted_salesforce_opportunity_sync_resumes_and_a_second_run_creates_nothing(
    setup: Setup,
) {
    let (logs, _guard) = capture();
    let crm = salesforce(&setup, "deals", SESSION).await;
    let account = synced_account(&setup, "001000000000000AAA", "Initech").await;
    // The first page is rate limited once; the second page fails for the whole first run.
    mount_two_soql_pages(
        &setup.server,
        QUERY,
        "Opportunity",
        opportunities(1..=200),
        &opportunity_id(200),
        opportunities(201..=205),
        4,
    )
    .await;

    let error = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Deals, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::SyncInterrupted {
                pages: 1,
                records: 180,
                ..
            }
        ),
        "{error:?}"
    );
    let cursor = store::sync::get(&setup.store, "salesforce", "deals")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.page_cursor, Some(opportunity_id(200)));

    let report = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Deals, 10)
        .await
        .unwrap();
    assert!(report.resumed && report.complete);
    assert_eq!((report.created, report.unlinked), (5, 0));
    assert_eq!(opportunity_count(&setup).await, 185);
    let synced = deals(&setup).await;
    let expected_ids: Vec<String> = (1..=205)
        .filter(|n: &u32| !n.is_multiple_of(10))
        .map(opportunity_id)
        .collect();
    let ids: Vec<String> = synced.iter().map(|d| d.0.clone()).collect();
    assert_eq!(ids, expected_ids);
    for (remote_id, account_id, stage, amount, currency, close_date) in &synced {
        let n: u32 = remote_id[3..].parse().unwrap();
        let (_, local) = SALESFORCE_STAGES[(n as usize) % SALESFORCE_STAGES.len()];
        assert_eq!(stage, local, "{remote_id}");
        assert_eq!(*amount, i64::from(n) * 10_000 + 50, "{remote_id}");
        assert_eq!(
            (account_id, currency.as_str(), close_date.as_str()),
            (&account, "USD", "2027-03-31")
        );
    }

    // A new pass: the same records again change nothing; the ones without an account are
    // reported as unlinked each time, not created.
    let again = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Deals, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.unlinked
        ),
        (0, 0, 185, 20)
    );
    assert_eq!(opportunity_count(&setup).await, 185);
    logs.assert_none_of(SECRETS);
}

on_both_backends!(
    a_hubspot_deal_sync_run_twice_creates_each_deal_once_with_mapped_stages_and_amounts,
    a_hubspot_deal_sync_run_twice_creates_each_deal_once_on_sqlite,
    a_hubspot_deal_sync_run_twice_creates_each_deal_once_on_postgres
);
on_both_backends!(
    an_interrupted_hubspot_deal_sync_resumes_from_its_cursor_without_duplicates,
    an_interrupted_hubspot_deal_sync_resumes_without_duplicates_on_sqlite,
    an_interrupted_hubspot_deal_sync_resumes_without_duplicates_on_postgres
);
on_both_backends!(
    an_interrupted_salesforce_opportunity_sync_resumes_and_a_second_run_creates_nothing,
    an_interrupted_salesforce_opportunity_sync_resumes_and_repeats_nothing_on_sqlite,
    an_interrupted_salesforce_opportunity_sync_resumes_and_repeats_nothing_on_postgres
);
