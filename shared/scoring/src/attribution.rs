//! Multi-touch attribution: crediting a won deal's amount to the marketing touches before it.
//!
//! Five models, over a deal's touches in time order (oldest first):
//!
//! - **first_touch**: everything to the first touch;
//! - **last_touch**: everything to the last touch before the close;
//! - **linear**: equal shares;
//! - **time_decay**: a touch's weight halves every `half_life_days` before the close
//!   (weight `2^(-age / half_life)`), so recent touches count most;
//! - **position_based** (40/20/40): 40% to the first touch, 40% to the last, the remaining
//!   20% shared equally by the touches between; one touch takes 100%, two take 50/50.
//!
//! Money is integer minor units, and so are the credits: each model gives every touch a
//! weight, the exact share `amount * weight / total` is computed in integers (128-bit), and
//! the units still owed after flooring go one each to the largest remainders (ties to the
//! earlier touch). So the credits of a deal always add up exactly to its amount, under every
//! model, and totals over many deals never drift.
//!
//! [`Attributor`] keeps its buffers between deals, so crediting a million touches allocates
//! nothing per deal.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An attribution model.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttributionModel {
    /// All credit to the first touch.
    FirstTouch,
    /// All credit to the last touch before the close.
    LastTouch,
    /// Equal credit to every touch.
    Linear,
    /// Credit halving every half-life before the close.
    TimeDecay,
    /// 40% first, 40% last, 20% shared by the touches between.
    PositionBased,
}

impl AttributionModel {
    /// Every model, in the order reports list them.
    pub const ALL: [AttributionModel; 5] = [
        AttributionModel::FirstTouch,
        AttributionModel::LastTouch,
        AttributionModel::Linear,
        AttributionModel::TimeDecay,
        AttributionModel::PositionBased,
    ];

    /// The model's name as written in JSON: `first_touch`, `last_touch`, `linear`,
    /// `time_decay`, `position_based`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributionModel::FirstTouch => "first_touch",
            AttributionModel::LastTouch => "last_touch",
            AttributionModel::Linear => "linear",
            AttributionModel::TimeDecay => "time_decay",
            AttributionModel::PositionBased => "position_based",
        }
    }

    /// Reads a model name (exactly as [`AttributionModel::as_str`] writes it).
    pub fn parse(name: &str) -> Option<AttributionModel> {
        AttributionModel::ALL
            .into_iter()
            .find(|model| model.as_str() == name)
    }
}

/// The largest half-life accepted, in days (ten years: beyond it every touch weighs the same).
pub const MAX_HALF_LIFE_DAYS: f64 = 3650.0;

/// Checks a time-decay half-life: a finite number of days above 0 and at most ten years.
pub fn check_half_life(days: f64) -> Result<f64, String> {
    if !days.is_finite() || days <= 0.0 {
        return Err(format!("is {days}; give a half-life above 0 days, e.g. 7"));
    }
    if days > MAX_HALF_LIFE_DAYS {
        return Err(format!("is {days}; give at most {MAX_HALF_LIFE_DAYS} days"));
    }
    Ok(days)
}

/// Weight of the most recent touch under time decay: weights are scaled so that it is
/// 2^52, keeping 52 bits of precision for the others and the products inside 128 bits.
const DECAY_SCALE: f64 = 4_503_599_627_370_496.0;

/// Credits deals' amounts to their touches, reusing its buffers from deal to deal.
#[derive(Debug, Default, Clone)]
pub struct Attributor {
    weights: Vec<u128>,
    remainders: Vec<(u128, usize)>,
}

impl Attributor {
    /// A new attributor.
    pub fn new() -> Attributor {
        Attributor::default()
    }

    /// Writes into `credits` the credit of each touch (same order as `touch_times`, seconds
    /// since the epoch, oldest first) of a deal of `amount_minor` closed at `close_time`,
    /// under `model`. The credits add up exactly to `amount_minor`; with no touches
    /// `credits` is left empty. A negative amount credits nothing. `half_life_days` is used
    /// only by time decay and must have passed [`check_half_life`].
    pub fn credit(
        &mut self,
        model: AttributionModel,
        touch_times: &[i64],
        close_time: i64,
        amount_minor: i64,
        half_life_days: f64,
        credits: &mut Vec<i64>,
    ) {
        credits.clear();
        let n = touch_times.len();
        if n == 0 {
            return;
        }
        self.weights.clear();
        match model {
            AttributionModel::FirstTouch => {
                self.weights.resize(n, 0);
                self.weights[0] = 1;
            }
            AttributionModel::LastTouch => {
                self.weights.resize(n, 0);
                self.weights[n - 1] = 1;
            }
            AttributionModel::Linear => self.weights.resize(n, 1),
            AttributionModel::PositionBased => match n {
                1 => self.weights.push(1),
                2 => self.weights.extend([1, 1]),
                _ => {
                    // In units of 1 / (10 * middle): ends 4 * middle each (40%), each middle
                    // touch 2 (20% shared by `middle` touches).
                    let middle = (n - 2) as u128;
                    self.weights.push(4 * middle);
                    self.weights.resize(n - 1, 2);
                    self.weights.push(4 * middle);
                }
            },
            AttributionModel::TimeDecay => {
                let half_life = half_life_days.max(f64::MIN_POSITIVE) * 86_400.0;
                // Ages from the close, never negative; the youngest touch weighs the most.
                let youngest = touch_times
                    .iter()
                    .map(|t| close_time.saturating_sub(*t).max(0))
                    .min()
                    .unwrap_or(0);
                for t in touch_times {
                    let age = close_time.saturating_sub(*t).max(0);
                    let relative = (age - youngest) as f64 / half_life;
                    let weight = (DECAY_SCALE * (-relative).exp2()).round();
                    // At least 1, so a touch is never erased entirely by rounding.
                    self.weights.push((weight as u128).max(1));
                }
            }
        }
        self.apportion(amount_minor.max(0), credits);
    }

    /// Largest-remainder apportionment of `amount` by `self.weights` (not all zero).
    fn apportion(&mut self, amount: i64, credits: &mut Vec<i64>) {
        let total: u128 = self.weights.iter().sum();
        let amount_u = amount as u128;
        let mut given: i64 = 0;
        self.remainders.clear();
        for (index, weight) in self.weights.iter().enumerate() {
            let exact = amount_u * weight;
            let floor = (exact / total) as i64;
            given += floor;
            credits.push(floor);
            let remainder = exact % total;
            if remainder > 0 {
                self.remainders.push((remainder, index));
            }
        }
        let owed = usize::try_from(amount - given).unwrap_or(0);
        if owed > 0 {
            // Largest remainder first, ties to the earlier touch; only the `owed` best are
            // needed, so a selection (linear) stands in for a full sort.
            let order = |a: &(u128, usize), b: &(u128, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
            if owed < self.remainders.len() {
                self.remainders.select_nth_unstable_by(owed - 1, order);
            }
            for (_, index) in self.remainders.iter().take(owed) {
                credits[*index] += 1;
            }
        }
    }
}

/// The credits of one deal's touches under `model` (see [`Attributor::credit`]).
pub fn credits(
    model: AttributionModel,
    touch_times: &[i64],
    close_time: i64,
    amount_minor: i64,
    half_life_days: f64,
) -> Vec<i64> {
    let mut out = Vec::with_capacity(touch_times.len());
    Attributor::new().credit(
        model,
        touch_times,
        close_time,
        amount_minor,
        half_life_days,
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn run(model: AttributionModel, days_before_close: &[i64], amount: i64) -> Vec<i64> {
        let close = 1_000 * DAY;
        let times: Vec<i64> = days_before_close.iter().map(|d| close - d * DAY).collect();
        credits(model, &times, close, amount, 7.0)
    }

    #[test]
    fn single_touch_models_give_everything_to_one_end() {
        assert_eq!(
            run(AttributionModel::FirstTouch, &[30, 10, 1], 1000),
            [1000, 0, 0]
        );
        assert_eq!(
            run(AttributionModel::LastTouch, &[30, 10, 1], 1000),
            [0, 0, 1000]
        );
    }

    #[test]
    fn linear_shares_equally_and_gives_leftover_cents_to_the_earliest() {
        assert_eq!(run(AttributionModel::Linear, &[3, 2, 1], 100), [34, 33, 33]);
        assert_eq!(run(AttributionModel::Linear, &[4, 3, 2, 1], 1000), [250; 4]);
    }

    #[test]
    fn position_based_is_40_20_40() {
        use AttributionModel::PositionBased as P;
        assert_eq!(run(P, &[5], 1000), [1000]);
        assert_eq!(run(P, &[5, 1], 1000), [500, 500]);
        assert_eq!(run(P, &[5, 3, 1], 1000), [400, 200, 400]);
        assert_eq!(run(P, &[5, 4, 3, 1], 1000), [400, 100, 100, 400]);
        assert_eq!(run(P, &[5, 4, 3, 2, 1], 1001), [400, 67, 67, 67, 400]);
    }

    #[test]
    fn time_decay_halves_every_half_life() {
        // Ages 14, 7 and 0 days with a 7-day half-life: weights 1/4, 1/2, 1 (of 7/4).
        assert_eq!(
            run(AttributionModel::TimeDecay, &[14, 7, 0], 7000),
            [1000, 2000, 4000]
        );
        // A longer half-life flattens the curve.
        let close = 100 * DAY;
        let times = [close - 14 * DAY, close];
        let long = credits(AttributionModel::TimeDecay, &times, close, 1000, 70.0);
        let short = credits(AttributionModel::TimeDecay, &times, close, 1000, 7.0);
        assert!(long[0] > short[0], "{long:?} {short:?}");
        // Touches after the close count as at the close.
        let late = credits(
            AttributionModel::TimeDecay,
            &[close, close + DAY],
            close,
            10,
            7.0,
        );
        assert_eq!(late, [5, 5]);
    }

    #[test]
    fn no_touches_no_credits_and_zero_amounts_credit_zero() {
        assert!(credits(AttributionModel::Linear, &[], 0, 500, 7.0).is_empty());
        assert_eq!(run(AttributionModel::TimeDecay, &[3, 1], 0), [0, 0]);
        assert_eq!(run(AttributionModel::Linear, &[3, 1], -5), [0, 0]);
    }

    #[test]
    fn credits_always_add_up_to_the_amount_over_a_grid() {
        let amounts = [
            0,
            1,
            2,
            3,
            7,
            99,
            100,
            101,
            12_345,
            999_999,
            1_000_000_007,
            9_999_999_999_999,
        ];
        let mut attributor = Attributor::new();
        let mut out = Vec::new();
        for n in 1..=23usize {
            for spacing in [0i64, 1, 3_600, DAY, 17 * DAY, 400 * DAY] {
                let close = 10_000 * DAY;
                // Irregular gaps, oldest first.
                let times: Vec<i64> = (0..n)
                    .map(|i| close - spacing * ((n - i) as i64 * (i as i64 % 3 + 1)))
                    .scan(i64::MIN, |last, t| {
                        *last = (*last).max(t);
                        Some(*last)
                    })
                    .collect();
                for amount in amounts {
                    for model in AttributionModel::ALL {
                        for half_life in [0.01, 1.0, 7.0, 30.5, 3650.0] {
                            attributor.credit(model, &times, close, amount, half_life, &mut out);
                            assert_eq!(out.len(), n);
                            assert_eq!(
                                out.iter().sum::<i64>(),
                                amount,
                                "{model:?} n={n} amount={amount} hl={half_life} {out:?}"
                            );
                            assert!(out.iter().all(|c| *c >= 0));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_models_differ_on_a_three_touch_deal() {
        let days = [20, 10, 0];
        let by_model: Vec<Vec<i64>> = AttributionModel::ALL
            .iter()
            .map(|m| run(*m, &days, 10_000))
            .collect();
        for (i, a) in by_model.iter().enumerate() {
            for b in &by_model[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn names_round_trip_and_half_lives_are_checked() {
        for model in AttributionModel::ALL {
            assert_eq!(AttributionModel::parse(model.as_str()), Some(model));
            let json = serde_json::to_string(&model).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", model.as_str()));
        }
        assert_eq!(AttributionModel::parse("u_shaped"), None);
        assert!(check_half_life(7.0).is_ok());
        assert!(check_half_life(0.0).is_err());
        assert!(check_half_life(-1.0).is_err());
        assert!(check_half_life(f64::NAN).is_err());
        assert!(check_half_life(4000.0).is_err());
    }
}
