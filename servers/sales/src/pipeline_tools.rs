//! Pipeline and forecast tools: `create_opportunity`, `update_opportunity_stage`,
//! `pipeline_summary`, `forecast_revenue`, `deal_risk`, `win_probability`. Win
//! probabilities, risks and forecast categories come from `scoring::deals`; the facts they
//! read (time in stage, activity, slipped close dates) are aggregated by the store in one
//! query.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Utc};
use mcp_runtime::errors::{
    amount_arg, choice_arg, date_arg, id_arg, optional_choice, optional_id, optional_text,
    range_arg, required_text,
};
use mcp_runtime::{CallScope, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use scoring::ModelRef;
use scoring::deals::{ForecastCategory, Risk, WinProbability};
use serde::{Deserialize, Serialize};
use store::opportunities::{DealFilter, DealUpdate, NewOpportunity, STAGE_ORDER};
use store::records::{Opportunity, StageChange};

use crate::SalesServer;

/// A deal to open.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateOpportunityParams {
    /// The account buying, e.g. acc_000042.
    pub account_id: String,
    /// The deal's name, e.g. "Acme - 200 seats".
    pub name: String,
    /// Value in minor units (cents), e.g. 2400000 for 24,000.00.
    pub amount_minor: i64,
    /// ISO currency code (default USD).
    #[serde(default)]
    pub currency: Option<String>,
    /// prospecting (default), qualification, proposal or negotiation.
    #[serde(default)]
    pub stage: Option<String>,
    /// Expected close date, YYYY-MM-DD.
    pub close_date: String,
    /// Win probability 0-100 (default: the stage's usual probability).
    #[serde(default)]
    pub probability: Option<i64>,
    /// The rep who owns the deal (default: you).
    #[serde(default)]
    pub owner: Option<String>,
    /// The lead it came from, if any.
    #[serde(default)]
    pub lead_id: Option<String>,
    /// A key unique to this request; retrying with it opens nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The deal opened (or found, on a retry).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedOpportunity {
    pub opportunity: Opportunity,
    pub created: bool,
}

/// A change to a deal.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateStageParams {
    /// The deal, e.g. opp_000042.
    pub opportunity_id: String,
    /// prospecting, qualification, proposal, negotiation, closed_won or closed_lost.
    #[serde(default)]
    pub stage: Option<String>,
    /// New value in minor units.
    #[serde(default)]
    pub amount_minor: Option<i64>,
    /// New expected close date, YYYY-MM-DD.
    #[serde(default)]
    pub close_date: Option<String>,
    /// New win probability 0-100 (default on a stage move: the stage's usual probability).
    #[serde(default)]
    pub probability: Option<i64>,
    /// Why, in a few words (kept in the stage history).
    #[serde(default)]
    pub note: Option<String>,
}

/// A deal after a change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StageUpdate {
    pub opportunity: Opportunity,
    /// The history entry recorded; absent when nothing changed.
    pub change: Option<StageChange>,
    pub changed: bool,
    /// The deal's whole history, oldest first.
    pub history: Vec<StageChange>,
}

/// Which deals to summarise.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct PipelineParams {
    /// Only deals owned by this rep; omit for the whole company.
    #[serde(default)]
    pub owner: Option<String>,
    /// Only deals closing on or after this date (YYYY-MM-DD).
    #[serde(default)]
    pub closing_from: Option<String>,
    /// Only deals closing on or before this date (YYYY-MM-DD).
    #[serde(default)]
    pub closing_to: Option<String>,
    /// Group by stage (default), owner, or close_month.
    #[serde(default)]
    pub group_by: Option<String>,
}

/// One group of deals.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct PipelineGroup {
    /// The stage, owner or close month (YYYY-MM).
    pub key: String,
    pub deals: i64,
    pub open_deals: i64,
    /// Sum of deal values, minor units.
    pub amount_minor: i64,
    /// Sum of value × probability, minor units.
    pub weighted_amount_minor: i64,
    /// Average days since the deals were opened.
    pub average_age_days: f64,
}

/// How many deals that reached one stage went on to the next.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StageConversion {
    pub from_stage: String,
    pub to_stage: String,
    pub reached_from: i64,
    pub reached_to: i64,
    /// reached_to / reached_from, 0-1 (absent when no deal reached from_stage).
    pub rate: Option<f64>,
}

/// The pipeline.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PipelineSummary {
    pub group_by: String,
    pub groups: Vec<PipelineGroup>,
    /// Open deals (not closed won or lost).
    pub open_deals: i64,
    pub open_amount_minor: i64,
    pub open_weighted_amount_minor: i64,
    /// Stage-to-stage conversion over these deals. A deal counts as having reached every
    /// stage up to its current one; a lost deal, up to the stage it was lost from (from the
    /// stage history; its first stage when the history does not say).
    pub stage_conversion: Vec<StageConversion>,
}

/// Which period to forecast.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ForecastParams {
    /// A quarter (2026-Q4) or a month (2026-11); default the current quarter.
    #[serde(default)]
    pub period: Option<String>,
    /// Only this rep's deals.
    #[serde(default)]
    pub owner: Option<String>,
}

/// Forecast totals, minor units.
#[derive(Debug, Default, Clone, Serialize, JsonSchema)]
pub struct ForecastTotals {
    /// Won deals closing in the period.
    pub closed_won_minor: i64,
    /// Open deals in negotiation or at least 70% likely.
    pub commit_minor: i64,
    /// Other open deals in proposal or at least 40% likely.
    pub best_case_minor: i64,
    /// The remaining open deals.
    pub pipeline_minor: i64,
    /// closed_won + Σ open amount × win probability.
    pub expected_minor: i64,
    pub open_deals: i64,
}

/// One rep's forecast.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OwnerForecast {
    pub owner: String,
    #[serde(flatten)]
    pub totals: ForecastTotals,
}

/// A deal that moves the forecast.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ForecastMover {
    pub opportunity_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub stage: String,
    pub amount_minor: i64,
    pub win_percent: u32,
    pub category: ForecastCategory,
    /// How much the expected value rises if it is won (amount × (1 − p)), minor units.
    pub upside_minor: i64,
    /// How much it falls if it is lost (amount × p), minor units.
    pub downside_minor: i64,
}

/// The forecast for a period.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Forecast {
    pub period: String,
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub totals: ForecastTotals,
    pub by_owner: Vec<OwnerForecast>,
    /// The open deals whose outcome moves the forecast most (largest amount × p × (1 − p)).
    pub movers: Vec<ForecastMover>,
    pub model: ModelRef,
    /// How the numbers are made, in words.
    pub method: String,
}

/// Which deals to check for risk.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DealRiskParams {
    /// Only this rep's deals.
    #[serde(default)]
    pub owner: Option<String>,
    /// Only deals closing on or before this date (YYYY-MM-DD).
    #[serde(default)]
    pub closing_by: Option<String>,
    /// Page size, 1-100 (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A deal at risk.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DealAtRisk {
    pub opportunity_id: String,
    pub name: String,
    pub account_id: String,
    pub owner: Option<String>,
    pub stage: String,
    pub amount_minor: i64,
    pub close_date: String,
    pub win_percent: u32,
    /// Most severe first.
    pub risks: Vec<Risk>,
}

/// Deals at risk, most severe and largest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DealRiskReport {
    pub deals: Vec<DealAtRisk>,
    /// Open deals checked.
    pub checked: i64,
    /// Of those, deals with at least one risk.
    pub at_risk: i64,
    pub next_cursor: Option<String>,
}

/// One deal.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct OpportunityRef {
    /// The deal, e.g. opp_000042.
    pub opportunity_id: String,
}

/// A deal's win probability.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DealWinProbability {
    pub opportunity_id: String,
    pub name: String,
    pub stage: String,
    pub amount_minor: i64,
    /// The probability the rep recorded on the deal, 0-100.
    pub recorded_probability: i64,
    #[serde(flatten)]
    pub estimate: WinProbability,
    pub risks: Vec<Risk>,
}

const OPEN_STAGES: [&str; 4] = ["prospecting", "qualification", "proposal", "negotiation"];

fn days_between(from: &str, to: chrono::DateTime<Utc>) -> i64 {
    store::clock::parse(from).map_or(0, |t| (to - t).num_days())
}

/// The model's facts of a deal, as of `now`.
fn model_facts(
    facts: &store::opportunities::DealFacts,
    now: chrono::DateTime<Utc>,
    usual: &BTreeMap<String, u32>,
) -> scoring::deals::DealFacts {
    let deal = &facts.deal;
    let to_u32 = |days: i64| u32::try_from(days.max(0)).unwrap_or(u32::MAX);
    let days_to_close = store::clock::parse_date(&deal.close_date)
        .map_or(0, |close| (close - now.date_naive()).num_days());
    scoring::deals::DealFacts {
        stage: deal.stage.clone(),
        amount_minor: deal.amount_minor,
        age_days: to_u32(days_between(&deal.created_at, now)),
        days_in_stage: to_u32(days_between(&facts.stage_entered_at, now)),
        days_since_activity: facts
            .last_activity_at
            .as_deref()
            .map(|t| to_u32(days_between(t, now))),
        close_date_changes: u32::try_from(facts.close_date_pushes.max(0)).unwrap_or(u32::MAX),
        days_to_close,
        activities_last_30d: u32::try_from(facts.activities_last_30d.max(0)).unwrap_or(u32::MAX),
        usual_days_in_stage: usual.get(&deal.stage).copied(),
        has_decision_maker: facts.has_decision_maker,
    }
}

/// `2026-Q4` or `2026-11` → (label, first day, last day); default the current quarter.
fn period_bounds(
    period: Option<&str>,
    today: NaiveDate,
) -> ToolResult<(String, NaiveDate, NaiveDate)> {
    let bad = || {
        ToolError::invalid(
            "period",
            "must be a quarter like 2026-Q4 or a month like 2026-11",
        )
    };
    let (year, first_month, months) = match period.map(str::trim) {
        None | Some("") => {
            let quarter = (today.month() - 1) / 3;
            (today.year(), quarter * 3 + 1, 3)
        }
        Some(text) => {
            let (year, rest) = text.split_once('-').ok_or_else(bad)?;
            let year: i32 = year.parse().map_err(|_| bad())?;
            if !(2000..=2100).contains(&year) {
                return Err(ToolError::invalid("period", "the year must be 2000-2100"));
            }
            if let Some(q) = rest.strip_prefix('Q').or_else(|| rest.strip_prefix('q')) {
                let q: u32 = q.parse().map_err(|_| bad())?;
                if !(1..=4).contains(&q) {
                    return Err(bad());
                }
                (year, (q - 1) * 3 + 1, 3)
            } else {
                let month: u32 = rest.parse().map_err(|_| bad())?;
                if !(1..=12).contains(&month) {
                    return Err(bad());
                }
                (year, month, 1)
            }
        }
    };
    let from = NaiveDate::from_ymd_opt(year, first_month, 1).ok_or_else(bad)?;
    let next = if first_month + months > 12 {
        NaiveDate::from_ymd_opt(year + 1, first_month + months - 12, 1)
    } else {
        NaiveDate::from_ymd_opt(year, first_month + months, 1)
    }
    .ok_or_else(bad)?;
    let to = next.pred_opt().ok_or_else(bad)?;
    let label = if months == 3 {
        format!("{year}-Q{}", (first_month - 1) / 3 + 1)
    } else {
        format!("{year}-{first_month:02}")
    };
    Ok((label, from, to))
}

impl ForecastTotals {
    fn add(&mut self, deal: &Opportunity, category: ForecastCategory, win_percent: u32) {
        let amount = deal.amount_minor;
        match category {
            ForecastCategory::ClosedWon => {
                self.closed_won_minor += amount;
                self.expected_minor += amount;
            }
            ForecastCategory::Omitted => {}
            open => {
                match open {
                    ForecastCategory::Commit => self.commit_minor += amount,
                    ForecastCategory::BestCase => self.best_case_minor += amount,
                    _ => self.pipeline_minor += amount,
                }
                self.open_deals += 1;
                self.expected_minor += amount * i64::from(win_percent) / 100;
            }
        }
    }
}

impl SalesServer {
    /// Median days per stage from history, for the risk and win models.
    async fn usual_days(&self) -> ToolResult<BTreeMap<String, u32>> {
        Ok(
            store::opportunities::median_days_in_stage(self.runtime.store())
                .await?
                .into_iter()
                .collect(),
        )
    }

    /// Queues a prediction log entry for each estimate given to the caller, with the time each
    /// took to compute.
    async fn log_deal_predictions(
        &self,
        actor: &str,
        scored: &[(&Opportunity, &WinProbability)],
        latency_micros: Option<i64>,
    ) {
        let now = store::clock::now();
        let entries = scored
            .iter()
            .map(|(deal, estimate)| store::predictions::NewPrediction {
                kind: "win".into(),
                subject_type: "opportunity".into(),
                subject_id: Some(deal.id.clone()),
                model_name: estimate.model.name.clone(),
                model_version: i64::from(estimate.model.version),
                score: f64::from(estimate.percent) / 100.0,
                tier: None,
                payload_json:
                    serde_json::json!({ "factors": estimate.factors, "stage": deal.stage })
                        .to_string(),
                actor: actor.to_string(),
                created_at: now.clone(),
                latency_micros,
            })
            .collect();
        self.runtime.predictions().log(entries).await;
    }
}

#[tool_router(router = pipeline_router, vis = "pub(crate)")]
impl SalesServer {
    #[tool(
        description = "Open a deal (opportunity) on an account, with its value in minor units, stage (default \
            prospecting) and expected close date; the opening is the first entry of its stage history. Give \
            request_id so a retry opens nothing twice. Example: {\"account_id\": \"acc_000042\", \"name\": \"Acme - \
            200 seats\", \"amount_minor\": 2400000, \"close_date\": \"2027-01-31\", \"request_id\": \"c1d2…\"}.",
        annotations(
            title = "Create opportunity",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn create_opportunity(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CreateOpportunityParams>,
    ) -> Result<Json<CreatedOpportunity>, ToolError> {
        let currency = optional_text("currency", params.currency.as_deref(), 3)?
            .unwrap_or_else(|| "USD".into())
            .to_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ToolError::invalid(
                "currency",
                "must be a three-letter ISO code, e.g. USD",
            ));
        }
        let deal = NewOpportunity {
            account_id: id_arg("account_id", "acc", &params.account_id)?,
            lead_id: optional_id("lead_id", "lead", params.lead_id.as_deref())?,
            name: required_text("name", &params.name, 200)?,
            stage: choice_arg(
                "stage",
                params.stage.as_deref().unwrap_or("prospecting"),
                &OPEN_STAGES,
            )?,
            amount_minor: amount_arg("amount_minor", params.amount_minor)?,
            currency,
            probability: params
                .probability
                .map(|p| range_arg("probability", p, 0, 100))
                .transpose()?,
            close_date: date_arg("close_date", &params.close_date)?,
            owner: optional_text("owner", params.owner.as_deref(), 120)?
                .or_else(|| Some(scope.actor.name.clone())),
        };
        let request_id = optional_text("request_id", params.request_id.as_deref(), 100)?;
        let mut tx = scope.transaction().await?;
        let (opportunity, created) =
            store::opportunities::create(&mut tx, &deal, &scope.actor.name, request_id.as_deref())
                .await?;
        Ok(Json(CreatedOpportunity {
            opportunity,
            created,
        }))
    }

    #[tool(
        description = "Move a deal to another stage and/or change its amount, close date or probability. Every \
            change is kept in the deal's stage history (who, when, from what to what), which the answer includes. \
            Sending the same change twice changes nothing the second time. Closed deals are final. \
            Example: {\"opportunity_id\": \"opp_000042\", \"stage\": \"proposal\", \"close_date\": \"2027-02-15\", \
            \"note\": \"Pricing sent\"}.",
        annotations(
            title = "Update opportunity stage",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn update_opportunity_stage(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<UpdateStageParams>,
    ) -> Result<Json<StageUpdate>, ToolError> {
        let id = id_arg("opportunity_id", "opp", &params.opportunity_id)?;
        let update = DealUpdate {
            stage: optional_choice("stage", params.stage.as_deref(), &STAGE_ORDER)?,
            amount_minor: params
                .amount_minor
                .map(|a| amount_arg("amount_minor", a))
                .transpose()?,
            close_date: params
                .close_date
                .as_deref()
                .map(|d| date_arg("close_date", d))
                .transpose()?,
            probability: params
                .probability
                .map(|p| range_arg("probability", p, 0, 100))
                .transpose()?,
            note: optional_text("note", params.note.as_deref(), 500)?,
        };
        if update.stage.is_none()
            && update.amount_minor.is_none()
            && update.close_date.is_none()
            && update.probability.is_none()
        {
            return Err(ToolError::invalid(
                "stage",
                "nothing to change; give stage, amount_minor, close_date or probability",
            ));
        }
        let mut tx = scope.transaction().await?;
        let (opportunity, change) =
            store::opportunities::update(&mut tx, &id, &update, &scope.actor.name).await?;
        let history = store::opportunities::history_in(&mut tx, &id).await?;
        Ok(Json(StageUpdate {
            opportunity,
            changed: change.is_some(),
            change,
            history,
        }))
    }

    #[tool(
        description = "The pipeline grouped by stage (default), owner or close month: deal count, open deals, value, \
            probability-weighted value (minor units) and average age in days per group; open totals; and stage-to-\
            stage conversion rates. Filter by owner and close-date range. \
            Example: {\"group_by\": \"owner\", \"closing_from\": \"2026-10-01\", \"closing_to\": \"2026-12-31\"}.",
        annotations(
            title = "Pipeline summary",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn pipeline_summary(
        &self,
        Parameters(params): Parameters<PipelineParams>,
    ) -> Result<Json<PipelineSummary>, ToolError> {
        let group_by = choice_arg(
            "group_by",
            params.group_by.as_deref().unwrap_or("stage"),
            &["stage", "owner", "close_month"],
        )?;
        let filter = DealFilter {
            owner: optional_text("owner", params.owner.as_deref(), 120)?,
            closing_from: params
                .closing_from
                .as_deref()
                .map(|d| date_arg("closing_from", d))
                .transpose()?,
            closing_to: params
                .closing_to
                .as_deref()
                .map(|d| date_arg("closing_to", d))
                .transpose()?,
            ..DealFilter::default()
        };
        let now = Utc::now();
        let deals = store::opportunities::pipeline_rows(self.runtime.store(), &filter).await?;
        let mut groups: BTreeMap<String, (PipelineGroup, i64)> = BTreeMap::new();
        let mut reached = [0i64; 5];
        let (mut open_deals, mut open_amount, mut open_weighted) = (0, 0, 0);
        for row in &deals {
            let deal = &row.deal;
            let key = match group_by.as_str() {
                "owner" => deal.owner.clone().unwrap_or_else(|| "(unassigned)".into()),
                "close_month" => deal.close_date.chars().take(7).collect(),
                _ => deal.stage.clone(),
            };
            let weighted = deal.amount_minor * deal.probability / 100;
            let (group, age_sum) = groups.entry(key.clone()).or_insert_with(|| {
                (
                    PipelineGroup {
                        key,
                        ..PipelineGroup::default()
                    },
                    0,
                )
            });
            group.deals += 1;
            group.amount_minor += deal.amount_minor;
            group.weighted_amount_minor += weighted;
            *age_sum += days_between(&deal.created_at, now).max(0);
            let open = !deal.stage.starts_with("closed_");
            if open {
                group.open_deals += 1;
                open_deals += 1;
                open_amount += deal.amount_minor;
                open_weighted += weighted;
            }
            // The furthest stage the deal reached: 0-3 open stages, 4 = won.
            let furthest = match deal.stage.as_str() {
                "closed_won" => Some(4),
                "closed_lost" => row
                    .lost_from
                    .as_deref()
                    .and_then(|s| OPEN_STAGES.iter().position(|o| *o == s))
                    .or(Some(0)),
                stage => OPEN_STAGES.iter().position(|o| *o == stage),
            };
            if let Some(furthest) = furthest {
                for slot in reached.iter_mut().take(furthest + 1) {
                    *slot += 1;
                }
            }
        }
        let mut groups: Vec<PipelineGroup> = groups
            .into_values()
            .map(|(mut group, age_sum)| {
                group.average_age_days = if group.deals > 0 {
                    (age_sum as f64 / group.deals as f64 * 10.0).round() / 10.0
                } else {
                    0.0
                };
                group
            })
            .collect();
        if group_by == "stage" {
            groups.sort_by_key(|g| {
                STAGE_ORDER
                    .iter()
                    .position(|s| *s == g.key)
                    .unwrap_or(usize::MAX)
            });
        }
        let names = [
            "prospecting",
            "qualification",
            "proposal",
            "negotiation",
            "closed_won",
        ];
        let stage_conversion = (0..4)
            .map(|i| StageConversion {
                from_stage: names[i].into(),
                to_stage: names[i + 1].into(),
                reached_from: reached[i],
                reached_to: reached[i + 1],
                rate: (reached[i] > 0)
                    .then(|| (reached[i + 1] as f64 / reached[i] as f64 * 1000.0).round() / 1000.0),
            })
            .collect();
        Ok(Json(PipelineSummary {
            group_by,
            groups,
            open_deals,
            open_amount_minor: open_amount,
            open_weighted_amount_minor: open_weighted,
            stage_conversion,
        }))
    }

    #[tool(
        description = "Forecast revenue for a quarter (2026-Q4) or month (2026-11), default this quarter: closed-won, \
            commit (negotiation or >= 70% likely), best case (proposal or >= 40%), pipeline (the rest), and an \
            expected value from each deal's estimated win probability; the same by owner; and the open deals that \
            move it most. Money in minor units. Example: {\"period\": \"2026-Q4\", \"owner\": \"Maya Patel\"}.",
        annotations(
            title = "Forecast revenue",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn forecast_revenue(
        &self,
        Parameters(params): Parameters<ForecastParams>,
    ) -> Result<Json<Forecast>, ToolError> {
        let now = Utc::now();
        let (period, from, to) = period_bounds(params.period.as_deref(), now.date_naive())?;
        let filter = DealFilter {
            owner: optional_text("owner", params.owner.as_deref(), 120)?,
            closing_from: Some(store::clock::format_date(from)),
            closing_to: Some(store::clock::format_date(to)),
            ..DealFilter::default()
        };
        let usual = self.usual_days().await?;
        let deals =
            store::opportunities::facts(self.runtime.store(), &filter, &store::clock::format(now))
                .await?;
        let mut totals = ForecastTotals::default();
        let mut by_owner: BTreeMap<String, ForecastTotals> = BTreeMap::new();
        let mut movers = Vec::new();
        let mut model = None;
        for facts in &deals {
            let estimate = scoring::deals::win_probability(&model_facts(facts, now, &usual));
            let category = scoring::deals::forecast_category(&facts.deal.stage, estimate.percent);
            totals.add(&facts.deal, category, estimate.percent);
            let owner = facts
                .deal
                .owner
                .clone()
                .unwrap_or_else(|| "(unassigned)".into());
            by_owner
                .entry(owner)
                .or_default()
                .add(&facts.deal, category, estimate.percent);
            if !matches!(
                category,
                ForecastCategory::ClosedWon | ForecastCategory::Omitted
            ) {
                let p = i64::from(estimate.percent);
                let amount = facts.deal.amount_minor;
                movers.push((
                    amount.saturating_mul(p * (100 - p)),
                    ForecastMover {
                        opportunity_id: facts.deal.id.clone(),
                        name: facts.deal.name.clone(),
                        owner: facts.deal.owner.clone(),
                        stage: facts.deal.stage.clone(),
                        amount_minor: amount,
                        win_percent: estimate.percent,
                        category,
                        upside_minor: amount * (100 - p) / 100,
                        downside_minor: amount * p / 100,
                    },
                ));
            }
            model.get_or_insert_with(|| estimate.model.clone());
        }
        movers.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(a.1.opportunity_id.cmp(&b.1.opportunity_id))
        });
        let movers: Vec<ForecastMover> = movers.into_iter().take(5).map(|(_, m)| m).collect();
        Ok(Json(Forecast {
            period,
            from: store::clock::format_date(from),
            to: store::clock::format_date(to),
            totals,
            by_owner: by_owner
                .into_iter()
                .map(|(owner, totals)| OwnerForecast { owner, totals })
                .collect(),
            movers,
            model: model.unwrap_or_else(|| ModelRef {
                name: "win_probability".into(),
                version: 1,
            }),
            method: "Deals closing in the period. Each open deal's win probability is estimated from its stage, \
                time in stage against the usual time, recent activity, slipped close dates and whether a decision \
                maker is known (win_probability explains one deal). Commit: negotiation or >= 70%; best case: \
                proposal or >= 40%; pipeline: the rest. Expected = closed won + sum of amount × probability."
                .into(),
        }))
    }

    #[tool(
        description = "Find open deals at risk and say why: no recent activity, close date passed or pushed out, \
            stuck in a stage longer than deals usually stay there, no decision maker on file. Most severe and \
            largest first, paged (default 20). Example: {\"owner\": \"Maya Patel\", \"closing_by\": \"2026-12-31\"}.",
        annotations(
            title = "Deal risk",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn deal_risk(
        &self,
        Parameters(params): Parameters<DealRiskParams>,
    ) -> Result<Json<DealRiskReport>, ToolError> {
        let filter = DealFilter {
            owner: optional_text("owner", params.owner.as_deref(), 120)?,
            closing_to: params
                .closing_by
                .as_deref()
                .map(|d| date_arg("closing_by", d))
                .transpose()?,
            open_only: true,
            ..DealFilter::default()
        };
        let limit = usize::try_from(params.limit.unwrap_or(20).clamp(1, 100)).unwrap_or(20);
        let offset = match params.cursor.as_deref() {
            Some(cursor) => cursor.parse::<usize>().map_err(|_| {
                ToolError::invalid(
                    "cursor",
                    "is not a cursor from deal_risk; pass next_cursor back unchanged",
                )
            })?,
            None => 0,
        };
        let now = Utc::now();
        let usual = self.usual_days().await?;
        let deals =
            store::opportunities::facts(self.runtime.store(), &filter, &store::clock::format(now))
                .await?;
        let checked = deals.len() as i64;
        let mut risky: Vec<DealAtRisk> = deals
            .iter()
            .filter_map(|facts| {
                let model = model_facts(facts, now, &usual);
                let risks = scoring::deals::risks(&model);
                if risks.is_empty() {
                    return None;
                }
                let estimate = scoring::deals::win_probability(&model);
                let deal = &facts.deal;
                Some(DealAtRisk {
                    opportunity_id: deal.id.clone(),
                    name: deal.name.clone(),
                    account_id: deal.account_id.clone(),
                    owner: deal.owner.clone(),
                    stage: deal.stage.clone(),
                    amount_minor: deal.amount_minor,
                    close_date: deal.close_date.clone(),
                    win_percent: estimate.percent,
                    risks,
                })
            })
            .collect();
        let severity_rank = |deal: &DealAtRisk| {
            deal.risks
                .iter()
                .map(|r| match r.severity {
                    scoring::deals::Severity::High => 0,
                    scoring::deals::Severity::Medium => 1,
                    scoring::deals::Severity::Low => 2,
                })
                .min()
                .unwrap_or(3)
        };
        risky.sort_by(|a, b| {
            severity_rank(a)
                .cmp(&severity_rank(b))
                .then(b.amount_minor.cmp(&a.amount_minor))
                .then(a.opportunity_id.cmp(&b.opportunity_id))
        });
        let at_risk = risky.len() as i64;
        let next_cursor = (risky.len() > offset + limit).then(|| (offset + limit).to_string());
        let deals = risky.into_iter().skip(offset).take(limit).collect();
        Ok(Json(DealRiskReport {
            deals,
            checked,
            at_risk,
            next_cursor,
        }))
    }

    #[tool(
        description = "Estimate one deal's chance of closing won, starting from its stage's base rate, with the \
            factors that raise or lower it in percentage points (they add up to the estimate): time in stage \
            against the usual, recent activity, slipped close dates, a decision maker on file. Also lists its \
            risks. Example: {\"opportunity_id\": \"opp_000042\"}.",
        annotations(
            title = "Win probability",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn win_probability(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<OpportunityRef>,
    ) -> Result<Json<DealWinProbability>, ToolError> {
        let id = id_arg("opportunity_id", "opp", &params.opportunity_id)?;
        // Read first so an unknown id gets the store's "no opportunity has id" answer.
        let deal = store::opportunities::get_one(self.runtime.store(), &id).await?;
        // The estimate's time: reading what it weighs (stage history, activity) and the model.
        let started = std::time::Instant::now();
        let now = Utc::now();
        let filter = DealFilter {
            account_id: Some(deal.account_id.clone()),
            ..DealFilter::default()
        };
        let usual = self.usual_days().await?;
        let facts =
            store::opportunities::facts(self.runtime.store(), &filter, &store::clock::format(now))
                .await?
                .into_iter()
                .find(|f| f.deal.id == id)
                .ok_or_else(|| ToolError::NotFound(format!("no opportunity has id {id:?}")))?;
        let model = model_facts(&facts, now, &usual);
        let estimate = scoring::deals::win_probability(&model);
        let latency = store::predictions::latency_micros(started.elapsed(), 1);
        let risks = scoring::deals::risks(&model);
        self.log_deal_predictions(&scope.actor.name, &[(&deal, &estimate)], latency)
            .await;
        Ok(Json(DealWinProbability {
            opportunity_id: id,
            name: deal.name,
            stage: deal.stage,
            amount_minor: deal.amount_minor,
            recorded_probability: deal.probability,
            estimate,
            risks,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_quarters_or_months_and_default_to_this_quarter() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let (label, from, to) = period_bounds(None, today).unwrap();
        assert_eq!(
            (label.as_str(), from.to_string(), to.to_string()),
            ("2026-Q4", "2026-10-01".into(), "2026-12-31".into())
        );
        let (label, from, to) = period_bounds(Some("2027-02"), today).unwrap();
        assert_eq!(
            (label.as_str(), from.to_string(), to.to_string()),
            ("2027-02", "2027-02-01".into(), "2027-02-28".into())
        );
        assert!(period_bounds(Some("2026-Q5"), today).is_err());
        assert!(period_bounds(Some("1900-Q1"), today).is_err());
    }
}
