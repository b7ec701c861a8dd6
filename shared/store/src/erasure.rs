//! GDPR erasure of a person or an account across every table (issue 7).
//!
//! What happens to each table, and why:
//!
//! | table | a person (contact and/or leads with one email) | an account |
//! |---|---|---|
//! | contacts | deleted | every contact deleted |
//! | leads | anonymised: names `erased`, a unique `@erased.invalid` email, title and CRM id cleared (the lead stays counted in funnels and attribution) | leads converted into it or sharing a contact's email: anonymised, company name `erased`, domain cleared |
//! | activities | subject `[erased]`, detail cleared, contact unlinked (the touch stays counted) | deleted (and those of its deals) |
//! | support_tickets | subject `[erased]`, contact unlinked (ticket counts and CSAT stay) | deleted |
//! | nps_responses | comment cleared, contact unlinked (the score stays in NPS) | deleted |
//! | predictions | rows about the contact or its leads (subject id, or the id in the payload) deleted | rows about the account, its contacts, leads and deals deleted |
//! | tasks, interventions, opportunities, opportunity_stage_history, usage_snapshots | free text naming the person redacted | deleted |
//! | audience_members, email_suppressions | the person's rows deleted (audiences recounted) | the same, for each person erased |
//! | marketing_touches, budget_ledger, campaigns, email_sends, backups | no personal data: kept (free text swept) | kept |
//! | audit_log, audit_checkpoints, audit_actors, confirmations | never touched: they hold digests and pseudonyms only, so the chain still verifies | never touched |
//!
//! Free text can name a person anywhere, so every free-text column the domain knows
//! (activity subjects and details, ticket subjects, NPS comments, task titles, intervention
//! reasons, deal-history notes, email subjects, audience names, backup notes) is also swept for the person's email, phone and full name,
//! and matching values are redacted. Last, every text column of every table (found in the
//! catalogue, so tables added later are covered) is checked for the email (and, for an
//! account, its id): if any is left, the erasure fails and changes nothing, naming the
//! table, rather than claim an erasure it did not complete.
//!
//! The `erasures` row proves the erasure happened without holding what was erased: the
//! subject and its emails only as SHA-256 digests (computed by the caller), and counts.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use crate::{Backend, Error, Result, WriteTx};

/// What to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A contact, and every lead with its email.
    Contact(String),
    /// A person by email (lower case): the contact and the leads with it.
    Email(String),
    /// An account and everything under it.
    Account(String),
}

impl Subject {
    /// `contact`, `email` or `account`.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Contact(_) => "contact",
            Subject::Email(_) => "email",
            Subject::Account(_) => "account",
        }
    }

    /// The identifier the caller gave (an id, or the email).
    pub fn identifier(&self) -> &str {
        match self {
            Subject::Contact(id) | Subject::Email(id) | Subject::Account(id) => id,
        }
    }
}

/// Rows of one table deleted or anonymised by an erasure.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct TableCount {
    pub table: String,
    /// Rows removed.
    pub deleted: i64,
    /// Rows kept with their personal data replaced or cleared.
    pub anonymised: i64,
}

/// What an erasure did (or, in a preview, would do). Names nobody: the subject appears only
/// as a digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ErasureReport {
    /// The `erasures` row recording it.
    pub erasure_id: String,
    /// contact, email or account.
    pub subject_kind: String,
    /// SHA-256 (hex) of the identifier given: how compliance finds this record again.
    pub subject_digest: String,
    /// Per table, the rows deleted and anonymised; tables left alone are not listed.
    pub tables: Vec<TableCount>,
    pub erased_at: String,
}

/// One person to erase: a contact and/or the leads that share its email.
#[derive(Debug, Clone)]
struct Person {
    contact_id: Option<String>,
    /// Lower case.
    email: String,
    phone: Option<String>,
    /// "First Last" of the contact and each lead.
    full_names: Vec<String>,
    lead_ids: Vec<String>,
}

#[derive(Default)]
struct Counts(BTreeMap<&'static str, (i64, i64)>);

impl Counts {
    fn deleted(&mut self, table: &'static str, rows: u64) {
        if rows > 0 {
            self.0.entry(table).or_default().0 += i64::try_from(rows).unwrap_or(i64::MAX);
        }
    }

    fn anonymised(&mut self, table: &'static str, rows: u64) {
        if rows > 0 {
            self.0.entry(table).or_default().1 += i64::try_from(rows).unwrap_or(i64::MAX);
        }
    }

    fn tables(&self) -> Vec<TableCount> {
        self.0
            .iter()
            .map(|(table, (deleted, anonymised))| TableCount {
                table: (*table).to_string(),
                deleted: *deleted,
                anonymised: *anonymised,
            })
            .collect()
    }
}

/// What replaces a free-text value that named the person.
const REDACTED: &str = "[erased]";

/// Free-text columns the domain knows, with what replaces a value naming the person
/// (`None`: cleared). Table and column names are constants, never from a caller.
const FREE_TEXT: [(&str, &str, Option<&str>); 10] = [
    ("activities", "subject", Some(REDACTED)),
    ("email_sends", "subject", Some(REDACTED)),
    ("audiences", "name", Some(REDACTED)),
    ("backups", "note", None),
    ("activities", "detail", None),
    ("support_tickets", "subject", Some(REDACTED)),
    ("nps_responses", "comment", None),
    ("tasks", "title", Some(REDACTED)),
    ("interventions", "reason", None),
    ("opportunity_stage_history", "note", None),
];

/// Tables an erasure never touches or checks: the audit trail (digests and pseudonyms
/// only; changing it would break the chain), the erasure records themselves, one-time
/// confirmation tokens and the migration ledger.
const NOT_SCANNED: [&str; 6] = [
    "audit_log",
    "audit_checkpoints",
    "audit_actors",
    "erasures",
    "confirmations",
    "_sqlx_migrations",
];

/// `%needle%` for `LIKE … ESCAPE '\'`, lower case, with the wildcards in it escaped.
fn contains_pattern(needle: &str) -> String {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

async fn execute(
    tx: &mut WriteTx,
    action: &'static str,
    sql: &str,
    values: &[&str],
) -> Result<u64> {
    let mut query = sqlx::query(AssertSqlSafe(sql.to_string()));
    for value in values {
        query = query.bind(*value);
    }
    query
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected())
        .map_err(|error| Error::from_sqlx(action, error))
}

/// Erases `subject` in the caller's transaction and records an `erasures` row. `digest`
/// turns an identifier into its SHA-256 hex digest (the store itself has no hashing).
/// Unknown subjects fail with [`Error::NotFound`] before anything changes.
pub async fn erase(
    tx: &mut WriteTx,
    backend: Backend,
    subject: &Subject,
    digest: &(dyn Fn(&str) -> String + Sync),
    actor: &str,
) -> Result<ErasureReport> {
    let mut counts = Counts::default();
    let mut emails: Vec<String> = Vec::new();
    let mut account_id = None;
    match subject {
        Subject::Contact(id) => {
            let person = person_of_contact(tx, id).await?;
            emails.push(person.email.clone());
            erase_person(tx, &person, &mut counts).await?;
        }
        Subject::Email(email) => {
            let person = person_of_email(tx, email).await?;
            emails.push(person.email.clone());
            erase_person(tx, &person, &mut counts).await?;
        }
        Subject::Account(id) => {
            crate::require_exists(tx, "accounts", "account", id).await?;
            emails = erase_account(tx, id, &mut counts).await?;
            account_id = Some(id.as_str());
        }
    }
    check_nothing_left(tx, backend, &emails, account_id).await?;

    let id = crate::ids::new_id("era");
    let erased_at = crate::clock::now();
    let subject_digest = digest(subject.identifier());
    let mut email_digests: Vec<String> = emails.iter().map(|e| digest(e)).collect();
    email_digests.sort();
    email_digests.dedup();
    let tables = counts.tables();
    let counts_json = serde_json::to_string(&tables)
        .map_err(|_| Error::Internal("record the erasure's counts"))?;
    let digests_json = serde_json::to_string(&email_digests)
        .map_err(|_| Error::Internal("record the erasure's digests"))?;
    execute(
        tx,
        "record an erasure",
        "INSERT INTO erasures (id, subject_kind, subject_digest, email_digests, counts_json, actor, erased_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &id,
            subject.kind(),
            &subject_digest,
            &digests_json,
            &counts_json,
            actor,
            &erased_at,
        ],
    )
    .await?;
    Ok(ErasureReport {
        erasure_id: id,
        subject_kind: subject.kind().to_string(),
        subject_digest,
        tables,
        erased_at,
    })
}

async fn person_of_contact(tx: &mut WriteTx, contact_id: &str) -> Result<Person> {
    let row =
        sqlx::query("SELECT id, first_name, last_name, email, phone FROM contacts WHERE id = $1")
            .bind(contact_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read a contact", error))?
            .ok_or_else(|| Error::NotFound {
                entity: "contact",
                id: contact_id.to_string(),
            })?;
    let email: String = crate::rows::get(&row, "email")?;
    let mut person = Person {
        contact_id: Some(contact_id.to_string()),
        email: email.to_lowercase(),
        phone: crate::rows::get(&row, "phone")?,
        full_names: vec![full_name(&row)?],
        lead_ids: Vec::new(),
    };
    add_leads_with_email(tx, &mut person).await?;
    Ok(person)
}

async fn person_of_email(tx: &mut WriteTx, email: &str) -> Result<Person> {
    let email = email.to_lowercase();
    let contact_id: Option<String> =
        sqlx::query_scalar("SELECT id FROM contacts WHERE LOWER(email) = $1")
            .bind(&email)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("find a contact by email", error))?;
    if let Some(id) = contact_id {
        return person_of_contact(tx, &id).await;
    }
    let mut person = Person {
        contact_id: None,
        email,
        phone: None,
        full_names: Vec::new(),
        lead_ids: Vec::new(),
    };
    add_leads_with_email(tx, &mut person).await?;
    if person.lead_ids.is_empty() {
        return Err(Error::NotFound {
            entity: "contact or lead",
            id: "with this email".into(),
        });
    }
    Ok(person)
}

fn full_name(row: &sqlx::any::AnyRow) -> Result<String> {
    let first: String = crate::rows::get(row, "first_name")?;
    let last: String = crate::rows::get(row, "last_name")?;
    Ok(format!("{} {}", first.trim(), last.trim()))
}

async fn add_leads_with_email(tx: &mut WriteTx, person: &mut Person) -> Result<()> {
    let rows = sqlx::query("SELECT id, first_name, last_name FROM leads WHERE LOWER(email) = $1")
        .bind(&person.email)
        .fetch_all(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("find leads by email", error))?;
    for row in &rows {
        person.lead_ids.push(
            row.try_get("id")
                .map_err(|error| Error::from_sqlx("find leads by email", error))?,
        );
        let name = full_name(row)?;
        if !person.full_names.contains(&name) {
            person.full_names.push(name);
        }
    }
    Ok(())
}

/// Deletes predictions about a record: by subject id, or naming it in their payload.
async fn delete_predictions_about(tx: &mut WriteTx, id: &str, counts: &mut Counts) -> Result<()> {
    let in_payload = contains_pattern(&format!("\"{id}\""));
    let rows = execute(
        tx,
        "erase predictions",
        "DELETE FROM predictions WHERE subject_id = $1 OR payload_json LIKE $2 ESCAPE '\\'",
        &[id, &in_payload],
    )
    .await?;
    counts.deleted("predictions", rows);
    Ok(())
}

async fn erase_person(tx: &mut WriteTx, person: &Person, counts: &mut Counts) -> Result<()> {
    if let Some(contact_id) = &person.contact_id {
        delete_predictions_about(tx, contact_id, counts).await?;
        let rows = execute(
            tx,
            "erase a contact's activities",
            "UPDATE activities SET subject = $1, detail = NULL, contact_id = NULL WHERE contact_id = $2",
            &[REDACTED, contact_id],
        )
        .await?;
        counts.anonymised("activities", rows);
        let rows = execute(
            tx,
            "erase a contact's tickets",
            "UPDATE support_tickets SET subject = $1, contact_id = NULL WHERE contact_id = $2",
            &[REDACTED, contact_id],
        )
        .await?;
        counts.anonymised("support_tickets", rows);
        let rows = execute(
            tx,
            "erase a contact's NPS answers",
            "UPDATE nps_responses SET comment = NULL, contact_id = NULL WHERE contact_id = $1",
            &[contact_id],
        )
        .await?;
        counts.anonymised("nps_responses", rows);
    }
    for lead_id in &person.lead_ids {
        delete_predictions_about(tx, lead_id, counts).await?;
        // Calls, emails and notes on a lead are exchanges with that one person.
        let rows = execute(
            tx,
            "erase a lead's activities",
            "UPDATE activities SET subject = $1, detail = NULL WHERE lead_id = $2",
            &[REDACTED, lead_id],
        )
        .await?;
        counts.anonymised("activities", rows);
    }
    sweep_free_text(tx, person, counts).await?;
    remove_from_marketing_lists(tx, person, counts).await?;
    for lead_id in &person.lead_ids {
        let placeholder = format!(
            "erased+{}@erased.invalid",
            crate::ids::new_id("x").trim_start_matches("x_")
        );
        let rows = execute(
            tx,
            "anonymise a lead",
            "UPDATE leads SET first_name = 'erased', last_name = 'erased', email = $1, title = NULL, \
             external_id = NULL, updated_at = $2 WHERE id = $3",
            &[&placeholder, &crate::clock::now(), lead_id],
        )
        .await?;
        counts.anonymised("leads", rows);
    }
    if let Some(contact_id) = &person.contact_id {
        let rows = execute(
            tx,
            "delete a contact",
            "DELETE FROM contacts WHERE id = $1",
            &[contact_id],
        )
        .await?;
        counts.deleted("contacts", rows);
    }
    Ok(())
}

/// Takes the person out of every saved audience (recounting those audiences) and off the
/// suppression list: both hold the email in the clear. With every record of the person gone
/// or anonymised, nothing is left to mail; an address imported again later starts afresh.
async fn remove_from_marketing_lists(
    tx: &mut WriteTx,
    person: &Person,
    counts: &mut Counts,
) -> Result<()> {
    let mut matches: Vec<(&'static str, &str)> = vec![("LOWER(email) = $1", &person.email)];
    if let Some(contact_id) = &person.contact_id {
        matches.push(("contact_id = $1", contact_id));
    }
    for lead_id in &person.lead_ids {
        matches.push(("lead_id = $1", lead_id));
    }
    let mut audiences: Vec<String> = Vec::new();
    for (condition, value) in matches {
        let sql = format!("SELECT DISTINCT audience_id FROM audience_members WHERE {condition}");
        let found: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(value)
            .fetch_all(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("find a person's audiences", error))?;
        audiences.extend(found);
        let sql = format!("DELETE FROM audience_members WHERE {condition}");
        let rows = execute(tx, "remove a person from audiences", &sql, &[value]).await?;
        counts.deleted("audience_members", rows);
    }
    audiences.sort();
    audiences.dedup();
    for audience_id in &audiences {
        execute(
            tx,
            "recount an audience",
            "UPDATE audiences SET member_count = \
             (SELECT COUNT(*) FROM audience_members m WHERE m.audience_id = audiences.id) WHERE id = $1",
            &[audience_id],
        )
        .await?;
    }
    let rows = execute(
        tx,
        "remove a person from the suppression list",
        "DELETE FROM email_suppressions WHERE LOWER(email) = $1",
        &[&person.email],
    )
    .await?;
    counts.deleted("email_suppressions", rows);
    Ok(())
}

/// Redacts every known free-text value that names the person by email, phone or full name.
async fn sweep_free_text(tx: &mut WriteTx, person: &Person, counts: &mut Counts) -> Result<()> {
    let mut needles: Vec<&str> = vec![person.email.as_str()];
    // Short fragments would redact unrelated text; a phone or a name this short is not
    // something free text identifies a person by.
    if let Some(phone) = person.phone.as_deref().map(str::trim)
        && phone.len() >= 7
    {
        needles.push(phone);
    }
    for name in &person.full_names {
        if name.chars().count() >= 5 && name != "erased erased" {
            needles.push(name);
        }
    }
    for needle in needles {
        let pattern = contains_pattern(needle);
        for (table, column, replacement) in FREE_TEXT {
            let sql = format!(
                "UPDATE {table} SET {column} = {} WHERE LOWER({column}) LIKE $1 ESCAPE '\\'",
                if replacement.is_some() { "$2" } else { "NULL" }
            );
            let mut values = vec![pattern.as_str()];
            if let Some(replacement) = replacement {
                values.push(replacement);
            }
            let rows = execute(tx, "redact free text", &sql, &values).await?;
            counts.anonymised(table, rows);
        }
    }
    Ok(())
}

/// Erases an account and everything under it; returns the emails of the people erased.
async fn erase_account(
    tx: &mut WriteTx,
    account_id: &str,
    counts: &mut Counts,
) -> Result<Vec<String>> {
    let contact_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM contacts WHERE account_id = $1 ORDER BY id")
            .bind(account_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read an account's contacts", error))?;
    let mut emails = Vec::new();
    let mut erased_leads: Vec<String> = Vec::new();
    for contact_id in &contact_ids {
        let person = person_of_contact(tx, contact_id).await?;
        emails.push(person.email.clone());
        erased_leads.extend(person.lead_ids.iter().cloned());
        erase_person(tx, &person, counts).await?;
    }
    // Leads converted into the account whose person is not a contact (any more).
    let converted: Vec<(String, String)> =
        sqlx::query_as("SELECT id, email FROM leads WHERE converted_account_id = $1 ORDER BY id")
            .bind(account_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read an account's leads", error))?;
    for (lead_id, email) in &converted {
        if !erased_leads.contains(lead_id) {
            // Only the leads: a contact with this email elsewhere is another account's
            // record, not part of this account.
            let mut person = Person {
                contact_id: None,
                email: email.to_lowercase(),
                phone: None,
                full_names: Vec::new(),
                lead_ids: Vec::new(),
            };
            add_leads_with_email(tx, &mut person).await?;
            emails.push(person.email.clone());
            erased_leads.extend(person.lead_ids.iter().cloned());
            erase_person(tx, &person, counts).await?;
        }
    }
    // The converted leads stay counted in the funnel, but no longer name the company.
    execute(
        tx,
        "anonymise an account's leads",
        "UPDATE leads SET company_name = 'erased', domain = NULL, converted_account_id = NULL \
         WHERE converted_account_id = $1",
        &[account_id],
    )
    .await?;

    let opportunity_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM opportunities WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read an account's deals", error))?;
    delete_predictions_about(tx, account_id, counts).await?;
    for id in &opportunity_ids {
        delete_predictions_about(tx, id, counts).await?;
    }
    const OF_DEALS: &str = "(SELECT id FROM opportunities WHERE account_id = $1)";
    let deletions: [(&'static str, String); 9] = [
        (
            "tasks",
            format!("DELETE FROM tasks WHERE account_id = $1 OR opportunity_id IN {OF_DEALS}"),
        ),
        (
            "interventions",
            "DELETE FROM interventions WHERE account_id = $1".into(),
        ),
        (
            "activities",
            format!("DELETE FROM activities WHERE account_id = $1 OR opportunity_id IN {OF_DEALS}"),
        ),
        (
            "nps_responses",
            "DELETE FROM nps_responses WHERE account_id = $1".into(),
        ),
        (
            "support_tickets",
            "DELETE FROM support_tickets WHERE account_id = $1".into(),
        ),
        (
            "usage_snapshots",
            "DELETE FROM usage_snapshots WHERE account_id = $1".into(),
        ),
        (
            "opportunity_stage_history",
            format!("DELETE FROM opportunity_stage_history WHERE opportunity_id IN {OF_DEALS}"),
        ),
        (
            "opportunities",
            "DELETE FROM opportunities WHERE account_id = $1".into(),
        ),
        ("accounts", "DELETE FROM accounts WHERE id = $1".into()),
    ];
    for (table, sql) in deletions {
        let rows = execute(tx, "erase an account", &sql, &[account_id]).await?;
        counts.deleted(table, rows);
    }
    emails.sort();
    emails.dedup();
    Ok(emails)
}

/// Every text column of every table (from the database's own catalogue), by table.
async fn text_columns(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<BTreeMap<String, Vec<String>>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND (UPPER(p.type) LIKE '%TEXT%' OR UPPER(p.type) LIKE '%CHAR%' OR UPPER(p.type) LIKE '%CLOB%')"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS table_name, CAST(column_name AS TEXT) AS column_name \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             AND data_type IN ('text', 'character varying', 'character')"
        }
    };
    let rows: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .map_err(|error| Error::from_sqlx("list the store's text columns", error))?;
    let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column) in rows {
        columns.entry(table).or_default().push(column);
    }
    Ok(columns)
}

/// Rows of one table whose text holds what was looked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TextMatch {
    pub table: String,
    pub rows: i64,
}

/// The result of [`scan_text`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TextScan {
    /// Every table scanned (every table of the store, audit tables included).
    pub tables_scanned: Vec<String>,
    /// Tables with matching rows.
    pub matches: Vec<TextMatch>,
}

/// Counts, in every table of the store (audit tables included), the rows whose text
/// columns hold every one of `all_of` (each somewhere in the row, case-insensitive). How a
/// compliance check proves an erasure left nothing: scan for the email, the phone, and the
/// first and last name together.
pub async fn scan_text(store: &crate::Store, all_of: &[&str]) -> Result<TextScan> {
    let mut conn = store
        .pool()
        .acquire()
        .await
        .map_err(|error| Error::from_sqlx("scan the store", error))?;
    let columns = text_columns(&mut conn, store.backend()).await?;
    let mut matches = Vec::new();
    for (table, names) in &columns {
        let rows = count_rows_holding(&mut conn, table, names, all_of, None).await?;
        if rows > 0 {
            matches.push(TextMatch {
                table: table.clone(),
                rows,
            });
        }
    }
    Ok(TextScan {
        tables_scanned: columns.into_keys().collect(),
        matches,
    })
}

/// Rows of `table` whose text columns hold every needle of `all_of` (or, when
/// `any_of` is given, any of those needles, or a column equal to `equal_to`).
async fn count_rows_holding(
    conn: &mut sqlx::AnyConnection,
    table: &str,
    columns: &[String],
    all_of: &[&str],
    equal_to: Option<&str>,
) -> Result<i64> {
    let mut groups = Vec::new();
    let mut values: Vec<String> = Vec::new();
    for needle in all_of {
        values.push(contains_pattern(needle));
        let n = values.len();
        let any_column: Vec<String> = columns
            .iter()
            .map(|c| format!("LOWER({}) LIKE ${n} ESCAPE '\\'", quoted(c)))
            .collect();
        groups.push(format!("({})", any_column.join(" OR ")));
    }
    let mut condition = groups.join(" AND ");
    if let Some(value) = equal_to {
        values.push(value.to_string());
        let n = values.len();
        let equal: Vec<String> = columns
            .iter()
            .map(|c| format!("{} = ${n}", quoted(c)))
            .collect();
        condition = if condition.is_empty() {
            equal.join(" OR ")
        } else {
            format!("({condition}) OR {}", equal.join(" OR "))
        };
    }
    if condition.is_empty() {
        return Ok(0);
    }
    // Identifiers come from the database's own catalogue, quoted; values are bound.
    let sql = format!("SELECT COUNT(*) FROM {} WHERE {condition}", quoted(table));
    let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
    for value in &values {
        query = query.bind(value.as_str());
    }
    query
        .fetch_one(&mut *conn)
        .await
        .map_err(|error| Error::from_sqlx("scan the store's text", error))
}

/// One recorded erasure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ErasureRecord {
    pub id: String,
    pub subject_kind: String,
    pub subject_digest: String,
    /// SHA-256 digests of the emails erased.
    pub email_digests: Vec<String>,
    pub tables: Vec<TableCount>,
    pub actor: String,
    pub erased_at: String,
}

/// The erasures recorded for a subject or email digest (SHA-256 hex), oldest first.
pub async fn find(store: &crate::Store, digest: &str) -> Result<Vec<ErasureRecord>> {
    let pattern = contains_pattern(&format!("\"{digest}\""));
    let rows: Vec<(String, String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT id, subject_kind, subject_digest, email_digests, counts_json, actor, erased_at FROM erasures \
         WHERE subject_digest = $1 OR email_digests LIKE $2 ESCAPE '\\' ORDER BY erased_at, id",
    )
    .bind(digest.to_lowercase())
    .bind(pattern)
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read erasures", error))?;
    rows.into_iter()
        .map(
            |(id, subject_kind, subject_digest, digests, counts, actor, erased_at)| {
                Ok(ErasureRecord {
                    id,
                    subject_kind,
                    subject_digest,
                    email_digests: serde_json::from_str(&digests)
                        .map_err(|_| Error::Internal("read an erasure's digests"))?,
                    tables: serde_json::from_str(&counts)
                        .map_err(|_| Error::Internal("read an erasure's counts"))?,
                    actor,
                    erased_at,
                })
            },
        )
        .collect()
}

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Fails, naming the table, if any text column (outside the tables never scanned) still
/// holds one of `emails` or is equal to the account's id.
async fn check_nothing_left(
    tx: &mut WriteTx,
    backend: Backend,
    emails: &[String],
    account_id: Option<&str>,
) -> Result<()> {
    let columns = text_columns(tx, backend).await?;
    for (table, names) in &columns {
        if NOT_SCANNED.contains(&table.as_str()) {
            continue;
        }
        let mut left = 0;
        for email in emails {
            if count_rows_holding(tx, table, names, &[email.as_str()], None).await? > 0 {
                // LIKE matched a substring; "ann@x.example" is inside "joann@x.example",
                // which is someone else. Count only whole addresses.
                left += rows_naming_email(tx, table, names, email).await?;
            }
        }
        if let Some(id) = account_id {
            left += count_rows_holding(tx, table, names, &[], Some(id)).await?;
        }
        if left > 0 {
            return Err(Error::Conflict(format!(
                "erasure stopped and changed nothing: table {table} still holds the subject's data in {left} row(s) \
                 and erasure does not know that table yet; report this to the maintainers"
            )));
        }
    }
    Ok(())
}

/// True when `text` holds `email` (lower case) as a whole address, not inside a longer one.
fn names_email(text: &str, email: &str) -> bool {
    let text = text.to_lowercase();
    let part_of_address = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    text.match_indices(email).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let mut rest = text[at + email.len()..].chars();
        let after = rest.next();
        // A dot then more letters continues the domain; a dot then a space ends a sentence.
        let longer_domain = match after {
            Some('.') => rest.next().is_some_and(char::is_alphanumeric),
            Some(c) => c.is_alphanumeric() || c == '-' || c == '_',
            None => false,
        };
        !before.is_some_and(part_of_address) && !longer_domain
    })
}

/// Rows of `table` (at most the first 1,000 LIKE candidates) holding `email` as a whole
/// address in some text column.
async fn rows_naming_email(
    conn: &mut sqlx::AnyConnection,
    table: &str,
    columns: &[String],
    email: &str,
) -> Result<i64> {
    let select: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
    let condition: Vec<String> = columns
        .iter()
        .map(|c| format!("LOWER({}) LIKE $1 ESCAPE '\\'", quoted(c)))
        .collect();
    // Identifiers come from the database's own catalogue, quoted; the value is bound.
    let sql = format!(
        "SELECT {} FROM {} WHERE {} LIMIT 1000",
        select.join(", "),
        quoted(table),
        condition.join(" OR ")
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(contains_pattern(email))
        .fetch_all(&mut *conn)
        .await
        .map_err(|error| Error::from_sqlx("check that nothing personal is left", error))?;
    let mut naming = 0;
    for row in &rows {
        let mut found = false;
        for index in 0..columns.len() {
            let value: Option<String> = row
                .try_get(index)
                .map_err(|error| Error::from_sqlx("check that nothing personal is left", error))?;
            found |= value.is_some_and(|v| names_email(&v, email));
        }
        naming += i64::from(found);
    }
    Ok(naming)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_ignore_case() {
        assert_eq!(contains_pattern("Dana_S@x.example"), "%dana\\_s@x.example%");
        assert_eq!(contains_pattern("50%"), "%50\\%%");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn an_address_inside_a_longer_one_is_someone_else() {
        assert!(names_email("ann@x.example", "ann@x.example"));
        assert!(names_email("Write to <ANN@x.example>.", "ann@x.example"));
        assert!(!names_email("joann@x.example", "ann@x.example"));
        assert!(!names_email("ann@x.example.org", "ann@x.example"));
        assert!(names_email("ann@x.example. Thanks", "ann@x.example"));
    }
}
