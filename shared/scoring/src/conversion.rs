//! Trial-to-paid conversion: how likely a trial account is to become a paying customer,
//! the engagement signals behind it, and the actions that would raise it most.
//!
//! `trial_conversion` v1 is a logistic model: the log-odds are an intercept plus one
//! contribution per signal, and the probability is `1 / (1 + e^-logodds)`. The signals, each
//! read as a number from 0 to 1 (or -1 to 1 for the trend) before its weight applies:
//!
//! - **seat activation** (weight 2.4): active users in the latest trial week over the trial
//!   seats;
//! - **login trend** (0.8): the latest week's logins against the week before, as a change
//!   from -100% to +100%;
//! - **feature depth** (1.2): feature events per active user in the latest week, full at 20;
//! - **premium use** (1.0): the share of feature events on premium features, full at 25%;
//! - **people engaged** (0.6): the account's contacts with logged activity since the trial
//!   started, full at 3;
//! - **trial ended** (-1.0): the trial is over and the account has not paid.
//!
//! Each factor's `contribution` is its share of the log-odds, so the intercept plus the
//! contributions equal the log-odds exactly, and the probability follows from them.
//! Recommended actions move one signal to a realistic target and say how much the
//! probability would rise (the expected effect), best first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ModelRef, check_model_ref};

/// The name the rule-based conversion model is stored under.
pub const MODEL_NAME: &str = "trial_conversion";

/// What is known about a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrialFacts {
    /// Seats the trial gives (0 if unknown).
    pub trial_seats: u32,
    /// Active users in the latest week of the trial.
    pub active_users: u32,
    /// Logins in the latest week.
    pub logins_latest_week: u32,
    /// Logins in the week before; null when the trial has only one week of usage.
    #[serde(default)]
    pub logins_previous_week: Option<u32>,
    /// Feature events in the latest week.
    pub feature_events: u32,
    /// Premium feature events in the latest week.
    pub premium_feature_events: u32,
    /// Contacts of the account with logged activity since the trial started.
    pub contacts_engaged: u32,
    /// Days left in the trial; 0 or negative when it has ended.
    pub days_left: i64,
    /// Weeks of usage recorded during the trial.
    pub weeks_of_usage: u32,
}

/// Every weight, cap and the intercept of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversionParams {
    /// Log-odds of a trial with no signals at all.
    pub intercept: f64,
    /// Weight of seat activation (active users / trial seats, 0-1).
    pub seat_activation: f64,
    /// Weight of the login trend (-1 to 1).
    pub login_trend: f64,
    /// Weight of feature depth (0-1).
    pub feature_depth: f64,
    /// Feature events per active user per week at which depth is full.
    pub feature_depth_full: f64,
    /// Weight of premium use (0-1).
    pub premium_use: f64,
    /// Premium share of feature events at which premium use is full (0-1).
    pub premium_share_full: f64,
    /// Weight of people engaged (0-1).
    pub people_engaged: f64,
    /// Contacts engaged at which the signal is full.
    pub people_engaged_full: u32,
    /// Weight of a trial that ended unpaid (applied as 1 when it has).
    pub trial_ended: f64,
}

impl Default for ConversionParams {
    /// Version 1.
    fn default() -> ConversionParams {
        ConversionParams {
            intercept: -2.6,
            seat_activation: 2.4,
            login_trend: 0.8,
            feature_depth: 1.2,
            feature_depth_full: 20.0,
            premium_use: 1.0,
            premium_share_full: 0.25,
            people_engaged: 0.6,
            people_engaged_full: 3,
            trial_ended: -1.0,
        }
    }
}

/// One signal's part in the prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversionFactor {
    /// seat_activation, login_trend, feature_depth, premium_use, people_engaged or trial_ended.
    pub factor: String,
    /// The factor in plain words.
    pub label: String,
    /// The signal as the model reads it (0-1; -1 to 1 for the trend).
    pub value: f64,
    /// Its contribution to the log-odds; the intercept plus all contributions equal `log_odds`.
    pub contribution: f64,
    /// The facts behind it.
    pub detail: String,
}

/// Something that would raise the probability, with its expected effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecommendedAction {
    /// The factor it moves.
    pub factor: String,
    /// What to do, in plain words.
    pub action: String,
    /// The probability if it worked (0-1).
    pub probability_after: f64,
    /// The expected effect: `probability_after` minus the probability now.
    pub expected_gain: f64,
}

/// A trial's chance of converting, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversionPrediction {
    /// The trial-to-paid probability, 0-1.
    pub probability: f64,
    /// The same in whole percent.
    pub percent: u32,
    /// high (>= 60%), medium (30-59%) or low.
    pub tier: String,
    /// The model's log-odds: `intercept` plus every factor's contribution.
    pub log_odds: f64,
    /// Log-odds of a trial with no signals.
    pub intercept: f64,
    /// The signals behind the probability.
    pub factors: Vec<ConversionFactor>,
    /// What would raise it, best first (largest expected gain).
    pub actions: Vec<RecommendedAction>,
    /// The model (name and version).
    pub model: ModelRef,
}

/// The conversion model: name, version and parameters.
#[derive(Debug, Clone)]
pub struct ConversionModel {
    model: ModelRef,
    params: ConversionParams,
}

/// The signals as numbers the weights apply to.
#[derive(Debug, Clone, Copy)]
struct Signals {
    activation: f64,
    trend: f64,
    depth: f64,
    premium: f64,
    people: f64,
    ended: f64,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl ConversionModel {
    /// `trial_conversion` v1.
    pub fn default_v1() -> ConversionModel {
        ConversionModel {
            model: ModelRef::new(MODEL_NAME, 1),
            params: ConversionParams::default(),
        }
    }

    /// A model from stored parameters: finite numbers, caps above 0, premium share at most 1.
    pub fn from_params(
        name: &str,
        version: u32,
        params: ConversionParams,
    ) -> Result<ConversionModel, String> {
        check_model_ref(name, version)?;
        let p = &params;
        let numbers = [
            p.intercept,
            p.seat_activation,
            p.login_trend,
            p.feature_depth,
            p.feature_depth_full,
            p.premium_use,
            p.premium_share_full,
            p.people_engaged,
            p.trial_ended,
        ];
        if numbers.iter().any(|x| !x.is_finite() || x.abs() > 100.0) {
            return Err("every weight must be a finite number between -100 and 100".into());
        }
        if p.feature_depth_full <= 0.0 || p.premium_share_full <= 0.0 || p.premium_share_full > 1.0
        {
            return Err(
                "feature_depth_full must be above 0 and premium_share_full in (0, 1]".into(),
            );
        }
        if p.people_engaged_full == 0 {
            return Err("people_engaged_full must be at least 1".into());
        }
        Ok(ConversionModel {
            model: ModelRef::new(name, version),
            params,
        })
    }

    /// The model's name and version.
    pub fn model_ref(&self) -> ModelRef {
        self.model.clone()
    }

    /// The model's parameters.
    pub fn params(&self) -> &ConversionParams {
        &self.params
    }

    fn signals(&self, f: &TrialFacts) -> Signals {
        let p = &self.params;
        let activation = if f.trial_seats == 0 {
            0.0
        } else {
            (f64::from(f.active_users) / f64::from(f.trial_seats)).min(1.0)
        };
        let trend = match f.logins_previous_week {
            Some(previous) if previous > 0 => {
                ((f64::from(f.logins_latest_week) - f64::from(previous)) / f64::from(previous))
                    .clamp(-1.0, 1.0)
            }
            Some(_) if f.logins_latest_week > 0 => 1.0,
            _ => 0.0,
        };
        let depth = if f.active_users == 0 {
            0.0
        } else {
            (f64::from(f.feature_events) / f64::from(f.active_users) / p.feature_depth_full)
                .min(1.0)
        };
        let premium = if f.feature_events == 0 {
            0.0
        } else {
            (f64::from(f.premium_feature_events)
                / f64::from(f.feature_events)
                / p.premium_share_full)
                .min(1.0)
        };
        let people = (f64::from(f.contacts_engaged) / f64::from(p.people_engaged_full)).min(1.0);
        Signals {
            activation,
            trend,
            depth,
            premium,
            people,
            ended: if f.days_left <= 0 { 1.0 } else { 0.0 },
        }
    }

    fn log_odds(&self, s: &Signals) -> f64 {
        let p = &self.params;
        p.intercept
            + p.seat_activation * s.activation
            + p.login_trend * s.trend
            + p.feature_depth * s.depth
            + p.premium_use * s.premium
            + p.people_engaged * s.people
            + p.trial_ended * s.ended
    }

    /// The trial's probability of converting, its factors and the actions ranked by
    /// expected effect.
    pub fn predict(&self, facts: &TrialFacts) -> ConversionPrediction {
        let p = &self.params;
        let s = self.signals(facts);
        let log_odds = self.log_odds(&s);
        let probability = sigmoid(log_odds);
        let percent = |x: f64| format!("{:.0}%", x * 100.0);
        let trend_detail = match facts.logins_previous_week {
            Some(previous) => format!(
                "{} logins in the latest week against {previous} the week before",
                facts.logins_latest_week
            ),
            None => format!(
                "{} logins in the only week of usage so far; no trend yet",
                facts.logins_latest_week
            ),
        };
        let factors = vec![
            ConversionFactor {
                factor: "seat_activation".into(),
                label: "Seat activation".into(),
                value: round4(s.activation),
                contribution: p.seat_activation * s.activation,
                detail: format!(
                    "{} of {} trial seats active in the latest week ({})",
                    facts.active_users,
                    facts.trial_seats,
                    percent(s.activation)
                ),
            },
            ConversionFactor {
                factor: "login_trend".into(),
                label: "Login trend".into(),
                value: round4(s.trend),
                contribution: p.login_trend * s.trend,
                detail: trend_detail,
            },
            ConversionFactor {
                factor: "feature_depth".into(),
                label: "Feature depth".into(),
                value: round4(s.depth),
                contribution: p.feature_depth * s.depth,
                detail: format!(
                    "{} feature events by {} active users in the latest week (full at {} per user)",
                    facts.feature_events, facts.active_users, p.feature_depth_full
                ),
            },
            ConversionFactor {
                factor: "premium_use".into(),
                label: "Premium feature use".into(),
                value: round4(s.premium),
                contribution: p.premium_use * s.premium,
                detail: format!(
                    "{} of {} feature events on premium features (full at {})",
                    facts.premium_feature_events,
                    facts.feature_events,
                    percent(p.premium_share_full)
                ),
            },
            ConversionFactor {
                factor: "people_engaged".into(),
                label: "People engaged".into(),
                value: round4(s.people),
                contribution: p.people_engaged * s.people,
                detail: format!(
                    "{} contacts with logged activity since the trial started (full at {})",
                    facts.contacts_engaged, p.people_engaged_full
                ),
            },
            ConversionFactor {
                factor: "trial_ended".into(),
                label: "Trial time".into(),
                value: s.ended,
                // `+ 0.0` turns -0.0 (a negative weight times zero) into 0.
                contribution: p.trial_ended * s.ended + 0.0,
                detail: if facts.days_left > 0 {
                    format!("{} days left in the trial", facts.days_left)
                } else {
                    format!(
                        "the trial ended {} days ago without converting",
                        -facts.days_left
                    )
                },
            },
        ];

        // Each action moves one signal to a realistic target; the gain is what the model
        // says it would add.
        let mut actions = Vec::new();
        let mut consider = |factor: &str, action: String, changed: Signals| {
            let after = sigmoid(self.log_odds(&changed));
            let gain = after - probability;
            if gain > 0.0005 {
                actions.push(RecommendedAction {
                    factor: factor.into(),
                    action,
                    probability_after: round4(after),
                    expected_gain: round4(gain),
                });
            }
        };
        if s.activation < 1.0 && facts.trial_seats > 0 {
            let target = (s.activation + 0.3).min(1.0);
            let users = (target * f64::from(facts.trial_seats)).ceil() as u32;
            consider(
                "seat_activation",
                format!(
                    "get more of the team using it: onboard {} more users ({} of {} seats active)",
                    users.saturating_sub(facts.active_users).max(1),
                    users,
                    facts.trial_seats
                ),
                Signals {
                    activation: target,
                    ..s
                },
            );
        }
        if s.trend < 0.25 {
            consider(
                "login_trend",
                "re-engage the users who stopped logging in (a check-in call or a usage tip email)"
                    .into(),
                Signals { trend: 0.25, ..s },
            );
        }
        if s.depth < 1.0 {
            consider(
                "feature_depth",
                "run a guided walkthrough of the core workflows so users go beyond the basics"
                    .into(),
                Signals {
                    depth: (s.depth + 0.4).min(1.0),
                    ..s
                },
            );
        }
        if s.premium < 1.0 {
            consider(
                "premium_use",
                "show the premium features that fit their use case (a tailored demo)".into(),
                Signals { premium: 1.0, ..s },
            );
        }
        if s.people < 1.0 {
            consider(
                "people_engaged",
                "reach a decision maker or champion on the account (log the meeting)".into(),
                Signals {
                    people: (s.people + 1.0 / f64::from(p.people_engaged_full)).min(1.0),
                    ..s
                },
            );
        }
        if s.ended > 0.0 || facts.days_left <= 3 {
            consider(
                "trial_ended",
                "extend the trial by a week while they finish evaluating".into(),
                Signals { ended: 0.0, ..s },
            );
        }
        actions.sort_by(|a, b| {
            b.expected_gain
                .total_cmp(&a.expected_gain)
                .then_with(|| a.factor.cmp(&b.factor))
        });

        let rounded = round4(probability);
        ConversionPrediction {
            probability: rounded,
            percent: (probability * 100.0).round() as u32,
            tier: if probability >= 0.6 {
                "high"
            } else if probability >= 0.3 {
                "medium"
            } else {
                "low"
            }
            .into(),
            log_odds,
            intercept: p.intercept,
            factors,
            actions,
            model: self.model_ref(),
        }
    }
}

/// A trial's conversion under `trial_conversion` v1.
pub fn predict(facts: &TrialFacts) -> ConversionPrediction {
    ConversionModel::default_v1().predict(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engaged() -> TrialFacts {
        TrialFacts {
            trial_seats: 10,
            active_users: 9,
            logins_latest_week: 30,
            logins_previous_week: Some(20),
            feature_events: 200,
            premium_feature_events: 50,
            contacts_engaged: 3,
            days_left: 6,
            weeks_of_usage: 2,
        }
    }

    fn idle() -> TrialFacts {
        TrialFacts {
            trial_seats: 10,
            active_users: 1,
            logins_latest_week: 2,
            logins_previous_week: Some(8),
            feature_events: 5,
            premium_feature_events: 0,
            contacts_engaged: 0,
            days_left: -2,
            weeks_of_usage: 2,
        }
    }

    #[test]
    fn engaged_trials_convert_more_often_than_idle_ones() {
        let hot = predict(&engaged());
        let cold = predict(&idle());
        assert!(hot.probability > 0.7, "{hot:?}");
        assert!(cold.probability < 0.1, "{cold:?}");
        assert_eq!(hot.tier, "high");
        assert_eq!(cold.tier, "low");
        assert_eq!(hot.model, ModelRef::new("trial_conversion", 1));
    }

    #[test]
    fn contributions_add_up_to_the_log_odds_and_explain_the_probability() {
        for facts in [engaged(), idle()] {
            let p = predict(&facts);
            let sum = p.intercept + p.factors.iter().map(|f| f.contribution).sum::<f64>();
            assert!((sum - p.log_odds).abs() < 1e-9);
            assert!((sigmoid(sum) - p.probability).abs() < 1e-4);
            assert!((0.0..=1.0).contains(&p.probability));
        }
    }

    #[test]
    fn actions_are_ranked_by_expected_gain_and_each_gain_is_real() {
        let p = predict(&idle());
        assert!(p.actions.len() >= 4, "{:?}", p.actions);
        for pair in p.actions.windows(2) {
            assert!(pair[0].expected_gain >= pair[1].expected_gain);
        }
        for a in &p.actions {
            assert!(a.expected_gain > 0.0);
            assert!((a.probability_after - p.probability - a.expected_gain).abs() < 2e-4);
        }
        assert!(p.actions.iter().any(|a| a.factor == "trial_ended"));
        // A trial with every signal full has nothing left to suggest.
        let full = predict(&TrialFacts {
            active_users: 10,
            logins_previous_week: Some(10),
            logins_latest_week: 20,
            ..engaged()
        });
        assert!(full.actions.is_empty(), "{:?}", full.actions);
    }

    #[test]
    fn missing_facts_do_not_divide_by_zero() {
        let p = predict(&TrialFacts {
            trial_seats: 0,
            active_users: 0,
            logins_latest_week: 0,
            logins_previous_week: None,
            feature_events: 0,
            premium_feature_events: 0,
            contacts_engaged: 0,
            days_left: 10,
            weeks_of_usage: 0,
        });
        assert!(p.probability.is_finite() && p.probability > 0.0);
        assert!(p.factors.iter().all(|f| f.value.is_finite()));
    }

    #[test]
    fn more_activation_never_lowers_the_probability() {
        let mut last = 0.0;
        for active in 0..=10 {
            let p = predict(&TrialFacts {
                active_users: active,
                ..idle()
            })
            .probability;
            assert!(p >= last);
            last = p;
        }
    }

    #[test]
    fn params_round_trip_and_are_checked() {
        let params = ConversionParams::default();
        let json = serde_json::to_string(&params).unwrap_or_default();
        let back: ConversionParams = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, params);
        assert!(ConversionModel::from_params("trial_conversion", 2, params.clone()).is_ok());
        let bad = ConversionParams {
            premium_share_full: 0.0,
            ..params.clone()
        };
        assert!(ConversionModel::from_params("trial_conversion", 2, bad).is_err());
        let bad = ConversionParams {
            intercept: f64::NAN,
            ..params.clone()
        };
        assert!(ConversionModel::from_params("trial_conversion", 2, bad).is_err());
        assert!(ConversionModel::from_params("trial_conversion", 0, params).is_err());
    }
}
