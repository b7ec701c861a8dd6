//! Drift: whether the population a model now scores still looks like the one it learnt
//! from, by the population stability index (PSI) of each input and of the score against a
//! baseline kept with the model. Bands: < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a population's values fell at training time: cut points and the share of values
/// in each bin (the last bin holds missing values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Baseline {
    /// Upper edges of the value bins (deciles of the training values).
    pub edges: Vec<f64>,
    /// Share of training values per bin: one per edge, one above the last edge, one missing.
    pub shares: Vec<f64>,
}

/// How far a population has moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftBand {
    Stable,
    Moderate,
    Significant,
}

impl DriftBand {
    pub fn of(psi: f64) -> DriftBand {
        if psi < 0.1 {
            DriftBand::Stable
        } else if psi <= 0.25 {
            DriftBand::Moderate
        } else {
            DriftBand::Significant
        }
    }
}

fn shares(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; edges.len() + 2];
    for v in values {
        let bin = if v.is_nan() {
            edges.len() + 1
        } else {
            edges.partition_point(|edge| edge < v)
        };
        counts[bin] += 1;
    }
    let total = values.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / total).collect()
}

impl Baseline {
    /// The baseline of training values (deciles; fewer bins when there are few distinct
    /// values).
    pub fn of(values: &[f64]) -> Baseline {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = if sorted.is_empty() {
            Vec::new()
        } else {
            (1..10)
                .map(|q| sorted[q * (sorted.len() - 1) / 10])
                .collect()
        };
        edges.dedup();
        let shares = shares(&edges, values);
        Baseline { edges, shares }
    }

    /// The PSI of `values` against this baseline. Empty bins count as a tiny share so the
    /// index stays finite.
    pub fn psi(&self, values: &[f64]) -> f64 {
        let now = shares(&self.edges, values);
        self.shares
            .iter()
            .zip(&now)
            .map(|(expected, actual)| {
                let e = expected.max(1e-4);
                let a = actual.max(1e-4);
                (a - e) * (a / e).ln()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::gbm::Shuffler;

    fn normal_ish(shuffler: &mut Shuffler, n: usize, shift: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let sum: f64 = (0..12)
                    .map(|_| (shuffler.next_u64() % 10_000) as f64 / 10_000.0)
                    .sum();
                sum - 6.0 + shift
            })
            .collect()
    }

    #[test]
    fn the_same_population_is_stable_and_a_shifted_one_is_not() {
        let mut shuffler = Shuffler::new(11);
        let training = normal_ish(&mut shuffler, 20_000, 0.0);
        let baseline = Baseline::of(&training);
        let same = normal_ish(&mut shuffler, 5_000, 0.0);
        let shifted = normal_ish(&mut shuffler, 5_000, 0.8);
        assert_eq!(DriftBand::of(baseline.psi(&same)), DriftBand::Stable);
        assert_eq!(
            DriftBand::of(baseline.psi(&shifted)),
            DriftBand::Significant
        );
    }
}
