//! Activity tools: `create_task`, `list_tasks` (and `log_activity`, in the crate root with
//! the first tools of the server).

use mcp_runtime::errors::{choice_arg, date_arg, optional_id, optional_text, required_text};
use mcp_runtime::{CallScope, ToolError};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::records::{Page, Task};

use crate::SalesServer;

/// A task to create.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateTaskParams {
    /// What to do, e.g. "Send pricing to Acme" (at most 200 characters).
    pub title: String,
    /// Due date, YYYY-MM-DD.
    #[serde(default)]
    pub due_on: Option<String>,
    /// Who does it (default: you).
    #[serde(default)]
    pub owner: Option<String>,
    /// The lead it is about, if any.
    #[serde(default)]
    pub lead_id: Option<String>,
    /// The account it is about, if any.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The deal it is about, if any.
    #[serde(default)]
    pub opportunity_id: Option<String>,
    /// A key unique to this request; retrying with it creates nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The task created (or found, on a retry).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedTask {
    pub task: Task,
    pub created: bool,
}

/// Which tasks to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListTasksParams {
    /// Only this person's tasks.
    #[serde(default)]
    pub owner: Option<String>,
    /// open (default), done, cancelled, or any.
    #[serde(default)]
    pub status: Option<String>,
    /// Only tasks due on or before this date (YYYY-MM-DD), e.g. today for what is due now.
    #[serde(default)]
    pub due_by: Option<String>,
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub opportunity_id: Option<String>,
    /// Page size, 1-200 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[tool_router(router = activity_router, vis = "pub(crate)")]
impl SalesServer {
    #[tool(
        description = "Create a follow-up task, optionally due on a date and about a lead, account or deal; owned by \
            you unless owner is given. Give request_id so a retry creates nothing twice. \
            Example: {\"title\": \"Send pricing\", \"due_on\": \"2026-11-28\", \"opportunity_id\": \"opp_000042\"}.",
        annotations(
            title = "Create task",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn create_task(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CreateTaskParams>,
    ) -> Result<Json<CreatedTask>, ToolError> {
        let task = store::tasks::NewTask {
            title: required_text("title", &params.title, 200)?,
            owner: optional_text("owner", params.owner.as_deref(), 120)?
                .or_else(|| Some(scope.actor.name.clone())),
            due_on: params
                .due_on
                .as_deref()
                .map(|d| date_arg("due_on", d))
                .transpose()?,
            lead_id: optional_id("lead_id", "lead", params.lead_id.as_deref())?,
            account_id: optional_id("account_id", "acc", params.account_id.as_deref())?,
            opportunity_id: optional_id("opportunity_id", "opp", params.opportunity_id.as_deref())?,
        };
        let request_id = optional_text("request_id", params.request_id.as_deref(), 100)?;
        let mut tx = scope.transaction().await?;
        let (task, created) = store::tasks::create(&mut tx, &task, request_id.as_deref()).await?;
        Ok(Json(CreatedTask { task, created }))
    }

    #[tool(
        description = "List tasks, soonest due first (undated last): by default open ones; filter by owner, due date \
            and the lead, account or deal they are about; paged (default 25, at most 200). \
            Example: {\"owner\": \"Maya Patel\", \"due_by\": \"2026-11-21\"}.",
        annotations(
            title = "List tasks",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn list_tasks(
        &self,
        Parameters(params): Parameters<ListTasksParams>,
    ) -> Result<Json<Page<Task>>, ToolError> {
        let status = choice_arg(
            "status",
            params.status.as_deref().unwrap_or("open"),
            &["open", "done", "cancelled", "any"],
        )?;
        let filter = store::tasks::TaskFilter {
            owner: optional_text("owner", params.owner.as_deref(), 120)?,
            status: (status != "any").then_some(status),
            due_by: params
                .due_by
                .as_deref()
                .map(|d| date_arg("due_by", d))
                .transpose()?,
            lead_id: optional_id("lead_id", "lead", params.lead_id.as_deref())?,
            account_id: optional_id("account_id", "acc", params.account_id.as_deref())?,
            opportunity_id: optional_id("opportunity_id", "opp", params.opportunity_id.as_deref())?,
        };
        let cursor = optional_text("cursor", params.cursor.as_deref(), 80)?;
        Ok(Json(
            store::tasks::list(
                self.runtime.store(),
                &filter,
                cursor.as_deref(),
                params.limit,
            )
            .await?,
        ))
    }
}
