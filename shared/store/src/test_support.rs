//! Fresh, isolated databases for tests: a SQLite file in a temporary folder, or a new
//! schema on the Postgres server named by `REVOPS_TEST_POSTGRES_URL`.
//!
//! Tests that need Postgres call [`postgres_url_or_skip`]: on a laptop without the variable
//! the test says it was skipped and why; under CI (`CI=true`) a missing Postgres fails.

use crate::{DatabaseLocation, Result, Store};

/// The variable naming the Postgres server tests may use.
pub const TEST_POSTGRES_URL_VAR: &str = "REVOPS_TEST_POSTGRES_URL";

/// The test Postgres URL, or `None` after printing why the test is skipped.
/// Panics under CI, where a missing Postgres is a failure, not a skip.
pub fn postgres_url_or_skip(test: &str) -> Option<String> {
    match std::env::var(TEST_POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let under_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !under_ci,
                "{test}: {TEST_POSTGRES_URL_VAR} is not set, and under CI the Postgres tests must run"
            );
            eprintln!(
                "skipped {test} on Postgres: set {TEST_POSTGRES_URL_VAR}=postgres://postgres@127.0.0.1:5432/test to run it"
            );
            None
        }
    }
}

/// A SQLite store in a fresh temporary folder; keep the folder alive while the store is used.
pub async fn fresh_sqlite() -> Result<(Store, tempfile::TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix("revops-test")
        .tempdir()
        .map_err(|error| {
            crate::Error::Unavailable(format!("cannot create a temporary folder: {error}"))
        })?;
    let location = DatabaseLocation::SqliteFile(dir.path().join("revops.db"));
    Ok((Store::open(&location).await?, dir))
}

/// A Postgres location whose connections use a brand-new schema, so tests sharing one
/// server never see each other's rows. Returns the location (for spawning servers on it).
pub async fn fresh_postgres_location(base_url: &str) -> Result<DatabaseLocation> {
    let schema = format!("t_{}", crate::ids::new_id("s").trim_start_matches("s_"));
    let admin = Store::connect(&DatabaseLocation::parse(base_url)?).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(admin.pool())
        .await
        .map_err(|error| crate::Error::from_sqlx("create a test schema", error))?;
    admin.close().await;
    let separator = if base_url.contains('?') { '&' } else { '?' };
    DatabaseLocation::parse(&format!(
        "{base_url}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// A migrated Postgres store on a brand-new schema.
pub async fn fresh_postgres(base_url: &str) -> Result<Store> {
    Store::open(&fresh_postgres_location(base_url).await?).await
}
