//! Opportunities (deals) and the pipeline they make up.

use crate::filter::{Conditions, Listing, fetch_page, page_size};
use crate::records::{Opportunity, Page, StageChange, StageTotal};
use crate::rows::{self, OPPORTUNITY_COLUMNS, STAGE_CHANGE_COLUMNS, get};
use crate::{Error, Result, Store, WriteTx};
use sqlx::AssertSqlSafe;

/// The opportunity with this id.
pub async fn get_one(store: &Store, id: &str) -> Result<Opportunity> {
    let sql = format!("SELECT {OPPORTUNITY_COLUMNS} FROM opportunities WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read an opportunity", error))?;
    match row {
        Some(row) => rows::opportunity(&row),
        None => Err(Error::NotFound {
            entity: "opportunity",
            id: id.to_string(),
        }),
    }
}

/// An account's opportunities, open ones first, then by close date.
pub async fn for_account(store: &Store, account_id: &str) -> Result<Vec<Opportunity>> {
    let sql = format!(
        "SELECT {OPPORTUNITY_COLUMNS} FROM opportunities WHERE account_id = $1 \
         ORDER BY CASE WHEN stage IN ('closed_won', 'closed_lost') THEN 1 ELSE 0 END, close_date, id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read opportunities", error))?;
    rows.iter().map(rows::opportunity).collect()
}

/// Deal count, value and weighted value per stage, in funnel order; for one owner or all.
pub async fn totals_by_stage(store: &Store, owner: Option<&str>) -> Result<Vec<StageTotal>> {
    let sql = "SELECT stage, COUNT(*) AS deals, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor, \
               CAST(COALESCE(SUM(amount_minor * probability / 100), 0) AS BIGINT) AS weighted_amount_minor \
               FROM opportunities WHERE ($1 = '' OR owner = $1) GROUP BY stage";
    let rows = sqlx::query(sql)
        .bind(owner.unwrap_or(""))
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("total the pipeline", error))?;
    let mut totals = rows
        .iter()
        .map(|row| {
            Ok(StageTotal {
                stage: get(row, "stage")?,
                deals: get(row, "deals")?,
                amount_minor: get(row, "amount_minor")?,
                weighted_amount_minor: get(row, "weighted_amount_minor")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    totals.sort_by_key(|t| {
        STAGE_ORDER
            .iter()
            .position(|s| *s == t.stage)
            .unwrap_or(usize::MAX)
    });
    Ok(totals)
}

/// Pipeline stages in funnel order.
pub const STAGE_ORDER: [&str; 6] = [
    "prospecting",
    "qualification",
    "proposal",
    "negotiation",
    "closed_won",
    "closed_lost",
];

/// The probability a stage implies when a rep gives none.
pub fn default_probability(stage: &str) -> i64 {
    match stage {
        "prospecting" => 10,
        "qualification" => 20,
        "proposal" => 40,
        "negotiation" => 65,
        "closed_won" => 100,
        _ => 0,
    }
}

/// A deal to open.
#[derive(Debug, Clone)]
pub struct NewOpportunity {
    pub account_id: String,
    pub lead_id: Option<String>,
    pub name: String,
    pub stage: String,
    pub amount_minor: i64,
    pub currency: String,
    /// Defaults to the stage's usual probability.
    pub probability: Option<i64>,
    /// `YYYY-MM-DD`.
    pub close_date: String,
    pub owner: Option<String>,
}

/// Opens a deal once per `request_key` (a retry returns the first deal and `false`), and
/// records its opening in the stage history.
pub async fn create(
    tx: &mut WriteTx,
    deal: &NewOpportunity,
    actor: &str,
    request_key: Option<&str>,
) -> Result<(Opportunity, bool)> {
    if let Some(key) = request_key
        && let Some(existing) = get_where(tx, "request_key", key).await?
    {
        return Ok((existing, false));
    }
    crate::require_exists(tx, "accounts", "account", &deal.account_id).await?;
    if let Some(lead) = &deal.lead_id {
        crate::require_exists(tx, "leads", "lead", lead).await?;
    }
    let id = crate::ids::new_id("opp");
    let now = crate::clock::now();
    let closed_at = deal.stage.starts_with("closed_").then_some(now.as_str());
    sqlx::query(
        "INSERT INTO opportunities (id, account_id, lead_id, name, stage, amount_minor, currency, probability, \
         close_date, owner, created_at, updated_at, closed_at, request_key, stage_entered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $11)",
    )
    .bind(&id)
    .bind(&deal.account_id)
    .bind(deal.lead_id.as_deref())
    .bind(&deal.name)
    .bind(&deal.stage)
    .bind(deal.amount_minor)
    .bind(&deal.currency)
    .bind(deal.probability.unwrap_or_else(|| default_probability(&deal.stage)))
    .bind(&deal.close_date)
    .bind(deal.owner.as_deref())
    .bind(&now)
    .bind(closed_at)
    .bind(request_key)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("open a deal", error))?;
    let created = get_in(tx, &id).await?;
    record_change(tx, None, &created, actor, None).await?;
    Ok((created, true))
}

async fn get_where(
    tx: &mut WriteTx,
    column: &'static str,
    value: &str,
) -> Result<Option<Opportunity>> {
    let sql = format!("SELECT {OPPORTUNITY_COLUMNS} FROM opportunities WHERE {column} = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a deal", error))?;
    row.as_ref().map(rows::opportunity).transpose()
}

/// The deal with this id, read inside a write transaction.
pub async fn get_in(tx: &mut WriteTx, id: &str) -> Result<Opportunity> {
    get_where(tx, "id", id)
        .await?
        .ok_or_else(|| Error::NotFound {
            entity: "opportunity",
            id: id.to_string(),
        })
}

async fn record_change(
    tx: &mut WriteTx,
    before: Option<&Opportunity>,
    after: &Opportunity,
    actor: &str,
    note: Option<&str>,
) -> Result<StageChange> {
    let change = StageChange {
        id: crate::ids::new_id("stg"),
        opportunity_id: after.id.clone(),
        from_stage: before.map(|b| b.stage.clone()),
        to_stage: after.stage.clone(),
        previous_amount_minor: before.map(|b| b.amount_minor),
        amount_minor: after.amount_minor,
        previous_close_date: before.map(|b| b.close_date.clone()),
        close_date: after.close_date.clone(),
        changed_by: actor.to_string(),
        changed_at: after.updated_at.clone(),
        note: note.map(str::to_string),
    };
    let sql = format!(
        "INSERT INTO opportunity_stage_history ({STAGE_CHANGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&change.id)
        .bind(&change.opportunity_id)
        .bind(change.from_stage.as_deref())
        .bind(&change.to_stage)
        .bind(change.previous_amount_minor)
        .bind(change.amount_minor)
        .bind(change.previous_close_date.as_deref())
        .bind(&change.close_date)
        .bind(&change.changed_by)
        .bind(&change.changed_at)
        .bind(change.note.as_deref())
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("record a stage change", error))?;
    Ok(change)
}

/// What to change about a deal; fields left out stay as they are.
#[derive(Debug, Clone, Default)]
pub struct DealUpdate {
    pub stage: Option<String>,
    pub amount_minor: Option<i64>,
    /// `YYYY-MM-DD`.
    pub close_date: Option<String>,
    pub probability: Option<i64>,
    pub note: Option<String>,
}

/// Moves a deal to a stage and/or changes its amount, close date or probability, keeping
/// the change in the stage history. The same update twice changes nothing the second time
/// (returns `None` for the change). Closed deals are final.
pub async fn update(
    tx: &mut WriteTx,
    id: &str,
    update: &DealUpdate,
    actor: &str,
) -> Result<(Opportunity, Option<StageChange>)> {
    let before = get_in(tx, id).await?;
    let stage = update.stage.clone().unwrap_or_else(|| before.stage.clone());
    let amount = update.amount_minor.unwrap_or(before.amount_minor);
    let close_date = update
        .close_date
        .clone()
        .unwrap_or_else(|| before.close_date.clone());
    let stage_moved = stage != before.stage;
    let probability = match update.probability {
        Some(p) => p,
        None if stage_moved => default_probability(&stage),
        None => before.probability,
    };
    if !stage_moved
        && amount == before.amount_minor
        && close_date == before.close_date
        && probability == before.probability
    {
        return Ok((before, None));
    }
    if before.stage.starts_with("closed_") {
        return Err(Error::Conflict(format!(
            "deal {id} is {} and closed deals are final; open a new deal instead",
            before.stage
        )));
    }
    let now = crate::clock::now();
    let closed_at = stage.starts_with("closed_").then_some(now.as_str());
    sqlx::query(
        "UPDATE opportunities SET stage = $2, amount_minor = $3, close_date = $4, probability = $5, updated_at = $6, \
         closed_at = $7, stage_entered_at = CASE WHEN $8 = 1 THEN $6 ELSE COALESCE(stage_entered_at, created_at) END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(&stage)
    .bind(amount)
    .bind(&close_date)
    .bind(probability)
    .bind(&now)
    .bind(closed_at)
    .bind(i64::from(stage_moved))
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("update a deal", error))?;
    let after = get_in(tx, id).await?;
    let change = record_change(tx, Some(&before), &after, actor, update.note.as_deref()).await?;
    Ok((after, Some(change)))
}

/// Which deals to read; every field narrows the set when set.
#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    pub owner: Option<String>,
    pub stage: Option<String>,
    pub account_id: Option<String>,
    /// Close date on or after (`YYYY-MM-DD`).
    pub closing_from: Option<String>,
    /// Close date on or before (`YYYY-MM-DD`).
    pub closing_to: Option<String>,
    /// Only deals not closed won or lost.
    pub open_only: bool,
}

/// A deal with what the risk and forecast models read about it.
#[derive(Debug, Clone, PartialEq)]
pub struct DealFacts {
    pub deal: Opportunity,
    /// When it entered its current stage.
    pub stage_entered_at: String,
    /// The newest activity on the deal or its account, if any.
    pub last_activity_at: Option<String>,
    /// Activities on the deal or its account since `as_of` minus 30 days.
    pub activities_last_30d: i64,
    /// Times its close date was pushed later.
    pub close_date_pushes: i64,
    /// Whether its account has a decision maker on file.
    pub has_decision_maker: bool,
}

/// The deals matching `filter`, with their facts as of `as_of` (RFC 3339), in close-date
/// order. Aggregation happens in the database: one query, whatever the number of deals;
/// each activity lookup is split by deal and by account so both use their index.
pub async fn facts(store: &Store, filter: &DealFilter, as_of: &str) -> Result<Vec<DealFacts>> {
    let since = crate::clock::parse(as_of)
        .map(|t| crate::clock::format(t - chrono::Duration::days(30)))
        .ok_or(Error::Internal("read the reference time"))?;
    let mut conditions = Conditions::default();
    conditions.add("o.owner", "=", filter.owner.as_deref());
    conditions.add("o.stage", "=", filter.stage.as_deref());
    conditions.add("o.account_id", "=", filter.account_id.as_deref());
    conditions.add("o.close_date", ">=", filter.closing_from.as_deref());
    conditions.add("o.close_date", "<=", filter.closing_to.as_deref());
    let mut where_clause = conditions.where_clause();
    if filter.open_only {
        where_clause.push_str(if where_clause.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        where_clause.push_str("o.stage NOT IN ('closed_won', 'closed_lost')");
    }
    let n = conditions.next_placeholder();
    let columns = OPPORTUNITY_COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, COALESCE(o.stage_entered_at, o.updated_at) AS entered, \
         (SELECT MAX(t.at) FROM (SELECT MAX(a.occurred_at) AS at FROM activities a WHERE a.opportunity_id = o.id \
          UNION ALL SELECT MAX(a.occurred_at) AS at FROM activities a WHERE a.account_id = o.account_id) t) AS last_activity_at, \
         ((SELECT COUNT(*) FROM activities a WHERE a.account_id = o.account_id AND a.occurred_at >= ${n}) \
          + (SELECT COUNT(*) FROM activities a WHERE a.opportunity_id = o.id AND a.occurred_at >= ${n} \
             AND (a.account_id IS NULL OR a.account_id <> o.account_id))) AS recent_activities, \
         (SELECT COUNT(*) FROM opportunity_stage_history h WHERE h.opportunity_id = o.id AND h.previous_close_date IS NOT NULL AND h.close_date > h.previous_close_date) AS pushes, \
         (SELECT COUNT(*) FROM contacts c WHERE c.account_id = o.account_id AND c.role = 'decision_maker') AS decision_makers \
         FROM opportunities o{where_clause} ORDER BY o.close_date, o.id"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    let rows = query
        .bind(since)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read deals", error))?;
    rows.iter()
        .map(|row| {
            Ok(DealFacts {
                deal: rows::opportunity(row)?,
                stage_entered_at: get(row, "entered")?,
                last_activity_at: get(row, "last_activity_at")?,
                activities_last_30d: get(row, "recent_activities")?,
                close_date_pushes: get(row, "pushes")?,
                has_decision_maker: get::<i64>(row, "decision_makers")? > 0,
            })
        })
        .collect()
}

/// The median days deals spent in each stage before leaving it, from the stage history
/// (stages with no finished stay are absent).
pub async fn median_days_in_stage(store: &Store) -> Result<Vec<(String, u32)>> {
    let rows = sqlx::query(
        "SELECT opportunity_id, to_stage, changed_at FROM opportunity_stage_history ORDER BY opportunity_id, changed_at, id",
    )
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read stage history", error))?;
    let mut stays: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    let mut previous: Option<(String, String, String)> = None;
    for row in &rows {
        let deal: String = get(row, "opportunity_id")?;
        let stage: String = get(row, "to_stage")?;
        let at: String = get(row, "changed_at")?;
        if let Some((prev_deal, prev_stage, prev_at)) = &previous
            && *prev_deal == deal
            && *prev_stage != stage
            && let (Some(start), Some(end)) =
                (crate::clock::parse(prev_at), crate::clock::parse(&at))
        {
            stays
                .entry(prev_stage.clone())
                .or_default()
                .push((end - start).num_days());
        }
        previous = Some((deal, stage, at));
    }
    Ok(stays
        .into_iter()
        .map(|(stage, mut days)| {
            days.sort_unstable();
            let median = days[days.len() / 2];
            (stage, u32::try_from(median.max(0)).unwrap_or(u32::MAX))
        })
        .collect())
}

/// One page of deals in id order.
pub async fn list(
    store: &Store,
    filter: &DealFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Opportunity>> {
    let mut conditions = Conditions::default();
    conditions.add("owner", "=", filter.owner.as_deref());
    conditions.add("stage", "=", filter.stage.as_deref());
    conditions.add("account_id", "=", filter.account_id.as_deref());
    conditions.add("close_date", ">=", filter.closing_from.as_deref());
    conditions.add("close_date", "<=", filter.closing_to.as_deref());
    conditions.add("id", ">", cursor);
    let limit = page_size(limit, 25, 200);
    let listing = Listing {
        select: format!("SELECT {OPPORTUNITY_COLUMNS} FROM opportunities"),
        order_by: "id",
        action: "list deals",
    };
    fetch_page(store, listing, &conditions, limit, rows::opportunity, |o| {
        o.id.clone()
    })
    .await
}

/// How many open deals name this lead.
pub async fn open_count_for_lead(store: &Store, lead_id: &str) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM opportunities WHERE lead_id = $1 AND stage NOT IN ('closed_won', 'closed_lost')",
    )
    .bind(lead_id)
    .fetch_one(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("count a lead's deals", error))
}

/// The first deal opened from this lead, read inside a write transaction.
pub async fn first_for_lead_in(tx: &mut WriteTx, lead_id: &str) -> Result<Option<Opportunity>> {
    let sql = format!(
        "SELECT {OPPORTUNITY_COLUMNS} FROM opportunities WHERE lead_id = $1 ORDER BY created_at, id LIMIT 1"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(lead_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a lead's deal", error))?;
    row.as_ref().map(rows::opportunity).transpose()
}

/// A deal's history of stage, amount and close-date changes, oldest first, read inside a
/// write transaction (so it includes the change just made).
pub async fn history_in(tx: &mut WriteTx, id: &str) -> Result<Vec<StageChange>> {
    let sql = format!(
        "SELECT {STAGE_CHANGE_COLUMNS} FROM opportunity_stage_history WHERE opportunity_id = $1 ORDER BY changed_at, id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a deal's history", error))?;
    rows.iter().map(rows::stage_change).collect()
}

/// A deal as the pipeline summary reads it.
#[derive(Debug, Clone)]
pub struct PipelineRow {
    pub deal: Opportunity,
    /// For a lost deal, the stage it was lost from, when the history says.
    pub lost_from: Option<String>,
}

/// The deals matching `filter`, with the stage each lost deal was lost from, in one query.
pub async fn pipeline_rows(store: &Store, filter: &DealFilter) -> Result<Vec<PipelineRow>> {
    let mut conditions = Conditions::default();
    conditions.add("o.owner", "=", filter.owner.as_deref());
    conditions.add("o.stage", "=", filter.stage.as_deref());
    conditions.add("o.account_id", "=", filter.account_id.as_deref());
    conditions.add("o.close_date", ">=", filter.closing_from.as_deref());
    conditions.add("o.close_date", "<=", filter.closing_to.as_deref());
    let columns = OPPORTUNITY_COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, (SELECT MAX(h.from_stage) FROM opportunity_stage_history h \
         WHERE h.opportunity_id = o.id AND h.to_stage = 'closed_lost') AS lost_from \
         FROM opportunities o{}",
        conditions.where_clause()
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    let rows = query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read the pipeline", error))?;
    rows.iter()
        .map(|row| {
            Ok(PipelineRow {
                deal: rows::opportunity(row)?,
                lost_from: get(row, "lost_from")?,
            })
        })
        .collect()
}
