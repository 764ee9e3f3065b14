//! Allocation: how many units each group loses, and which ones (the lowest-scored).
//!
//! Local (uniform) allocation removes the same fraction of every group; global allocation ranks
//! all units by their group-normalised scores. Targets on MACs or parameters are met by bisection
//! on that fraction, with costs predicted by [`CostModel`] (no tensor is sliced while searching).

use crate::cost::{Cost, CostModel};
use crate::depgraph::DepGraph;
use crate::{PruneError, Result};
use coprune_hw::LatencyModel;
use serde::{Deserialize, Serialize};

/// What to reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Remove this fraction of the channels of every group (local) or of all channels (global).
    Ratio(f64),
    /// Keep this fraction of the dense model's MACs.
    Macs(f64),
    /// Keep this fraction of the dense model's parameters.
    Params(f64),
    /// Keep this fraction of the dense model's predicted latency (needs a latency model).
    Latency(f64),
    /// Predicted latency at most this many milliseconds (needs a latency model).
    LatencyMs(f64),
    /// The weights take at most this many KiB stored as f32 (an MCU's flash budget).
    MemoryKb(f64),
    /// At most this many KiB of activations alive at once (an MCU's RAM budget).
    RamKb(f64),
}

/// Bytes per stored parameter for [`Target::MemoryKb`] (f32 weights).
pub const WEIGHT_BYTES: f64 = 4.0;

/// Allocation settings (the CLI's `prune` flags resolve into this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocConfig {
    /// The budget.
    pub target: Target,
    /// Rank units across groups instead of removing the same fraction of each.
    pub global: bool,
    /// Choose each group's kept count by a multiple-choice knapsack: the least importance
    /// removed for the budget, with each group's cost measured at candidate counts (HALP's
    /// latency knapsack, for any budget). Excludes `global`.
    #[serde(default)]
    pub knapsack: bool,
    /// At most this fraction of a group's channels may go (at least one channel always stays).
    pub max_layer_ratio: f64,
    /// Channel counts kept at multiples of this (rounded up, never below the multiple).
    pub round_to: Option<usize>,
    /// Per-group removal fractions by root node name (local allocation); fixed while the other
    /// groups follow the target.
    pub layer_ratios: Vec<(String, f64)>,
    /// Node names whose groups are left alone (the group's root or any layer in it).
    pub ignore: Vec<String>,
}

impl Default for AllocConfig {
    fn default() -> AllocConfig {
        AllocConfig {
            target: Target::Ratio(0.5),
            global: false,
            knapsack: false,
            max_layer_ratio: 1.0,
            round_to: None,
            layer_ratios: Vec::new(),
            ignore: Vec::new(),
        }
    }
}

/// The chosen removal.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Per unit id: removed?
    pub removed: Vec<bool>,
    pub dense: Cost,
    pub pruned: Cost,
    /// Predicted latency (ms) of the dense and the pruned model, when a latency model was given.
    pub latency_ms: Option<(f64, f64)>,
}

/// Per group: candidate units (prunable, ascending score) and the removal cap.
struct Candidates {
    order: Vec<Vec<usize>>,
    cap: Vec<usize>,
    size: Vec<usize>,
    ratio_scale: Vec<f64>,
}

fn candidates(
    dg: &DepGraph,
    model: &coprune_ir::Model,
    scores: &[Vec<f32>],
    cfg: &AllocConfig,
) -> Result<Candidates> {
    for (name, r) in &cfg.layer_ratios {
        if !(0.0..1.0).contains(r) {
            return Err(PruneError::Invalid(format!(
                "layer ratio {r} for `{name}` must be in [0, 1)"
            )));
        }
        if !dg.groups.iter().any(|g| &g.root == name) {
            let roots: Vec<&str> = dg.prunable_groups().map(|g| g.root.as_str()).collect();
            return Err(PruneError::Invalid(format!(
                "no prunable group has root `{name}`; roots: {}",
                roots.join(", ")
            )));
        }
    }
    for name in &cfg.ignore {
        if !model.graph.nodes.iter().any(|n| n.display_name() == name) {
            return Err(PruneError::Invalid(format!(
                "--ignore names `{name}`, which is not a node of the model"
            )));
        }
    }
    let mut c = Candidates {
        order: Vec::new(),
        cap: Vec::new(),
        size: Vec::new(),
        ratio_scale: Vec::new(),
    };
    for g in &dg.groups {
        let ignored = cfg.ignore.iter().any(|name| {
            &g.root == name
                || g.members
                    .iter()
                    .any(|&m| model.graph.nodes[dg.members[m].node].display_name() == name)
        });
        let mut order: Vec<usize> = (0..g.units.len())
            .filter(|&i| g.blocked[i].is_none())
            .collect();
        if ignored {
            order.clear();
        }
        let s = &scores[g.id];
        order.sort_by(|&a, &b| s[a].total_cmp(&s[b]).then(a.cmp(&b)));
        let n = g.units.len();
        let cap = ((cfg.max_layer_ratio * n as f64).floor() as usize)
            .min(n.saturating_sub(1))
            .min(order.len());
        c.order.push(order);
        c.cap.push(cap);
        c.size.push(n);
        c.ratio_scale.push(
            cfg.layer_ratios
                .iter()
                .find(|(name, _)| name == &g.root)
                .map(|(_, r)| *r)
                .unwrap_or(f64::NAN),
        );
    }
    Ok(c)
}

/// Rounds the number removed from a group so the kept count is a multiple of `round_to`.
fn rounded(remove: usize, n: usize, round_to: Option<usize>) -> usize {
    match round_to {
        Some(m) if m > 1 && n > m => {
            let kept = n - remove;
            let kept = kept.div_ceil(m) * m;
            n - kept.min(n)
        }
        _ => remove,
    }
}

fn mark(dg: &DepGraph, c: &Candidates, counts: &[usize], round_to: Option<usize>) -> Vec<bool> {
    let mut removed = vec![false; dg.num_units()];
    for (g, &k) in counts.iter().enumerate() {
        let k = rounded(k.min(c.cap[g]), c.size[g], round_to);
        for &i in c.order[g].iter().take(k) {
            removed[dg.groups[g].units[i]] = true;
        }
    }
    // A layer must keep at least one input channel (a channel range cut from a larger group could
    // otherwise lose all of its channels): keep the best-scored of them.
    for m in dg
        .members
        .iter()
        .filter(|m| m.role == crate::depgraph::Role::Consumer)
    {
        if !m.units.is_empty() && m.units.iter().all(|&u| removed[u]) {
            let g = dg.unit_group[m.units[0]];
            let keep = c.order[g]
                .iter()
                .rev()
                .map(|&i| dg.groups[g].units[i])
                .find(|u| m.units.contains(u))
                .unwrap_or(m.units[0]);
            removed[keep] = false;
        }
    }
    removed
}

fn local_counts(c: &Candidates, x: f64) -> Vec<usize> {
    (0..c.order.len())
        .map(|g| {
            // A per-layer override is fixed; the others follow the searched fraction.
            let r = if c.ratio_scale[g].is_nan() {
                x
            } else {
                c.ratio_scale[g]
            };
            (r * c.size[g] as f64).round() as usize
        })
        .collect()
}

fn global_counts(c: &Candidates, scores: &[Vec<f32>], k: usize) -> Vec<usize> {
    let mut all: Vec<(f32, usize, usize)> = Vec::new();
    for (g, order) in c.order.iter().enumerate() {
        for (rank, &i) in order.iter().enumerate() {
            all.push((scores[g][i], g, rank));
        }
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut counts = vec![0usize; c.order.len()];
    let mut taken = 0;
    for (_, g, _) in all {
        if taken == k {
            break;
        }
        if counts[g] < c.cap[g] {
            counts[g] += 1;
            taken += 1;
        }
    }
    counts
}

/// Chooses the units to remove.
/// `lm` predicts latency for latency targets (and is reported for the others). With a latency
/// target and global ranking, each group's scores are divided by the latency one of its channels
/// costs, so the ranking keeps the most importance per millisecond (a greedy knapsack, as HALP).
pub fn allocate(
    model: &coprune_ir::Model,
    dg: &DepGraph,
    scores: &[Vec<f32>],
    cm: &CostModel,
    cfg: &AllocConfig,
    lm: Option<&dyn LatencyModel>,
) -> Result<Allocation> {
    if !(cfg.max_layer_ratio > 0.0 && cfg.max_layer_ratio <= 1.0) {
        return Err(PruneError::Invalid(format!(
            "max layer ratio {} must be in (0, 1]",
            cfg.max_layer_ratio
        )));
    }
    let latency_target = matches!(cfg.target, Target::Latency(_) | Target::LatencyMs(_));
    if latency_target && lm.is_none() {
        return Err(PruneError::Invalid(
            "a latency target needs a latency model (a target device)".into(),
        ));
    }
    let none = vec![false; dg.num_units()];
    let dense = cm.eval(&none);
    let weighted;
    let scores = match (lm, latency_target && cfg.global) {
        (Some(lm), true) => {
            weighted = latency_weighted(dg, model, scores, cm, cfg, lm)?;
            &weighted[..]
        }
        _ => scores,
    };
    let c = candidates(dg, model, scores, cfg)?;
    let total: usize = c
        .size
        .iter()
        .zip(&c.order)
        .filter(|(_, o)| !o.is_empty())
        .map(|(s, _)| *s)
        .sum();
    let select = |x: f64| -> Vec<bool> {
        if cfg.global {
            let k = (x * total as f64).round() as usize;
            mark(dg, &c, &global_counts(&c, scores, k), cfg.round_to)
        } else {
            mark(dg, &c, &local_counts(&c, x), cfg.round_to)
        }
    };
    let removed = match cfg.target {
        Target::Ratio(r) => {
            if !(0.0..1.0).contains(&r) {
                return Err(PruneError::Invalid(format!("ratio {r} must be in [0, 1)")));
            }
            select(r)
        }
        Target::Macs(_)
        | Target::Params(_)
        | Target::Latency(_)
        | Target::LatencyMs(_)
        | Target::MemoryKb(_)
        | Target::RamKb(_) => {
            let dense_lat = lm.map(|l| cm.latency(&none, l));
            let (f, goal_abs) = match cfg.target {
                Target::MemoryKb(kb) => {
                    let d = cm.eval(&none).params as f64 * WEIGHT_BYTES;
                    if kb.is_nan() || kb <= 0.0 {
                        return Err(PruneError::Invalid(format!(
                            "memory budget {kb} KiB must be positive"
                        )));
                    }
                    (kb * 1024.0 / d.max(1.0), kb * 1024.0)
                }
                Target::RamKb(kb) => {
                    let d = cm.peak_activation(&none) as f64;
                    if kb.is_nan() || kb <= 0.0 {
                        return Err(PruneError::Invalid(format!(
                            "RAM budget {kb} KiB must be positive"
                        )));
                    }
                    (kb * 1024.0 / d.max(1.0), kb * 1024.0)
                }
                Target::LatencyMs(ms) => {
                    let d = dense_lat.unwrap_or(0.0);
                    if ms.is_nan() || ms <= 0.0 {
                        return Err(PruneError::Invalid(format!(
                            "latency budget {ms} ms must be positive"
                        )));
                    }
                    (ms / d.max(1e-12), ms)
                }
                Target::Macs(f) | Target::Params(f) | Target::Latency(f) => (f, f64::NAN),
                Target::Ratio(_) => unreachable!("handled above"),
            };
            if !(f > 0.0 && f <= 1.0) {
                return Err(PruneError::Invalid(match cfg.target {
                    Target::LatencyMs(ms) => format!(
                        "latency budget {ms} ms is above the dense model's predicted {:.3} ms: nothing to prune",
                        dense_lat.unwrap_or(0.0)
                    ),
                    Target::MemoryKb(kb) => format!(
                        "memory budget {kb} KiB is above the dense model's {:.1} KiB of f32 weights: nothing to prune",
                        cm.eval(&none).params as f64 * WEIGHT_BYTES / 1024.0
                    ),
                    Target::RamKb(kb) => format!(
                        "RAM budget {kb} KiB is above the dense model's peak of {:.1} KiB of activations: nothing to prune",
                        cm.peak_activation(&none) as f64 / 1024.0
                    ),
                    _ => format!("target fraction {f} must be in (0, 1]"),
                }));
            }
            let metric = |removed: &[bool]| -> f64 {
                match cfg.target {
                    Target::Macs(_) => cm.eval(removed).macs as f64,
                    Target::Params(_) => cm.eval(removed).params as f64,
                    Target::MemoryKb(_) => cm.eval(removed).params as f64 * WEIGHT_BYTES,
                    Target::RamKb(_) => cm.peak_activation(removed) as f64,
                    _ => lm.map_or(0.0, |l| cm.latency(removed, l)),
                }
            };
            let dense_metric = metric(&none);
            let goal = if goal_abs.is_nan() {
                f * dense_metric
            } else {
                goal_abs
            };
            // Memory budgets are hard limits; MAC, parameter and latency targets are met within 2%.
            let slack = if matches!(cfg.target, Target::MemoryKb(_) | Target::RamKb(_)) {
                1.0
            } else {
                1.02
            };
            let (mut lo, mut hi) = (0.0f64, 1.0f64);
            let most = select(hi);
            let best = metric(&most);
            if best > goal * slack {
                return Err(budget_error(dg, cfg, f, best / dense_metric));
            }
            if cfg.knapsack {
                let plan = knapsack(dg, &c, scores, cfg, &metric, dense_metric, goal * slack)
                    .ok_or_else(|| budget_error(dg, cfg, f, best / dense_metric))?;
                let pruned = cm.eval(&plan);
                let latency_ms = lm.map(|l| (cm.latency(&none, l), cm.latency(&plan, l)));
                return Ok(Allocation {
                    removed: plan,
                    dense,
                    pruned,
                    latency_ms,
                });
            }
            for _ in 0..40 {
                let mid = 0.5 * (lo + hi);
                if metric(&select(mid)) <= goal {
                    hi = mid;
                } else {
                    lo = mid;
                }
                if hi - lo < 1e-6 {
                    break;
                }
            }
            // The closer of the two bracketing plans, as long as it stays within the slack.
            let (a, b) = (select(lo), select(hi));
            let (ca, cb) = (metric(&a), metric(&b));
            if (ca - goal).abs() < (cb - goal).abs() && ca <= goal * slack {
                a
            } else {
                b
            }
        }
    };
    let pruned = cm.eval(&removed);
    let latency_ms = lm.map(|l| (cm.latency(&none, l), cm.latency(&removed, l)));
    Ok(Allocation {
        removed,
        dense,
        pruned,
        latency_ms,
    })
}

/// Candidate removal counts per group for the knapsack (at most this many besides zero).
const KNAPSACK_OPTIONS: usize = 16;

/// Multiple-choice knapsack by Lagrangian relaxation. Per group, candidate removal counts (the
/// kept count on the `round_to` multiple); a count's loss is the sum of the scores it removes
/// (the lowest first) and its saving the drop of `metric` (from `dense`, the unpruned model's)
/// with only that group reduced. For a
/// price λ each group takes the count minimising loss − λ·saving; λ grows (then is bisected
/// geometrically) until the whole plan's true, coupled metric is at most `goal`. `None` when
/// even the largest saving misses it.
fn knapsack(
    dg: &DepGraph,
    c: &Candidates,
    scores: &[Vec<f32>],
    cfg: &AllocConfig,
    metric: &dyn Fn(&[bool]) -> f64,
    dense: f64,
    goal: f64,
) -> Option<Vec<bool>> {
    let groups = c.order.len();
    let zero = vec![0usize; groups];
    // (removal count, loss, saving) per group.
    let mut options: Vec<Vec<(usize, f64, f64)>> = Vec::with_capacity(groups);
    for g in 0..groups {
        let mut counts: Vec<usize> = vec![0];
        let cap = c.cap[g];
        for i in 1..=KNAPSACK_OPTIONS {
            let r = (cap as f64 * i as f64 / KNAPSACK_OPTIONS as f64).round() as usize;
            counts.push(rounded(r.min(cap), c.size[g], cfg.round_to));
        }
        counts.sort_unstable();
        counts.dedup();
        let mut prefix = vec![0f64];
        for &i in &c.order[g] {
            prefix.push(prefix.last().copied().unwrap_or(0.0) + scores[g][i] as f64);
        }
        let mut opts = Vec::new();
        for r in counts {
            let loss = prefix.get(r).copied().unwrap_or(f64::INFINITY);
            let saving = if r == 0 {
                0.0
            } else {
                let mut k = zero.clone();
                k[g] = r;
                dense - metric(&mark(dg, c, &k, cfg.round_to))
            };
            opts.push((r, loss, saving));
        }
        options.push(opts);
    }
    let pick = |lam: f64| -> Vec<usize> {
        options
            .iter()
            .map(|opts| {
                opts.iter()
                    .min_by(|a, b| (a.1 - lam * a.2).total_cmp(&(b.1 - lam * b.2)))
                    .map_or(0, |o| o.0)
            })
            .collect()
    };
    let fits = |lam: f64| -> Option<Vec<bool>> {
        let plan = mark(dg, c, &pick(lam), cfg.round_to);
        (metric(&plan) <= goal).then_some(plan)
    };
    // A price at which the plan fits, then the lowest such price (least importance removed).
    let total_loss: f64 = options.iter().filter_map(|o| o.last()).map(|o| o.1).sum();
    let total_saving: f64 = options.iter().filter_map(|o| o.last()).map(|o| o.2).sum();
    let mut hi = (total_loss / total_saving.max(1e-300)).max(1e-300);
    let mut best = None;
    for _ in 0..200 {
        if let Some(p) = fits(hi) {
            best = Some(p);
            break;
        }
        hi *= 2.0;
        if !hi.is_finite() {
            return None;
        }
    }
    let mut best = best?;
    let mut lo = hi / 2f64.powi(60);
    for _ in 0..60 {
        let mid = (lo * hi).sqrt();
        match fits(mid) {
            Some(p) => {
                best = p;
                hi = mid;
            }
            None => lo = mid,
        }
        if hi / lo < 1.0 + 1e-9 {
            break;
        }
    }
    Some(best)
}

/// Scores divided by the latency one channel of the group costs (normalised to mean 1 over the
/// groups), measured by removing `round_to` (or 1) channels of that group alone.
fn latency_weighted(
    dg: &DepGraph,
    model: &coprune_ir::Model,
    scores: &[Vec<f32>],
    cm: &CostModel,
    cfg: &AllocConfig,
    lm: &dyn LatencyModel,
) -> Result<Vec<Vec<f32>>> {
    let none = vec![false; dg.num_units()];
    let base = cm.latency(&none, lm);
    let c = candidates(dg, model, scores, cfg)?;
    let step = cfg.round_to.unwrap_or(1).max(1);
    let mut per_channel = vec![0f64; c.order.len()];
    for (g, order) in c.order.iter().enumerate() {
        let n = step.min(order.len()).min(c.cap[g]);
        if n == 0 {
            continue;
        }
        let mut removed = none.clone();
        for &i in &order[..n] {
            removed[dg.groups[g].units[i]] = true;
        }
        per_channel[g] = ((base - cm.latency(&removed, lm)) / n as f64).max(0.0);
    }
    let active: Vec<f64> = per_channel.iter().copied().filter(|&v| v > 0.0).collect();
    let mean = active.iter().sum::<f64>() / active.len().max(1) as f64;
    Ok(scores
        .iter()
        .enumerate()
        .map(|(g, s)| {
            // A group whose channels save nothing keeps its scores ×1e3: pruned last.
            let w = if per_channel[g] > 0.0 && mean > 0.0 {
                per_channel[g] / mean
            } else {
                1e-3
            };
            s.iter().map(|&x| x / w as f32).collect()
        })
        .collect())
}

fn budget_error(dg: &DepGraph, cfg: &AllocConfig, want: f64, best: f64) -> PruneError {
    let mut reasons: Vec<(String, usize)> = Vec::new();
    for g in &dg.groups {
        for r in g.blocked.iter().flatten() {
            match reasons.iter_mut().find(|(x, _)| x == r) {
                Some(e) => e.1 += 1,
                None => reasons.push((r.clone(), 1)),
            }
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    let what = match cfg.target {
        Target::Macs(_) => "MACs",
        Target::Latency(_) | Target::LatencyMs(_) => "predicted latency",
        Target::MemoryKb(_) => "weight memory",
        Target::RamKb(_) => "peak activation memory (graph inputs and outputs always count)",
        _ => "parameters",
    };
    let list: Vec<String> = reasons
        .iter()
        .take(5)
        .map(|(r, n)| format!("{n} channels: {r}"))
        .collect();
    PruneError::BudgetNotMet(format!(
        "cannot reach {:.1}% of the dense {what}: the most this plan can remove leaves {:.1}% (max layer ratio {}). Channels that cannot be removed: {}",
        want * 100.0,
        best * 100.0,
        cfg.max_layer_ratio,
        if list.is_empty() { "none".to_string() } else { list.join("; ") }
    ))
}
