//! Seeding the demo company end to end: the counts it promises, that it is deterministic,
//! that outcomes follow from signals, that budgets hold, and that it refuses a store that
//! already has data. The Postgres variant runs when `REVOPS_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)]

use sqlx::{AnyPool, Row};
use store::Store;
use store::test_support::{fresh_postgres, fresh_sqlite, postgres_url_or_skip};

async fn count(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

async fn distinct_values(pool: &AnyPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(pool)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// Every row of a query as text, one line per row, values separated by `|`.
async fn render(pool: &AnyPool, sql: &str) -> String {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(pool)
        .await
        .unwrap();
    let mut out = String::new();
    for row in rows {
        for index in 0..row.len() {
            let cell = if let Ok(value) = row.try_get::<Option<String>, _>(index) {
                format!("{value:?}")
            } else if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
                format!("{value:?}")
            } else if let Ok(value) = row.try_get::<Option<bool>, _>(index) {
                format!("{value:?}")
            } else {
                format!("{:?}", row.try_get::<Option<f64>, _>(index).unwrap())
            };
            out.push_str(&cell);
            out.push('|');
        }
        out.push('\n');
    }
    out
}

/// The counts the brief promises at scale 1, and every stage present.
async fn assert_scale_one_promises(store: &Store) {
    let pool = store.pool();
    let minimums = [
        ("accounts", 200),
        ("leads", 500),
        ("opportunities", 300),
        ("campaigns", 40),
        ("support_tickets", 1_000),
        ("nps_responses", 300),
    ];
    for (table, minimum) in minimums {
        let n = count(pool, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert!(
            n >= minimum,
            "{table}: {n} rows, expected at least {minimum}"
        );
    }
    let too_few_contacts = count(
        pool,
        "SELECT COUNT(*) FROM accounts a WHERE (SELECT COUNT(*) FROM contacts c WHERE c.account_id = a.id) NOT BETWEEN 2 AND 5",
    )
    .await;
    assert_eq!(too_few_contacts, 0, "every account has 2-5 contacts");
    let budget_commits = count(
        pool,
        "SELECT COUNT(*) FROM budget_ledger WHERE entry_kind = 'commit'",
    )
    .await;
    assert!(
        budget_commits > 40,
        "campaigns spent: {budget_commits} commits"
    );
    let touches = count(pool, "SELECT COUNT(*) FROM marketing_touches").await;
    assert!(touches > 300, "marketing touches: {touches}");

    // 52 weekly snapshots for every customer that has been one all year.
    let short_histories = count(
        pool,
        "SELECT COUNT(*) FROM accounts a WHERE a.lifecycle_stage IN ('active', 'at_risk') \
         AND a.customer_since < '2025-11-01' \
         AND (SELECT COUNT(*) FROM usage_snapshots u WHERE u.account_id = a.id) <> 52",
    )
    .await;
    assert_eq!(
        short_histories, 0,
        "long-standing customers have 52 weeks of usage"
    );

    let stages = distinct_values(
        pool,
        "SELECT DISTINCT lifecycle_stage FROM accounts ORDER BY 1",
    )
    .await;
    assert_eq!(stages, ["active", "at_risk", "churned", "trial"]);
    let opportunity_stages =
        distinct_values(pool, "SELECT DISTINCT stage FROM opportunities ORDER BY 1").await;
    assert_eq!(
        opportunity_stages,
        [
            "closed_lost",
            "closed_won",
            "negotiation",
            "proposal",
            "prospecting",
            "qualification"
        ]
    );
    let tiers = distinct_values(pool, "SELECT DISTINCT plan_tier FROM accounts ORDER BY 1").await;
    assert_eq!(tiers, ["enterprise", "growth", "starter"]);
    let segments = distinct_values(pool, "SELECT DISTINCT segment FROM accounts ORDER BY 1").await;
    assert_eq!(segments, ["enterprise", "mid_market", "smb"]);
    let statuses = distinct_values(pool, "SELECT DISTINCT status FROM leads ORDER BY 1").await;
    assert_eq!(
        statuses,
        ["converted", "disqualified", "mql", "new", "sql", "working"]
    );

    // Converted leads point at the account made for them; no other lead does.
    let dangling = count(
        pool,
        "SELECT COUNT(*) FROM leads WHERE (status = 'converted') <> (converted_account_id IS NOT NULL) \
         OR (status = 'converted') <> (converted_at IS NOT NULL)",
    )
    .await;
    assert_eq!(dangling, 0);
    let mismatched = count(
        pool,
        "SELECT COUNT(*) FROM leads l JOIN accounts a ON a.id = l.converted_account_id \
         WHERE a.domain <> l.domain OR a.customer_since <> l.converted_at",
    )
    .await;
    assert_eq!(
        mismatched, 0,
        "a converted lead's account is its company, a customer since conversion"
    );
    let churn_without_date = count(
        pool,
        "SELECT COUNT(*) FROM accounts WHERE (lifecycle_stage = 'churned') <> (churned_at IS NOT NULL)",
    )
    .await;
    assert_eq!(churn_without_date, 0);

    // Rates in the realistic range the definition aims for.
    let leads = count(pool, "SELECT COUNT(*) FROM leads").await as f64;
    let converted = count(
        pool,
        "SELECT COUNT(*) FROM leads WHERE status = 'converted'",
    )
    .await as f64;
    let accounts = count(pool, "SELECT COUNT(*) FROM accounts").await as f64;
    let churned = count(
        pool,
        "SELECT COUNT(*) FROM accounts WHERE lifecycle_stage = 'churned'",
    )
    .await as f64;
    assert!(
        (0.15..=0.28).contains(&(converted / leads)),
        "conversion rate {}",
        converted / leads
    );
    assert!(
        (0.12..=0.22).contains(&(churned / accounts)),
        "churned share {}",
        churned / accounts
    );

    // Nothing happened after the demo company's "today".
    let future_events = count(
        pool,
        "SELECT (SELECT COUNT(*) FROM leads WHERE created_at >= '2026-11-16' OR updated_at >= '2026-11-16' OR converted_at >= '2026-11-16') \
              + (SELECT COUNT(*) FROM accounts WHERE created_at >= '2026-11-16' OR churned_at >= '2026-11-16' OR customer_since >= '2026-11-16') \
              + (SELECT COUNT(*) FROM support_tickets WHERE opened_at >= '2026-11-16' OR resolved_at >= '2026-11-16') \
              + (SELECT COUNT(*) FROM nps_responses WHERE responded_at >= '2026-11-16') \
              + (SELECT COUNT(*) FROM marketing_touches WHERE occurred_at >= '2026-11-16') \
              + (SELECT COUNT(*) FROM budget_ledger WHERE spend_date >= '2026-11-16') \
              + (SELECT COUNT(*) FROM usage_snapshots WHERE week_start >= '2026-11-10') \
              + (SELECT COUNT(*) FROM opportunities WHERE created_at >= '2026-11-16' OR closed_at >= '2026-11-16')",
    )
    .await;
    assert_eq!(
        future_events, 0,
        "every past event lies before the reference date"
    );
}

#[tokio::test]
async fn seeding_scale_one_on_sqlite_gives_at_least_the_promised_counts_and_every_stage() {
    let (store, _dir) = fresh_sqlite().await.unwrap();
    let summary = demo_company::seed(&store, 1).await.unwrap();
    assert_eq!(summary.rows.leads, 500);
    assert_eq!(summary.rows.campaigns, 40);
    assert_eq!(summary.reference_date, "2026-11-16");
    assert_scale_one_promises(&store).await;

    // The summary counts what the tables hold.
    let pool = store.pool();
    assert_eq!(
        summary.rows.accounts as i64,
        count(pool, "SELECT COUNT(*) FROM accounts").await
    );
    assert_eq!(
        summary.rows.usage_snapshots as i64,
        count(pool, "SELECT COUNT(*) FROM usage_snapshots").await
    );
    assert_eq!(
        summary.rows.support_tickets as i64,
        count(pool, "SELECT COUNT(*) FROM support_tickets").await
    );

    // Trial accounts only have usage from the week their trial started.
    let early = count(
        pool,
        "SELECT COUNT(*) FROM usage_snapshots u JOIN accounts a ON a.id = u.account_id \
         WHERE a.lifecycle_stage = 'trial' \
         AND (a.trial_started_at IS NULL OR date(u.week_start, '+7 days') <= substr(a.trial_started_at, 1, 10))",
    )
    .await;
    assert_eq!(early, 0, "trial usage starts with the trial");
    // Timestamps are the store's fixed-width UTC text.
    let malformed = count(
        pool,
        "SELECT COUNT(*) FROM leads WHERE length(created_at) <> 27 OR created_at NOT LIKE '____-__-__T__:__:__.______Z'",
    )
    .await;
    assert_eq!(malformed, 0);
}

#[tokio::test]
async fn the_same_seed_gives_identical_data_in_two_fresh_databases() {
    let (first, _first_dir) = fresh_sqlite().await.unwrap();
    let (second, _second_dir) = fresh_sqlite().await.unwrap();
    let a = demo_company::seed(&first, 1).await.unwrap();
    let b = demo_company::seed(&second, 1).await.unwrap();
    assert_eq!(a.rows, b.rows);
    for sql in [
        "SELECT * FROM leads ORDER BY id",
        "SELECT * FROM accounts ORDER BY id",
        "SELECT * FROM contacts ORDER BY id",
        "SELECT * FROM opportunities ORDER BY id",
        "SELECT * FROM campaigns ORDER BY id",
        "SELECT * FROM budget_ledger ORDER BY id",
        "SELECT * FROM marketing_touches ORDER BY id",
        "SELECT * FROM usage_snapshots ORDER BY account_id, week_start",
        "SELECT * FROM support_tickets ORDER BY id",
        "SELECT * FROM nps_responses ORDER BY id",
    ] {
        let left = render(first.pool(), sql).await;
        let right = render(second.pool(), sql).await;
        assert!(!left.is_empty(), "{sql} returned nothing");
        assert!(left == right, "{sql} differs between two seedings");
    }
}

#[tokio::test]
async fn leads_with_more_engagement_convert_more_often() {
    let (store, _dir) = fresh_sqlite().await.unwrap();
    demo_company::seed(&store, 1).await.unwrap();
    let rows = sqlx::query(
        "SELECT website_visits_30d, demo_requested, whitepaper_downloads, email_engagement_score, \
         linkedin_engagement, free_trial_started, status FROM leads ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let flag = |row: &sqlx::any::AnyRow, column: &str| -> f64 {
        row.try_get::<bool, _>(column)
            .map(f64::from)
            .or_else(|_| row.try_get::<i64, _>(column).map(|v| v as f64))
            .unwrap()
    };
    let number =
        |row: &sqlx::any::AnyRow, column: &str| row.try_get::<i64, _>(column).unwrap() as f64;
    // A simple engagement index, as a marketer would build one from the signals.
    let mut leads: Vec<(f64, bool)> = rows
        .iter()
        .map(|row| {
            let engagement = number(row, "website_visits_30d").min(40.0)
                + 15.0 * flag(row, "demo_requested")
                + 4.0 * number(row, "whitepaper_downloads").min(8.0)
                + 0.4 * number(row, "email_engagement_score")
                + 1.5 * number(row, "linkedin_engagement").min(20.0)
                + 12.0 * flag(row, "free_trial_started");
            (
                engagement,
                row.try_get::<String, _>("status").unwrap() == "converted",
            )
        })
        .collect();
    leads.sort_by(|a, b| a.0.total_cmp(&b.0));
    let quarter = leads.len() / 4;
    let rate = |slice: &[(f64, bool)]| {
        slice.iter().filter(|(_, converted)| *converted).count() as f64 / slice.len() as f64
    };
    let bottom = rate(&leads[..quarter]);
    let top = rate(&leads[leads.len() - quarter..]);
    assert!(
        top > 2.0 * bottom && top - bottom > 0.15,
        "top quartile converts {top:.3}, bottom {bottom:.3}"
    );

    // Won lead opportunities came from more engaged leads than lost ones.
    let engagement_of = |stage: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, f64>(sqlx::AssertSqlSafe(format!(
                "SELECT AVG(CAST(l.email_engagement_score AS REAL)) FROM opportunities o JOIN leads l ON l.id = o.lead_id WHERE o.stage = '{stage}'"
            )))
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let won = engagement_of("closed_won").await;
    let lost = engagement_of("closed_lost").await;
    assert!(
        won > lost + 3.0,
        "won deals' email engagement {won:.1}, lost {lost:.1}"
    );
}

#[tokio::test]
async fn churned_accounts_used_the_product_less_than_active_ones_in_their_last_weeks() {
    let (store, _dir) = fresh_sqlite().await.unwrap();
    demo_company::seed(&store, 1).await.unwrap();
    // Active users per purchased seat over each account's last four snapshots.
    let recent_usage = |stage: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, f64>(sqlx::AssertSqlSafe(format!(
                "SELECT AVG(CAST(u.active_users AS REAL) / a.seats_purchased) \
                 FROM usage_snapshots u JOIN accounts a ON a.id = u.account_id \
                 WHERE a.lifecycle_stage = '{stage}' AND a.seats_purchased > 0 \
                 AND u.week_start > (SELECT date(MAX(w.week_start), '-28 days') FROM usage_snapshots w WHERE w.account_id = a.id)"
            )))
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let active = recent_usage("active").await;
    let at_risk = recent_usage("at_risk").await;
    let churned = recent_usage("churned").await;
    assert!(
        churned < 0.5 * active,
        "churned {churned:.3} vs active {active:.3}"
    );
    assert!(
        at_risk < active,
        "at risk {at_risk:.3} vs active {active:.3}"
    );

    // At-risk accounts declined over the last eight weeks: the last four weeks are below
    // the four before.
    let window = |from: &str, to: &str| {
        format!(
            "SELECT SUM(u.active_users) FROM usage_snapshots u JOIN accounts a ON a.id = u.account_id \
             WHERE a.lifecycle_stage = 'at_risk' AND u.week_start BETWEEN '{from}' AND '{to}'"
        )
    };
    let earlier = count(store.pool(), &window("2026-09-14", "2026-10-05")).await;
    let later = count(store.pool(), &window("2026-10-19", "2026-11-09")).await;
    assert!(later < earlier, "at-risk usage {earlier} -> {later}");

    // Churned customers had more urgent tickets and lower NPS, per account.
    let per_account = |stage: &'static str, sql: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, f64>(sqlx::AssertSqlSafe(sql.replace("{stage}", stage)))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let nps = "SELECT AVG(CAST(n.score AS REAL)) FROM nps_responses n JOIN accounts a ON a.id = n.account_id WHERE a.lifecycle_stage = '{stage}'";
    assert!(per_account("churned", nps).await < per_account("active", nps).await - 1.0);
    let urgent_share = "SELECT AVG(CASE WHEN t.priority = 'urgent' THEN 1.0 ELSE 0.0 END) FROM support_tickets t JOIN accounts a ON a.id = t.account_id WHERE a.lifecycle_stage = '{stage}'";
    assert!(per_account("churned", urgent_share).await > per_account("active", urgent_share).await);
}

#[tokio::test]
async fn committed_spend_never_exceeds_a_campaigns_lifetime_cap() {
    let (store, _dir) = fresh_sqlite().await.unwrap();
    demo_company::seed(&store, 2).await.unwrap();
    let overspent = count(
        store.pool(),
        "SELECT COUNT(*) FROM campaigns c WHERE c.budget_lifetime_minor < \
         (SELECT COALESCE(SUM(b.amount_minor), 0) FROM budget_ledger b WHERE b.campaign_id = c.id AND b.entry_kind = 'commit')",
    )
    .await;
    assert_eq!(overspent, 0);
    let spent_before_start = count(
        store.pool(),
        "SELECT COUNT(*) FROM budget_ledger b JOIN campaigns c ON c.id = b.campaign_id \
         WHERE b.spend_date < c.starts_on OR b.spend_date > c.ends_on",
    )
    .await;
    assert_eq!(
        spent_before_start, 0,
        "spend falls inside the campaign's dates"
    );
    let drafts_with_spend = count(
        store.pool(),
        "SELECT COUNT(*) FROM budget_ledger b JOIN campaigns c ON c.id = b.campaign_id WHERE c.status = 'draft'",
    )
    .await;
    assert_eq!(drafts_with_spend, 0);
}

#[tokio::test]
async fn seeding_a_store_that_already_holds_data_is_refused() {
    let (store, _dir) = fresh_sqlite().await.unwrap();
    demo_company::seed(&store, 1).await.unwrap();
    let leads_before = count(store.pool(), "SELECT COUNT(*) FROM leads").await;
    let error = demo_company::seed(&store, 1).await.unwrap_err();
    assert!(
        matches!(error, demo_company::SeedError::AlreadySeeded { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("fresh database"), "{message}");
    assert_eq!(
        count(store.pool(), "SELECT COUNT(*) FROM leads").await,
        leads_before
    );
}

#[tokio::test]
async fn a_scale_of_zero_is_refused() {
    let (store, _dir) = fresh_sqlite().await.unwrap();
    let error = demo_company::seed(&store, 0).await.unwrap_err();
    assert!(
        matches!(error, demo_company::SeedError::InvalidScale { .. }),
        "{error:?}"
    );
    assert_eq!(
        count(store.pool(), "SELECT COUNT(*) FROM accounts").await,
        0
    );
}

#[tokio::test]
async fn seeding_scale_one_on_postgres_gives_at_least_the_promised_counts_and_every_stage() {
    let Some(url) = postgres_url_or_skip(
        "seeding_scale_one_on_postgres_gives_at_least_the_promised_counts_and_every_stage",
    ) else {
        return;
    };
    let store = fresh_postgres(&url).await.unwrap();
    let summary = demo_company::seed(&store, 1).await.unwrap();
    assert_eq!(summary.rows.leads, 500);
    assert_scale_one_promises(&store).await;

    // The same rows as on SQLite: ids, flags and amounts do not depend on the backend.
    let (sqlite, _dir) = fresh_sqlite().await.unwrap();
    let on_sqlite = demo_company::seed(&sqlite, 1).await.unwrap();
    assert_eq!(summary.rows, on_sqlite.rows);
    let sql = "SELECT id, email, status, website_visits_30d, email_engagement_score, converted_account_id, converted_at, created_at FROM leads ORDER BY id";
    assert_eq!(
        render(store.pool(), sql).await,
        render(sqlite.pool(), sql).await
    );
    let flags = "SELECT COUNT(*) FROM leads WHERE demo_requested AND free_trial_started";
    let flags_sqlite =
        "SELECT COUNT(*) FROM leads WHERE demo_requested = 1 AND free_trial_started = 1";
    assert_eq!(
        count(store.pool(), flags).await,
        count(sqlite.pool(), flags_sqlite).await
    );
    store.close().await;
}
