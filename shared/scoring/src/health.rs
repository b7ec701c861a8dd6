//! Account health: a 0-100 score from four factors, usage, engagement, support and billing,
//! with each factor's own 0-100 score, its contribution, the usage trend and a risk level.
//!
//! The facts ([`AccountFacts`]) are what a CSM can observe about an account up to an "as of"
//! moment: the weekly usage history (oldest first, ending with the latest recorded week),
//! support tickets and NPS answers in the windows before that moment, and the contract (plan,
//! seats, tenure). The store decides the moment: the account's latest usage week, which for
//! a churned account is just before it left, so a backtest asks "would we have seen it
//! coming", never "do we know it left". MRR and lifecycle stage are deliberately **not**
//! inputs: a churned account's MRR is 0 and its stage says it churned, which would leak the
//! outcome into the score.
//!
//! Factors (version 1 weights 40 / 25 / 20 / 15, configurable per call, whole numbers that
//! add up to 100):
//!
//! - **usage**: seat utilisation (active users in the latest 2 weeks / seats purchased, full
//!   at 80%) for 60% and the usage trend (active users, latest 4 weeks against the 4 before,
//!   full at no decline, zero at -50%) for 40%.
//! - **engagement**: logins per active user per week (full at 3.5) 35%, feature events per
//!   active user per week (full at 25) 35%, and sentiment (mean NPS of the last year; 50% when
//!   nobody answered) 30%.
//! - **support**: ticket load against what an account of this size usually files (35%),
//!   urgent tickets (35%) and CSAT (30%; 60% when nobody rated).
//! - **billing**: share of paid seats assigned (full at 90%) 50%, tenure (full at 2 years)
//!   30%, no billing disputes (tickets about invoices or charges) in 90 days 20%.
//!
//! The score is the rounded weighted sum; contributions are whole points apportioned by
//! largest remainder, so they add up exactly to the score. Risk level: low at 70 and above,
//! medium 50-69, high 30-49, critical below 30. Trend: improving when active users of the
//! latest 4 weeks are at least 10% above the 4 before, declining when at least 10% below,
//! stable in between; unknown with fewer than 8 weeks of history. An account with no usage
//! history gets [`Status::InsufficientData`] and no score, never a made-up one.

use std::cmp::Ordering;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ModelRef, check_model_ref};

/// The name the rule-based health model is stored under.
pub const MODEL_NAME: &str = "account_health";

/// One week of product usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsagePoint {
    /// Distinct users active that week.
    pub active_users: u32,
    /// Seats assigned to a person that week.
    pub seats_used: u32,
    /// Logins that week.
    pub logins: u32,
    /// Feature events (actions in the product) that week.
    pub feature_events: u32,
    /// Events on features gated to a higher plan tier.
    pub premium_feature_events: u32,
}

/// Support tickets seen from the "as of" moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SupportFacts {
    /// Tickets opened in the 90 days before the moment.
    pub tickets_90d: u32,
    /// Of those, urgent ones.
    pub urgent_90d: u32,
    /// Of those, high-priority ones.
    pub high_90d: u32,
    /// Tickets open at the moment (opened before it, not resolved by it).
    pub open_now: u32,
    /// Sum of CSAT ratings (1-5) of tickets resolved in the 180 days before the moment.
    pub csat_sum: u32,
    /// How many ratings `csat_sum` adds up.
    pub csat_count: u32,
    /// Tickets in the 90 days about billing (invoices, charges).
    pub billing_90d: u32,
}

/// NPS answers in the year before the "as of" moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NpsFacts {
    /// Answers in the year.
    pub responses: u32,
    /// Sum of their scores (0-10 each).
    pub score_sum: u32,
    /// The latest answer's score.
    pub latest: Option<u32>,
    /// Answers of 9-10.
    pub promoters: u32,
    /// Answers of 0-6.
    pub detractors: u32,
}

impl NpsFacts {
    /// The mean score, when anyone answered.
    pub fn mean(&self) -> Option<f64> {
        (self.responses > 0).then(|| f64::from(self.score_sum) / f64::from(self.responses))
    }
}

/// What the models know about one account, as of its latest usage week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFacts<'a> {
    /// starter, growth or enterprise.
    pub plan_tier: &'a str,
    /// Seats in the contract.
    pub seats_purchased: u32,
    /// Days from becoming a customer to the moment; None for trials.
    pub tenure_days: Option<u32>,
    /// Weekly usage, oldest first, ending at the moment.
    pub usage: &'a [UsagePoint],
    pub support: SupportFacts,
    pub nps: NpsFacts,
}

/// Means of the usage history over the windows the models compare.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageSummary {
    /// Weeks of history.
    pub weeks: usize,
    /// Mean of the latest 2 weeks.
    pub recent: UsageMeans,
    /// Mean of the 4 weeks ending 8 weeks before the latest (the "8 weeks ago" baseline).
    pub baseline: Option<UsageMeans>,
    /// Mean of the latest 4 weeks.
    pub last4: UsageMeans,
    /// Mean of the 4 weeks before those.
    pub prev4: Option<UsageMeans>,
}

/// Mean weekly values over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageMeans {
    pub active_users: f64,
    pub seats_used: f64,
    pub logins: f64,
    pub feature_events: f64,
    pub premium_feature_events: f64,
}

impl UsageMeans {
    fn of(weeks: &[UsagePoint]) -> UsageMeans {
        if weeks.is_empty() {
            return UsageMeans::default();
        }
        let n = weeks.len() as f64;
        let sum =
            |f: fn(&UsagePoint) -> u32| weeks.iter().map(|w| f64::from(f(w))).sum::<f64>() / n;
        UsageMeans {
            active_users: sum(|w| w.active_users),
            seats_used: sum(|w| w.seats_used),
            logins: sum(|w| w.logins),
            feature_events: sum(|w| w.feature_events),
            premium_feature_events: sum(|w| w.premium_feature_events),
        }
    }
}

impl UsageSummary {
    /// Summarises a history (oldest first).
    pub fn of(usage: &[UsagePoint]) -> UsageSummary {
        let n = usage.len();
        let tail = |k: usize| &usage[n.saturating_sub(k)..];
        // The baseline is the 4 weeks ending 8 weeks before the latest: weeks n-12..n-8. A
        // shorter history uses its first weeks, as long as they end before the latest 2.
        let baseline = if n >= 4 {
            let end = n.saturating_sub(8).max(2).min(n - 2);
            let start = end.saturating_sub(4);
            Some(UsageMeans::of(&usage[start..end]))
        } else {
            None
        };
        let prev4 = (n >= 8).then(|| UsageMeans::of(&usage[n - 8..n - 4]));
        UsageSummary {
            weeks: n,
            recent: UsageMeans::of(tail(2)),
            baseline,
            last4: UsageMeans::of(tail(4)),
            prev4,
        }
    }

    /// Relative change of active users from the baseline to the latest 2 weeks (-0.4 is a
    /// 40% fall); None without a baseline or when the baseline had nobody.
    pub fn active_change(&self) -> Option<f64> {
        let base = self.baseline?;
        (base.active_users > 0.0).then(|| self.recent.active_users / base.active_users - 1.0)
    }

    /// Relative change of logins over the same windows.
    pub fn logins_change(&self) -> Option<f64> {
        let base = self.baseline?;
        (base.logins > 0.0).then(|| self.recent.logins / base.logins - 1.0)
    }

    /// How many weeks before the latest week the baseline window ends (8 with a full
    /// history), for wording such as "-40% over 8 weeks".
    pub fn baseline_weeks_ago(&self) -> usize {
        let n = self.weeks;
        if n < 4 {
            return 0;
        }
        n - n.saturating_sub(8).max(2).min(n - 2)
    }
}

/// Whether a score could be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The score and factors are present.
    Scored,
    /// The account has no usage history yet: no score is given.
    InsufficientData,
}

/// How much the account's health puts its revenue at risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    Critical,
}

/// Where usage is heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Improving,
    Stable,
    Declining,
    /// Fewer than 8 weeks of history.
    Unknown,
}

/// The usage trend: active users of the latest 4 weeks against the 4 before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Trend {
    pub direction: Direction,
    /// Mean weekly active users over the latest 4 weeks.
    pub recent_active_users: f64,
    /// Mean weekly active users over the 4 weeks before; None with fewer than 8 weeks.
    pub previous_active_users: Option<f64>,
    /// Change in percent, rounded; None when it cannot be measured.
    pub change_percent: Option<i64>,
}

/// One factor of the health score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthFactor {
    /// usage, engagement, support or billing.
    pub factor: String,
    /// The factor's own score, 0-100.
    pub score: u32,
    /// The factor's weight (the most points it can contribute).
    pub weight: u32,
    /// Points it contributes; the contributions add up exactly to the health score.
    pub contribution: u32,
    /// The facts behind it, e.g. "62% of 40 seats active; active users -8% (4 weeks)".
    pub detail: String,
}

/// An account's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthScore {
    pub status: Status,
    /// 0 (failing) to 100 (thriving); None when `status` is insufficient_data.
    pub score: Option<u32>,
    /// low (70+), medium (50-69), high (30-49) or critical (below 30); None without a score.
    pub risk_level: Option<RiskLevel>,
    /// The four factors; empty without a score.
    pub factors: Vec<HealthFactor>,
    pub trend: Option<Trend>,
    /// One or two sentences: what drives the score, or why there is none.
    pub message: String,
    pub model: ModelRef,
}

/// Points per factor; whole numbers adding up to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthWeights {
    pub usage: u32,
    pub engagement: u32,
    pub support: u32,
    pub billing: u32,
}

impl HealthWeights {
    /// Checks that the weights add up to 100; the error says by how much they miss.
    pub fn check(&self) -> Result<(), String> {
        let total = u64::from(self.usage)
            + u64::from(self.engagement)
            + u64::from(self.support)
            + u64::from(self.billing);
        if total == 100 {
            Ok(())
        } else {
            Err(format!(
                "the weights usage {}, engagement {}, support {}, billing {} add up to {total}; they must add up to 100",
                self.usage, self.engagement, self.support, self.billing
            ))
        }
    }

    fn as_array(&self) -> [u32; 4] {
        [self.usage, self.engagement, self.support, self.billing]
    }
}

/// Every parameter of the health model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthParams {
    pub weights: HealthWeights,
    /// Seat utilisation (active users / seats) that earns full usage points, percent.
    pub full_utilisation_percent: u32,
    /// Logins per active user per week that earn full points.
    pub full_logins_per_user: f64,
    /// Feature events per active user per week that earn full points.
    pub full_events_per_user: f64,
    /// Tickets an account usually files per week, per seat to the power 0.35 (support load
    /// grows slower than seats).
    pub tickets_per_week_base: f64,
    /// Share of paid seats assigned that earns full billing points, percent.
    pub full_assigned_percent: u32,
    /// Tenure in days that earns full tenure points.
    pub full_tenure_days: u32,
    /// Change of active users (percent) beyond which the trend is improving or declining.
    pub trend_threshold_percent: u32,
    /// Lowest score of each risk level: low, medium, high (below high: critical).
    pub low_risk_from: u32,
    pub medium_risk_from: u32,
    pub high_risk_from: u32,
}

impl Default for HealthParams {
    fn default() -> HealthParams {
        HealthParams {
            weights: HealthWeights {
                usage: 40,
                engagement: 25,
                support: 20,
                billing: 15,
            },
            full_utilisation_percent: 80,
            full_logins_per_user: 3.5,
            full_events_per_user: 25.0,
            tickets_per_week_base: 0.034,
            full_assigned_percent: 90,
            full_tenure_days: 730,
            trend_threshold_percent: 10,
            low_risk_from: 70,
            medium_risk_from: 50,
            high_risk_from: 30,
        }
    }
}

/// The health model: parameters under a name and version.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthModel {
    model: ModelRef,
    params: HealthParams,
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { 0.0 }
}

/// Tickets an account of `seats` seats usually files in 90 days.
pub(crate) fn expected_tickets_90d(base_per_week: f64, seats: u32) -> f64 {
    base_per_week * 13.0 * f64::from(seats.max(1)).powf(0.35)
}

impl Default for HealthModel {
    fn default() -> HealthModel {
        HealthModel::default_v1()
    }
}

impl HealthModel {
    /// The rule-based version 1.
    pub fn default_v1() -> HealthModel {
        HealthModel {
            model: ModelRef::new(MODEL_NAME, 1),
            params: HealthParams::default(),
        }
    }

    /// A model from stored parameters, checked.
    pub fn from_params(
        name: &str,
        version: u32,
        params: HealthParams,
    ) -> Result<HealthModel, String> {
        check_model_ref(name, version)?;
        params.weights.check()?;
        if !(params.high_risk_from < params.medium_risk_from
            && params.medium_risk_from < params.low_risk_from
            && params.low_risk_from <= 100)
        {
            return Err("the risk levels must satisfy high < medium < low <= 100".into());
        }
        if params.full_utilisation_percent == 0
            || params.full_assigned_percent == 0
            || params.full_tenure_days == 0
            || params.full_logins_per_user <= 0.0
            || params.full_events_per_user <= 0.0
            || params.tickets_per_week_base <= 0.0
        {
            return Err("every 'full at' parameter and the ticket base must be above 0".into());
        }
        Ok(HealthModel {
            model: ModelRef::new(name, version),
            params,
        })
    }

    /// The same model with other weights (checked: whole numbers adding up to 100).
    pub fn with_weights(&self, weights: HealthWeights) -> Result<HealthModel, String> {
        weights.check()?;
        let mut model = self.clone();
        model.params.weights = weights;
        Ok(model)
    }

    pub fn model(&self) -> &ModelRef {
        &self.model
    }

    pub fn params(&self) -> &HealthParams {
        &self.params
    }

    /// The risk level of a health score.
    pub fn risk_level(&self, score: u32) -> RiskLevel {
        let p = &self.params;
        if score >= p.low_risk_from {
            RiskLevel::Low
        } else if score >= p.medium_risk_from {
            RiskLevel::Medium
        } else if score >= p.high_risk_from {
            RiskLevel::High
        } else {
            RiskLevel::Critical
        }
    }

    /// The usage trend of a history.
    pub fn trend(&self, summary: &UsageSummary) -> Trend {
        let recent = summary.last4.active_users;
        let previous = summary.prev4.map(|p| p.active_users);
        let change = previous.and_then(|p| (p > 0.0).then(|| recent / p - 1.0));
        let threshold = f64::from(self.params.trend_threshold_percent) / 100.0;
        let direction = match (previous, change) {
            (None, _) => Direction::Unknown,
            (Some(_), None) if recent > 0.0 => Direction::Improving,
            (Some(_), None) => Direction::Stable,
            (Some(_), Some(c)) if c >= threshold => Direction::Improving,
            (Some(_), Some(c)) if c <= -threshold => Direction::Declining,
            _ => Direction::Stable,
        };
        Trend {
            direction,
            recent_active_users: (recent * 10.0).round() / 10.0,
            previous_active_users: previous.map(|p| (p * 10.0).round() / 10.0),
            change_percent: change.map(|c| (c * 100.0).round() as i64),
        }
    }

    /// Each factor's 0-1 value and its detail, in the order usage, engagement, support, billing.
    fn factor_values(
        &self,
        facts: &AccountFacts<'_>,
        summary: &UsageSummary,
    ) -> [(f64, String); 4] {
        let p = &self.params;
        let seats = f64::from(facts.seats_purchased);
        // Usage: utilisation of the paid seats and the 4-week trend.
        let utilisation = ratio(summary.recent.active_users, seats);
        let util_part = clamp01(utilisation / (f64::from(p.full_utilisation_percent) / 100.0));
        let trend_change = summary.prev4.and_then(|prev| {
            (prev.active_users > 0.0).then(|| summary.last4.active_users / prev.active_users - 1.0)
        });
        // No decline earns full points; a 50% fall earns none; no earlier weeks: neutral.
        let trend_part = trend_change.map_or(0.5, |c| clamp01(1.0 + 2.0 * c.min(0.0)));
        let usage = 0.6 * util_part + 0.4 * trend_part;
        let usage_detail = format!(
            "{:.0}% of {} seats active in the latest 2 weeks; active users {} over 4 weeks",
            utilisation * 100.0,
            facts.seats_purchased,
            trend_change.map_or("not yet comparable".to_owned(), |c| format!(
                "{:+.0}%",
                c * 100.0
            )),
        );

        // Engagement: depth of use per active user and sentiment.
        let logins_per_user = ratio(summary.recent.logins, summary.recent.active_users);
        let events_per_user = ratio(summary.recent.feature_events, summary.recent.active_users);
        let nps_mean = facts.nps.mean();
        let sentiment = nps_mean.map_or(0.5, |m| clamp01(m / 10.0));
        let engagement = 0.35 * clamp01(logins_per_user / p.full_logins_per_user)
            + 0.35 * clamp01(events_per_user / p.full_events_per_user)
            + 0.3 * sentiment;
        let engagement_detail = format!(
            "{logins_per_user:.1} logins and {events_per_user:.0} feature events per active user a week; {}",
            nps_mean.map_or("no NPS answer in the last year".to_owned(), |m| format!(
                "mean NPS answer {m:.1} from {} answers",
                facts.nps.responses
            )),
        );

        // Support: load against the usual for this size, urgency, satisfaction.
        let s = &facts.support;
        let expected = expected_tickets_90d(p.tickets_per_week_base, facts.seats_purchased);
        let load = ratio(f64::from(s.tickets_90d), expected);
        let load_part = clamp01(1.0 - (load - 1.0) / 2.0);
        let urgent_part =
            clamp01(1.0 - (f64::from(s.urgent_90d) + 0.5 * f64::from(s.high_90d)) / 3.0);
        let csat = (s.csat_count > 0).then(|| f64::from(s.csat_sum) / f64::from(s.csat_count));
        let csat_part = csat.map_or(0.6, |c| clamp01((c - 1.0) / 4.0));
        let support = 0.35 * load_part + 0.35 * urgent_part + 0.3 * csat_part;
        let support_detail = format!(
            "{} tickets in 90 days (about {expected:.1} usual for this size), {} urgent, {} high, {} open; {}",
            s.tickets_90d,
            s.urgent_90d,
            s.high_90d,
            s.open_now,
            csat.map_or("no CSAT rating".to_owned(), |c| format!("CSAT {c:.1}/5")),
        );

        // Billing: paying for seats nobody holds, tenure, disputes.
        let assigned = ratio(summary.recent.seats_used, seats);
        let assigned_part = clamp01(assigned / (f64::from(p.full_assigned_percent) / 100.0));
        let tenure_part = facts.tenure_days.map_or(0.0, |d| {
            clamp01(f64::from(d) / f64::from(p.full_tenure_days))
        });
        let dispute_part = if s.billing_90d == 0 { 1.0 } else { 0.0 };
        let billing = 0.5 * assigned_part + 0.3 * tenure_part + 0.2 * dispute_part;
        let billing_detail = format!(
            "{:.0}% of paid seats assigned; {}; {} billing tickets in 90 days",
            assigned * 100.0,
            facts
                .tenure_days
                .map_or("not yet a paying customer".to_owned(), |d| format!(
                    "customer for {d} days"
                )),
            s.billing_90d,
        );
        [
            (usage, usage_detail),
            (engagement, engagement_detail),
            (support, support_detail),
            (billing, billing_detail),
        ]
    }

    /// The health score (None without usage history), without explanations: for ranking
    /// many accounts. Always agrees with [`HealthModel::score`].
    pub fn score_value(&self, facts: &AccountFacts<'_>) -> Option<u32> {
        if facts.usage.is_empty() {
            return None;
        }
        let summary = UsageSummary::of(facts.usage);
        let values = self.factor_values(facts, &summary);
        let weights = self.params.weights.as_array();
        let total: f64 = values
            .iter()
            .zip(weights)
            .map(|((v, _), w)| v * f64::from(w))
            .sum();
        Some((total.round() as u32).min(100))
    }

    /// The health score with its factors, trend and risk level.
    pub fn score(&self, facts: &AccountFacts<'_>) -> HealthScore {
        if facts.usage.is_empty() {
            return HealthScore {
                status: Status::InsufficientData,
                score: None,
                risk_level: None,
                factors: Vec::new(),
                trend: None,
                message: "No usage history yet: the account has no weekly usage recorded, so no health score \
                          is given. Score it once its first week of usage is in."
                    .into(),
                model: self.model.clone(),
            };
        }
        let summary = UsageSummary::of(facts.usage);
        let values = self.factor_values(facts, &summary);
        let weights = self.params.weights.as_array();
        let points: Vec<f64> = values
            .iter()
            .zip(weights)
            .map(|((v, _), w)| v * f64::from(w))
            .collect();
        let score = (points.iter().sum::<f64>().round() as u32).min(100);
        let contributions = apportion(&points, &weights, score);
        let names = ["usage", "engagement", "support", "billing"];
        let factors: Vec<HealthFactor> = values
            .into_iter()
            .enumerate()
            .map(|(i, (value, detail))| HealthFactor {
                factor: names[i].to_owned(),
                score: (value * 100.0).round() as u32,
                weight: weights[i],
                contribution: contributions[i],
                detail,
            })
            .collect();
        let trend = self.trend(&summary);
        let risk_level = self.risk_level(score);
        let weakest = factors
            .iter()
            .min_by_key(|f| (f.score, f.factor.clone()))
            .map_or("usage", |f| f.factor.as_str());
        let strongest = factors
            .iter()
            .max_by_key(|f| (f.score, std::cmp::Reverse(f.factor.clone())))
            .map_or("usage", |f| f.factor.as_str());
        let direction = match trend.direction {
            Direction::Improving => "improving",
            Direction::Stable => "stable",
            Direction::Declining => "declining",
            Direction::Unknown => "not yet measurable (fewer than 8 weeks of usage)",
        };
        let message = format!(
            "Health {score}/100 ({} risk): strongest factor {strongest}, weakest {weakest}; usage is {direction}.",
            match risk_level {
                RiskLevel::Low => "low",
                RiskLevel::Medium => "medium",
                RiskLevel::High => "high",
                RiskLevel::Critical => "critical",
            }
        );
        HealthScore {
            status: Status::Scored,
            score: Some(score),
            risk_level: Some(risk_level),
            factors,
            trend: Some(trend),
            message,
            model: self.model.clone(),
        }
    }
}

/// A plan's price and what marks an account as ready for the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanParams {
    /// starter, growth or enterprise.
    pub tier: String,
    /// List price per seat per month, minor units.
    pub seat_price_minor: i64,
    /// The plan to upgrade to; None for the top plan.
    pub next_tier: Option<String>,
    /// Events per active user per week on features gated to a higher plan that count as
    /// heavy use (None for the top plan, where nothing is gated).
    pub heavy_premium_events_per_user: Option<f64>,
}

/// Every parameter of the expansion rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExpansionParams {
    /// The plans, as `fixtures/demo-company.json` prices them.
    pub plans: Vec<PlanParams>,
    /// Seats assigned (peak of the latest 4 weeks) / seats purchased at or above which an
    /// account is near its seat limit, percent.
    pub seat_pressure_percent: u32,
    /// Utilisation the suggested seat count aims at, percent.
    pub target_utilisation_percent: u32,
    /// The health an account needs to be ready to expand.
    pub min_health: u32,
}

impl Default for ExpansionParams {
    fn default() -> ExpansionParams {
        let plan = |tier: &str, price: i64, next: Option<&str>, heavy: Option<f64>| PlanParams {
            tier: tier.to_owned(),
            seat_price_minor: price,
            next_tier: next.map(str::to_owned),
            heavy_premium_events_per_user: heavy,
        };
        ExpansionParams {
            plans: vec![
                plan("starter", 2_500, Some("growth"), Some(0.15)),
                plan("growth", 4_500, Some("enterprise"), Some(1.5)),
                plan("enterprise", 8_000, None, None),
            ],
            seat_pressure_percent: 90,
            target_utilisation_percent: 80,
            min_health: 60,
        }
    }
}

/// Why and how much an account could expand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Expansion {
    /// True when healthy enough and at least one reason holds.
    pub ready: bool,
    /// seats, upgrade, or seats_and_upgrade.
    pub motion: String,
    /// Plain reasons with their measured values.
    pub reasons: Vec<String>,
    /// Peak seats assigned in the latest 4 weeks / seats purchased, percent.
    pub seat_usage_percent: u32,
    /// Gated-feature events per active user per week over the latest 4 weeks.
    pub premium_events_per_user: f64,
    pub suggested_tier: String,
    pub suggested_seats: u32,
    /// Expected MRR uplift in minor units: the new list price over the current one, applied
    /// to the current MRR (so the account keeps its volume discount), minus the current MRR.
    pub expected_mrr_uplift_minor: i64,
}

impl ExpansionParams {
    fn plan(&self, tier: &str) -> Option<&PlanParams> {
        self.plans.iter().find(|p| p.tier == tier)
    }

    /// The expansion case of an account with `health` and `mrr_minor`, if any reason holds.
    pub fn assess(
        &self,
        facts: &AccountFacts<'_>,
        health: u32,
        mrr_minor: i64,
    ) -> Option<Expansion> {
        let plan = self.plan(facts.plan_tier)?;
        if facts.usage.is_empty() || facts.seats_purchased == 0 || mrr_minor <= 0 {
            return None;
        }
        let last4 = &facts.usage[facts.usage.len().saturating_sub(4)..];
        let peak_used = last4.iter().map(|w| w.seats_used).max().unwrap_or(0);
        let seat_usage = f64::from(peak_used) / f64::from(facts.seats_purchased);
        let means = UsageMeans::of(last4);
        let premium_per_user = ratio(means.premium_feature_events, means.active_users);
        let mut reasons = Vec::new();
        let seat_pressure = seat_usage * 100.0 >= f64::from(self.seat_pressure_percent);
        let mut seats = facts.seats_purchased;
        if seat_pressure {
            let target = f64::from(self.target_utilisation_percent.max(1)) / 100.0;
            seats = ((f64::from(peak_used) / target).ceil() as u32).max(facts.seats_purchased + 1);
            reasons.push(format!(
                "{peak_used} of {} seats assigned ({:.0}%): near the seat limit",
                facts.seats_purchased,
                seat_usage * 100.0
            ));
        }
        let mut tier = plan.tier.clone();
        if let (Some(next), Some(heavy)) = (&plan.next_tier, plan.heavy_premium_events_per_user)
            && premium_per_user >= heavy
            && self.plan(next).is_some()
        {
            tier = next.clone();
            reasons.push(format!(
                "{premium_per_user:.2} events per active user a week on features gated to {next} (heavy use starts at {heavy})"
            ));
        }
        if reasons.is_empty() {
            return None;
        }
        let target_plan = self.plan(&tier)?;
        let current_list = i128::from(plan.seat_price_minor) * i128::from(facts.seats_purchased);
        let target_list = i128::from(target_plan.seat_price_minor) * i128::from(seats);
        let uplift = if current_list > 0 {
            (i128::from(mrr_minor) * target_list + current_list / 2) / current_list
                - i128::from(mrr_minor)
        } else {
            0
        };
        let motion = match (seats > facts.seats_purchased, tier != plan.tier) {
            (true, true) => "seats_and_upgrade",
            (false, true) => "upgrade",
            _ => "seats",
        };
        let ready = health >= self.min_health;
        if !ready {
            reasons.push(format!(
                "health {health} is below the {} needed to expand now",
                self.min_health
            ));
        }
        Some(Expansion {
            ready,
            motion: motion.to_owned(),
            reasons,
            seat_usage_percent: (seat_usage * 100.0).round() as u32,
            premium_events_per_user: (premium_per_user * 100.0).round() / 100.0,
            suggested_tier: tier,
            suggested_seats: seats,
            expected_mrr_uplift_minor: i64::try_from(uplift).unwrap_or(i64::MAX),
        })
    }
}

/// The onboarding milestones, derived from weekly usage (there is no per-feature log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OnboardingParams {
    /// Share of seats active that makes the team activated, percent.
    pub team_activated_percent: u32,
    /// Feature events per purchased seat in a week that mark first value.
    pub first_value_events_per_seat: u32,
    /// Consecutive activated weeks that make steady use.
    pub steady_weeks: u32,
    /// Day by which each milestone is expected: first_login, team_activated, first_value,
    /// premium_feature_used, steady_use.
    pub expected_days: [u32; 5],
}

impl Default for OnboardingParams {
    fn default() -> OnboardingParams {
        OnboardingParams {
            team_activated_percent: 30,
            first_value_events_per_seat: 5,
            steady_weeks: 4,
            expected_days: [7, 30, 30, 60, 60],
        }
    }
}

/// The milestone names, in order.
pub const MILESTONES: [&str; 5] = [
    "first_login",
    "team_activated",
    "first_value",
    "premium_feature_used",
    "steady_use",
];

/// One onboarding milestone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Milestone {
    /// first_login, team_activated, first_value, premium_feature_used or steady_use.
    pub milestone: String,
    /// How it is measured from the weekly usage.
    pub rule: String,
    /// reached, reached_before_history (in the first recorded week, which starts after the
    /// start date, so the day is unknown), stalled (not reached after its expected day) or
    /// pending (not reached, not yet due).
    pub status: String,
    /// Days from the start to the week it was reached (week granularity); None if not
    /// reached or reached before the history.
    pub day_reached: Option<i64>,
    pub expected_by_day: u32,
}

/// Derives the milestones. `week_days[i]` is the day (since the start of the trial or
/// contract) on which usage week `i` starts; `days_now` is the day of the "as of" moment.
pub fn onboarding_milestones(
    params: &OnboardingParams,
    usage: &[UsagePoint],
    week_days: &[i64],
    seats: u32,
    days_now: i64,
) -> Vec<Milestone> {
    let activated = |w: &UsagePoint| {
        seats > 0
            && u64::from(w.active_users) * 100
                >= u64::from(seats) * u64::from(params.team_activated_percent)
    };
    let first = |pred: &dyn Fn(usize) -> bool| (0..usage.len()).find(|&i| pred(i));
    let steady = params.steady_weeks.max(1) as usize;
    let found = [
        first(&|i| usage[i].logins > 0),
        first(&|i| activated(&usage[i])),
        first(&|i| {
            u64::from(usage[i].feature_events)
                >= u64::from(seats.max(1)) * u64::from(params.first_value_events_per_seat)
        }),
        first(&|i| usage[i].premium_feature_events > 0),
        first(&|i| i + 1 >= steady && usage[i + 1 - steady..=i].iter().all(activated))
            .map(|i| i + 1 - steady),
    ];
    let rules = [
        "the first week with a login".to_owned(),
        format!(
            "the first week with active users >= {}% of seats",
            params.team_activated_percent
        ),
        format!(
            "the first week with at least {} feature events per purchased seat",
            params.first_value_events_per_seat
        ),
        "the first week with an event on a feature gated to a higher plan".to_owned(),
        format!(
            "the start of the first {} consecutive activated weeks",
            params.steady_weeks
        ),
    ];
    let history_starts_late = week_days.first().is_some_and(|&d| d > 7);
    (0..5)
        .map(|m| {
            let (status, day) = match found[m] {
                Some(0) if history_starts_late => ("reached_before_history", None),
                Some(i) => ("reached", week_days.get(i).map(|d| (*d).max(0))),
                None if days_now > i64::from(params.expected_days[m]) => ("stalled", None),
                None => ("pending", None),
            };
            Milestone {
                milestone: MILESTONES[m].to_owned(),
                rule: rules[m].clone(),
                status: status.to_owned(),
                day_reached: day,
                expected_by_day: params.expected_days[m],
            }
        })
        .collect()
}

/// Whole points per part, adding up exactly to `total` (largest remainder), never more than
/// a part's cap.
pub(crate) fn apportion(points: &[f64], caps: &[u32], total: u32) -> Vec<u32> {
    let mut whole: Vec<u32> = points
        .iter()
        .zip(caps)
        .map(|(p, &cap)| (p.max(0.0).floor() as u32).min(cap))
        .collect();
    let mut remainders: Vec<(f64, usize)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (p.max(0.0) - p.max(0.0).floor(), i))
        .collect();
    remainders.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    let mut owed = total.saturating_sub(whole.iter().sum());
    for &(remainder, i) in &remainders {
        if owed == 0 {
            break;
        }
        if remainder > 0.0 && whole[i] < caps[i] {
            whole[i] += 1;
            owed -= 1;
        }
    }
    // Float edge cases only: put any point still owed where there is room.
    for i in 0..whole.len() {
        while owed > 0 && whole[i] < caps[i] {
            whole[i] += 1;
            owed -= 1;
        }
    }
    // And take back any surplus (a rounding down of the total).
    let mut surplus = whole.iter().sum::<u32>().saturating_sub(total);
    for &(_, i) in remainders.iter().rev() {
        if surplus == 0 {
            break;
        }
        if whole[i] > 0 {
            whole[i] -= 1;
            surplus -= 1;
        }
    }
    whole
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    pub(crate) fn week(active: u32, seats_used: u32) -> UsagePoint {
        UsagePoint {
            active_users: active,
            seats_used,
            logins: active * 3,
            feature_events: active * 22,
            premium_feature_events: active,
        }
    }

    pub(crate) fn facts(usage: &[UsagePoint]) -> AccountFacts<'_> {
        AccountFacts {
            plan_tier: "growth",
            seats_purchased: 40,
            tenure_days: Some(800),
            usage,
            support: SupportFacts {
                tickets_90d: 1,
                csat_sum: 9,
                csat_count: 2,
                ..SupportFacts::default()
            },
            nps: NpsFacts {
                responses: 2,
                score_sum: 17,
                latest: Some(9),
                promoters: 1,
                detractors: 0,
            },
        }
    }

    #[test]
    fn a_healthy_account_scores_high_and_contributions_add_up() {
        let usage: Vec<_> = (0..12).map(|_| week(32, 36)).collect();
        let model = HealthModel::default_v1();
        let h = model.score(&facts(&usage));
        let score = h.score.unwrap();
        assert!(score >= 75, "{h:?}");
        assert_eq!(h.factors.iter().map(|f| f.contribution).sum::<u32>(), score);
        assert_eq!(h.risk_level, Some(RiskLevel::Low));
        assert_eq!(h.trend.unwrap().direction, Direction::Stable);
        assert_eq!(model.score_value(&facts(&usage)), Some(score));
    }

    #[test]
    fn a_falling_account_scores_lower_and_declines() {
        let mut usage: Vec<_> = (0..8).map(|_| week(32, 36)).collect();
        usage.extend((0..4).map(|i| week(20 - 4 * i, 30)));
        let model = HealthModel::default_v1();
        let h = model.score(&facts(&usage));
        let healthy: Vec<_> = (0..12).map(|_| week(32, 36)).collect();
        assert!(h.score.unwrap() < model.score_value(&facts(&healthy)).unwrap());
        assert_eq!(h.trend.as_ref().unwrap().direction, Direction::Declining);
        assert!(h.trend.unwrap().change_percent.unwrap() < -10);
        assert_eq!(
            h.factors.iter().map(|f| f.contribution).sum::<u32>(),
            h.score.unwrap()
        );
    }

    #[test]
    fn no_usage_gives_no_score() {
        let h = HealthModel::default_v1().score(&facts(&[]));
        assert_eq!(h.status, Status::InsufficientData);
        assert!(h.score.is_none() && h.factors.is_empty());
        assert!(h.message.contains("No usage history"));
        assert_eq!(HealthModel::default_v1().score_value(&facts(&[])), None);
    }

    #[test]
    fn weights_must_add_up_to_100() {
        let model = HealthModel::default_v1();
        let err = model
            .with_weights(HealthWeights {
                usage: 50,
                engagement: 25,
                support: 20,
                billing: 15,
            })
            .unwrap_err();
        assert!(err.contains("add up to 110"), "{err}");
        let m = model
            .with_weights(HealthWeights {
                usage: 10,
                engagement: 10,
                support: 70,
                billing: 10,
            })
            .unwrap();
        let usage: Vec<_> = (0..12).map(|_| week(10, 12)).collect();
        let h = m.score(&facts(&usage));
        assert_eq!(h.factors[2].weight, 70);
        assert_eq!(
            h.factors.iter().map(|f| f.contribution).sum::<u32>(),
            h.score.unwrap()
        );
    }

    #[test]
    fn apportionment_keeps_the_sum() {
        assert_eq!(
            apportion(&[0.5, 0.5, 0.5, 0.5], &[40, 25, 20, 15], 2),
            vec![1, 1, 0, 0]
        );
        assert_eq!(
            apportion(&[33.25, 20.5, 10.75, 5.5], &[40, 25, 20, 15], 70),
            vec![33, 21, 11, 5]
        );
        assert_eq!(
            apportion(&[33.6, 20.2, 10.7, 5.5], &[40, 25, 20, 15], 70),
            vec![34, 20, 11, 5]
        );
    }

    #[test]
    fn the_trend_needs_eight_weeks() {
        let usage: Vec<_> = (0..5).map(|_| week(10, 12)).collect();
        let h = HealthModel::default_v1().score(&facts(&usage));
        assert_eq!(h.trend.unwrap().direction, Direction::Unknown);
    }

    #[test]
    fn expansion_needs_a_reason_and_keeps_the_discount() {
        let params = ExpansionParams::default();
        let usage: Vec<_> = (0..8).map(|_| week(30, 38)).collect();
        let f = facts(&usage);
        // 38 of 40 seats: pressure; premium 1 per user < 1.5: no upgrade.
        let e = params.assess(&f, 80, 162_000).unwrap();
        assert!(e.ready);
        assert_eq!(e.motion, "seats");
        assert_eq!(e.suggested_seats, 48);
        // 162,000 x 48 / 40 - 162,000.
        assert_eq!(e.expected_mrr_uplift_minor, 32_400);
        let quiet: Vec<_> = (0..8).map(|_| week(20, 24)).collect();
        assert!(params.assess(&facts(&quiet), 80, 162_000).is_none());
        let heavy: Vec<_> = (0..8)
            .map(|_| UsagePoint {
                premium_feature_events: 60,
                ..week(20, 24)
            })
            .collect();
        let e = params.assess(&facts(&heavy), 40, 180_000).unwrap();
        assert_eq!(
            (e.motion.as_str(), e.suggested_tier.as_str(), e.ready),
            ("upgrade", "enterprise", false)
        );
        // 180,000 x 8,000 / 4,500 - 180,000.
        assert_eq!(e.expected_mrr_uplift_minor, 140_000);
    }

    #[test]
    fn milestones_come_from_the_usage() {
        let usage = vec![
            week(2, 5),
            week(5, 10),
            week(14, 20),
            week(15, 20),
            week(15, 20),
            week(16, 20),
        ];
        let days: Vec<i64> = (0..6).map(|i| 3 + 7 * i).collect();
        let m = onboarding_milestones(&OnboardingParams::default(), &usage, &days, 40, 45);
        assert_eq!(m[0].status, "reached");
        assert_eq!(m[0].day_reached, Some(3));
        // 30% of 40 seats = 12 active users: week 2 (day 17).
        assert_eq!(
            (m[1].status.as_str(), m[1].day_reached),
            ("reached", Some(17))
        );
        // 5 x 40 = 200 events: 14 x 22 = 308 in week 2.
        assert_eq!(m[2].day_reached, Some(17));
        // Four activated weeks in a row: weeks 2-5, starting day 17.
        assert_eq!(m[4].day_reached, Some(17));
        let idle = vec![
            UsagePoint {
                logins: 1,
                ..UsagePoint::default()
            };
            6
        ];
        let m = onboarding_milestones(&OnboardingParams::default(), &idle, &days, 40, 45);
        assert_eq!(m[1].status, "stalled");
        assert_eq!(m[3].status, "pending");
    }
}
