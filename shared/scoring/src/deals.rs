//! Deals: how likely an open deal is to be won, what puts it at risk, and which forecast
//! category it belongs in.
//!
//! **Win probability** (`win_probability` v1) starts from the stage's base rate
//! (prospecting 10%, qualification 20%, proposal 40%, negotiation 65%) and adds factors, in
//! percentage points:
//!
//! - activity recency: last activity within 7 days +5; quiet for 14 days or more -5; for 30
//!   days or more, or never, -10;
//! - activity volume: 8 or more activities in the last 30 days +5;
//! - close date passed while the deal is still open: -10;
//! - close date pushed out: -5 per push, at most -15;
//! - time in stage against the usual time (from history, or the defaults: prospecting 14
//!   days, qualification 21, proposal 21, negotiation 14): over 1.5 times -5, over twice
//!   -10;
//! - decision maker involved +5, not involved -5;
//! - deal older than 180 days: -5.
//!
//! An open deal is kept between 1% and 99%, never certain either way; when that bound
//! changes the number, the change is its own `bounds` factor, so the base plus the factors
//! always equals the percentage exactly. Closed deals are 100% (won) or 0% (lost) with no
//! factors. The amount does not change the probability in version 1.
//!
//! **Risks** use the same facts: no recent activity (high from 30 days or never, medium from
//! 14), close date passed (high), close date slipped (low once, medium twice, high three
//! times or more), stuck in stage (medium over 1.5 times the usual time, high over twice)
//! and no decision maker (medium from proposal on, low before). Closed deals have none.
//!
//! **Forecast category**: closed won; commit for negotiation or a win probability of 70% or
//! more; best case for proposal or 40% or more; pipeline for other open deals; omitted for
//! closed lost.
//!
//! Every rate, effect and threshold is in [`DealModelParams`]; [`DealModel::from_params`]
//! loads other versions. The free functions use version 1.

use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ModelRef, check_model_ref, normalised, plural};

/// The name the rule-based win probability model is stored under.
pub const MODEL_NAME: &str = "win_probability";

/// A stage of a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealStage {
    /// First contact; need not yet established.
    Prospecting,
    /// Need, budget and decision makers being established.
    Qualification,
    /// A proposal has been sent.
    Proposal,
    /// Terms are being negotiated.
    Negotiation,
    /// Won.
    ClosedWon,
    /// Lost.
    ClosedLost,
}

impl DealStage {
    /// Reads a stage ignoring case, spaces and punctuation ("Closed Won", "closed-won" and
    /// "closed_won" are all closed won); `None` if it is not a stage.
    pub fn parse(stage: &str) -> Option<DealStage> {
        match normalised(stage).as_slice() {
            b"prospecting" | b"prospect" => Some(DealStage::Prospecting),
            b"qualification" | b"qualifying" => Some(DealStage::Qualification),
            b"proposal" => Some(DealStage::Proposal),
            b"negotiation" | b"negotiating" => Some(DealStage::Negotiation),
            b"closedwon" | b"won" => Some(DealStage::ClosedWon),
            b"closedlost" | b"lost" => Some(DealStage::ClosedLost),
            _ => None,
        }
    }

    /// The stage as stored: "prospecting", ..., "closed_won", "closed_lost".
    pub fn as_str(self) -> &'static str {
        match self {
            DealStage::Prospecting => "prospecting",
            DealStage::Qualification => "qualification",
            DealStage::Proposal => "proposal",
            DealStage::Negotiation => "negotiation",
            DealStage::ClosedWon => "closed_won",
            DealStage::ClosedLost => "closed_lost",
        }
    }

    /// True for the four stages before a deal closes.
    pub fn is_open(self) -> bool {
        !matches!(self, DealStage::ClosedWon | DealStage::ClosedLost)
    }
}

/// What is known about a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DealFacts {
    /// The deal's stage: prospecting, qualification, proposal, negotiation, closed_won or
    /// closed_lost.
    pub stage: String,
    /// The deal's value in minor currency units (cents).
    pub amount_minor: i64,
    /// Days since the deal was created.
    pub age_days: u32,
    /// Days since the deal entered its current stage.
    pub days_in_stage: u32,
    /// Days since the last logged activity (call, email, meeting); null if there has never
    /// been one.
    #[serde(default)]
    pub days_since_activity: Option<u32>,
    /// How many times the close date has been pushed out.
    #[serde(default)]
    pub close_date_changes: u32,
    /// Days until the expected close date; negative when it has passed.
    pub days_to_close: i64,
    /// Activities logged in the last 30 days.
    #[serde(default)]
    pub activities_last_30d: u32,
    /// How long deals usually stay in this stage, in days, from history; null to use the
    /// defaults.
    #[serde(default)]
    pub usual_days_in_stage: Option<u32>,
    /// True if a decision maker is involved in the deal.
    #[serde(default)]
    pub has_decision_maker: bool,
}

/// One reason the win probability differs from the stage's base rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Factor {
    /// The factor, e.g. "recent_activity", "close_date_slipped", "bounds".
    pub factor: String,
    /// Its effect in percentage points (negative lowers the probability).
    pub effect: i32,
    /// The facts behind it, in plain words.
    pub detail: String,
}

/// How likely a deal is to be won, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WinProbability {
    /// The chance of winning, in percent (0-100); `base_percent` plus every factor's effect.
    pub percent: u32,
    /// The stage's base rate, in percent.
    pub base_percent: u32,
    /// The adjustments to the base rate; empty for closed deals.
    pub factors: Vec<Factor>,
    /// The model (name and version) that produced this probability.
    pub model: ModelRef,
}

/// A kind of deal risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    /// No activity for a while, or never.
    NoRecentActivity,
    /// The close date has passed and the deal is still open.
    CloseDatePassed,
    /// The close date has been pushed out.
    CloseDateSlipped,
    /// The deal has been in its stage much longer than usual.
    StuckInStage,
    /// No decision maker is involved.
    NoDecisionMaker,
}

/// How serious a risk is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Act now.
    High,
    /// Act soon.
    Medium,
    /// Keep an eye on it.
    Low,
}

/// Something that puts a deal at risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Risk {
    /// What kind of risk.
    pub kind: RiskKind,
    /// How serious it is.
    pub severity: Severity,
    /// The facts behind it, in plain words.
    pub detail: String,
}

/// Where a deal counts in the forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastCategory {
    /// Won.
    ClosedWon,
    /// Expected to close: in negotiation or at least 70% likely.
    Commit,
    /// Could close: in proposal or at least 40% likely.
    BestCase,
    /// Open but early.
    Pipeline,
    /// Lost; not in the forecast.
    Omitted,
}

/// One number per open stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StageValues {
    /// For prospecting.
    pub prospecting: u32,
    /// For qualification.
    pub qualification: u32,
    /// For proposal.
    pub proposal: u32,
    /// For negotiation.
    pub negotiation: u32,
}

impl StageValues {
    /// The value for an open stage; `None` for closed ones.
    pub fn get(&self, stage: DealStage) -> Option<u32> {
        match stage {
            DealStage::Prospecting => Some(self.prospecting),
            DealStage::Qualification => Some(self.qualification),
            DealStage::Proposal => Some(self.proposal),
            DealStage::Negotiation => Some(self.negotiation),
            DealStage::ClosedWon | DealStage::ClosedLost => None,
        }
    }

    fn all(&self) -> [(&'static str, u32); 4] {
        [
            ("prospecting", self.prospecting),
            ("qualification", self.qualification),
            ("proposal", self.proposal),
            ("negotiation", self.negotiation),
        ]
    }
}

/// Every rate, effect and threshold of the deal model. Effects are percentage points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DealModelParams {
    /// The win rate of each open stage, in percent.
    pub base_percent: StageValues,
    /// How many days deals usually spend in each open stage, when history does not say.
    pub usual_days_in_stage: StageValues,
    /// Base rate for a stage that is not recognised, in percent.
    pub unknown_stage_percent: u32,
    /// Usual days in a stage that is not recognised.
    pub unknown_stage_usual_days: u32,
    /// Last activity within this many days counts as recent.
    pub recent_activity_days: u32,
    /// Effect of recent activity.
    pub recent_activity_effect: i32,
    /// From this many days without activity the deal is quiet (medium risk).
    pub quiet_days: u32,
    /// Effect of a quiet deal.
    pub quiet_effect: i32,
    /// From this many days without activity, or none ever, the deal is silent (high risk).
    pub silent_days: u32,
    /// Effect of a silent deal.
    pub silent_effect: i32,
    /// Activities in the last 30 days from which the deal counts as busy.
    pub busy_activities_30d: u32,
    /// Effect of a busy deal.
    pub busy_effect: i32,
    /// Effect of each push of the close date.
    pub slip_effect_per_push: i32,
    /// The largest (most negative) total effect of pushes.
    pub max_slip_effect: i32,
    /// Pushes from which slipping is a medium risk (one push is low).
    pub slip_medium_pushes: u32,
    /// Pushes from which slipping is a high risk.
    pub slip_high_pushes: u32,
    /// Effect of a close date that has passed on an open deal.
    pub close_date_passed_effect: i32,
    /// Time in stage, as a percentage of the usual time, above which the deal is stuck
    /// (medium risk).
    pub stuck_medium_percent: u32,
    /// Effect of being stuck.
    pub stuck_medium_effect: i32,
    /// Time in stage, as a percentage of the usual time, above which the deal is badly
    /// stuck (high risk).
    pub stuck_high_percent: u32,
    /// Effect of being badly stuck.
    pub stuck_high_effect: i32,
    /// Effect of a decision maker being involved.
    pub decision_maker_effect: i32,
    /// Effect of no decision maker being involved.
    pub no_decision_maker_effect: i32,
    /// Deals older than this many days are old.
    pub old_deal_days: u32,
    /// Effect of an old deal.
    pub old_deal_effect: i32,
    /// The lowest probability of an open deal, in percent.
    pub min_open_percent: u32,
    /// The highest probability of an open deal, in percent.
    pub max_open_percent: u32,
}

impl Default for DealModelParams {
    /// The rule-based version 1.
    fn default() -> DealModelParams {
        DealModelParams {
            base_percent: StageValues {
                prospecting: 10,
                qualification: 20,
                proposal: 40,
                negotiation: 65,
            },
            usual_days_in_stage: StageValues {
                prospecting: 14,
                qualification: 21,
                proposal: 21,
                negotiation: 14,
            },
            unknown_stage_percent: 10,
            unknown_stage_usual_days: 30,
            recent_activity_days: 7,
            recent_activity_effect: 5,
            quiet_days: 14,
            quiet_effect: -5,
            silent_days: 30,
            silent_effect: -10,
            busy_activities_30d: 8,
            busy_effect: 5,
            slip_effect_per_push: -5,
            max_slip_effect: -15,
            slip_medium_pushes: 2,
            slip_high_pushes: 3,
            close_date_passed_effect: -10,
            stuck_medium_percent: 150,
            stuck_medium_effect: -5,
            stuck_high_percent: 200,
            stuck_high_effect: -10,
            decision_maker_effect: 5,
            no_decision_maker_effect: -5,
            old_deal_days: 180,
            old_deal_effect: -5,
            min_open_percent: 1,
            max_open_percent: 99,
        }
    }
}

/// A deal model: its name and version and its parameters.
#[derive(Debug, Clone)]
pub struct DealModel {
    model: ModelRef,
    params: DealModelParams,
}

static DEFAULT: LazyLock<DealModel> = LazyLock::new(DealModel::default_v1);

/// A deal's win probability under the default model (`win_probability` v1): the stage's
/// base rate plus factors that add up exactly to the percentage.
pub fn win_probability(facts: &DealFacts) -> WinProbability {
    DEFAULT.win_probability(facts)
}

/// A deal's risks under the default model, most severe first; empty for closed deals.
pub fn risks(facts: &DealFacts) -> Vec<Risk> {
    DEFAULT.risks(facts)
}

/// How many days deals usually spend in a stage under the default model (0 for closed
/// stages).
pub fn default_days_in_stage(stage: &str) -> u32 {
    DEFAULT.usual_days_in_stage(stage)
}

/// Where a deal counts in the forecast, from its stage and win probability.
pub fn forecast_category(stage: &str, win_percent: u32) -> ForecastCategory {
    match DealStage::parse(stage) {
        Some(DealStage::ClosedWon) => ForecastCategory::ClosedWon,
        Some(DealStage::ClosedLost) => ForecastCategory::Omitted,
        Some(DealStage::Negotiation) => ForecastCategory::Commit,
        _ if win_percent >= 70 => ForecastCategory::Commit,
        Some(DealStage::Proposal) => ForecastCategory::BestCase,
        _ if win_percent >= 40 => ForecastCategory::BestCase,
        _ => ForecastCategory::Pipeline,
    }
}

impl DealModel {
    /// The rule-based version 1: `win_probability` v1 with the default parameters.
    pub fn default_v1() -> DealModel {
        DealModel {
            model: ModelRef::new(MODEL_NAME, 1),
            params: DealModelParams::default(),
        }
    }

    /// A model from stored parameters, after checking them: rates at most 100, bounds
    /// ordered (min <= max <= 100), activity thresholds rising (recent < quiet < silent),
    /// stuck thresholds at least 100% and rising, slip thresholds rising, usual days above 0.
    pub fn from_params(
        name: &str,
        version: u32,
        params: DealModelParams,
    ) -> Result<DealModel, String> {
        check_model_ref(name, version)?;
        let p = &params;
        for (stage, rate) in p.base_percent.all() {
            if rate > 100 {
                return Err(format!("the {stage} base rate is {rate}%: at most 100"));
            }
        }
        for (stage, days) in p.usual_days_in_stage.all() {
            if days == 0 {
                return Err(format!("the usual days in {stage} is 0: at least 1"));
            }
        }
        if p.unknown_stage_percent > 100 || p.unknown_stage_usual_days == 0 {
            return Err(format!(
                "the unknown stage rate is {}% and usual days {}: the rate is at most 100 and \
                 the days at least 1",
                p.unknown_stage_percent, p.unknown_stage_usual_days
            ));
        }
        if !(p.min_open_percent <= p.max_open_percent && p.max_open_percent <= 100) {
            return Err(format!(
                "the open deal bounds are {}% to {}%: they must satisfy min <= max <= 100",
                p.min_open_percent, p.max_open_percent
            ));
        }
        if !(p.recent_activity_days < p.quiet_days && p.quiet_days < p.silent_days) {
            return Err(format!(
                "the activity thresholds are recent {}, quiet {}, silent {} days: they must rise",
                p.recent_activity_days, p.quiet_days, p.silent_days
            ));
        }
        if !(100 <= p.stuck_medium_percent && p.stuck_medium_percent < p.stuck_high_percent) {
            return Err(format!(
                "the stuck thresholds are {}% and {}%: they must satisfy 100 <= medium < high",
                p.stuck_medium_percent, p.stuck_high_percent
            ));
        }
        if !(1 <= p.slip_medium_pushes && p.slip_medium_pushes <= p.slip_high_pushes) {
            return Err(format!(
                "the slip thresholds are {} and {} pushes: they must satisfy 1 <= medium <= high",
                p.slip_medium_pushes, p.slip_high_pushes
            ));
        }
        Ok(DealModel {
            model: ModelRef::new(name, version),
            params,
        })
    }

    /// The model's name and version.
    pub fn model_ref(&self) -> ModelRef {
        self.model.clone()
    }

    /// The model's parameters.
    pub fn params(&self) -> &DealModelParams {
        &self.params
    }

    /// How many days deals usually spend in a stage (0 for closed stages).
    pub fn usual_days_in_stage(&self, stage: &str) -> u32 {
        match DealStage::parse(stage) {
            Some(s) => self.params.usual_days_in_stage.get(s).unwrap_or(0),
            None => self.params.unknown_stage_usual_days,
        }
    }

    /// A deal's win probability: the stage's base rate plus factors that add up exactly to
    /// the percentage.
    pub fn win_probability(&self, facts: &DealFacts) -> WinProbability {
        let p = &self.params;
        let stage = DealStage::parse(&facts.stage);
        let mut factors = Vec::new();
        let base_percent = match stage {
            Some(DealStage::ClosedWon) => return self.closed(100),
            Some(DealStage::ClosedLost) => return self.closed(0),
            Some(s) => p.base_percent.get(s).unwrap_or(p.unknown_stage_percent),
            None => {
                // Zero effect: it explains the base without breaking the sum.
                factors.push(Factor {
                    factor: "unknown_stage".into(),
                    effect: 0,
                    detail: format!(
                        "stage \"{}\" is not a known stage, so the base rate of {}% is assumed",
                        facts.stage.trim(),
                        p.unknown_stage_percent
                    ),
                });
                p.unknown_stage_percent
            }
        };
        let mut add = |factor: &str, effect: i32, detail: String| {
            if effect != 0 {
                factors.push(Factor {
                    factor: factor.into(),
                    effect,
                    detail,
                });
            }
        };

        match facts.days_since_activity {
            None => add(
                "no_recent_activity",
                p.silent_effect,
                "no activity has ever been logged".into(),
            ),
            Some(days) if days >= p.silent_days => add(
                "no_recent_activity",
                p.silent_effect,
                format!("no activity for {}", plural(days.into(), "day", "days")),
            ),
            Some(days) if days >= p.quiet_days => add(
                "no_recent_activity",
                p.quiet_effect,
                format!("no activity for {}", plural(days.into(), "day", "days")),
            ),
            Some(days) if days <= p.recent_activity_days => add(
                "recent_activity",
                p.recent_activity_effect,
                format!("last activity {}", days_ago(days)),
            ),
            Some(_) => {}
        }
        if facts.activities_last_30d >= p.busy_activities_30d {
            add(
                "activity_volume",
                p.busy_effect,
                format!(
                    "{} in the last 30 days",
                    plural(facts.activities_last_30d.into(), "activity", "activities")
                ),
            );
        }
        if facts.days_to_close < 0 {
            add(
                "close_date_passed",
                p.close_date_passed_effect,
                format!(
                    "the close date passed {}",
                    days_ago_i64(-facts.days_to_close)
                ),
            );
        }
        if facts.close_date_changes > 0 {
            let pushes = i32::try_from(facts.close_date_changes).unwrap_or(i32::MAX);
            let effect = p
                .slip_effect_per_push
                .saturating_mul(pushes)
                .max(p.max_slip_effect.min(0));
            add(
                "close_date_slipped",
                effect,
                format!(
                    "the close date has been pushed out {}",
                    plural(facts.close_date_changes.into(), "time", "times")
                ),
            );
        }
        let stage_name = stage.map_or("this stage", DealStage::as_str);
        let usual = self.usual_days(stage, facts.usual_days_in_stage);
        match self.stuck(facts.days_in_stage, usual) {
            Some(Severity::High) => add(
                "stuck_in_stage",
                p.stuck_high_effect,
                stuck_detail(facts.days_in_stage, stage_name, usual),
            ),
            Some(_) => add(
                "stuck_in_stage",
                p.stuck_medium_effect,
                stuck_detail(facts.days_in_stage, stage_name, usual),
            ),
            None => {}
        }
        if facts.has_decision_maker {
            add(
                "decision_maker",
                p.decision_maker_effect,
                "a decision maker is involved".into(),
            );
        } else {
            add(
                "no_decision_maker",
                p.no_decision_maker_effect,
                "no decision maker is involved".into(),
            );
        }
        if facts.age_days > p.old_deal_days {
            add(
                "deal_age",
                p.old_deal_effect,
                format!(
                    "the deal is {} old (over {})",
                    plural(facts.age_days.into(), "day", "days"),
                    p.old_deal_days
                ),
            );
        }

        let raw =
            i64::from(base_percent) + factors.iter().map(|f| i64::from(f.effect)).sum::<i64>();
        let (min, max) = (i64::from(p.min_open_percent), i64::from(p.max_open_percent));
        let bounded = raw.clamp(min, max);
        if bounded != raw {
            let effect = i32::try_from(bounded - raw).unwrap_or(0);
            let detail = if bounded > raw {
                format!(
                    "raised to the {min}% floor: an open deal is never certain to be lost \
                     (the factors alone give {raw}%)"
                )
            } else {
                format!(
                    "lowered to the {max}% ceiling: an open deal is never certain to be won \
                     (the factors alone give {raw}%)"
                )
            };
            factors.push(Factor {
                factor: "bounds".into(),
                effect,
                detail,
            });
        }
        WinProbability {
            percent: u32::try_from(bounded).unwrap_or(0),
            base_percent,
            factors,
            model: self.model_ref(),
        }
    }

    /// A deal's risks, most severe first; empty for closed deals.
    pub fn risks(&self, facts: &DealFacts) -> Vec<Risk> {
        let p = &self.params;
        let stage = DealStage::parse(&facts.stage);
        if stage.is_some_and(|s| !s.is_open()) {
            return Vec::new();
        }
        let mut risks = Vec::new();
        let activity = if facts.activities_last_30d == 0 {
            String::new()
        } else {
            format!(
                " ({} in the last 30 days)",
                plural(facts.activities_last_30d.into(), "activity", "activities")
            )
        };
        match facts.days_since_activity {
            None => risks.push(Risk {
                kind: RiskKind::NoRecentActivity,
                severity: Severity::High,
                detail: "no activity has ever been logged on this deal".into(),
            }),
            Some(days) if days >= p.quiet_days => risks.push(Risk {
                kind: RiskKind::NoRecentActivity,
                severity: if days >= p.silent_days {
                    Severity::High
                } else {
                    Severity::Medium
                },
                detail: format!(
                    "no activity for {}{activity}",
                    plural(days.into(), "day", "days")
                ),
            }),
            Some(_) => {}
        }
        if facts.days_to_close < 0 {
            risks.push(Risk {
                kind: RiskKind::CloseDatePassed,
                severity: Severity::High,
                detail: format!(
                    "the close date passed {} and the deal is still open",
                    days_ago_i64(-facts.days_to_close)
                ),
            });
        }
        if facts.close_date_changes > 0 {
            let n = facts.close_date_changes;
            risks.push(Risk {
                kind: RiskKind::CloseDateSlipped,
                severity: if n >= p.slip_high_pushes {
                    Severity::High
                } else if n >= p.slip_medium_pushes {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                detail: format!(
                    "the close date has been pushed out {}",
                    plural(n.into(), "time", "times")
                ),
            });
        }
        let usual = self.usual_days(stage, facts.usual_days_in_stage);
        if let Some(severity) = self.stuck(facts.days_in_stage, usual) {
            risks.push(Risk {
                kind: RiskKind::StuckInStage,
                severity,
                detail: stuck_detail(
                    facts.days_in_stage,
                    stage.map_or("this stage", DealStage::as_str),
                    usual,
                ),
            });
        }
        if !facts.has_decision_maker {
            let late = matches!(stage, Some(DealStage::Proposal | DealStage::Negotiation));
            risks.push(Risk {
                kind: RiskKind::NoDecisionMaker,
                severity: if late {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                detail: match stage {
                    Some(s) if late => format!(
                        "no decision maker is involved, and the deal is already in {}",
                        s.as_str()
                    ),
                    _ => "no decision maker is involved yet".into(),
                },
            });
        }
        // Stable: within a severity, the order above (activity, dates, stage, people).
        risks.sort_by_key(|r| r.severity);
        risks
    }

    fn closed(&self, percent: u32) -> WinProbability {
        WinProbability {
            percent,
            base_percent: percent,
            factors: Vec::new(),
            model: self.model_ref(),
        }
    }

    fn usual_days(&self, stage: Option<DealStage>, from_history: Option<u32>) -> u32 {
        let default = stage
            .and_then(|s| self.params.usual_days_in_stage.get(s))
            .unwrap_or(self.params.unknown_stage_usual_days);
        // A usual time of 0 days would make every deal stuck; history that says so is
        // too thin to trust.
        from_history.filter(|d| *d > 0).unwrap_or(default).max(1)
    }

    fn stuck(&self, days_in_stage: u32, usual: u32) -> Option<Severity> {
        let days = u64::from(days_in_stage) * 100;
        let usual = u64::from(usual);
        if days > usual * u64::from(self.params.stuck_high_percent) {
            Some(Severity::High)
        } else if days > usual * u64::from(self.params.stuck_medium_percent) {
            Some(Severity::Medium)
        } else {
            None
        }
    }
}

fn stuck_detail(days: u32, stage: &str, usual: u32) -> String {
    format!(
        "{} in {stage}, where deals usually spend {}",
        plural(days.into(), "day", "days"),
        plural(usual.into(), "day", "days")
    )
}

fn days_ago(days: u32) -> String {
    match days {
        0 => "today".into(),
        1 => "yesterday".into(),
        n => format!("{n} days ago"),
    }
}

fn days_ago_i64(days: i64) -> String {
    days_ago(u32::try_from(days).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A healthy proposal: active, on time, with a decision maker.
    fn healthy(stage: &str) -> DealFacts {
        DealFacts {
            stage: stage.into(),
            amount_minor: 2_500_000,
            age_days: 40,
            days_in_stage: 10,
            days_since_activity: Some(10),
            close_date_changes: 0,
            days_to_close: 30,
            activities_last_30d: 4,
            usual_days_in_stage: None,
            has_decision_maker: true,
        }
    }

    fn stalled() -> DealFacts {
        DealFacts {
            days_in_stage: 60,
            days_since_activity: Some(45),
            close_date_changes: 3,
            days_to_close: -12,
            activities_last_30d: 0,
            has_decision_maker: false,
            ..healthy("proposal")
        }
    }

    fn sum(w: &WinProbability) -> i64 {
        i64::from(w.base_percent) + w.factors.iter().map(|f| i64::from(f.effect)).sum::<i64>()
    }

    #[test]
    fn each_open_stage_starts_from_its_base_rate() {
        for (stage, base) in [
            ("prospecting", 10),
            ("qualification", 20),
            ("proposal", 40),
            ("negotiation", 65),
        ] {
            let w = win_probability(&healthy(stage));
            assert_eq!(w.base_percent, base);
            assert_eq!(w.percent, base + 5, "{w:?}");
            assert_eq!(sum(&w), i64::from(w.percent));
            assert_eq!(w.model, ModelRef::new("win_probability", 1));
        }
    }

    #[test]
    fn closed_deals_are_certain_and_have_no_factors() {
        let won = win_probability(&healthy("closed_won"));
        assert_eq!((won.percent, won.base_percent), (100, 100));
        assert!(won.factors.is_empty());
        let lost = win_probability(&healthy("Closed Lost"));
        assert_eq!((lost.percent, lost.base_percent), (0, 0));
        assert!(lost.factors.is_empty());
        assert!(risks(&stalled_with_stage("closed_won")).is_empty());
        assert!(risks(&stalled_with_stage("closed_lost")).is_empty());
    }

    fn stalled_with_stage(stage: &str) -> DealFacts {
        DealFacts {
            stage: stage.into(),
            ..stalled()
        }
    }

    #[test]
    fn a_stalled_deal_loses_probability_and_every_factor_is_named() {
        let w = win_probability(&stalled());
        let names: Vec<&str> = w.factors.iter().map(|f| f.factor.as_str()).collect();
        assert_eq!(
            names,
            [
                "no_recent_activity",
                "close_date_passed",
                "close_date_slipped",
                "stuck_in_stage",
                "no_decision_maker",
                "bounds"
            ]
        );
        // 40 - 10 - 10 - 15 - 10 - 5 = -10, held at the 1% floor.
        assert_eq!(w.percent, 1, "{w:?}");
        assert_eq!(w.factors.last().map(|f| f.effect), Some(11));
        assert_eq!(sum(&w), 1);
    }

    #[test]
    fn the_ceiling_is_recorded_as_a_factor() {
        let params = DealModelParams {
            decision_maker_effect: 50,
            ..DealModelParams::default()
        };
        let model = DealModel::from_params("win_probability", 2, params).unwrap();
        let w = model.win_probability(&healthy("negotiation"));
        assert_eq!(w.percent, 99);
        let bound = w.factors.iter().find(|f| f.factor == "bounds").unwrap();
        assert_eq!(bound.effect, -16);
        assert!(bound.detail.contains("ceiling"));
        assert_eq!(sum(&w), 99);
        assert_eq!(w.model.version, 2);
    }

    #[test]
    fn base_plus_factors_equals_the_percentage_over_a_grid_of_deals() {
        let stages = [
            "prospecting",
            "qualification",
            "proposal",
            "negotiation",
            "closed_won",
            "closed_lost",
            "evaluation",
        ];
        for stage in stages {
            for days_since_activity in [
                None,
                Some(0),
                Some(7),
                Some(8),
                Some(14),
                Some(30),
                Some(400),
            ] {
                for close_date_changes in [0, 1, 2, 3, 9] {
                    for days_to_close in [-100, -1, 0, 45] {
                        for days_in_stage in [0, 15, 22, 31, 43, 500] {
                            for activities_last_30d in [0, 8] {
                                for has_decision_maker in [false, true] {
                                    for age_days in [10, 181] {
                                        let facts = DealFacts {
                                            stage: stage.into(),
                                            amount_minor: 100,
                                            age_days,
                                            days_in_stage,
                                            days_since_activity,
                                            close_date_changes,
                                            days_to_close,
                                            activities_last_30d,
                                            usual_days_in_stage: None,
                                            has_decision_maker,
                                        };
                                        let w = win_probability(&facts);
                                        assert_eq!(
                                            sum(&w),
                                            i64::from(w.percent),
                                            "{facts:?} {w:?}"
                                        );
                                        assert!(w.percent <= 100);
                                        if stage.starts_with("closed") {
                                            assert!(w.factors.is_empty());
                                        } else {
                                            assert!((1..=99).contains(&w.percent), "{w:?}");
                                        }
                                        let r = risks(&facts);
                                        for pair in r.windows(2) {
                                            assert!(pair[0].severity <= pair[1].severity, "{r:?}");
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn recent_and_frequent_activity_raise_the_probability() {
        let quiet = win_probability(&healthy("proposal")).percent;
        let active = win_probability(&DealFacts {
            days_since_activity: Some(1),
            activities_last_30d: 12,
            ..healthy("proposal")
        });
        assert_eq!(active.percent, quiet + 10, "{active:?}");
        assert!(
            active
                .factors
                .iter()
                .any(|f| f.detail == "last activity yesterday")
        );
    }

    #[test]
    fn pushes_of_the_close_date_cost_five_points_each_up_to_fifteen() {
        let effect = |n| {
            win_probability(&DealFacts {
                close_date_changes: n,
                ..healthy("proposal")
            })
            .factors
            .iter()
            .find(|f| f.factor == "close_date_slipped")
            .map_or(0, |f| f.effect)
        };
        assert_eq!(
            [effect(0), effect(1), effect(2), effect(3), effect(10)],
            [0, -5, -10, -15, -15]
        );
    }

    #[test]
    fn a_stalled_deal_shows_its_risks_most_severe_first() {
        let r = risks(&stalled());
        let kinds: Vec<(RiskKind, Severity)> = r.iter().map(|r| (r.kind, r.severity)).collect();
        assert_eq!(
            kinds,
            [
                (RiskKind::NoRecentActivity, Severity::High),
                (RiskKind::CloseDatePassed, Severity::High),
                (RiskKind::CloseDateSlipped, Severity::High),
                (RiskKind::StuckInStage, Severity::High),
                (RiskKind::NoDecisionMaker, Severity::Medium),
            ]
        );
        assert_eq!(r[0].detail, "no activity for 45 days");
        assert_eq!(
            r[1].detail,
            "the close date passed 12 days ago and the deal is still open"
        );
        assert_eq!(
            r[3].detail,
            "60 days in proposal, where deals usually spend 21 days"
        );
        assert!(risks(&healthy("proposal")).is_empty());
    }

    #[test]
    fn a_slipped_deal_is_a_growing_risk() {
        let severity = |n| {
            risks(&DealFacts {
                close_date_changes: n,
                ..healthy("negotiation")
            })
            .iter()
            .find(|r| r.kind == RiskKind::CloseDateSlipped)
            .map(|r| r.severity)
        };
        assert_eq!(severity(0), None);
        assert_eq!(severity(1), Some(Severity::Low));
        assert_eq!(severity(2), Some(Severity::Medium));
        assert_eq!(severity(3), Some(Severity::High));
    }

    #[test]
    fn stuck_is_measured_against_history_when_there_is_some() {
        let facts = DealFacts {
            days_in_stage: 40,
            ..healthy("qualification")
        };
        // Usually 21 days: 40 is 1.9 times, stuck (medium).
        let by_default = risks(&facts);
        assert_eq!(by_default[0].kind, RiskKind::StuckInStage);
        assert_eq!(by_default[0].severity, Severity::Medium);
        // History says 35 days is usual here: not stuck.
        let by_history = risks(&DealFacts {
            usual_days_in_stage: Some(35),
            ..facts.clone()
        });
        assert!(by_history.is_empty(), "{by_history:?}");
        // History of 0 days is ignored rather than making every deal stuck.
        let zero = risks(&DealFacts {
            usual_days_in_stage: Some(0),
            ..facts
        });
        assert_eq!(zero.len(), 1);
    }

    #[test]
    fn a_missing_decision_maker_matters_more_late_in_the_deal() {
        let early = risks(&DealFacts {
            has_decision_maker: false,
            ..healthy("prospecting")
        });
        assert_eq!(early[0].severity, Severity::Low);
        let late = risks(&DealFacts {
            has_decision_maker: false,
            ..healthy("negotiation")
        });
        assert_eq!(late[0].severity, Severity::Medium);
        assert!(late[0].detail.contains("negotiation"));
    }

    #[test]
    fn never_logged_activity_is_a_high_risk() {
        let facts = DealFacts {
            days_since_activity: None,
            ..healthy("prospecting")
        };
        assert_eq!(risks(&facts)[0].severity, Severity::High);
        assert!(
            win_probability(&facts)
                .factors
                .iter()
                .any(|f| f.effect == -10)
        );
    }

    #[test]
    fn an_unknown_stage_is_explained_without_breaking_the_sum() {
        let w = win_probability(&healthy("Evaluation"));
        assert_eq!(w.base_percent, 10);
        assert_eq!(w.factors[0].factor, "unknown_stage");
        assert_eq!(sum(&w), i64::from(w.percent));
    }

    #[test]
    fn stages_are_read_tolerantly() {
        assert_eq!(DealStage::parse("Closed Won"), Some(DealStage::ClosedWon));
        assert_eq!(DealStage::parse("closed-lost"), Some(DealStage::ClosedLost));
        assert_eq!(
            DealStage::parse("NEGOTIATION"),
            Some(DealStage::Negotiation)
        );
        assert_eq!(DealStage::parse("evaluation"), None);
        for stage in [
            "prospecting",
            "qualification",
            "proposal",
            "negotiation",
            "closed_won",
            "closed_lost",
        ] {
            assert_eq!(DealStage::parse(stage).map(DealStage::as_str), Some(stage));
        }
    }

    #[test]
    fn default_days_in_stage_are_known_per_stage() {
        assert_eq!(default_days_in_stage("prospecting"), 14);
        assert_eq!(default_days_in_stage("qualification"), 21);
        assert_eq!(default_days_in_stage("proposal"), 21);
        assert_eq!(default_days_in_stage("negotiation"), 14);
        assert_eq!(default_days_in_stage("closed_won"), 0);
        assert_eq!(default_days_in_stage("something else"), 30);
    }

    #[test]
    fn forecast_categories_follow_stage_and_probability() {
        use ForecastCategory::*;
        assert_eq!(forecast_category("closed_won", 100), ClosedWon);
        assert_eq!(forecast_category("closed_lost", 0), Omitted);
        assert_eq!(forecast_category("negotiation", 20), Commit);
        assert_eq!(forecast_category("proposal", 75), Commit);
        assert_eq!(forecast_category("proposal", 10), BestCase);
        assert_eq!(forecast_category("qualification", 45), BestCase);
        assert_eq!(forecast_category("qualification", 70), Commit);
        assert_eq!(forecast_category("prospecting", 15), Pipeline);
        assert_eq!(forecast_category("unknown", 39), Pipeline);
        assert_eq!(serde_json::to_value(BestCase).unwrap(), "best_case");
        assert_eq!(
            serde_json::to_value(RiskKind::CloseDateSlipped).unwrap(),
            "close_date_slipped"
        );
        assert_eq!(serde_json::to_value(Severity::High).unwrap(), "high");
    }

    #[test]
    fn deal_params_round_trip_and_bad_ones_are_refused() {
        let params = DealModelParams::default();
        let json = serde_json::to_string(&params).unwrap();
        let back: DealModelParams = serde_json::from_str(&json).unwrap();
        assert_eq!(back, params);
        assert!(DealModel::from_params("win_probability", 2, back).is_ok());
        let bad = |f: fn(&mut DealModelParams), hint: &str| {
            let mut p = DealModelParams::default();
            f(&mut p);
            let err = DealModel::from_params("win_probability", 2, p).unwrap_err();
            assert!(err.contains(hint), "{err}");
        };
        bad(|p| p.base_percent.proposal = 140, "proposal base rate");
        bad(
            |p| p.usual_days_in_stage.negotiation = 0,
            "negotiation is 0",
        );
        bad(|p| p.min_open_percent = 100, "min <= max");
        bad(|p| p.quiet_days = 40, "must rise");
        bad(|p| p.stuck_high_percent = 120, "medium < high");
        bad(|p| p.slip_medium_pushes = 0, "1 <= medium");
    }
}
