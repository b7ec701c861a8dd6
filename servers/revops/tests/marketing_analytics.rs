//! The marketing server's analytics, audiences and email (issue 6) through a real MCP client
//! against the built binary, on SQLite and (when `REVOPS_TEST_POSTGRES_URL` is set) Postgres:
//! attribution credits that add up under every model, a consistent funnel, campaign and
//! source performance, trial conversion insights, audiences scored like the sales server
//! scores, email sends that respect suppression and the recipient gate, and bad input that
//! changes nothing.
#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod util;

use std::collections::BTreeMap;

use revops::client::{self, Session};
use serde_json::{Value, json};
use util::*;

async fn marketing(db: &SeededDatabase, role: &str) -> Session {
    session_as(db, "revops-marketing", role).await
}

async fn open_store(db: &SeededDatabase) -> store::Store {
    store::Store::connect(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap()
}

async fn scalar_i64(store: &store::Store, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn scalar_text(store: &store::Store, sql: &str) -> Option<String> {
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_optional(store.pool())
        .await
        .unwrap()
}

/// The counts every failed call must leave alone: the server's record counts plus this
/// issue's own tables and the settings.
async fn all_counts(session: &Session, store: &store::Store) -> Value {
    let mut counts = record_counts(session).await;
    for table in [
        "audiences",
        "audience_members",
        "email_sends",
        "email_suppressions",
        "settings",
    ] {
        counts[table] = json!(scalar_i64(store, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    counts
}

async fn set_marketing_setting(store: &store::Store, key: &str, value: Value) {
    let mut tx = store.begin_write().await.unwrap();
    let mut changes = BTreeMap::new();
    changes.insert(key.to_string(), value);
    store::settings::set_many(&mut tx, "marketing", &changes, "test")
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// `stamp` moved by `seconds` (either way), in the store's format.
fn shifted(stamp: &str, seconds: i64) -> String {
    let at = store::clock::parse(stamp).unwrap();
    let by = std::time::Duration::from_secs(seconds.unsigned_abs());
    store::clock::format(if seconds >= 0 { at + by } else { at - by })
}

const DAY: i64 = 86_400;

fn i(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

on_both_backends!(attribution_credits_add_up_under_every_model_and_the_models_differ);
async fn attribution_credits_add_up_under_every_model_and_the_models_differ(db: &SeededDatabase) {
    let mkt = marketing(db, "rep").await;
    let store = open_store(db).await;

    let report = client::call_ok(&mkt, "attribution_report", json!({}))
        .await
        .unwrap();
    assert_eq!(report["half_life_days"], 7.0);
    assert_eq!(report["half_life_source"], "default");
    let won_total = scalar_i64(
        &store,
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM opportunities WHERE stage = 'closed_won'",
    )
    .await;
    let won_deals = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM opportunities WHERE stage = 'closed_won'",
    )
    .await;
    assert!(won_deals > 10, "the demo company has won deals");
    assert_eq!(i(&report["won_deals"]), won_deals);
    let attributed = i(&report["attributed_revenue_minor"]);
    assert!(
        attributed > 0 && i(&report["attributed_deals"]) > 0,
        "{report}"
    );
    assert_eq!(
        attributed + i(&report["unattributed_revenue_minor"]),
        won_total,
        "every won deal's amount is attributed or reported unattributed"
    );
    // The amount of the deals that have a touch before their close, computed apart.
    let touched_total = scalar_i64(
        &store,
        "SELECT CAST(COALESCE(SUM(o.amount_minor), 0) AS BIGINT) FROM opportunities o WHERE o.stage = 'closed_won' \
         AND EXISTS (SELECT 1 FROM marketing_touches t WHERE t.lead_id = o.lead_id AND t.occurred_at <= o.closed_at)",
    )
    .await;
    assert_eq!(attributed, touched_total);
    let models = report["models"].as_array().unwrap();
    assert_eq!(models.len(), 5);
    for model in models {
        let campaigns: i64 = model["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| i(&c["credit_minor"]))
            .sum();
        let channels: i64 = model["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| i(&c["credit_minor"]))
            .sum();
        assert_eq!(
            i(&model["credited_minor"]),
            attributed,
            "{}",
            model["model"]
        );
        assert_eq!(campaigns, attributed, "{}", model["model"]);
        assert_eq!(channels, attributed, "{}", model["model"]);
    }
    let first = &models[0]["campaigns"];
    let last = &models[1]["campaigns"];
    assert_ne!(
        first, last,
        "first and last touch credit different campaigns"
    );

    // A deal whose every touch we place: a won deal whose lead had no touch before the close.
    let deal = scalar_text(
        &store,
        "SELECT o.id FROM opportunities o WHERE o.stage = 'closed_won' AND o.lead_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM marketing_touches t WHERE t.lead_id = o.lead_id AND t.occurred_at <= o.closed_at) \
         ORDER BY o.id LIMIT 1",
    )
    .await
    .expect("a won deal without touches");
    let (lead, closed_at, amount): (String, String, i64) =
        sqlx::query_as("SELECT lead_id, closed_at, amount_minor FROM opportunities WHERE id = $1")
            .bind(&deal)
            .fetch_one(store.pool())
            .await
            .unwrap();
    let campaigns: Vec<String> = sqlx::query_scalar("SELECT id FROM campaigns ORDER BY id LIMIT 3")
        .fetch_all(store.pool())
        .await
        .unwrap();
    for (n, (campaign, days)) in campaigns.iter().zip([20i64, 10, 1]).enumerate() {
        let at = shifted(&closed_at, -days * DAY);
        client::call_ok(
            &mkt,
            "record_touch",
            json!({"campaign_id": campaign, "lead_id": lead, "touch_type": "click",
                   "occurred_at": at, "request_id": format!("attr-test-{n}")}),
        )
        .await
        .unwrap();
    }
    // A touch after the close does not count.
    client::call_ok(
        &mkt,
        "record_touch",
        json!({"campaign_id": campaigns[0], "lead_id": lead, "touch_type": "email_open",
               "occurred_at": shifted(&closed_at, 2 * DAY)}),
    )
    .await
    .unwrap();
    let detail = client::call_ok(&mkt, "attribution_report", json!({"opportunity_id": deal}))
        .await
        .unwrap();
    let touches = detail["deal"]["touches"].as_array().unwrap();
    assert_eq!(touches.len(), 3, "{detail}");
    let credit =
        |model: &str| -> Vec<i64> { touches.iter().map(|t| i(&t["credits"][model])).collect() };
    assert_eq!(credit("first_touch"), [amount, 0, 0]);
    assert_eq!(credit("last_touch"), [0, 0, amount]);
    let linear = credit("linear");
    assert!(
        linear.iter().max().unwrap() - linear.iter().min().unwrap() <= 1,
        "{linear:?}"
    );
    let position = credit("position_based");
    assert!((position[0] - amount * 2 / 5).abs() <= 1 && (position[1] - amount / 5).abs() <= 1);
    let decay = credit("time_decay");
    assert!(
        decay[0] < decay[1] && decay[1] < decay[2],
        "recent touches weigh more: {decay:?}"
    );
    for model in [
        "first_touch",
        "last_touch",
        "linear",
        "time_decay",
        "position_based",
    ] {
        assert_eq!(credit(model).iter().sum::<i64>(), amount, "{model}");
    }
    // A longer half-life flattens time decay towards linear.
    let flat = client::call_ok(
        &mkt,
        "attribution_report",
        json!({"opportunity_id": deal, "models": ["time_decay"], "half_life_days": 1000}),
    )
    .await
    .unwrap();
    assert_eq!(flat["half_life_source"], "argument");
    assert_eq!(flat["models"].as_array().unwrap().len(), 1);
    let flat_first = i(&flat["deal"]["touches"][0]["credits"]["time_decay"]);
    assert!(flat_first > decay[0] && flat_first < amount / 2, "{flat}");

    // The default half-life follows the setting.
    set_marketing_setting(&store, "attribution_half_life_days", json!(3)).await;
    let set = client::call_ok(
        &mkt,
        "attribution_report",
        json!({"models": ["time_decay"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            set["half_life_days"].clone(),
            set["half_life_source"].clone()
        ),
        (json!(3.0), json!("setting"))
    );

    // A period and a channel narrow what is listed; credits still add up per model.
    let narrowed = client::call_ok(
        &mkt,
        "attribution_report",
        json!({"from": "2000-01-01", "to": "2000-12-31"}),
    )
    .await
    .unwrap();
    assert_eq!(narrowed["won_deals"], 0);
    let channel = client::call_ok(
        &mkt,
        "attribution_report",
        json!({"channel": "paid_search", "models": ["linear"]}),
    )
    .await
    .unwrap();
    for campaign in channel["models"][0]["campaigns"].as_array().unwrap() {
        assert_eq!(campaign["channel"], "paid_search");
    }

    // Bad input: clear errors, nothing changed.
    let before = all_counts(&mkt, &store).await;
    for (arguments, expected) in [
        (json!({"models": ["u_shaped"]}), "not a model"),
        (json!({"models": []}), "at least one model"),
        (json!({"half_life_days": 0}), "half_life_days"),
        (json!({"half_life_days": -3.5}), "half_life_days"),
        (json!({"half_life_days": 100000}), "half_life_days"),
        (
            json!({"from": "2026-06-01", "to": "2026-01-01"}),
            "before from",
        ),
        (json!({"from": "yesterday"}), "not a date"),
        (json!({"opportunity_id": "opp_999999"}), "no won deal"),
        (
            json!({"opportunity_id": "'; DROP TABLE opportunities; --"}),
            "not a opp id",
        ),
        (
            json!({"channel": "paid_search' OR '1'='1"}),
            "is not one of",
        ),
        (json!({"models": ["linear\u{0007}"]}), "not a model"),
        (json!({"models": "linear"}), "models"),
    ] {
        let text = error_text(&mkt, "attribution_report", arguments.clone()).await;
        assert!(text.contains(expected), "{arguments}: {text}");
    }
    assert_eq!(all_counts(&mkt, &store).await, before);
    store.close().await;
}

fn check_monotone(counts: &Value) {
    let stages = ["leads", "mqls", "sqls", "opportunities", "won"];
    for pair in stages.windows(2) {
        assert!(
            i(&counts[pair[0]]) >= i(&counts[pair[1]]),
            "{} >= {}: {counts}",
            pair[0],
            pair[1]
        );
    }
}

on_both_backends!(the_funnel_is_consistent_and_performance_adds_up);
async fn the_funnel_is_consistent_and_performance_adds_up(db: &SeededDatabase) {
    let mkt = marketing(db, "rep").await;
    let store = open_store(db).await;
    let total_leads = scalar_i64(&store, "SELECT COUNT(*) FROM leads").await;
    let won_leads = scalar_i64(
        &store,
        "SELECT COUNT(DISTINCT lead_id) FROM opportunities WHERE stage = 'closed_won' AND lead_id IS NOT NULL",
    )
    .await;

    let all = client::call_ok(&mkt, "funnel_analysis", json!({}))
        .await
        .unwrap();
    assert_eq!(all["groups"].as_array().unwrap().len(), 1);
    let total = &all["groups"][0];
    assert_eq!(total["group"], "all");
    assert_eq!(i(&total["counts"]["leads"]), total_leads);
    assert_eq!(i(&total["counts"]["won"]), won_leads);
    check_monotone(&total["counts"]);
    assert!(total["median_days"]["lead_to_mql"].is_null());
    assert!(total["median_days"]["mql_to_sql"].is_null());
    assert!(total["median_days"]["lead_to_won"].as_f64().unwrap() > 0.0);
    assert!(total["median_days"]["opportunity_to_won"].as_f64().unwrap() > 0.0);
    assert!(all["notes"].as_array().unwrap().len() >= 2);
    let rate = total["conversion"]["lead_to_won"].as_f64().unwrap();
    assert!((rate - won_leads as f64 / total_leads as f64).abs() < 1e-3);

    for group_by in ["source", "channel", "campaign", "month"] {
        let report = client::call_ok(&mkt, "funnel_analysis", json!({"group_by": group_by}))
            .await
            .unwrap();
        let groups = report["groups"].as_array().unwrap();
        assert!(groups.len() > 1, "{group_by}");
        let mut leads = 0;
        let mut won = 0;
        for group in groups {
            check_monotone(&group["counts"]);
            leads += i(&group["counts"]["leads"]);
            won += i(&group["counts"]["won"]);
            for (_, r) in group["conversion"].as_object().unwrap() {
                if let Some(r) = r.as_f64() {
                    assert!((0.0..=1.0).contains(&r), "{group}");
                }
            }
        }
        assert_eq!((leads, won), (total_leads, won_leads), "{group_by}");
    }
    let by_campaign = client::call_ok(&mkt, "funnel_analysis", json!({"group_by": "campaign"}))
        .await
        .unwrap();
    assert!(
        by_campaign["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"].as_str().is_some_and(|n| !n.is_empty()))
    );

    // Sources: every lead counted once, most revenue first.
    let sources = client::call_ok(&mkt, "lead_source_performance", json!({}))
        .await
        .unwrap();
    let rows = sources["sources"].as_array().unwrap();
    assert_eq!(
        rows.iter().map(|r| i(&r["leads"])).sum::<i64>(),
        total_leads
    );
    assert_eq!(
        rows.iter().map(|r| i(&r["won_revenue_minor"])).sum::<i64>(),
        i(&total["counts"]["won_revenue_minor"])
    );
    for pair in rows.windows(2) {
        assert!(i(&pair[0]["won_revenue_minor"]) >= i(&pair[1]["won_revenue_minor"]));
    }

    // Channel performance: spend is the channel's committed ledger entries.
    let perf = client::call_ok(
        &mkt,
        "campaign_performance",
        json!({"channel": "paid_search"}),
    )
    .await
    .unwrap();
    let spend = scalar_i64(
        &store,
        "SELECT CAST(COALESCE(SUM(b.amount_minor), 0) AS BIGINT) FROM budget_ledger b JOIN campaigns c ON c.id = b.campaign_id \
         WHERE c.channel = 'paid_search' AND b.entry_kind = 'commit'",
    )
    .await;
    let t = &perf["total"];
    assert_eq!(i(&t["spend_minor"]), spend);
    assert!(spend > 0);
    assert_eq!(t["channel"], "paid_search");
    let leads = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM leads l JOIN campaigns c ON c.id = l.campaign_id WHERE c.channel = 'paid_search'",
    )
    .await;
    assert_eq!(i(&t["leads"]), leads);
    check_monotone(
        &json!({"leads": t["leads"], "mqls": t["mqls"], "sqls": t["sqls"],
        "opportunities": t["opportunities"], "won": t["won_customers"]}),
    );
    let cpl = t["cost_per_lead_minor"].as_f64().unwrap();
    assert!((cpl - spend as f64 / leads as f64).abs() < 0.01);
    let roas = t["roas"].as_f64().unwrap();
    assert!((roas - i(&t["won_revenue_minor"]) as f64 / spend as f64).abs() < 1e-3);
    let campaigns = perf["campaigns"].as_array().unwrap();
    assert_eq!(
        campaigns.iter().map(|c| i(&c["spend_minor"])).sum::<i64>(),
        spend,
        "no drift between campaigns and the total"
    );
    // One campaign over a period with no activity: zeros and nulls, not errors.
    let one = campaigns[0]["campaign_id"].as_str().unwrap().to_string();
    let empty = client::call_ok(
        &mkt,
        "campaign_performance",
        json!({"campaign_id": one, "from": "2001-01-01", "to": "2001-01-31"}),
    )
    .await
    .unwrap();
    assert_eq!(empty["total"]["spend_minor"], 0);
    assert!(empty["total"]["roas"].is_null() && empty["total"]["cac_minor"].is_null());

    let before = all_counts(&mkt, &store).await;
    for (tool, arguments, expected) in [
        (
            "funnel_analysis",
            json!({"group_by": "weekday"}),
            "is not one of",
        ),
        (
            "funnel_analysis",
            json!({"from": "2026-05-01", "to": "2026-04-01"}),
            "before from",
        ),
        (
            "funnel_analysis",
            json!({"campaign_id": "cmp_999999"}),
            "no campaign",
        ),
        (
            "funnel_analysis",
            json!({"source": "web\u{0000}"}),
            "control character",
        ),
        (
            "campaign_performance",
            json!({"campaign_id": "cmp_999999"}),
            "no campaign",
        ),
        (
            "campaign_performance",
            json!({"channel": "tv"}),
            "is not one of",
        ),
        (
            "campaign_performance",
            json!({"from": "2026-13-01"}),
            "not a date",
        ),
        (
            "lead_source_performance",
            json!({"from": "2026-02-01", "to": "2026-01-01"}),
            "before from",
        ),
        ("lead_source_performance", json!({"to": 20260101}), "to"),
    ] {
        let text = error_text(&mkt, tool, arguments.clone()).await;
        assert!(text.contains(expected), "{tool} {arguments}: {text}");
    }
    assert_eq!(all_counts(&mkt, &store).await, before);
    store.close().await;
}

on_both_backends!(conversion_insights_explain_a_trial_and_refuse_a_customer);
async fn conversion_insights_explain_a_trial_and_refuse_a_customer(db: &SeededDatabase) {
    let mkt = marketing(db, "rep").await;
    let store = open_store(db).await;
    let trial = scalar_text(
        &store,
        "SELECT a.id FROM accounts a WHERE a.lifecycle_stage = 'trial' AND a.trial_started_at IS NOT NULL \
         AND EXISTS (SELECT 1 FROM usage_snapshots u WHERE u.account_id = a.id) ORDER BY a.id LIMIT 1",
    )
    .await
    .expect("a trial with usage");
    let insights = client::call_ok(
        &mkt,
        "get_conversion_insights",
        json!({"account_id": trial}),
    )
    .await
    .unwrap();
    let p = insights["probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{insights}");
    assert_eq!(insights["model"]["name"], "trial_conversion");
    assert_eq!(insights["model"]["version"], 1);
    let factors = insights["factors"].as_array().unwrap();
    assert_eq!(factors.len(), 6);
    let logit = insights["intercept"].as_f64().unwrap()
        + factors
            .iter()
            .map(|f| f["contribution"].as_f64().unwrap())
            .sum::<f64>();
    assert!((logit - insights["log_odds"].as_f64().unwrap()).abs() < 1e-6);
    assert!((1.0 / (1.0 + (-logit).exp()) - p).abs() < 1e-3);
    assert!(insights["facts"]["trial_seats"].as_u64().unwrap() > 0);
    assert!(insights["facts"]["weeks_of_usage"].as_u64().unwrap() >= 1);
    let actions = insights["actions"].as_array().unwrap();
    assert!(!actions.is_empty(), "{insights}");
    for pair in actions.windows(2) {
        assert!(pair[0]["expected_gain"].as_f64() >= pair[1]["expected_gain"].as_f64());
    }
    for action in actions {
        assert!(action["expected_gain"].as_f64().unwrap() > 0.0);
        assert!(action["probability_after"].as_f64().unwrap() > p);
    }
    // The prediction is logged (by a background writer; give it a moment).
    let mut logged = 0;
    for _ in 0..100 {
        logged = store::predictions::count_for(&store, "account", &trial)
            .await
            .unwrap();
        if logged > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(logged, 1);

    let customer = scalar_text(
        &store,
        "SELECT id FROM accounts WHERE lifecycle_stage = 'active' ORDER BY id LIMIT 1",
    )
    .await
    .unwrap();
    let before = all_counts(&mkt, &store).await;
    let text = error_text(
        &mkt,
        "get_conversion_insights",
        json!({"account_id": customer}),
    )
    .await;
    assert!(
        text.contains("not in a trial") && text.contains("active"),
        "{text}"
    );
    let text = error_text(
        &mkt,
        "get_conversion_insights",
        json!({"account_id": "acc_999999"}),
    )
    .await;
    assert!(text.contains("no account"), "{text}");
    let text = error_text(
        &mkt,
        "get_conversion_insights",
        json!({"account_id": "lead_000001"}),
    )
    .await;
    assert!(text.contains("not a acc id"), "{text}");
    let text = error_text(&mkt, "get_conversion_insights", json!({})).await;
    assert!(text.contains("account_id"), "{text}");
    assert_eq!(all_counts(&mkt, &store).await, before);
    store.close().await;
}

on_both_backends!(audiences_are_scored_like_sales_and_sends_respect_suppression_and_the_gate);
async fn audiences_are_scored_like_sales_and_sends_respect_suppression_and_the_gate(
    db: &SeededDatabase,
) {
    let mkt = marketing(db, "manager").await;
    let sales = session_as(db, "revops-sales", "rep").await;
    let store = open_store(db).await;

    let expected = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM leads WHERE status IN ('mql', 'sql') AND employee_count >= 50",
    )
    .await;
    let build = json!({"name": "Mid-size MQLs and SQLs", "leads": {"statuses": ["mql", "sql"], "min_employees": 50},
                       "request_id": "aud-test-1"});
    let built = client::call_ok(&mkt, "build_audience", build.clone())
        .await
        .unwrap();
    assert_eq!(built["created"], true);
    assert_eq!(i(&built["member_count"]), expected);
    assert!(expected > 3);
    let audience = built["audience_id"].as_str().unwrap().to_string();
    let again = client::call_ok(&mkt, "build_audience", build)
        .await
        .unwrap();
    assert_eq!(
        (again["created"].clone(), again["audience_id"].clone()),
        (json!(false), json!(audience))
    );

    // Ranked by the sales lead score, best first, paged.
    let page = client::call_ok(
        &mkt,
        "score_audience",
        json!({"audience_id": audience, "limit": 3}),
    )
    .await
    .unwrap();
    assert_eq!(i(&page["scored"]), expected);
    assert_eq!(page["model"]["name"], "lead_scorer");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for pair in items.windows(2) {
        assert!(i(&pair[0]["score"]) >= i(&pair[1]["score"]));
    }
    for item in items {
        let sales_score =
            client::call_ok(&sales, "score_lead", json!({"lead_id": item["lead_id"]}))
                .await
                .unwrap();
        assert_eq!(item["score"], sales_score["score"], "{item}");
        assert_eq!(item["tier"], sales_score["tier"]);
    }
    let next = client::call_ok(
        &mkt,
        "score_audience",
        json!({"audience_id": audience, "limit": 3, "cursor": page["next_cursor"]}),
    )
    .await
    .unwrap();
    assert_eq!(next["items"][0]["rank"], 4);
    assert!(i(&next["items"][0]["score"]) <= i(&items[2]["score"]));

    // A tier filter keeps only that tier.
    let hot = client::call_ok(
        &mkt,
        "build_audience",
        json!({"name": "Hot leads", "leads": {"score_tier": "hot"}}),
    )
    .await
    .unwrap();
    let hot_page = client::call_ok(
        &mkt,
        "score_audience",
        json!({"audience_id": hot["audience_id"], "limit": 200}),
    )
    .await
    .unwrap();
    assert_eq!(
        i(&hot_page["tiers"]["warm"]) + i(&hot_page["tiers"]["cold"]),
        0
    );
    assert_eq!(i(&hot_page["tiers"]["hot"]), i(&hot["member_count"]));

    // Contacts of active accounts' decision makers.
    let decision_makers = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM contacts c JOIN accounts a ON a.id = c.account_id \
         WHERE a.lifecycle_stage = 'active' AND c.role = 'decision_maker'",
    )
    .await;
    let contacts = client::call_ok(
        &mkt,
        "build_audience",
        json!({"name": "Customer decision makers", "contacts": {"lifecycle_stage": "active", "role": "decision_maker"},
               "max_size": 50000}),
    )
    .await
    .unwrap();
    assert_eq!(i(&contacts["member_count"]), decision_makers);
    assert_eq!(contacts["lead_members"], 0);

    // An audience to send to (the same people, saved again).
    let small = client::call_ok(
        &mkt,
        "build_audience",
        json!({"name": "MQLs and SQLs, for sends", "leads": {"statuses": ["mql", "sql"], "min_employees": 50}, "max_size": 50000}),
    )
    .await
    .unwrap();
    let small_id = small["audience_id"].as_str().unwrap().to_string();
    let member_email: String = sqlx::query_scalar(
        "SELECT email FROM audience_members WHERE audience_id = $1 ORDER BY email LIMIT 1",
    )
    .bind(&small_id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let suppressed = client::call_ok(
        &mkt,
        "suppress_email",
        json!({"email": member_email.to_uppercase(), "reason": "unsubscribe", "campaign_id": "cmp_000001"}),
    )
    .await
    .unwrap();
    assert_eq!(
        (suppressed["created"].clone(), suppressed["email"].clone()),
        (json!(true), json!(member_email))
    );
    let twice = client::call_ok(
        &mkt,
        "suppress_email",
        json!({"email": member_email, "reason": "bounce"}),
    )
    .await
    .unwrap();
    assert_eq!(
        (twice["created"].clone(), twice["reason"].clone()),
        (json!(false), json!("unsubscribe"))
    );

    // Under the threshold (default 1,000): scheduled at once, suppressed address left out.
    let tomorrow = shifted(&store::clock::now(), DAY);
    let send = json!({"audience_id": small_id, "subject": "Webinar invite", "scheduled_for": tomorrow,
                      "campaign_id": "cmp_000001", "request_id": "send-test-1"});
    let sent = client::call_ok(&mkt, "schedule_email_send", send.clone())
        .await
        .unwrap();
    assert_eq!(sent["status"], "done", "{sent}");
    assert_eq!(i(&sent["result"]["recipients"]), expected - 1);
    assert_eq!(sent["result"]["suppressed"], 1);
    assert_eq!(sent["result"]["status"], "scheduled");
    let retry = client::call_ok(&mkt, "schedule_email_send", send)
        .await
        .unwrap();
    assert_eq!(retry["result"]["send_id"], sent["result"]["send_id"]);
    assert_eq!(retry["result"]["created"], false);
    assert_eq!(
        scalar_i64(&store, "SELECT COUNT(*) FROM email_sends").await,
        1
    );

    let engagement = client::call_ok(
        &mkt,
        "email_engagement",
        json!({"campaign_id": "cmp_000001"}),
    )
    .await
    .unwrap();
    let row = &engagement["campaigns"][0];
    assert_eq!(row["campaign_id"], "cmp_000001");
    assert_eq!(
        (row["sends"].clone(), row["unsubscribes"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(i(&row["recipients"]), expected - 1);
    let opens = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM marketing_touches WHERE campaign_id = 'cmp_000001' AND touch_type = 'email_open'",
    )
    .await;
    assert_eq!(i(&row["opens"]), opens);
    let everything = client::call_ok(&mkt, "email_engagement", json!({}))
        .await
        .unwrap();
    let all_opens = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM marketing_touches WHERE touch_type = 'email_open'",
    )
    .await;
    assert_eq!(i(&everything["totals"]["opens"]), all_opens);

    // Above the threshold: a preview with a token; nothing scheduled until confirmed.
    set_marketing_setting(&store, "email_confirm_above_recipients", json!(2)).await;
    let big = json!({"audience_id": small_id, "subject": "Big send", "scheduled_for": tomorrow});
    let preview = client::call_ok(&mkt, "schedule_email_send", big.clone())
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview", "{preview}");
    assert_eq!(i(&preview["result"]["recipients"]), expected - 1);
    assert_eq!(
        scalar_i64(&store, "SELECT COUNT(*) FROM email_sends").await,
        1
    );
    let token = preview["confirmation"]["confirm_token"].clone();
    let mut changed = big.clone();
    changed["subject"] = json!("Another send");
    changed["confirm_token"] = token.clone();
    let text = error_text(&mkt, "schedule_email_send", changed).await;
    assert!(text.contains("token") || text.contains("confirm"), "{text}");
    assert_eq!(
        scalar_i64(&store, "SELECT COUNT(*) FROM email_sends").await,
        1
    );
    let mut confirmed = big.clone();
    confirmed["confirm_token"] = token;
    // A refused token (other arguments) is not spent: the right call still goes through.
    let done = client::call_ok(&mkt, "schedule_email_send", confirmed)
        .await
        .unwrap();
    assert_eq!(done["status"], "done");
    assert_eq!(done["result"]["subject"], "Big send");
    assert_eq!(
        scalar_i64(&store, "SELECT COUNT(*) FROM email_sends").await,
        2
    );

    // Bad input changes nothing.
    let before = all_counts(&mkt, &store).await;
    let past = shifted(&store::clock::now(), -3600);
    for (tool, arguments, expected) in [
        (
            "schedule_email_send",
            json!({"audience_id": small_id, "subject": "x", "scheduled_for": past}),
            "in the past",
        ),
        (
            "schedule_email_send",
            json!({"audience_id": small_id, "subject": "x", "scheduled_for": "2100-01-02T00:00:00Z"}),
            "after 2099",
        ),
        (
            "schedule_email_send",
            json!({"audience_id": "aud_doesnotexist00", "subject": "x", "scheduled_for": tomorrow}),
            "no audience",
        ),
        (
            "schedule_email_send",
            json!({"audience_id": small_id, "subject": "bell\u{0007}", "scheduled_for": tomorrow}),
            "control character",
        ),
        (
            "schedule_email_send",
            json!({"audience_id": small_id, "subject": "x".repeat(201), "scheduled_for": tomorrow}),
            "limit is 200",
        ),
        (
            "schedule_email_send",
            json!({"audience_id": small_id, "subject": "x", "scheduled_for": tomorrow, "campaign_id": "cmp_999999"}),
            "no campaign",
        ),
        (
            "schedule_email_send",
            json!({"audience_id": "'; DELETE FROM audiences; --", "subject": "x", "scheduled_for": tomorrow}),
            "not a aud id",
        ),
        (
            "build_audience",
            json!({"name": "Everyone", "leads": {}, "max_size": 5}),
            "max_size",
        ),
        (
            "build_audience",
            json!({"name": "Nothing"}),
            "give leads, contacts or both",
        ),
        ("build_audience", json!({"name": "", "leads": {}}), "name"),
        (
            "build_audience",
            json!({"name": "Bad", "leads": {"statuses": ["hot"]}}),
            "is not one of",
        ),
        (
            "build_audience",
            json!({"name": "Bad", "leads": {"campaign_id": "cmp_999999"}}),
            "no campaign",
        ),
        (
            "build_audience",
            json!({"name": "Bad", "leads": {"created_from": "2026-02-01", "created_to": "2026-01-01"}}),
            "created_to",
        ),
        (
            "build_audience",
            json!({"name": "Bad", "leads": {"industry": "{\"$ne\": null}\u{0000}"}}),
            "control character",
        ),
        (
            "build_audience",
            json!({"name": "Bad", "contacts": {"role": "ceo"}}),
            "is not one of",
        ),
        (
            "score_audience",
            json!({"audience_id": "aud_doesnotexist00"}),
            "no audience",
        ),
        (
            "score_audience",
            json!({"audience_id": audience, "cursor": "garbage"}),
            "not a cursor",
        ),
        (
            "suppress_email",
            json!({"email": "not-an-email", "reason": "manual"}),
            "not an email",
        ),
        (
            "suppress_email",
            json!({"email": "a@b.example", "reason": "spite"}),
            "is not one of",
        ),
        (
            "email_engagement",
            json!({"campaign_id": "cmp_999999"}),
            "no campaign",
        ),
        (
            "email_engagement",
            json!({"from": "2026-03-01", "to": "2026-02-01"}),
            "before from",
        ),
    ] {
        let text = error_text(&mkt, tool, arguments.clone()).await;
        assert!(text.contains(expected), "{tool} {arguments}: {text}");
    }
    assert_eq!(all_counts(&mkt, &store).await, before);
    store.close().await;
}
