//! The marketing server (`revops-marketing`): what a marketing lead asks the assistant
//! about campaigns, their budgets and spend, and the leads they touched.
//!
//! # Layout
//! - [`MarketingServer`] (this file): the tools, thin: check the arguments, call the store,
//!   return a typed answer.
//! - `campaign_tools`: creating, listing, launching, pausing and resuming campaigns; spend
//!   under the budget caps; changing caps; deleting a campaign.
//! - `ops_tools`: backups of the marketing data and the marketing settings.
//! - `analytics_tools`, `audience_tools`: funnel, attribution, conversion, audiences, email.
//! - `resources`: `marketing://campaigns/{campaign_id}`, `marketing://campaigns/active`,
//!   `marketing://budgets`.
//! - `prompts`: `campaign-retro`, `budget-reallocation`.
//!
//! Every call runs through `mcp_runtime`'s pipeline; this crate never talks to a transport.

mod analytics_tools;
mod audience_tools;
mod campaign_tools;
mod ops_tools;
mod prompts;
mod resources;

use mcp_runtime::errors::{choice_arg, id_arg, timestamp_arg};
use mcp_runtime::toolsets::Toolset;
use mcp_runtime::{CallScope, Runtime, TeamServer, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::records::{CampaignSummary, Lead, Page};

/// The marketing team's server.
#[derive(Clone)]
pub struct MarketingServer {
    runtime: Runtime,
    tools: ToolRouter<MarketingServer>,
}

impl TeamServer for MarketingServer {
    const NAME: &'static str = "marketing";
    const INSTRUCTIONS: &'static str = "RevOps Marketing: campaigns with their budget caps, committed spend, \
        touches and the leads they produced. Money is in minor units (cents) with a currency code. Ids look like \
        cmp_000012 and lead_000123. Listings are paged: pass next_cursor back as cursor. A campaign is created as a \
        draft, launched (which may reserve its first spend), paused and resumed; spend is recorded under its lifetime \
        and daily caps and the organisation's monthly cap. Raising a cap, deleting a campaign or a backup need a \
        confirmation. For results: campaign_performance (CPL, cost per SQL, CAC, ROAS), funnel_analysis, \
        attribution_report (first-touch, last-touch, linear, time-decay, position-based; a deal's credits add up to \
        its amount), lead_source_performance, get_conversion_insights for a trial account. Audiences: build_audience, \
        score_audience (the sales lead score), email_engagement, schedule_email_send (respects unsubscribes and the \
        suppression list; large sends need a confirmation). check_model_health watches the conversion model.";
    const TOOLSETS: &'static [Toolset] = &[
        Toolset {
            name: "campaigns",
            description: "Campaigns: list, create, launch, pause, resume, delete; touches and the leads they produced.",
            tools: &[
                "get_campaign",
                "list_campaigns",
                "create_campaign",
                "launch_campaign",
                "pause_campaign",
                "resume_campaign",
                "delete_campaign",
                "campaign_leads",
                "record_touch",
            ],
        },
        Toolset {
            name: "spend",
            description: "Spend under the budget caps, and the caps themselves.",
            tools: &["record_spend", "set_campaign_budget"],
        },
        Toolset {
            name: "analytics",
            description: "Campaign performance, funnel, attribution, trial conversion, lead sources.",
            tools: &[
                "campaign_performance",
                "funnel_analysis",
                "attribution_report",
                "get_conversion_insights",
                "lead_source_performance",
            ],
        },
        Toolset {
            name: "audiences",
            description: "Audiences and email: build and score audiences, engagement, sends, suppression.",
            tools: &[
                "build_audience",
                "score_audience",
                "email_engagement",
                "schedule_email_send",
                "suppress_email",
            ],
        },
        Toolset {
            name: "operations",
            description: "The team's settings and backups.",
            tools: &[
                "get_settings",
                "update_settings",
                "create_backup",
                "list_backups",
                "delete_backup",
            ],
        },
    ];

    fn new(runtime: Runtime) -> MarketingServer {
        MarketingServer {
            runtime,
            tools: MarketingServer::tool_router()
                + MarketingServer::campaign_router()
                + MarketingServer::ops_router()
                + MarketingServer::analytics_router()
                + MarketingServer::audience_router()
                + mcp_runtime::info::shared_tools(),
        }
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn tools(&self) -> &ToolRouter<MarketingServer> {
        &self.tools
    }

    fn resources(&self) -> Vec<rmcp::model::Resource> {
        resources::fixed()
    }

    fn resource_templates(&self) -> Vec<rmcp::model::ResourceTemplate> {
        resources::templates()
    }

    async fn read_resource(&self, uri: &str) -> ToolResult<Option<serde_json::Value>> {
        resources::read(&self.runtime, uri).await
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

pub(crate) const CHANNELS: [&str; 7] = [
    "paid_search",
    "paid_social",
    "email",
    "events",
    "content",
    "webinar",
    "partner",
];
pub(crate) const CAMPAIGN_STATUSES: [&str; 4] = ["draft", "active", "paused", "completed"];
const TOUCH_TYPES: [&str; 7] = [
    "impression",
    "click",
    "form_fill",
    "email_open",
    "email_click",
    "event_attended",
    "content_download",
];

/// Arguments naming one campaign.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CampaignRef {
    /// The campaign's id, e.g. `cmp_000012`.
    pub campaign_id: String,
}

/// Which of a campaign's leads to list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CampaignLeadsParams {
    /// The campaign's id, e.g. `cmp_000012`.
    pub campaign_id: String,
    /// Page size, 1-200 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A touch to record.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RecordTouchParams {
    /// The campaign that reached the lead, e.g. `cmp_000012`.
    pub campaign_id: String,
    /// The lead reached, e.g. `lead_000123`.
    pub lead_id: String,
    /// impression, click, form_fill, email_open, email_click, event_attended or content_download.
    pub touch_type: String,
    /// When it happened (RFC 3339); default now.
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// A key unique to this request (e.g. a UUID); retrying with the same key records nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The result of recording a touch.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecordedTouch {
    pub touch_id: String,
    /// False when `request_id` had been used before and nothing new was recorded.
    pub created: bool,
}

#[tool_router(router = tool_router)]
impl MarketingServer {
    #[tool(
        description = "One campaign with its caps, committed spend, remaining budget (minor units), touches and \
            leads. Answers \"how much has the Q4 search campaign spent and what did it bring?\". \
            Example: {\"campaign_id\": \"cmp_000012\"}.",
        annotations(
            title = "Get campaign",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_campaign(
        &self,
        Parameters(params): Parameters<CampaignRef>,
    ) -> Result<Json<CampaignSummary>, ToolError> {
        let id = id_arg("campaign_id", "cmp", &params.campaign_id)?;
        Ok(Json(
            store::campaigns::get_summary(self.runtime.store(), &id).await?,
        ))
    }

    #[tool(
        description = "The leads a campaign produced (leads whose source campaign it is), in id order, paged \
            (default 25). Example: {\"campaign_id\": \"cmp_000012\", \"limit\": 50}.",
        annotations(
            title = "Campaign leads",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn campaign_leads(
        &self,
        Parameters(params): Parameters<CampaignLeadsParams>,
    ) -> Result<Json<Page<Lead>>, ToolError> {
        let id = id_arg("campaign_id", "cmp", &params.campaign_id)?;
        let store = self.runtime.store();
        // Unknown campaigns are an error, not an empty page.
        store::campaigns::get_summary(store, &id).await?;
        let filter = store::leads::LeadFilter {
            campaign_id: Some(id),
            ..Default::default()
        };
        let cursor = params
            .cursor
            .as_deref()
            .map(|c| id_arg("cursor", "lead", c))
            .transpose()?;
        Ok(Json(
            store::leads::list(store, &filter, cursor.as_deref(), params.limit).await?,
        ))
    }

    #[tool(
        description = "Record that a campaign reached a lead (an impression, click, form fill, email open or click, \
            event attendance or content download), for attribution. Give request_id so that retrying never \
            records twice. Spends nothing. Example: {\"campaign_id\": \"cmp_000012\", \"lead_id\": \"lead_000123\", \
            \"touch_type\": \"form_fill\"}.",
        annotations(
            title = "Record touch",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn record_touch(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<RecordTouchParams>,
    ) -> Result<Json<RecordedTouch>, ToolError> {
        let touch = store::campaigns::NewTouch {
            campaign_id: id_arg("campaign_id", "cmp", &params.campaign_id)?,
            lead_id: id_arg("lead_id", "lead", &params.lead_id)?,
            touch_type: choice_arg("touch_type", &params.touch_type, &TOUCH_TYPES)?,
            occurred_at: match params.occurred_at.as_deref() {
                Some(t) => timestamp_arg("occurred_at", t)?,
                None => store::clock::now(),
            },
        };
        let request_id = params
            .request_id
            .as_deref()
            .map(|k| mcp_runtime::errors::text_arg("request_id", k, 100))
            .transpose()?;
        let mut tx = scope.transaction().await?;
        let (touch_id, created) =
            store::campaigns::record_touch(&mut tx, &touch, request_id.as_deref()).await?;
        Ok(Json(RecordedTouch { touch_id, created }))
    }
}

/// A budget gate's refusal as a tool error (a cap or a rule of the ledger: a conflict).
pub(crate) fn refusal(refusal: guard::Refusal) -> ToolError {
    match refusal {
        guard::Refusal::Budget(reason) | guard::Refusal::Confirmation(reason) => {
            ToolError::Conflict(reason)
        }
        guard::Refusal::Store(failure) => ToolError::Unavailable(failure.0),
    }
}

/// Today (UTC) as `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    store::clock::format_date(chrono::Utc::now().date_naive())
}

/// An amount for people, e.g. `1,250.00 USD`.
pub(crate) fn money(minor: i64, currency: &str) -> String {
    guard::budget::money(minor, currency)
}
