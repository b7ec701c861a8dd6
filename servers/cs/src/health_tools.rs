//! Health, churn risk, expansion, NPS, adoption and onboarding (issue 7).
//!
//! The models are `scoring::health` (account health, expansion rules, onboarding
//! milestones) and `scoring::churn` (churn risk, probability); the facts come from
//! `store::health`, evaluated as of each account's latest usage week. Single-account tools
//! read one account's history; the listings (`list_at_risk_accounts`, segment
//! `predict_churn`, `expansion_opportunities`) read every account in scope in one streaming
//! pass. Every churn and health prediction given to the caller is logged (model name and
//! version, the account id, the signals, the time it took; no personal data); the at-risk
//! listing logs only the page it returns.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use mcp_runtime::errors::{date_arg, id_arg, optional_choice, range_arg, text_arg};
use mcp_runtime::{CallScope, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use scoring::ModelRef;
use scoring::churn::{ChurnModel, ChurnRisk, ChurnTier};
use scoring::health::{
    AccountFacts, Expansion, ExpansionParams, HealthModel, HealthScore, HealthWeights, Milestone,
    NpsFacts, OnboardingParams, Status, SupportFacts, UsagePoint,
};
use serde::{Deserialize, Serialize};
use store::records::{Account, UsageWeek};

use crate::{CsServer, PLAN_TIERS};

const SEGMENTS: [&str; 3] = ["smb", "mid_market", "enterprise"];

/// An account's facts in the models' form, as of its latest usage week.
pub(crate) struct Prepared {
    usage: Vec<UsagePoint>,
    plan_tier: String,
    seats: u32,
    tenure_days: Option<u32>,
    support: SupportFacts,
    nps: NpsFacts,
    as_of: Option<NaiveDate>,
}

fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn date_of(stamp: &str) -> Option<NaiveDate> {
    store::clock::parse(stamp).map(|t| t.date_naive())
}

impl Prepared {
    pub(crate) fn new(
        account: &Account,
        usage: &[UsageWeek],
        tickets: &[store::health::TicketFact],
        answers: &[store::health::NpsFact],
    ) -> Prepared {
        let as_of = store::health::as_of(usage);
        let (support, nps) = match as_of {
            Some(moment) => {
                let s = store::health::support_window(tickets, moment);
                let n = store::health::nps_window(answers, moment);
                (
                    SupportFacts {
                        tickets_90d: s.tickets_90d,
                        urgent_90d: s.urgent_90d,
                        high_90d: s.high_90d,
                        open_now: s.open_now,
                        csat_sum: s.csat_sum,
                        csat_count: s.csat_count,
                        billing_90d: s.billing_90d,
                    },
                    NpsFacts {
                        responses: n.responses,
                        score_sum: n.score_sum,
                        latest: n.latest,
                        promoters: n.promoters,
                        detractors: n.detractors,
                    },
                )
            }
            None => (SupportFacts::default(), NpsFacts::default()),
        };
        let tenure_days = match (account.customer_since.as_deref().and_then(date_of), as_of) {
            (Some(since), Some(moment)) if since <= moment => {
                u32::try_from((moment - since).num_days()).ok()
            }
            _ => None,
        };
        Prepared {
            usage: usage
                .iter()
                .map(|w| UsagePoint {
                    active_users: count(w.active_users),
                    seats_used: count(w.seats_used),
                    logins: count(w.logins),
                    feature_events: count(w.feature_events),
                    premium_feature_events: count(w.premium_feature_events),
                })
                .collect(),
            plan_tier: account.plan_tier.clone(),
            seats: count(account.seats_purchased),
            tenure_days,
            support,
            nps,
            as_of,
        }
    }

    pub(crate) fn facts(&self) -> AccountFacts<'_> {
        AccountFacts {
            plan_tier: &self.plan_tier,
            seats_purchased: self.seats,
            tenure_days: self.tenure_days,
            usage: &self.usage,
            support: self.support,
            nps: self.nps,
        }
    }

    fn as_of_text(&self) -> Option<String> {
        self.as_of.map(store::clock::format_date)
    }
}

async fn prepared(store: &store::Store, account_id: &str) -> ToolResult<(Account, Prepared)> {
    let history = store::health::history(store, account_id).await?;
    let prepared = Prepared::new(
        &history.account,
        &history.usage,
        &history.tickets,
        &history.nps,
    );
    Ok((history.account, prepared))
}

// ---------------------------------------------------------------------------------------
// Parameters and answers.

/// Factor weights for one call; all four, whole numbers that add up to 100.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WeightsInput {
    /// Points for usage (seat utilisation, 4-week trend), a whole number 0-100.
    #[serde(default)]
    pub usage: Option<f64>,
    /// Points for engagement (logins and feature events per user, NPS), a whole number 0-100.
    #[serde(default)]
    pub engagement: Option<f64>,
    /// Points for support (ticket load, urgent tickets, CSAT), a whole number 0-100.
    #[serde(default)]
    pub support: Option<f64>,
    /// Points for billing (paid seats assigned, tenure, billing disputes), a whole number 0-100.
    #[serde(default)]
    pub billing: Option<f64>,
}

/// Which account to score, and optionally other weights.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AccountHealthParams {
    /// The account, e.g. `acc_000042`.
    pub account_id: String,
    /// Factor weights for this call (default usage 40, engagement 25, support 20, billing
    /// 15); all four, whole numbers adding up to 100.
    #[serde(default)]
    pub weights: Option<WeightsInput>,
}

/// An account's health.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountHealth {
    pub account_id: String,
    pub account_name: String,
    pub plan_tier: String,
    pub lifecycle_stage: String,
    /// The moment the facts are read at: the Monday after the latest usage week (None without
    /// usage).
    pub as_of: Option<String>,
    /// Weeks of usage history read.
    pub weeks_of_history: usize,
    #[serde(flatten)]
    pub health: HealthScore,
}

/// One account.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AccountIdParams {
    /// The account, e.g. `acc_000042`.
    pub account_id: String,
}

/// An account's churn risk.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountChurnRisk {
    pub account_id: String,
    pub account_name: String,
    pub lifecycle_stage: String,
    /// Monthly recurring revenue at stake, minor units.
    pub mrr_minor: i64,
    pub currency: String,
    pub as_of: Option<String>,
    /// Chance of churning within 90 days, 0-1 (None without a risk).
    pub probability_90d: Option<f64>,
    #[serde(flatten)]
    pub risk: ChurnRisk,
    /// The account's churn probability by the active learnt version, explained feature by
    /// feature, when one is active (detect_churn_risk only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learnt: Option<mcp_runtime::learnt::LearntScore>,
}

/// Which accounts to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct AtRiskParams {
    /// Lowest risk to list, 0-100 (default 50: the high and critical tiers).
    #[serde(default)]
    pub min_risk: Option<i64>,
    /// Only this segment: smb, mid_market or enterprise.
    #[serde(default)]
    pub segment: Option<String>,
    /// Only this plan: starter, growth or enterprise.
    #[serde(default)]
    pub plan_tier: Option<String>,
    /// Only accounts of this CSM (exact name).
    #[serde(default)]
    pub csm_owner: Option<String>,
    /// Also score accounts that already churned (MRR 0; for checking the model), default false.
    #[serde(default)]
    pub include_churned: Option<bool>,
    /// Page size, 1-200 (default 25).
    #[serde(default)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One account at risk.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AtRiskAccount {
    pub account_id: String,
    pub account_name: String,
    pub plan_tier: String,
    pub segment: String,
    pub lifecycle_stage: String,
    pub csm_owner: Option<String>,
    pub risk: u32,
    pub tier: ChurnTier,
    /// The account's MRR, all of which is at risk, minor units.
    pub mrr_at_risk_minor: i64,
    pub currency: String,
    /// The signal adding most risk, in words.
    pub top_signal: Option<String>,
    /// The playbook expected to remove most risk.
    pub top_intervention: Option<String>,
    pub as_of: Option<String>,
}

/// A page of at-risk accounts, most MRR at risk first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AtRiskPage {
    pub items: Vec<AtRiskAccount>,
    /// Accounts at or above `min_risk` (all pages).
    pub matched: u64,
    /// Accounts scored (in scope and with usage).
    pub scored: u64,
    /// Accounts in scope without usage history: not scored.
    pub without_usage: u64,
    /// MRR of all matched accounts, per currency, minor units.
    pub mrr_at_risk_minor: BTreeMap<String, i64>,
    pub min_risk: u32,
    /// Present when more follow; pass it back as `cursor`.
    pub next_cursor: Option<String>,
    pub model: ModelRef,
}

/// Whose churn to predict: one account, or a segment (any of segment, plan_tier, csm_owner).
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct PredictChurnParams {
    /// One account, e.g. `acc_000042`; leave out for a segment.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Segment: smb, mid_market or enterprise.
    #[serde(default)]
    pub segment: Option<String>,
    /// Plan: starter, growth or enterprise.
    #[serde(default)]
    pub plan_tier: Option<String>,
    /// A CSM's book (exact name).
    #[serde(default)]
    pub csm_owner: Option<String>,
    /// Horizon in days, 1-730 (default 90).
    #[serde(default)]
    pub horizon_days: Option<i64>,
}

/// A signal's part in a prediction.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ContributingFactor {
    pub signal: String,
    /// Risk points from this signal (for a segment: the mean over its accounts).
    pub points: f64,
    /// Its share of the risk, percent.
    pub share_percent: f64,
    pub detail: String,
}

/// One account in a segment forecast.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountProbability {
    pub account_id: String,
    pub account_name: String,
    pub probability: f64,
    pub risk: u32,
    pub mrr_minor: i64,
}

/// A churn forecast.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChurnPrediction {
    /// account or segment.
    pub scope: String,
    /// What was forecast, e.g. "acc_000042" or "segment=smb".
    pub subject: String,
    pub horizon_days: u32,
    /// scored, or insufficient_data (an account without usage: no probability).
    pub status: Status,
    /// Chance (0-1) of churning within the horizon; for a segment the mean over its accounts.
    pub probability: Option<f64>,
    /// For one account: its risk and tier.
    pub risk: Option<u32>,
    pub tier: Option<ChurnTier>,
    /// For a segment: accounts forecast, accounts without usage, expected churned accounts and
    /// MRR (sum of probability x MRR, minor units, per currency).
    pub accounts: Option<u64>,
    pub accounts_without_usage: Option<u64>,
    pub expected_churned_accounts: Option<f64>,
    pub expected_churned_mrr_minor: Option<BTreeMap<String, i64>>,
    /// The signals behind the forecast, largest first.
    pub contributing_factors: Vec<ContributingFactor>,
    /// For a segment: the ten accounts most likely to churn.
    pub top_accounts: Vec<AccountProbability>,
    /// How the probability is computed.
    pub method: String,
    pub model: ModelRef,
}

/// Which accounts to look at for expansion.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ExpansionParamsInput {
    /// Only this segment: smb, mid_market or enterprise.
    #[serde(default)]
    pub segment: Option<String>,
    /// Only this plan: starter, growth or enterprise.
    #[serde(default)]
    pub plan_tier: Option<String>,
    /// Only accounts of this CSM (exact name).
    #[serde(default)]
    pub csm_owner: Option<String>,
    /// Also list accounts with a reason to expand whose health is below 60 (default false).
    #[serde(default)]
    pub include_not_ready: Option<bool>,
    /// At most this many, 1-200 (default 25), largest uplift first.
    #[serde(default)]
    pub limit: Option<i64>,
}

/// One expansion opportunity.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExpansionOpportunity {
    pub account_id: String,
    pub account_name: String,
    pub plan_tier: String,
    pub seats_purchased: i64,
    pub mrr_minor: i64,
    pub currency: String,
    pub health: u32,
    #[serde(flatten)]
    pub expansion: Expansion,
}

/// Expansion opportunities, largest expected uplift first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExpansionList {
    pub items: Vec<ExpansionOpportunity>,
    /// Opportunities found (before `limit`).
    pub matched: u64,
    /// Sum of expected uplift of all matched, per currency, minor units.
    pub total_uplift_minor: BTreeMap<String, i64>,
    /// How readiness and uplift are decided.
    pub method: String,
    pub health_model: ModelRef,
}

/// Whose NPS to summarise: an account, or a segment (any of segment, plan_tier, csm_owner),
/// or everyone when nothing is given.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NpsSummaryParams {
    #[serde(default)]
    /// One account, e.g. `acc_000042`.
    pub account_id: Option<String>,
    /// Segment: smb, mid_market or enterprise.
    #[serde(default)]
    pub segment: Option<String>,
    /// Plan: starter, growth or enterprise.
    #[serde(default)]
    pub plan_tier: Option<String>,
    /// A CSM's book (exact name).
    #[serde(default)]
    pub csm_owner: Option<String>,
    /// First day of the period, YYYY-MM-DD (default 365 days before `until`).
    #[serde(default)]
    pub since: Option<String>,
    /// Day after the period, YYYY-MM-DD (default tomorrow).
    #[serde(default)]
    pub until: Option<String>,
}

/// NPS over some answers.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct NpsFigures {
    pub responses: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    /// % promoters - % detractors, -100 to 100 (None without answers).
    pub nps: Option<i64>,
}

impl NpsFigures {
    fn add(&mut self, score: i64) {
        self.responses += 1;
        match score {
            9.. => self.promoters += 1,
            7..=8 => self.passives += 1,
            _ => self.detractors += 1,
        }
        let (p, d, n) = (
            self.promoters as f64,
            self.detractors as f64,
            self.responses as f64,
        );
        self.nps = Some(((p - d) * 100.0 / n).round() as i64);
    }
}

/// NPS in one quarter.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NpsQuarter {
    /// e.g. "2026-Q3".
    pub quarter: String,
    #[serde(flatten)]
    pub figures: NpsFigures,
}

/// A theme of the comments.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NpsTheme {
    /// pricing, support, performance, usability, features, onboarding, integrations or
    /// reliability.
    pub theme: String,
    /// Comments mentioning it.
    pub mentions: u64,
    pub from_promoters: u64,
    pub from_detractors: u64,
    /// One comment mentioning it (the latest).
    pub sample: String,
}

/// An NPS summary.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NpsSummary {
    /// What was summarised, e.g. "segment=smb" or "all accounts".
    pub subject: String,
    pub since: String,
    pub until: String,
    #[serde(flatten)]
    pub figures: NpsFigures,
    /// By calendar quarter, oldest first.
    pub trend: Vec<NpsQuarter>,
    /// improving, stable or declining (latest quarter vs the one before, 10 points), or
    /// unknown with fewer than two quarters.
    pub direction: String,
    /// Themes of the comments, most mentioned first (keyword groups).
    pub themes: Vec<NpsTheme>,
    /// Answers with a comment.
    pub comments: u64,
}

/// An account and a window.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AdoptionParams {
    /// The account, e.g. `acc_000042`.
    pub account_id: String,
    /// Weeks in the window, 2-26 (default 12); compared with the same number before.
    #[serde(default)]
    pub weeks: Option<i64>,
}

/// One adoption measure.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AdoptionMetric {
    /// breadth, frequency, depth, advanced_features or consistency.
    pub metric: String,
    /// How it is computed from the weekly usage.
    pub definition: String,
    pub value: f64,
    /// The same over the window before (None without that history).
    pub previous: Option<f64>,
    pub change_percent: Option<i64>,
    /// low, medium or high.
    pub level: String,
}

/// Feature adoption of an account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FeatureAdoption {
    pub account_id: String,
    pub account_name: String,
    pub plan_tier: String,
    /// scored, or insufficient_data without usage.
    pub status: Status,
    pub weeks: u32,
    pub as_of: Option<String>,
    pub metrics: Vec<AdoptionMetric>,
    /// How adoption is derived (there is no per-feature log).
    pub method: String,
}

/// Onboarding progress of an account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OnboardingProgress {
    pub account_id: String,
    pub account_name: String,
    pub lifecycle_stage: String,
    pub status: Status,
    /// The day counted from: the trial start, else the customer start, else the account's
    /// creation.
    pub start: String,
    /// trial_started_at, customer_since or created_at.
    pub start_basis: String,
    /// Days from the start to the moment read (the Monday after the latest usage week, or
    /// today without usage).
    pub days_since_start: i64,
    pub milestones: Vec<Milestone>,
    /// Days from the start to first value (None if not reached or reached before the
    /// recorded history).
    pub days_to_first_value: Option<i64>,
    /// Milestones not reached after their expected day.
    pub stalled: Vec<String>,
    /// Milestones reached, percent.
    pub complete_percent: u32,
    pub method: String,
}

// ---------------------------------------------------------------------------------------
// Argument helpers.

fn scope_of(
    segment: Option<&str>,
    plan_tier: Option<&str>,
    csm_owner: Option<&str>,
) -> ToolResult<store::health::Scope> {
    Ok(store::health::Scope {
        lifecycle_stages: Vec::new(),
        segment: optional_choice("segment", segment, &SEGMENTS)?,
        plan_tier: optional_choice("plan_tier", plan_tier, &PLAN_TIERS)?,
        csm_owner: csm_owner
            .map(|c| {
                let c = text_arg("csm_owner", c, 120)?;
                if c.is_empty() {
                    Err(ToolError::invalid(
                        "csm_owner",
                        "is empty; give a CSM's name or leave it out",
                    ))
                } else {
                    Ok(c)
                }
            })
            .transpose()?,
    })
}

fn scope_label(scope: &store::health::Scope) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &scope.segment {
        parts.push(format!("segment={s}"));
    }
    if let Some(p) = &scope.plan_tier {
        parts.push(format!("plan_tier={p}"));
    }
    if let Some(c) = &scope.csm_owner {
        parts.push(format!("csm_owner={c}"));
    }
    if parts.is_empty() {
        "all accounts".into()
    } else {
        parts.join(", ")
    }
}

fn page_limit(limit: Option<i64>) -> ToolResult<usize> {
    let limit = range_arg("limit", limit.unwrap_or(25), 1, 200)?;
    Ok(usize::try_from(limit).unwrap_or(25))
}

/// Sort key of the at-risk listing: most MRR first, then highest risk, then id.
type AtRiskKey = (Reverse<i64>, Reverse<u32>, String);

fn at_risk_cursor(cursor: &str) -> ToolResult<AtRiskKey> {
    let bad = || {
        ToolError::invalid(
            "cursor",
            "is not a cursor from list_at_risk_accounts; pass next_cursor back unchanged",
        )
    };
    let mut parts = cursor.trim().splitn(3, ':');
    let mrr: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let risk: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let id = parts.next().ok_or_else(bad)?;
    let id = id_arg("cursor", "acc", id).map_err(|_| bad())?;
    Ok((Reverse(mrr), Reverse(risk), id))
}

fn checked_weights(weights: &WeightsInput) -> ToolResult<HealthWeights> {
    // Numbers are taken as JSON numbers and checked here, so that a fraction or a missing
    // weight gets an answer naming the field rather than a parse failure.
    let one = |field: &'static str, v: Option<f64>| -> ToolResult<u32> {
        let v = v.ok_or_else(|| {
            ToolError::invalid(
                field,
                "is missing; give all four weights (usage, engagement, support, billing) adding up to 100",
            )
        })?;
        if !v.is_finite() || v.fract() != 0.0 {
            return Err(ToolError::invalid(
                field,
                format!("is {v}; weights are whole numbers"),
            ));
        }
        if !(0.0..=100.0).contains(&v) {
            return Err(ToolError::invalid(field, format!("is {v}; give 0 to 100")));
        }
        Ok(v as u32)
    };
    let w = HealthWeights {
        usage: one("weights.usage", weights.usage)?,
        engagement: one("weights.engagement", weights.engagement)?,
        support: one("weights.support", weights.support)?,
        billing: one("weights.billing", weights.billing)?,
    };
    w.check()
        .map_err(|problem| ToolError::invalid("weights", problem))?;
    Ok(w)
}

fn horizon(days: Option<i64>) -> ToolResult<u32> {
    let days = days.unwrap_or(90);
    if days == 0 {
        return Err(ToolError::invalid(
            "horizon_days",
            "is 0; a churn horizon must be at least 1 day (default 90)",
        ));
    }
    Ok(u32::try_from(range_arg("horizon_days", days, 1, 730)?).unwrap_or(90))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

// ---------------------------------------------------------------------------------------
// Shared computations (tools and resources).

/// A prediction to log: account id, kind (churn or health), model, score, tier, payload.
type LoggedPrediction = (
    String,
    &'static str,
    ModelRef,
    f64,
    Option<String>,
    serde_json::Value,
);

impl CsServer {
    fn health_model(&self) -> HealthModel {
        HealthModel::default_v1()
    }

    fn churn_model(&self) -> ChurnModel {
        ChurnModel::default_v1()
    }

    /// Logs predictions given to the caller (no personal data: account ids and signals), each
    /// with the time it took to compute.
    async fn log_predictions(
        &self,
        actor: &str,
        entries: Vec<LoggedPrediction>,
        latency_micros: Option<i64>,
    ) {
        let now = store::clock::now();
        let rows = entries
            .into_iter()
            .map(|(account_id, kind, model, score, tier, payload)| {
                store::predictions::NewPrediction {
                    kind: kind.into(),
                    subject_type: "account".into(),
                    subject_id: Some(account_id),
                    model_name: model.name,
                    model_version: i64::from(model.version),
                    score,
                    tier,
                    payload_json: payload.to_string(),
                    actor: actor.to_owned(),
                    created_at: now.clone(),
                    latency_micros,
                }
            })
            .collect();
        self.runtime.predictions().log(rows).await;
    }
}

/// An account's health with default or given weights.
pub(crate) async fn account_health_of(
    store: &store::Store,
    model: &HealthModel,
    account_id: &str,
) -> ToolResult<AccountHealth> {
    let (account, prepared) = prepared(store, account_id).await?;
    let health = model.score(&prepared.facts());
    Ok(AccountHealth {
        account_id: account.id,
        account_name: account.name,
        plan_tier: account.plan_tier,
        lifecycle_stage: account.lifecycle_stage,
        as_of: prepared.as_of_text(),
        weeks_of_history: prepared.usage.len(),
        health,
    })
}

/// An account's churn risk.
pub(crate) async fn churn_risk_of(
    store: &store::Store,
    model: &ChurnModel,
    account_id: &str,
) -> ToolResult<AccountChurnRisk> {
    let (account, prepared) = prepared(store, account_id).await?;
    let risk = model.assess(&prepared.facts());
    Ok(AccountChurnRisk {
        account_id: account.id,
        account_name: account.name,
        lifecycle_stage: account.lifecycle_stage,
        mrr_minor: account.mrr_minor,
        currency: account.currency,
        as_of: prepared.as_of_text(),
        probability_90d: risk.risk.map(|r| round4(model.probability(r, 90))),
        risk,
        learnt: None,
    })
}

/// The at-risk listing (shared by the tool and `cs://at-risk`).
pub(crate) async fn at_risk_page(
    store: &store::Store,
    model: &ChurnModel,
    mut scope: store::health::Scope,
    include_churned: bool,
    min_risk: u32,
    after: Option<AtRiskKey>,
    limit: usize,
) -> ToolResult<AtRiskPage> {
    scope.lifecycle_stages = if include_churned {
        vec!["active".into(), "at_risk".into(), "churned".into()]
    } else {
        vec!["active".into(), "at_risk".into()]
    };
    let mut matched: Vec<(AtRiskKey, Account, Prepared)> = Vec::new();
    let (mut scored, mut without_usage) = (0u64, 0u64);
    store::health::for_each_account(store, &scope, |account, usage, tickets, answers| {
        if usage.is_empty() {
            without_usage += 1;
            return;
        }
        scored += 1;
        let prepared = Prepared::new(account, usage, tickets, answers);
        if let Some(risk) = model.risk_value(&prepared.facts())
            && risk >= min_risk
        {
            let key = (
                Reverse(account.mrr_minor),
                Reverse(risk),
                account.id.clone(),
            );
            matched.push((key, account.clone(), prepared));
        }
    })
    .await?;
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for (_, account, _) in &matched {
        *totals.entry(account.currency.clone()).or_default() += account.mrr_minor;
    }
    let total_matched = matched.len() as u64;
    matched.sort_by(|a, b| a.0.cmp(&b.0));
    let start = match &after {
        Some(key) => matched.partition_point(|(k, _, _)| k <= key),
        None => 0,
    };
    let rest = matched.len().saturating_sub(start);
    let page: Vec<_> = matched.into_iter().skip(start).take(limit).collect();
    let next_cursor = (rest > limit)
        .then(|| {
            page.last()
                .map(|(k, _, _)| format!("{}:{}:{}", k.0.0, k.1.0, k.2))
        })
        .flatten();
    let items = page
        .into_iter()
        .map(|(_, account, prepared)| {
            let assessed = model.assess(&prepared.facts());
            AtRiskAccount {
                risk: assessed.risk.unwrap_or(0),
                tier: assessed.tier.unwrap_or(ChurnTier::Low),
                top_signal: assessed.signals.first().map(|s| s.detail.clone()),
                top_intervention: assessed.interventions.first().map(|i| i.playbook.clone()),
                as_of: prepared.as_of_text(),
                account_id: account.id,
                account_name: account.name,
                plan_tier: account.plan_tier,
                segment: account.segment,
                lifecycle_stage: account.lifecycle_stage,
                csm_owner: account.csm_owner,
                mrr_at_risk_minor: account.mrr_minor,
                currency: account.currency,
            }
        })
        .collect();
    Ok(AtRiskPage {
        items,
        matched: total_matched,
        scored,
        without_usage,
        mrr_at_risk_minor: totals,
        min_risk,
        next_cursor,
        model: model.model().clone(),
    })
}

const THEMES: [(&str, &[&str]); 8] = [
    (
        "pricing",
        &[
            "price",
            "pricing",
            "cost",
            "expensive",
            "value for",
            "budget",
        ],
    ),
    (
        "support",
        &["support", "answer", "ticket", "response time", "helpdesk"],
    ),
    (
        "performance",
        &[
            "slow",
            "speed",
            "fast",
            "time out",
            "timeout",
            "lag",
            "performance",
            "saves",
            "minutes instead",
        ],
    ),
    (
        "usability",
        &[
            "hard to",
            "easy",
            "intuitive",
            "confusing",
            "spreadsheet",
            "flexible",
            "adopt",
            "uses it",
        ],
    ),
    (
        "features",
        &[
            "feature",
            "roadmap",
            "reporting",
            "dashboard",
            "forecast",
            "pipeline view",
            "health dashboard",
        ],
    ),
    (
        "onboarding",
        &["onboarding", "training", "setup", "set up", "champion"],
    ),
    (
        "integrations",
        &["integration", "sync", "crm", "api", "import"],
    ),
    (
        "reliability",
        &[
            "error", "breaking", "outage", "bug", "crash", "down", "time out", "missing",
        ],
    ),
];

fn quarter_of(stamp: &str) -> Option<String> {
    let date = date_of(stamp)?;
    Some(format!("{}-Q{}", date.year(), (date.month() - 1) / 3 + 1))
}

#[tool_router(router = health_router, vis = "pub(crate)")]
impl CsServer {
    #[tool(
        description = "An account's health score 0-100 from four factors: usage (seat utilisation, 4-week active-user \
            trend), engagement (logins and feature events per active user, NPS), support (ticket load for its size, \
            urgent tickets, CSAT) and billing (paid seats assigned, tenure, billing disputes). Default weights usage 40, \
            engagement 25, support 20, billing 15; give all four as whole numbers adding up to 100 to change them. \
            Returns each factor's score and contribution (the contributions add up to the score), the trend \
            (improving / stable / declining: latest 4 weeks of active users vs the 4 before, 10% threshold) and the \
            risk level (low 70+, medium 50-69, high 30-49, critical <30). Facts are read as of the latest usage week. \
            An account with no usage yet gets status insufficient_data and no score. \
            Example: {\"account_id\": \"acc_000042\", \"weights\": {\"usage\": 50, \"engagement\": 20, \"support\": 20, \"billing\": 10}}.",
        annotations(
            title = "Account health",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn account_health(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<AccountHealthParams>,
    ) -> Result<Json<AccountHealth>, ToolError> {
        let account_id = id_arg("account_id", "acc", &params.account_id)?;
        let model = match &params.weights {
            Some(w) => self
                .health_model()
                .with_weights(checked_weights(w)?)
                .map_err(|problem| ToolError::invalid("weights", problem))?,
            None => self.health_model(),
        };
        let started = Instant::now();
        let health = account_health_of(self.runtime.store(), &model, &account_id).await?;
        let latency = store::predictions::latency_micros(started.elapsed(), 1);
        if let Some(score) = health.health.score {
            self.log_predictions(
                &scope.actor.name,
                vec![(
                    health.account_id.clone(),
                    "health",
                    health.health.model.clone(),
                    f64::from(score),
                    health.health.risk_level.map(|r| {
                        serde_json::to_value(r)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    }),
                    serde_json::json!({"weights": model.params().weights, "factors": health.health.factors, "as_of": health.as_of}),
                )],
                latency,
            )
            .await;
        }
        Ok(Json(health))
    }

    #[tool(
        description = "An account's churn risk 0-100 and tier (critical >= 70, high 50-69, medium 30-49, low < 30), \
            the declining signals with their measured size (e.g. active users -40% over 8 weeks, seat utilisation, \
            logins, ticket volume and urgent tickets, NPS, idle paid seats), each signal's risk points (they add up \
            to the risk), and interventions from the playbook catalogue (usage_recovery, executive_outreach, \
            support_escalation, onboarding_restart, renewal_save, adoption_training) ranked by expected effect \
            (risk points removed if the signals they address recover), plus the 90-day churn probability. \
            Evaluated as of the latest usage week (for a churned account, the week it left). No usage: status \
            insufficient_data, no risk. When a learnt version of churn_risk is active, `learnt` gives its churn \
            probability with each feature's effect. Every prediction is logged with the model name and version. \
            Example: {\"account_id\": \"acc_000042\"}.",
        annotations(
            title = "Detect churn risk",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn detect_churn_risk(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<AccountIdParams>,
    ) -> Result<Json<AccountChurnRisk>, ToolError> {
        let account_id = id_arg("account_id", "acc", &params.account_id)?;
        let model = self.churn_model();
        let started = Instant::now();
        let mut risk = churn_risk_of(self.runtime.store(), &model, &account_id).await?;
        let latency = store::predictions::latency_micros(started.elapsed(), 1);
        risk.learnt = Some(
            mcp_runtime::learnt::predict(
                &self.runtime,
                &scope.actor.name,
                "churn",
                "account",
                &account_id,
            )
            .await?,
        );
        if let Some(score) = risk.risk.risk {
            self.log_predictions(
                &scope.actor.name,
                vec![(
                    risk.account_id.clone(),
                    "churn",
                    risk.risk.model.clone(),
                    f64::from(score),
                    risk.risk.tier.map(|t| t.as_str().to_owned()),
                    serde_json::json!({"signals": risk.risk.signals, "probability_90d": risk.probability_90d, "as_of": risk.as_of}),
                )],
                latency,
            )
            .await;
        }
        Ok(Json(risk))
    }

    #[tool(
        description = "Paying accounts (active and at_risk; add include_churned to backtest) whose churn risk is at \
            or above min_risk (default 50), sorted by MRR at risk (most first), then risk, paged (default 25, \
            pass next_cursor back). Optional filters: segment (smb, mid_market, enterprise), plan_tier, csm_owner. \
            Each item has the risk, tier, MRR, top signal and top intervention; totals give the matched count and \
            MRR at risk. Every account in scope is scored in one pass; only the returned page is logged as \
            predictions. Example: {\"min_risk\": 60, \"segment\": \"mid_market\", \"limit\": 10}.",
        annotations(
            title = "List at-risk accounts",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_at_risk_accounts(
        &self,
        Extension(call): Extension<CallScope>,
        Parameters(params): Parameters<AtRiskParams>,
    ) -> Result<Json<AtRiskPage>, ToolError> {
        let min_risk = u32::try_from(range_arg(
            "min_risk",
            params.min_risk.unwrap_or(50),
            0,
            100,
        )?)
        .unwrap_or(50);
        let scope = scope_of(
            params.segment.as_deref(),
            params.plan_tier.as_deref(),
            params.csm_owner.as_deref(),
        )?;
        let limit = page_limit(params.limit)?;
        let after = params.cursor.as_deref().map(at_risk_cursor).transpose()?;
        let model = self.churn_model();
        let started = Instant::now();
        let page = at_risk_page(
            self.runtime.store(),
            &model,
            scope,
            params.include_churned.unwrap_or(false),
            min_risk,
            after,
            limit,
        )
        .await?;
        // Every account in scope is scored in the one pass: each score's share of it.
        let latency = store::predictions::latency_micros(started.elapsed(), page.scored);
        let entries = page
            .items
            .iter()
            .map(|item| {
                (
                    item.account_id.clone(),
                    "churn",
                    page.model.clone(),
                    f64::from(item.risk),
                    Some(item.tier.as_str().to_owned()),
                    serde_json::json!({"listing": "list_at_risk_accounts", "top_signal": item.top_signal, "as_of": item.as_of}),
                )
            })
            .collect();
        self.log_predictions(&call.actor.name, entries, latency)
            .await;
        Ok(Json(page))
    }

    #[tool(
        description = "Probability of churn within a horizon (default 90 days, 1-730) for one account (account_id) or \
            a segment (any of segment smb/mid_market/enterprise, plan_tier, csm_owner; active and at_risk accounts), \
            with the contributing signals. The 90-day probability is a logistic curve of the churn risk \
            (p90 = 1/(1+exp(-(risk-55)/9))), turned into a constant hazard for other horizons: \
            p = 1-(1-p90)^(h/90). For a segment: the mean probability, expected churned accounts and MRR, the mean \
            points per signal and the ten accounts most likely to churn. Logged as predictions. \
            Example: {\"segment\": \"smb\", \"horizon_days\": 180} or {\"account_id\": \"acc_000042\"}.",
        annotations(
            title = "Predict churn",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn predict_churn(
        &self,
        Extension(call): Extension<CallScope>,
        Parameters(params): Parameters<PredictChurnParams>,
    ) -> Result<Json<ChurnPrediction>, ToolError> {
        let horizon_days = horizon(params.horizon_days)?;
        let model = self.churn_model();
        let method = format!(
            "p90 = 1/(1+exp(-(risk-{})/{})); p(h) = 1-(1-p90)^(h/90), risk as of the latest usage week",
            model.params().p90_midpoint,
            model.params().p90_scale
        );
        if let Some(id) = params.account_id.as_deref() {
            if params.segment.is_some() || params.plan_tier.is_some() || params.csm_owner.is_some()
            {
                return Err(ToolError::invalid(
                    "account_id",
                    "is given together with a segment filter; give either account_id or segment/plan_tier/csm_owner",
                ));
            }
            let account_id = id_arg("account_id", "acc", id)?;
            let started = Instant::now();
            let (account, prepared) = prepared(self.runtime.store(), &account_id).await?;
            let risk = model.assess(&prepared.facts());
            let latency = store::predictions::latency_micros(started.elapsed(), 1);
            let probability = risk
                .risk
                .map(|r| round4(model.probability(r, horizon_days)));
            let total = f64::from(risk.risk.unwrap_or(0)).max(1.0);
            let factors = risk
                .signals
                .iter()
                .map(|s| ContributingFactor {
                    signal: s.signal.clone(),
                    points: f64::from(s.points),
                    share_percent: (f64::from(s.points) * 1000.0 / total).round() / 10.0,
                    detail: s.detail.clone(),
                })
                .collect();
            if let (Some(r), Some(p)) = (risk.risk, probability) {
                self.log_predictions(
                    &call.actor.name,
                    vec![(
                        account.id.clone(),
                        "churn",
                        risk.model.clone(),
                        f64::from(r),
                        risk.tier.map(|t| t.as_str().to_owned()),
                        serde_json::json!({"horizon_days": horizon_days, "probability": p, "signals": risk.signals}),
                    )],
                    latency,
                )
                .await;
            }
            return Ok(Json(ChurnPrediction {
                scope: "account".into(),
                subject: account.id,
                horizon_days,
                status: risk.status,
                probability,
                risk: risk.risk,
                tier: risk.tier,
                accounts: None,
                accounts_without_usage: None,
                expected_churned_accounts: None,
                expected_churned_mrr_minor: None,
                contributing_factors: factors,
                top_accounts: Vec::new(),
                method: if risk.risk.is_some() {
                    method
                } else {
                    risk.note
                },
                model: risk.model,
            }));
        }
        let mut scope = scope_of(
            params.segment.as_deref(),
            params.plan_tier.as_deref(),
            params.csm_owner.as_deref(),
        )?;
        scope.lifecycle_stages = vec!["active".into(), "at_risk".into()];
        let subject = scope_label(&scope);
        let (mut n, mut without, mut sum_p) = (0u64, 0u64, 0.0f64);
        let mut mrr: BTreeMap<String, f64> = BTreeMap::new();
        let mut points: BTreeMap<String, (f64, String)> = BTreeMap::new();
        let mut accounts: Vec<AccountProbability> = Vec::new();
        let started = Instant::now();
        store::health::for_each_account(
            self.runtime.store(),
            &scope,
            |account, usage, tickets, answers| {
                if usage.is_empty() {
                    without += 1;
                    return;
                }
                let prepared = Prepared::new(account, usage, tickets, answers);
                let assessed = model.assess(&prepared.facts());
                let Some(risk) = assessed.risk else { return };
                let p = model.probability(risk, horizon_days);
                n += 1;
                sum_p += p;
                *mrr.entry(account.currency.clone()).or_default() += p * account.mrr_minor as f64;
                for s in &assessed.signals {
                    let entry = points
                        .entry(s.signal.clone())
                        .or_insert((0.0, String::new()));
                    entry.0 += f64::from(s.points);
                    if entry.1.is_empty() {
                        entry.1 = format!("e.g. {}: {}", account.id, s.detail);
                    }
                }
                accounts.push(AccountProbability {
                    account_id: account.id.clone(),
                    account_name: account.name.clone(),
                    probability: round4(p),
                    risk,
                    mrr_minor: account.mrr_minor,
                });
            },
        )
        .await?;
        // Every account in the segment is scored in the one pass: each score's share of it.
        let latency = store::predictions::latency_micros(started.elapsed(), n);
        if n == 0 && without == 0 {
            return Err(ToolError::NotFound(format!(
                "no active or at-risk account matches {subject}; check the segment, plan or CSM name"
            )));
        }
        let total_points: f64 = points.values().map(|(p, _)| p).sum::<f64>().max(1.0);
        let mut factors: Vec<ContributingFactor> = points
            .into_iter()
            .map(|(signal, (p, detail))| ContributingFactor {
                points: (p / n.max(1) as f64 * 10.0).round() / 10.0,
                share_percent: (p * 1000.0 / total_points).round() / 10.0,
                signal,
                detail,
            })
            .collect();
        factors.sort_by(|a, b| {
            b.share_percent
                .total_cmp(&a.share_percent)
                .then(a.signal.cmp(&b.signal))
        });
        accounts.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then(b.mrr_minor.cmp(&a.mrr_minor))
                .then(a.account_id.cmp(&b.account_id))
        });
        accounts.truncate(10);
        let entries = accounts
            .iter()
            .map(|a| {
                (
                    a.account_id.clone(),
                    "churn",
                    model.model().clone(),
                    f64::from(a.risk),
                    Some(model.tier(a.risk).as_str().to_owned()),
                    serde_json::json!({"horizon_days": horizon_days, "probability": a.probability, "segment": subject}),
                )
            })
            .collect();
        self.log_predictions(&call.actor.name, entries, latency)
            .await;
        Ok(Json(ChurnPrediction {
            scope: "segment".into(),
            subject,
            horizon_days,
            status: Status::Scored,
            probability: (n > 0).then(|| round4(sum_p / n as f64)),
            risk: None,
            tier: None,
            accounts: Some(n),
            accounts_without_usage: Some(without),
            expected_churned_accounts: Some((sum_p * 100.0).round() / 100.0),
            expected_churned_mrr_minor: Some(
                mrr.into_iter()
                    .map(|(c, v)| (c, v.round() as i64))
                    .collect(),
            ),
            contributing_factors: factors,
            top_accounts: accounts,
            method,
            model: model.model().clone(),
        }))
    }

    #[tool(
        description = "Accounts ready to expand, largest expected MRR uplift first: seats near the limit (peak seats \
            assigned in the latest 4 weeks >= 90% of seats purchased: suggest seats for 80% utilisation) and/or heavy \
            use of features gated to a higher plan (premium events per active user a week >= 0.15 on starter, >= 1.5 \
            on growth: suggest the next plan), with health >= 60 (include_not_ready lists the others too). Uplift = \
            current MRR x (new list price / current list price) - current MRR, so the account keeps its discount; \
            list prices per seat a month: starter 25.00, growth 45.00, enterprise 80.00 USD. Active and at_risk \
            accounts; filters segment, plan_tier, csm_owner. Example: {\"plan_tier\": \"growth\", \"limit\": 10}.",
        annotations(
            title = "Expansion opportunities",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn expansion_opportunities(
        &self,
        Parameters(params): Parameters<ExpansionParamsInput>,
    ) -> Result<Json<ExpansionList>, ToolError> {
        let mut scope = scope_of(
            params.segment.as_deref(),
            params.plan_tier.as_deref(),
            params.csm_owner.as_deref(),
        )?;
        scope.lifecycle_stages = vec!["active".into(), "at_risk".into()];
        let limit = page_limit(params.limit)?;
        let include_not_ready = params.include_not_ready.unwrap_or(false);
        let health = self.health_model();
        let rules = ExpansionParams::default();
        let mut found: Vec<ExpansionOpportunity> = Vec::new();
        store::health::for_each_account(
            self.runtime.store(),
            &scope,
            |account, usage, tickets, answers| {
                let prepared = Prepared::new(account, usage, tickets, answers);
                let facts = prepared.facts();
                let Some(score) = health.score_value(&facts) else {
                    return;
                };
                if let Some(expansion) = rules.assess(&facts, score, account.mrr_minor)
                    && (expansion.ready || include_not_ready)
                {
                    found.push(ExpansionOpportunity {
                        account_id: account.id.clone(),
                        account_name: account.name.clone(),
                        plan_tier: account.plan_tier.clone(),
                        seats_purchased: account.seats_purchased,
                        mrr_minor: account.mrr_minor,
                        currency: account.currency.clone(),
                        health: score,
                        expansion,
                    });
                }
            },
        )
        .await?;
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        for o in &found {
            *totals.entry(o.currency.clone()).or_default() += o.expansion.expected_mrr_uplift_minor;
        }
        found.sort_by(|a, b| {
            b.expansion
                .expected_mrr_uplift_minor
                .cmp(&a.expansion.expected_mrr_uplift_minor)
                .then(a.account_id.cmp(&b.account_id))
        });
        let matched = found.len() as u64;
        found.truncate(limit);
        Ok(Json(ExpansionList {
            items: found,
            matched,
            total_uplift_minor: totals,
            method: format!(
                "Ready = health >= {} and a reason: seat pressure (>= {}% of seats assigned at the peak of the latest \
                 4 weeks) or heavy use of features gated to the next plan. Uplift keeps the account's discount.",
                rules.min_health, rules.seat_pressure_percent
            ),
            health_model: health.model().clone(),
        }))
    }

    #[tool(
        description = "NPS for an account (account_id) or a segment (any of segment smb/mid_market/enterprise, \
            plan_tier, csm_owner), or all accounts, over a period (default the last 365 days): NPS = % promoters \
            (9-10) - % detractors (0-6), the counts, the trend by calendar quarter with its direction, and the themes \
            of the comments (keyword groups: pricing, support, performance, usability, features, onboarding, \
            integrations, reliability) with counts by promoters and detractors and a sample comment. \
            Example: {\"segment\": \"enterprise\", \"since\": \"2026-01-01\"}.",
        annotations(
            title = "NPS summary",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn nps_summary(
        &self,
        Parameters(params): Parameters<NpsSummaryParams>,
    ) -> Result<Json<NpsSummary>, ToolError> {
        let store = self.runtime.store();
        let until = match params.until.as_deref() {
            Some(d) => date_arg("until", d)?,
            None => {
                store::clock::format_date(chrono::Utc::now().date_naive() + chrono::Days::new(1))
            }
        };
        let until_date = store::clock::parse_date(&until)
            .ok_or_else(|| ToolError::invalid("until", "is not a date; use YYYY-MM-DD"))?;
        let since = match params.since.as_deref() {
            Some(d) => date_arg("since", d)?,
            None => store::clock::format_date(until_date - chrono::Days::new(365)),
        };
        if since >= until {
            return Err(ToolError::invalid(
                "since",
                format!(
                    "is {since}, not before until {until}; give a period that starts before it ends"
                ),
            ));
        }
        let stamp = |d: &str| format!("{d}T00:00:00.000000Z");
        let (account_id, scope, subject) = match params.account_id.as_deref() {
            Some(id) => {
                if params.segment.is_some()
                    || params.plan_tier.is_some()
                    || params.csm_owner.is_some()
                {
                    return Err(ToolError::invalid(
                        "account_id",
                        "is given together with a segment filter; give either account_id or segment/plan_tier/csm_owner",
                    ));
                }
                let id = id_arg("account_id", "acc", id)?;
                store::accounts::get(store, &id).await?;
                (Some(id.clone()), store::health::Scope::default(), id)
            }
            None => {
                let scope = scope_of(
                    params.segment.as_deref(),
                    params.plan_tier.as_deref(),
                    params.csm_owner.as_deref(),
                )?;
                let subject = scope_label(&scope);
                (None, scope, subject)
            }
        };
        let answers = store::support::nps_answers(
            store,
            account_id.as_deref(),
            &scope,
            &stamp(&since),
            &stamp(&until),
        )
        .await?;
        let mut figures = NpsFigures::default();
        let mut quarters: BTreeMap<String, NpsFigures> = BTreeMap::new();
        let mut themes: Vec<NpsTheme> = THEMES
            .iter()
            .map(|(t, _)| NpsTheme {
                theme: (*t).to_owned(),
                mentions: 0,
                from_promoters: 0,
                from_detractors: 0,
                sample: String::new(),
            })
            .collect();
        let mut comments = 0;
        for a in &answers {
            figures.add(a.score);
            if let Some(q) = quarter_of(&a.responded_at) {
                quarters.entry(q).or_default().add(a.score);
            }
            let Some(comment) = a.comment.as_deref().filter(|c| !c.trim().is_empty()) else {
                continue;
            };
            comments += 1;
            let lower = comment.to_lowercase();
            for (i, (_, words)) in THEMES.iter().enumerate() {
                if words.iter().any(|w| lower.contains(w)) {
                    let t = &mut themes[i];
                    t.mentions += 1;
                    if a.score >= 9 {
                        t.from_promoters += 1;
                    } else if a.score <= 6 {
                        t.from_detractors += 1;
                    }
                    // Answers come oldest first: the last one kept is the latest.
                    t.sample = comment.chars().take(300).collect();
                }
            }
        }
        themes.retain(|t| t.mentions > 0);
        themes.sort_by(|a, b| b.mentions.cmp(&a.mentions).then(a.theme.cmp(&b.theme)));
        let trend: Vec<NpsQuarter> = quarters
            .into_iter()
            .map(|(quarter, figures)| NpsQuarter { quarter, figures })
            .collect();
        let direction = match trend.as_slice() {
            [.., before, last] => match (before.figures.nps, last.figures.nps) {
                (Some(b), Some(l)) if l - b >= 10 => "improving",
                (Some(b), Some(l)) if b - l >= 10 => "declining",
                _ => "stable",
            },
            _ => "unknown",
        };
        Ok(Json(NpsSummary {
            subject,
            since,
            until,
            figures,
            trend,
            direction: direction.into(),
            themes,
            comments,
        }))
    }

    #[tool(
        description = "How deeply an account has adopted the product over the latest weeks (default 12, 2-26) against \
            the same number of weeks before. There is no per-feature log, so adoption is derived from weekly usage: \
            breadth (active users / seats purchased), frequency (logins per active user a week), depth (feature \
            events per active user a week), advanced_features (share of feature events on features gated to a \
            higher plan) and consistency (share of weeks with at least 30% of seats active), each with a level. \
            Example: {\"account_id\": \"acc_000042\", \"weeks\": 8}.",
        annotations(
            title = "Feature adoption",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn feature_adoption(
        &self,
        Parameters(params): Parameters<AdoptionParams>,
    ) -> Result<Json<FeatureAdoption>, ToolError> {
        let account_id = id_arg("account_id", "acc", &params.account_id)?;
        let weeks =
            usize::try_from(range_arg("weeks", params.weeks.unwrap_or(12), 2, 26)?).unwrap_or(12);
        let (account, prepared) = prepared(self.runtime.store(), &account_id).await?;
        let method = "Derived from weekly usage snapshots (active users, seats, logins, feature events, events on \
                      gated features); there is no per-feature log. Levels: breadth high >= 60%, medium >= 30%; \
                      frequency high >= 3, medium >= 1.5; depth high >= 20, medium >= 8; advanced high >= 5%, \
                      medium >= 1%; consistency high >= 80%, medium >= 50%."
            .to_owned();
        let usage = &prepared.usage;
        if usage.is_empty() {
            return Ok(Json(FeatureAdoption {
                account_id: account.id,
                account_name: account.name,
                plan_tier: account.plan_tier,
                status: Status::InsufficientData,
                weeks: weeks as u32,
                as_of: None,
                metrics: Vec::new(),
                method: format!("No usage history yet, so no adoption to measure. {method}"),
            }));
        }
        let n = usage.len();
        let window = &usage[n.saturating_sub(weeks)..];
        let before = (n >= 2 * weeks).then(|| &usage[n - 2 * weeks..n - weeks]);
        let seats = f64::from(prepared.seats.max(1));
        let sum = |w: &[UsagePoint], f: fn(&UsagePoint) -> u32| {
            w.iter().map(|x| f64::from(f(x))).sum::<f64>()
        };
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        type Measure = Box<dyn Fn(&[UsagePoint]) -> f64>;
        let measures: [(&str, &str, Measure, [f64; 2]); 5] = [
            (
                "breadth",
                "mean active users / seats purchased, percent",
                Box::new(move |w| {
                    ratio(sum(w, |x| x.active_users), w.len() as f64 * seats) * 100.0
                }),
                [60.0, 30.0],
            ),
            (
                "frequency",
                "logins per active user a week",
                Box::new(move |w| ratio(sum(w, |x| x.logins), sum(w, |x| x.active_users))),
                [3.0, 1.5],
            ),
            (
                "depth",
                "feature events per active user a week",
                Box::new(move |w| ratio(sum(w, |x| x.feature_events), sum(w, |x| x.active_users))),
                [20.0, 8.0],
            ),
            (
                "advanced_features",
                "events on features gated to a higher plan / all feature events, percent",
                Box::new(move |w| {
                    ratio(
                        sum(w, |x| x.premium_feature_events),
                        sum(w, |x| x.feature_events),
                    ) * 100.0
                }),
                [5.0, 1.0],
            ),
            (
                "consistency",
                "weeks with at least 30% of seats active / weeks, percent",
                Box::new(move |w| {
                    ratio(
                        w.iter()
                            .filter(|x| f64::from(x.active_users) >= 0.3 * seats)
                            .count() as f64,
                        w.len() as f64,
                    ) * 100.0
                }),
                [80.0, 50.0],
            ),
        ];
        let metrics = measures
            .iter()
            .map(|(name, definition, f, [high, medium])| {
                let value = f(window);
                let previous = before.map(f);
                AdoptionMetric {
                    metric: (*name).to_owned(),
                    definition: (*definition).to_owned(),
                    value: (value * 100.0).round() / 100.0,
                    previous: previous.map(|p| (p * 100.0).round() / 100.0),
                    change_percent: previous.and_then(|p| {
                        (p > 0.0).then(|| ((value / p - 1.0) * 100.0).round() as i64)
                    }),
                    level: if value >= *high {
                        "high"
                    } else if value >= *medium {
                        "medium"
                    } else {
                        "low"
                    }
                    .to_owned(),
                }
            })
            .collect();
        Ok(Json(FeatureAdoption {
            account_id: account.id,
            account_name: account.name,
            plan_tier: account.plan_tier,
            status: Status::Scored,
            weeks: weeks as u32,
            as_of: prepared.as_of_text(),
            metrics,
            method,
        }))
    }

    #[tool(
        description = "Onboarding progress of an account, derived from its weekly usage (there is no per-feature log): \
            milestones first_login (a week with a login, due day 7), team_activated (active users >= 30% of seats, \
            day 30), first_value (>= 5 feature events per purchased seat in a week, day 30), premium_feature_used \
            (an event on a gated feature, day 60) and steady_use (4 consecutive activated weeks, day 60), counted \
            from the trial start, else the customer start; each reached (with the day, week granularity), \
            reached_before_history (the recorded usage starts later than the start), stalled (not reached after its \
            due day) or pending. Also days to first value and the stalled steps. Example: {\"account_id\": \"acc_000042\"}.",
        annotations(
            title = "Onboarding progress",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn onboarding_progress(
        &self,
        Parameters(params): Parameters<AccountIdParams>,
    ) -> Result<Json<OnboardingProgress>, ToolError> {
        let account_id = id_arg("account_id", "acc", &params.account_id)?;
        let store = self.runtime.store();
        let history = store::health::history(store, &account_id).await?;
        let account = &history.account;
        let (start, basis) = match (&account.trial_started_at, &account.customer_since) {
            (Some(t), _) => (t.clone(), "trial_started_at"),
            (None, Some(c)) => (c.clone(), "customer_since"),
            (None, None) => (account.created_at.clone(), "created_at"),
        };
        let start_date = date_of(&start).ok_or_else(|| {
            ToolError::Unavailable("the account's start date is not a stored timestamp".into())
        })?;
        let prepared = Prepared::new(account, &history.usage, &history.tickets, &history.nps);
        let moment = prepared
            .as_of
            .unwrap_or_else(|| chrono::Utc::now().date_naive());
        let days_since_start = (moment - start_date).num_days();
        let params = OnboardingParams::default();
        let method = format!(
            "Milestones are read from weekly usage snapshots (no per-feature log), counted from {basis} ({}), at week \
             granularity, up to {}.",
            store::clock::format_date(start_date),
            store::clock::format_date(moment)
        );
        if prepared.usage.is_empty() {
            return Ok(Json(OnboardingProgress {
                account_id: account.id.clone(),
                account_name: account.name.clone(),
                lifecycle_stage: account.lifecycle_stage.clone(),
                status: Status::InsufficientData,
                start,
                start_basis: basis.into(),
                days_since_start,
                milestones: Vec::new(),
                days_to_first_value: None,
                stalled: Vec::new(),
                complete_percent: 0,
                method: format!("No usage history yet: no milestone can be read. {method}"),
            }));
        }
        let week_days: Vec<i64> = history
            .usage
            .iter()
            .map(|w| {
                store::clock::parse_date(&w.week_start).map_or(0, |d| (d - start_date).num_days())
            })
            .collect();
        let milestones = scoring::health::onboarding_milestones(
            &params,
            &prepared.usage,
            &week_days,
            prepared.seats,
            days_since_start,
        );
        let stalled = milestones
            .iter()
            .filter(|m| m.status == "stalled")
            .map(|m| m.milestone.clone())
            .collect();
        let reached = milestones
            .iter()
            .filter(|m| m.status.starts_with("reached"))
            .count() as u32;
        let days_to_first_value = milestones
            .iter()
            .find(|m| m.milestone == "first_value")
            .and_then(|m| m.day_reached);
        Ok(Json(OnboardingProgress {
            account_id: account.id.clone(),
            account_name: account.name.clone(),
            lifecycle_stage: account.lifecycle_stage.clone(),
            status: Status::Scored,
            start,
            start_basis: basis.into(),
            days_since_start,
            complete_percent: reached * 100 / milestones.len().max(1) as u32,
            milestones,
            days_to_first_value,
            stalled,
            method,
        }))
    }
}
