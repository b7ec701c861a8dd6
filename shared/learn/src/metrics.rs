//! How good a model's probabilities are: ROC AUC (ranking), Brier score and a calibration
//! table (whether "30%" happens 30% of the time), log loss.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The area under the ROC curve: the chance that a random positive scores above a random
/// negative (ties count half). None when one class is absent.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = labels.iter().filter(|l| **l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Sum of the positives' ranks, ties sharing their average rank.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let average_rank = (start + end + 1) as f64 / 2.0;
        rank_sum += order[start..end].iter().filter(|&&i| labels[i]).count() as f64 * average_rank;
        start = end;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// The mean squared difference between probability and outcome (0 is perfect; always
/// guessing the base rate r scores r(1-r)).
pub fn brier(probabilities: &[f64], labels: &[bool]) -> f64 {
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(p, y)| (p - if *y { 1.0 } else { 0.0 }).powi(2))
        .sum();
    total / probabilities.len().max(1) as f64
}

/// The mean negative log-likelihood.
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> f64 {
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(p, y)| {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            -if *y { p.ln() } else { (1.0 - p).ln() }
        })
        .sum();
    total / probabilities.len().max(1) as f64
}

/// One band of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CalibrationBand {
    /// The band's probabilities: `[from, to)`.
    pub from: f64,
    pub to: f64,
    pub rows: usize,
    /// The mean predicted probability in the band.
    pub predicted: f64,
    /// The share of the band's rows whose outcome happened.
    pub observed: f64,
}

/// Ten bands of predicted probability with what was predicted and what happened.
pub fn calibration(probabilities: &[f64], labels: &[bool]) -> Vec<CalibrationBand> {
    let mut bands: Vec<(usize, f64, usize)> = vec![(0, 0.0, 0); 10];
    for (p, y) in probabilities.iter().zip(labels) {
        let index = ((p * 10.0) as usize).min(9);
        bands[index].0 += 1;
        bands[index].1 += p;
        bands[index].2 += usize::from(*y);
    }
    bands
        .into_iter()
        .enumerate()
        .filter(|(_, (rows, _, _))| *rows > 0)
        .map(|(i, (rows, predicted, happened))| CalibrationBand {
            from: i as f64 / 10.0,
            to: (i + 1) as f64 / 10.0,
            rows,
            predicted: predicted / rows as f64,
            observed: happened as f64 / rows as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn auc_is_one_for_a_perfect_ranking_and_a_half_for_ties() {
        assert_eq!(
            auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]),
            Some(0.5)
        );
        assert_eq!(
            auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn brier_of_the_base_rate_is_its_variance() {
        let labels = [true, false, false, false];
        assert!((brier(&[0.25; 4], &labels) - 0.1875).abs() < 1e-12);
    }

    #[test]
    fn calibration_bands_count_every_row() {
        let bands = calibration(&[0.05, 0.15, 0.12, 0.95], &[false, true, false, true]);
        assert_eq!(bands.iter().map(|b| b.rows).sum::<usize>(), 4);
        assert_eq!(bands[1].observed, 0.5);
    }
}
