//! Leads: people who may buy, with the engagement signals scoring reads.

use crate::filter::{Conditions, Listing, fetch_page, page_size};
use crate::records::{Lead, LeadSignals, Page};
use crate::rows::{self, LEAD_COLUMNS};
use crate::{Error, Result, Store, WriteTx};
use sqlx::AssertSqlSafe;

/// Which leads to list; every field narrows the list when set.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub owner: Option<String>,
    pub status: Option<String>,
    pub source: Option<String>,
    pub campaign_id: Option<String>,
    /// Only leads created at or after this UTC timestamp (RFC 3339).
    pub created_since: Option<String>,
}

impl LeadFilter {
    /// The filter as `WHERE` conditions (every listing, count and scan of leads uses these).
    fn conditions(&self) -> Conditions {
        let mut conditions = Conditions::default();
        conditions.add("owner", "=", self.owner.as_deref());
        conditions.add("status", "=", self.status.as_deref());
        conditions.add("source", "=", self.source.as_deref());
        conditions.add("campaign_id", "=", self.campaign_id.as_deref());
        conditions.add("created_at", ">=", self.created_since.as_deref());
        conditions
    }
}

/// The lead with this id.
pub async fn get(store: &Store, id: &str) -> Result<Lead> {
    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read a lead", error))?;
    match row {
        Some(row) => rows::lead(&row),
        None => Err(Error::NotFound {
            entity: "lead",
            id: id.to_string(),
        }),
    }
}

/// One page of leads in id order; `cursor` is the last id of the previous page.
pub async fn list(
    store: &Store,
    filter: &LeadFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Lead>> {
    let mut conditions = filter.conditions();
    conditions.add("id", ">", cursor);
    let limit = page_size(limit, 25, 200);
    let listing = Listing {
        select: format!("SELECT {LEAD_COLUMNS} FROM leads"),
        order_by: "id",
        action: "list leads",
    };
    fetch_page(store, listing, &conditions, limit, rows::lead, |l| {
        l.id.clone()
    })
    .await
}

/// A lead to create, or the fields an upsert sets.
#[derive(Debug, Clone)]
pub struct NewLead {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: String,
    pub domain: Option<String>,
    pub industry: String,
    pub employee_count: i64,
    pub country: String,
    pub title: Option<String>,
    pub source: String,
    pub owner: Option<String>,
    pub campaign_id: Option<String>,
    pub external_id: Option<String>,
    /// Kept as they are on an upsert that leaves them out.
    pub signals: Option<LeadSignals>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    Created,
    Updated,
    /// The stored lead already had exactly these values.
    Unchanged,
}

/// Which stored lead an upsert matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchBy {
    Email,
    ExternalId,
}

async fn get_where(tx: &mut WriteTx, column: &'static str, value: &str) -> Result<Option<Lead>> {
    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE {column} = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a lead", error))?;
    row.as_ref().map(rows::lead).transpose()
}

/// The lead with this id, read inside a write transaction.
pub async fn get_in(tx: &mut WriteTx, id: &str) -> Result<Lead> {
    get_where(tx, "id", id)
        .await?
        .ok_or_else(|| Error::NotFound {
            entity: "lead",
            id: id.to_string(),
        })
}

/// Creates a lead once per `request_key` (a retry returns the first lead and `false`).
/// A second lead with the same email is refused, naming the existing one.
pub async fn create(
    tx: &mut WriteTx,
    lead: &NewLead,
    request_key: Option<&str>,
) -> Result<(Lead, bool)> {
    if let Some(key) = request_key
        && let Some(existing) = get_where(tx, "request_key", key).await?
    {
        return Ok((existing, false));
    }
    if let Some(existing) = get_where(tx, "email", &lead.email).await? {
        return Err(Error::Conflict(format!(
            "a lead with this email already exists ({}); use upsert_lead to update it",
            existing.id
        )));
    }
    if let Some(external) = &lead.external_id
        && let Some(existing) = get_where(tx, "external_id", external).await?
    {
        return Err(Error::Conflict(format!(
            "a lead with this external_id already exists ({}); use upsert_lead to update it",
            existing.id
        )));
    }
    let id = crate::ids::new_id("lead");
    insert(tx, &id, lead, request_key).await?;
    Ok((get_in(tx, &id).await?, true))
}

async fn insert(
    tx: &mut WriteTx,
    id: &str,
    lead: &NewLead,
    request_key: Option<&str>,
) -> Result<()> {
    if let Some(campaign) = &lead.campaign_id {
        crate::require_exists(tx, "campaigns", "campaign", campaign).await?;
    }
    let signals = lead.signals.unwrap_or_default();
    let now = crate::clock::now();
    sqlx::query(
        "INSERT INTO leads (id, external_id, email, first_name, last_name, company_name, domain, industry, \
         employee_count, country, title, source, status, owner, campaign_id, website_visits_30d, demo_requested, \
         whitepaper_downloads, email_engagement_score, linkedin_engagement, free_trial_started, created_at, \
         updated_at, request_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'new', $13, $14, $15, $16, $17, $18, $19, $20, $21, $21, $22)",
    )
    .bind(id)
    .bind(lead.external_id.as_deref())
    .bind(&lead.email)
    .bind(&lead.first_name)
    .bind(&lead.last_name)
    .bind(&lead.company_name)
    .bind(lead.domain.as_deref())
    .bind(&lead.industry)
    .bind(lead.employee_count)
    .bind(&lead.country)
    .bind(lead.title.as_deref())
    .bind(&lead.source)
    .bind(lead.owner.as_deref())
    .bind(lead.campaign_id.as_deref())
    .bind(signals.website_visits_30d)
    .bind(signals.demo_requested)
    .bind(signals.whitepaper_downloads)
    .bind(signals.email_engagement_score)
    .bind(signals.linkedin_engagement)
    .bind(signals.free_trial_started)
    .bind(&now)
    .bind(request_key)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("create a lead", error))?;
    Ok(())
}

/// Creates the lead, or updates the one with the same email (or external id). Running the
/// same upsert twice changes nothing the second time.
pub async fn upsert(
    tx: &mut WriteTx,
    lead: &NewLead,
    by: MatchBy,
) -> Result<(Lead, UpsertOutcome)> {
    let existing = match by {
        MatchBy::Email => get_where(tx, "email", &lead.email).await?,
        MatchBy::ExternalId => match &lead.external_id {
            Some(external) => get_where(tx, "external_id", external).await?,
            None => {
                return Err(Error::Conflict(
                    "matching by external_id needs an external_id".into(),
                ));
            }
        },
    };
    let Some(existing) = existing else {
        let id = crate::ids::new_id("lead");
        insert(tx, &id, lead, None).await?;
        return Ok((get_in(tx, &id).await?, UpsertOutcome::Created));
    };
    let mut updated = existing.clone();
    updated.email = lead.email.clone();
    updated.first_name = lead.first_name.clone();
    updated.last_name = lead.last_name.clone();
    updated.company_name = lead.company_name.clone();
    updated.industry = lead.industry.clone();
    updated.employee_count = lead.employee_count;
    updated.country = lead.country.clone();
    updated.source = lead.source.clone();
    if lead.domain.is_some() {
        updated.domain = lead.domain.clone();
    }
    if lead.title.is_some() {
        updated.title = lead.title.clone();
    }
    if lead.owner.is_some() {
        updated.owner = lead.owner.clone();
    }
    if lead.campaign_id.is_some() {
        updated.campaign_id = lead.campaign_id.clone();
    }
    if lead.external_id.is_some() {
        updated.external_id = lead.external_id.clone();
    }
    if let Some(signals) = lead.signals {
        updated.signals = signals;
    }
    if updated == existing {
        return Ok((existing, UpsertOutcome::Unchanged));
    }
    if let Some(campaign) = &updated.campaign_id
        && updated.campaign_id != existing.campaign_id
    {
        crate::require_exists(tx, "campaigns", "campaign", campaign).await?;
    }
    let s = updated.signals;
    sqlx::query(
        "UPDATE leads SET email = $2, first_name = $3, last_name = $4, company_name = $5, domain = $6, \
         industry = $7, employee_count = $8, country = $9, title = $10, source = $11, owner = $12, \
         campaign_id = $13, external_id = $14, website_visits_30d = $15, demo_requested = $16, \
         whitepaper_downloads = $17, email_engagement_score = $18, linkedin_engagement = $19, \
         free_trial_started = $20, updated_at = $21 WHERE id = $1",
    )
    .bind(&updated.id)
    .bind(&updated.email)
    .bind(&updated.first_name)
    .bind(&updated.last_name)
    .bind(&updated.company_name)
    .bind(updated.domain.as_deref())
    .bind(&updated.industry)
    .bind(updated.employee_count)
    .bind(&updated.country)
    .bind(updated.title.as_deref())
    .bind(&updated.source)
    .bind(updated.owner.as_deref())
    .bind(updated.campaign_id.as_deref())
    .bind(updated.external_id.as_deref())
    .bind(s.website_visits_30d)
    .bind(s.demo_requested)
    .bind(s.whitepaper_downloads)
    .bind(s.email_engagement_score)
    .bind(s.linkedin_engagement)
    .bind(s.free_trial_started)
    .bind(crate::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("update a lead", error))?;
    Ok((get_in(tx, &updated.id).await?, UpsertOutcome::Updated))
}

/// Moves a lead to `status` (not `converted`: that is what converting does). Returns the
/// lead, its previous status, and whether anything changed.
pub async fn update_status(
    tx: &mut WriteTx,
    id: &str,
    status: &str,
) -> Result<(Lead, String, bool)> {
    let lead = get_in(tx, id).await?;
    let previous = lead.status.clone();
    if previous == status {
        return Ok((lead, previous, false));
    }
    if status == "converted" {
        return Err(Error::Conflict(
            "a lead becomes converted by convert_lead, which also creates its account, contact and deal".into(),
        ));
    }
    if previous == "converted" {
        return Err(Error::Conflict(format!(
            "lead {id} was converted into account {}; its status can no longer change",
            lead.converted_account_id.as_deref().unwrap_or("(unknown)")
        )));
    }
    set_column(tx, id, "status", status).await?;
    Ok((get_in(tx, id).await?, previous, true))
}

/// Sets one text column of a lead (`column` comes from code, never from a caller).
pub(crate) async fn set_column(
    tx: &mut WriteTx,
    id: &str,
    column: &'static str,
    value: &str,
) -> Result<()> {
    let sql = format!("UPDATE leads SET {column} = $1, updated_at = $2 WHERE id = $3");
    sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .bind(crate::clock::now())
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("update a lead", error))?;
    Ok(())
}

/// Assigns a lead to an owner.
pub async fn set_owner(tx: &mut WriteTx, id: &str, owner: &str) -> Result<()> {
    set_column(tx, id, "owner", owner).await
}

/// Marks a lead converted into `account_id`.
pub async fn mark_converted(tx: &mut WriteTx, id: &str, account_id: &str) -> Result<()> {
    let now = crate::clock::now();
    sqlx::query(
        "UPDATE leads SET status = 'converted', converted_account_id = $1, converted_at = $2, updated_at = $2 WHERE id = $3",
    )
    .bind(account_id)
    .bind(&now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("convert a lead", error))?;
    Ok(())
}

/// A lead in a short listing (a preview or a sample).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LeadBrief {
    pub id: String,
    pub company_name: String,
    pub status: String,
    pub owner: Option<String>,
    pub created_at: String,
}

/// What deleting leads removed (or, in a preview, would remove).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LeadDeletion {
    pub deleted: i64,
    /// Up to ten of the deleted leads.
    pub sample: Vec<LeadBrief>,
    /// Activities and tasks on those leads, deleted with them.
    pub activities: i64,
    pub tasks: i64,
    /// Marketing touches of those leads, deleted with them (campaign attribution loses them).
    pub touches: i64,
    /// Deals that named those leads; they stay, without the link.
    pub opportunities_unlinked: i64,
}

/// The most leads one delete may remove; a larger filter must be narrowed.
pub const MAX_DELETE: i64 = 5_000;

/// Ids of the leads matching `filter` (at most [`MAX_DELETE`] + 1, so a caller can tell
/// that a filter is too broad).
pub async fn ids_matching(tx: &mut WriteTx, filter: &LeadFilter) -> Result<Vec<String>> {
    let conditions = filter.conditions();
    let sql = format!(
        "SELECT id FROM leads{} ORDER BY id LIMIT ${}",
        conditions.where_clause(),
        conditions.next_placeholder()
    );
    let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    query
        .bind(MAX_DELETE + 1)
        .fetch_all(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("select leads", error))
}

/// Deletes these leads with their activities, tasks and touches. Every id must exist.
pub async fn delete_many(tx: &mut WriteTx, ids: &[String]) -> Result<LeadDeletion> {
    if ids.len() as i64 > MAX_DELETE {
        return Err(Error::Conflict(format!(
            "at most {MAX_DELETE} leads can be deleted at once; narrow the selection"
        )));
    }
    let mut sample = Vec::new();
    let mut totals = [0i64; 4];
    for id in ids {
        let lead = get_in(tx, id).await?;
        if sample.len() < 10 {
            sample.push(LeadBrief {
                id: lead.id.clone(),
                company_name: lead.company_name.clone(),
                status: lead.status.clone(),
                owner: lead.owner.clone(),
                created_at: lead.created_at.clone(),
            });
        }
        for (slot, table) in ["activities", "tasks", "marketing_touches", "opportunities"]
            .into_iter()
            .enumerate()
        {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE lead_id = $1");
            let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(id)
                .fetch_one(&mut **tx)
                .await
                .map_err(|error| Error::from_sqlx("count a lead's records", error))?;
            totals[slot] += count;
        }
        sqlx::query("DELETE FROM leads WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("delete a lead", error))?;
    }
    Ok(LeadDeletion {
        deleted: ids.len() as i64,
        sample,
        activities: totals[0],
        tasks: totals[1],
        touches: totals[2],
        opportunities_unlinked: totals[3],
    })
}

/// What ranking reads of a lead: its id and the scoring inputs, nothing personal.
#[derive(Debug, Clone)]
pub struct ScoringRow {
    pub id: String,
    pub industry: String,
    pub employee_count: i64,
    pub signals: LeadSignals,
}

/// Streams the scoring inputs of every lead matching `filter` into `visit`, in one query,
/// without holding the rows in memory.
pub async fn for_each_scoring_row(
    store: &Store,
    filter: &LeadFilter,
    mut visit: impl FnMut(ScoringRow),
) -> Result<u64> {
    use futures::TryStreamExt;
    let conditions = filter.conditions();
    let sql = format!(
        "SELECT id, industry, employee_count, website_visits_30d, demo_requested, whitepaper_downloads, \
         email_engagement_score, linkedin_engagement, free_trial_started FROM leads{}",
        conditions.where_clause()
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    let mut rows = query.fetch(store.pool());
    let mut seen = 0u64;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("scan leads", error))?
    {
        visit(ScoringRow {
            id: rows::get(&row, "id")?,
            industry: rows::get(&row, "industry")?,
            employee_count: rows::get(&row, "employee_count")?,
            signals: rows::signals(&row)?,
        });
        seen += 1;
    }
    Ok(seen)
}

/// The leads with these ids, in the order given (missing ids are skipped).
pub async fn get_many(store: &Store, ids: &[String]) -> Result<Vec<Lead>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.as_str());
        }
        let rows = query
            .fetch_all(store.pool())
            .await
            .map_err(|error| Error::from_sqlx("read leads", error))?;
        for row in &rows {
            found.push(rows::lead(row)?);
        }
    }
    let position = |id: &str| ids.iter().position(|candidate| candidate == id);
    found.sort_by_key(|lead| position(&lead.id));
    Ok(found)
}

/// How many open leads (not converted or disqualified) each owner has.
pub async fn open_load_by_owner(store: &Store) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT owner, COUNT(*) AS open_leads FROM leads \
         WHERE owner IS NOT NULL AND status NOT IN ('converted', 'disqualified') GROUP BY owner ORDER BY owner",
    )
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("count leads by owner", error))?;
    rows.iter()
        .map(|row| Ok((rows::get(row, "owner")?, rows::get(row, "open_leads")?)))
        .collect()
}

/// How many leads match `filter`.
pub async fn count(store: &Store, filter: &LeadFilter) -> Result<u64> {
    let conditions = filter.conditions();
    let sql = format!("SELECT COUNT(*) FROM leads{}", conditions.where_clause());
    let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    let count = query
        .fetch_one(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("count leads", error))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Open leads (new or working) without an owner, oldest first, at most `limit`.
pub async fn unowned_open(store: &Store, limit: i64) -> Result<Vec<Lead>> {
    let sql = format!(
        "SELECT {LEAD_COLUMNS} FROM leads WHERE owner IS NULL AND status IN ('new', 'working') ORDER BY created_at, id LIMIT $1"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read unassigned leads", error))?;
    rows.iter().map(rows::lead).collect()
}

/// Reads every lead, every column decoded, and counts them: one plain scan of the table,
/// the baseline `revops-bench rank` measures ranking against.
pub async fn scan_all(store: &Store) -> Result<u64> {
    use futures::TryStreamExt;
    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads");
    let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(store.pool());
    let mut seen = 0u64;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("scan leads", error))?
    {
        rows::lead(&row)?;
        seen += 1;
    }
    Ok(seen)
}

/// One lead's scoring inputs and company name: what scoring a stored lead reads, and no
/// more (a narrow row decodes faster than the whole lead).
pub async fn scoring_row(store: &Store, id: &str) -> Result<(ScoringRow, String)> {
    let row = sqlx::query(
        "SELECT id, company_name, industry, employee_count, website_visits_30d, demo_requested, \
         whitepaper_downloads, email_engagement_score, linkedin_engagement, free_trial_started \
         FROM leads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read a lead", error))?
    .ok_or_else(|| Error::NotFound {
        entity: "lead",
        id: id.to_string(),
    })?;
    Ok((
        ScoringRow {
            id: rows::get(&row, "id")?,
            industry: rows::get(&row, "industry")?,
            employee_count: rows::get(&row, "employee_count")?,
            signals: rows::signals(&row)?,
        },
        rows::get(&row, "company_name")?,
    ))
}
