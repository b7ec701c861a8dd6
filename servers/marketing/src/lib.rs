//! The marketing server (`revops-marketing`): what a marketing lead asks the assistant
//! about campaigns, their budgets and spend, and the leads they touched.
//!
//! # Layout
//! - [`MarketingServer`] (this file): the tools, thin: check the arguments, call the store,
//!   return a typed answer.
//! - `resources`: `mkt://campaigns/{campaign_id}` and `mkt://campaigns/active`.
//!
//! Every call runs through `mcp_runtime`'s pipeline; this crate never talks to a transport.

mod resources;

use mcp_runtime::errors::{choice_arg, id_arg, timestamp_arg};
use mcp_runtime::gates::Gated;
use mcp_runtime::{CallScope, Runtime, TeamServer, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::campaigns::CampaignDeletion;
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
        cmp_000012 and lead_000123. Listings are paged: pass next_cursor back as cursor.";

    fn new(runtime: Runtime) -> MarketingServer {
        MarketingServer {
            runtime,
            tools: MarketingServer::tool_router() + mcp_runtime::info::shared_tools(),
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
        resources::read(self.runtime.store(), uri).await
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
const CAMPAIGN_STATUSES: [&str; 4] = ["draft", "active", "paused", "completed"];
const TOUCH_TYPES: [&str; 7] = [
    "impression",
    "click",
    "form_fill",
    "email_open",
    "email_click",
    "event_attended",
    "content_download",
];

/// Which campaigns to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListCampaignsParams {
    /// Only this channel: paid_search, paid_social, email, events, content, webinar or partner.
    #[serde(default)]
    pub channel: Option<String>,
    /// Only this status: draft, active, paused or completed.
    #[serde(default)]
    pub status: Option<String>,
    /// Page size, 1-100 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

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

/// Spend to record against a campaign's caps.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RecordSpendParams {
    /// The campaign that spent, e.g. `cmp_000012`.
    pub campaign_id: String,
    /// The amount in minor units (cents), e.g. 125000 for $1,250.00. Must be positive.
    pub amount_minor: i64,
    /// The day the money was spent, YYYY-MM-DD; default today (UTC).
    #[serde(default)]
    pub spend_date: Option<String>,
    /// A key unique to this request (e.g. the ad platform's invoice line id); retrying with the
    /// same key never spends twice.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// Spend committed under the caps.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecordedSpend {
    #[serde(flatten)]
    pub reservation: guard::budget::Reservation,
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
        description = "List campaigns with their caps and what they have spent, touched and produced: lifetime \
            and daily budget caps, committed spend and remaining budget (minor units), touches, leads. Filter by \
            channel and status; leaving a filter out means any. Paged (default 25). \
            Example: {\"channel\": \"paid_search\", \"status\": \"active\"}.",
        annotations(
            title = "List campaigns",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_campaigns(
        &self,
        Parameters(params): Parameters<ListCampaignsParams>,
    ) -> Result<Json<Page<CampaignSummary>>, ToolError> {
        let filter = store::campaigns::CampaignFilter {
            channel: params
                .channel
                .as_deref()
                .map(|c| choice_arg("channel", c, &CHANNELS))
                .transpose()?,
            status: params
                .status
                .as_deref()
                .map(|s| choice_arg("status", s, &CAMPAIGN_STATUSES))
                .transpose()?,
        };
        let cursor = params
            .cursor
            .as_deref()
            .map(|c| id_arg("cursor", "cmp", c))
            .transpose()?;
        Ok(Json(
            store::campaigns::list(
                self.runtime.store(),
                &filter,
                cursor.as_deref(),
                params.limit,
            )
            .await?,
        ))
    }

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

    #[tool(
        description = "Record money a campaign spent, under its budget caps: the campaign's lifetime cap, its daily \
            cap and the organisation's monthly cap. A request that would exceed any cap is refused with the headroom \
            left, and nothing is recorded. Give request_id (e.g. the invoice line) so that retrying never spends \
            twice. Amounts in minor units (cents). Example: {\"campaign_id\": \"cmp_000012\", \"amount_minor\": 125000, \
            \"spend_date\": \"2026-11-20\", \"request_id\": \"inv-8841-3\"}.",
        annotations(
            title = "Record spend",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn record_spend(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<RecordSpendParams>,
    ) -> Result<Json<RecordedSpend>, ToolError> {
        let campaign_id = id_arg("campaign_id", "cmp", &params.campaign_id)?;
        if params.amount_minor <= 0 || params.amount_minor > 10_000_000_000 {
            return Err(ToolError::invalid(
                "amount_minor",
                format!(
                    "is {}; give a positive amount in cents, at most 10,000,000,000",
                    params.amount_minor
                ),
            ));
        }
        let spend_date = match params.spend_date.as_deref() {
            Some(date) => store::clock::parse_date(date.trim())
                .map(store::clock::format_date)
                .ok_or_else(|| {
                    ToolError::invalid(
                        "spend_date",
                        "is not a date; use YYYY-MM-DD, e.g. 2026-11-20",
                    )
                })?,
            None => store::clock::format_date(chrono::Utc::now().date_naive()),
        };
        let request_id = params
            .request_id
            .as_deref()
            .map(|k| mcp_runtime::errors::text_arg("request_id", k, 100))
            .transpose()?;
        let request = guard::budget::SpendRequest {
            campaign_id: &campaign_id,
            amount_minor: params.amount_minor,
            spend_date: &spend_date,
            request_key: request_id.as_deref(),
            actor: &scope.actor.name,
        };
        let backend = scope.store.backend();
        let caps = self.runtime.gates().organisation_caps;
        let mut tx = scope.transaction().await?;
        let reservation = guard::budget::reserve(&mut tx, backend, caps, &request)
            .await
            .map_err(refusal)?;
        if reservation.created {
            guard::budget::close(
                &mut tx,
                &reservation.reservation_id,
                Some(reservation.amount_minor),
                &scope.actor.name,
            )
            .await
            .map_err(refusal)?;
        }
        Ok(Json(RecordedSpend { reservation }))
    }

    #[tool(
        description = "Delete a campaign for good, with its budget ledger and touches; its leads stay but lose this \
            campaign as their source. The first call changes nothing: it answers with a preview (spend, touches, and \
            leads that would lose attribution, with a sample) and a confirm_token; call again with the same arguments \
            and that token to delete. Example: {\"campaign_id\": \"cmp_000012\"}.",
        annotations(
            title = "Delete campaign",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn delete_campaign(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CampaignRef>,
    ) -> Result<Json<Gated<CampaignDeletion>>, ToolError> {
        let id = id_arg("campaign_id", "cmp", &params.campaign_id)?;
        let mut tx = scope.transaction().await?;
        let deletion = store::campaigns::delete(&mut tx, &id).await?;
        Ok(Json(Gated::done(deletion)))
    }
}

fn refusal(refusal: guard::Refusal) -> ToolError {
    match refusal {
        guard::Refusal::Budget(reason) | guard::Refusal::Confirmation(reason) => {
            ToolError::Conflict(reason)
        }
        guard::Refusal::Store(failure) => ToolError::Unavailable(failure.0),
    }
}
