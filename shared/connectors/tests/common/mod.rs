//! Helpers shared by the connector tests: a TRACE log captured in memory, and a store with
//! an initialised vault beside a wiremock server.

#![allow(dead_code, reason = "each test binary uses a different subset")]

/// A case on SQLite, and on Postgres when `REVOPS_TEST_POSTGRES_URL` names a server.
#[allow(unused_macros, reason = "each test binary uses a different subset")]
macro_rules! on_both_backends {
    ($case:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $case(setup().await).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(url) = store::test_support::postgres_url_or_skip(stringify!($postgres)) else {
                return;
            };
            let store = store::test_support::fresh_postgres(&url).await.unwrap();
            $case(setup_on(store, None).await).await;
        }
    };
}

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connectors::{HubSpot, HubSpotConfig, Salesforce, SalesforceConfig};
use resilience::{BreakerConfig, RetryPolicy, Timeouts, UpstreamConfig};

use secrecy::SecretString;
use store::Store;
use tracing_subscriber::fmt::MakeWriter;
use vault::{MasterKey, Vault};
use wiremock::{MockServer, Request};

/// Everything the TRACE subscriber writes, kept in memory.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

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
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The log is not empty and holds none of `secrets`.
    pub fn assert_none_of(&self, secrets: &[&str]) {
        let text = self.text();
        assert!(!text.is_empty(), "nothing was logged");
        assert_none_of("the TRACE log", &text, secrets);
    }
}

pub fn assert_none_of(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} contains {secret}:\n{text}");
    }
}

/// Logs of this test at TRACE (on a current-thread runtime spawned tasks log here too).
pub fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, guard)
}

pub struct Setup {
    pub store: Store,
    pub vault: Arc<Vault>,
    pub server: MockServer,
    /// Keeps the SQLite folder alive for the test.
    pub _dir: Option<tempfile::TempDir>,
}

pub async fn setup() -> Setup {
    let (store, dir) = store::test_support::fresh_sqlite().await.unwrap();
    setup_on(store, Some(dir)).await
}

pub async fn setup_on(store: Store, dir: Option<tempfile::TempDir>) -> Setup {
    let vault = Vault::init(&store, MasterKey::generate().unwrap())
        .await
        .unwrap();
    Setup {
        store,
        vault: Arc::new(vault),
        server: MockServer::start().await,
        _dir: dir,
    }
}

/// Every lead's external id, sorted; each remote record must appear once.
pub async fn external_ids(store: &Store) -> Vec<String> {
    let mut ids: Vec<String> =
        sqlx::query_scalar("SELECT external_id FROM leads WHERE external_id IS NOT NULL")
            .fetch_all(store.pool())
            .await
            .unwrap();
    ids.sort();
    ids
}

pub async fn lead_count(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM leads")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// A lead created locally (no remote id).
pub async fn local_lead(store: &Store, email: &str) -> String {
    let mut tx = store.begin_write().await.unwrap();
    let lead = store::leads::NewLead {
        email: email.to_owned(),
        first_name: "Ada".to_owned(),
        last_name: "Lovelace".to_owned(),
        company_name: "Analytical Engines".to_owned(),
        domain: Some("engines.example".to_owned()),
        industry: "software".to_owned(),
        employee_count: 30,
        country: "United Kingdom".to_owned(),
        title: Some("CTO".to_owned()),
        source: "webinar".to_owned(),
        owner: None,
        campaign_id: None,
        external_id: None,
        signals: None,
    };
    let (lead, _) = store::leads::create(&mut tx, &lead, None).await.unwrap();
    tx.commit().await.unwrap();
    lead.id
}

/// A secret from test text.
pub fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

/// The requests the fake upstream received at path `to`.
pub async fn requests_to(server: &MockServer, to: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == to)
        .collect()
}

/// An upstream on the fake server that retries fast and never opens its breaker in a test.
pub fn upstream(name: &str, server: &MockServer) -> UpstreamConfig {
    UpstreamConfig::new(name, server.uri())
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
        })
}

/// HubSpot on the fake server, with `token` as its private-app token in the vault.
pub async fn hubspot(setup: &Setup, token: &str) -> HubSpot {
    setup
        .vault
        .put("hubspot", "private_app_token", secret(token))
        .await
        .unwrap();
    let config = HubSpotConfig {
        api: upstream("HubSpot", &setup.server),
        ..HubSpotConfig::default()
    };
    HubSpot::from_vault(Arc::clone(&setup.vault), config)
        .await
        .unwrap()
}

/// Salesforce on the fake server, with `session` as its access token and OAuth client
/// credentials named after `label` in the vault.
pub async fn salesforce(setup: &Setup, label: &str, session: &str) -> Salesforce {
    let vault = &setup.vault;
    for (name, value) in [
        ("client_id", format!("3MVG9-{label}-client")),
        ("client_secret", format!("sf-{label}-client-secret")),
        ("refresh_token", format!("5Aep-{label}-refresh")),
        ("access_token", session.to_owned()),
    ] {
        vault.put("salesforce", name, secret(&value)).await.unwrap();
    }
    vault
        .put("salesforce", "instance_url", secret(&setup.server.uri()))
        .await
        .unwrap();
    let config = SalesforceConfig {
        login: upstream("Salesforce", &setup.server),
        ..SalesforceConfig::default()
    };
    Salesforce::from_vault(Arc::clone(vault), config)
        .await
        .unwrap()
}

/// A local account linked to the CRM record `remote_id`, as an accounts sync leaves it.
pub async fn synced_account(setup: &Setup, remote_id: &str, name: &str) -> String {
    let mut tx = setup.store.begin_write().await.unwrap();
    let account = store::accounts::NewAccount {
        name: name.to_owned(),
        domain: Some(format!("{}.example", name.to_lowercase())),
        industry: "software".to_owned(),
        employee_count: 120,
        country: "Germany".to_owned(),
        owner: None,
        lifecycle_stage: "active".to_owned(),
    };
    let store::sync::AccountUpsert::Done { account_id, .. } =
        store::sync::upsert_account(&mut tx, remote_id, &account)
            .await
            .unwrap()
    else {
        panic!("the account was not created");
    };
    tx.commit().await.unwrap();
    account_id
}

/// A page of a HubSpot v3 search, with the cursor of the next page when there is one.
pub fn search_page(
    results: Vec<serde_json::Value>,
    next: Option<&str>,
) -> wiremock::ResponseTemplate {
    let mut body = serde_json::json!({ "total": results.len(), "results": results });
    if let Some(next) = next {
        body["paging"] = serde_json::json!({ "next": { "after": next } });
    }
    wiremock::ResponseTemplate::new(200).set_body_json(body)
}

/// Matches a HubSpot search whose body asks for the page after `after` (`None`: the first).
pub struct After(pub Option<&'static str>);

impl wiremock::Match for After {
    fn matches(&self, request: &Request) -> bool {
        serde_json::from_slice::<serde_json::Value>(&request.body)
            .ok()
            .is_some_and(|body| body.get("after").and_then(serde_json::Value::as_str) == self.0)
    }
}

/// Two pages of a Salesforce SOQL query of `object` at `query_path`: the first answers 429
/// with `Retry-After: 1` once before `first`; the page after the id `last_of_first` answers
/// 503 `failures` times before `second`.
pub async fn mount_two_soql_pages(
    server: &MockServer,
    query_path: &str,
    object: &str,
    first: wiremock::ResponseTemplate,
    last_of_first: &str,
    second: wiremock::ResponseTemplate,
    failures: u64,
) {
    use wiremock::matchers::{method, path, query_param_contains};
    use wiremock::{Mock, ResponseTemplate};
    let first_query = format!("FROM {object} ORDER BY Id");
    Mock::given(method("GET"))
        .and(path(query_path))
        .and(query_param_contains("q", first_query.as_str()))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    let any_query = format!("FROM {object}");
    Mock::given(method("GET"))
        .and(path(query_path))
        .and(query_param_contains("q", any_query.as_str()))
        .respond_with(first)
        .with_priority(5)
        .mount(server)
        .await;
    let after_first = format!("Id > '{last_of_first}'");
    Mock::given(method("GET"))
        .and(path(query_path))
        .and(query_param_contains("q", after_first.as_str()))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(failures)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(query_path))
        .and(query_param_contains("q", after_first.as_str()))
        .respond_with(second)
        .with_priority(2)
        .mount(server)
        .await;
}

/// A local deal on `account_id` (no remote id): proposal, 12,000.50 USD, closing 2027-03-31.
pub async fn local_deal(store: &Store, account_id: &str, name: &str) -> String {
    let mut tx = store.begin_write().await.unwrap();
    let deal = store::opportunities::NewOpportunity {
        account_id: account_id.to_owned(),
        lead_id: None,
        name: name.to_owned(),
        stage: "proposal".to_owned(),
        amount_minor: 1_200_050,
        currency: "USD".to_owned(),
        probability: None,
        close_date: "2027-03-31".to_owned(),
        owner: None,
    };
    let (deal, _) = store::opportunities::create(&mut tx, &deal, "test", None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    deal.id
}

/// How a fake CRM misbehaves on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request is applied, but its answer is lost: the client sees this status.
    AnswerLost(u16),
    /// The request is refused with this status before anything is applied, with a
    /// `Retry-After` of this many seconds when given.
    Refused(u16, Option<u64>),
}

/// One deal a fake CRM holds.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeDeal {
    pub id: String,
    /// The properties (HubSpot) or fields (Salesforce) the last write sent.
    pub fields: serde_json::Value,
    /// HubSpot: the associations the create sent.
    pub associations: serde_json::Value,
    /// The idempotency key the create carried.
    pub key: Option<String>,
}

/// The deals of a fake CRM: creates and updates land in it, so a test counts what exists
/// remotely, not only the requests. Each responder takes its own faults, one per request in
/// order, before it behaves.
#[derive(Clone, Default)]
pub struct FakeDeals(Arc<Mutex<Vec<FakeDeal>>>);

impl FakeDeals {
    pub fn deals(&self) -> Vec<FakeDeal> {
        self.0.lock().unwrap().clone()
    }

    /// `POST /crm/v3/objects/deals`, honouring `Idempotency-Key`: a create repeating a key
    /// gets the deal the first one made.
    pub fn hubspot_create(&self, faults: &[Fault]) -> FakeResponder {
        self.responder(FakeRoute::HubSpotCreate, faults)
    }

    /// `PATCH /crm/v3/objects/deals/{id}`.
    pub fn hubspot_update(&self, faults: &[Fault]) -> FakeResponder {
        self.responder(FakeRoute::HubSpotUpdate, faults)
    }

    /// `POST /services/data/{version}/sobjects/Opportunity`: no idempotency key, so every
    /// create that is applied makes a new Opportunity.
    pub fn salesforce_create(&self, faults: &[Fault]) -> FakeResponder {
        self.responder(FakeRoute::SalesforceCreate, faults)
    }

    /// `PATCH /services/data/{version}/sobjects/Opportunity/{id}`.
    pub fn salesforce_update(&self, faults: &[Fault]) -> FakeResponder {
        self.responder(FakeRoute::SalesforceUpdate, faults)
    }

    /// A SOQL query: the Opportunities whose `Name = '…'` the query names.
    pub fn salesforce_query(&self, faults: &[Fault]) -> FakeResponder {
        self.responder(FakeRoute::SalesforceQuery, faults)
    }

    fn responder(&self, route: FakeRoute, faults: &[Fault]) -> FakeResponder {
        FakeResponder {
            deals: self.clone(),
            route,
            faults: Arc::new(Mutex::new(faults.iter().copied().collect())),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum FakeRoute {
    HubSpotCreate,
    HubSpotUpdate,
    SalesforceCreate,
    SalesforceUpdate,
    SalesforceQuery,
}

/// One route of a [`FakeDeals`], with the faults it has left to play.
pub struct FakeResponder {
    deals: FakeDeals,
    route: FakeRoute,
    faults: Arc<Mutex<std::collections::VecDeque<Fault>>>,
}

impl wiremock::Respond for FakeResponder {
    fn respond(&self, request: &Request) -> wiremock::ResponseTemplate {
        use serde_json::{Value, json};
        use wiremock::ResponseTemplate;
        let fault = self.faults.lock().unwrap().pop_front();
        if let Some(Fault::Refused(status, retry_after)) = fault {
            let refused = ResponseTemplate::new(status);
            return match retry_after {
                Some(seconds) => refused.insert_header("Retry-After", seconds.to_string().as_str()),
                None => refused,
            };
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let last_segment = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut deals = self.deals.0.lock().unwrap();
        let answer = match self.route {
            FakeRoute::HubSpotCreate => {
                let key = request
                    .headers
                    .get(resilience::IDEMPOTENCY_KEY)
                    .map(|value| value.to_str().unwrap().to_owned());
                let replay = key
                    .as_ref()
                    .and_then(|key| deals.iter().find(|deal| deal.key.as_ref() == Some(key)));
                let deal = match replay {
                    Some(deal) => deal.clone(),
                    None => {
                        let deal = FakeDeal {
                            id: (9001 + deals.len()).to_string(),
                            fields: body["properties"].clone(),
                            associations: body["associations"].clone(),
                            key,
                        };
                        deals.push(deal.clone());
                        deal
                    }
                };
                ResponseTemplate::new(201).set_body_json(
                    json!({"id": deal.id, "properties": deal.fields, "archived": false}),
                )
            }
            FakeRoute::SalesforceCreate => {
                let id = format!("006000000000{:03}AAA", deals.len() + 1);
                deals.push(FakeDeal {
                    id: id.clone(),
                    fields: body,
                    associations: Value::Null,
                    key: None,
                });
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": id, "success": true, "errors": []}))
            }
            FakeRoute::HubSpotUpdate | FakeRoute::SalesforceUpdate => {
                let fields = match self.route {
                    FakeRoute::HubSpotUpdate => body["properties"].clone(),
                    _ => body,
                };
                match deals.iter_mut().find(|deal| deal.id == last_segment) {
                    Some(deal) => {
                        if let (Some(old), Some(new)) =
                            (deal.fields.as_object_mut(), fields.as_object())
                        {
                            old.extend(new.clone());
                        }
                        match self.route {
                            FakeRoute::HubSpotUpdate => ResponseTemplate::new(200)
                                .set_body_json(json!({"id": deal.id, "properties": deal.fields})),
                            _ => ResponseTemplate::new(204),
                        }
                    }
                    None => ResponseTemplate::new(404),
                }
            }
            FakeRoute::SalesforceQuery => {
                let soql = request
                    .url
                    .query_pairs()
                    .find(|(name, _)| name == "q")
                    .map(|(_, q)| q.into_owned())
                    .unwrap_or_default();
                let records: Vec<Value> = deals
                    .iter()
                    .filter(|deal| {
                        // As the query writes it: a SOQL literal, `\\` and `'` escaped.
                        let name = deal.fields["Name"].as_str().unwrap_or_default();
                        let literal = name.replace('\\', "\\\\").replace('\'', "\\'");
                        soql.contains(&format!("Name = '{literal}'"))
                    })
                    .map(|deal| {
                        let mut record = deal.fields.clone();
                        record["Id"] = json!(deal.id);
                        record["attributes"] = json!({"type": "Opportunity"});
                        record
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(
                    json!({"totalSize": records.len(), "done": true, "records": records}),
                )
            }
        };
        match fault {
            Some(Fault::AnswerLost(status)) => ResponseTemplate::new(status),
            _ => answer,
        }
    }
}
