//! Gradual pruning during training (Zhu & Gupta, "To prune, or not to prune", 2017): the
//! reduction grows over `steps` rounds along a cubic (or linear) curve; each round prunes to the
//! round's target and trains on the next slice of a seeded stream of the training data (the
//! rounds together see `epochs` passes). Channel targets remove structure for real every round;
//! sparsity targets re-rank the surviving weights and keep earlier zeros.
//!
//! Latency budgets (`--latency F` / `--latency-ms MS` with a target) make this the iterative
//! loop: each round prunes toward the round's share of the latency cut, fine-tunes, and
//! re-measures the model on the target; the next round plans from the measured figure. When the
//! scheduled rounds end above the budget, extra rounds (prune to the budget, fine-tune,
//! re-measure) run up to `max_iters` rounds in all.

use crate::analyze::analyze_model;
use crate::prune::{prune_loaded, PruneConfig};
use crate::train::train_model;
use crate::{Error, Result};
use coprune_data::Dataset;
use coprune_ir::Model;
use coprune_prune::allocate::{Target, WEIGHT_BYTES};
use coprune_prune::importance::Stats;
use coprune_prune::sparsity::{sparsify, SparsePattern, SparseTarget, SparsityConfig};
use coprune_train::trainer::permutation;
use coprune_train::TrainConfig;
use serde::Serialize;

/// The shape of the schedule: the fraction of the final reduction reached at progress t ∈ (0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Curve {
    /// 1 − (1 − t)³: large steps first, small ones last (Zhu & Gupta).
    Cubic,
    Linear,
}

impl Curve {
    pub fn at(self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match self {
            Curve::Cubic => 1.0 - (1.0 - t).powi(3),
            Curve::Linear => t,
        }
    }
}

/// What the rounds prune towards.
#[derive(Debug, Clone, PartialEq)]
pub enum GradualTarget {
    /// Structured: the channel config's target is the final one.
    Channel(Box<PruneConfig>),
    /// Unstructured with a `Sparsity` target.
    Sparse(SparsityConfig),
}

/// One round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    pub round: usize,
    /// Fraction of the final reduction scheduled for this round.
    pub progress: f64,
    pub params: u64,
    pub macs: u64,
    /// Zero weights among the prunable weights (sparsity targets).
    pub sparsity: Option<f64>,
    pub samples: usize,
    pub test_accuracy: Option<f64>,
    /// Latency budgets: the model's latency on the target after the round (measured, or
    /// predicted by a roofline).
    pub latency_ms: Option<f64>,
    pub seconds: f64,
}

/// Gradual pruning's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradualReport {
    pub curve: Curve,
    pub dense_params: u64,
    pub dense_macs: u64,
    /// Latency budgets: the dense model's latency, the budget, and whether the last round met it.
    pub dense_latency_ms: Option<f64>,
    pub budget_ms: Option<f64>,
    pub budget_met: Option<bool>,
    pub rounds: Vec<Round>,
}

/// A model's latency on the target of `spec`: measured end to end (coprune's runtime or the
/// user's onnxruntime), or predicted by the roofline.
fn latency_ms(
    model: &Model,
    label: &str,
    spec: &crate::hardware::LatencySpec,
    shapes: &[crate::input_shape::InputShape],
) -> Result<f64> {
    if spec.kind != crate::hardware::LatencyKind::Roofline {
        return crate::hardware::whole_model_ms(model, label, spec, shapes.to_vec());
    }
    let p = crate::prune::prepare_model(model.clone(), label.to_string(), shapes)?;
    let cm = coprune_prune::cost::CostModel::new(&p.model, &p.inferred, &p.dg);
    let (_, lm) = crate::hardware::latency_model(spec)?;
    Ok(cm.latency(&vec![false; p.dg.num_units()], lm.as_ref()))
}

/// Prunes `model` gradually over `steps` rounds while training on `train` for `train_cfg.epochs`
/// passes in total (latency budgets: then up to `max_iters` rounds in all until the budget
/// holds); returns the final model. `progress(round, rounds)` is called per round.
#[allow(clippy::too_many_arguments)]
pub fn gradual(
    mut model: Model,
    label: &str,
    target: &GradualTarget,
    steps: usize,
    max_iters: usize,
    curve: Curve,
    train_cfg: &TrainConfig,
    data: (&Dataset, &Dataset),
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Model, GradualReport)> {
    let (train, test) = data;
    let steps = steps.max(1);
    let shapes = match target {
        GradualTarget::Channel(c) => c.input_shapes.clone(),
        GradualTarget::Sparse(_) => Vec::new(),
    };
    let dense = analyze_model(&model, label, &shapes)?.totals;
    // The stream of sample indices: `epochs` seeded permutations, cut into `steps` slices.
    let stream: Vec<usize> = (0..train_cfg.epochs.max(1))
        .flat_map(|e| permutation(train.len(), train_cfg.seed.wrapping_add(1000 + e as u64)))
        .collect();
    let per_round = stream.len().div_ceil(steps);
    // Latency budgets: the spec, the dense latency and the budget in ms.
    let latency = match target {
        GradualTarget::Channel(cfg) => match cfg.allocation.target {
            Target::Latency(_) | Target::LatencyMs(_) => {
                let spec = cfg.latency.as_ref().ok_or_else(|| {
                    Error::Usage("a latency budget needs --target NAME|FILE".into())
                })?;
                let d = latency_ms(&model, label, spec, &shapes)?;
                let goal = match cfg.allocation.target {
                    Target::Latency(f) => f * d,
                    Target::LatencyMs(ms) => ms,
                    _ => unreachable!("matched above"),
                };
                Some((spec.clone(), d, goal))
            }
            _ => None,
        },
        GradualTarget::Sparse(_) => None,
    };
    let mut report = GradualReport {
        curve,
        dense_params: dense.params,
        dense_macs: dense.macs,
        dense_latency_ms: latency.as_ref().map(|l| l.1),
        budget_ms: latency.as_ref().map(|l| l.2),
        budget_met: None,
        rounds: Vec::new(),
    };
    let mut now_ms = latency.as_ref().map(|l| l.1);
    let mut done = 0f64;
    // The model's size as the round starts (the previous round's figures).
    let mut now = dense.clone();
    let rounds = if latency.is_some() {
        max_iters.max(steps)
    } else {
        steps
    };
    for k in 1..=rounds {
        if k > steps {
            // Extra rounds only while the measured latency misses the budget (2% slack).
            match (&latency, now_ms) {
                (Some((_, _, goal)), Some(ms)) if ms > goal * 1.02 => {}
                _ => break,
            }
        }
        let t0 = std::time::Instant::now();
        let p = curve.at((k as f64 / steps as f64).min(1.0));
        let mut sparsity = None;
        match target {
            GradualTarget::Channel(cfg) => {
                let rel = match cfg.allocation.target {
                    Target::Macs(f) => Target::Macs(
                        (1.0 - (1.0 - f) * p) * dense.macs as f64 / now.macs.max(1) as f64,
                    ),
                    Target::Params(f) => Target::Params(
                        (1.0 - (1.0 - f) * p) * dense.params as f64 / now.params.max(1) as f64,
                    ),
                    Target::MemoryKb(kb) => {
                        let d = dense.params as f64 * WEIGHT_BYTES / 1024.0;
                        Target::MemoryKb(d - (d - kb) * p)
                    }
                    Target::RamKb(kb) => {
                        let d = dense.peak_activation_bytes as f64 / 1024.0;
                        Target::RamKb(d - (d - kb) * p)
                    }
                    Target::Ratio(r) => {
                        Target::Ratio((r * p - r * done) / (1.0 - r * done).max(1e-9))
                    }
                    Target::Latency(_) | Target::LatencyMs(_) => {
                        let (_, d, goal) = latency.as_ref().expect("set for latency targets");
                        let scheduled = d - (d - goal) * p;
                        Target::Latency(scheduled / now_ms.unwrap_or(*d).max(1e-9))
                    }
                };
                let trivial = match rel {
                    Target::Macs(f) | Target::Params(f) | Target::Latency(f) => f >= 0.999,
                    Target::Ratio(r) => r <= 1e-6,
                    Target::LatencyMs(_) => false,
                    Target::MemoryKb(kb) => kb * 1024.0 >= now.params as f64 * WEIGHT_BYTES,
                    Target::RamKb(kb) => kb * 1024.0 >= now.peak_activation_bytes as f64,
                };
                if !trivial {
                    let mut c = cfg.clone();
                    c.allocation.target = rel;
                    model = prune_loaded(model, label, &c)?.0;
                }
            }
            GradualTarget::Sparse(cfg) => {
                if cfg.pattern != SparsePattern::Unstructured {
                    return Err(Error::Usage(
                        "gradual schedules apply to channel and unstructured patterns".into(),
                    ));
                }
                let SparseTarget::Sparsity(s) = cfg.target else {
                    return Err(Error::Usage(
                        "gradual sparsity needs --sparsity F (not a threshold)".into(),
                    ));
                };
                let mut c = cfg.clone();
                c.target = SparseTarget::Sparsity(s * p);
                let (patch, r) =
                    sparsify(&model, &c, &Stats::default()).map_err(|source| Error::Prune {
                        path: label.to_string(),
                        source,
                    })?;
                patch.apply(&mut model).map_err(|source| Error::Ir {
                    path: label.to_string(),
                    source,
                })?;
                sparsity = Some(r.zeros as f64 / r.elements.max(1) as f64);
            }
        }
        done = p;
        // Train on this round's slice of the stream (extra rounds wrap around it).
        let start = ((k - 1) * per_round) % stream.len().max(1);
        let idx = &stream[start..(start + per_round).min(stream.len())];
        let slice = train.subset(idx);
        let mut tc = train_cfg.clone();
        tc.epochs = 1;
        tc.keep_zeros = true;
        tc.seed = train_cfg.seed.wrapping_add(k as u64);
        let r = train_model(
            &mut model,
            label,
            &slice,
            Some(test),
            None,
            &tc,
            &|_, _, _, _| {},
        )?;
        let cost = analyze_model(&model, label, &shapes)?.totals;
        if let Some((spec, _, _)) = &latency {
            now_ms = Some(latency_ms(&model, label, spec, &shapes)?);
        }
        report.rounds.push(Round {
            round: k,
            progress: p,
            params: cost.params,
            macs: cost.macs,
            sparsity,
            samples: idx.len(),
            test_accuracy: r.epochs.last().and_then(|e| e.test_accuracy),
            latency_ms: latency.as_ref().and(now_ms),
            seconds: t0.elapsed().as_secs_f64(),
        });
        now = cost;
        progress(k, rounds);
    }
    report.budget_met = latency
        .as_ref()
        .zip(now_ms)
        .map(|((_, _, goal), ms)| ms <= goal * 1.02);
    Ok((model, report))
}
