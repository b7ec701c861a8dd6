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
