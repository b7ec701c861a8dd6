//! The gates under pressure, on SQLite and (with `REVOPS_TEST_POSTGRES_URL`) Postgres:
//! 500 concurrent spend requests against one cap never commit more than the cap, and every
//! misuse of a confirmation token is refused.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

use guard::budget::{OrganisationCaps, SpendRequest};
use guard::confirmation::Binding;
use store::Store;

async fn campaign(store: &Store, id: &str, lifetime_cap: i64, daily_cap: Option<i64>) {
    let now = store::clock::now();
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query(
        "INSERT INTO campaigns (id, name, channel, status, starts_on, budget_lifetime_minor, budget_daily_minor, created_at, updated_at) \
         VALUES ($1, 'Cap test', 'paid_search', 'active', '2026-11-01', $2, $3, $4, $4)",
    )
    .bind(id)
    .bind(lifetime_cap)
    .bind(daily_cap)
    .bind(&now)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn spend(
    store: &Store,
    caps: OrganisationCaps,
    id: &str,
    amount: i64,
    day: &str,
    key: Option<&str>,
) -> Result<(), String> {
    let mut tx = store.begin_write().await.map_err(|e| e.to_string())?;
    let request = SpendRequest {
        campaign_id: id,
        amount_minor: amount,
        spend_date: day,
        request_key: key,
        actor: "tester",
    };
    let reservation = guard::budget::reserve(&mut tx, store.backend(), caps, &request)
        .await
        .map_err(|e| e.to_string())?;
    guard::budget::close(&mut tx, &reservation.reservation_id, Some(amount), "tester")
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())
}

async fn committed(store: &Store, id: &str) -> i64 {
    sqlx::query_scalar("SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM budget_ledger WHERE campaign_id = $1 AND entry_kind = 'commit'")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn five_hundred_concurrent_requests_never_pass_the_cap(store: Store) {
    campaign(&store, "cmp_000001", 20_000, None).await;
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            spend(
                &store,
                OrganisationCaps::default(),
                "cmp_000001",
                100,
                "2026-11-20",
                None,
            )
            .await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => accepted += 1,
            Err(reason) => assert!(
                reason.contains("lifetime cap") && reason.contains("headroom"),
                "{reason}"
            ),
        }
    }
    assert_eq!(accepted, 200);
    assert_eq!(committed(&store, "cmp_000001").await, 20_000);
}

async fn daily_and_monthly_caps_refuse_with_headroom(store: Store) {
    campaign(&store, "cmp_000001", 1_000_000, Some(5_000)).await;
    campaign(&store, "cmp_000002", 1_000_000, None).await;
    let caps = OrganisationCaps {
        monthly_cap_minor: Some(12_000),
    };
    spend(&store, caps, "cmp_000001", 4_000, "2026-11-20", None)
        .await
        .unwrap();
    let daily = spend(&store, caps, "cmp_000001", 1_500, "2026-11-20", None)
        .await
        .unwrap_err();
    assert!(
        daily.contains("daily cap") && daily.contains("headroom that day 10.00"),
        "{daily}"
    );
    spend(&store, caps, "cmp_000001", 1_500, "2026-11-21", None)
        .await
        .unwrap();
    spend(&store, caps, "cmp_000002", 6_000, "2026-11-02", None)
        .await
        .unwrap();
    let monthly = spend(&store, caps, "cmp_000002", 600, "2026-11-30", None)
        .await
        .unwrap_err();
    assert!(
        monthly.contains("monthly cap") && monthly.contains("headroom this month 5.00"),
        "{monthly}"
    );
    spend(&store, caps, "cmp_000002", 600, "2026-12-01", None)
        .await
        .unwrap();
}

async fn a_repeated_request_key_spends_once(store: Store) {
    campaign(&store, "cmp_000001", 10_000, None).await;
    spend(
        &store,
        OrganisationCaps::default(),
        "cmp_000001",
        700,
        "2026-11-20",
        Some("inv-1"),
    )
    .await
    .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let again = guard::budget::reserve(
        &mut tx,
        store.backend(),
        OrganisationCaps::default(),
        &SpendRequest {
            campaign_id: "cmp_000001",
            amount_minor: 700,
            spend_date: "2026-11-20",
            request_key: Some("inv-1"),
            actor: "t",
        },
    )
    .await
    .unwrap();
    assert!(!again.created);
    drop(tx);
    assert_eq!(committed(&store, "cmp_000001").await, 700);
}

async fn every_token_misuse_is_refused(store: Store) {
    let binding = Binding {
        tool: "delete_campaign",
        args_digest: "args-1",
        actor: "u_dana",
    };
    let mut tx = store.begin_write().await.unwrap();
    let issued = guard::confirmation::issue(&mut tx, binding, chrono::Duration::seconds(300))
        .await
        .unwrap();
    let expired = guard::confirmation::issue(&mut tx, binding, chrono::Duration::seconds(-1))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let attempt = |token: String, binding: Binding<'static>| {
        let store = store.clone();
        async move {
            let mut tx = store.begin_write().await.unwrap();
            let outcome = guard::confirmation::consume(&mut tx, &token, binding).await;
            if outcome.is_ok() {
                tx.commit().await.unwrap();
            }
            outcome.map_err(|e| e.to_string())
        }
    };
    let other_tool = Binding {
        tool: "erase_customer_data",
        ..binding
    };
    let other_actor = Binding {
        actor: "u_eve",
        ..binding
    };
    let other_args = Binding {
        args_digest: "args-2",
        ..binding
    };
    assert!(
        attempt(issued.confirm_token.clone(), other_tool)
            .await
            .unwrap_err()
            .contains("issued for delete_campaign")
    );
    assert!(
        attempt(issued.confirm_token.clone(), other_actor)
            .await
            .unwrap_err()
            .contains("another actor")
    );
    assert!(
        attempt(issued.confirm_token.clone(), other_args)
            .await
            .unwrap_err()
            .contains("arguments differ")
    );
    assert!(
        attempt(expired.confirm_token.clone(), binding)
            .await
            .unwrap_err()
            .contains("expired")
    );
    assert!(
        attempt("cfm_made_up".into(), binding)
            .await
            .unwrap_err()
            .contains("not one this server issued")
    );
    attempt(issued.confirm_token.clone(), binding)
        .await
        .expect("the right use works once");
    assert!(
        attempt(issued.confirm_token, binding)
            .await
            .unwrap_err()
            .contains("already been used")
    );
}

macro_rules! on_both_backends {
    ($case:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
            $case(store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(url) = store::test_support::postgres_url_or_skip(stringify!($postgres)) else {
                return;
            };
            $case(store::test_support::fresh_postgres(&url).await.unwrap()).await;
        }
    };
}

on_both_backends!(
    five_hundred_concurrent_requests_never_pass_the_cap,
    five_hundred_concurrent_spend_requests_never_pass_the_cap_on_sqlite,
    five_hundred_concurrent_spend_requests_never_pass_the_cap_on_postgres
);
on_both_backends!(
    daily_and_monthly_caps_refuse_with_headroom,
    daily_and_monthly_caps_refuse_with_the_headroom_left_on_sqlite,
    daily_and_monthly_caps_refuse_with_the_headroom_left_on_postgres
);
on_both_backends!(
    a_repeated_request_key_spends_once,
    a_repeated_request_key_spends_once_on_sqlite,
    a_repeated_request_key_spends_once_on_postgres
);
on_both_backends!(
    every_token_misuse_is_refused,
    every_token_misuse_is_refused_on_sqlite,
    every_token_misuse_is_refused_on_postgres
);
