//! Contact sync (people at accounts) against a local server that misbehaves on purpose
//! (wiremock): HubSpot contacts (search paging, then a batch read of their company
//! associations) and Salesforce Contacts (keyset SOQL), with a 429 carrying `Retry-After` and
//! a page that answers 503 before it succeeds. Each contact must land once, keyed by its
//! remote id, at the account synced from its company; a contact whose company is not synced
//! (or that has none) is reported as unlinked, never given an invented account; a local
//! contact with the same email is linked rather than duplicated, and one already linked to
//! another remote record is reported as a conflict. Logs hold no token.

#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod common;

use common::{
    After, Setup, capture, hubspot, mount_two_soql_pages, requests_to, salesforce, search_page,
    setup, setup_on, synced_account,
};
use connectors::hubspot::CONTACT_COMPANIES;
use connectors::sync::SyncKind;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param_contains};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

const PRIVATE_APP_TOKEN: &str = "pat-na1-contacts-secret-0000";
const SESSION: &str = "00Dcontacts!session-secret-1111";
const SECRETS: &[&str] = &[PRIVATE_APP_TOKEN, SESSION];
const CONTACT_SEARCH: &str = "/crm/v3/objects/contacts/search";
const QUERY: &str = "/services/data/v62.0/query";

/// A contact created locally (by a tool, say), without a remote id.
async fn local_contact(setup: &Setup, account_id: &str, email: &str, role: &str) -> String {
    let mut tx = setup.store.begin_write().await.unwrap();
    let contact = store::accounts::NewContact {
        account_id: account_id.to_owned(),
        first_name: "Grace".to_owned(),
        last_name: "Hopper".to_owned(),
        email: email.to_owned(),
        phone: Some("+1 555 0100".to_owned()),
        title: None,
        role: role.to_owned(),
    };
    let (created, _) = store::accounts::create_contact(&mut tx, &contact, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    created.id
}

/// Every linked contact as (remote id, account, email, first name, phone, title, role).
type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
);

async fn contacts(setup: &Setup) -> Vec<Row> {
    let mut rows: Vec<Row> = sqlx::query_as(
        "SELECT external_id, account_id, email, first_name, phone, title, role \
         FROM contacts WHERE external_id IS NOT NULL",
    )
    .fetch_all(setup.store.pool())
    .await
    .unwrap();
    rows.sort();
    rows
}

async fn contact_count(setup: &Setup) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM contacts")
        .fetch_one(setup.store.pool())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// HubSpot

fn hubspot_contact(id: &str) -> Value {
    json!({
        "id": id,
        "properties": {
            "email": format!("Person{id}@Acme.Example"),
            "firstname": format!("Person {id}"),
            "lastname": "Doe",
            "phone": if id == "1" { Value::from("+49 30 1234") } else { Value::Null },
            "jobtitle": "Engineer",
            "lastmodifieddate": "2026-11-20T10:00:00Z",
        },
        "updatedAt": "2026-11-20T10:00:00Z",
        "archived": false,
    })
}

/// The association batch read: contact 1 has an unlabeled company first and its primary
/// (501, type 1) second; 2 belongs to 502 (not synced locally); 3 to 501 (marked primary
/// by its label only); 4 has no company.
struct Associations;

impl Respond for Associations {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let company = |id: u64, type_id: u64, label: Option<&str>| {
            json!({"toObjectId": id, "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}
            ]})
        };
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for input in body["inputs"].as_array().unwrap() {
            let id = input["id"].as_str().unwrap();
            let to = match id {
                "1" => vec![company(777, 279, None), company(501, 1, Some("Primary"))],
                "2" => vec![company(502, 1, Some("Primary"))],
                "3" => vec![company(888, 279, None), company(501, 9999, Some("Primary"))],
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

async fn a_hubspot_contact_sync_run_twice_creates_each_contact_once_and_counts_the_unlinked(
    setup: Setup,
) {
    let (logs, _guard) = capture();
    let crm = hubspot(&setup, PRIVATE_APP_TOKEN).await;
    let acme = synced_account(&setup, "501", "Acme").await;
    // The first association read is rate limited, the second search page 503s once: both
    // are retried inside the run.
    Mock::given(method("POST"))
        .and(path(CONTACT_COMPANIES))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path(CONTACT_SEARCH))
        .and(After(Some("p2")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path(CONTACT_SEARCH))
        .and(After(None))
        .respond_with(search_page(
            vec![hubspot_contact("1"), hubspot_contact("2")],
            Some("p2"),
        ))
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path(CONTACT_SEARCH))
        .and(After(Some("p2")))
        .respond_with(search_page(
            vec![hubspot_contact("3"), hubspot_contact("4")],
            None,
        ))
        .mount(&setup.server)
        .await;
    Mock::given(method("POST"))
        .and(path(CONTACT_COMPANIES))
        .respond_with(Associations)
        .mount(&setup.server)
        .await;

    let report = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Contacts, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            report.pages,
            report.created,
            report.skipped,
            report.unlinked,
            report.conflicts
        ),
        (2, 2, 2, 2, 0),
        "{report:?}"
    );
    assert!(report.complete);
    let reasons: Vec<(&str, &str)> = report
        .skipped_records
        .iter()
        .map(|s| (s.remote_id.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(reasons[0].0, "2");
    assert!(
        reasons[0].1.starts_with("unlinked") && reasons[0].1.contains("sync accounts first"),
        "{reasons:?}"
    );
    assert!(reasons[0].1.contains("502"), "{reasons:?}");
    assert_eq!(reasons[1].0, "4");
    assert!(
        reasons[1].1.starts_with("unlinked") && reasons[1].1.contains("kind leads"),
        "{reasons:?}"
    );
    let expected: Vec<Row> = vec![
        (
            "1".to_owned(),
            acme.clone(),
            "person1@acme.example".to_owned(),
            "Person 1".to_owned(),
            Some("+49 30 1234".to_owned()),
            Some("Engineer".to_owned()),
            "user".to_owned(),
        ),
        (
            "3".to_owned(),
            acme.clone(),
            "person3@acme.example".to_owned(),
            "Person 3".to_owned(),
            None,
            Some("Engineer".to_owned()),
            "user".to_owned(),
        ),
    ];
    assert_eq!(contacts(&setup).await, expected);
    // Two pages, the first association read retried once after its 429.
    assert_eq!(requests_to(&setup.server, CONTACT_COMPANIES).await.len(), 3);
    let searched: Value =
        serde_json::from_slice(&requests_to(&setup.server, CONTACT_SEARCH).await[0].body).unwrap();
    assert!(
        searched["properties"]
            .as_array()
            .unwrap()
            .contains(&json!("phone")),
        "{searched}"
    );

    let again = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Contacts, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.unlinked
        ),
        (0, 0, 2, 2),
        "{again:?}"
    );
    assert_eq!(contact_count(&setup).await, 2);
    assert_eq!(contacts(&setup).await, expected);
    let cursor = store::sync::get(&setup.store, "hubspot", "contacts")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            cursor.page_cursor,
            cursor.records_created,
            cursor.records_skipped
        ),
        (None, 2, 4)
    );
    logs.assert_none_of(SECRETS);
}

// ---------------------------------------------------------------------------------------
// Salesforce

const ACCOUNT: &str = "001000000000000AAA";

fn contact_id(n: u32) -> String {
    format!("003{n:015}")
}

/// Contact `n`; every tenth has no account (a private contact), every other one belongs to
/// the synced account.
fn salesforce_contact(n: u32) -> Value {
    json!({
        "attributes": {"type": "Contact"},
        "Id": contact_id(n),
        "AccountId": if n.is_multiple_of(10) { Value::Null } else { Value::from(ACCOUNT) },
        "Email": format!("contact{n}@initech.example"),
        "FirstName": format!("Contact {n}"),
        "LastName": "[not provided]",
        "Phone": null,
        "Title": "Analyst",
        "LastModifiedDate": "2026-11-20T10:00:00.000+0000",
    })
}

fn salesforce_contacts(range: std::ops::RangeInclusive<u32>) -> ResponseTemplate {
    let records: Vec<Value> = range.map(salesforce_contact).collect();
    ResponseTemplate::new(200)
        .set_body_json(json!({"totalSize": records.len(), "done": true, "records": records}))
}

async fn a_salesforce_contact_sync_pages_by_id_and_links_each_contact_to_its_account(setup: Setup) {
    let (logs, _guard) = capture();
    let crm = salesforce(&setup, "contacts", SESSION).await;
    let account = synced_account(&setup, ACCOUNT, "Initech").await;
    // The first page is rate limited once, the second answers 503 once: both are retried
    // inside the run.
    mount_two_soql_pages(
        &setup.server,
        QUERY,
        "Contact",
        salesforce_contacts(1..=200),
        &contact_id(200),
        salesforce_contacts(201..=205),
        1,
    )
    .await;

    let report = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Contacts, 10)
        .await
        .unwrap();
    assert!(report.complete && !report.resumed, "{report:?}");
    assert_eq!(
        (
            report.pages,
            report.created,
            report.unlinked,
            report.skipped
        ),
        (2, 185, 20, 20),
        "{report:?}"
    );
    assert!(
        report.skipped_records[0].reason.starts_with("unlinked"),
        "{report:?}"
    );
    let synced = contacts(&setup).await;
    let expected_ids: Vec<String> = (1..=205)
        .filter(|n: &u32| !n.is_multiple_of(10))
        .map(contact_id)
        .collect();
    let ids: Vec<String> = synced.iter().map(|c| c.0.clone()).collect();
    assert_eq!(ids, expected_ids);
    for (remote_id, account_id, email, first_name, phone, title, role) in &synced {
        let n: u32 = remote_id[3..].parse().unwrap();
        assert_eq!(account_id, &account, "{remote_id}");
        assert_eq!(email, &format!("contact{n}@initech.example"));
        assert_eq!(first_name, &format!("Contact {n}"));
        assert_eq!(
            (phone.as_deref(), title.as_deref(), role.as_str()),
            (None, Some("Analyst"), "user")
        );
    }
    // Salesforce's placeholder for a required last name is not kept as a name.
    let last_names: Vec<String> = sqlx::query_scalar("SELECT DISTINCT last_name FROM contacts")
        .fetch_all(setup.store.pool())
        .await
        .unwrap();
    assert_eq!(last_names, [""]);
    let queries = requests_to(&setup.server, QUERY).await;
    let soql: Vec<String> = queries
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert!(
        soql.iter().all(|q| q.starts_with(
            "SELECT Id, AccountId, Email, FirstName, LastName, Phone, Title, LastModifiedDate FROM Contact"
        )),
        "{soql:?}"
    );

    // A new pass: the same records again create nothing; the private contacts are reported
    // as unlinked each time, not created.
    let again = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Contacts, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.unlinked
        ),
        (0, 0, 185, 20),
        "{again:?}"
    );
    assert_eq!(contact_count(&setup).await, 185);
    logs.assert_none_of(SECRETS);
}

async fn an_existing_local_contact_with_the_same_email_is_linked_not_duplicated(setup: Setup) {
    let (logs, _guard) = capture();
    let crm = salesforce(&setup, "contacts", SESSION).await;
    let account = synced_account(&setup, ACCOUNT, "Initech").await;
    // Made by hand before the CRM was connected: no remote id, a role the CRM cannot know.
    let grace = local_contact(&setup, &account, "Grace@Navy.Example", "champion").await;
    // Already linked to another Salesforce Contact (a duplicate in the CRM, say).
    let taken = local_contact(&setup, &account, "taken@initech.example", "billing").await;
    let mut tx = setup.store.begin_write().await.unwrap();
    let remote = store::accounts::RemoteContact {
        first_name: "Tom".to_owned(),
        last_name: "Taken".to_owned(),
        email: "taken@initech.example".to_owned(),
        phone: None,
        title: None,
        role: "user".to_owned(),
        account_external_id: Some(ACCOUNT.to_owned()),
    };
    let linked = store::accounts::upsert_remote_contact(&mut tx, "003000000000000OTH", &remote)
        .await
        .unwrap();
    assert!(
        matches!(linked, store::accounts::ContactUpsert::Done { ref contact_id, .. } if *contact_id == taken),
        "{linked:?}"
    );
    tx.commit().await.unwrap();

    let records = vec![
        json!({
            "attributes": {"type": "Contact"},
            "Id": contact_id(1),
            "AccountId": ACCOUNT,
            "Email": "grace@navy.example",
            "FirstName": "Grace",
            "LastName": "Hopper",
            "Phone": null,
            "Title": "Rear Admiral",
            "LastModifiedDate": "2026-11-20T10:00:00.000+0000",
        }),
        json!({
            "attributes": {"type": "Contact"},
            "Id": contact_id(2),
            "AccountId": ACCOUNT,
            "Email": "Taken@Initech.Example",
            "FirstName": "Tim",
            "LastName": "Taken",
            "LastModifiedDate": "2026-11-20T10:00:00.000+0000",
        }),
    ];
    Mock::given(method("GET"))
        .and(path(QUERY))
        .and(query_param_contains("q", "FROM Contact"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    Mock::given(method("GET"))
        .and(path(QUERY))
        .and(query_param_contains("q", "FROM Contact"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"totalSize": 2, "done": true, "records": records})),
        )
        .with_priority(2)
        .mount(&setup.server)
        .await;

    let report = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Contacts, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            report.created,
            report.updated,
            report.conflicts,
            report.skipped
        ),
        (0, 1, 1, 1),
        "{report:?}"
    );
    let conflict = &report.skipped_records[0];
    assert_eq!(conflict.remote_id, contact_id(2));
    assert!(
        conflict.reason.starts_with("conflict")
            && conflict.reason.contains(&taken)
            && conflict.reason.contains("003000000000000OTH"),
        "{conflict:?}"
    );
    assert_eq!(contact_count(&setup).await, 2);
    assert_eq!(
        store::accounts::contact_external_id(&setup.store, &grace)
            .await
            .unwrap()
            .as_deref(),
        Some(contact_id(1).as_str())
    );
    let people = store::accounts::contacts_of(&setup.store, &account)
        .await
        .unwrap();
    let linked = people.iter().find(|c| c.id == grace).unwrap();
    // The CRM's title is applied; the local role and the phone the CRM lacks are kept, and
    // the email keeps its local spelling (it is the same address).
    assert_eq!(
        (
            linked.title.as_deref(),
            linked.role.as_str(),
            linked.phone.as_deref(),
            linked.email.as_str()
        ),
        (
            Some("Rear Admiral"),
            "champion",
            Some("+1 555 0100"),
            "Grace@Navy.Example"
        )
    );
    let untouched = people.iter().find(|c| c.id == taken).unwrap();
    assert_eq!(untouched.first_name, "Tom");

    let again = connectors::sync_from_crm(&setup.store, &crm, SyncKind::Contacts, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.conflicts
        ),
        (0, 0, 1, 1),
        "{again:?}"
    );
    assert_eq!(contact_count(&setup).await, 2);
    logs.assert_none_of(SECRETS);
}

on_both_backends!(
    a_hubspot_contact_sync_run_twice_creates_each_contact_once_and_counts_the_unlinked,
    a_hubspot_contact_sync_run_twice_creates_each_contact_once_on_sqlite,
    a_hubspot_contact_sync_run_twice_creates_each_contact_once_on_postgres
);
on_both_backends!(
    a_salesforce_contact_sync_pages_by_id_and_links_each_contact_to_its_account,
    a_salesforce_contact_sync_pages_by_id_and_links_contacts_on_sqlite,
    a_salesforce_contact_sync_pages_by_id_and_links_contacts_on_postgres
);
on_both_backends!(
    an_existing_local_contact_with_the_same_email_is_linked_not_duplicated,
    an_existing_local_contact_with_the_same_email_is_linked_on_sqlite,
    an_existing_local_contact_with_the_same_email_is_linked_on_postgres
);
