//! Saved audiences: segments of leads and contacts chosen by filters (issue 6).
//!
//! An audience is fixed when it is built: its members (a lead or a contact, and the address
//! to reach them at) are copied into `audience_members`, so a send scheduled next week goes
//! to the people the user saw, not to whoever matches the filters by then. Building is
//! idempotent by the caller's request key.

use std::collections::HashSet;

use futures::TryStreamExt;
use sqlx::AssertSqlSafe;

use crate::leads::ScoringRow;
use crate::rows::get as col;
use crate::{Error, Result, Store, WriteTx};

/// The lead half of an audience's filters; every field narrows it when set.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LeadCriteria {
    /// Any of these statuses (empty: any).
    pub statuses: Vec<String>,
    pub source: Option<String>,
    pub industry: Option<String>,
    pub country: Option<String>,
    pub min_employees: Option<i64>,
    pub campaign_id: Option<String>,
    /// Created at or after (UTC timestamp).
    pub created_from: Option<String>,
    /// Created before (UTC timestamp).
    pub created_before: Option<String>,
}

/// The contact half of an audience's filters.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ContactCriteria {
    /// The account's lifecycle stage: trial, active, at_risk, churned.
    pub lifecycle_stage: Option<String>,
    /// The account's segment: smb, mid_market, enterprise.
    pub segment: Option<String>,
    /// The contact's role: decision_maker, champion, user, billing.
    pub role: Option<String>,
}

/// A bound value of a dynamic query.
enum Bind {
    Text(String),
    Int(i64),
}

/// `WHERE` clauses with text and integer binds (`column`s and operators come from code).
#[derive(Default)]
struct Clauses {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Clauses {
    fn text(&mut self, column: &'static str, op: &'static str, value: Option<&str>) {
        if let Some(value) = value {
            self.binds.push(Bind::Text(value.to_string()));
            self.clauses
                .push(format!("{column} {op} ${}", self.binds.len()));
        }
    }

    fn int(&mut self, column: &'static str, op: &'static str, value: Option<i64>) {
        if let Some(value) = value {
            self.binds.push(Bind::Int(value));
            self.clauses
                .push(format!("{column} {op} ${}", self.binds.len()));
        }
    }

    fn any_of(&mut self, column: &'static str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let mut placeholders = Vec::with_capacity(values.len());
        for value in values {
            self.binds.push(Bind::Text(value.clone()));
            placeholders.push(format!("${}", self.binds.len()));
        }
        self.clauses
            .push(format!("{column} IN ({})", placeholders.join(", ")));
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn query(&self, sql: String) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in &self.binds {
            query = match bind {
                Bind::Text(text) => query.bind(text.as_str()),
                Bind::Int(n) => query.bind(*n),
            };
        }
        query
    }
}

/// A lead that matched, with what scoring reads of it.
#[derive(Debug, Clone)]
pub struct LeadCandidate {
    pub email: String,
    pub scoring: ScoringRow,
}

/// Streams the leads matching `criteria` into `visit`; stops early when `visit` returns
/// false. Returns how many were visited.
pub async fn for_each_lead_candidate(
    tx: &mut WriteTx,
    criteria: &LeadCriteria,
    mut visit: impl FnMut(LeadCandidate) -> bool,
) -> Result<u64> {
    let mut clauses = Clauses::default();
    clauses.any_of("status", &criteria.statuses);
    clauses.text("source", "=", criteria.source.as_deref());
    clauses.text("industry", "=", criteria.industry.as_deref());
    clauses.text("country", "=", criteria.country.as_deref());
    clauses.int("employee_count", ">=", criteria.min_employees);
    clauses.text("campaign_id", "=", criteria.campaign_id.as_deref());
    clauses.text("created_at", ">=", criteria.created_from.as_deref());
    clauses.text("created_at", "<", criteria.created_before.as_deref());
    let sql = format!(
        "SELECT id, email, industry, employee_count, website_visits_30d, demo_requested, whitepaper_downloads, \
         email_engagement_score, linkedin_engagement, free_trial_started FROM leads{} ORDER BY id",
        clauses.where_clause()
    );
    let query = clauses.query(sql);
    let mut rows = query.fetch(&mut **tx);
    let mut seen = 0;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("select leads for an audience", error))?
    {
        seen += 1;
        let candidate = LeadCandidate {
            email: col(&row, "email")?,
            scoring: ScoringRow {
                id: col(&row, "id")?,
                industry: col(&row, "industry")?,
                employee_count: col(&row, "employee_count")?,
                signals: crate::rows::signals(&row)?,
            },
        };
        if !visit(candidate) {
            break;
        }
    }
    Ok(seen)
}

/// The contacts matching `criteria` (id, email), at most `limit`.
pub async fn contact_candidates(
    tx: &mut WriteTx,
    criteria: &ContactCriteria,
    limit: i64,
) -> Result<Vec<(String, String)>> {
    let mut clauses = Clauses::default();
    clauses.text(
        "a.lifecycle_stage",
        "=",
        criteria.lifecycle_stage.as_deref(),
    );
    clauses.text("a.segment", "=", criteria.segment.as_deref());
    clauses.text("c.role", "=", criteria.role.as_deref());
    let sql = format!(
        "SELECT c.id, c.email FROM contacts c JOIN accounts a ON a.id = c.account_id{} ORDER BY c.id LIMIT ${}",
        clauses.where_clause(),
        clauses.binds.len() + 1
    );
    let rows = clauses
        .query(sql)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("select contacts for an audience", error))?;
    rows.iter()
        .map(|row| Ok((col(row, "id")?, col(row, "email")?)))
        .collect()
}

/// Who is in an audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Lead { id: String, email: String },
    Contact { id: String, email: String },
}

/// A saved audience.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Audience {
    pub audience_id: String,
    pub name: String,
    /// The filters it was built from, as given.
    pub filters: serde_json::Value,
    pub member_count: i64,
    /// Members that are leads (the rest are contacts).
    pub lead_members: i64,
    pub created_by: String,
    pub created_at: String,
}

async fn find(tx: &mut WriteTx, column: &'static str, value: &str) -> Result<Option<Audience>> {
    let sql = format!(
        "SELECT a.id, a.name, a.filters_json, a.member_count, a.created_by, a.created_at, \
         (SELECT COUNT(*) FROM audience_members m WHERE m.audience_id = a.id AND m.lead_id IS NOT NULL) AS lead_members \
         FROM audiences a WHERE a.{column} = $1"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read an audience", error))?;
    row.as_ref().map(audience).transpose()
}

fn audience(row: &sqlx::any::AnyRow) -> Result<Audience> {
    let filters: String = col(row, "filters_json")?;
    Ok(Audience {
        audience_id: col(row, "id")?,
        name: col(row, "name")?,
        filters: serde_json::from_str(&filters)
            .map_err(|_| Error::Internal("read an audience's filters"))?,
        member_count: col(row, "member_count")?,
        lead_members: col(row, "lead_members")?,
        created_by: col(row, "created_by")?,
        created_at: col(row, "created_at")?,
    })
}

/// The audience a request key built, if any (a retry returns it).
pub async fn by_request_key(tx: &mut WriteTx, key: &str) -> Result<Option<Audience>> {
    find(tx, "request_key", key).await
}

/// The audience with this id.
pub async fn get(store: &Store, id: &str) -> Result<Audience> {
    let row = sqlx::query(
        "SELECT a.id, a.name, a.filters_json, a.member_count, a.created_by, a.created_at, \
         (SELECT COUNT(*) FROM audience_members m WHERE m.audience_id = a.id AND m.lead_id IS NOT NULL) AS lead_members \
         FROM audiences a WHERE a.id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read an audience", error))?;
    match row {
        Some(row) => audience(&row),
        None => Err(Error::NotFound {
            entity: "audience",
            id: id.to_string(),
        }),
    }
}

/// Saves an audience with these members (an address appears once; the first member with it
/// wins). Returns the audience.
pub async fn create(
    tx: &mut WriteTx,
    name: &str,
    filters: &serde_json::Value,
    members: &[Member],
    request_key: Option<&str>,
    actor: &str,
) -> Result<Audience> {
    let id = crate::ids::new_id("aud");
    let now = crate::clock::now();
    let mut seen = HashSet::new();
    let unique: Vec<&Member> = members
        .iter()
        .filter(|m| {
            let email = match m {
                Member::Lead { email, .. } | Member::Contact { email, .. } => email,
            };
            seen.insert(email.to_lowercase())
        })
        .collect();
    sqlx::query(
        "INSERT INTO audiences (id, request_key, name, filters_json, member_count, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(request_key)
    .bind(name)
    .bind(filters.to_string())
    .bind(unique.len() as i64)
    .bind(actor)
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("save an audience", error))?;
    // Multi-row inserts, a few hundred members per statement.
    for chunk in unique.chunks(200) {
        let mut sql = String::from(
            "INSERT INTO audience_members (audience_id, lead_id, contact_id, email) VALUES ",
        );
        for (i, _) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let base = i * 3;
            sql.push_str(&format!(
                "($1, ${}, ${}, ${})",
                base + 2,
                base + 3,
                base + 4
            ));
        }
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(&id);
        for member in chunk {
            let (lead, contact, email) = match member {
                Member::Lead { id, email } => (Some(id.as_str()), None, email),
                Member::Contact { id, email } => (None, Some(id.as_str()), email),
            };
            query = query.bind(lead).bind(contact).bind(email.to_lowercase());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("save an audience's members", error))?;
    }
    find(tx, "id", &id)
        .await?
        .ok_or(Error::Internal("read a saved audience"))
}

/// Streams the scoring inputs of an audience's lead members into `visit`; returns how many.
pub async fn for_each_member_scoring_row(
    store: &Store,
    audience_id: &str,
    mut visit: impl FnMut(ScoringRow),
) -> Result<u64> {
    let mut rows = sqlx::query(
        "SELECT l.id, l.industry, l.employee_count, l.website_visits_30d, l.demo_requested, l.whitepaper_downloads, \
         l.email_engagement_score, l.linkedin_engagement, l.free_trial_started \
         FROM audience_members m JOIN leads l ON l.id = m.lead_id WHERE m.audience_id = $1",
    )
    .bind(audience_id)
    .fetch(store.pool());
    let mut seen = 0;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("read an audience's leads", error))?
    {
        visit(ScoringRow {
            id: col(&row, "id")?,
            industry: col(&row, "industry")?,
            employee_count: col(&row, "employee_count")?,
            signals: crate::rows::signals(&row)?,
        });
        seen += 1;
    }
    Ok(seen)
}
