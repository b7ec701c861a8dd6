//! Pushing deals (local opportunities) to a fake CRM that misbehaves on purpose (wiremock),
//! and that keeps the deals it was sent, so each test counts what exists remotely as well as
//! the requests: a HubSpot create answered 503 after it landed and then 429 with
//! `Retry-After` is retried with one idempotency key and makes one deal; a push that fails
//! every attempt stores nothing and the user's retry makes nothing new; a Salesforce create
//! is sent once (no idempotency key there), and a repeated push finds what landed instead of
//! creating it again; a 400 is never retried and changes nothing locally. A pushed deal keeps
//! its remote id, is linked to its account's remote company/account, and is updated, never
//! created again, by the next push. Logs hold no token.

#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{
    FakeDeals, Fault, Setup, capture, hubspot, local_deal, requests_to, salesforce, setup,
    setup_on, synced_account,
};
use connectors::{ConnectorError, PushAction};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

const PRIVATE_APP_TOKEN: &str = "pat-na1-deal-push-secret-2222";
const SESSION: &str = "00Ddealpush!session-secret-3333";
const SECRETS: &[&str] = &[PRIVATE_APP_TOKEN, SESSION];
const HUBSPOT_DEALS: &str = "/crm/v3/objects/deals";
const SALESFORCE_OPPORTUNITIES: &str = "/services/data/v62.0/sobjects/Opportunity";
const QUERY: &str = "/services/data/v62.0/query";
/// The Salesforce Account the local account is synced from.
const SF_ACCOUNT: &str = "001000000000042AAA";

async fn mount(
    setup: &Setup,
    verb: &str,
    at: wiremock::matchers::PathExactMatcher,
    with: common::FakeResponder,
) {
    Mock::given(method(verb))
        .and(at)
        .respond_with(with)
        .mount(&setup.server)
        .await;
}

/// The HubSpot deal update route, `PATCH /crm/v3/objects/deals/{id}`.
async fn mount_hubspot_update(setup: &Setup, fake: &FakeDeals, faults: &[Fault]) {
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/crm/v3/objects/deals/[0-9]+$"))
        .respond_with(fake.hubspot_update(faults))
        .mount(&setup.server)
        .await;
}

/// The Salesforce Opportunity update route.
async fn mount_salesforce_update(setup: &Setup, fake: &FakeDeals, faults: &[Fault]) {
    Mock::given(method("PATCH"))
        .and(path_regex(
            r"^/services/data/v62\.0/sobjects/Opportunity/[0-9A-Za-z]+$",
        ))
        .respond_with(fake.salesforce_update(faults))
        .mount(&setup.server)
        .await;
}

async fn external_id(setup: &Setup, deal: &str) -> Option<String> {
    store::opportunities::get_one(&setup.store, deal)
        .await
        .unwrap()
        .external_id
}

// ---------------------------------------------------------------------------------------
// HubSpot

async fn a_hubspot_deal_push_creates_one_deal_through_a_lost_503_and_a_429_then_updates_it(
    setup: Setup,
) {
    let (logs, _guard) = capture();
    let crm = hubspot(&setup, PRIVATE_APP_TOKEN).await;
    let account = synced_account(&setup, "501", "Acme").await;
    let deal = local_deal(&setup.store, &account, "Acme expansion").await;
    let fake = FakeDeals::default();
    // The first create lands but its answer is lost (503); the second is told to slow down
    // for a second; the third gets the answer.
    mount(
        &setup,
        "POST",
        path(HUBSPOT_DEALS),
        fake.hubspot_create(&[Fault::AnswerLost(503), Fault::Refused(429, Some(1))]),
    )
    .await;
    mount_hubspot_update(&setup, &fake, &[]).await;
    Mock::given(method("PUT"))
        .and(path("/crm/v4/objects/deals/9001/associations/companies/501"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "fromObjectTypeId": "0-3", "fromObjectId": 9001, "toObjectTypeId": "0-2", "toObjectId": 501,
            "labels": ["Primary"]
        })))
        .expect(1)
        .mount(&setup.server)
        .await;

    let began = Instant::now();
    let pushed = connectors::push_deal(&setup.store, &crm, &deal)
        .await
        .unwrap();
    assert!(
        began.elapsed() >= Duration::from_secs(1),
        "the 429's Retry-After was not waited out: {:?}",
        began.elapsed()
    );
    assert_eq!(
        (pushed.remote_id.as_str(), pushed.action),
        ("9001", PushAction::Created)
    );
    assert_eq!(pushed.account_remote_id.as_deref(), Some("501"));
    assert_eq!(external_id(&setup, &deal).await.as_deref(), Some("9001"));

    let creates = requests_to(&setup.server, HUBSPOT_DEALS).await;
    assert_eq!(creates.len(), 3, "one create, two retries");
    for request in &creates {
        let key = request.headers.get(resilience::IDEMPOTENCY_KEY).unwrap();
        assert_eq!(key.to_str().unwrap(), pushed.idempotency_key);
    }
    let remote = fake.deals();
    assert_eq!(
        remote.len(),
        1,
        "a retried create made a second deal: {remote:?}"
    );
    let properties = &remote[0].fields;
    assert_eq!(properties["dealname"], "Acme expansion");
    assert_eq!(properties["dealstage"], "presentationscheduled");
    assert_eq!(properties["amount"], "12000.50");
    assert_eq!(properties["deal_currency_code"], "USD");
    assert_eq!(properties["closedate"], "2027-03-31T00:00:00.000Z");
    assert_eq!(
        remote[0].associations,
        json!([{"to": {"id": "501"}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}
        ]}])
    );

    // The local deal moves on; the next push updates the linked deal and creates nothing.
    let mut tx = setup.store.begin_write().await.unwrap();
    let update = store::opportunities::DealUpdate {
        stage: Some("negotiation".to_owned()),
        amount_minor: Some(1_500_000),
        close_date: None,
        probability: None,
        note: None,
    };
    store::opportunities::update(&mut tx, &deal, &update, "rep")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let again = connectors::push_deal(&setup.store, &crm, &deal)
        .await
        .unwrap();
    assert_eq!(
        (again.remote_id.as_str(), again.action),
        ("9001", PushAction::Updated)
    );
    assert_eq!(requests_to(&setup.server, HUBSPOT_DEALS).await.len(), 3);
    let remote = fake.deals();
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0].fields["dealstage"], "decisionmakerboughtin");
    assert_eq!(remote[0].fields["amount"], "15000.00");
    assert_eq!(external_id(&setup, &deal).await.as_deref(), Some("9001"));
    logs.assert_none_of(SECRETS);
}

async fn a_hubspot_deal_push_that_fails_every_attempt_stores_nothing_and_its_retry_makes_no_second_deal(
    setup: Setup,
) {
    let (logs, _guard) = capture();
    let crm = hubspot(&setup, PRIVATE_APP_TOKEN).await;
    // An account not linked to the CRM: the deal is created without a company.
    let account = {
        let mut tx = setup.store.begin_write().await.unwrap();
        let account = store::accounts::NewAccount {
            name: "Globex".to_owned(),
            domain: Some("globex.example".to_owned()),
            industry: "software".to_owned(),
            employee_count: 40,
            country: "France".to_owned(),
            owner: None,
            lifecycle_stage: "trial".to_owned(),
        };
        let account = store::accounts::create(&mut tx, &account).await.unwrap();
        tx.commit().await.unwrap();
        account
    };
    assert_eq!(account.external_id, None);
    let deal = local_deal(&setup.store, &account.id, "Globex pilot").await;
    let fake = FakeDeals::default();
    // The first create lands and every answer of that push is lost (4 attempts).
    mount(
        &setup,
        "POST",
        path(HUBSPOT_DEALS),
        fake.hubspot_create(&[
            Fault::AnswerLost(503),
            Fault::Refused(429, Some(1)),
            Fault::AnswerLost(503),
            Fault::AnswerLost(502),
        ]),
    )
    .await;
    let before = store::opportunities::get_one(&setup.store, &deal)
        .await
        .unwrap();

    let mut tx = setup.store.begin_write().await.unwrap();
    let failed = connectors::push_deal_in(&mut tx, &crm, &deal)
        .await
        .unwrap_err();
    drop(tx);
    assert!(failed.is_transient(), "{failed:?}");
    assert_eq!(requests_to(&setup.server, HUBSPOT_DEALS).await.len(), 4);
    assert_eq!(
        store::opportunities::get_one(&setup.store, &deal)
            .await
            .unwrap(),
        before,
        "a failed push changed the local deal"
    );

    // The user tries again: the same version of the deal sends the same key, so the CRM
    // answers with the deal the lost attempts made.
    let mut tx = setup.store.begin_write().await.unwrap();
    let pushed = connectors::push_deal_in(&mut tx, &crm, &deal)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (pushed.remote_id.as_str(), pushed.action),
        ("9001", PushAction::Created)
    );
    assert_eq!(pushed.account_remote_id, None);
    let creates = requests_to(&setup.server, HUBSPOT_DEALS).await;
    assert_eq!(creates.len(), 5);
    let keys: std::collections::BTreeSet<&str> = creates
        .iter()
        .map(|r| {
            r.headers
                .get(resilience::IDEMPOTENCY_KEY)
                .unwrap()
                .to_str()
                .unwrap()
        })
        .collect();
    assert_eq!(keys.len(), 1, "retries sent different keys: {keys:?}");
    let remote = fake.deals();
    assert_eq!(remote.len(), 1, "{remote:?}");
    assert_eq!(remote[0].associations, Value::Null, "no company to link");
    assert_eq!(external_id(&setup, &deal).await.as_deref(), Some("9001"));
    logs.assert_none_of(SECRETS);
}

// ---------------------------------------------------------------------------------------
// Salesforce

async fn a_salesforce_deal_create_is_sent_once_and_a_repeated_push_links_what_landed(setup: Setup) {
    let (logs, _guard) = capture();
    let crm = salesforce(&setup, "dealpush", SESSION).await;
    let account = synced_account(&setup, SF_ACCOUNT, "Initech").await;
    let deal = local_deal(&setup.store, &account, "Initech O'Brien renewal").await;
    let fake = FakeDeals::default();
    // Lookups: the first is told to slow down for a second (a GET: waited out and retried).
    Mock::given(method("GET"))
        .and(path(QUERY))
        .respond_with(fake.salesforce_query(&[Fault::Refused(429, Some(1))]))
        .mount(&setup.server)
        .await;
    // Creates: the first is refused with 429 (nothing made); the second lands, but its
    // answer is lost (503).
    mount(
        &setup,
        "POST",
        path(SALESFORCE_OPPORTUNITIES),
        fake.salesforce_create(&[Fault::Refused(429, Some(1)), Fault::AnswerLost(503)]),
    )
    .await;
    mount_salesforce_update(&setup, &fake, &[]).await;

    // 1: the create is throttled; without an idempotency key it is not retried.
    let began = Instant::now();
    let throttled = connectors::push_deal(&setup.store, &crm, &deal)
        .await
        .unwrap_err();
    assert!(
        began.elapsed() >= Duration::from_secs(1),
        "the lookup's 429 was not waited out"
    );
    assert!(
        matches!(
            throttled,
            ConnectorError::Upstream(resilience::Error::Throttled { attempts: 1, .. })
        ),
        "{throttled:?}"
    );
    assert!(fake.deals().is_empty());
    // 2: the create lands but its answer is lost: sent once, never blindly again.
    let lost = connectors::push_deal(&setup.store, &crm, &deal)
        .await
        .unwrap_err();
    assert!(
        matches!(
            lost,
            ConnectorError::Upstream(resilience::Error::Unavailable {
                attempts: 1,
                unsafe_to_retry: true,
                ..
            })
        ),
        "{lost:?}"
    );
    assert_eq!(external_id(&setup, &deal).await, None);
    assert_eq!(fake.deals().len(), 1);
    // 3: the lookup finds what landed, and links it instead of creating another.
    let linked = connectors::push_deal(&setup.store, &crm, &deal)
        .await
        .unwrap();
    let landed = fake.deals()[0].id.clone();
    assert_eq!(
        (linked.remote_id.as_str(), linked.action),
        (landed.as_str(), PushAction::Linked)
    );
    assert_eq!(external_id(&setup, &deal).await, Some(landed.clone()));
    // 4: linked now, so the push updates it.
    let again = connectors::push_deal(&setup.store, &crm, &deal)
        .await
        .unwrap();
    assert_eq!(
        (again.remote_id.as_str(), again.action),
        (landed.as_str(), PushAction::Updated)
    );

    assert_eq!(
        requests_to(&setup.server, SALESFORCE_OPPORTUNITIES)
            .await
            .len(),
        2
    );
    let remote = fake.deals();
    assert_eq!(
        remote.len(),
        1,
        "a repeated push made a second Opportunity: {remote:?}"
    );
    let fields = &remote[0].fields;
    assert_eq!(fields["Name"], "Initech O'Brien renewal");
    assert_eq!(fields["StageName"], "Proposal/Price Quote");
    assert_eq!(fields["Amount"], json!(12000.5));
    assert_eq!(fields["CloseDate"], "2027-03-31");
    assert_eq!(fields["AccountId"], SF_ACCOUNT);
    // Each lookup asks for this deal's name on its account, created since this version.
    let lookups = requests_to(&setup.server, QUERY).await;
    assert_eq!(lookups.len(), 4, "three lookups, one retried after its 429");
    let soql: String = lookups[0]
        .url
        .query_pairs()
        .find(|(name, _)| name == "q")
        .unwrap()
        .1
        .into_owned();
    assert!(
        soql.contains("FROM Opportunity WHERE Name = 'Initech O\\'Brien renewal'"),
        "{soql}"
    );
    assert!(
        soql.contains(&format!("AccountId = '{SF_ACCOUNT}'")),
        "{soql}"
    );
    assert!(soql.contains("AND CreatedDate >= 20"), "{soql}");
    logs.assert_none_of(SECRETS);
}

// ---------------------------------------------------------------------------------------
// Both

async fn a_400_is_sent_once_and_changes_nothing_locally_on_either_crm(setup: Setup) {
    let (logs, _guard) = capture();
    let hubspot = hubspot(&setup, PRIVATE_APP_TOKEN).await;
    let salesforce = salesforce(&setup, "dealpush", SESSION).await;
    let account = synced_account(&setup, "501", "Acme").await;
    let new_deal = local_deal(&setup.store, &account, "Acme new").await;
    let linked_deal = local_deal(&setup.store, &account, "Acme linked").await;
    {
        let mut tx = setup.store.begin_write().await.unwrap();
        store::sync::set_opportunity_external_id(&mut tx, &linked_deal, "9500")
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let fake = FakeDeals::default();
    mount(
        &setup,
        "POST",
        path(HUBSPOT_DEALS),
        fake.hubspot_create(&[Fault::Refused(400, None)]),
    )
    .await;
    mount_hubspot_update(&setup, &fake, &[Fault::Refused(400, None)]).await;
    Mock::given(method("GET"))
        .and(path(QUERY))
        .respond_with(fake.salesforce_query(&[]))
        .mount(&setup.server)
        .await;
    mount(
        &setup,
        "POST",
        path(SALESFORCE_OPPORTUNITIES),
        fake.salesforce_create(&[Fault::Refused(400, None)]),
    )
    .await;
    let deals_before = [
        store::opportunities::get_one(&setup.store, &new_deal)
            .await
            .unwrap(),
        store::opportunities::get_one(&setup.store, &linked_deal)
            .await
            .unwrap(),
    ];

    let rejected =
        |error: &ConnectorError| matches!(error, ConnectorError::Rejected { status: 400, .. });
    // As the tool runs it: inside its transaction, which a failure rolls back.
    for deal in [&new_deal, &linked_deal] {
        let mut tx = setup.store.begin_write().await.unwrap();
        let error = connectors::push_deal_in(&mut tx, &hubspot, deal)
            .await
            .unwrap_err();
        drop(tx);
        assert!(rejected(&error), "{error:?}");
        assert!(!error.is_transient());
    }
    let error = connectors::push_deal(&setup.store, &salesforce, &new_deal)
        .await
        .unwrap_err();
    assert!(rejected(&error), "{error:?}");

    assert_eq!(requests_to(&setup.server, HUBSPOT_DEALS).await.len(), 1);
    assert_eq!(
        requests_to(&setup.server, "/crm/v3/objects/deals/9500")
            .await
            .len(),
        1
    );
    assert_eq!(
        requests_to(&setup.server, SALESFORCE_OPPORTUNITIES)
            .await
            .len(),
        1
    );
    assert!(fake.deals().is_empty());
    let deals_after = [
        store::opportunities::get_one(&setup.store, &new_deal)
            .await
            .unwrap(),
        store::opportunities::get_one(&setup.store, &linked_deal)
            .await
            .unwrap(),
    ];
    assert_eq!(
        deals_after, deals_before,
        "a refused push changed a local deal"
    );
    logs.assert_none_of(SECRETS);
}

#[tokio::test]
async fn a_deal_that_does_not_exist_is_named_before_anything_is_sent() {
    let setup = setup().await;
    let crm = hubspot(&setup, PRIVATE_APP_TOKEN).await;
    let error = connectors::push_deal(&setup.store, &crm, "opp_999999")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::Store(store::Error::NotFound { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("opp_999999"), "{error}");
    assert!(setup.server.received_requests().await.unwrap().is_empty());
}

on_both_backends!(
    a_hubspot_deal_push_creates_one_deal_through_a_lost_503_and_a_429_then_updates_it,
    a_hubspot_deal_push_creates_once_through_503_and_429_then_updates_on_sqlite,
    a_hubspot_deal_push_creates_once_through_503_and_429_then_updates_on_postgres
);
on_both_backends!(
    a_hubspot_deal_push_that_fails_every_attempt_stores_nothing_and_its_retry_makes_no_second_deal,
    a_failed_hubspot_deal_push_stores_nothing_and_its_retry_makes_no_second_deal_on_sqlite,
    a_failed_hubspot_deal_push_stores_nothing_and_its_retry_makes_no_second_deal_on_postgres
);
on_both_backends!(
    a_salesforce_deal_create_is_sent_once_and_a_repeated_push_links_what_landed,
    a_salesforce_deal_create_is_sent_once_and_a_retry_links_what_landed_on_sqlite,
    a_salesforce_deal_create_is_sent_once_and_a_retry_links_what_landed_on_postgres
);
on_both_backends!(
    a_400_is_sent_once_and_changes_nothing_locally_on_either_crm,
    a_400_is_sent_once_and_changes_nothing_locally_on_sqlite,
    a_400_is_sent_once_and_changes_nothing_locally_on_postgres
);
