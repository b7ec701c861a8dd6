//! A plain logistic regression (standardised inputs, missing values at the mean, a small
//! ridge penalty, Newton's method): the baseline every trained model must beat.

use serde::{Deserialize, Serialize};

use crate::gbm::sigmoid;

/// A fitted logistic regression over column-major inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    means: Vec<f64>,
    scales: Vec<f64>,
    /// Intercept first.
    weights: Vec<f64>,
}

fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = a[row][col] / a[col][col];
            let (upper, lower) = a.split_at_mut(row);
            for (target, source) in lower[0][col..n].iter_mut().zip(&upper[col][col..n]) {
                *target -= factor * source;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

impl Logistic {
    /// Fits on `rows` of `columns` with `labels`.
    pub fn fit(columns: &[&[f64]], labels: &[bool], rows: &[u32]) -> Logistic {
        let d = columns.len();
        let mut means = vec![0.0; d];
        let mut scales = vec![1.0; d];
        for (j, column) in columns.iter().enumerate() {
            let values: Vec<f64> = rows
                .iter()
                .map(|&r| column[r as usize])
                .filter(|v| !v.is_nan())
                .collect();
            if values.is_empty() {
                continue;
            }
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let variance =
                values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            means[j] = mean;
            scales[j] = if variance > 1e-12 {
                variance.sqrt()
            } else {
                1.0
            };
        }
        let mut model = Logistic {
            means,
            scales,
            weights: vec![0.0; d + 1],
        };
        let mut x = vec![0.0; d + 1];
        for _ in 0..30 {
            let mut hessian = vec![vec![0.0; d + 1]; d + 1];
            let mut gradient = vec![0.0; d + 1];
            for &r in rows {
                model.standardise(columns, r as usize, &mut x);
                let p = sigmoid(dot(&model.weights, &x));
                let y = if labels[r as usize] { 1.0 } else { 0.0 };
                let w = (p * (1.0 - p)).max(1e-9);
                for i in 0..=d {
                    gradient[i] += (p - y) * x[i];
                    for k in i..=d {
                        hessian[i][k] += w * x[i] * x[k];
                    }
                }
            }
            for i in 0..=d {
                // Mirror the upper triangle (filled above) into the lower one.
                let mirrored: Vec<f64> = hessian[..i].iter().map(|row| row[i]).collect();
                hessian[i][..i].copy_from_slice(&mirrored);
                if i > 0 {
                    hessian[i][i] += 1e-3; // ridge: separable data must not run off
                    gradient[i] += 1e-3 * model.weights[i];
                }
            }
            let Some(step) = solve(hessian, gradient) else {
                break;
            };
            for (w, s) in model.weights.iter_mut().zip(&step) {
                *w -= s;
            }
            if step.iter().map(|s| s.abs()).fold(0.0, f64::max) < 1e-8 {
                break;
            }
        }
        model
    }

    fn standardise(&self, columns: &[&[f64]], row: usize, x: &mut [f64]) {
        x[0] = 1.0;
        for (j, column) in columns.iter().enumerate() {
            let v = column[row];
            x[j + 1] = if v.is_nan() {
                0.0
            } else {
                (v - self.means[j]) / self.scales[j]
            };
        }
    }

    /// The probability for one row of `columns`.
    pub fn predict(&self, columns: &[&[f64]], row: usize) -> f64 {
        let mut x = vec![0.0; self.weights.len()];
        self.standardise(columns, row, &mut x);
        sigmoid(dot(&self.weights, &x))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_linear_rule_is_recovered() {
        let mut shuffler = crate::gbm::Shuffler::new(3);
        let x: Vec<f64> = (0..2000)
            .map(|_| (shuffler.next_u64() % 1000) as f64 / 100.0)
            .collect();
        let labels: Vec<bool> = x
            .iter()
            .map(|v| (shuffler.next_u64() % 1000) as f64 / 1000.0 < sigmoid(v - 5.0))
            .collect();
        let rows: Vec<u32> = (0..2000).collect();
        let model = Logistic::fit(&[&x], &labels, &rows);
        let scores: Vec<f64> = (0..2000).map(|r| model.predict(&[&x], r)).collect();
        assert!(crate::metrics::auc(&scores, &labels).unwrap() > 0.85);
    }
}
