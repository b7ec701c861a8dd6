//! The store's behaviour, run on SQLite and, when `REVOPS_TEST_POSTGRES_URL` is set, on
//! Postgres: every case is one async function taking a fresh, migrated store.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

use store::records::Page;
use store::{Error, Store};

/// Runs `case` on a fresh SQLite store and a fresh Postgres schema (or says it skipped).
macro_rules! on_both_backends {
    ($sqlite:ident, $postgres:ident, $case:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
            $case(store).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(url) = store::test_support::postgres_url_or_skip(stringify!($postgres)) else {
                return;
            };
            $case(store::test_support::fresh_postgres(&url).await.unwrap()).await;
        }
    };
}

async fn insert_account(store: &Store, id: &str, name: &str, stage: &str) {
    let now = store::clock::now();
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query(
        "INSERT INTO accounts (id, name, domain, industry, employee_count, country, plan_tier, lifecycle_stage, segment, mrr_minor, seats_purchased, created_at, updated_at) \
         VALUES ($1, $2, NULL, 'saas', 40, 'US', 'growth', $3, 'smb', 49900, 10, $4, $4)",
    )
    .bind(id)
    .bind(name)
    .bind(stage)
    .bind(&now)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn migrations_are_idempotent(store: Store) {
    let level = store.migration_level().await.unwrap();
    assert_eq!(level, store.known_migration_level());
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.migration_level().await.unwrap(), level);
}
on_both_backends!(
    migrations_run_again_change_nothing_on_sqlite,
    migrations_run_again_change_nothing_on_postgres,
    migrations_are_idempotent
);

async fn hostile_text_round_trips(store: Store) {
    let hostile = "Robert'); DROP TABLE accounts;-- \"quoted\" {\"json\": [1]} \u{1F600}";
    insert_account(&store, "acc_000001", hostile, "active").await;
    let account = store::accounts::get(&store, "acc_000001").await.unwrap();
    assert_eq!(account.name, hostile);
    assert_eq!(account.mrr_minor, 49_900);
    let counts = store::overview::record_counts(&store).await.unwrap();
    assert_eq!(counts.accounts, 1);
}
on_both_backends!(
    hostile_text_is_stored_verbatim_on_sqlite,
    hostile_text_is_stored_verbatim_on_postgres,
    hostile_text_round_trips
);

async fn unknown_ids_are_not_found(store: Store) {
    match store::accounts::get(&store, "acc_424242").await {
        Err(Error::NotFound {
            entity: "account",
            id,
        }) => assert_eq!(id, "acc_424242"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        store::leads::get(&store, "lead_1").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store::campaigns::get_summary(&store, "cmp_1").await,
        Err(Error::NotFound { .. })
    ));
}
on_both_backends!(
    unknown_ids_are_reported_as_not_found_on_sqlite,
    unknown_ids_are_reported_as_not_found_on_postgres,
    unknown_ids_are_not_found
);

async fn paging_visits_each_record_once(store: Store) {
    for n in 1..=7 {
        let stage = if n % 2 == 0 { "at_risk" } else { "active" };
        insert_account(
            &store,
            &store::ids::fixture_id("acc", n),
            &format!("Account {n}"),
            stage,
        )
        .await;
    }
    let filter = store::accounts::AccountFilter::default();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let Page { items, next_cursor } =
            store::accounts::list(&store, &filter, cursor.as_deref(), Some(3))
                .await
                .unwrap();
        seen.extend(items.into_iter().map(|a| a.id));
        match next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let at_risk = store::accounts::AccountFilter {
        lifecycle_stage: Some("at_risk".into()),
        ..Default::default()
    };
    let page = store::accounts::list(&store, &at_risk, None, Some(50))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    let totals = store::accounts::totals_by_lifecycle(&store, None)
        .await
        .unwrap();
    let active = totals
        .iter()
        .find(|t| t.lifecycle_stage == "active")
        .unwrap();
    assert_eq!((active.accounts, active.mrr_minor), (4, 4 * 49_900));
}
on_both_backends!(
    paging_visits_each_account_once_on_sqlite,
    paging_visits_each_account_once_on_postgres,
    paging_visits_each_record_once
);

async fn writes_are_idempotent_and_rollback_leaves_nothing(store: Store) {
    insert_account(&store, "acc_000001", "Acme", "active").await;
    let activity = store::activities::NewActivity {
        kind: "call".into(),
        subject: "Discovery".into(),
        detail: None,
        lead_id: None,
        account_id: Some("acc_000001".into()),
        contact_id: None,
        opportunity_id: None,
        actor: "tester".into(),
        occurred_at: store::clock::now(),
    };
    let mut tx = store.begin_write().await.unwrap();
    let (first, created) = store::activities::log(&mut tx, &activity, Some("key-1"))
        .await
        .unwrap();
    assert!(created);
    let (again, created_again) = store::activities::log(&mut tx, &activity, Some("key-1"))
        .await
        .unwrap();
    assert!(!created_again);
    assert_eq!(first.id, again.id);
    tx.commit().await.unwrap();

    // A transaction dropped without commit leaves nothing behind.
    let mut tx = store.begin_write().await.unwrap();
    store::activities::log(&mut tx, &activity, Some("key-2"))
        .await
        .unwrap();
    drop(tx);
    let recent = store::activities::recent_for_account(&store, "acc_000001", 10)
        .await
        .unwrap();
    assert_eq!(recent.len(), 1);

    // A reference to a missing record is refused, naming what is missing.
    let mut tx = store.begin_write().await.unwrap();
    let orphan = store::activities::NewActivity {
        account_id: Some("acc_999999".into()),
        ..activity.clone()
    };
    let error = store::activities::log(&mut tx, &orphan, None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("acc_999999"), "{error}");
}
on_both_backends!(
    writes_are_idempotent_and_a_rollback_leaves_nothing_on_sqlite,
    writes_are_idempotent_and_a_rollback_leaves_nothing_on_postgres,
    writes_are_idempotent_and_rollback_leaves_nothing
);

#[tokio::test]
async fn a_sqlite_file_and_its_folder_are_created_on_first_open_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("revops.db");
    let store = Store::open(&store::DatabaseLocation::SqliteFile(path.clone()))
        .await
        .unwrap();
    assert!(path.is_file());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

fn probe_arguments(keys: &[&str]) -> sqlx::any::AnyArguments {
    let mut arguments = sqlx::any::AnyArguments::default();
    for key in keys {
        sqlx::Arguments::add(&mut arguments, key.to_string()).unwrap();
        sqlx::Arguments::add(&mut arguments, store::clock::now()).unwrap();
    }
    arguments
}

async fn probes(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM store_settings WHERE key LIKE 'probe_%'")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_one_trip_write_commits_all_its_statements_or_none_and_leaves_no_lock_behind() {
    let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    let two_rows = "INSERT INTO store_settings (key, value, created_at) VALUES ($1, 'x', $2) RETURNING key; \
                    INSERT INTO store_settings (key, value, created_at) VALUES ($3, 'y', $4) RETURNING key";
    let rows = store
        .write_in_one_trip(
            "save probes",
            two_rows,
            probe_arguments(&["probe_a", "probe_b"]),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "each statement's returned row comes back");
    assert_eq!(probes(&store).await, 2);

    // The second statement breaks a unique key after the first has inserted its row.
    let error = store
        .write_in_one_trip(
            "save probes",
            two_rows,
            probe_arguments(&["probe_c", "probe_a"]),
        )
        .await
        .err()
        .expect("a broken unique key fails the write");
    assert!(matches!(error, Error::Conflict(_)), "{error}");
    assert_eq!(
        probes(&store).await,
        2,
        "the first statement's row was rolled back"
    );

    // Had the failed transaction gone back to the pool still open, it would hold the write
    // lock: these would wait out the busy timeout, or fail to begin inside it.
    for n in 0..20 {
        let key = format!("probe_after_{n}");
        store
            .write_in_one_trip(
                "save probes",
                "INSERT INTO store_settings (key, value, created_at) VALUES ($1, 'z', $2)",
                probe_arguments(&[&key]),
            )
            .await
            .unwrap();
    }
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query("DELETE FROM store_settings WHERE key = 'probe_a'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(probes(&store).await, 21);
}

async fn a_statement_written_on_its_own_commits_whole_or_not_at_all(store: Store) {
    let two_rows =
        "INSERT INTO store_settings (key, value, created_at) VALUES ($1, 'x', $2), ($3, 'y', $4)";
    let changed = store
        .write_statement(
            "save probes",
            two_rows,
            probe_arguments(&["probe_a", "probe_b"]),
        )
        .await
        .unwrap();
    assert_eq!(changed, 2);
    // The second row breaks a unique key; the first, new, row must not stay behind.
    let error = store
        .write_statement(
            "save probes",
            two_rows,
            probe_arguments(&["probe_c", "probe_a"]),
        )
        .await
        .expect_err("a broken unique key fails the statement");
    assert!(matches!(error, Error::Conflict(_)), "{error}");
    assert_eq!(probes(&store).await, 2);
    // Nothing is left open: a write transaction still starts and commits.
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query("DELETE FROM store_settings WHERE key = 'probe_a'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(probes(&store).await, 1);
}
on_both_backends!(
    a_statement_written_on_its_own_commits_whole_or_not_at_all_on_sqlite,
    a_statement_written_on_its_own_commits_whole_or_not_at_all_on_postgres,
    a_statement_written_on_its_own_commits_whole_or_not_at_all
);

/// Saves a probe row inside `tx`, as a tool's change would be.
async fn save_probe_in(tx: &mut store::WriteTx, key: &str) {
    sqlx::query("INSERT INTO store_settings (key, value, created_at) VALUES ($1, 'change', $2)")
        .bind(key)
        .bind(store::clock::now())
        .execute(&mut **tx)
        .await
        .unwrap();
}

const SAVE_PROBE: &str = "INSERT INTO store_settings (key, value, created_at) VALUES ($1, $2, $3)";

fn probe_values(key: &str, value: &str) -> Vec<store::Value> {
    vec![
        store::Value::Text(key.into()),
        store::Value::Text(value.into()),
        store::Value::Text(store::clock::now()),
    ]
}

/// Commits `tx` with the probe `probe_last` saved by its last statement.
async fn commit_with_the_last_probe(tx: store::WriteTx) {
    tx.commit_after(
        "save a probe",
        SAVE_PROBE,
        &probe_values("probe_last", "last"),
    )
    .await
    .unwrap();
}

async fn a_last_statement_commits_with_its_transaction_in_one_go(store: Store) {
    let mut tx = store.begin_write().await.unwrap();
    save_probe_in(&mut tx, "probe_change").await;
    commit_with_the_last_probe(tx).await;
    assert_eq!(probes(&store).await, 2, "the change and the last statement");
    // The connection goes back clean: later transactions start, write and commit.
    for round in 0..3 {
        let mut tx = store.begin_write().await.unwrap();
        save_probe_in(&mut tx, &format!("probe_later_{round}")).await;
        tx.commit().await.unwrap();
    }
    assert_eq!(probes(&store).await, 5);
}
on_both_backends!(
    a_last_statement_commits_with_its_transaction_in_one_go_on_sqlite,
    a_last_statement_commits_with_its_transaction_in_one_go_on_postgres,
    a_last_statement_commits_with_its_transaction_in_one_go
);

/// Saves the probe `key` in a write transaction, then asks `commit_after` to save
/// `probe_taken` again, which breaks its primary key.
async fn change_then_a_statement_that_fails(store: &Store, key: &str) -> store::CommitAfter {
    let mut tx = store.begin_write().await.unwrap();
    save_probe_in(&mut tx, key).await;
    tx.commit_after(
        "save a probe",
        SAVE_PROBE,
        &probe_values("probe_taken", "again"),
    )
    .await
    .expect_err("a broken key fails the statement")
}

async fn a_failing_last_statement_hands_the_transaction_back_as_it_was(store: Store) {
    let mut tx = store.begin_write().await.unwrap();
    save_probe_in(&mut tx, "probe_taken").await;
    tx.commit().await.unwrap();

    let failed = change_then_a_statement_that_fails(&store, "probe_change").await;
    let store::CommitAfter::StatementFailed { tx, error } = failed else {
        panic!("the transaction should come back: {failed:?}");
    };
    assert!(matches!(error, Error::Conflict(_)), "{error}");
    assert_eq!(
        probes(&store).await,
        1,
        "nothing of the open transaction is visible yet"
    );
    // The transaction is usable and holds the change, not the failed statement.
    let mut tx = tx;
    save_probe_in(&mut tx, "probe_after").await;
    commit_with_the_last_probe(tx).await;
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM store_settings WHERE key LIKE 'probe_%' ORDER BY key")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(
        keys,
        ["probe_after", "probe_change", "probe_last", "probe_taken"]
    );
    let again: String =
        sqlx::query_scalar("SELECT value FROM store_settings WHERE key = 'probe_taken'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(again, "change", "the failed statement changed nothing");

    // Dropped instead of committed after a failure: nothing of it is kept.
    let failed = change_then_a_statement_that_fails(&store, "probe_dropped").await;
    drop(failed);
    // The connections went back clean.
    assert_eq!(probes(&store).await, 4);
}
on_both_backends!(
    a_failing_last_statement_hands_the_transaction_back_as_it_was_on_sqlite,
    a_failing_last_statement_hands_the_transaction_back_as_it_was_on_postgres,
    a_failing_last_statement_hands_the_transaction_back_as_it_was
);

#[tokio::test]
async fn on_postgres_a_commit_that_fails_after_the_last_statement_keeps_nothing() {
    let Some(url) = store::test_support::postgres_url_or_skip(
        "on_postgres_a_commit_that_fails_after_the_last_statement_keeps_nothing",
    ) else {
        return;
    };
    let store = store::test_support::fresh_postgres(&url).await.unwrap();
    // A rule checked only at COMMIT: the statement passes, the commit fails.
    sqlx::query("CREATE TABLE probe_deferred (key TEXT UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        .execute(store.pool())
        .await
        .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    save_probe_in(&mut tx, "probe_change").await;
    sqlx::query("INSERT INTO probe_deferred (key) VALUES ('twice')")
        .execute(&mut *tx)
        .await
        .unwrap();
    let failed = tx
        .commit_after(
            "save a probe",
            "INSERT INTO probe_deferred (key) VALUES ($1)",
            &[store::Value::Text("twice".into())],
        )
        .await
        .expect_err("the deferred unique key fails the commit");
    assert!(
        matches!(failed, store::CommitAfter::NotCommitted(_)),
        "{failed:?}"
    );
    assert_eq!(
        probes(&store).await,
        0,
        "nothing of the transaction was kept"
    );
    let mut tx = store.begin_write().await.unwrap();
    save_probe_in(&mut tx, "probe_later").await;
    tx.commit().await.unwrap();
    assert_eq!(probes(&store).await, 1);
}

/// Postgres writes the last statement's values into its text: every one of these must arrive
/// exactly as it was sent and end nothing early.
async fn hostile_values_of_a_last_statement_arrive_unchanged(store: Store) {
    let hostile = [
        "O'Brien \"quoted\" \\ back\\slash",
        "'); DROP TABLE store_settings; --",
        "$rv0$; DROP TABLE store_settings; --",
        "ends in $rv0",
        "$rv0$rv1$rv2",
        "$$ $1 $2 $tag$",
        "tab\tnewline\ncarriage\rbell\u{7}escape\u{1b}",
        "{\"json\": [1, \"two\", null]}",
        "emoji 🚀 and ünïcödé and 中文",
        "$",
        "",
    ];
    for (n, value) in hostile.iter().enumerate() {
        let tx = store.begin_write().await.unwrap();
        tx.commit_after(
            "save a probe",
            SAVE_PROBE,
            &probe_values(&format!("probe_{n:02}"), value),
        )
        .await
        .unwrap();
    }
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT value FROM store_settings WHERE key LIKE 'probe_%' ORDER BY key",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(stored, hostile);

    // A NUL is stored by neither database: refused before anything is sent, the
    // transaction handed back.
    let mut tx = store.begin_write().await.unwrap();
    save_probe_in(&mut tx, "probe_beside_nul").await;
    let failed = tx
        .commit_after(
            "save a probe",
            SAVE_PROBE,
            &probe_values("probe_nul", "a\0b"),
        )
        .await;
    match (store.backend(), failed) {
        (store::Backend::Postgres, Err(store::CommitAfter::StatementFailed { tx, .. })) => {
            tx.commit().await.unwrap()
        }
        // SQLite binds the value and stores it as it is.
        (store::Backend::Sqlite, Ok(())) => {}
        (backend, other) => panic!("{backend:?}: {other:?}"),
    }
    assert_eq!(
        probes(&store).await as usize,
        hostile.len() + 1 + usize::from(store.backend() == store::Backend::Sqlite)
    );
}
on_both_backends!(
    hostile_values_of_a_last_statement_arrive_unchanged_on_sqlite,
    hostile_values_of_a_last_statement_arrive_unchanged_on_postgres,
    hostile_values_of_a_last_statement_arrive_unchanged
);

#[tokio::test]
async fn writers_of_one_process_take_their_turns_in_the_order_they_asked() {
    let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    let holding = store.begin_write().await.unwrap();
    let mut writers = Vec::new();
    for n in 0..6 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let key = format!("probe_turn_{n}");
            if n % 2 == 0 {
                let mut tx = store.begin_write().await.unwrap();
                sqlx::query(
                    "INSERT INTO store_settings (key, value, created_at) VALUES ($1, 'x', $2)",
                )
                .bind(&key)
                .bind(store::clock::now())
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            } else {
                store
                    .write_statement(
                        "save probes",
                        "INSERT INTO store_settings (key, value, created_at) VALUES ($1, 'x', $2)",
                        probe_arguments(&[&key]),
                    )
                    .await
                    .unwrap();
            }
        }));
        // On this one-threaded runtime the writer runs until it waits for its turn.
        tokio::task::yield_now().await;
    }
    assert_eq!(
        probes(&store).await,
        0,
        "nobody writes while a transaction holds the turn"
    );
    holding.commit().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let order: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM store_settings WHERE key LIKE 'probe_turn_%' ORDER BY rowid",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let asked: Vec<String> = (0..6).map(|n| format!("probe_turn_{n}")).collect();
    assert_eq!(order, asked);
}

#[tokio::test]
async fn a_one_trip_write_is_refused_on_postgres_instead_of_half_done() {
    let Some(url) = store::test_support::postgres_url_or_skip(
        "a_one_trip_write_is_refused_on_postgres_instead_of_half_done",
    ) else {
        return;
    };
    let store = store::test_support::fresh_postgres(&url).await.unwrap();
    let error = store
        .write_in_one_trip(
            "save probes",
            "INSERT INTO store_settings (key, value, created_at) VALUES ($1, 'x', $2)",
            probe_arguments(&["probe_a"]),
        )
        .await
        .err()
        .expect("Postgres refuses a one-trip write");
    assert!(matches!(error, Error::Internal(_)), "{error}");
    assert_eq!(probes(&store).await, 0);
}

/// One pass of `kind`: a first page with `unlinked` records left unlinked, then the last page.
async fn sync_pass(store: &Store, unlinked: i64) -> store::sync::SyncCursor {
    let mut tx = store.begin_write().await.unwrap();
    let cursor = store::sync::start_run(&mut tx, "hubspot", "contacts")
        .await
        .unwrap();
    let first = store::sync::PageCounts {
        created: 3,
        skipped: unlinked,
        unlinked,
        ..Default::default()
    };
    store::sync::save_page(&mut tx, "hubspot", "contacts", Some("page-2"), first)
        .await
        .unwrap();
    store::sync::save_page(&mut tx, "hubspot", "contacts", None, Default::default())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    cursor
}

async fn a_pass_that_left_records_unlinked_asks_for_them_again(store: Store) {
    let first = sync_pass(&store, 0).await;
    assert_eq!(first.pass_since, None, "the first pass asks for everything");
    let second = sync_pass(&store, 2).await;
    let since_second = second.pass_since.clone().expect("then only what changed");
    // The second pass left two contacts unlinked: the third asks from the same time again,
    // so they come back once their accounts are synced.
    let third = sync_pass(&store, 0).await;
    assert_eq!(third.pass_since.as_deref(), Some(since_second.as_str()));
    let fourth = sync_pass(&store, 0).await;
    assert!(
        fourth.pass_since.as_deref() > Some(since_second.as_str()),
        "a pass that linked everything moves on: {fourth:?}"
    );
}

on_both_backends!(
    a_pass_that_left_records_unlinked_asks_for_them_again_on_sqlite,
    a_pass_that_left_records_unlinked_asks_for_them_again_on_postgres,
    a_pass_that_left_records_unlinked_asks_for_them_again
);
