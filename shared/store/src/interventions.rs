//! Customer-success playbooks and the tasks they create (issue 7).
//!
//! A playbook is a fixed list of steps, each a task due some days after the intervention
//! starts. Starting one for an account writes an `interventions` row and one `tasks` row per
//! step (linked by `tasks.intervention_id`) in the caller's transaction, so either all of
//! it exists or none. An intervention stays open while any of its tasks is open; an account
//! has at most one open intervention per playbook.

use chrono::{Days, NaiveDate};
use sqlx::AssertSqlSafe;

use crate::records::Task;
use crate::rows::{self, TASK_COLUMNS};
use crate::{Error, Result, WriteTx};

/// One step of a playbook: a task due `due_in_days` after the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybookStep {
    pub title: &'static str,
    pub due_in_days: u32,
}

/// A customer-success playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Playbook {
    /// The name tools and the churn model use, e.g. `usage_recovery`.
    pub name: &'static str,
    /// What it is for, in one line.
    pub summary: &'static str,
    pub steps: &'static [PlaybookStep],
}

const fn step(title: &'static str, due_in_days: u32) -> PlaybookStep {
    PlaybookStep { title, due_in_days }
}

/// Every playbook, by name. The churn model recommends these names; keep them stable.
pub const PLAYBOOKS: [Playbook; 6] = [
    Playbook {
        name: "usage_recovery",
        summary: "Usage is falling: find out why and win the users back.",
        steps: &[
            step("Review the usage trend and find the teams that stopped", 1),
            step("Call the champion about the drop in usage", 3),
            step("Run a workflow review session with the inactive team", 10),
            step("Check usage again and report to the account team", 21),
        ],
    },
    Playbook {
        name: "executive_outreach",
        summary: "The relationship needs a senior sponsor on both sides.",
        steps: &[
            step("Brief our executive sponsor on the account", 2),
            step("Send the executive introduction email", 5),
            step("Hold the executive alignment meeting", 14),
        ],
    },
    Playbook {
        name: "support_escalation",
        summary: "Support trouble is hurting the account: fix it and show it.",
        steps: &[
            step("Review every open ticket with the support lead", 1),
            step("Call the customer with a resolution plan", 2),
            step("Confirm the fixes with the customer", 7),
            step("Check satisfaction after the fixes", 14),
        ],
    },
    Playbook {
        name: "onboarding_restart",
        summary: "Onboarding stalled: start it again with a plan.",
        steps: &[
            step("Agree the onboarding goals again with the customer", 2),
            step("Run the setup session", 7),
            step("Hold the first-value review", 21),
        ],
    },
    Playbook {
        name: "renewal_save",
        summary: "The renewal is at risk: build the case and negotiate early.",
        steps: &[
            step("Prepare the value summary for the renewal", 3),
            step("Meet the decision maker about the renewal", 7),
            step("Send the renewal proposal", 14),
            step("Agree the renewal terms", 30),
        ],
    },
    Playbook {
        name: "adoption_training",
        summary: "Users have not found the features they pay for: train them.",
        steps: &[
            step("Pick the features the account is not using", 2),
            step("Run a training session for the users", 10),
            step("Share recordings and guides after the training", 12),
            step("Check adoption of the trained features", 30),
        ],
    },
];

/// The playbook with this name.
pub fn playbook(name: &str) -> Option<&'static Playbook> {
    PLAYBOOKS.iter().find(|p| p.name == name)
}

/// The names of every playbook, for error messages and schemas.
pub fn playbook_names() -> Vec<&'static str> {
    PLAYBOOKS.iter().map(|p| p.name).collect()
}

/// An intervention to start.
#[derive(Debug, Clone)]
pub struct NewIntervention {
    pub account_id: String,
    /// One of [`PLAYBOOKS`].
    pub playbook: String,
    pub reason: Option<String>,
    /// Who does the tasks; `None`: the account's CSM, else its owner.
    pub owner: Option<String>,
    /// The day the playbook starts; due dates count from it.
    pub starts_on: NaiveDate,
    pub created_by: String,
}

/// A playbook started for an account.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Intervention {
    pub id: String,
    pub account_id: String,
    pub playbook: String,
    pub reason: Option<String>,
    /// Who does its tasks.
    pub owner: Option<String>,
    /// open while any of its tasks is open, then completed.
    pub status: String,
    /// `YYYY-MM-DD`; the tasks' due dates count from it.
    pub starts_on: String,
    pub created_by: String,
    pub created_at: String,
    pub completed_at: Option<String>,
}

const COLUMNS: &str = "id, account_id, playbook, reason, owner, status, starts_on, created_by, created_at, completed_at";

fn intervention(row: &sqlx::any::AnyRow) -> Result<Intervention> {
    Ok(Intervention {
        id: rows::get(row, "id")?,
        account_id: rows::get(row, "account_id")?,
        playbook: rows::get(row, "playbook")?,
        reason: rows::get(row, "reason")?,
        owner: rows::get(row, "owner")?,
        status: rows::get(row, "status")?,
        starts_on: rows::get(row, "starts_on")?,
        created_by: rows::get(row, "created_by")?,
        created_at: rows::get(row, "created_at")?,
        completed_at: rows::get(row, "completed_at")?,
    })
}

async fn intervention_where(
    tx: &mut WriteTx,
    condition: &'static str,
    values: &[&str],
) -> Result<Option<Intervention>> {
    let sql = format!("SELECT {COLUMNS} FROM interventions WHERE {condition}");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in values {
        query = query.bind(*value);
    }
    let row = query
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read an intervention", error))?;
    row.as_ref().map(intervention).transpose()
}

/// The tasks of an intervention, soonest due first.
pub async fn tasks_of(tx: &mut WriteTx, intervention_id: &str) -> Result<Vec<Task>> {
    let sql =
        format!("SELECT {TASK_COLUMNS} FROM tasks WHERE intervention_id = $1 ORDER BY due_on, id");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(intervention_id)
        .fetch_all(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read an intervention's tasks", error))?;
    rows.iter().map(rows::task).collect()
}

/// Starts a playbook for an account once per `request_key` (a retry returns the first
/// intervention, its tasks and `false`). Refused when the playbook is unknown, the account
/// does not exist, or the account already has this playbook open (naming it).
pub async fn create(
    tx: &mut WriteTx,
    new: &NewIntervention,
    request_key: Option<&str>,
) -> Result<(Intervention, Vec<Task>, bool)> {
    if let Some(key) = request_key
        && let Some(existing) = intervention_where(tx, "request_key = $1", &[key]).await?
    {
        let tasks = tasks_of(tx, &existing.id).await?;
        return Ok((existing, tasks, false));
    }
    let Some(playbook) = playbook(&new.playbook) else {
        return Err(Error::Conflict(format!(
            "there is no playbook {:?}; use one of {}",
            new.playbook,
            playbook_names().join(", ")
        )));
    };
    let account = crate::accounts::get_in(tx, &new.account_id).await?;
    let now = crate::clock::now();
    // An intervention whose every task is done or cancelled is over: mark it so before
    // looking for an open one, so finishing the work frees the playbook for a new round.
    sqlx::query(
        "UPDATE interventions SET status = 'completed', completed_at = $1 \
         WHERE account_id = $2 AND status = 'open' \
         AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.intervention_id = interventions.id AND tasks.status = 'open')",
    )
    .bind(&now)
    .bind(&new.account_id)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("close finished interventions", error))?;
    if let Some(open) = intervention_where(
        tx,
        "account_id = $1 AND playbook = $2 AND status = 'open'",
        &[&new.account_id, playbook.name],
    )
    .await?
    {
        return Err(Error::Conflict(format!(
            "account {} already has the {} playbook open as {} (started {}); finish or cancel its tasks first",
            new.account_id, playbook.name, open.id, open.starts_on
        )));
    }
    let owner = new
        .owner
        .clone()
        .or(account.csm_owner.clone())
        .or(account.owner.clone());
    let id = crate::ids::new_id("int");
    let starts_on = crate::clock::format_date(new.starts_on);
    sqlx::query(
        "INSERT INTO interventions (id, request_key, account_id, playbook, reason, owner, status, starts_on, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9)",
    )
    .bind(&id)
    .bind(request_key)
    .bind(&new.account_id)
    .bind(playbook.name)
    .bind(new.reason.as_deref())
    .bind(owner.as_deref())
    .bind(&starts_on)
    .bind(&new.created_by)
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("create an intervention", error))?;
    for step in playbook.steps {
        let due = new
            .starts_on
            .checked_add_days(Days::new(u64::from(step.due_in_days)))
            .ok_or_else(|| Error::Conflict("the start date is too far in the future".into()))?;
        sqlx::query(
            "INSERT INTO tasks (id, title, status, owner, due_on, account_id, intervention_id, created_at) \
             VALUES ($1, $2, 'open', $3, $4, $5, $6, $7)",
        )
        .bind(crate::ids::new_id("task"))
        .bind(step.title)
        .bind(owner.as_deref())
        .bind(crate::clock::format_date(due))
        .bind(&new.account_id)
        .bind(&id)
        .bind(&now)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("create an intervention's task", error))?;
    }
    let created = intervention_where(tx, "id = $1", &[&id])
        .await?
        .ok_or(Error::Internal("read a new intervention"))?;
    let tasks = tasks_of(tx, &id).await?;
    Ok((created, tasks, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_playbook_has_steps_in_due_order_and_a_unique_name() {
        let mut names = playbook_names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PLAYBOOKS.len());
        for playbook in PLAYBOOKS {
            assert!(!playbook.steps.is_empty(), "{}", playbook.name);
            assert!(
                playbook
                    .steps
                    .windows(2)
                    .all(|w| w[0].due_in_days <= w[1].due_in_days),
                "{}",
                playbook.name
            );
        }
        assert!(playbook("renewal_save").is_some());
        assert!(playbook("Renewal_Save").is_none());
    }
}
