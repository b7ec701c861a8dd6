//! CRM sync state and the matching a sync needs: one `sync_cursors` row per provider and
//! object kind (the paging cursor of the pass in progress, the time the last complete pass
//! started, running counts, the last error), how a remote record finds its local lead, and
//! the upserts of remote accounts and deals keyed by their remote ids.
//!
//! A connector commits each pulled page's upserts and [`save_page`] in one write
//! transaction, so the cursor never runs ahead of the data (a failure resumes from the last
//! committed page) and never behind it (a page is not applied twice, and applying it twice
//! would change nothing anyway, because upserts match the remote id).

use sqlx::Row;

use crate::{Error, Result, Store, WriteTx};

/// The sync state of one provider and object kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct SyncCursor {
    pub provider: String,
    pub object_kind: String,
    /// The CRM's paging cursor of the pass in progress; `None` when the next run starts a
    /// new pass.
    pub page_cursor: Option<String>,
    /// The pass in progress asks for records modified at or after this time (`None`: all).
    pub pass_since: Option<String>,
    pub pass_started_at: Option<String>,
    /// When the last complete pass started; the next pass asks for changes since then.
    pub synced_through: Option<String>,
    pub last_run_at: Option<String>,
    pub last_success_at: Option<String>,
    pub pages_synced: i64,
    pub records_created: i64,
    pub records_updated: i64,
    pub records_unchanged: i64,
    pub records_skipped: i64,
    /// The message of the last failed run, cleared by the next complete pass.
    pub last_error: Option<String>,
    pub updated_at: String,
}

/// What one committed page did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct PageCounts {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    /// Of the skipped, those whose company/account is not synced yet: they must be asked for
    /// again, so a pass with any does not move `synced_through`.
    pub unlinked: i64,
}

const COLUMNS: &str = "provider, object_kind, page_cursor, pass_since, pass_started_at, synced_through, \
     last_run_at, last_success_at, pages_synced, records_created, records_updated, records_unchanged, \
     records_skipped, last_error, updated_at";

fn cursor_row(row: &sqlx::any::AnyRow) -> Result<SyncCursor> {
    let read = |error| Error::from_sqlx("read a sync cursor", error);
    Ok(SyncCursor {
        provider: row.try_get("provider").map_err(read)?,
        object_kind: row.try_get("object_kind").map_err(read)?,
        page_cursor: row.try_get("page_cursor").map_err(read)?,
        pass_since: row.try_get("pass_since").map_err(read)?,
        pass_started_at: row.try_get("pass_started_at").map_err(read)?,
        synced_through: row.try_get("synced_through").map_err(read)?,
        last_run_at: row.try_get("last_run_at").map_err(read)?,
        last_success_at: row.try_get("last_success_at").map_err(read)?,
        pages_synced: row.try_get("pages_synced").map_err(read)?,
        records_created: row.try_get("records_created").map_err(read)?,
        records_updated: row.try_get("records_updated").map_err(read)?,
        records_unchanged: row.try_get("records_unchanged").map_err(read)?,
        records_skipped: row.try_get("records_skipped").map_err(read)?,
        last_error: row.try_get("last_error").map_err(read)?,
        updated_at: row.try_get("updated_at").map_err(read)?,
    })
}

/// The sync state of `provider` and `object_kind`, if a sync has ever run.
pub async fn get(store: &Store, provider: &str, object_kind: &str) -> Result<Option<SyncCursor>> {
    let sql =
        format!("SELECT {COLUMNS} FROM sync_cursors WHERE provider = $1 AND object_kind = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(provider)
        .bind(object_kind)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read a sync cursor", error))?;
    row.as_ref().map(cursor_row).transpose()
}

/// Every sync state, by provider and object kind.
pub async fn list(store: &Store) -> Result<Vec<SyncCursor>> {
    let sql = format!("SELECT {COLUMNS} FROM sync_cursors ORDER BY provider, object_kind");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("list sync cursors", error))?;
    rows.iter().map(cursor_row).collect()
}

async fn get_in(tx: &mut WriteTx, provider: &str, object_kind: &str) -> Result<SyncCursor> {
    let sql =
        format!("SELECT {COLUMNS} FROM sync_cursors WHERE provider = $1 AND object_kind = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(provider)
        .bind(object_kind)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a sync cursor", error))?;
    match row {
        Some(row) => cursor_row(&row),
        None => Err(Error::NotFound {
            entity: "sync cursor",
            id: format!("{provider}/{object_kind}"),
        }),
    }
}

/// Marks the start of a run and returns where it starts: the pass in progress (its
/// cursor), or a new pass asking for changes since the last complete one started.
pub async fn start_run(tx: &mut WriteTx, provider: &str, object_kind: &str) -> Result<SyncCursor> {
    let now = crate::clock::now();
    sqlx::query(
        "INSERT INTO sync_cursors (provider, object_kind, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (provider, object_kind) DO NOTHING",
    )
    .bind(provider)
    .bind(object_kind)
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("create a sync cursor", error))?;
    // A new pass only when none is in progress: a pass interrupted mid-way keeps its
    // cursor and its `since`, so resuming it skips nothing.
    sqlx::query(
        "UPDATE sync_cursors SET pass_since = synced_through, pass_started_at = $3 \
         WHERE provider = $1 AND object_kind = $2 AND page_cursor IS NULL",
    )
    .bind(provider)
    .bind(object_kind)
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("start a sync pass", error))?;
    sqlx::query(
        "UPDATE sync_cursors SET last_run_at = $3, updated_at = $3 WHERE provider = $1 AND object_kind = $2",
    )
    .bind(provider)
    .bind(object_kind)
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("start a sync run", error))?;
    get_in(tx, provider, object_kind).await
}

/// Records a page inside the transaction holding its upserts: the cursor moves to `next`
/// and the counts grow. `next == None` completes the pass: the next pass asks only for
/// changes since this one started (unless a page of the pass left records unlinked: then
/// it asks again from where this pass did), and the last error is cleared.
pub async fn save_page(
    tx: &mut WriteTx,
    provider: &str,
    object_kind: &str,
    next: Option<&str>,
    counts: PageCounts,
) -> Result<()> {
    let now = crate::clock::now();
    let done = next.is_none();
    let sql = if done {
        "UPDATE sync_cursors SET page_cursor = NULL, \
         synced_through = CASE WHEN pass_unlinked + $8 > 0 THEN synced_through \
                               ELSE COALESCE(pass_started_at, synced_through) END, \
         pass_unlinked = 0, \
         pass_since = NULL, pass_started_at = NULL, last_success_at = $3, last_error = NULL, \
         pages_synced = pages_synced + 1, records_created = records_created + $4, \
         records_updated = records_updated + $5, records_unchanged = records_unchanged + $6, \
         records_skipped = records_skipped + $7, updated_at = $3 \
         WHERE provider = $1 AND object_kind = $2"
    } else {
        "UPDATE sync_cursors SET page_cursor = $9, pass_unlinked = pass_unlinked + $8, \
         pages_synced = pages_synced + 1, \
         records_created = records_created + $4, records_updated = records_updated + $5, \
         records_unchanged = records_unchanged + $6, records_skipped = records_skipped + $7, updated_at = $3 \
         WHERE provider = $1 AND object_kind = $2"
    };
    let mut query = sqlx::query(sql)
        .bind(provider)
        .bind(object_kind)
        .bind(&now)
        .bind(counts.created)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.skipped)
        .bind(counts.unlinked);
    if let Some(next) = next {
        query = query.bind(next);
    }
    let result = query
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("save a sync cursor", error))?;
    if result.rows_affected() == 0 {
        return Err(Error::NotFound {
            entity: "sync cursor",
            id: format!("{provider}/{object_kind}"),
        });
    }
    Ok(())
}

/// Records why a run failed (in a transaction of its own when the failed page's was
/// rolled back). The cursor is left where the last committed page put it.
pub async fn record_error(
    tx: &mut WriteTx,
    provider: &str,
    object_kind: &str,
    message: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE sync_cursors SET last_error = $3, updated_at = $4 WHERE provider = $1 AND object_kind = $2",
    )
    .bind(provider)
    .bind(object_kind)
    .bind(message)
    .bind(crate::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("record a sync error", error))?;
    Ok(())
}

/// Which local lead a remote record belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadMatch {
    /// A lead already carries this remote id.
    ExternalId(String),
    /// No lead carries the remote id, but one with the same email has none yet: the
    /// record links to it (upsert by email).
    Email(String),
    /// The lead with this email is linked to another remote record (`external_id`).
    EmailTaken {
        lead_id: String,
        external_id: String,
    },
    /// No lead matches: the record creates one.
    New,
}

/// Finds the local lead of a remote record: by remote id first, then by email.
pub async fn match_lead(tx: &mut WriteTx, external_id: &str, email: &str) -> Result<LeadMatch> {
    let by_external: Option<String> =
        sqlx::query_scalar("SELECT id FROM leads WHERE external_id = $1")
            .bind(external_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("match a lead by external id", error))?;
    if let Some(id) = by_external {
        return Ok(LeadMatch::ExternalId(id));
    }
    let by_email = sqlx::query("SELECT id, external_id FROM leads WHERE email = $1")
        .bind(email)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("match a lead by email", error))?;
    let Some(row) = by_email else {
        return Ok(LeadMatch::New);
    };
    let read = |error| Error::from_sqlx("match a lead by email", error);
    let lead_id: String = row.try_get("id").map_err(read)?;
    let linked: Option<String> = row.try_get("external_id").map_err(read)?;
    Ok(match linked {
        None => LeadMatch::Email(lead_id),
        Some(external_id) => LeadMatch::EmailTaken {
            lead_id,
            external_id,
        },
    })
}

/// Links a lead to its remote record after a push. Setting the id it already has changes
/// nothing; an id another lead carries is a conflict.
pub async fn set_lead_external_id(
    tx: &mut WriteTx,
    lead_id: &str,
    external_id: &str,
) -> Result<()> {
    let current = crate::leads::get_in(tx, lead_id).await?;
    if current.external_id.as_deref() == Some(external_id) {
        return Ok(());
    }
    sqlx::query("UPDATE leads SET external_id = $2, updated_at = $3 WHERE id = $1")
        .bind(lead_id)
        .bind(external_id)
        .bind(crate::clock::now())
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("link a lead to its CRM record", error))?;
    Ok(())
}

/// Links a deal to its remote record after a push. Setting the id it already has changes
/// nothing; an id another deal carries is a conflict.
pub async fn set_opportunity_external_id(
    tx: &mut WriteTx,
    opportunity_id: &str,
    external_id: &str,
) -> Result<()> {
    let current = crate::opportunities::get_in(tx, opportunity_id).await?;
    if current.external_id.as_deref() == Some(external_id) {
        return Ok(());
    }
    sqlx::query("UPDATE opportunities SET external_id = $2, updated_at = $3 WHERE id = $1")
        .bind(opportunity_id)
        .bind(external_id)
        .bind(crate::clock::now())
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("link a deal to its CRM record", error))?;
    Ok(())
}

/// What [`upsert_account`] did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountUpsert {
    Done {
        account_id: String,
        outcome: crate::leads::UpsertOutcome,
    },
    /// The account with the record's domain is linked to another remote record.
    DomainTaken {
        account_id: String,
        external_id: String,
    },
}

/// Creates or updates the account of a remote record, matched by remote id, else by domain
/// (an unlinked local account is linked). The CRM's fields (name, domain, industry, size,
/// country, and the segment that follows from the size) are applied; plan, money, owners
/// and the lifecycle stay local, except that a `trial` account the CRM now calls a customer
/// (`lifecycle_stage == "active"`) becomes active. Running it twice changes nothing.
pub async fn upsert_account(
    tx: &mut WriteTx,
    external_id: &str,
    account: &crate::accounts::NewAccount,
) -> Result<AccountUpsert> {
    use crate::leads::UpsertOutcome;
    let linked: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE external_id = $1")
            .bind(external_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("match an account by external id", error))?;
    let existing = match linked {
        Some(id) => Some(crate::accounts::get_in(tx, &id).await?),
        None => match &account.domain {
            Some(domain) => crate::accounts::by_domain_in(tx, domain).await?,
            None => None,
        },
    };
    let Some(existing) = existing else {
        let created = crate::accounts::create(tx, account).await?;
        sqlx::query("UPDATE accounts SET external_id = $2 WHERE id = $1")
            .bind(&created.id)
            .bind(external_id)
            .execute(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("link an account to its CRM record", error))?;
        return Ok(AccountUpsert::Done {
            account_id: created.id,
            outcome: UpsertOutcome::Created,
        });
    };
    if let Some(other) = &existing.external_id
        && other != external_id
    {
        return Ok(AccountUpsert::DomainTaken {
            account_id: existing.id,
            external_id: other.clone(),
        });
    }
    let mut updated = existing.clone();
    updated.external_id = Some(external_id.to_owned());
    updated.name = account.name.clone();
    if account.domain.is_some() {
        updated.domain = account.domain.clone();
    }
    updated.industry = account.industry.clone();
    updated.employee_count = account.employee_count;
    updated.country = account.country.clone();
    updated.segment = crate::accounts::segment_for(account.employee_count).to_owned();
    if existing.lifecycle_stage == "trial" && account.lifecycle_stage == "active" {
        updated.lifecycle_stage = "active".to_owned();
    }
    if updated == existing {
        return Ok(AccountUpsert::Done {
            account_id: existing.id,
            outcome: UpsertOutcome::Unchanged,
        });
    }
    sqlx::query(
        "UPDATE accounts SET external_id = $2, name = $3, domain = $4, industry = $5, employee_count = $6, \
         country = $7, segment = $8, lifecycle_stage = $9, updated_at = $10 WHERE id = $1",
    )
    .bind(&updated.id)
    .bind(updated.external_id.as_deref())
    .bind(&updated.name)
    .bind(updated.domain.as_deref())
    .bind(&updated.industry)
    .bind(updated.employee_count)
    .bind(&updated.country)
    .bind(&updated.segment)
    .bind(&updated.lifecycle_stage)
    .bind(crate::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("update an account from its CRM record", error))?;
    Ok(AccountUpsert::Done {
        account_id: updated.id,
        outcome: UpsertOutcome::Updated,
    })
}

/// A CRM deal as the store keeps it: the fields a sync applies, already mapped to local
/// stages and minor units (see the connectors' mapping module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDeal {
    pub name: String,
    /// One of [`crate::opportunities::STAGE_ORDER`].
    pub stage: String,
    pub amount_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub close_date: String,
    /// The CRM id of the deal's company or account, when the CRM names one.
    pub account_external_id: Option<String>,
}

/// What [`upsert_deal`] did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DealUpsert {
    Done {
        opportunity_id: String,
        account_id: String,
        outcome: crate::leads::UpsertOutcome,
    },
    /// A new deal whose company or account is not linked to any local account (or that
    /// names none): nothing was created, because a deal needs an account and a sync never
    /// invents one.
    Unlinked { account_external_id: Option<String> },
    /// The local deal is closed (closed deals are final) and the CRM now says otherwise
    /// about its stage, amount or close date: nothing was changed.
    ClosedLocally {
        opportunity_id: String,
        stage: String,
    },
}

/// Creates or updates the opportunity of a remote deal, matched by its remote id
/// (`opportunities.external_id`, unique). A new deal is linked to the local account that
/// carries the deal's account remote id; an existing one follows the CRM to another linked
/// account, and keeps its account when the CRM names one that is not linked here. Stage,
/// amount and close date go through [`crate::opportunities::update`], so every change is
/// in the stage history under `actor`; owner, probability set by a rep, and the lead stay
/// local. Running it twice changes nothing.
pub async fn upsert_deal(
    tx: &mut WriteTx,
    external_id: &str,
    deal: &RemoteDeal,
    actor: &str,
) -> Result<DealUpsert> {
    use crate::leads::UpsertOutcome;
    let linked: Option<String> =
        sqlx::query_scalar("SELECT id FROM opportunities WHERE external_id = $1")
            .bind(external_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("match a deal by external id", error))?;
    let account_id: Option<String> = match &deal.account_external_id {
        Some(account_external_id) => {
            sqlx::query_scalar("SELECT id FROM accounts WHERE external_id = $1")
                .bind(account_external_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(|error| Error::from_sqlx("match a deal's account", error))?
        }
        None => None,
    };
    let Some(opportunity_id) = linked else {
        let Some(account_id) = account_id else {
            return Ok(DealUpsert::Unlinked {
                account_external_id: deal.account_external_id.clone(),
            });
        };
        let new = crate::opportunities::NewOpportunity {
            account_id: account_id.clone(),
            lead_id: None,
            name: deal.name.clone(),
            stage: deal.stage.clone(),
            amount_minor: deal.amount_minor,
            currency: deal.currency.clone(),
            probability: None,
            close_date: deal.close_date.clone(),
            owner: None,
        };
        let (created, _) = crate::opportunities::create(tx, &new, actor, None).await?;
        sqlx::query("UPDATE opportunities SET external_id = $2 WHERE id = $1")
            .bind(&created.id)
            .bind(external_id)
            .execute(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("link a deal to its CRM record", error))?;
        return Ok(DealUpsert::Done {
            opportunity_id: created.id,
            account_id,
            outcome: UpsertOutcome::Created,
        });
    };
    let existing = crate::opportunities::get_in(tx, &opportunity_id).await?;
    let moves = deal.stage != existing.stage
        || deal.amount_minor != existing.amount_minor
        || deal.close_date != existing.close_date;
    if moves && existing.stage.starts_with("closed_") {
        return Ok(DealUpsert::ClosedLocally {
            opportunity_id,
            stage: existing.stage,
        });
    }
    let account_id = account_id.unwrap_or_else(|| existing.account_id.clone());
    let mut changed = false;
    if deal.name != existing.name
        || deal.currency != existing.currency
        || account_id != existing.account_id
    {
        sqlx::query(
            "UPDATE opportunities SET name = $2, currency = $3, account_id = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(&opportunity_id)
        .bind(&deal.name)
        .bind(&deal.currency)
        .bind(&account_id)
        .bind(crate::clock::now())
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("update a deal from its CRM record", error))?;
        changed = true;
    }
    if moves {
        let update = crate::opportunities::DealUpdate {
            stage: Some(deal.stage.clone()),
            amount_minor: Some(deal.amount_minor),
            close_date: Some(deal.close_date.clone()),
            probability: None,
            note: Some("from the CRM".to_owned()),
        };
        let (_, change) = crate::opportunities::update(tx, &opportunity_id, &update, actor).await?;
        changed |= change.is_some();
    }
    Ok(DealUpsert::Done {
        opportunity_id,
        account_id,
        outcome: if changed {
            UpsertOutcome::Updated
        } else {
            UpsertOutcome::Unchanged
        },
    })
}
