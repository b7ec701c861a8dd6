//! The customer-success writes of issue 7 through a real MCP client against the built
//! `revops-cs`, on SQLite and (with `REVOPS_TEST_POSTGRES_URL`) Postgres: interventions and
//! their tasks, the ticket lifecycle, bulk account changes under and over the confirmation
//! threshold, GDPR erasure of a contact and of an account (every text column of every table
//! scanned afterwards, and the audit chain verified by the `revops` binary), and bad input
//! that changes nothing.
#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod util;

use revops::client::{self, Session};
use serde_json::{Value, json};
use util::*;

async fn cs_as(db: &SeededDatabase, role: &str) -> Session {
    session_as(db, "revops-cs", role).await
}

async fn open_store(db: &SeededDatabase) -> store::Store {
    store::Store::connect(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap()
}

/// Active accounts of the demo company that have a CSM, in id order.
async fn accounts_with_csm(cs: &Session) -> Vec<Value> {
    let page = client::call_ok(
        cs,
        "list_accounts",
        json!({"lifecycle_stage": "active", "limit": 200}),
    )
    .await
    .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["csm_owner"].is_string())
        .cloned()
        .collect()
}

/// Runs `revops audit verify` on the database and returns its JSON report; asserts exit 0.
fn audit_verifies(db: &SeededDatabase) -> Value {
    let verify = std::process::Command::new(binary("revops"))
        .env("REVOPS_CONFIG", "none")
        .args(["audit", "verify", "--json", "--database-url", &db.url])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap_or_else(|_| {
        panic!(
            "audit verify printed no JSON: {}",
            String::from_utf8_lossy(&verify.stderr)
        )
    });
    assert!(verify.status.success(), "audit verify failed: {report}");
    assert!(
        report["summary"]["entries"].as_i64().unwrap() > 0,
        "{report}"
    );
    report
}

/// Rows, over every table, whose text holds all of `needles`.
async fn rows_holding(store: &store::Store, needles: &[&str]) -> i64 {
    let scan = store::erasure::scan_text(store, needles).await.unwrap();
    scan.matches.iter().map(|m| m.rows).sum()
}

on_both_backends!(an_intervention_creates_its_tasks_with_due_dates_once);
async fn an_intervention_creates_its_tasks_with_due_dates_once(db: &SeededDatabase) {
    let cs = cs_as(db, "rep").await;
    let account = accounts_with_csm(&cs).await[0].clone();
    let account_id = account["id"].as_str().unwrap();
    let before = record_counts(&cs).await;
    let args = json!({"account_id": account_id, "playbook": "usage_recovery",
        "reason": "weekly active users down 40% in four weeks", "starts_on": "2026-12-01",
        "request_id": "int-req-1"});
    let created = client::call_ok(&cs, "create_intervention", args.clone())
        .await
        .unwrap();
    assert_eq!(created["created"], true);
    let intervention = &created["intervention"];
    assert_eq!(intervention["playbook"], "usage_recovery");
    assert_eq!(intervention["status"], "open");
    assert_eq!(
        intervention["owner"], account["csm_owner"],
        "default owner is the CSM"
    );
    assert_eq!(intervention["created_by"], "test-user");
    let due: Vec<&str> = created["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["due_on"].as_str().unwrap())
        .collect();
    assert_eq!(
        due,
        ["2026-12-02", "2026-12-04", "2026-12-11", "2026-12-22"]
    );
    for task in created["tasks"].as_array().unwrap() {
        assert_eq!(task["account_id"], account_id);
        assert_eq!(task["owner"], account["csm_owner"]);
        assert_eq!(task["status"], "open");
    }

    // A retry with the same request_id returns the first intervention and creates nothing.
    let again = client::call_ok(&cs, "create_intervention", args)
        .await
        .unwrap();
    assert_eq!(again["created"], false);
    assert_eq!(again["intervention"]["id"], intervention["id"]);
    assert_eq!(again["tasks"], created["tasks"]);
    let after = record_counts(&cs).await;
    assert_eq!(
        after["tasks"].as_i64().unwrap(),
        before["tasks"].as_i64().unwrap() + 4
    );

    // The sales server sees the tasks (one store).
    let sales = session_as(db, "revops-sales", "rep").await;
    let listed = client::call_ok(&sales, "list_tasks", json!({"account_id": account_id}))
        .await
        .unwrap();
    let listed_due: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["due_on"].as_str().unwrap())
        .collect();
    assert_eq!(listed_due, due);
    sales.cancel().await.unwrap();

    // A second open round of the same playbook is refused, naming the first.
    let twice = error_text(
        &cs,
        "create_intervention",
        json!({"account_id": account_id, "playbook": "usage_recovery", "request_id": "int-req-2"}),
    )
    .await;
    assert!(
        twice.contains(intervention["id"].as_str().unwrap()),
        "{twice}"
    );
    // Another playbook, with an explicit owner, is fine.
    let other = client::call_ok(
        &cs,
        "create_intervention",
        json!({"account_id": account_id, "playbook": "executive_outreach", "owner": "Dana Whitfield"}),
    )
    .await
    .unwrap();
    assert_eq!(other["tasks"].as_array().unwrap().len(), 3);
    assert_eq!(other["tasks"][0]["owner"], "Dana Whitfield");

    let unknown = error_text(
        &cs,
        "create_intervention",
        json!({"account_id": account_id, "playbook": "hug_the_customer"}),
    )
    .await;
    for name in [
        "usage_recovery",
        "executive_outreach",
        "support_escalation",
        "onboarding_restart",
        "renewal_save",
        "adoption_training",
    ] {
        assert!(unknown.contains(name), "{unknown}");
    }
    let counts = record_counts(&cs).await;
    let missing = error_text(
        &cs,
        "create_intervention",
        json!({"account_id": "acc_999999", "playbook": "renewal_save"}),
    )
    .await;
    assert!(missing.contains("acc_999999"), "{missing}");
    let bad_date = error_text(
        &cs,
        "create_intervention",
        json!({"account_id": account_id, "playbook": "renewal_save", "starts_on": "12/01/2026"}),
    )
    .await;
    assert!(bad_date.contains("starts_on"), "{bad_date}");
    assert_eq!(
        record_counts(&cs).await,
        counts,
        "refused calls change nothing"
    );
    cs.cancel().await.unwrap();
}

on_both_backends!(tickets_follow_their_lifecycle_and_refuse_what_it_forbids);
async fn tickets_follow_their_lifecycle_and_refuse_what_it_forbids(db: &SeededDatabase) {
    let store = open_store(db).await;
    let cs = cs_as(db, "rep").await;
    let accounts = accounts_with_csm(&cs).await;
    let account_id = accounts[0]["id"].as_str().unwrap();
    let other_account = accounts[1]["id"].as_str().unwrap();
    let contact = store::accounts::contacts_of(&store, account_id)
        .await
        .unwrap()[0]
        .clone();
    let stranger = store::accounts::contacts_of(&store, other_account)
        .await
        .unwrap()[0]
        .clone();
    let before = record_counts(&cs).await;

    let wrong_contact = error_text(
        &cs,
        "create_ticket",
        json!({"account_id": account_id, "contact_id": stranger.id, "subject": "Export fails"}),
    )
    .await;
    assert!(wrong_contact.contains(other_account), "{wrong_contact}");
    let bad_priority = error_text(
        &cs,
        "create_ticket",
        json!({"account_id": account_id, "subject": "Export fails", "priority": "critical"}),
    )
    .await;
    assert!(bad_priority.contains("urgent"), "{bad_priority}");
    assert_eq!(record_counts(&cs).await, before);

    let args = json!({"account_id": account_id, "contact_id": contact.id,
        "subject": "Export to CSV fails for large reports", "priority": "high", "request_id": "tkt-req-1"});
    let created = client::call_ok(&cs, "create_ticket", args.clone())
        .await
        .unwrap();
    assert_eq!(created["created"], true);
    let ticket = created["ticket"].clone();
    let ticket_id = ticket["id"].as_str().unwrap();
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["contact_id"], contact.id.as_str());
    assert!(ticket["resolved_at"].is_null());
    let again = client::call_ok(&cs, "create_ticket", args).await.unwrap();
    assert_eq!(again["created"], false);
    assert_eq!(again["ticket"]["id"], ticket["id"]);
    assert_eq!(
        record_counts(&cs).await["support_tickets"]
            .as_i64()
            .unwrap(),
        before["support_tickets"].as_i64().unwrap() + 1
    );
    let listed = client::call_ok(
        &cs,
        "list_tickets",
        json!({"account_id": account_id, "status": "open"}),
    )
    .await
    .unwrap();
    assert!(
        listed["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == ticket["id"])
    );

    let csat_too_early = error_text(
        &cs,
        "update_ticket",
        json!({"ticket_id": ticket_id, "csat": 4}),
    )
    .await;
    assert!(
        csat_too_early.contains("solved or closed"),
        "{csat_too_early}"
    );
    let pending = client::call_ok(
        &cs,
        "update_ticket",
        json!({"ticket_id": ticket_id, "status": "pending", "priority": "urgent"}),
    )
    .await
    .unwrap();
    assert_eq!(pending["changed"], true);
    assert_eq!(pending["previous_status"], "open");
    assert_eq!(pending["ticket"]["status"], "pending");
    assert_eq!(pending["ticket"]["priority"], "urgent");
    let solved = client::call_ok(
        &cs,
        "update_ticket",
        json!({"ticket_id": ticket_id, "status": "solved", "csat": 5}),
    )
    .await
    .unwrap();
    assert_eq!(solved["ticket"]["status"], "solved");
    assert_eq!(solved["ticket"]["csat"], 5);
    let resolved_at = solved["ticket"]["resolved_at"]
        .as_str()
        .unwrap()
        .to_string();
    let same = client::call_ok(
        &cs,
        "update_ticket",
        json!({"ticket_id": ticket_id, "status": "solved"}),
    )
    .await
    .unwrap();
    assert_eq!(same["changed"], false, "{same}");
    assert_eq!(same["ticket"], solved["ticket"]);
    let backwards = error_text(
        &cs,
        "update_ticket",
        json!({"ticket_id": ticket_id, "status": "pending"}),
    )
    .await;
    assert!(backwards.contains("open, closed"), "{backwards}");
    let csat_out_of_range = error_text(
        &cs,
        "update_ticket",
        json!({"ticket_id": ticket_id, "csat": 6}),
    )
    .await;
    assert!(csat_out_of_range.contains("csat"), "{csat_out_of_range}");
    let closed = client::call_ok(
        &cs,
        "update_ticket",
        json!({"ticket_id": ticket_id, "status": "closed"}),
    )
    .await
    .unwrap();
    assert_eq!(closed["ticket"]["status"], "closed");
    assert_eq!(
        closed["ticket"]["resolved_at"], resolved_at,
        "closing keeps the solve time"
    );
    assert_eq!(closed["ticket"]["csat"], 5);
    let reopen = error_text(
        &cs,
        "update_ticket",
        json!({"ticket_id": ticket_id, "status": "open"}),
    )
    .await;
    assert!(reopen.contains("final"), "{reopen}");

    // A solved ticket can be reopened, which clears its resolution.
    let second = client::call_ok(
        &cs,
        "create_ticket",
        json!({"account_id": account_id, "subject": "Slow dashboard"}),
    )
    .await
    .unwrap();
    assert_eq!(second["ticket"]["priority"], "normal");
    let second_id = second["ticket"]["id"].as_str().unwrap();
    client::call_ok(
        &cs,
        "update_ticket",
        json!({"ticket_id": second_id, "status": "solved", "csat": 2}),
    )
    .await
    .unwrap();
    let reopened = client::call_ok(
        &cs,
        "update_ticket",
        json!({"ticket_id": second_id, "status": "open"}),
    )
    .await
    .unwrap();
    assert!(reopened["ticket"]["resolved_at"].is_null());
    assert!(reopened["ticket"]["csat"].is_null());

    let counts = record_counts(&cs).await;
    let unknown = error_text(
        &cs,
        "update_ticket",
        json!({"ticket_id": "tkt_999999", "status": "solved"}),
    )
    .await;
    assert!(unknown.contains("tkt_999999"), "{unknown}");
    let nothing = error_text(&cs, "update_ticket", json!({"ticket_id": second_id})).await;
    assert!(nothing.contains("nothing to change"), "{nothing}");
    assert_eq!(record_counts(&cs).await, counts);
    cs.cancel().await.unwrap();
    store.close().await;
}

on_both_backends!(bulk_account_changes_act_at_once_when_small_and_need_the_token_when_large);
async fn bulk_account_changes_act_at_once_when_small_and_need_the_token_when_large(
    db: &SeededDatabase,
) {
    let rep = cs_as(db, "rep").await;
    let denied = error_text(
        &rep,
        "bulk_update_accounts",
        json!({"account_ids": ["acc_000001"], "changes": {"segment": "smb"}}),
    )
    .await;
    assert!(denied.contains("manager"), "{denied}");
    rep.cancel().await.unwrap();

    let cs = cs_as(db, "manager").await;
    let active = accounts_with_csm(&cs).await;
    let small: Vec<&str> = active[..3]
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let done = client::call_ok(
        &cs,
        "bulk_update_accounts",
        json!({"account_ids": small, "changes": {"lifecycle_stage": "at_risk", "owner": "Rae Okafor"}}),
    )
    .await
    .unwrap();
    assert_eq!(
        done["status"], "done",
        "three accounts need no confirmation: {done}"
    );
    assert_eq!(done["result"]["matched"], 3);
    assert_eq!(done["result"]["changed"], 3);
    assert_eq!(done["result"]["confirm_above_accounts"], 10);
    let sample = &done["result"]["sample"][0];
    assert_eq!(sample["before"]["lifecycle_stage"], "active");
    assert_eq!(sample["after"]["lifecycle_stage"], "at_risk");
    assert_eq!(sample["after"]["owner"], "Rae Okafor");
    for id in &small {
        let overview = client::call_ok(&cs, "get_account_overview", json!({"account_id": id}))
            .await
            .unwrap();
        assert_eq!(overview["account"]["lifecycle_stage"], "at_risk");
        assert_eq!(overview["account"]["owner"], "Rae Okafor");
    }
    // The same change again changes nothing.
    let again = client::call_ok(
        &cs,
        "bulk_update_accounts",
        json!({"account_ids": small, "changes": {"lifecycle_stage": "at_risk"}}),
    )
    .await
    .unwrap();
    assert_eq!(again["result"]["changed"], 0);
    assert_eq!(again["result"]["unchanged"], 3);

    // Churning stamps churned_at.
    client::call_ok(
        &cs,
        "bulk_update_accounts",
        json!({"account_ids": [small[0]], "changes": {"lifecycle_stage": "churned"}}),
    )
    .await
    .unwrap();
    let churned = client::call_ok(&cs, "get_account_overview", json!({"account_id": small[0]}))
        .await
        .unwrap();
    assert!(churned["account"]["churned_at"].is_string(), "{churned}");

    // A CSM's whole book: more than ten accounts, so a preview first.
    let csm = active[5]["csm_owner"].as_str().unwrap().to_string();
    let book = client::call_ok(
        &cs,
        "list_accounts",
        json!({"csm_owner": csm, "limit": 200}),
    )
    .await
    .unwrap()["items"]
        .as_array()
        .unwrap()
        .len() as i64;
    assert!(book > 10, "{csm} has {book} accounts");
    let args = json!({"filter": {"csm_owner": csm}, "changes": {"csm_owner": "Priya Successor"}});
    let counts = record_counts(&cs).await;
    let preview = client::call_ok(&cs, "bulk_update_accounts", args.clone())
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview", "{preview}");
    assert_eq!(preview["result"]["changed"], book);
    assert_eq!(preview["result"]["sample"].as_array().unwrap().len(), 10);
    let token = preview["confirmation"]["confirm_token"]
        .as_str()
        .unwrap()
        .to_string();
    let still = client::call_ok(
        &cs,
        "list_accounts",
        json!({"csm_owner": csm, "limit": 200}),
    )
    .await
    .unwrap();
    assert_eq!(
        still["items"].as_array().unwrap().len() as i64,
        book,
        "a preview changes nothing"
    );
    let changed_args = error_text(
        &cs,
        "bulk_update_accounts",
        json!({"filter": {"csm_owner": csm}, "changes": {"csm_owner": "Someone Else"}, "confirm_token": token}),
    )
    .await;
    assert!(changed_args.contains("arguments differ"), "{changed_args}");
    let mut confirmed = args.clone();
    confirmed["confirm_token"] = json!(token);
    let started = std::time::Instant::now();
    let applied = client::call_ok(&cs, "bulk_update_accounts", confirmed.clone())
        .await
        .unwrap();
    eprintln!(
        "bulk update of a CSM book (confirmed call, round trip): {:?}",
        started.elapsed()
    );
    assert_eq!(applied["status"], "done", "{applied}");
    assert_eq!(applied["result"]["changed"], book);
    let moved = client::call_ok(
        &cs,
        "list_accounts",
        json!({"csm_owner": "Priya Successor", "limit": 200}),
    )
    .await
    .unwrap();
    assert_eq!(moved["items"].as_array().unwrap().len() as i64, book);
    let replay = error_text(&cs, "bulk_update_accounts", confirmed).await;
    assert!(replay.contains("used"), "{replay}");
    assert_eq!(
        record_counts(&cs).await,
        counts,
        "no record added or removed"
    );

    // The threshold is a setting: at 2, a change of three accounts is previewed.
    let store = open_store(db).await;
    let mut tx = store.begin_write().await.unwrap();
    let mut settings = std::collections::BTreeMap::new();
    settings.insert("bulk_confirm_above_accounts".to_string(), json!(2));
    store::settings::set_many(&mut tx, "cs", &settings, "test-admin")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    let gated = client::call_ok(
        &cs,
        "bulk_update_accounts",
        json!({"account_ids": small, "changes": {"owner": "Threshold Tester"}}),
    )
    .await
    .unwrap();
    assert_eq!(gated["result"]["confirm_above_accounts"], 2);
    assert_eq!(gated["result"]["changed"], 3);
    assert_eq!(gated["status"], "preview", "{gated}");

    // Bad input: named clearly, nothing changed.
    let counts = record_counts(&cs).await;
    let overview = |id: &str| {
        let cs = &cs;
        let id = id.to_string();
        async move {
            client::call_ok(cs, "get_account_overview", json!({"account_id": id}))
                .await
                .unwrap()["account"]
                .clone()
        }
    };
    let untouched = overview(small[1]).await;
    let unknown = error_text(
        &cs,
        "bulk_update_accounts",
        json!({"account_ids": [small[1], "acc_999998", "acc_999999"], "changes": {"segment": "smb", "owner": "Nobody"}}),
    )
    .await;
    assert!(
        unknown.contains("acc_999998") && unknown.contains("acc_999999"),
        "{unknown}"
    );
    assert_eq!(overview(small[1]).await, untouched, "all or nothing");
    let cases = [
        (
            json!({"account_ids": [small[1], small[1]], "changes": {"segment": "smb"}}),
            "more than once",
        ),
        (
            json!({"account_ids": small, "changes": {"segment": "huge"}}),
            "mid_market",
        ),
        (
            json!({"account_ids": small, "changes": {"lifecycle_stage": "dormant"}}),
            "at_risk",
        ),
        (json!({"account_ids": small, "changes": {}}), "sets nothing"),
        (
            json!({"account_ids": [], "changes": {"segment": "smb"}}),
            "empty",
        ),
        (
            json!({"changes": {"segment": "smb"}}),
            "account_ids or a filter",
        ),
        (
            json!({"account_ids": small, "filter": {"segment": "smb"}, "changes": {"segment": "smb"}}),
            "not both",
        ),
        (
            json!({"filter": {}, "changes": {"segment": "smb"}}),
            "filter",
        ),
        (
            json!({"account_ids": ["acc_1' OR 1=1 --"], "changes": {"segment": "smb"}}),
            "not a acc id",
        ),
        (
            json!({"account_ids": small, "changes": {"owner": "x".repeat(121)}}),
            "limit is 120",
        ),
        (
            json!({"account_ids": small, "changes": {"owner": "Rae\u{0}Okafor"}}),
            "U+0000",
        ),
        (
            json!({"account_ids": "acc_000001", "changes": {"segment": "smb"}}),
            "account_ids",
        ),
        (json!({"account_ids": small}), "changes"),
    ];
    for (arguments, expected) in cases {
        let text = error_text(&cs, "bulk_update_accounts", arguments.clone()).await;
        assert!(text.contains(expected), "{arguments}: {text}");
    }
    let too_many: Vec<String> = (1..=5_001).map(|n| format!("acc_{n:06}")).collect();
    let text = error_text(
        &cs,
        "bulk_update_accounts",
        json!({"account_ids": too_many, "changes": {"segment": "smb"}}),
    )
    .await;
    assert!(text.contains("at most 5000"), "{text}");
    assert_eq!(record_counts(&cs).await, counts);
    cs.cancel().await.unwrap();
}

/// A fixture contact with a phone whose email, phone and full name appear in no row that is
/// not about them, so that finding none of them after the erasure means something; one who
/// was a lead first (the lead has the same email).
async fn a_contact_only_they_are_named_by(store: &store::Store) -> store::records::Contact {
    let mut cursor: Option<String> = None;
    loop {
        let page = store::accounts::list(
            store,
            &store::accounts::AccountFilter {
                lifecycle_stage: Some("active".into()),
                ..Default::default()
            },
            cursor.as_deref(),
            Some(50),
        )
        .await
        .unwrap();
        for account in &page.items {
            for contact in store::accounts::contacts_of(store, &account.id)
                .await
                .unwrap()
            {
                let Some(phone) = contact.phone.clone() else {
                    continue;
                };
                let email = contact.email.as_str();
                let (first, last) = (contact.first_name.as_str(), contact.last_name.as_str());
                let was_a_lead = store::erasure::scan_text(store, &[email])
                    .await
                    .unwrap()
                    .matches
                    .iter()
                    .any(|m| m.table == "leads");
                if was_a_lead
                    && rows_holding(store, &[&phone]).await
                        == rows_holding(store, &[&phone, email]).await
                    && rows_holding(store, &[first, last]).await
                        == rows_holding(store, &[first, last, email]).await
                {
                    return contact;
                }
            }
        }
        cursor = page.next_cursor;
        assert!(cursor.is_some(), "no fixture contact is uniquely named");
    }
}

on_both_backends!(erasing_a_contact_leaves_no_trace_of_them_and_the_audit_chain_verifies);
async fn erasing_a_contact_leaves_no_trace_of_them_and_the_audit_chain_verifies(
    db: &SeededDatabase,
) {
    let store = open_store(db).await;
    let contact = a_contact_only_they_are_named_by(&store).await;
    let phone = contact.phone.clone().unwrap();
    let full_name = format!("{} {}", contact.first_name, contact.last_name);
    let (first, last) = (contact.first_name.as_str(), contact.last_name.as_str());

    let cs = cs_as(db, "manager").await;
    // Free text about them in several tables.
    client::call_ok(
        &cs,
        "log_touchpoint",
        json!({"account_id": contact.account_id, "contact_id": contact.id,
            "subject": format!("Call with {full_name}"), "detail": format!("Reach on {phone} or {}", contact.email)}),
    )
    .await
    .unwrap();
    client::call_ok(
        &cs,
        "log_touchpoint",
        json!({"account_id": contact.account_id, "subject": format!("QBR: {full_name} wants SSO")}),
    )
    .await
    .unwrap();
    client::call_ok(
        &cs,
        "create_ticket",
        json!({"account_id": contact.account_id, "contact_id": contact.id,
            "subject": format!("{full_name} cannot log in")}),
    )
    .await
    .unwrap();
    client::call_ok(
        &cs,
        "create_intervention",
        json!({"account_id": contact.account_id, "playbook": "executive_outreach",
            "reason": format!("Champion {full_name} ({}) is leaving", contact.email)}),
    )
    .await
    .unwrap();
    // Marketing holds the address too: in a saved audience and on the suppression list.
    let marketing = session_as(db, "revops-marketing", "manager").await;
    let audience = client::call_ok(
        &marketing,
        "build_audience",
        json!({"name": "Active contacts in this role", "contacts": {"lifecycle_stage": "active", "role": contact.role}}),
    )
    .await
    .unwrap();
    let audience_id = audience["audience_id"].as_str().unwrap().to_string();
    let members = audience["member_count"].as_i64().unwrap();
    assert!(members >= 1, "{audience}");
    client::call_ok(
        &marketing,
        "suppress_email",
        json!({"email": contact.email, "reason": "unsubscribe"}),
    )
    .await
    .unwrap();
    marketing.cancel().await.unwrap();
    assert!(rows_holding(&store, &[&contact.email]).await >= 5);
    assert!(rows_holding(&store, &[first, last]).await >= 4);

    let rep = cs_as(db, "rep").await;
    let denied = error_text(
        &rep,
        "erase_customer_data",
        json!({"contact_id": contact.id}),
    )
    .await;
    assert!(denied.contains("manager"), "{denied}");
    rep.cancel().await.unwrap();

    let before = record_counts(&cs).await;
    let args = json!({"contact_id": contact.id});
    let preview = client::call_ok(&cs, "erase_customer_data", args.clone())
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview", "{preview}");
    let tables = preview["result"]["tables"].as_array().unwrap().clone();
    let count = |table: &str, what: &str| {
        tables
            .iter()
            .find(|t| t["table"] == table)
            .map_or(0, |t| t[what].as_i64().unwrap())
    };
    assert_eq!(count("contacts", "deleted"), 1, "{tables:?}");
    assert!(count("activities", "anonymised") >= 2, "{tables:?}");
    assert!(count("support_tickets", "anonymised") >= 1, "{tables:?}");
    assert_eq!(count("interventions", "anonymised"), 1, "{tables:?}");
    assert_eq!(
        count("leads", "anonymised"),
        1,
        "the lead they were: {tables:?}"
    );
    assert_eq!(count("audience_members", "deleted"), 1, "{tables:?}");
    assert_eq!(count("email_suppressions", "deleted"), 1, "{tables:?}");
    assert!(
        !preview.to_string().contains(&contact.email) && !preview.to_string().contains(last),
        "the answer names nobody: {preview}"
    );
    assert_eq!(
        record_counts(&cs).await,
        before,
        "a preview changes nothing"
    );
    assert!(rows_holding(&store, &[&contact.email]).await >= 3);

    let token = preview["confirmation"]["confirm_token"].as_str().unwrap();
    let other = error_text(
        &cs,
        "erase_customer_data",
        json!({"contact_id": "con_000001", "confirm_token": token}),
    )
    .await;
    assert!(other.contains("arguments differ"), "{other}");
    let mut confirmed = args.clone();
    confirmed["confirm_token"] = json!(token);
    let started = std::time::Instant::now();
    let done = client::call_ok(&cs, "erase_customer_data", confirmed)
        .await
        .unwrap();
    eprintln!(
        "contact erasure (confirmed call, round trip): {:?}",
        started.elapsed()
    );
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        done["result"]["tables"],
        json!(tables),
        "the preview was exact"
    );
    let after = record_counts(&cs).await;
    assert_eq!(
        after["contacts"].as_i64().unwrap(),
        before["contacts"].as_i64().unwrap() - 1
    );
    for kept in [
        "accounts",
        "leads",
        "activities",
        "support_tickets",
        "nps_responses",
        "tasks",
    ] {
        assert_eq!(
            after[kept], before[kept],
            "{kept} rows are kept, anonymised"
        );
    }

    assert_eq!(
        store::audiences::get(&store, &audience_id)
            .await
            .unwrap()
            .member_count,
        members - 1,
        "the audience is recounted"
    );

    // No text column of any table holds their email, phone or name.
    let scan = store::erasure::scan_text(&store, &[&contact.email])
        .await
        .unwrap();
    for table in [
        "accounts",
        "contacts",
        "leads",
        "activities",
        "support_tickets",
        "nps_responses",
        "tasks",
        "interventions",
        "predictions",
        "audit_log",
        "audit_actors",
        "erasures",
        "confirmations",
        "settings",
    ] {
        assert!(
            scan.tables_scanned.iter().any(|t| t == table),
            "{table} scanned: {:?}",
            scan.tables_scanned
        );
    }
    assert_eq!(scan.matches, vec![], "email left behind");
    for needles in [
        vec![phone.as_str()],
        vec![first, last],
        vec![full_name.as_str()],
    ] {
        let scan = store::erasure::scan_text(&store, &needles).await.unwrap();
        assert_eq!(scan.matches, vec![], "{needles:?} left behind");
    }

    // The erasure is on record by digest only.
    let records = store::erasure::find(
        &store,
        &mcp_runtime::policy::token_digest(&contact.email.to_lowercase()),
    )
    .await
    .unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].subject_kind, "contact");
    assert_eq!(
        records[0].subject_digest,
        mcp_runtime::policy::token_digest(&contact.id)
    );
    assert_eq!(records[0].actor, "test-user");
    assert_eq!(json!(records[0].tables), json!(tables));

    let again = error_text(
        &cs,
        "erase_customer_data",
        json!({"contact_id": contact.id}),
    )
    .await;
    assert!(again.contains(&contact.id), "{again}");
    cs.cancel().await.unwrap();
    audit_verifies(db);
    store.close().await;
}

on_both_backends!(erasing_a_lead_by_email_anonymises_it_and_deletes_its_scores);
async fn erasing_a_lead_by_email_anonymises_it_and_deletes_its_scores(db: &SeededDatabase) {
    let store = open_store(db).await;
    let sales = session_as(db, "revops-sales", "rep").await;
    let leads = client::call_ok(&sales, "list_leads", json!({"status": "new", "limit": 5}))
        .await
        .unwrap();
    let lead = leads["items"][0].clone();
    let lead_id = lead["id"].as_str().unwrap().to_string();
    let email = lead["email"].as_str().unwrap().to_string();
    client::call_ok(&sales, "score_lead", json!({"lead_id": lead_id}))
        .await
        .unwrap();
    sales.cancel().await.unwrap();
    // Scores are logged in the background and flushed as the server stops.
    let mut scored = 0;
    for _ in 0..50 {
        scored = store::predictions::count_for(&store, "lead", &lead_id)
            .await
            .unwrap();
        if scored > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(scored > 0, "the score was logged");

    let cs = cs_as(db, "manager").await;
    let before = record_counts(&cs).await;
    let args = json!({"email": email.to_uppercase()});
    let preview = client::call_ok(&cs, "erase_customer_data", args.clone())
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview");
    let mut confirmed = args;
    confirmed["confirm_token"] = preview["confirmation"]["confirm_token"].clone();
    let started = std::time::Instant::now();
    let done = client::call_ok(&cs, "erase_customer_data", confirmed)
        .await
        .unwrap();
    eprintln!(
        "lead erasure by email (confirmed call, round trip): {:?}",
        started.elapsed()
    );
    assert_eq!(done["status"], "done");
    assert_eq!(done["result"]["subject_kind"], "email");
    let tables = done["result"]["tables"].as_array().unwrap();
    assert!(
        tables
            .iter()
            .any(|t| t["table"] == "leads" && t["anonymised"] == 1),
        "{tables:?}"
    );
    assert!(
        tables
            .iter()
            .any(|t| t["table"] == "predictions" && t["deleted"].as_i64() >= Some(scored)),
        "{tables:?}"
    );
    assert_eq!(
        store::predictions::count_for(&store, "lead", &lead_id)
            .await
            .unwrap(),
        0
    );
    let after = record_counts(&cs).await;
    assert_eq!(after["leads"], before["leads"], "the lead stays counted");
    cs.cancel().await.unwrap();

    let sales = session_as(db, "revops-sales", "rep").await;
    let anonymised = client::call_ok(&sales, "get_lead", json!({"lead_id": lead_id}))
        .await
        .unwrap();
    assert_eq!(anonymised["first_name"], "erased", "{anonymised}");
    assert_eq!(anonymised["last_name"], "erased");
    assert!(
        anonymised["email"]
            .as_str()
            .unwrap()
            .ends_with("@erased.invalid"),
        "{anonymised}"
    );
    assert!(anonymised["title"].is_null());
    assert_eq!(
        anonymised["status"], lead["status"],
        "still counted in the funnel"
    );
    sales.cancel().await.unwrap();
    let scan = store::erasure::scan_text(&store, &[&email]).await.unwrap();
    assert_eq!(scan.matches, vec![]);
    let records = store::erasure::find(
        &store,
        &mcp_runtime::policy::token_digest(&email.to_lowercase()),
    )
    .await
    .unwrap();
    assert_eq!(records.len(), 1, "found by the digest of the address");
    audit_verifies(db);
    store.close().await;
}

on_both_backends!(erasing_an_account_removes_everything_under_it_and_the_audit_chain_verifies);
async fn erasing_an_account_removes_everything_under_it_and_the_audit_chain_verifies(
    db: &SeededDatabase,
) {
    let store = open_store(db).await;
    // An active customer with people, tickets, NPS answers and usage.
    let mut chosen = None;
    for account in store::accounts::list(
        &store,
        &store::accounts::AccountFilter {
            lifecycle_stage: Some("active".into()),
            ..Default::default()
        },
        None,
        Some(100),
    )
    .await
    .unwrap()
    .items
    {
        let contacts = store::accounts::contacts_of(&store, &account.id)
            .await
            .unwrap();
        let tickets = store::support::tickets_for(&store, &account.id, None, Some(200))
            .await
            .unwrap();
        let nps = store::support::nps_for(&store, &account.id, Some(200))
            .await
            .unwrap();
        if contacts.len() >= 2 && !tickets.is_empty() && !nps.is_empty() {
            chosen = Some((account, contacts, tickets.len() as i64, nps.len() as i64));
            break;
        }
    }
    let (account, contacts, tickets, nps) = chosen.expect("a customer with people and history");
    let uniquely_named: Vec<&store::records::Contact> = {
        let mut named = Vec::new();
        for contact in &contacts {
            let (first, last) = (contact.first_name.as_str(), contact.last_name.as_str());
            if rows_holding(&store, &[first, last]).await
                == rows_holding(&store, &[first, last, &contact.email]).await
            {
                named.push(contact);
            }
        }
        named
    };

    let cs = cs_as(db, "manager").await;
    client::call_ok(
        &cs,
        "create_intervention",
        json!({"account_id": account.id, "playbook": "renewal_save", "reason": "budget cuts"}),
    )
    .await
    .unwrap();
    client::call_ok(
        &cs,
        "log_touchpoint",
        json!({"account_id": account.id, "contact_id": contacts[0].id, "subject": "Renewal call"}),
    )
    .await
    .unwrap();
    let before = record_counts(&cs).await;
    let args = json!({"account_id": account.id});
    let preview = client::call_ok(&cs, "erase_customer_data", args.clone())
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview");
    let tables = preview["result"]["tables"].clone();
    let count = |table: &str| {
        tables
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .map_or(0, |t| t["deleted"].as_i64().unwrap())
    };
    assert_eq!(count("accounts"), 1);
    assert_eq!(count("contacts"), contacts.len() as i64);
    assert_eq!(count("support_tickets"), tickets);
    assert_eq!(count("nps_responses"), nps);
    assert_eq!(count("interventions"), 1);
    assert!(count("tasks") >= 4, "{tables}");
    assert!(count("usage_snapshots") > 0, "{tables}");
    assert_eq!(record_counts(&cs).await, before);

    let mut confirmed = args;
    confirmed["confirm_token"] = preview["confirmation"]["confirm_token"].clone();
    let started = std::time::Instant::now();
    let done = client::call_ok(&cs, "erase_customer_data", confirmed)
        .await
        .unwrap();
    eprintln!(
        "account erasure (confirmed call, round trip): {:?}",
        started.elapsed()
    );
    assert_eq!(done["status"], "done");
    assert_eq!(done["result"]["tables"], tables);
    let after = record_counts(&cs).await;
    for table in [
        "accounts",
        "contacts",
        "opportunities",
        "support_tickets",
        "nps_responses",
        "usage_snapshots",
        "tasks",
    ] {
        assert_eq!(
            after[table].as_i64().unwrap(),
            before[table].as_i64().unwrap() - count(table),
            "{table}"
        );
    }
    let gone = error_text(
        &cs,
        "get_account_overview",
        json!({"account_id": account.id}),
    )
    .await;
    assert!(gone.contains(&account.id), "{gone}");

    let scan = store::erasure::scan_text(&store, &[&account.id])
        .await
        .unwrap();
    assert_eq!(scan.matches, vec![], "the account id is left behind");
    for contact in &contacts {
        let scan = store::erasure::scan_text(&store, &[&contact.email])
            .await
            .unwrap();
        assert_eq!(scan.matches, vec![], "an email is left behind");
    }
    for contact in uniquely_named {
        let scan = store::erasure::scan_text(&store, &[&contact.first_name, &contact.last_name])
            .await
            .unwrap();
        assert_eq!(scan.matches, vec![], "a name is left behind");
    }
    let records = store::erasure::find(&store, &mcp_runtime::policy::token_digest(&account.id))
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].subject_kind, "account");
    assert_eq!(records[0].email_digests.len(), contacts.len());
    cs.cancel().await.unwrap();
    audit_verifies(db);
    store.close().await;
}

on_both_backends!(bad_input_to_the_cs_writes_is_refused_clearly_and_changes_nothing);
async fn bad_input_to_the_cs_writes_is_refused_clearly_and_changes_nothing(db: &SeededDatabase) {
    let cs = cs_as(db, "manager").await;
    let account_id = accounts_with_csm(&cs).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = record_counts(&cs).await;
    let hostile_json = "{\"$where\": \"1 == 1\"}".repeat(20);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "erase_customer_data",
            json!({}),
            "give contact_id, email or account_id",
        ),
        (
            "erase_customer_data",
            json!({"contact_id": "con_000001", "email": "a@b.example"}),
            "exactly one",
        ),
        (
            "erase_customer_data",
            json!({"contact_id": "con_999999"}),
            "con_999999",
        ),
        (
            "erase_customer_data",
            json!({"account_id": "acc_999999"}),
            "acc_999999",
        ),
        (
            "erase_customer_data",
            json!({"email": "nobody@nowhere.example"}),
            "no contact or lead",
        ),
        (
            "erase_customer_data",
            json!({"email": "not an email"}),
            "not an email",
        ),
        (
            "erase_customer_data",
            json!({"contact_id": "con_1; DELETE FROM contacts"}),
            "not a con id",
        ),
        (
            "erase_customer_data",
            json!({"contact_id": 42}),
            "contact_id",
        ),
        (
            "create_ticket",
            json!({"account_id": account_id, "subject": "x".repeat(201)}),
            "limit is 200",
        ),
        (
            "create_ticket",
            json!({"account_id": account_id, "subject": "bell\u{7}"}),
            "U+0007",
        ),
        (
            "create_ticket",
            json!({"account_id": account_id, "subject": "  "}),
            "empty",
        ),
        (
            "create_ticket",
            json!({"account_id": account_id}),
            "subject",
        ),
        (
            "create_ticket",
            json!({"account_id": "acc_999999", "subject": "Export fails"}),
            "acc_999999",
        ),
        (
            "create_ticket",
            json!({"account_id": account_id, "contact_id": "con_999999", "subject": "Export fails"}),
            "con_999999",
        ),
        (
            "create_ticket",
            json!({"account_id": account_id, "subject": "ok", "request_id": hostile_json}),
            "limit is 100",
        ),
        (
            "create_ticket",
            json!({"account_id": account_id, "subject": "ok", "severity": "high"}),
            "severity",
        ),
        (
            "create_intervention",
            json!({"account_id": account_id, "playbook": "renewal_save", "reason": "y".repeat(501)}),
            "limit is 500",
        ),
        (
            "create_intervention",
            json!({"account_id": account_id, "playbook": "renewal_save", "owner": "a\u{1b}[31m"}),
            "U+001B",
        ),
        (
            "create_intervention",
            json!({"account_id": account_id, "playbook": "renewal_save", "starts_on": "1999-01-01"}),
            "between 2000",
        ),
        (
            "update_ticket",
            json!({"ticket_id": "tkt_000001", "status": "done"}),
            "closed",
        ),
        (
            "update_ticket",
            json!({"ticket_id": "tkt_000001", "csat": "five"}),
            "csat",
        ),
    ];
    for (tool, arguments, expected) in cases {
        let text = error_text(&cs, tool, arguments.clone()).await;
        assert!(text.contains(expected), "{tool} {arguments}: {text}");
    }
    assert_eq!(record_counts(&cs).await, before, "nothing changed");

    // SQL in free text is just text: stored verbatim, harming nothing.
    let sql = "'); DROP TABLE support_tickets; --";
    let stored = client::call_ok(
        &cs,
        "create_ticket",
        json!({"account_id": account_id, "subject": sql}),
    )
    .await
    .unwrap();
    assert_eq!(stored["ticket"]["subject"], sql);
    assert_eq!(
        record_counts(&cs).await["support_tickets"]
            .as_i64()
            .unwrap(),
        before["support_tickets"].as_i64().unwrap() + 1
    );
    cs.cancel().await.unwrap();
}
