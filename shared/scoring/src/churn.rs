//! Churn risk: how likely an account is to leave, as a 0-100 risk, a tier, the declining
//! signals with their measured size, and interventions ranked by expected effect; and the
//! probability of churning within a horizon.
//!
//! The facts are [`crate::health::AccountFacts`], evaluated **as of the account's latest usage
//! week** (for an account that churned, the week it left, when its usage had already faded):
//! the question answered is "would we have seen it coming", and MRR and lifecycle stage are
//! never inputs (a churned account's MRR is 0, which would leak the outcome).
//!
//! Signals and their most points (version 1, adding up to 100):
//!
//! | signal | points | full at |
//! |---|---|---|
//! | `active_users_trend`: active users, latest 2 weeks vs the 4 weeks ending 8 weeks earlier | 30 | -60% (nothing below -10%) |
//! | `seat_utilisation`: active users / seats purchased | 15 | 15% (nothing from 60%) |
//! | `logins_trend`: logins over the same windows | 10 | -60% (nothing below -10%) |
//! | `ticket_volume`: tickets in 90 days against the usual for the size | 10 | 3x the usual (nothing up to 1.2x) |
//! | `urgent_tickets`: urgent tickets in 90 days (+ half of high ones and of open ones) | 10 | 3 |
//! | `nps`: mean NPS answer in the last year | 15 | 3 (nothing from 8; no answer, no points) |
//! | `idle_seats` (billing): paid seats nobody holds | 10 | 25% assigned (nothing from 75%) |
//!
//! Risk is the rounded sum; each signal's whole points are apportioned by largest remainder,
//! so they add up exactly to the risk. Tiers: critical >= 70, high 50-69, medium 30-49, low
//! < 30. Interventions come from a fixed catalogue ([`PLAYBOOKS`]); each addresses some
//! signals with an expected recovery share, and its expected effect is the risk points it
//! would remove: sum over its signals of share x the signal's points. They are ranked by that
//! effect.
//!
//! Probability: the 90-day churn probability is a logistic curve of the risk
//! (`p90 = 1 / (1 + exp(-(risk - 55) / 9))`), turned into a constant hazard for other
//! horizons: `p(h) = 1 - (1 - p90)^(h / 90)`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::health::{AccountFacts, Status, UsageSummary, apportion, expected_tickets_90d};
use crate::{ModelRef, check_model_ref};

/// The name the rule-based churn model is stored under.
pub const MODEL_NAME: &str = "churn_risk";

/// The intervention playbooks, in catalogue order; `create_intervention` takes these names.
pub const PLAYBOOKS: [&str; 6] = [
    "usage_recovery",
    "executive_outreach",
    "support_escalation",
    "onboarding_restart",
    "renewal_save",
    "adoption_training",
];

/// The signals, in the order the model lists them.
pub const SIGNALS: [&str; 7] = [
    "active_users_trend",
    "seat_utilisation",
    "logins_trend",
    "ticket_volume",
    "urgent_tickets",
    "nps",
    "idle_seats",
];

/// Churn risk tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChurnTier {
    /// Risk 70 and above.
    Critical,
    /// 50-69.
    High,
    /// 30-49.
    Medium,
    /// Below 30.
    Low,
}

impl ChurnTier {
    pub fn as_str(self) -> &'static str {
        match self {
            ChurnTier::Critical => "critical",
            ChurnTier::High => "high",
            ChurnTier::Medium => "medium",
            ChurnTier::Low => "low",
        }
    }
}

/// A signal that adds to the risk, with its measured size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RiskSignal {
    /// One of [`SIGNALS`], e.g. "active_users_trend".
    pub signal: String,
    /// Risk points it adds; the points of all signals add up to the risk.
    pub points: u32,
    /// The most points it can add.
    pub max_points: u32,
    /// The measured change or level, e.g. -40.0 for "-40%" (percent), or a count.
    pub measured: f64,
    /// In words, e.g. "active users -40% over 8 weeks (from 25.0 to 15.0 a week)".
    pub detail: String,
}

/// One intervention from the catalogue, with its expected effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Intervention {
    /// One of [`PLAYBOOKS`]; pass it to create_intervention.
    pub playbook: String,
    /// Risk points it is expected to remove if the signals it addresses recover.
    pub expected_effect: u32,
    /// The signals it addresses.
    pub addresses: Vec<String>,
    /// What to do, in a sentence.
    pub action: String,
}

/// An account's churn risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChurnRisk {
    pub status: Status,
    /// 0 (safe) to 100 (leaving); None when `status` is insufficient_data.
    pub risk: Option<u32>,
    pub tier: Option<ChurnTier>,
    /// The signals that add to the risk, largest first (those adding nothing are left out).
    pub signals: Vec<RiskSignal>,
    /// Interventions that address those signals, largest expected effect first.
    pub interventions: Vec<Intervention>,
    /// What the risk means and the moment it was evaluated at.
    pub note: String,
    pub model: ModelRef,
}

/// How one playbook addresses signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Playbook {
    pub name: String,
    pub action: String,
    /// (signal, percent of its points expected to recover).
    pub addresses: Vec<(String, u32)>,
}

/// Every parameter of the churn model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChurnParams {
    /// Most points per signal, in [`SIGNALS`] order; they add up to 100.
    pub max_points: [u32; 7],
    /// Lowest risk of the critical, high and medium tiers.
    pub critical_from: u32,
    pub high_from: u32,
    pub medium_from: u32,
    /// Tickets usually filed per week per seat^0.35.
    pub tickets_per_week_base: f64,
    /// Risk at which the 90-day probability is 50%, and the logistic scale.
    pub p90_midpoint: f64,
    pub p90_scale: f64,
    pub playbooks: Vec<Playbook>,
}

fn playbook(name: &str, action: &str, addresses: &[(&str, u32)]) -> Playbook {
    Playbook {
        name: name.to_owned(),
        action: action.to_owned(),
        addresses: addresses
            .iter()
            .map(|(s, p)| ((*s).to_owned(), *p))
            .collect(),
    }
}

impl Default for ChurnParams {
    fn default() -> ChurnParams {
        ChurnParams {
            max_points: [30, 15, 10, 10, 10, 15, 10],
            critical_from: 70,
            high_from: 50,
            medium_from: 30,
            tickets_per_week_base: 0.034,
            p90_midpoint: 55.0,
            p90_scale: 9.0,
            playbooks: vec![
                playbook(
                    "usage_recovery",
                    "Find out why use is falling (champion gone, workflow moved) and agree a recovery plan with the admin.",
                    &[("active_users_trend", 60), ("logins_trend", 50)],
                ),
                playbook(
                    "executive_outreach",
                    "Have an executive sponsor call the customer's decision maker about their goals and concerns.",
                    &[("nps", 50), ("active_users_trend", 20), ("idle_seats", 20)],
                ),
                playbook(
                    "support_escalation",
                    "Escalate open and urgent tickets to a named support lead and follow up until solved.",
                    &[("urgent_tickets", 70), ("ticket_volume", 50), ("nps", 20)],
                ),
                playbook(
                    "onboarding_restart",
                    "Re-run onboarding for the unused seats: invite, set up, first workflow in two weeks.",
                    &[("seat_utilisation", 60), ("active_users_trend", 30)],
                ),
                playbook(
                    "renewal_save",
                    "Offer to right-size the contract to the seats in use before renewal, in exchange for a commitment.",
                    &[("idle_seats", 60), ("nps", 20)],
                ),
                playbook(
                    "adoption_training",
                    "Run training on the features their team uses least, for the teams with the fewest logins.",
                    &[("seat_utilisation", 40), ("logins_trend", 50)],
                ),
            ],
        }
    }
}

/// The churn model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnModel {
    model: ModelRef,
    params: ChurnParams,
}

impl Default for ChurnModel {
    fn default() -> ChurnModel {
        ChurnModel::default_v1()
    }
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// A signal's fraction of its points and the measured value with words.
struct Reading {
    fraction: f64,
    measured: f64,
    detail: String,
}

impl ChurnModel {
    pub fn default_v1() -> ChurnModel {
        ChurnModel {
            model: ModelRef::new(MODEL_NAME, 1),
            params: ChurnParams::default(),
        }
    }

    /// A model from stored parameters, checked.
    pub fn from_params(
        name: &str,
        version: u32,
        params: ChurnParams,
    ) -> Result<ChurnModel, String> {
        check_model_ref(name, version)?;
        let total: u32 = params.max_points.iter().sum();
        if total != 100 {
            return Err(format!(
                "the signal points add up to {total}; they must add up to 100"
            ));
        }
        if !(params.medium_from < params.high_from
            && params.high_from < params.critical_from
            && params.critical_from <= 100)
        {
            return Err("the tiers must satisfy medium < high < critical <= 100".into());
        }
        if params.p90_scale <= 0.0 || params.tickets_per_week_base <= 0.0 {
            return Err("the probability scale and ticket base must be above 0".into());
        }
        for p in &params.playbooks {
            if !PLAYBOOKS.contains(&p.name.as_str()) {
                return Err(format!("unknown playbook {:?}", p.name));
            }
            if p.addresses
                .iter()
                .any(|(s, share)| !SIGNALS.contains(&s.as_str()) || *share > 100)
            {
                return Err(format!(
                    "playbook {} names an unknown signal or a share above 100",
                    p.name
                ));
            }
        }
        Ok(ChurnModel {
            model: ModelRef::new(name, version),
            params,
        })
    }

    pub fn model(&self) -> &ModelRef {
        &self.model
    }

    pub fn params(&self) -> &ChurnParams {
        &self.params
    }

    /// The tier of a risk.
    pub fn tier(&self, risk: u32) -> ChurnTier {
        let p = &self.params;
        if risk >= p.critical_from {
            ChurnTier::Critical
        } else if risk >= p.high_from {
            ChurnTier::High
        } else if risk >= p.medium_from {
            ChurnTier::Medium
        } else {
            ChurnTier::Low
        }
    }

    fn readings(&self, facts: &AccountFacts<'_>, summary: &UsageSummary) -> [Reading; 7] {
        let seats = f64::from(facts.seats_purchased);
        let weeks_ago = summary.baseline_weeks_ago();
        let trend = |change: Option<f64>, what: &str, before: Option<f64>, now: f64| match change {
            Some(c) => Reading {
                fraction: clamp01((-c - 0.1) / 0.5),
                measured: (c * 1000.0).round() / 10.0,
                detail: format!(
                    "{what} {:+.0}% over {weeks_ago} weeks (from {:.1} to {now:.1} a week)",
                    c * 100.0,
                    before.unwrap_or(0.0)
                ),
            },
            None => Reading {
                fraction: 0.0,
                measured: 0.0,
                detail: format!("{what}: not enough history to compare (needs 4 weeks)"),
            },
        };
        let active = trend(
            summary.active_change(),
            "active users",
            summary.baseline.map(|b| b.active_users),
            summary.recent.active_users,
        );
        let logins = trend(
            summary.logins_change(),
            "logins",
            summary.baseline.map(|b| b.logins),
            summary.recent.logins,
        );
        let utilisation = if seats > 0.0 {
            summary.recent.active_users / seats
        } else {
            0.0
        };
        let seat = Reading {
            fraction: clamp01((0.6 - utilisation) / 0.45),
            measured: (utilisation * 1000.0).round() / 10.0,
            detail: format!(
                "{:.0}% of {} paid seats active in the latest 2 weeks",
                utilisation * 100.0,
                facts.seats_purchased
            ),
        };
        let s = &facts.support;
        let expected =
            expected_tickets_90d(self.params.tickets_per_week_base, facts.seats_purchased);
        let load = f64::from(s.tickets_90d) / expected;
        let volume = Reading {
            fraction: if s.tickets_90d >= 2 {
                clamp01((load - 1.2) / 1.8)
            } else {
                0.0
            },
            measured: f64::from(s.tickets_90d),
            detail: format!(
                "{} tickets in 90 days, {load:.1}x the usual {expected:.1} for {} seats",
                s.tickets_90d, facts.seats_purchased
            ),
        };
        let urgent_weight =
            f64::from(s.urgent_90d) + 0.5 * f64::from(s.high_90d) + 0.5 * f64::from(s.open_now);
        let urgent = Reading {
            fraction: clamp01(urgent_weight / 3.0),
            measured: f64::from(s.urgent_90d),
            detail: format!(
                "{} urgent and {} high-priority tickets in 90 days, {} open",
                s.urgent_90d, s.high_90d, s.open_now
            ),
        };
        let nps = match facts.nps.mean() {
            Some(mean) => Reading {
                fraction: clamp01((8.0 - mean) / 5.0),
                measured: (mean * 10.0).round() / 10.0,
                detail: format!(
                    "mean NPS answer {mean:.1} from {} answers in the last year ({} detractors){}",
                    facts.nps.responses,
                    facts.nps.detractors,
                    facts
                        .nps
                        .latest
                        .map_or(String::new(), |l| format!(", latest {l}"))
                ),
            },
            None => Reading {
                fraction: 0.0,
                measured: 0.0,
                detail: "no NPS answer in the last year".into(),
            },
        };
        let assigned = if seats > 0.0 {
            summary.recent.seats_used / seats
        } else {
            0.0
        };
        let idle = Reading {
            fraction: clamp01((0.75 - assigned) / 0.5),
            measured: ((1.0 - assigned.min(1.0)) * 1000.0).round() / 10.0,
            detail: format!(
                "{:.0}% of {} paid seats held by nobody: paying for shelfware",
                (1.0 - assigned.min(1.0)) * 100.0,
                facts.seats_purchased
            ),
        };
        [active, seat, logins, volume, urgent, nps, idle]
    }

    fn points(&self, readings: &[Reading; 7]) -> [f64; 7] {
        let mut points = [0.0; 7];
        for (i, r) in readings.iter().enumerate() {
            points[i] = r.fraction * f64::from(self.params.max_points[i]);
        }
        points
    }

    /// The risk alone (None without usage), for scoring many accounts; agrees with
    /// [`ChurnModel::assess`].
    pub fn risk_value(&self, facts: &AccountFacts<'_>) -> Option<u32> {
        if facts.usage.is_empty() {
            return None;
        }
        let summary = UsageSummary::of(facts.usage);
        let points = self.points(&self.readings(facts, &summary));
        Some((points.iter().sum::<f64>().round() as u32).min(100))
    }

    /// The risk with its signals and interventions.
    pub fn assess(&self, facts: &AccountFacts<'_>) -> ChurnRisk {
        if facts.usage.is_empty() {
            return ChurnRisk {
                status: Status::InsufficientData,
                risk: None,
                tier: None,
                signals: Vec::new(),
                interventions: Vec::new(),
                note: "No usage history yet: the account has no weekly usage recorded, so no churn risk is given."
                    .into(),
                model: self.model.clone(),
            };
        }
        let summary = UsageSummary::of(facts.usage);
        let readings = self.readings(facts, &summary);
        let points = self.points(&readings);
        let risk = (points.iter().sum::<f64>().round() as u32).min(100);
        let whole = apportion(&points, &self.params.max_points, risk);
        let mut signals: Vec<RiskSignal> = readings
            .into_iter()
            .enumerate()
            .filter(|(i, _)| whole[*i] > 0)
            .map(|(i, r)| RiskSignal {
                signal: SIGNALS[i].to_owned(),
                points: whole[i],
                max_points: self.params.max_points[i],
                measured: r.measured,
                detail: r.detail,
            })
            .collect();
        signals.sort_by_key(|s| std::cmp::Reverse(s.points));
        let interventions = self.interventions(&points);
        let tier = self.tier(risk);
        ChurnRisk {
            status: Status::Scored,
            risk: Some(risk),
            tier: Some(tier),
            note: format!(
                "Risk {risk}/100 ({}), evaluated as of the account's latest usage week ({} weeks of history); \
                 for an account that already churned that is the week it left, so this shows whether the \
                 signals were visible, not that it left.",
                tier.as_str(),
                summary.weeks
            ),
            signals,
            interventions,
            model: self.model.clone(),
        }
    }

    /// Playbooks that would remove at least one risk point, largest expected effect first
    /// (ties in catalogue order).
    fn interventions(&self, points: &[f64; 7]) -> Vec<Intervention> {
        let mut list: Vec<(f64, usize, Intervention)> = self
            .params
            .playbooks
            .iter()
            .enumerate()
            .filter_map(|(order, p)| {
                let mut effect = 0.0;
                let mut addresses = Vec::new();
                for (signal, share) in &p.addresses {
                    if let Some(i) = SIGNALS.iter().position(|s| s == signal)
                        && points[i] > 0.0
                    {
                        effect += points[i] * f64::from(*share) / 100.0;
                        addresses.push(signal.clone());
                    }
                }
                let rounded = effect.round() as u32;
                (rounded >= 1).then(|| {
                    (
                        effect,
                        order,
                        Intervention {
                            playbook: p.name.clone(),
                            expected_effect: rounded,
                            addresses,
                            action: p.action.clone(),
                        },
                    )
                })
            })
            .collect();
        list.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        list.into_iter().map(|(_, _, i)| i).collect()
    }

    /// Probability (0-1) of churning within `horizon_days` for a risk.
    pub fn probability(&self, risk: u32, horizon_days: u32) -> f64 {
        let p90 = 1.0
            / (1.0 + (-(f64::from(risk) - self.params.p90_midpoint) / self.params.p90_scale).exp());
        1.0 - (1.0 - p90).powf(f64::from(horizon_days) / 90.0)
    }
}

/// Area under the ROC curve of `scores` for positives vs negatives (ties count half): the
/// chance that a random positive scores above a random negative.
pub fn auc(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            if p > n {
                wins += 1.0;
            } else if (p - n).abs() < f64::EPSILON {
                wins += 0.5;
            }
        }
    }
    Some(wins / (positives.len() as f64 * negatives.len() as f64))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::health::UsagePoint;
    use crate::health::tests::{facts, week};

    #[test]
    fn a_steady_account_is_low_risk() {
        let usage: Vec<_> = (0..16).map(|_| week(32, 36)).collect();
        let r = ChurnModel::default_v1().assess(&facts(&usage));
        assert_eq!(r.tier, Some(ChurnTier::Low), "{r:?}");
        assert!(r.risk.unwrap() < 10);
    }

    #[test]
    fn a_fading_account_is_critical_with_measured_signals() {
        let mut usage: Vec<_> = (0..10).map(|_| week(30, 36)).collect();
        usage.extend((0..6).map(|i| week(24 - 4 * i, 30 - 2 * i)));
        let model = ChurnModel::default_v1();
        let mut f = facts(&usage);
        f.nps = crate::health::NpsFacts {
            responses: 1,
            score_sum: 4,
            latest: Some(4),
            promoters: 0,
            detractors: 1,
        };
        let r = model.assess(&f);
        let risk = r.risk.unwrap();
        assert!(risk >= 70, "{r:?}");
        assert_eq!(r.tier, Some(ChurnTier::Critical));
        assert_eq!(r.signals.iter().map(|s| s.points).sum::<u32>(), risk);
        let top = &r.signals[0];
        assert_eq!(top.signal, "active_users_trend");
        assert!(top.measured < -60.0, "{top:?}");
        assert!(top.detail.contains("over 8 weeks"), "{}", top.detail);
        assert_eq!(r.interventions[0].playbook, "usage_recovery");
        assert!(
            r.interventions
                .windows(2)
                .all(|w| w[0].expected_effect >= w[1].expected_effect)
        );
        assert_eq!(model.risk_value(&f), Some(risk));
    }

    #[test]
    fn tiers_follow_the_issue() {
        let m = ChurnModel::default_v1();
        assert_eq!(m.tier(70), ChurnTier::Critical);
        assert_eq!(m.tier(69), ChurnTier::High);
        assert_eq!(m.tier(50), ChurnTier::High);
        assert_eq!(m.tier(49), ChurnTier::Medium);
        assert_eq!(m.tier(30), ChurnTier::Medium);
        assert_eq!(m.tier(29), ChurnTier::Low);
    }

    #[test]
    fn probability_grows_with_risk_and_horizon() {
        let m = ChurnModel::default_v1();
        assert!(m.probability(80, 90) > m.probability(40, 90));
        assert!(m.probability(60, 180) > m.probability(60, 90));
        let p90 = m.probability(55, 90);
        assert!((p90 - 0.5).abs() < 1e-9);
        assert!((m.probability(55, 180) - 0.75).abs() < 1e-9);
        assert_eq!(m.probability(55, 0), 0.0);
    }

    #[test]
    fn no_usage_gives_no_risk() {
        let r = ChurnModel::default_v1().assess(&facts(&[] as &[UsagePoint]));
        assert_eq!(r.status, Status::InsufficientData);
        assert!(r.risk.is_none());
    }

    #[test]
    fn auc_counts_pairs() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(auc(&[1.0], &[1.0]), Some(0.5));
        assert_eq!(auc(&[], &[1.0]), None);
    }

    #[test]
    fn params_are_checked() {
        let mut p = ChurnParams::default();
        p.max_points[0] = 40;
        assert!(
            ChurnModel::from_params("churn_risk", 2, p)
                .unwrap_err()
                .contains("110")
        );
        let mut p = ChurnParams::default();
        p.playbooks[0].name = "hug".into();
        assert!(ChurnModel::from_params("churn_risk", 2, p).is_err());
        assert!(ChurnModel::from_params("churn_risk", 2, ChurnParams::default()).is_ok());
        let names: Vec<_> = ChurnParams::default()
            .playbooks
            .iter()
            .map(|p| p.name.clone())
            .collect();
        assert_eq!(names, PLAYBOOKS);
    }
}
