//! Marketing analytics: `campaign_performance`, `funnel_analysis`, `attribution_report`,
//! `get_conversion_insights`, `lead_source_performance`.
//!
//! Every figure is aggregated in the database or in one streaming pass (never a query per
//! row). Money is integer minor units with its currency; ratios (CPL, CAC, ROAS, conversion
//! rates) are decimals, null where the denominator is zero. The funnel has no MQL or SQL
//! timestamps, so times between those stages are null with a note rather than invented.

use std::collections::{BTreeMap, HashMap};

use mcp_runtime::errors::{choice_arg, date_arg, id_arg, optional_text};
use mcp_runtime::{CallScope, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use scoring::ModelRef;
use scoring::attribution::{AttributionModel, Attributor};
use scoring::conversion::{ConversionModel, ConversionPrediction, TrialFacts};
use serde::{Deserialize, Serialize};

use crate::{CHANNELS, MarketingServer};

/// The settings key of the default time-decay half-life, in days.
pub(crate) const HALF_LIFE_SETTING: &str = "attribution_half_life_days";
/// The half-life used when the setting is absent.
pub(crate) const DEFAULT_HALF_LIFE_DAYS: f64 = 7.0;

/// A period of whole days, both ends inclusive, checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Period {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
}

impl Period {
    /// Checks `from` and `to` (YYYY-MM-DD; `to` not before `from`).
    pub(crate) fn parse(from: Option<&str>, to: Option<&str>) -> ToolResult<Period> {
        let from = from
            .filter(|s| !s.trim().is_empty())
            .map(|d| date_arg("from", d))
            .transpose()?;
        let to = to
            .filter(|s| !s.trim().is_empty())
            .map(|d| date_arg("to", d))
            .transpose()?;
        if let (Some(from), Some(to)) = (&from, &to)
            && to < from
        {
            return Err(ToolError::invalid(
                "to",
                format!("is {to}, before from ({from}); the period must end on or after its start"),
            ));
        }
        Ok(Period { from, to })
    }

    /// The first instant of the period.
    pub(crate) fn start_stamp(&self) -> Option<String> {
        self.from.as_ref().map(|d| format!("{d}T00:00:00.000000Z"))
    }

    /// The first instant after the period.
    pub(crate) fn end_stamp(&self) -> Option<String> {
        self.to.as_ref().and_then(|d| {
            store::clock::parse_date(d)
                .and_then(|d| d.succ_opt())
                .map(|d| format!("{}T00:00:00.000000Z", store::clock::format_date(d)))
        })
    }

    fn describe(&self) -> PeriodOut {
        PeriodOut {
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }
}

/// The period a report covers; null ends are open.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PeriodOut {
    /// First day (inclusive).
    pub from: Option<String>,
    /// Last day (inclusive).
    pub to: Option<String>,
}

/// A ratio rounded to 4 decimals; null when dividing by zero.
fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator != 0)
        .then(|| (numerator as f64 / denominator as f64 * 10_000.0).round() / 10_000.0)
}

/// Money per unit, in minor units to 2 decimals; null when dividing by zero.
fn per(minor: i64, count: i64) -> Option<f64> {
    (count != 0).then(|| (minor as f64 / count as f64 * 100.0).round() / 100.0)
}

/// The one currency revenue is reported in; refuses when won deals mix currencies.
async fn revenue_currency(store: &store::Store) -> ToolResult<String> {
    let currencies = store::funnel::won_currencies(store).await?;
    match currencies.as_slice() {
        [] => Ok("USD".into()),
        [one] => Ok(one.clone()),
        many => Err(ToolError::Conflict(format!(
            "won deals are in several currencies ({}); this report adds revenue in one currency only",
            many.join(", ")
        ))),
    }
}

// ---------------------------------------------------------------- campaign_performance

/// Which campaigns' performance to report.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CampaignPerformanceParams {
    /// One campaign, e.g. `cmp_000012`.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// Every campaign of one channel: paid_search, paid_social, email, events, content, webinar or partner.
    #[serde(default)]
    pub channel: Option<String>,
    /// First day of the period, YYYY-MM-DD (spend dated and leads created from then on).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day of the period, YYYY-MM-DD, inclusive.
    #[serde(default)]
    pub to: Option<String>,
}

/// Spend, reach, funnel and return of one campaign, or of a total.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Performance {
    /// The campaign; null on the total.
    pub campaign_id: Option<String>,
    pub name: String,
    /// The channel; null on a total across channels.
    pub channel: Option<String>,
    /// Committed spend in the period, minor units.
    pub spend_minor: i64,
    /// Lifetime impressions reported by the ad platform (not split by period); 0 where unknown.
    pub impressions: i64,
    /// Lifetime clicks reported by the ad platform; 0 where unknown.
    pub clicks: i64,
    /// Leads the campaign brought in during the period.
    pub leads: i64,
    pub mqls: i64,
    pub sqls: i64,
    pub opportunities: i64,
    /// Those leads that became customers (a won deal).
    pub won_customers: i64,
    /// Their won deals' amounts, minor units.
    pub won_revenue_minor: i64,
    /// Spend per lead, minor units; null without leads.
    pub cost_per_lead_minor: Option<f64>,
    /// Spend per SQL, minor units; null without SQLs.
    pub cost_per_sql_minor: Option<f64>,
    /// Customer acquisition cost: spend per won customer, minor units; null without one.
    pub cac_minor: Option<f64>,
    /// Return on ad spend: won revenue / spend; null without spend.
    pub roas: Option<f64>,
}

impl Performance {
    fn add(&mut self, f: &store::funnel::CampaignFigures) {
        self.spend_minor += f.spend_minor;
        self.impressions += f.impressions;
        self.clicks += f.clicks;
        self.leads += f.counts.leads;
        self.mqls += f.counts.mql;
        self.sqls += f.counts.sql;
        self.opportunities += f.counts.opportunities;
        self.won_customers += f.counts.won;
        self.won_revenue_minor += f.counts.won_revenue_minor;
    }

    fn finish(mut self) -> Performance {
        self.cost_per_lead_minor = per(self.spend_minor, self.leads);
        self.cost_per_sql_minor = per(self.spend_minor, self.sqls);
        self.cac_minor = per(self.spend_minor, self.won_customers);
        self.roas = ratio(self.won_revenue_minor, self.spend_minor);
        self
    }
}

/// Campaign performance over a period.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CampaignPerformanceReport {
    pub period: PeriodOut,
    /// The currency of every amount.
    pub currency: String,
    /// One row per campaign, in id order.
    pub campaigns: Vec<Performance>,
    /// The channel totals, when more than one campaign is reported.
    pub channels: Vec<Performance>,
    /// Everything reported, added up.
    pub total: Performance,
    pub notes: Vec<String>,
}

// ---------------------------------------------------------------- funnel_analysis

/// How to cut the funnel.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct FunnelParams {
    /// Group by source, channel (of the lead's campaign), campaign, month (of lead creation) or none (default).
    #[serde(default)]
    pub group_by: Option<String>,
    /// Only leads created from this day, YYYY-MM-DD.
    #[serde(default)]
    pub from: Option<String>,
    /// Only leads created up to this day, YYYY-MM-DD, inclusive.
    #[serde(default)]
    pub to: Option<String>,
    /// Only leads from this source, e.g. web, paid_search, referral, event.
    #[serde(default)]
    pub source: Option<String>,
    /// Only leads whose campaign is of this channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Only leads of this campaign, e.g. `cmp_000012`.
    #[serde(default)]
    pub campaign_id: Option<String>,
}

/// Stage counts of one group.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StageCountsOut {
    pub leads: i64,
    pub mqls: i64,
    pub sqls: i64,
    pub opportunities: i64,
    pub won: i64,
    /// Won deals' amounts, minor units.
    pub won_revenue_minor: i64,
}

/// Conversion from each stage to the next (0-1), null where the earlier stage is empty.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StageRates {
    pub lead_to_mql: Option<f64>,
    pub mql_to_sql: Option<f64>,
    pub sql_to_opportunity: Option<f64>,
    pub opportunity_to_won: Option<f64>,
    /// Leads that were won, end to end.
    pub lead_to_won: Option<f64>,
}

/// Median days between stages; null where the store has no timestamps (see notes) or no
/// lead made the step.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StageDays {
    /// Always null: no MQL timestamps are kept.
    pub lead_to_mql: Option<f64>,
    /// Always null: no MQL or SQL timestamps are kept.
    pub mql_to_sql: Option<f64>,
    /// Always null: no SQL timestamps are kept.
    pub sql_to_opportunity: Option<f64>,
    /// Lead created to its first opportunity created.
    pub lead_to_opportunity: Option<f64>,
    /// Won opportunity created to closed.
    pub opportunity_to_won: Option<f64>,
    /// Lead created to its deal won.
    pub lead_to_won: Option<f64>,
}

/// One group of the funnel.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FunnelGroupOut {
    /// The group's value (a source, channel, campaign id or YYYY-MM); "(none)" for leads
    /// without one (e.g. no campaign); "all" when not grouped.
    pub group: String,
    /// The campaign's name, when grouped by campaign.
    pub name: Option<String>,
    pub counts: StageCountsOut,
    pub conversion: StageRates,
    pub median_days: StageDays,
}

/// The funnel.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FunnelReport {
    pub group_by: String,
    pub period: PeriodOut,
    /// The currency of revenue.
    pub currency: String,
    pub groups: Vec<FunnelGroupOut>,
    /// How stages are counted and which times are unknown.
    pub notes: Vec<String>,
}

fn counts_out(c: &store::funnel::StageCounts) -> StageCountsOut {
    StageCountsOut {
        leads: c.leads,
        mqls: c.mql,
        sqls: c.sql,
        opportunities: c.opportunities,
        won: c.won,
        won_revenue_minor: c.won_revenue_minor,
    }
}

fn rates(c: &store::funnel::StageCounts) -> StageRates {
    StageRates {
        lead_to_mql: ratio(c.mql, c.leads),
        mql_to_sql: ratio(c.sql, c.mql),
        sql_to_opportunity: ratio(c.opportunities, c.sql),
        opportunity_to_won: ratio(c.won, c.opportunities),
        lead_to_won: ratio(c.won, c.leads),
    }
}

fn funnel_notes() -> Vec<String> {
    vec![
        "Stages count leads in them or past them: the store keeps a lead's current status, not when it \
         became an MQL or SQL, so mql counts mql, sql and converted leads; sql counts sql and converted; \
         a lead with an opportunity counts at every earlier stage; won counts leads with a won deal."
            .into(),
        "Median days lead_to_mql, mql_to_sql and sql_to_opportunity are null: there are no MQL or SQL \
         timestamps to measure them from. Times are given only where timestamps exist (lead created, \
         opportunity created, deal closed)."
            .into(),
    ]
}

// ---------------------------------------------------------------- attribution_report

/// What to attribute.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct AttributionParams {
    /// Models to run: first_touch, last_touch, linear, time_decay, position_based; default all five.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Time-decay half-life in days (above 0, at most 3650); default the marketing setting
    /// attribution_half_life_days, else 7.
    #[serde(default)]
    pub half_life_days: Option<f64>,
    /// Only deals closed from this day, YYYY-MM-DD.
    #[serde(default)]
    pub from: Option<String>,
    /// Only deals closed up to this day, YYYY-MM-DD, inclusive.
    #[serde(default)]
    pub to: Option<String>,
    /// List only campaigns and the channel of this channel (credits are still computed over
    /// every touch, so each deal's credits add up to its amount).
    #[serde(default)]
    pub channel: Option<String>,
    /// Also show this won deal's touches and each model's credit to each, e.g. `opp_000042`.
    #[serde(default)]
    pub opportunity_id: Option<String>,
}

/// Revenue credited to one campaign.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CampaignCredit {
    pub campaign_id: String,
    pub name: String,
    pub channel: String,
    pub credit_minor: i64,
    /// Won deals it touched before their close.
    pub deals_touched: i64,
}

/// Revenue credited to one channel.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChannelCredit {
    pub channel: String,
    pub credit_minor: i64,
}

/// One model's credits.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelCredits {
    pub model: AttributionModel,
    /// Revenue credited to campaigns: every touched deal's whole amount (equals
    /// attributed_revenue_minor, whatever the model).
    pub credited_minor: i64,
    /// Campaigns, most credit first.
    pub campaigns: Vec<CampaignCredit>,
    /// Channels, most credit first.
    pub channels: Vec<ChannelCredit>,
}

/// A touch of the deal shown in detail and its credit under each model.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TouchCredit {
    pub campaign_id: String,
    pub occurred_at: String,
    /// Credit under each model run, minor units.
    pub credits: BTreeMap<String, i64>,
}

/// One won deal's attribution, touch by touch.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DealAttribution {
    pub opportunity_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub touches: Vec<TouchCredit>,
}

/// Revenue credited to campaigns and channels by each model.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AttributionReport {
    pub period: PeriodOut,
    pub currency: String,
    /// The time-decay half-life used, in days.
    pub half_life_days: f64,
    /// Where the half-life came from: argument, setting or default.
    pub half_life_source: String,
    /// Won deals closed in the period.
    pub won_deals: i64,
    /// Those with at least one touch before the close.
    pub attributed_deals: i64,
    /// Their amounts: what every model credits, exactly.
    pub attributed_revenue_minor: i64,
    /// Won revenue with no touch before the close (credited to no campaign).
    pub unattributed_revenue_minor: i64,
    /// Touches read (before the close of a won deal).
    pub touches: i64,
    pub models: Vec<ModelCredits>,
    /// The deal asked for with opportunity_id.
    pub deal: Option<DealAttribution>,
}

// ---------------------------------------------------------------- conversion & sources

/// The trial account to assess.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConversionParams {
    /// A trial account's id, e.g. `acc_000042`.
    pub account_id: String,
}

/// A trial's conversion outlook.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConversionInsights {
    pub account_id: String,
    pub account_name: String,
    pub trial_started_at: String,
    pub trial_ends_at: String,
    pub days_left: i64,
    /// The facts the model read.
    pub facts: TrialFacts,
    #[serde(flatten)]
    pub prediction: ConversionPrediction,
    /// The probability by the active learnt version, explained feature by feature, when one
    /// is active (the prediction above is the rule-based v1's).
    pub learnt: mcp_runtime::learnt::LearntScore,
}

/// Which leads to compare sources over.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SourcePerformanceParams {
    /// Only leads created from this day, YYYY-MM-DD.
    #[serde(default)]
    pub from: Option<String>,
    /// Only leads created up to this day, YYYY-MM-DD, inclusive.
    #[serde(default)]
    pub to: Option<String>,
}

/// One lead source.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SourcePerformance {
    pub source: String,
    pub leads: i64,
    pub mqls: i64,
    pub sqls: i64,
    pub opportunities: i64,
    pub won: i64,
    pub won_revenue_minor: i64,
    /// Share of leads that became MQLs (0-1).
    pub mql_rate: Option<f64>,
    /// Share of leads won end to end (0-1).
    pub win_rate: Option<f64>,
    /// Won revenue per lead, minor units.
    pub revenue_per_lead_minor: Option<f64>,
    /// Share of all leads in the period that came from this source.
    pub share_of_leads: Option<f64>,
}

/// Lead sources compared.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SourcePerformanceReport {
    pub period: PeriodOut,
    pub currency: String,
    /// Most revenue first.
    pub sources: Vec<SourcePerformance>,
    pub notes: Vec<String>,
}

impl MarketingServer {
    /// The half-life to use: the argument, else the setting, else 7 days.
    async fn half_life(&self, argument: Option<f64>) -> ToolResult<(f64, &'static str)> {
        if let Some(days) = argument {
            let days = scoring::attribution::check_half_life(days)
                .map_err(|problem| ToolError::invalid("half_life_days", problem))?;
            return Ok((days, "argument"));
        }
        let stored = store::settings::get(self.runtime.store(), "marketing", HALF_LIFE_SETTING)
            .await?
            .and_then(|v| v.as_f64())
            .and_then(|d| scoring::attribution::check_half_life(d).ok());
        Ok(match stored {
            Some(days) => (days, "setting"),
            None => (DEFAULT_HALF_LIFE_DAYS, "default"),
        })
    }
}

fn channel_arg(value: Option<&str>) -> ToolResult<Option<String>> {
    value
        .filter(|c| !c.trim().is_empty())
        .map(|c| choice_arg("channel", c, &CHANNELS))
        .transpose()
}

#[tool_router(router = analytics_router, vis = "pub(crate)")]
impl MarketingServer {
    #[tool(
        description = "How a campaign or a channel performed over a period: committed spend, impressions and \
            clicks where the ad platform reported them, the leads it brought in and how far they got (MQLs, \
            SQLs, opportunities, won customers, won revenue), and cost per lead, cost per SQL, CAC and ROAS \
            (null where a denominator is zero). Money in minor units (cents). Leave both campaign_id and channel \
            out to compare every campaign. Example: {\"channel\": \"paid_search\", \"from\": \"2026-07-01\", \
            \"to\": \"2026-09-30\"}.",
        annotations(
            title = "Campaign performance",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn campaign_performance(
        &self,
        Parameters(params): Parameters<CampaignPerformanceParams>,
    ) -> Result<Json<CampaignPerformanceReport>, ToolError> {
        let campaign_id = params
            .campaign_id
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| id_arg("campaign_id", "cmp", c))
            .transpose()?;
        let channel = channel_arg(params.channel.as_deref())?;
        let period = Period::parse(params.from.as_deref(), params.to.as_deref())?;
        let store = self.runtime.store();
        if let Some(id) = &campaign_id {
            store::campaigns::get_summary(store, id).await?;
        }
        let currency = revenue_currency(store).await?;
        let figures = store::funnel::campaign_figures(
            store,
            &store::funnel::PerformanceFilter {
                campaign_id,
                channel,
                from_date: period.from.clone(),
                to_date: period.to.clone(),
            },
        )
        .await?;
        if let Some(other) = figures.iter().find(|f| f.currency != currency) {
            return Err(ToolError::Conflict(format!(
                "campaign {} budgets in {} while deals are in {currency}; ROAS across currencies is not computed",
                other.campaign_id, other.currency
            )));
        }
        let mut total = Performance {
            name: "total".into(),
            ..Default::default()
        };
        let mut channels: BTreeMap<String, Performance> = BTreeMap::new();
        let mut campaigns = Vec::with_capacity(figures.len());
        for f in &figures {
            total.add(f);
            channels
                .entry(f.channel.clone())
                .or_insert_with(|| Performance {
                    name: f.channel.clone(),
                    channel: Some(f.channel.clone()),
                    ..Default::default()
                })
                .add(f);
            let mut row = Performance {
                campaign_id: Some(f.campaign_id.clone()),
                name: f.name.clone(),
                channel: Some(f.channel.clone()),
                ..Default::default()
            };
            row.add(f);
            campaigns.push(row.finish());
        }
        if channels.len() == 1 {
            total.channel = channels.keys().next().cloned();
        }
        let channels = if campaigns.len() > 1 {
            channels.into_values().map(Performance::finish).collect()
        } else {
            Vec::new()
        };
        Ok(Json(CampaignPerformanceReport {
            period: period.describe(),
            currency,
            campaigns,
            channels,
            total: total.finish(),
            notes: vec![
                "Leads are counted by the campaign that brought them in (their source campaign), created in the \
                 period; their later MQL, SQL, opportunity and won stages count whenever they happened."
                    .into(),
                "Spend is the committed budget ledger entries dated in the period. Impressions and clicks are \
                 lifetime totals, not split by period."
                    .into(),
            ],
        }))
    }

    #[tool(
        description = "The marketing funnel (lead, MQL, SQL, opportunity, won): counts, conversion rates from each \
            stage to the next, and median days between stages where timestamps exist, grouped by source, channel, \
            campaign or month of lead creation (or not grouped). Filter by period (lead creation), source, channel \
            or campaign. MQL and SQL have no timestamps, so their times are null with a note. \
            Example: {\"group_by\": \"channel\", \"from\": \"2026-01-01\", \"to\": \"2026-06-30\"}.",
        annotations(
            title = "Funnel analysis",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn funnel_analysis(
        &self,
        Parameters(params): Parameters<FunnelParams>,
    ) -> Result<Json<FunnelReport>, ToolError> {
        let group_by = choice_arg(
            "group_by",
            params.group_by.as_deref().unwrap_or("none"),
            &["none", "source", "channel", "campaign", "month"],
        )?;
        let group = match group_by.as_str() {
            "source" => store::funnel::FunnelGroup::Source,
            "channel" => store::funnel::FunnelGroup::Channel,
            "campaign" => store::funnel::FunnelGroup::Campaign,
            "month" => store::funnel::FunnelGroup::Month,
            _ => store::funnel::FunnelGroup::Total,
        };
        let period = Period::parse(params.from.as_deref(), params.to.as_deref())?;
        let filter = store::funnel::FunnelFilter {
            created_from: period.start_stamp(),
            created_before: period.end_stamp(),
            source: optional_text("source", params.source.as_deref(), 60)?,
            channel: channel_arg(params.channel.as_deref())?,
            campaign_id: params
                .campaign_id
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .map(|c| id_arg("campaign_id", "cmp", c))
                .transpose()?,
        };
        let store = self.runtime.store();
        if let Some(id) = &filter.campaign_id {
            store::campaigns::get_summary(store, id).await?;
        }
        let currency = revenue_currency(store).await?;
        let rows = store::funnel::funnel(store, &filter, group).await?;
        let names = if group == store::funnel::FunnelGroup::Campaign {
            store::attribution::campaign_channels(store).await?
        } else {
            HashMap::new()
        };
        let groups = rows
            .iter()
            .map(|row| {
                let key = row.group.clone().unwrap_or_else(|| "(none)".into());
                FunnelGroupOut {
                    name: names.get(&key).map(|(name, _)| name.clone()),
                    group: key,
                    counts: counts_out(&row.counts),
                    conversion: rates(&row.counts),
                    median_days: StageDays {
                        lead_to_mql: None,
                        mql_to_sql: None,
                        sql_to_opportunity: None,
                        lead_to_opportunity: row.median_days.lead_to_opportunity,
                        opportunity_to_won: row.median_days.opportunity_to_won,
                        lead_to_won: row.median_days.lead_to_won,
                    },
                }
            })
            .collect();
        Ok(Json(FunnelReport {
            group_by,
            period: period.describe(),
            currency,
            groups,
            notes: funnel_notes(),
        }))
    }

    #[tool(
        description = "Revenue of won deals credited to the campaigns and channels that touched the lead before the \
            close, by first-touch, last-touch, linear, time-decay (half-life in days, default the \
            attribution_half_life_days setting or 7) and position-based (40/20/40) attribution. Each deal's credits \
            add up exactly to its amount under every model (integer minor units, largest remainder). Filter by \
            close date and channel; give opportunity_id to see one deal touch by touch. \
            Example: {\"models\": [\"linear\", \"time_decay\"], \"half_life_days\": 14, \"from\": \"2026-01-01\"}.",
        annotations(
            title = "Attribution report",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn attribution_report(
        &self,
        Parameters(params): Parameters<AttributionParams>,
    ) -> Result<Json<AttributionReport>, ToolError> {
        let models: Vec<AttributionModel> = match &params.models {
            None => AttributionModel::ALL.to_vec(),
            Some(names) if names.is_empty() => {
                return Err(ToolError::invalid(
                    "models",
                    "is empty; name at least one model or leave models out for all five",
                ));
            }
            Some(names) => {
                let mut models = Vec::with_capacity(names.len());
                for name in names {
                    let model = AttributionModel::parse(name.trim()).ok_or_else(|| {
                        let shown: String =
                            name.chars().take(40).filter(|c| !c.is_control()).collect();
                        ToolError::invalid(
                            "models",
                            format!(
                                "{shown:?} is not a model; use first_touch, last_touch, linear, time_decay or position_based"
                            ),
                        )
                    })?;
                    if !models.contains(&model) {
                        models.push(model);
                    }
                }
                models
            }
        };
        let (half_life, half_life_source) = self.half_life(params.half_life_days).await?;
        let period = Period::parse(params.from.as_deref(), params.to.as_deref())?;
        let channel = channel_arg(params.channel.as_deref())?;
        let detail_id = params
            .opportunity_id
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| id_arg("opportunity_id", "opp", c))
            .transpose()?;
        let store = self.runtime.store();
        let currency = revenue_currency(store).await?;
        let campaigns = store::attribution::campaign_channels(store).await?;

        // One streaming pass: each deal's touches are credited under every model as it arrives.
        let mut attributor = Attributor::new();
        let mut credits = Vec::new();
        // Per model, per campaign slot: credit; per campaign slot: deals touched.
        let mut by_model: Vec<Vec<i64>> = vec![Vec::new(); models.len()];
        let mut deals_touched: Vec<i64> = Vec::new();
        let mut last_deal_of_slot: Vec<u64> = Vec::new();
        let (mut won_deals, mut attributed_deals) = (0i64, 0i64);
        let (mut attributed_revenue, mut unattributed_revenue) = (0i64, 0i64);
        let mut deal_number = 0u64;
        let mut detail: Option<DealAttribution> = None;
        let filter = store::attribution::WonDealFilter {
            closed_from: period.start_stamp(),
            closed_before: period.end_stamp(),
        };
        let scan = store::attribution::for_each_won_deal(store, &filter, |deal, slots| {
            won_deals += 1;
            deal_number += 1;
            if deal.touch_times.is_empty() {
                unattributed_revenue += deal.amount_minor;
                return;
            }
            attributed_deals += 1;
            attributed_revenue += deal.amount_minor;
            let needed = slots.len();
            if deals_touched.len() < needed {
                deals_touched.resize(needed, 0);
                last_deal_of_slot.resize(needed, 0);
                for totals in &mut by_model {
                    totals.resize(needed, 0);
                }
            }
            for slot in &deal.touch_campaigns {
                let slot = *slot as usize;
                if last_deal_of_slot[slot] != deal_number {
                    last_deal_of_slot[slot] = deal_number;
                    deals_touched[slot] += 1;
                }
            }
            let show = detail_id.as_deref() == Some(deal.opportunity_id.as_str());
            let mut shown: Vec<TouchCredit> = Vec::new();
            if show {
                shown = deal
                    .touch_times
                    .iter()
                    .zip(&deal.touch_campaigns)
                    .map(|(t, slot)| TouchCredit {
                        campaign_id: slots[*slot as usize].clone(),
                        occurred_at: chrono::DateTime::from_timestamp(*t, 0)
                            .map(store::clock::format)
                            .unwrap_or_default(),
                        credits: BTreeMap::new(),
                    })
                    .collect();
            }
            for (m, model) in models.iter().enumerate() {
                attributor.credit(
                    *model,
                    &deal.touch_times,
                    deal.closed_at,
                    deal.amount_minor,
                    half_life,
                    &mut credits,
                );
                for (credit, slot) in credits.iter().zip(&deal.touch_campaigns) {
                    by_model[m][*slot as usize] += credit;
                }
                if show {
                    for (touch, credit) in shown.iter_mut().zip(&credits) {
                        touch.credits.insert(model.as_str().to_string(), *credit);
                    }
                }
            }
            if show {
                detail = Some(DealAttribution {
                    opportunity_id: deal.opportunity_id.clone(),
                    amount_minor: deal.amount_minor,
                    currency: deal.currency.clone(),
                    touches: shown,
                });
            }
        })
        .await?;
        if let Some(id) = &detail_id
            && detail.is_none()
        {
            return Err(ToolError::NotFound(format!(
                "no won deal {id} closed in the period; give the id of a closed_won opportunity (opp_…) \
                 or widen from/to"
            )));
        }

        let report_models = models
            .iter()
            .enumerate()
            .map(|(m, model)| {
                let mut campaign_rows = Vec::new();
                let mut channel_totals: BTreeMap<String, i64> = BTreeMap::new();
                let mut credited = 0i64;
                for (slot, credit) in by_model[m].iter().enumerate() {
                    credited += credit;
                    let id = &scan.campaigns[slot];
                    let (name, campaign_channel) = campaigns
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| (String::new(), "unknown".into()));
                    if channel.as_ref().is_some_and(|c| *c != campaign_channel) {
                        continue;
                    }
                    *channel_totals.entry(campaign_channel.clone()).or_default() += credit;
                    campaign_rows.push(CampaignCredit {
                        campaign_id: id.clone(),
                        name,
                        channel: campaign_channel,
                        credit_minor: *credit,
                        deals_touched: deals_touched[slot],
                    });
                }
                campaign_rows.sort_by(|a, b| {
                    b.credit_minor
                        .cmp(&a.credit_minor)
                        .then_with(|| a.campaign_id.cmp(&b.campaign_id))
                });
                let mut channels: Vec<ChannelCredit> = channel_totals
                    .into_iter()
                    .map(|(channel, credit_minor)| ChannelCredit {
                        channel,
                        credit_minor,
                    })
                    .collect();
                channels.sort_by_key(|c| std::cmp::Reverse(c.credit_minor));
                ModelCredits {
                    model: *model,
                    credited_minor: credited,
                    campaigns: campaign_rows,
                    channels,
                }
            })
            .collect();
        Ok(Json(AttributionReport {
            period: period.describe(),
            currency,
            half_life_days: half_life,
            half_life_source: half_life_source.into(),
            won_deals,
            attributed_deals,
            attributed_revenue_minor: attributed_revenue,
            unattributed_revenue_minor: unattributed_revenue,
            touches: i64::try_from(scan.touches).unwrap_or(i64::MAX),
            models: report_models,
            deal: detail,
        }))
    }

    #[tool(
        description = "For a trial account: the probability it converts to paid (model trial_conversion v1), the \
            engagement signals behind it (seat activation, login trend, feature depth, premium feature use, people \
            engaged, trial time left), each with its contribution, and recommended actions ranked by expected \
            effect (how much each would raise the probability). Only for accounts in a trial. When a learnt \
            version of trial_conversion is active, `learnt` gives its probability with each feature's effect. Every \
            prediction is logged. Example: {\"account_id\": \"acc_000042\"}.",
        annotations(
            title = "Conversion insights",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_conversion_insights(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<ConversionParams>,
    ) -> Result<Json<ConversionInsights>, ToolError> {
        let id = id_arg("account_id", "acc", &params.account_id)?;
        let store = self.runtime.store();
        let account = store::accounts::get(store, &id).await?;
        if account.lifecycle_stage != "trial" {
            return Err(ToolError::Conflict(format!(
                "account {id} is {}, not in a trial; conversion insights are for trial accounts \
                 (lifecycle_stage trial). Use the cs server's health tools for customers",
                account.lifecycle_stage
            )));
        }
        let (Some(started), Some(ends)) = (&account.trial_started_at, &account.trial_ends_at)
        else {
            return Err(ToolError::Conflict(format!(
                "account {id} is a trial prospect without a product trial (no trial dates), so there is no \
                 trial usage to predict from"
            )));
        };
        // The prediction's time: reading the trial's usage and the model.
        let predicting = std::time::Instant::now();
        let usage = store::funnel::trial_usage(store, &id, started).await?;
        let now = chrono::Utc::now();
        let days_left = store::clock::parse(ends)
            .map(|end| (end - now).num_seconds().div_euclid(86_400))
            .unwrap_or(0);
        let count = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let latest = usage.weeks.first();
        let facts = TrialFacts {
            trial_seats: count(account.seats_purchased),
            active_users: latest.map_or(0, |w| count(w.1)),
            logins_latest_week: latest.map_or(0, |w| count(w.2)),
            logins_previous_week: usage.weeks.get(1).map(|w| count(w.2)),
            feature_events: latest.map_or(0, |w| count(w.3)),
            premium_feature_events: latest.map_or(0, |w| count(w.4)),
            contacts_engaged: count(usage.contacts_engaged),
            days_left,
            weeks_of_usage: u32::try_from(usage.weeks.len()).unwrap_or(u32::MAX),
        };
        let model = ConversionModel::default_v1();
        let prediction = model.predict(&facts);
        let latency = store::predictions::latency_micros(predicting.elapsed(), 1);
        self.log_conversion(&scope.actor.name, &id, &facts, &prediction, latency)
            .await;
        let learnt = mcp_runtime::learnt::predict(
            &self.runtime,
            &scope.actor.name,
            "conversion",
            "account",
            &id,
        )
        .await?;
        Ok(Json(ConversionInsights {
            learnt,
            account_id: id,
            account_name: account.name,
            trial_started_at: started.clone(),
            trial_ends_at: ends.clone(),
            days_left,
            facts,
            prediction,
        }))
    }

    #[tool(
        description = "Lead sources compared: for each source, its leads, how many became MQLs, SQLs, \
            opportunities and customers, the won revenue (minor units), MQL and win rates, revenue per lead and \
            share of all leads, most revenue first. Filter by the period the leads were created in. \
            Example: {\"from\": \"2026-01-01\", \"to\": \"2026-12-31\"}.",
        annotations(
            title = "Lead source performance",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn lead_source_performance(
        &self,
        Parameters(params): Parameters<SourcePerformanceParams>,
    ) -> Result<Json<SourcePerformanceReport>, ToolError> {
        let period = Period::parse(params.from.as_deref(), params.to.as_deref())?;
        let store = self.runtime.store();
        let currency = revenue_currency(store).await?;
        let rows = store::funnel::funnel_counts(
            store,
            &store::funnel::FunnelFilter {
                created_from: period.start_stamp(),
                created_before: period.end_stamp(),
                ..Default::default()
            },
            store::funnel::FunnelGroup::Source,
        )
        .await?;
        let all: i64 = rows.iter().map(|(_, c)| c.leads).sum();
        let mut sources: Vec<SourcePerformance> = rows
            .into_iter()
            .map(|(source, c)| SourcePerformance {
                source: source.unwrap_or_else(|| "(none)".into()),
                leads: c.leads,
                mqls: c.mql,
                sqls: c.sql,
                opportunities: c.opportunities,
                won: c.won,
                won_revenue_minor: c.won_revenue_minor,
                mql_rate: ratio(c.mql, c.leads),
                win_rate: ratio(c.won, c.leads),
                revenue_per_lead_minor: per(c.won_revenue_minor, c.leads),
                share_of_leads: ratio(c.leads, all),
            })
            .collect();
        sources.sort_by(|a, b| {
            b.won_revenue_minor
                .cmp(&a.won_revenue_minor)
                .then_with(|| a.source.cmp(&b.source))
        });
        Ok(Json(SourcePerformanceReport {
            period: period.describe(),
            currency,
            sources,
            notes: funnel_notes().into_iter().take(1).collect(),
        }))
    }
}

impl MarketingServer {
    /// Queues a prediction log entry for a conversion prediction given to the caller, with the
    /// time it took to compute.
    async fn log_conversion(
        &self,
        actor: &str,
        account_id: &str,
        facts: &TrialFacts,
        prediction: &ConversionPrediction,
        latency_micros: Option<i64>,
    ) {
        let ModelRef { name, version } = &prediction.model;
        let entry = store::predictions::NewPrediction {
            kind: "conversion".into(),
            subject_type: "account".into(),
            subject_id: Some(account_id.to_string()),
            model_name: name.clone(),
            model_version: i64::from(*version),
            score: prediction.probability,
            tier: Some(prediction.tier.clone()),
            // Usage counts and the factors: no personal data.
            payload_json: serde_json::json!({
                "inputs": facts,
                "factors": prediction.factors,
                "log_odds": prediction.log_odds,
            })
            .to_string(),
            actor: actor.to_string(),
            created_at: store::clock::now(),
            latency_micros,
        };
        self.runtime.predictions().log(vec![entry]).await;
    }
}
