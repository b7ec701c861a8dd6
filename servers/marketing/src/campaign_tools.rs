//! Campaign lifecycle and spend under the budget caps: create (a draft), list, launch
//! (draft or paused to active, reserving the first spend), pause, resume, record spend
//! (new, or against a launch's reservation), change caps, delete.
//!
//! Every write runs in the call's one transaction and takes the budget lock
//! (`guard::budget::lock`) before it reads what it checks, so a check and its change see the
//! same ledger whatever else is running.

use mcp_runtime::errors::{
    amount_arg, choice_arg, date_arg, id_arg, optional_choice, optional_text, text_arg,
};
use mcp_runtime::gates::Gated;
use mcp_runtime::{CallScope, Role, ToolError};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::campaigns::CampaignDeletion;
use store::records::{Campaign, CampaignSummary, Page};

use crate::{CAMPAIGN_STATUSES, CHANNELS, CampaignRef, MarketingServer, money, refusal, today};

/// The prefix that keeps a launch's request keys apart from record_spend's in the ledger.
const LAUNCH_KEY_PREFIX: &str = "launch:";

/// Which campaigns to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListCampaignsParams {
    /// Only this channel: paid_search, paid_social, email, events, content, webinar or partner.
    #[serde(default)]
    pub channel: Option<String>,
    /// Only this status: draft, active, paused or completed.
    #[serde(default)]
    pub status: Option<String>,
    /// Only campaigns whose name contains this text (any case), e.g. "webinar".
    #[serde(default)]
    pub name_contains: Option<String>,
    /// Only campaigns running on this day (starts_on <= day <= ends_on), YYYY-MM-DD.
    #[serde(default)]
    pub active_on: Option<String>,
    /// Page size, 1-100 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A campaign to create.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateCampaignParams {
    /// The campaign's name, 1-120 characters, e.g. "Q1 2027 pipeline push (paid search)".
    pub name: String,
    /// paid_search, paid_social, email, events, content, webinar or partner.
    pub channel: String,
    /// Who it targets, e.g. "IT leaders, mid-market"; at most 200 characters.
    #[serde(default)]
    pub audience: Option<String>,
    /// First day, YYYY-MM-DD (2000-2100).
    pub starts_on: String,
    /// Last day, YYYY-MM-DD, on or after starts_on; omit for an open-ended campaign.
    #[serde(default)]
    pub ends_on: Option<String>,
    /// The lifetime budget cap in minor units (cents), e.g. 5000000 for $50,000.00.
    pub lifetime_cap_minor: i64,
    /// The daily budget cap in minor units, at most the lifetime cap; omit for no daily cap.
    #[serde(default)]
    pub daily_cap_minor: Option<i64>,
    /// ISO 4217 currency code, e.g. "EUR"; default the `default_currency` setting (USD).
    #[serde(default)]
    pub currency: Option<String>,
    /// A key unique to this request (e.g. a UUID); retrying with the same key creates nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A created campaign.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedCampaign {
    pub campaign: Campaign,
    /// False when `request_id` had been used before; this is the first campaign created with it.
    pub created: bool,
}

/// A campaign to launch.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LaunchCampaignParams {
    /// The campaign, e.g. `cmp_000012`; a draft or paused campaign.
    pub campaign_id: String,
    /// Spend to reserve under the caps for the first day, minor units; default the daily cap;
    /// 0 launches without reserving.
    #[serde(default)]
    pub reserve_minor: Option<i64>,
    /// The day the reserved money is for, YYYY-MM-DD; default today (or the start day, if later).
    #[serde(default)]
    pub reserve_date: Option<String>,
    /// A key unique to this request; retrying with the same key reserves nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The result of a launch.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Launched {
    pub campaign: Campaign,
    pub previous_status: String,
    /// False when the campaign was already active (nothing changed but a reservation, if any).
    pub changed: bool,
    /// The spend reserved under the caps, with the headroom left; none when nothing was reserved.
    pub reservation: Option<guard::budget::Reservation>,
}

/// A status change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusChange {
    pub campaign_id: String,
    pub previous_status: String,
    pub status: String,
    /// False when the campaign was already in that status; nothing changed.
    pub changed: bool,
    /// Open reservations given back to the caps (pausing releases them; committed spend stays).
    pub released_minor: i64,
    pub currency: String,
}

/// Spend to record against a campaign's caps.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RecordSpendParams {
    /// The campaign that spent, e.g. `cmp_000012`.
    pub campaign_id: String,
    /// The amount in minor units (cents), e.g. 125000 for $1,250.00. Positive for new spend; against a
    /// reservation, 0 up to the amount reserved (the rest is released).
    pub amount_minor: i64,
    /// The day the money was spent, YYYY-MM-DD; default today (UTC). Against a reservation, the
    /// reservation's day.
    #[serde(default)]
    pub spend_date: Option<String>,
    /// Commit against this open reservation (from launch_campaign), e.g. `bud_k3v9x2m4q8zt`.
    #[serde(default)]
    pub reservation_id: Option<String>,
    /// A key unique to this request (e.g. the ad platform's invoice line id); retrying with the
    /// same key never spends twice. Against a reservation the reservation itself is the key.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// Spend committed under the caps.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecordedSpend {
    /// The reservation the spend was committed through.
    pub reservation_id: String,
    pub campaign_id: String,
    /// What this call committed, minor units.
    pub amount_minor: i64,
    pub currency: String,
    pub spend_date: String,
    /// False when this request had been recorded before; nothing new was spent.
    pub created: bool,
    /// What went back to the caps from the reservation, minor units.
    pub released_minor: i64,
    /// Lifetime cap minus what is committed and reserved now, minor units.
    pub lifetime_headroom_minor: i64,
    /// Daily cap minus what is held that day; none without a daily cap.
    pub daily_headroom_minor: Option<i64>,
    /// The organisation's monthly cap minus what is held that month; none without one.
    pub monthly_headroom_minor: Option<i64>,
    /// The campaign's committed spend to date, minor units.
    pub campaign_committed_minor: i64,
}

/// New caps for a campaign.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetBudgetParams {
    /// The campaign, e.g. `cmp_000012`.
    pub campaign_id: String,
    /// The new lifetime cap, minor units; omit to keep it.
    #[serde(default)]
    pub lifetime_cap_minor: Option<i64>,
    /// The new daily cap, minor units; omit to keep it.
    #[serde(default)]
    pub daily_cap_minor: Option<i64>,
    /// True to remove the daily cap (counts as raising it).
    #[serde(default)]
    pub remove_daily_cap: Option<bool>,
}

/// A change of caps.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BudgetChange {
    pub campaign_id: String,
    pub currency: String,
    pub old_lifetime_cap_minor: i64,
    pub new_lifetime_cap_minor: i64,
    pub old_daily_cap_minor: Option<i64>,
    pub new_daily_cap_minor: Option<i64>,
    pub committed_minor: i64,
    /// Open reservations, minor units.
    pub reserved_minor: i64,
    /// Lifetime cap minus committed and reserved, before and after.
    pub old_headroom_minor: i64,
    pub new_headroom_minor: i64,
    /// True when a cap went up (needs the admin role and a confirmation).
    pub raised: bool,
    /// False when the caps were already these; nothing changed.
    pub changed: bool,
    pub summary: String,
}

#[tool_router(router = campaign_router, vis = "pub(crate)")]
impl MarketingServer {
    #[tool(
        description = "List campaigns with their caps and what they have spent, touched and produced: lifetime \
            and daily budget caps, committed spend and remaining budget (minor units), touches, leads. Filter by \
            channel, status, a piece of the name, or the day they run; leaving a filter out means any. Paged \
            (default 25). Example: {\"channel\": \"paid_search\", \"status\": \"active\", \"active_on\": \"2026-11-20\"}.",
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
            channel: optional_choice("channel", params.channel.as_deref(), &CHANNELS)?,
            status: optional_choice("status", params.status.as_deref(), &CAMPAIGN_STATUSES)?,
            name_contains: optional_text("name_contains", params.name_contains.as_deref(), 100)?,
            active_on: params
                .active_on
                .as_deref()
                .map(|d| date_arg("active_on", d))
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
        description = "Create a campaign as a draft: name, channel, audience, start and end days, lifetime cap and \
            optional daily cap (minor units, e.g. cents), currency (default the default_currency setting). Nothing \
            is spent until it is launched. Give request_id so that retrying never creates two. \
            Example: {\"name\": \"Q1 pipeline push\", \"channel\": \"paid_search\", \"starts_on\": \"2027-01-04\", \
            \"ends_on\": \"2027-03-31\", \"lifetime_cap_minor\": 5000000, \"daily_cap_minor\": 100000, \
            \"request_id\": \"6f1c2d\"}.",
        annotations(
            title = "Create campaign",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn create_campaign(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CreateCampaignParams>,
    ) -> Result<Json<CreatedCampaign>, ToolError> {
        let name = name_arg(&params.name)?;
        let channel = choice_arg("channel", &params.channel, &CHANNELS)?;
        let audience = optional_text("audience", params.audience.as_deref(), 200)?;
        let starts_on = date_arg("starts_on", &params.starts_on)?;
        let ends_on = params
            .ends_on
            .as_deref()
            .map(|d| date_arg("ends_on", d))
            .transpose()?;
        if let Some(end) = &ends_on
            && *end < starts_on
        {
            return Err(ToolError::invalid(
                "ends_on",
                format!(
                    "{end} is before starts_on {starts_on}; a campaign ends on or after the day it starts"
                ),
            ));
        }
        let lifetime = amount_arg("lifetime_cap_minor", params.lifetime_cap_minor)?;
        let daily = params
            .daily_cap_minor
            .map(|d| amount_arg("daily_cap_minor", d))
            .transpose()?;
        if let Some(daily) = daily
            && daily > lifetime
        {
            return Err(ToolError::invalid(
                "daily_cap_minor",
                format!(
                    "{daily} is above the lifetime cap {lifetime}; a day cannot spend more than the whole campaign"
                ),
            ));
        }
        let request_id = request_id_arg(params.request_id.as_deref())?;
        let mut tx = scope.transaction().await?;
        let currency = match params.currency.as_deref() {
            Some(code) => crate::ops_tools::currency_arg("currency", code)?,
            None => crate::ops_tools::default_currency_in(&mut tx).await?,
        };
        let (campaign, created) = store::campaigns::create(
            &mut tx,
            &store::campaigns::NewCampaign {
                name,
                channel,
                audience,
                starts_on,
                ends_on,
                budget_lifetime_minor: lifetime,
                budget_daily_minor: daily,
                currency,
            },
            request_id.as_deref(),
        )
        .await?;
        Ok(Json(CreatedCampaign { campaign, created }))
    }

    #[tool(
        description = "Launch a draft or paused campaign: it becomes active and its first spend is reserved under \
            its lifetime, daily and the organisation's monthly caps (reserve_minor, default the daily cap; 0 reserves \
            nothing). A reservation over any cap is refused with the headroom left and nothing changes. Commit the \
            reservation later with record_spend and reservation_id. Refused for a completed campaign or one whose \
            end day has passed. Give request_id so that retrying reserves once. \
            Example: {\"campaign_id\": \"cmp_000012\", \"reserve_minor\": 50000, \"request_id\": \"launch-q1\"}.",
        annotations(
            title = "Launch campaign",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn launch_campaign(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<LaunchCampaignParams>,
    ) -> Result<Json<Launched>, ToolError> {
        let id = id_arg("campaign_id", "cmp", &params.campaign_id)?;
        let reserve_minor = params
            .reserve_minor
            .map(|a| amount_arg("reserve_minor", a))
            .transpose()?;
        let reserve_date = params
            .reserve_date
            .as_deref()
            .map(|d| date_arg("reserve_date", d))
            .transpose()?;
        let key = request_id_arg(params.request_id.as_deref())?
            .map(|k| format!("{LAUNCH_KEY_PREFIX}{k}"));
        let backend = scope.store.backend();
        let caps = self.runtime.gates().organisation_caps;
        let today = today();
        let mut tx = scope.transaction().await?;
        guard::budget::lock(&mut tx, backend)
            .await
            .map_err(refusal)?;
        let campaign = store::campaigns::get_in(&mut tx, &id).await?;
        let previous_status = campaign.status.clone();
        if previous_status == "completed" {
            return Err(ToolError::Conflict(format!(
                "campaign {id} is completed; it cannot be launched again (create a new campaign)"
            )));
        }
        if let Some(end) = &campaign.ends_on
            && *end < today
        {
            return Err(ToolError::Conflict(format!(
                "campaign {id} ended on {end}; it cannot be launched after its end day"
            )));
        }
        let day = match reserve_date {
            Some(day) => day,
            None if campaign.starts_on > today => campaign.starts_on.clone(),
            None => today.clone(),
        };
        check_in_window(&campaign, "reserve_date", &day)?;
        let already_active = previous_status == "active";
        let retried = match &key {
            Some(key) => guard::budget::reservation_by_key(&mut tx, key)
                .await
                .map_err(refusal)?
                .is_some(),
            None => false,
        };
        // An active campaign reserves only when asked to (or when this is a retry of the
        // launch that reserved); launching it again changes nothing.
        let amount = match (reserve_minor, campaign.budget_daily_minor) {
            (Some(amount), _) => amount,
            (None, _) if already_active && !retried => 0,
            (None, Some(daily)) => daily,
            (None, None) => {
                return Err(ToolError::invalid(
                    "reserve_minor",
                    format!(
                        "is needed: campaign {id} has no daily cap to reserve by default; give the first spend in \
                         minor units, or 0 to launch without reserving"
                    ),
                ));
            }
        };
        if !already_active {
            store::campaigns::set_status(&mut tx, &id, "active").await?;
        }
        let reservation = if amount > 0 {
            let request = guard::budget::SpendRequest {
                campaign_id: &id,
                amount_minor: amount,
                spend_date: &day,
                request_key: key.as_deref(),
                actor: &scope.actor.name,
            };
            Some(
                guard::budget::reserve(&mut tx, backend, caps, &request)
                    .await
                    .map_err(refusal)?,
            )
        } else {
            None
        };
        let campaign = store::campaigns::get_in(&mut tx, &id).await?;
        Ok(Json(Launched {
            campaign,
            previous_status,
            changed: !already_active,
            reservation,
        }))
    }

    #[tool(
        description = "Pause an active campaign: it stops spending and its open reservations go back to the caps; \
            committed spend stays. Pausing a paused campaign changes nothing. Example: {\"campaign_id\": \"cmp_000012\"}.",
        annotations(
            title = "Pause campaign",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn pause_campaign(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CampaignRef>,
    ) -> Result<Json<StatusChange>, ToolError> {
        let id = id_arg("campaign_id", "cmp", &params.campaign_id)?;
        let backend = scope.store.backend();
        let mut tx = scope.transaction().await?;
        guard::budget::lock(&mut tx, backend)
            .await
            .map_err(refusal)?;
        let campaign = store::campaigns::get_in(&mut tx, &id).await?;
        let mut change = StatusChange {
            campaign_id: id.clone(),
            previous_status: campaign.status.clone(),
            status: campaign.status.clone(),
            changed: false,
            released_minor: 0,
            currency: campaign.currency.clone(),
        };
        match campaign.status.as_str() {
            "paused" => return Ok(Json(change)),
            "draft" => {
                return Err(ToolError::Conflict(format!(
                    "campaign {id} is a draft and has never run; there is nothing to pause"
                )));
            }
            "completed" => {
                return Err(ToolError::Conflict(format!(
                    "campaign {id} is completed; there is nothing to pause"
                )));
            }
            _ => {}
        }
        store::campaigns::set_status(&mut tx, &id, "paused").await?;
        change.released_minor =
            guard::budget::release_open(&mut tx, backend, &id, &scope.actor.name)
                .await
                .map_err(refusal)?;
        change.status = "paused".into();
        change.changed = true;
        Ok(Json(change))
    }

    #[tool(
        description = "Resume a paused campaign: it becomes active again (refused once its end day has passed, and for \
            drafts, which are launched, and completed campaigns). Resuming an active campaign changes nothing. \
            Example: {\"campaign_id\": \"cmp_000012\"}.",
        annotations(
            title = "Resume campaign",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn resume_campaign(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CampaignRef>,
    ) -> Result<Json<StatusChange>, ToolError> {
        let id = id_arg("campaign_id", "cmp", &params.campaign_id)?;
        let mut tx = scope.transaction().await?;
        let campaign = store::campaigns::get_in(&mut tx, &id).await?;
        let mut change = StatusChange {
            campaign_id: id.clone(),
            previous_status: campaign.status.clone(),
            status: campaign.status.clone(),
            changed: false,
            released_minor: 0,
            currency: campaign.currency.clone(),
        };
        match campaign.status.as_str() {
            "active" => return Ok(Json(change)),
            "draft" => {
                return Err(ToolError::Conflict(format!(
                    "campaign {id} is a draft; launch it with launch_campaign instead"
                )));
            }
            "completed" => {
                return Err(ToolError::Conflict(format!(
                    "campaign {id} is completed; a completed campaign cannot be resumed (create a new one)"
                )));
            }
            _ => {}
        }
        if let Some(end) = &campaign.ends_on
            && *end < today()
        {
            return Err(ToolError::Conflict(format!(
                "campaign {id} ended on {end}; it cannot be resumed after its end day"
            )));
        }
        store::campaigns::set_status(&mut tx, &id, "active").await?;
        change.status = "active".into();
        change.changed = true;
        Ok(Json(change))
    }

    #[tool(
        description = "Record money a campaign spent, under its budget caps: the campaign's lifetime cap, its daily \
            cap and the organisation's monthly cap. A request that would exceed any cap is refused with the headroom \
            left, and nothing is recorded. The day must lie in the campaign's window; a paused campaign may still record \
            spend it incurred, a draft or completed one may not. With reservation_id, commits against a launch's \
            reservation: up to the amount reserved, the rest goes back to the caps. Give request_id (e.g. the invoice line) so that retrying \
            never spends twice. Amounts in minor units (cents). Example: {\"campaign_id\": \"cmp_000012\", \
            \"amount_minor\": 125000, \"spend_date\": \"2026-11-20\", \"request_id\": \"inv-8841-3\"}.",
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
        let amount = amount_arg("amount_minor", params.amount_minor)?;
        let spend_date = params
            .spend_date
            .as_deref()
            .map(|d| date_arg("spend_date", d))
            .transpose()?;
        let reservation_id = params
            .reservation_id
            .as_deref()
            .map(|r| id_arg("reservation_id", "bud", r))
            .transpose()?;
        let request_id = request_id_arg(params.request_id.as_deref())?;
        if request_id
            .as_deref()
            .is_some_and(|k| k.starts_with(LAUNCH_KEY_PREFIX))
        {
            return Err(ToolError::invalid(
                "request_id",
                format!("must not start with {LAUNCH_KEY_PREFIX:?} (kept for launch_campaign)"),
            ));
        }
        let backend = scope.store.backend();
        let caps = self.runtime.gates().organisation_caps;
        let mut tx = scope.transaction().await?;
        if let Some(reservation_id) = reservation_id {
            guard::budget::lock(&mut tx, backend)
                .await
                .map_err(refusal)?;
            let state = guard::budget::reservation(&mut tx, &reservation_id)
                .await
                .map_err(refusal)?
                .ok_or_else(|| {
                    ToolError::NotFound(format!(
                        "no reservation has id {reservation_id:?}; launch_campaign answers with the reservation_id"
                    ))
                })?;
            if state.campaign_id != campaign_id {
                return Err(ToolError::invalid(
                    "reservation_id",
                    format!(
                        "{reservation_id} belongs to campaign {}, not {campaign_id}",
                        state.campaign_id
                    ),
                ));
            }
            if let Some(day) = &spend_date
                && *day != state.spend_date
            {
                return Err(ToolError::invalid(
                    "spend_date",
                    format!(
                        "is {day} but the reservation is for {}; omit spend_date",
                        state.spend_date
                    ),
                ));
            }
            let campaign = store::campaigns::get_in(&mut tx, &campaign_id).await?;
            let (closing, created) = match state.closing {
                // A retry of the commit that closed it: the same answer, nothing new.
                Some(closing) if closing.committed_minor == amount => (closing, false),
                Some(closing) => {
                    return Err(ToolError::Conflict(format!(
                        "reservation {reservation_id} is already closed: {} committed and {} released; record more as new spend",
                        money(closing.committed_minor, &campaign.currency),
                        money(closing.released_minor, &campaign.currency)
                    )));
                }
                None if amount > state.amount_minor => {
                    return Err(ToolError::Conflict(format!(
                        "reservation {reservation_id} holds {}; commit at most that against it and record the rest as \
                         new spend (without reservation_id)",
                        money(state.amount_minor, &campaign.currency)
                    )));
                }
                None => (
                    guard::budget::close(&mut tx, &reservation_id, Some(amount), &scope.actor.name)
                        .await
                        .map_err(refusal)?,
                    true,
                ),
            };
            let headroom =
                guard::budget::headroom(&mut tx, caps, &campaign_id, &closing.spend_date)
                    .await
                    .map_err(refusal)?;
            let position = guard::budget::position(&mut tx, &campaign_id, &closing.spend_date)
                .await
                .map_err(refusal)?;
            return Ok(Json(RecordedSpend {
                reservation_id,
                campaign_id,
                amount_minor: closing.committed_minor,
                currency: campaign.currency,
                spend_date: closing.spend_date,
                created,
                released_minor: closing.released_minor,
                lifetime_headroom_minor: headroom.lifetime_headroom_minor,
                daily_headroom_minor: headroom.daily_headroom_minor,
                monthly_headroom_minor: headroom.monthly_headroom_minor,
                campaign_committed_minor: position.committed_minor,
            }));
        }

        if amount == 0 {
            return Err(ToolError::invalid(
                "amount_minor",
                "is 0; new spend must be positive (0 is only for closing a reservation with reservation_id)",
            ));
        }
        let campaign = store::campaigns::get_in(&mut tx, &campaign_id).await?;
        let spend_date = spend_date.unwrap_or_else(today);
        check_in_window(&campaign, "spend_date", &spend_date)?;
        let request = guard::budget::SpendRequest {
            campaign_id: &campaign_id,
            amount_minor: amount,
            spend_date: &spend_date,
            request_key: request_id.as_deref(),
            actor: &scope.actor.name,
        };
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
        let position = guard::budget::position(&mut tx, &campaign_id, &spend_date)
            .await
            .map_err(refusal)?;
        Ok(Json(RecordedSpend {
            reservation_id: reservation.reservation_id,
            campaign_id,
            amount_minor: reservation.amount_minor,
            currency: reservation.currency,
            spend_date: reservation.spend_date,
            created: reservation.created,
            released_minor: 0,
            lifetime_headroom_minor: reservation.lifetime_headroom_minor,
            daily_headroom_minor: reservation.daily_headroom_minor,
            monthly_headroom_minor: reservation.monthly_headroom_minor,
            campaign_committed_minor: position.committed_minor,
        }))
    }

    #[tool(
        description = "Change a campaign's lifetime and/or daily budget cap (minor units). Lowering a cap is an \
            ordinary change for rep and above, refused when the new cap is below what is already committed and \
            reserved (the answer gives the figures). Raising any cap (or removing the daily cap) needs the admin role \
            and a confirmation: the first call answers with a preview (old and new caps, headroom before and after) \
            and a confirm_token; call again with the same arguments and the token to apply it. \
            Example: {\"campaign_id\": \"cmp_000012\", \"lifetime_cap_minor\": 800000}.",
        annotations(
            title = "Set campaign budget",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        meta = mcp_runtime::gates::conditional_gate_meta()
    )]
    async fn set_campaign_budget(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<SetBudgetParams>,
    ) -> Result<Json<Gated<BudgetChange>>, ToolError> {
        let id = id_arg("campaign_id", "cmp", &params.campaign_id)?;
        let remove_daily = params.remove_daily_cap.unwrap_or(false);
        if params.lifetime_cap_minor.is_none() && params.daily_cap_minor.is_none() && !remove_daily
        {
            return Err(ToolError::invalid(
                "lifetime_cap_minor",
                "is missing; give lifetime_cap_minor, daily_cap_minor or remove_daily_cap",
            ));
        }
        if remove_daily && params.daily_cap_minor.is_some() {
            return Err(ToolError::invalid(
                "remove_daily_cap",
                "cannot be true together with daily_cap_minor; give one of them",
            ));
        }
        let lifetime = params
            .lifetime_cap_minor
            .map(|a| amount_arg("lifetime_cap_minor", a))
            .transpose()?;
        let daily = params
            .daily_cap_minor
            .map(|a| amount_arg("daily_cap_minor", a))
            .transpose()?;
        let backend = scope.store.backend();
        let today = today();
        let mut tx = scope.transaction().await?;
        guard::budget::lock(&mut tx, backend)
            .await
            .map_err(refusal)?;
        let campaign = store::campaigns::get_in(&mut tx, &id).await?;
        let currency = campaign.currency.clone();
        if campaign.status == "completed" {
            return Err(ToolError::Conflict(format!(
                "campaign {id} is completed; its caps no longer change"
            )));
        }
        let old_lifetime = campaign.budget_lifetime_minor;
        let old_daily = campaign.budget_daily_minor;
        let new_lifetime = lifetime.unwrap_or(old_lifetime);
        let new_daily = if remove_daily {
            None
        } else {
            daily.or(old_daily)
        };
        let position = guard::budget::position(&mut tx, &id, &today)
            .await
            .map_err(refusal)?;
        let held = position.committed_minor + position.reserved_minor;
        if new_lifetime < held {
            return Err(ToolError::Conflict(format!(
                "a lifetime cap of {} is below what campaign {id} already holds: {} committed and {} reserved; the \
                 lowest lifetime cap possible is {}",
                money(new_lifetime, &currency),
                money(position.committed_minor, &currency),
                money(position.reserved_minor, &currency),
                money(held, &currency)
            )));
        }
        if let Some(d) = new_daily
            && d < position.peak_daily_held_minor
        {
            return Err(ToolError::Conflict(format!(
                "a daily cap of {} is below the {} campaign {id} already holds on one day from {today} on; the lowest \
                 daily cap possible is {}",
                money(d, &currency),
                money(position.peak_daily_held_minor, &currency),
                money(position.peak_daily_held_minor, &currency)
            )));
        }
        if let Some(d) = new_daily
            && d > new_lifetime
        {
            return Err(ToolError::invalid(
                "daily_cap_minor",
                format!(
                    "a daily cap of {} would be above the lifetime cap of {}",
                    money(d, &currency),
                    money(new_lifetime, &currency)
                ),
            ));
        }
        let lifetime_raised = new_lifetime > old_lifetime;
        let daily_raised = match (old_daily, new_daily) {
            (Some(old), Some(new)) => new > old,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let raised = lifetime_raised || daily_raised;
        let changed = new_lifetime != old_lifetime || new_daily != old_daily;
        let caps_text = |lifetime: i64, daily: Option<i64>| {
            format!(
                "lifetime {}, daily {}",
                money(lifetime, &currency),
                daily.map_or_else(|| "none".to_string(), |d| money(d, &currency))
            )
        };
        let summary = if changed {
            format!(
                "campaign {id} caps from {} to {}; headroom {} -> {}",
                caps_text(old_lifetime, old_daily),
                caps_text(new_lifetime, new_daily),
                money((old_lifetime - held).max(0), &currency),
                money(new_lifetime - held, &currency)
            )
        } else {
            format!(
                "campaign {id} already has {}; nothing changed",
                caps_text(old_lifetime, old_daily)
            )
        };
        let change = BudgetChange {
            campaign_id: id.clone(),
            currency: currency.clone(),
            old_lifetime_cap_minor: old_lifetime,
            new_lifetime_cap_minor: new_lifetime,
            old_daily_cap_minor: old_daily,
            new_daily_cap_minor: new_daily,
            committed_minor: position.committed_minor,
            reserved_minor: position.reserved_minor,
            old_headroom_minor: (old_lifetime - held).max(0),
            new_headroom_minor: new_lifetime - held,
            raised,
            changed,
            summary: summary.clone(),
        };
        if !changed {
            return Ok(Json(Gated::done(change)));
        }
        if raised {
            if scope.actor.role < Role::Admin {
                return Err(ToolError::Forbidden(format!(
                    "raising a budget cap needs the admin role; you act as {}. Lowering a cap is allowed from rep up; \
                     ask an admin to raise it",
                    scope.actor.role
                )));
            }
            scope.require_confirmation(format!("Raise the budget: {summary}"));
        }
        store::campaigns::set_caps(&mut tx, &id, new_lifetime, new_daily).await?;
        Ok(Json(Gated::done(change)))
    }

    #[tool(
        description = "Delete a campaign for good, with its budget ledger and touches; its leads stay but lose this \
            campaign as their source. The first call changes nothing: it answers with a preview (committed spend and \
            open reservations, touches by type, and the leads that would lose attribution, with a sample) and a \
            confirm_token; call again with the same arguments and that token to delete. \
            Example: {\"campaign_id\": \"cmp_000012\"}.",
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
        let backend = scope.store.backend();
        let mut tx = scope.transaction().await?;
        // No spend may land on the campaign between the count and the delete.
        guard::budget::lock(&mut tx, backend)
            .await
            .map_err(refusal)?;
        let deletion = store::campaigns::delete(&mut tx, &id).await?;
        Ok(Json(Gated::done(deletion)))
    }
}

/// A campaign name: 1-120 characters, no control characters at all (a name is one line).
fn name_arg(value: &str) -> Result<String, ToolError> {
    let name = mcp_runtime::errors::required_text("name", value, 120)?;
    if name.contains(['\n', '\t']) {
        return Err(ToolError::invalid(
            "name",
            "contains a line break or tab; a campaign name is one line",
        ));
    }
    Ok(name)
}

/// An optional request key: 1-100 characters of text.
fn request_id_arg(value: Option<&str>) -> Result<Option<String>, ToolError> {
    match value {
        Some(key) => {
            let key = text_arg("request_id", key, 100)?;
            if key.is_empty() {
                return Err(ToolError::invalid(
                    "request_id",
                    "is empty; omit it or give a key unique to this request",
                ));
            }
            Ok(Some(key))
        }
        None => Ok(None),
    }
}

/// Refuses a day outside the campaign's window (before it starts or after it ends).
fn check_in_window(campaign: &Campaign, field: &'static str, day: &str) -> Result<(), ToolError> {
    if day < campaign.starts_on.as_str() {
        return Err(ToolError::invalid(
            field,
            format!(
                "{day} is before campaign {} starts ({})",
                campaign.id, campaign.starts_on
            ),
        ));
    }
    if let Some(end) = &campaign.ends_on
        && day > end.as_str()
    {
        return Err(ToolError::invalid(
            field,
            format!("{day} is after campaign {} ends ({end})", campaign.id),
        ));
    }
    Ok(())
}
