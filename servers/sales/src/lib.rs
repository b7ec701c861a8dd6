//! The sales server (`revops-sales`): what a sales rep and their manager ask the assistant
//! about leads, accounts, opportunities and the pipeline, and the activities they log.
//!
//! # Layout
//! Tools are thin: check the arguments, call the store and the `scoring` models, return a
//! typed answer. One `#[tool_router]` per slice, joined in [`SalesServer::new`]:
//! - this file: `get_account`, `get_lead`, `list_leads`, `log_activity`;
//! - `scoring_tools`: `score_lead`, `rank_leads`, `explain_lead_score`, `qualify_lead`;
//! - `lead_tools`: `create_lead`, `upsert_lead`, `update_lead_status`, `convert_lead`,
//!   `match_account`, `create_contact`, `search_crm`, `delete_leads` (gated), `route_leads`
//!   (rules in `routing`);
//! - `pipeline_tools`: `create_opportunity`, `update_opportunity_stage`, `pipeline_summary`,
//!   `forecast_revenue`, `deal_risk`, `win_probability`;
//! - `activity_tools`: `create_task`, `list_tasks`;
//! - `admin_tools` (admin only): `list_credentials`, `delete_credential` (gated);
//! - `crm_tools`: `sync_from_crm`, `push_to_crm` (HubSpot and Salesforce, via `connectors`);
//! - `resources`: `crm://accounts/{account_id}`, `crm://leads/{lead_id}`,
//!   `crm://opportunities/{opportunity_id}`, `crm://pipeline`, `models://lead_scorer/metadata`;
//! - `prompts`: `weekly-lead-report`, `explain-low-score`, `deal-review`.
//!
//! Every call runs through `mcp_runtime`'s pipeline; this crate never talks to a transport.
//! Every write is safe to retry (a request id, a natural key, or the record's state), and
//! every score given is logged to the prediction log.

mod activity_tools;
mod admin_tools;
mod crm_tools;
mod lead_tools;
mod pipeline_tools;
mod prompts;
mod resources;
mod routing;
mod scoring_tools;

use std::sync::Arc;

use mcp_runtime::errors::{
    choice_arg, id_arg, optional_choice, required_text, text_arg, timestamp_arg,
};
use mcp_runtime::toolsets::Toolset;
use mcp_runtime::{CallScope, Runtime, TeamServer, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use scoring::lead::LeadModel;
use serde::{Deserialize, Serialize};
use store::records::{Account, Activity, Contact, Lead, Opportunity, Page};

/// The sales team's server.
#[derive(Clone)]
pub struct SalesServer {
    runtime: Runtime,
    tools: ToolRouter<SalesServer>,
    /// The lead scoring model in use (the rule-based v1 until a trained one is activated).
    lead_model: Arc<LeadModel>,
    /// HubSpot and Salesforce connections, opened on first use.
    crm: Arc<crm_tools::CrmConnections>,
}

impl TeamServer for SalesServer {
    const NAME: &'static str = "sales";
    const INSTRUCTIONS: &'static str = "RevOps Sales: the company's CRM for sales. Score, rank, explain, qualify and route \
        leads; create, update and convert them (a conversion makes the account, contact and deal at once); find \
        accounts before creating duplicates; run the pipeline (deals, stages, forecast, risk, win probability); \
        log activities and tasks; pull from and push to HubSpot or Salesforce; admins list and delete stored CRM credentials. Scores come with the points each factor adds and the model version. Money is \
        in minor units (cents) with a currency code. Ids look like acc_000123, lead_000123, opp_000123. Writes \
        take a request_id so retries are safe; delete_leads previews first and needs a confirm_token. Listings \
        are paged: pass next_cursor back as cursor.";
    const TOOLSETS: &'static [Toolset] = &[
        Toolset {
            name: "leads",
            description: "Find, create, update, convert, route and delete leads.",
            tools: &[
                "get_lead",
                "list_leads",
                "create_lead",
                "upsert_lead",
                "update_lead_status",
                "convert_lead",
                "delete_leads",
                "route_leads",
            ],
        },
        Toolset {
            name: "scoring",
            description: "Score, rank, explain and qualify leads.",
            tools: &[
                "score_lead",
                "rank_leads",
                "explain_lead_score",
                "qualify_lead",
            ],
        },
        Toolset {
            name: "accounts",
            description: "Accounts and contacts: look up, match before creating, search.",
            tools: &[
                "get_account",
                "match_account",
                "create_contact",
                "search_crm",
            ],
        },
        Toolset {
            name: "pipeline",
            description: "Deals, stages, pipeline, forecast, risk and win probability.",
            tools: &[
                "create_opportunity",
                "update_opportunity_stage",
                "pipeline_summary",
                "forecast_revenue",
                "deal_risk",
                "win_probability",
            ],
        },
        Toolset {
            name: "activities",
            description: "Activities and tasks.",
            tools: &["log_activity", "create_task", "list_tasks"],
        },
        Toolset {
            name: "crm",
            description: "HubSpot and Salesforce sync, and the stored CRM credentials.",
            tools: &[
                "sync_from_crm",
                "push_to_crm",
                "list_credentials",
                "delete_credential",
            ],
        },
    ];

    fn new(runtime: Runtime) -> SalesServer {
        SalesServer {
            runtime,
            tools: SalesServer::tool_router()
                + SalesServer::scoring_router()
                + SalesServer::lead_router()
                + SalesServer::pipeline_router()
                + SalesServer::activity_router()
                + SalesServer::admin_router()
                + SalesServer::crm_router()
                + mcp_runtime::info::shared_tools(),
            lead_model: Arc::new(LeadModel::default_v1()),
            crm: Arc::default(),
        }
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn tools(&self) -> &ToolRouter<SalesServer> {
        &self.tools
    }

    fn resources(&self) -> Vec<rmcp::model::Resource> {
        resources::fixed()
    }

    fn resource_templates(&self) -> Vec<rmcp::model::ResourceTemplate> {
        resources::templates()
    }

    async fn read_resource(&self, uri: &str) -> ToolResult<Option<serde_json::Value>> {
        resources::read(self.runtime.store(), &self.lead_model, uri).await
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

/// Arguments naming one account.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AccountRef {
    /// The account's id, e.g. `acc_000042`.
    pub account_id: String,
}

/// An account with the people and deals a rep needs before a call.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountView {
    pub account: Account,
    /// Decision makers and champions first.
    pub contacts: Vec<Contact>,
    /// Open deals first, then by close date.
    pub opportunities: Vec<Opportunity>,
}

/// Arguments naming one lead.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LeadRef {
    /// The lead's id, e.g. `lead_000042`.
    pub lead_id: String,
}

/// Which leads to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListLeadsParams {
    /// Only leads owned by this rep (exact name as stored, e.g. "Maya Patel").
    #[serde(default)]
    pub owner: Option<String>,
    /// Only leads in this status: new, working, mql, sql, converted or disqualified.
    #[serde(default)]
    pub status: Option<String>,
    /// Only leads from this source, e.g. web, paid_search, referral, event.
    #[serde(default)]
    pub source: Option<String>,
    /// Only leads created at or after this time (RFC 3339, e.g. 2026-10-01T00:00:00Z).
    #[serde(default)]
    pub created_since: Option<String>,
    /// Page size, 1-200 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// An activity to log.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogActivityParams {
    /// call, email, meeting or note.
    pub kind: String,
    /// One line saying what happened (at most 200 characters).
    pub subject: String,
    /// Longer notes (at most 5,000 characters).
    #[serde(default)]
    pub detail: Option<String>,
    /// The lead it concerns (give this or account_id, or both).
    #[serde(default)]
    pub lead_id: Option<String>,
    /// The account it concerns.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The contact spoken to, if any.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The deal it concerns, if any.
    #[serde(default)]
    pub opportunity_id: Option<String>,
    /// When it happened (RFC 3339); default now.
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// A key unique to this request (e.g. a UUID). Retrying with the same key logs nothing new and
    /// returns the first result, so a retry after a timeout is safe.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The result of logging an activity.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LoggedActivity {
    pub activity: Activity,
    /// False when `request_id` had been used before and nothing new was logged.
    pub created: bool,
}

pub(crate) const LEAD_STATUSES: [&str; 6] =
    ["new", "working", "mql", "sql", "converted", "disqualified"];

pub(crate) const CONTACT_ROLES: [&str; 4] = ["decision_maker", "champion", "user", "billing"];

#[tool_router(router = tool_router)]
impl SalesServer {
    #[tool(
        description = "Look up one account with its contacts (decision makers first) and its opportunities \
            (open first). Answers \"who do I talk to at Acme and what deals are open?\". Money in minor units. \
            Example: {\"account_id\": \"acc_000042\"}.",
        annotations(
            title = "Get account",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_account(
        &self,
        Parameters(params): Parameters<AccountRef>,
    ) -> Result<Json<AccountView>, ToolError> {
        let account_id = id_arg("account_id", "acc", &params.account_id)?;
        let store = self.runtime.store();
        let account = store::accounts::get(store, &account_id).await?;
        let contacts = store::accounts::contacts_of(store, &account_id).await?;
        let opportunities = store::opportunities::for_account(store, &account_id).await?;
        Ok(Json(AccountView {
            account,
            contacts,
            opportunities,
        }))
    }

    #[tool(
        description = "Look up one lead: who they are, their company, status, owner, source campaign and \
            engagement signals (website visits in 30 days, demo requested, whitepaper downloads, email \
            engagement 0-100, LinkedIn engagement, free trial started). Example: {\"lead_id\": \"lead_000042\"}.",
        annotations(
            title = "Get lead",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_lead(
        &self,
        Parameters(params): Parameters<LeadRef>,
    ) -> Result<Json<Lead>, ToolError> {
        let lead_id = id_arg("lead_id", "lead", &params.lead_id)?;
        Ok(Json(
            store::leads::get(self.runtime.store(), &lead_id).await?,
        ))
    }

    #[tool(
        description = "List leads, filtered by owner, status, source and creation time, in id order, one page at \
            a time (default 25, at most 200). Leaving a filter out means any value. Pass next_cursor back as \
            cursor for the next page. Example: {\"status\": \"mql\", \"owner\": \"Maya Patel\", \"limit\": 50}.",
        annotations(
            title = "List leads",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_leads(
        &self,
        Parameters(params): Parameters<ListLeadsParams>,
    ) -> Result<Json<Page<Lead>>, ToolError> {
        let filter = store::leads::LeadFilter {
            owner: params
                .owner
                .as_deref()
                .map(|o| text_arg("owner", o, 120))
                .transpose()?,
            status: optional_choice("status", params.status.as_deref(), &LEAD_STATUSES)?,
            source: params
                .source
                .as_deref()
                .map(|s| text_arg("source", s, 60))
                .transpose()?,
            campaign_id: None,
            created_since: params
                .created_since
                .as_deref()
                .map(|t| timestamp_arg("created_since", t))
                .transpose()?,
        };
        let cursor = params
            .cursor
            .as_deref()
            .map(|c| id_arg("cursor", "lead", c))
            .transpose()?;
        let page = store::leads::list(
            self.runtime.store(),
            &filter,
            cursor.as_deref(),
            params.limit,
        )
        .await?;
        Ok(Json(page))
    }

    #[tool(
        description = "Log a call, email, meeting or note against a lead or an account (and optionally a contact \
            or deal). Give request_id so that retrying never logs twice. Does not send anything to anyone. \
            Example: {\"kind\": \"call\", \"subject\": \"Discovery call, wants SSO\", \"account_id\": \"acc_000042\", \
            \"request_id\": \"9b2f…\"}.",
        annotations(
            title = "Log activity",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn log_activity(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<LogActivityParams>,
    ) -> Result<Json<LoggedActivity>, ToolError> {
        let activity = store::activities::NewActivity {
            kind: choice_arg("kind", &params.kind, &["call", "email", "meeting", "note"])?,
            subject: required_text("subject", &params.subject, 200)?,
            detail: params
                .detail
                .as_deref()
                .map(|d| text_arg("detail", d, 5_000))
                .transpose()?,
            lead_id: params
                .lead_id
                .as_deref()
                .map(|id| id_arg("lead_id", "lead", id))
                .transpose()?,
            account_id: params
                .account_id
                .as_deref()
                .map(|id| id_arg("account_id", "acc", id))
                .transpose()?,
            contact_id: params
                .contact_id
                .as_deref()
                .map(|id| id_arg("contact_id", "con", id))
                .transpose()?,
            opportunity_id: params
                .opportunity_id
                .as_deref()
                .map(|id| id_arg("opportunity_id", "opp", id))
                .transpose()?,
            actor: scope.actor.name.clone(),
            occurred_at: match params.occurred_at.as_deref() {
                Some(t) => timestamp_arg("occurred_at", t)?,
                None => store::clock::now(),
            },
        };
        if activity.lead_id.is_none() && activity.account_id.is_none() {
            return Err(ToolError::invalid(
                "lead_id",
                "give a lead_id or an account_id (or both)",
            ));
        }
        let request_id = params
            .request_id
            .as_deref()
            .map(|k| text_arg("request_id", k, 100))
            .transpose()?;
        let mut tx = scope.transaction().await?;
        let (activity, created) =
            store::activities::log(&mut tx, &activity, request_id.as_deref()).await?;
        Ok(Json(LoggedActivity { activity, created }))
    }
}
