//! Gradient-boosted decision trees for a yes/no outcome (logistic loss), written for this
//! suite: histogram splits over at most 64 bins a feature, missing values sent the way
//! that fits best, depth-wise trees, early stopping on a held-out tenth, and per-feature
//! contributions that add up exactly to the prediction's log-odds.
//!
//! Why our own and not a crate: the well-kept Rust GBDT crates either bind C++ (LightGBM,
//! XGBoost: a C++ toolchain and minutes of build on these machines) or give no
//! per-prediction contributions. What we need is small: binary logistic loss on at most a
//! few dozen numeric inputs, deterministic, with exact contributions (each split's change
//! of the node value credited to its feature, so the credits telescope to the leaf value).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a model is grown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GbmParams {
    /// Most trees grown; early stopping usually ends sooner.
    pub max_trees: usize,
    /// Each tree's step (shrinkage).
    pub learning_rate: f64,
    pub max_depth: u32,
    /// Least hessian (about: rows × p(1-p)) a leaf must hold.
    pub min_child_weight: f64,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Most value bins a feature is cut into (2..=255).
    pub max_bins: usize,
    /// Stop when the held-out loss has not improved for this many trees.
    pub early_stopping_rounds: usize,
    /// Share of the training rows held out for early stopping.
    pub validation_fraction: f64,
    /// Share of the training rows each tree learns from (stochastic boosting: faster on
    /// big tables, and less prone to fit noise); 1.0 uses every row for every tree.
    pub subsample: f64,
    pub seed: u64,
}

impl Default for GbmParams {
    fn default() -> Self {
        GbmParams {
            max_trees: 300,
            learning_rate: 0.08,
            max_depth: 4,
            min_child_weight: 2.0,
            lambda: 1.0,
            max_bins: 64,
            early_stopping_rounds: 40,
            validation_fraction: 0.12,
            subsample: 0.7,
            seed: 0x5eed,
        }
    }
}

/// A node of a tree. Internal nodes send a row left when its value is at most `threshold`
/// (a missing value goes left when `missing_left`); every node has the value the model
/// would give at that node, so a split's effect is `child.value - node.value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Node {
    /// The input index; unused in a leaf.
    pub feature: u32,
    pub threshold: f64,
    pub missing_left: bool,
    /// Child indices; 0 in a leaf (the root is never a child).
    pub left: u32,
    pub right: u32,
    pub value: f64,
}

impl Node {
    /// A leaf with `value`; growing the tree may make it a split later.
    fn leaf(value: f64) -> Node {
        Node {
            feature: 0,
            threshold: 0.0,
            missing_left: false,
            left: 0,
            right: 0,
            value,
        }
    }

    fn is_leaf(&self) -> bool {
        self.left == 0
    }
}

/// One tree, its root first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// A trained ensemble over `width` inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gbm {
    /// The log-odds before any tree (the training base rate).
    pub base: f64,
    pub trees: Vec<Tree>,
    pub width: usize,
    /// Total split gain per input, for "most important features".
    pub gain: Vec<f64>,
    /// The trees laid out for fast prediction, built on first use.
    #[serde(skip)]
    #[schemars(skip)]
    compiled: Compiled,
}

/// A split's input index has this bit set when missing values go left.
const MISSING_LEFT: u32 = 1 << 31;

/// One node of the prediction layout: 16 bytes. A split's children sit side by side
/// (`right = left + 1`); a leaf has `left == 0` (no tree's root is a child) and its value in
/// `threshold`.
#[derive(Debug, Clone, Copy)]
struct FlatNode {
    threshold: f64,
    left: u32,
    /// The input index, with [`MISSING_LEFT`].
    feature: u32,
}

/// Every tree in one array of [`FlatNode`]s, in breadth-first order, for prediction: half
/// the memory of [`Node`]s and no branch on the direction taken.
#[derive(Debug, Clone, Default)]
struct Flat {
    nodes: Vec<FlatNode>,
    roots: Vec<u32>,
}

impl Flat {
    fn of(trees: &[Tree]) -> Flat {
        let empty = FlatNode {
            threshold: 0.0,
            left: 0,
            feature: 0,
        };
        let mut flat = Flat::default();
        let mut queue = std::collections::VecDeque::new();
        for tree in trees {
            let root = flat.nodes.len();
            flat.roots.push(u32::try_from(root).unwrap_or(u32::MAX));
            flat.nodes.push(empty);
            queue.push_back((0usize, root));
            while let Some((from, to)) = queue.pop_front() {
                let node = &tree.nodes[from];
                flat.nodes[to] = if node.is_leaf() {
                    FlatNode {
                        threshold: node.value,
                        ..empty
                    }
                } else {
                    let left = flat.nodes.len();
                    flat.nodes.extend([empty, empty]);
                    queue.push_back((node.left as usize, left));
                    queue.push_back((node.right as usize, left + 1));
                    FlatNode {
                        threshold: node.threshold,
                        left: u32::try_from(left).unwrap_or(u32::MAX),
                        feature: node.feature | if node.missing_left { MISSING_LEFT } else { 0 },
                    }
                };
            }
        }
        flat
    }
}

/// The prediction layout, built once per model. A cache: it never makes two models differ.
#[derive(Debug, Clone, Default)]
struct Compiled(std::sync::OnceLock<Flat>);

impl PartialEq for Compiled {
    fn eq(&self, _: &Compiled) -> bool {
        true
    }
}

/// A small, fast, deterministic generator (SplitMix64) for shuffles.
#[derive(Debug, Clone)]
pub struct Shuffler(u64);

impl Shuffler {
    pub fn new(seed: u64) -> Shuffler {
        Shuffler(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The inputs cut into bins: bin 0 holds missing values, bin k (1..) the values in
/// `(edges[k-2], edges[k-1]]`.
struct Binned {
    /// Per input, per row.
    bins: Vec<Vec<u8>>,
    /// Per input, the upper edges of bins 1..
    edges: Vec<Vec<f64>>,
    /// Per input, where its histogram starts in a node's histogram.
    offsets: Vec<usize>,
    total_bins: usize,
}

fn cut_points(values: &[f64], max_bins: usize) -> Vec<f64> {
    let mut sample: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sample.len() > 200_000 {
        let step = sample.len() / 200_000;
        sample = sample.into_iter().step_by(step).collect();
    }
    sample.sort_by(f64::total_cmp);
    let mut distinct = sample.clone();
    distinct.dedup();
    let usable = max_bins.clamp(2, 255) - 1; // bin 0 is for missing values
    if distinct.len() <= usable {
        // Every value its own bin: cut half-way between neighbours.
        return distinct
            .windows(2)
            .map(|w| w[0] + (w[1] - w[0]) / 2.0)
            .collect();
    }
    let mut edges: Vec<f64> = (1..usable)
        .map(|q| sample[(q * sample.len() / usable).min(sample.len() - 1)])
        .collect();
    edges.dedup();
    // The largest value must fall in the last bin, not beyond it.
    if edges
        .last()
        .is_some_and(|last| *last >= distinct[distinct.len() - 1])
    {
        edges.pop();
    }
    edges
}

fn bin_of(edges: &[f64], value: f64) -> u8 {
    if value.is_nan() {
        0
    } else {
        (1 + edges.partition_point(|edge| *edge < value)) as u8
    }
}

impl Binned {
    fn new(columns: &[&[f64]], max_bins: usize) -> Binned {
        let edges: Vec<Vec<f64>> = columns.iter().map(|c| cut_points(c, max_bins)).collect();
        let bins = columns
            .iter()
            .zip(&edges)
            .map(|(column, edges)| column.iter().map(|v| bin_of(edges, *v)).collect())
            .collect();
        let mut offsets = Vec::with_capacity(edges.len());
        let mut total_bins = 0;
        for e in &edges {
            offsets.push(total_bins);
            total_bins += e.len() + 2;
        }
        Binned {
            bins,
            edges,
            offsets,
            total_bins,
        }
    }

    fn bin_count(&self, feature: usize) -> usize {
        self.edges[feature].len() + 2
    }
}

#[derive(Clone, Copy, Default)]
struct Sums {
    g: f64,
    h: f64,
}

struct Split {
    feature: usize,
    bin: u8,
    missing_left: bool,
    gain: f64,
}

struct Grower<'a> {
    binned: &'a Binned,
    gradients: &'a [f64],
    hessians: &'a [f64],
    params: &'a GbmParams,
}

impl Grower<'_> {
    fn histogram(&self, rows: &[u32]) -> Vec<Sums> {
        let mut hist = vec![Sums::default(); self.binned.total_bins];
        let features = self.binned.bins.len();
        // The node's gradients side by side, read once, instead of once per input from two
        // arrays; rows are in ascending order, so the bins are read front to back.
        let gathered: Vec<Sums> = rows
            .iter()
            .map(|&row| Sums {
                g: self.gradients[row as usize],
                h: self.hessians[row as usize],
            })
            .collect();
        let fill = |hist: &mut [Sums], features: std::ops::Range<usize>, base: usize| {
            for f in features {
                let bins = &self.binned.bins[f];
                let start = self.binned.offsets[f] - base;
                let slot = &mut hist[start..start + self.binned.bin_count(f)];
                for (&row, sums) in rows.iter().zip(&gathered) {
                    let cell = &mut slot[bins[row as usize] as usize];
                    cell.g += sums.g;
                    cell.h += sums.h;
                }
            }
        };
        if rows.len() >= 20_000 && features >= 2 {
            // Two cores: each fills the histograms of half the inputs.
            let middle = features / 2;
            let split_at = self.binned.offsets[middle];
            let (low, high) = hist.split_at_mut(split_at);
            std::thread::scope(|scope| {
                scope.spawn(|| fill(high, middle..features, split_at));
                fill(low, 0..middle, 0);
            });
        } else {
            fill(&mut hist, 0..features, 0);
        }
        hist
    }

    fn score(&self, sums: Sums) -> f64 {
        sums.g * sums.g / (sums.h + self.params.lambda)
    }

    fn value(&self, sums: Sums) -> f64 {
        -sums.g / (sums.h + self.params.lambda) * self.params.learning_rate
    }

    fn best_split(&self, hist: &[Sums], total: Sums) -> Option<Split> {
        let parent = self.score(total);
        let min = self.params.min_child_weight;
        let mut best: Option<Split> = None;
        for f in 0..self.binned.bins.len() {
            let slot =
                &hist[self.binned.offsets[f]..self.binned.offsets[f] + self.binned.bin_count(f)];
            let missing = slot[0];
            let mut left = Sums::default();
            // The last bin never goes left (a split needs values on both sides).
            for (bin, sums) in slot.iter().enumerate().take(slot.len() - 1).skip(1) {
                left.g += sums.g;
                left.h += sums.h;
                for missing_left in [false, true] {
                    let l = if missing_left {
                        Sums {
                            g: left.g + missing.g,
                            h: left.h + missing.h,
                        }
                    } else {
                        left
                    };
                    let r = Sums {
                        g: total.g - l.g,
                        h: total.h - l.h,
                    };
                    if l.h < min || r.h < min {
                        continue;
                    }
                    let gain = self.score(l) + self.score(r) - parent;
                    if gain > 1e-9 && best.as_ref().is_none_or(|b| gain > b.gain) {
                        best = Some(Split {
                            feature: f,
                            bin: bin as u8,
                            missing_left,
                            gain,
                        });
                    }
                    if missing.h == 0.0 {
                        break; // no missing values: both directions are the same split
                    }
                }
            }
        }
        best
    }

    /// Grows one tree over `rows` (reordered in place), adding split gains to `gain`; also
    /// gives each node's split bin (for scoring the binned rows without searching edges).
    fn grow(&self, rows: &mut [u32], gain: &mut [f64]) -> (Tree, Vec<u8>) {
        let total = rows.iter().fold(Sums::default(), |s, &r| Sums {
            g: s.g + self.gradients[r as usize],
            h: s.h + self.hessians[r as usize],
        });
        let mut nodes = vec![Node::leaf(self.value(total))];
        // (node, rows range, depth, its histogram, its sums)
        let mut split_bins = vec![0u8];
        let hist = self.histogram(rows);
        let mut pending = vec![(0usize, 0..rows.len(), 0u32, hist, total)];
        while let Some((node, range, depth, hist, sums)) = pending.pop() {
            if depth >= self.params.max_depth {
                continue;
            }
            let Some(split) = self.best_split(&hist, sums) else {
                continue;
            };
            gain[split.feature] += split.gain;
            let bins = &self.binned.bins[split.feature];
            let goes_left = |row: u32| {
                let bin = bins[row as usize];
                if bin == 0 {
                    split.missing_left
                } else {
                    bin <= split.bin
                }
            };
            // A stable partition: both children keep their rows in ascending order, so
            // their histograms read the bins front to back.
            let segment = &mut rows[range.clone()];
            let mut right_rows = Vec::with_capacity(segment.len() / 2);
            let mut boundary = 0;
            for i in 0..segment.len() {
                let row = segment[i];
                if goes_left(row) {
                    segment[boundary] = row;
                    boundary += 1;
                } else {
                    right_rows.push(row);
                }
            }
            segment[boundary..].copy_from_slice(&right_rows);
            let left_range = range.start..range.start + boundary;
            let right_range = range.start + boundary..range.end;
            let sum_of = |range: &std::ops::Range<usize>, rows: &[u32]| {
                rows[range.clone()]
                    .iter()
                    .fold(Sums::default(), |s, &r| Sums {
                        g: s.g + self.gradients[r as usize],
                        h: s.h + self.hessians[r as usize],
                    })
            };
            let left_sums = sum_of(&left_range, rows);
            let right_sums = Sums {
                g: sums.g - left_sums.g,
                h: sums.h - left_sums.h,
            };
            // Build the smaller child's histogram; the larger one's is the parent's minus it.
            let small = if left_range.len() <= right_range.len() {
                &left_range
            } else {
                &right_range
            };
            let small_hist = self.histogram(&rows[small.clone()]);
            let large_hist: Vec<Sums> = hist
                .iter()
                .zip(&small_hist)
                .map(|(p, s)| Sums {
                    g: p.g - s.g,
                    h: p.h - s.h,
                })
                .collect();
            let (left_hist, right_hist) = if small == &left_range {
                (small_hist, large_hist)
            } else {
                (large_hist, small_hist)
            };
            let left = nodes.len();
            nodes.push(Node::leaf(self.value(left_sums)));
            let right = nodes.len();
            nodes.push(Node::leaf(self.value(right_sums)));
            split_bins.extend([0, 0]);
            split_bins[node] = split.bin;
            let parent = &mut nodes[node];
            parent.feature = split.feature as u32;
            parent.threshold = self.binned.edges[split.feature][split.bin as usize - 1];
            parent.missing_left = split.missing_left;
            parent.left = left as u32;
            parent.right = right as u32;
            pending.push((left, left_range, depth + 1, left_hist, left_sums));
            pending.push((right, right_range, depth + 1, right_hist, right_sums));
        }
        (Tree { nodes }, split_bins)
    }
}

fn log_loss(margins: &[f64], labels: &[bool], rows: &[u32]) -> f64 {
    let total: f64 = rows
        .iter()
        .map(|&r| {
            let m = margins[r as usize];
            // log(1 + e^m) - y·m, computed without overflow
            let softplus = if m > 0.0 {
                m + (-m).exp().ln_1p()
            } else {
                m.exp().ln_1p()
            };
            softplus - if labels[r as usize] { m } else { 0.0 }
        })
        .sum();
    total / rows.len().max(1) as f64
}

impl Gbm {
    /// Trains on the rows `rows` of `columns` (column-major inputs) with `labels`.
    pub fn train(columns: &[&[f64]], labels: &[bool], rows: &[u32], params: &GbmParams) -> Gbm {
        let width = columns.len();
        let binned = Binned::new(columns, params.max_bins);
        let mut order = rows.to_vec();
        Shuffler::new(params.seed).shuffle(&mut order);
        let held = ((order.len() as f64 * params.validation_fraction) as usize)
            .min(order.len().saturating_sub(1));
        let (validation, training) = order.split_at_mut(if params.early_stopping_rounds > 0 {
            held
        } else {
            0
        });
        // Ascending rows read the inputs front to back (see `Grower::histogram`).
        training.sort_unstable();
        let (validation, training) = (&*validation, &*training);
        let positives = training.iter().filter(|&&r| labels[r as usize]).count() as f64;
        let rate = ((positives + 0.5) / (training.len() as f64 + 1.0)).clamp(1e-6, 1.0 - 1e-6);
        let base = (rate / (1.0 - rate)).ln();

        let n = labels.len();
        let mut margins = vec![base; n];
        let mut gradients = vec![0.0; n];
        let mut hessians = vec![0.0; n];
        let mut trees: Vec<Tree> = Vec::new();
        let mut gain = vec![0.0; width];
        let mut best = (f64::INFINITY, 0usize);
        let mut training_rows: Vec<u32> = Vec::with_capacity(training.len());
        let keep_below = (params.subsample.clamp(0.05, 1.0) * u64::MAX as f64) as u64;
        for round in 0..params.max_trees {
            // This tree's rows: each training row with probability `subsample`, drawn from
            // a hash of (seed, round, row) so the same data always grows the same model.
            training_rows.clear();
            training_rows.extend(training.iter().copied().filter(|&r| {
                params.subsample >= 1.0
                    || Shuffler::new(params.seed ^ ((round as u64) << 32) ^ u64::from(r)).next_u64()
                        <= keep_below
            }));
            for &r in &training_rows {
                let r = r as usize;
                let p = sigmoid(margins[r]);
                gradients[r] = p - if labels[r] { 1.0 } else { 0.0 };
                hessians[r] = (p * (1.0 - p)).max(1e-12);
            }
            let grower = Grower {
                binned: &binned,
                gradients: &gradients,
                hessians: &hessians,
                params,
            };
            let (tree, split_bins) = grower.grow(&mut training_rows, &mut gain);
            // Score every row (training and held out) through the binned inputs.
            for &r in training.iter().chain(validation) {
                let mut index = 0;
                loop {
                    let node = &tree.nodes[index];
                    if node.is_leaf() {
                        margins[r as usize] += node.value;
                        break;
                    }
                    let bin = binned.bins[node.feature as usize][r as usize];
                    let left = if bin == 0 {
                        node.missing_left
                    } else {
                        bin <= split_bins[index]
                    };
                    index = if left { node.left } else { node.right } as usize;
                }
            }
            trees.push(tree);
            if !validation.is_empty() {
                let loss = log_loss(&margins, labels, validation);
                if loss < best.0 - 1e-7 {
                    best = (loss, round + 1);
                } else if round + 1 - best.1 >= params.early_stopping_rounds {
                    break;
                }
            }
        }
        if !validation.is_empty() && best.1 > 0 {
            trees.truncate(best.1);
        }
        Gbm {
            base,
            trees,
            width,
            gain,
            compiled: Compiled::default(),
        }
    }

    /// The log-odds for one row of inputs.
    pub fn margin(&self, row: &[f64]) -> f64 {
        let flat = self.compiled.0.get_or_init(|| Flat::of(&self.trees));
        let mut sum = 0.0;
        for &root in &flat.roots {
            let mut index = root as usize;
            loop {
                let node = flat.nodes[index];
                if node.left == 0 {
                    sum += node.threshold;
                    break;
                }
                let value = row[(node.feature & !MISSING_LEFT) as usize];
                // Non-short-circuit `|` and `&`: the direction is arithmetic, not a branch.
                let left = (value <= node.threshold)
                    | (value.is_nan() & (node.feature & MISSING_LEFT != 0));
                index = node.left as usize + usize::from(!left);
            }
        }
        self.base + sum
    }

    /// The probability of the outcome for one row of inputs.
    pub fn predict(&self, row: &[f64]) -> f64 {
        sigmoid(self.margin(row))
    }

    /// The log-odds split into a bias and one contribution per input; the bias plus the
    /// contributions is [`Gbm::margin`] (each split credits its input with the change of
    /// the node value it causes, so a path's credits telescope to its leaf).
    pub fn contributions(&self, row: &[f64], out: &mut Vec<f64>) -> f64 {
        out.clear();
        out.resize(self.width, 0.0);
        let mut bias = self.base;
        for tree in &self.trees {
            let mut index = 0;
            bias += tree.nodes[0].value;
            loop {
                let node = &tree.nodes[index];
                if node.is_leaf() {
                    break;
                }
                let value = row[node.feature as usize];
                // Non-short-circuit `|` and `&`: no branch to mispredict on the comparison.
                let left = (value <= node.threshold) | (value.is_nan() & node.missing_left);
                let next = if left { node.left } else { node.right } as usize;
                out[node.feature as usize] += tree.nodes[next].value - node.value;
                index = next;
            }
        }
        bias
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn xor_data(n: usize) -> (Vec<Vec<f64>>, Vec<bool>) {
        let mut shuffler = Shuffler::new(7);
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let x = (shuffler.next_u64() % 1000) as f64 / 1000.0;
            let y = (shuffler.next_u64() % 1000) as f64 / 1000.0;
            a.push(x);
            b.push(if shuffler.next_u64().is_multiple_of(10) {
                f64::NAN
            } else {
                y
            });
            labels.push((x > 0.5) != (y > 0.5));
        }
        (vec![a, b], labels)
    }

    #[test]
    fn trees_learn_an_interaction_a_line_cannot() {
        let (columns, labels) = xor_data(4000);
        let views: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let rows: Vec<u32> = (0..4000).collect();
        let model = Gbm::train(&views, &labels, &rows, &GbmParams::default());
        let correct = (0..4000)
            .filter(|&i| {
                let p = model.predict(&[columns[0][i], columns[1][i]]);
                (p > 0.5) == labels[i] || columns[1][i].is_nan()
            })
            .count();
        assert!(correct > 3800, "{correct} of 4000");
    }

    #[test]
    fn contributions_add_up_to_the_log_odds() {
        let (columns, labels) = xor_data(2000);
        let views: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let rows: Vec<u32> = (0..2000).collect();
        let model = Gbm::train(&views, &labels, &rows, &GbmParams::default());
        let mut out = Vec::new();
        for (a, b) in columns[0].iter().zip(&columns[1]).take(200) {
            let row = [*a, *b];
            let bias = model.contributions(&row, &mut out);
            let total = bias + out.iter().sum::<f64>();
            assert!((total - model.margin(&row)).abs() < 1e-9);
        }
    }

    #[test]
    fn the_same_data_trains_the_same_model() {
        let (columns, labels) = xor_data(1000);
        let views: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let rows: Vec<u32> = (0..1000).collect();
        let one = Gbm::train(&views, &labels, &rows, &GbmParams::default());
        let two = Gbm::train(&views, &labels, &rows, &GbmParams::default());
        assert_eq!(one, two);
    }
}
