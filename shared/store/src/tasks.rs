//! Tasks: follow-ups a rep owes (call back, send a proposal), on a lead, account or deal.

use crate::filter::{Conditions, Listing, fetch_page, page_size};
use crate::records::{Page, Task};
use crate::rows::{self, TASK_COLUMNS};
use crate::{Error, Result, Store, WriteTx};
use sqlx::AssertSqlSafe;

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: String,
    pub owner: Option<String>,
    /// `YYYY-MM-DD`.
    pub due_on: Option<String>,
    pub lead_id: Option<String>,
    pub account_id: Option<String>,
    pub opportunity_id: Option<String>,
}

/// Creates a task once per `request_key` (a retry returns the first task and `false`).
/// Every referenced record must exist.
pub async fn create(
    tx: &mut WriteTx,
    task: &NewTask,
    request_key: Option<&str>,
) -> Result<(Task, bool)> {
    if let Some(key) = request_key
        && let Some(existing) = task_where(tx, "request_key", key).await?
    {
        return Ok((existing, false));
    }
    if let Some(id) = &task.lead_id {
        crate::require_exists(tx, "leads", "lead", id).await?;
    }
    if let Some(id) = &task.account_id {
        crate::require_exists(tx, "accounts", "account", id).await?;
    }
    if let Some(id) = &task.opportunity_id {
        crate::require_exists(tx, "opportunities", "opportunity", id).await?;
    }
    let id = crate::ids::new_id("task");
    sqlx::query(
        "INSERT INTO tasks (id, request_key, title, status, owner, due_on, lead_id, account_id, opportunity_id, created_at) \
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(request_key)
    .bind(&task.title)
    .bind(task.owner.as_deref())
    .bind(task.due_on.as_deref())
    .bind(task.lead_id.as_deref())
    .bind(task.account_id.as_deref())
    .bind(task.opportunity_id.as_deref())
    .bind(crate::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("create a task", error))?;
    let created = task_where(tx, "id", &id)
        .await?
        .ok_or(Error::Internal("read a new task"))?;
    Ok((created, true))
}

async fn task_where(tx: &mut WriteTx, column: &'static str, value: &str) -> Result<Option<Task>> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {column} = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a task", error))?;
    row.as_ref().map(rows::task).transpose()
}

/// Which tasks to list; every field narrows the list when set.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub owner: Option<String>,
    pub status: Option<String>,
    /// Due on or before (`YYYY-MM-DD`).
    pub due_by: Option<String>,
    pub lead_id: Option<String>,
    pub account_id: Option<String>,
    pub opportunity_id: Option<String>,
}

/// One page of tasks, soonest due first (undated last), then by id. The cursor is opaque.
pub async fn list(
    store: &Store,
    filter: &TaskFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Task>> {
    let mut conditions = Conditions::default();
    conditions.add("owner", "=", filter.owner.as_deref());
    conditions.add("status", "=", filter.status.as_deref());
    conditions.add("due_on", "<=", filter.due_by.as_deref());
    conditions.add("lead_id", "=", filter.lead_id.as_deref());
    conditions.add("account_id", "=", filter.account_id.as_deref());
    conditions.add("opportunity_id", "=", filter.opportunity_id.as_deref());
    // The sort key is (due date or a far-future sentinel, id), so one text comparison pages it.
    conditions.add("COALESCE(due_on, '9999-12-31') || '|' || id", ">", cursor);
    let limit = page_size(limit, 25, 200);
    let listing = Listing {
        select: format!("SELECT {TASK_COLUMNS} FROM tasks"),
        order_by: "COALESCE(due_on, '9999-12-31'), id",
        action: "list tasks",
    };
    fetch_page(store, listing, &conditions, limit, rows::task, |t| {
        format!("{}|{}", t.due_on.as_deref().unwrap_or("9999-12-31"), t.id)
    })
    .await
}
