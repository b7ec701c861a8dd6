//! The customer-success server (`revops-cs`): what a CSM asks the assistant about their
//! accounts: usage over time, tickets, NPS, recent touchpoints; and the touchpoints they log.
//!
//! # Layout
//! - [`CsServer`] (this file): the tools, thin: check the arguments, call the store, return a
//!   typed answer.
//! - `health_tools`: account health, churn risk and probability, the at-risk listing,
//!   expansion, NPS, feature adoption and onboarding (issue 7).
//! - `ops_tools`: interventions, tickets, bulk account changes, erasure (issue 7).
//! - `resources`: `cs://accounts/{account_id}`, `cs://accounts/{account_id}/health`,
//!   `cs://portfolio` and `cs://at-risk`.
//! - `prompts`: `analyze-account-expansion`, `qbr-prep`, `churn-save-plan`.
//!
//! Every call runs through `mcp_runtime`'s pipeline; this crate never talks to a transport.

mod health_tools;
mod ops_tools;
mod prompts;
mod resources;

use mcp_runtime::errors::{id_arg, optional_choice, text_arg, timestamp_arg};
use mcp_runtime::toolsets::Toolset;
use mcp_runtime::{CallScope, Runtime, TeamServer, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::records::{Account, Activity, NpsResponse, Page, Ticket, UsageWeek};

/// The customer-success team's server.
#[derive(Clone)]
pub struct CsServer {
    runtime: Runtime,
    tools: ToolRouter<CsServer>,
}

impl TeamServer for CsServer {
    const NAME: &'static str = "cs";
    const INSTRUCTIONS: &'static str = "RevOps Customer Success: accounts with their weekly product usage, support \
        tickets, NPS answers and recent touchpoints; account health, churn risk and probability, at-risk accounts by MRR, \
        expansion opportunities, NPS summaries, feature adoption and onboarding progress (all read as of each account's \
        latest usage week); log touchpoints with customers. Money is in minor units (cents) \
        with a currency code. Ids look like acc_000042. Listings are paged: pass next_cursor back as cursor.";
    const TOOLSETS: &'static [Toolset] = &[
        Toolset {
            name: "health",
            description: "Account health, churn risk, the at-risk list and churn predictions.",
            tools: &[
                "account_health",
                "detect_churn_risk",
                "list_at_risk_accounts",
                "predict_churn",
            ],
        },
        Toolset {
            name: "insight",
            description: "Expansion, NPS, feature adoption and onboarding.",
            tools: &[
                "expansion_opportunities",
                "nps_summary",
                "feature_adoption",
                "onboarding_progress",
            ],
        },
        Toolset {
            name: "portfolio",
            description: "Accounts, touchpoints and bulk account updates.",
            tools: &[
                "get_account_overview",
                "list_accounts",
                "log_touchpoint",
                "bulk_update_accounts",
            ],
        },
        Toolset {
            name: "tickets",
            description: "Support tickets.",
            tools: &["list_tickets", "create_ticket", "update_ticket"],
        },
        Toolset {
            name: "interventions",
            description: "Churn interventions from the playbooks.",
            tools: &["create_intervention"],
        },
        Toolset {
            name: "privacy",
            description: "Erasing a customer's personal data.",
            tools: &["erase_customer_data"],
        },
    ];

    fn new(runtime: Runtime) -> CsServer {
        CsServer {
            runtime,
            tools: CsServer::tool_router()
                + CsServer::health_router()
                + CsServer::ops_router()
                + mcp_runtime::info::shared_tools(),
        }
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn tools(&self) -> &ToolRouter<CsServer> {
        &self.tools
    }

    fn resources(&self) -> Vec<rmcp::model::Resource> {
        resources::fixed()
    }

    fn resource_templates(&self) -> Vec<rmcp::model::ResourceTemplate> {
        resources::templates()
    }

    async fn read_resource(&self, uri: &str) -> ToolResult<Option<serde_json::Value>> {
        resources::read(self.runtime.store(), uri).await
    }

    fn prompts(&self) -> Vec<rmcp::model::Prompt> {
        prompts::list()
    }

    async fn get_prompt(
        &self,
        name: &str,
        arguments: &serde_json::Map<String, serde_json::Value>,
    ) -> ToolResult<Option<rmcp::model::GetPromptResult>> {
        prompts::get(self.runtime.store(), name, arguments).await
    }
}

const LIFECYCLE_STAGES: [&str; 4] = ["trial", "active", "at_risk", "churned"];
const PLAN_TIERS: [&str; 3] = ["starter", "growth", "enterprise"];
const TICKET_STATUSES: [&str; 4] = ["open", "pending", "solved", "closed"];

/// Arguments naming one account.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AccountOverviewParams {
    /// The account's id, e.g. `acc_000042`.
    pub account_id: String,
    /// Weeks of usage history to include, 1-52 (default 12).
    #[serde(default)]
    pub weeks: Option<u32>,
}

/// An account as a CSM sees it before a check-in.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountOverview {
    pub account: Account,
    /// Weekly usage, oldest first.
    pub usage: Vec<UsageWeek>,
    /// Tickets not yet solved or closed, newest first.
    pub open_tickets: Vec<Ticket>,
    /// Latest NPS answers, newest first.
    pub recent_nps: Vec<NpsResponse>,
    /// Latest logged activities and touchpoints, newest first.
    pub recent_activities: Vec<Activity>,
}

/// Which accounts to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListAccountsParams {
    /// Only this lifecycle stage: trial, active, at_risk or churned.
    #[serde(default)]
    pub lifecycle_stage: Option<String>,
    /// Only this plan: starter, growth or enterprise.
    #[serde(default)]
    pub plan_tier: Option<String>,
    /// Only accounts of this CSM (exact name as stored).
    #[serde(default)]
    pub csm_owner: Option<String>,
    /// Page size, 1-200 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Which tickets to list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListTicketsParams {
    /// The account's id, e.g. `acc_000042`.
    pub account_id: String,
    /// Only this status: open, pending, solved or closed.
    #[serde(default)]
    pub status: Option<String>,
    /// At most this many, 1-200 (default 20), newest first.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The tickets of an account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
}

/// A touchpoint to log.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogTouchpointParams {
    /// The account, e.g. `acc_000042`.
    pub account_id: String,
    /// One line saying what happened (at most 200 characters), e.g. "QBR held, renewal looks safe".
    pub subject: String,
    /// Longer notes (at most 5,000 characters).
    #[serde(default)]
    pub detail: Option<String>,
    /// The contact met, if any, e.g. `con_000101`.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// When it happened (RFC 3339); default now.
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// A key unique to this request (e.g. a UUID); retrying with the same key logs nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The result of logging a touchpoint.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LoggedTouchpoint {
    pub activity: Activity,
    /// False when `request_id` had been used before and nothing new was logged.
    pub created: bool,
}

#[tool_router(router = tool_router)]
impl CsServer {
    #[tool(
        description = "One account as a CSM needs it before a check-in: plan, MRR (minor units), seats, lifecycle \
            stage, weekly usage (active users, seats used, logins, feature events; default last 12 weeks), open \
            tickets, latest NPS answers and recent touchpoints. Example: {\"account_id\": \"acc_000042\", \"weeks\": 8}.",
        annotations(
            title = "Account overview",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_account_overview(
        &self,
        Parameters(params): Parameters<AccountOverviewParams>,
    ) -> Result<Json<AccountOverview>, ToolError> {
        let account_id = id_arg("account_id", "acc", &params.account_id)?;
        let weeks = params.weeks.unwrap_or(12);
        if !(1..=52).contains(&weeks) {
            return Err(ToolError::invalid(
                "weeks",
                format!("is {weeks}; give 1 to 52"),
            ));
        }
        Ok(Json(
            account_overview(self.runtime.store(), &account_id, weeks).await?,
        ))
    }

    #[tool(
        description = "List accounts by lifecycle stage (trial, active, at_risk, churned), plan tier and CSM, in id \
            order, paged (default 25). Leaving a filter out means any. \
            Example: {\"lifecycle_stage\": \"at_risk\", \"csm_owner\": \"Jonas Berg\"}.",
        annotations(
            title = "List accounts",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_accounts(
        &self,
        Parameters(params): Parameters<ListAccountsParams>,
    ) -> Result<Json<Page<Account>>, ToolError> {
        let filter = store::accounts::AccountFilter {
            lifecycle_stage: optional_choice(
                "lifecycle_stage",
                params.lifecycle_stage.as_deref(),
                &LIFECYCLE_STAGES,
            )?,
            plan_tier: optional_choice("plan_tier", params.plan_tier.as_deref(), &PLAN_TIERS)?,
            csm_owner: params
                .csm_owner
                .as_deref()
                .map(|s| text_arg("csm_owner", s, 120))
                .transpose()?,
            ..Default::default()
        };
        let cursor = params
            .cursor
            .as_deref()
            .map(|c| id_arg("cursor", "acc", c))
            .transpose()?;
        Ok(Json(
            store::accounts::list(
                self.runtime.store(),
                &filter,
                cursor.as_deref(),
                params.limit,
            )
            .await?,
        ))
    }

    #[tool(
        description = "An account's support tickets, newest first, optionally only one status (open, pending, \
            solved, closed): subject, priority, when opened and resolved, CSAT 1-5. \
            Example: {\"account_id\": \"acc_000042\", \"status\": \"open\"}.",
        annotations(
            title = "List tickets",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_tickets(
        &self,
        Parameters(params): Parameters<ListTicketsParams>,
    ) -> Result<Json<TicketList>, ToolError> {
        let account_id = id_arg("account_id", "acc", &params.account_id)?;
        let status = optional_choice("status", params.status.as_deref(), &TICKET_STATUSES)?;
        let store = self.runtime.store();
        let tickets =
            store::support::tickets_for(store, &account_id, status.as_deref(), params.limit)
                .await?;
        if tickets.is_empty() {
            // No tickets, or no such account: only the second is an error.
            store::accounts::get(store, &account_id).await?;
        }
        Ok(Json(TicketList { tickets }))
    }

    #[tool(
        description = "Log a customer-success touchpoint (a check-in, QBR, training, escalation call) on an account, \
            optionally naming the contact. Give request_id so that retrying never logs twice. Sends nothing to \
            the customer. Example: {\"account_id\": \"acc_000042\", \"subject\": \"QBR held, renewal looks safe\"}.",
        annotations(
            title = "Log touchpoint",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn log_touchpoint(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<LogTouchpointParams>,
    ) -> Result<Json<LoggedTouchpoint>, ToolError> {
        let subject = mcp_runtime::errors::required_text("subject", &params.subject, 200)?;
        let activity = store::activities::NewActivity {
            kind: "touchpoint".into(),
            subject,
            detail: params
                .detail
                .as_deref()
                .map(|d| text_arg("detail", d, 5_000))
                .transpose()?,
            lead_id: None,
            account_id: Some(id_arg("account_id", "acc", &params.account_id)?),
            contact_id: params
                .contact_id
                .as_deref()
                .map(|id| id_arg("contact_id", "con", id))
                .transpose()?,
            opportunity_id: None,
            actor: scope.actor.name.clone(),
            occurred_at: match params.occurred_at.as_deref() {
                Some(t) => timestamp_arg("occurred_at", t)?,
                None => store::clock::now(),
            },
        };
        let request_id = params
            .request_id
            .as_deref()
            .map(|k| text_arg("request_id", k, 100))
            .transpose()?;
        let mut tx = scope.transaction().await?;
        let (activity, created) =
            store::activities::log(&mut tx, &activity, request_id.as_deref()).await?;
        Ok(Json(LoggedTouchpoint { activity, created }))
    }
}

/// Gathers an account's overview (shared by the tool and the resource).
pub(crate) async fn account_overview(
    store: &store::Store,
    account_id: &str,
    weeks: u32,
) -> ToolResult<AccountOverview> {
    let account = store::accounts::get(store, account_id).await?;
    let usage = store::support::usage_history(store, account_id, weeks).await?;
    let mut open_tickets =
        store::support::tickets_for(store, account_id, Some("open"), Some(50)).await?;
    open_tickets
        .extend(store::support::tickets_for(store, account_id, Some("pending"), Some(50)).await?);
    open_tickets.sort_by(|a, b| b.opened_at.cmp(&a.opened_at));
    let recent_nps = store::support::nps_for(store, account_id, Some(5)).await?;
    let recent_activities = store::activities::recent_for_account(store, account_id, 10).await?;
    Ok(AccountOverview {
        account,
        usage,
        open_tickets,
        recent_nps,
        recent_activities,
    })
}
