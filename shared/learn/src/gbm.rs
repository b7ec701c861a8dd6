//! Gradient-boosted decision trees for a yes/no outcome (logistic loss), written for this
//! suite: histogram splits over at most 64 bins a feature, missing values sent the way
//! that fits best, depth-wise trees, early stopping on a held-out tenth (a fall of the
//! held-out loss under 0.1% does not count), and per-feature contributions that add up
//! exactly to the prediction's log-odds. For prediction the trees are laid out complete,
//! grouped by depth, and walked four at a time without a branch on the data (see `Flat`).
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
    /// The least relative fall of the held-out loss that counts as an improvement.
    #[serde(default = "default_tolerance")]
    pub early_stopping_tolerance: f64,
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
            early_stopping_tolerance: default_tolerance(),
            validation_fraction: 0.12,
            subsample: 0.7,
            seed: 0x5eed,
        }
    }
}

/// A tenth of a percent: a smaller fall is noise on a held-out share of a few hundred rows,
/// and only adds trees (each makes every prediction slower).
fn default_tolerance() -> f64 {
    1e-3
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

/// Trees up to this deep are laid out complete (see [`Flat`]); deeper ones (only with a
/// `max_depth` above it) keep child links.
const COMPLETE_DEPTH: usize = 6;

/// One split of the prediction layout: 16 bytes. In the linked layout a split's children
/// sit side by side (`right = left + 1`) and a leaf has `left == 0` (no tree's root is a
/// child) and its value in `threshold`; in the complete layout `left` is the slot the
/// split's contribution goes to (its input, or the spare slot after the inputs for a
/// padding split).
#[derive(Debug, Clone, Copy)]
struct FlatNode {
    threshold: f64,
    left: u32,
    /// The input index, with [`MISSING_LEFT`].
    feature: u32,
}

impl FlatNode {
    /// Whether `row` goes left. Non-short-circuit `|` and `&`: the direction is
    /// arithmetic, not a branch to mispredict.
    #[inline(always)]
    fn goes_left(&self, row: &[f64]) -> bool {
        let value = row[(self.feature & !MISSING_LEFT) as usize];
        (value <= self.threshold) | (value.is_nan() & (self.feature & MISSING_LEFT != 0))
    }
}

/// The trees of one depth, each stored complete in heap order (node `i`'s children are
/// `2i + 1` and `2i + 2`): `2^depth - 1` splits a tree, `2^depth` leaf values, and the
/// value of every heap node (for contributions). A leaf above the bottom becomes a split
/// every row passes to the left (threshold +inf, missing left) whose descendants carry
/// its value. So every tree of the group takes exactly `depth` steps, with no branch on
/// the data and no child link to load: the walks of successive trees overlap in the
/// processor.
#[derive(Debug, Clone, Default)]
struct Complete {
    depth: usize,
    splits: Vec<FlatNode>,
    leaves: Vec<f64>,
    values: Vec<f64>,
}

/// Every tree laid out for prediction: grouped by depth into [`Complete`] layouts (the sum
/// over trees does not depend on their order), or, when a tree is deeper than
/// [`COMPLETE_DEPTH`], every tree linked breadth-first with each tree's root.
#[derive(Debug, Clone, Default)]
struct Flat {
    groups: Vec<Complete>,
    linked: Option<(Vec<FlatNode>, Vec<u32>)>,
}

fn tree_depth(tree: &Tree, index: usize) -> usize {
    let node = &tree.nodes[index];
    if node.is_leaf() {
        0
    } else {
        1 + tree_depth(tree, node.left as usize).max(tree_depth(tree, node.right as usize))
    }
}

impl Complete {
    fn push(&mut self, tree: &Tree, spare: u32) {
        let internal = (1usize << self.depth) - 1;
        // Heap position -> the tree's node there (a padded position repeats the leaf above).
        let mut at = vec![0usize; 2 * internal + 1];
        for position in 0..2 * internal + 1 {
            if position > 0 {
                let above = at[(position - 1) / 2];
                let parent = &tree.nodes[above];
                at[position] = if parent.is_leaf() {
                    above
                } else if position % 2 == 1 {
                    parent.left as usize
                } else {
                    parent.right as usize
                };
            }
            let node = &tree.nodes[at[position]];
            self.values.push(node.value);
            if position >= internal {
                self.leaves.push(node.value);
            } else if node.is_leaf() {
                self.splits.push(FlatNode {
                    threshold: f64::INFINITY,
                    left: spare,
                    feature: MISSING_LEFT,
                });
            } else {
                self.splits.push(FlatNode {
                    threshold: node.threshold,
                    left: node.feature,
                    feature: node.feature | if node.missing_left { MISSING_LEFT } else { 0 },
                });
            }
        }
    }

    /// The sum of the trees' leaf values for `row`; `D` is `self.depth`. Four trees are
    /// walked side by side: their steps do not wait on each other.
    fn sum<const D: usize>(&self, row: &[f64]) -> f64 {
        let internal = (1usize << D) - 1;
        let mut sums = [0.0; 4];
        let mut splits = self.splits.chunks_exact(4 * internal);
        let mut leaves = self.leaves.chunks_exact(4 * (internal + 1));
        for (splits, leaves) in (&mut splits).zip(&mut leaves) {
            let mut index = [0usize; 4];
            for _ in 0..D {
                for (tree, index) in index.iter_mut().enumerate() {
                    let split = &splits[tree * internal + *index];
                    *index = 2 * *index + 1 + usize::from(!split.goes_left(row));
                }
            }
            for (tree, (sum, index)) in sums.iter_mut().zip(index).enumerate() {
                *sum += leaves[tree * (internal + 1) + index - internal];
            }
        }
        for (splits, leaves) in splits
            .remainder()
            .chunks_exact(internal)
            .zip(leaves.remainder().chunks_exact(internal + 1))
        {
            let mut index = 0;
            for _ in 0..D {
                index = 2 * index + 1 + usize::from(!splits[index].goes_left(row));
            }
            sums[0] += leaves[index - internal];
        }
        (sums[0] + sums[1]) + (sums[2] + sums[3])
    }

    /// Adds each split's change of the node value to its slot in `out`; gives the sum of
    /// the roots' values. `D` is `self.depth`; four trees are walked side by side.
    fn contributions<const D: usize>(&self, row: &[f64], out: &mut [f64]) -> f64 {
        let internal = (1usize << D) - 1;
        let nodes = 2 * internal + 1;
        let mut roots = 0.0;
        let mut splits = self.splits.chunks_exact(4 * internal);
        let mut values = self.values.chunks_exact(4 * nodes);
        for (splits, values) in (&mut splits).zip(&mut values) {
            let mut index = [0usize; 4];
            for tree in 0..4 {
                roots += values[tree * nodes];
            }
            for _ in 0..D {
                for (tree, index) in index.iter_mut().enumerate() {
                    let split = &splits[tree * internal + *index];
                    let next = 2 * *index + 1 + usize::from(!split.goes_left(row));
                    let values = &values[tree * nodes..];
                    out[split.left as usize] += values[next] - values[*index];
                    *index = next;
                }
            }
        }
        for (splits, values) in splits
            .remainder()
            .chunks_exact(internal)
            .zip(values.remainder().chunks_exact(nodes))
        {
            roots += values[0];
            let mut index = 0;
            for _ in 0..D {
                let split = splits[index];
                let next = 2 * index + 1 + usize::from(!split.goes_left(row));
                out[split.left as usize] += values[next] - values[index];
                index = next;
            }
        }
        roots
    }
}

impl Flat {
    fn of(trees: &[Tree], width: usize) -> Flat {
        let depths: Vec<usize> = trees.iter().map(|t| tree_depth(t, 0)).collect();
        if depths.iter().any(|&d| d > COMPLETE_DEPTH) {
            return Flat {
                groups: Vec::new(),
                linked: Some(Flat::linked(trees)),
            };
        }
        let spare = u32::try_from(width).unwrap_or(u32::MAX);
        let mut groups: Vec<Complete> = (0..=COMPLETE_DEPTH)
            .map(|depth| Complete {
                depth,
                ..Complete::default()
            })
            .collect();
        for (tree, depth) in trees.iter().zip(depths) {
            groups[depth].push(tree, spare);
        }
        groups.retain(|g| !g.leaves.is_empty());
        Flat {
            groups,
            linked: None,
        }
    }

    fn linked(trees: &[Tree]) -> (Vec<FlatNode>, Vec<u32>) {
        let empty = FlatNode {
            threshold: 0.0,
            left: 0,
            feature: 0,
        };
        let mut nodes = Vec::new();
        let mut roots = Vec::new();
        let mut queue = std::collections::VecDeque::new();
        for tree in trees {
            let root = nodes.len();
            roots.push(u32::try_from(root).unwrap_or(u32::MAX));
            nodes.push(empty);
            queue.push_back((0usize, root));
            while let Some((from, to)) = queue.pop_front() {
                let node = &tree.nodes[from];
                nodes[to] = if node.is_leaf() {
                    FlatNode {
                        threshold: node.value,
                        ..empty
                    }
                } else {
                    let left = nodes.len();
                    nodes.extend([empty, empty]);
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
        (nodes, roots)
    }

    fn sum(&self, row: &[f64]) -> f64 {
        let mut sum = 0.0;
        for group in &self.groups {
            sum += match group.depth {
                0 => group.leaves.iter().sum(),
                1 => group.sum::<1>(row),
                2 => group.sum::<2>(row),
                3 => group.sum::<3>(row),
                4 => group.sum::<4>(row),
                5 => group.sum::<5>(row),
                _ => group.sum::<COMPLETE_DEPTH>(row),
            };
        }
        if let Some((nodes, roots)) = &self.linked {
            for &root in roots {
                let mut index = root as usize;
                loop {
                    let node = nodes[index];
                    if node.left == 0 {
                        sum += node.threshold;
                        break;
                    }
                    index = node.left as usize + usize::from(!node.goes_left(row));
                }
            }
        }
        sum
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

/// When to stop adding trees: after `patience` trees without a fall of the held-out loss
/// by `tolerance` of it; the model then keeps the trees up to the last such fall.
#[derive(Debug)]
struct EarlyStopping {
    patience: usize,
    tolerance: f64,
    best_loss: f64,
    /// Trees in the model at the last fall that counted.
    best_trees: usize,
    trees: usize,
}

impl EarlyStopping {
    fn new(params: &GbmParams) -> EarlyStopping {
        EarlyStopping {
            patience: params.early_stopping_rounds,
            tolerance: params.early_stopping_tolerance.max(0.0),
            best_loss: f64::INFINITY,
            best_trees: 0,
            trees: 0,
        }
    }

    /// Records the held-out loss after one more tree; whether to stop.
    fn stops_after(&mut self, loss: f64) -> bool {
        self.trees += 1;
        if loss < self.best_loss * (1.0 - self.tolerance) {
            self.best_loss = loss;
            self.best_trees = self.trees;
            false
        } else {
            self.trees - self.best_trees >= self.patience
        }
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
        let mut stopping = EarlyStopping::new(params);
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
            let value_of = |r: usize| {
                let mut index = 0;
                loop {
                    let node = &tree.nodes[index];
                    if node.is_leaf() {
                        return node.value;
                    }
                    let bin = binned.bins[node.feature as usize][r];
                    let left = if bin == 0 {
                        node.missing_left
                    } else {
                        bin <= split_bins[index]
                    };
                    index = if left { node.left } else { node.right } as usize;
                }
            };
            if n >= 200_000 {
                // Two cores: each scores half of all the rows (rows outside `rows` too,
                // unused but cheaper than picking them out).
                let (low, high) = margins.split_at_mut(n / 2);
                std::thread::scope(|scope| {
                    scope.spawn(|| {
                        for (offset, margin) in high.iter_mut().enumerate() {
                            *margin += value_of(n / 2 + offset);
                        }
                    });
                    for (r, margin) in low.iter_mut().enumerate() {
                        *margin += value_of(r);
                    }
                });
            } else {
                for &r in training.iter().chain(validation) {
                    margins[r as usize] += value_of(r as usize);
                }
            }
            trees.push(tree);
            if !validation.is_empty()
                && stopping.stops_after(log_loss(&margins, labels, validation))
            {
                break;
            }
        }
        if !validation.is_empty() && stopping.best_trees > 0 {
            trees.truncate(stopping.best_trees);
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
        self.base + self.flat().sum(row)
    }

    fn flat(&self) -> &Flat {
        self.compiled
            .0
            .get_or_init(|| Flat::of(&self.trees, self.width))
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
        // One spare slot after the inputs takes the padding splits' (zero) changes.
        out.resize(self.width + 1, 0.0);
        let flat = self.flat();
        let mut roots = 0.0;
        for group in &flat.groups {
            roots += match group.depth {
                0 => group.leaves.iter().sum(),
                1 => group.contributions::<1>(row, out),
                2 => group.contributions::<2>(row, out),
                3 => group.contributions::<3>(row, out),
                4 => group.contributions::<4>(row, out),
                5 => group.contributions::<5>(row, out),
                _ => group.contributions::<COMPLETE_DEPTH>(row, out),
            };
        }
        out.truncate(self.width);
        if flat.linked.is_some() {
            roots += self.contributions_linked(row, out);
        }
        self.base + roots
    }

    /// [`Gbm::contributions`] over the trees as grown (a tree deeper than the complete
    /// layout takes).
    fn contributions_linked(&self, row: &[f64], out: &mut [f64]) -> f64 {
        let mut roots = 0.0;
        for tree in &self.trees {
            let mut index = 0;
            roots += tree.nodes[0].value;
            loop {
                let node = &tree.nodes[index];
                if node.is_leaf() {
                    break;
                }
                let value = row[node.feature as usize];
                let left = (value <= node.threshold) | (value.is_nan() & node.missing_left);
                let next = if left { node.left } else { node.right } as usize;
                out[node.feature as usize] += tree.nodes[next].value - node.value;
                index = next;
            }
        }
        roots
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

    #[test]
    fn early_stopping_keeps_the_trees_up_to_the_last_fall_that_counts() {
        let params = GbmParams {
            early_stopping_rounds: 3,
            early_stopping_tolerance: 0.01,
            ..GbmParams::default()
        };
        let mut stopping = EarlyStopping::new(&params);
        // Falls, then falls of less than 1% (noise), then rises.
        let losses = [0.60, 0.50, 0.45, 0.449, 0.448, 0.46, 0.47];
        let stopped = losses
            .iter()
            .position(|&loss| stopping.stops_after(loss))
            .unwrap();
        assert_eq!(stopped, 5, "stops on the third tree without a real fall");
        assert_eq!(stopping.best_trees, 3);
    }

    #[test]
    fn labels_that_are_noise_grow_far_fewer_trees_than_the_most_allowed() {
        let (columns, _) = xor_data(3000);
        let mut shuffler = Shuffler::new(11);
        let labels: Vec<bool> = (0..3000)
            .map(|_| shuffler.next_u64().is_multiple_of(3))
            .collect();
        let views: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let rows: Vec<u32> = (0..3000).collect();
        let params = GbmParams::default();
        let model = Gbm::train(&views, &labels, &rows, &params);
        assert!(
            model.trees.len() <= params.max_trees / 10,
            "{} trees",
            model.trees.len()
        );
    }

    /// The trees' own walk, for checking the prediction layouts against.
    fn walk(model: &Gbm, row: &[f64]) -> f64 {
        let mut sum = model.base;
        for tree in &model.trees {
            let mut node = &tree.nodes[0];
            while !node.is_leaf() {
                let value = row[node.feature as usize];
                let left = if value.is_nan() {
                    node.missing_left
                } else {
                    value <= node.threshold
                };
                node = &tree.nodes[if left { node.left } else { node.right } as usize];
            }
            sum += node.value;
        }
        sum
    }

    #[test]
    fn shallow_deep_and_uneven_trees_predict_what_their_nodes_say() {
        let (columns, labels) = xor_data(3000);
        let views: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let rows: Vec<u32> = (0..3000).collect();
        // Depth 1 to 3 (complete layouts, uneven trees padded) and depth 9 (linked).
        for max_depth in [1, 3, 9] {
            let params = GbmParams {
                max_depth,
                min_child_weight: 0.5,
                max_trees: 60,
                ..GbmParams::default()
            };
            let model = Gbm::train(&views, &labels, &rows, &params);
            let flat = model.flat();
            let padded = flat
                .groups
                .iter()
                .any(|g| g.splits.iter().any(|s| s.threshold == f64::INFINITY));
            assert_eq!(flat.linked.is_some(), max_depth > 6);
            if max_depth == 3 {
                assert!(padded, "some leaf above the bottom is padded down");
            }
            let mut out = Vec::new();
            for (i, (a, b)) in columns[0].iter().zip(&columns[1]).take(400).enumerate() {
                let row = [*a, if i % 7 == 0 { f64::NAN } else { *b }];
                let expected = walk(&model, &row);
                assert!(
                    (model.margin(&row) - expected).abs() < 1e-9,
                    "depth {max_depth}"
                );
                let bias = model.contributions(&row, &mut out);
                assert_eq!(out.len(), 2);
                assert!((bias + out.iter().sum::<f64>() - expected).abs() < 1e-9);
            }
        }
    }
}
