//! Logs captured at TRACE level (every crate: the vault, the store, sqlx) while every vault
//! scenario runs, on SQLite and (with `REVOPS_TEST_POSTGRES_URL`) Postgres, contain no
//! secret: no credential, no master key, no passphrase, in any common spelling.
//!
//! One test in its own binary, so the global subscriber sees everything and nothing else.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

mod scenarios;

use std::io::Write;
use std::sync::{Arc, Mutex};

use scenarios::*;
use store::Store;

/// A `MakeWriter` appending every log line to a shared buffer.
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

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

async fn every_scenario(store: impl AsyncFn() -> Store) -> Vec<String> {
    let mut secrets = Vec::new();
    secrets.extend(
        a_credential_round_trips_and_its_ciphertext_never_contains_the_plaintext(store().await)
            .await,
    );
    secrets.extend(swapping_two_ciphertexts_between_records_fails_to_open(store().await).await);
    secrets.extend(a_wrong_master_key_is_refused_and_changes_nothing(store().await).await);
    secrets
        .extend(a_tampered_ciphertext_has_its_own_error_and_changes_nothing(store().await).await);
    secrets
        .extend(an_unknown_key_version_has_its_own_error_and_changes_nothing(store().await).await);
    secrets.extend(
        a_rotation_interrupted_half_way_changes_nothing_and_can_be_run_again(store().await).await,
    );
    secrets.extend(
        a_passphrase_vault_derives_its_key_with_stored_argon2id_parameters(store().await).await,
    );
    secrets.extend(without_a_vault_every_error_says_how_to_set_one_up(store().await).await);
    secrets.extend(puts_racing_a_rotation_never_land_under_the_retired_key(store().await).await);
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_at_trace_level_during_every_scenario_contain_no_secret() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .init();

    let dirs = Mutex::new(Vec::new());
    let mut secrets = every_scenario(async || {
        let (store, dir) = store::test_support::fresh_sqlite().await.unwrap();
        dirs.lock().unwrap().push(dir);
        store
    })
    .await;
    if let Some(url) = store::test_support::postgres_url_or_skip(
        "logs_at_trace_level_during_every_scenario_contain_no_secret (Postgres part)",
    ) {
        secrets.extend(
            every_scenario(async || store::test_support::fresh_postgres(&url).await.unwrap()).await,
        );
    }

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    // The capture worked, at TRACE, from the vault and from the driver.
    assert!(
        logs.contains("credential sealed and stored"),
        "the vault's events were captured"
    );
    assert!(logs.contains("master key rotated"));
    assert!(logs.contains("failed its integrity check"));
    assert!(logs.contains("does not open the vault"));
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "low levels were captured"
    );
    assert!(
        logs.contains("sqlx"),
        "the driver's statements were captured"
    );
    assert!(secrets.len() > 50);
    for secret in &secrets {
        for spelling in spellings(secret) {
            assert!(
                !logs.contains(&spelling),
                "a secret appeared in the logs (spelling of length {})",
                spelling.len()
            );
        }
    }
    // The marker every test secret carries never appears either.
    assert!(!logs.contains("SECRET"), "a secret appeared in the logs");
}
