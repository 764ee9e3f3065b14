//! `coprune prune MODEL -o OUT --pattern channel [target] [options]`

use crate::fmt::{si, table};
use anyhow::{bail, Result};
use clap::ValueEnum;
use coprune::prelude::*;
use coprune::prune::{PlanSource, PruneOutputs};
use coprune::pruning::allocate::{AllocConfig, Target};
use coprune::pruning::importance::{CriterionKind, Normalization, Reduction};
use coprune::pruning::sparsity::{ElementCriterion, SparsePattern, SparseTarget, SparsityConfig};
use std::path::PathBuf;

/// Structure to remove, from `--pattern`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    /// Whole channels/filters (with everything coupled to them), physically removed.
    Channel,
    /// Fine-grained: weights zeroed in place.
    Sparse(SparsePattern),
}

fn parse_pattern(s: &str) -> Result<Pattern, String> {
    match s {
        "channel" => return Ok(Pattern::Channel),
        "unstructured" => return Ok(Pattern::Sparse(SparsePattern::Unstructured)),
        _ => {}
    }
    if let Some(shape) = s.strip_prefix("block:") {
        if let Some((r, c)) = shape.split_once(['x', 'X']) {
            if let (Ok(rows), Ok(cols)) = (r.parse::<usize>(), c.parse::<usize>()) {
                if rows >= 1 && cols >= 1 && rows * cols >= 2 {
                    return Ok(Pattern::Sparse(SparsePattern::Block { rows, cols }));
                }
            }
        }
    }
    if let Some((n, m)) = s.split_once(':') {
        if let (Ok(n), Ok(m)) = (n.parse::<usize>(), m.parse::<usize>()) {
            if n > 0 && n < m {
                return Ok(Pattern::Sparse(SparsePattern::NM { n, m, rows: 1 }));
            }
        }
    }
    Err(format!(
        "pattern `{s}` is not supported; supported: channel, unstructured, N:M with 0 < N < M (e.g. 2:4), block:RxC (e.g. block:4x1, block:1x16)"
    ))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Criterion {
    L1,
    L2,
    Random,
    BnScale,
    Fpgm,
    Lamp,
    /// First-order Taylor |Σ w·∂L/∂w| from calibration data (needs --data).
    Taylor,
    /// Activation-weighted ‖X‖·|W| (Wanda) from calibration data (needs --data).
    Wanda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencyModelArg {
    /// Each layer timed with coprune's runtime (host).
    Measured,
    /// Each layer timed with your onnxruntime library (host; ORT_DYLIB_PATH or Python's).
    MeasuredOrt,
    /// Analytic, any profile.
    Roofline,
    /// Each layer timed by your --probe command on the device it reaches (any profile).
    Probe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Schedule {
    Oneshot,
    Gradual,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CurveArg {
    /// 1 − (1 − t)³
    Cubic,
    Linear,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupReduction {
    Mean,
    Sum,
    Max,
    First,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupNorm {
    None,
    Mean,
    Max,
    Sum,
    Standardize,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// Where to write the pruned model (required unless --dry-run).
    #[arg(short, long, value_name = "OUT.onnx")]
    pub output: Option<PathBuf>,
    /// What to remove: `channel` (physically removed), `unstructured`, `N:M` such as `2:4` (N
    /// kept of every M along the input channels) or `block:RxC` such as `block:4x1` (R output
    /// channels × C reduction elements zeroed together); fine-grained patterns zero weights in
    /// place.
    #[arg(long, default_value = "channel", value_parser = parse_pattern)]
    pub pattern: Pattern,
    /// Unstructured/block: zero this fraction of each layer's weights (of all with --global).
    #[arg(long, value_name = "F", group = "target")]
    pub sparsity: Option<f64>,
    /// Unstructured/block: zero every weight (block) whose (mean) score, |w| for l1, is below T.
    #[arg(long, value_name = "T", group = "target")]
    pub threshold: Option<f32>,
    /// N:M/block: refuse a layer the pattern does not fit instead of leaving it dense with a
    /// warning.
    #[arg(long)]
    pub strict: bool,
    /// N:M: this many consecutive output channels make the same choice of N (each row is still
    /// N:M). With 4, coprune's CPU runtime runs the layer on its blocked kernel, which loads each
    /// kept activation once for four rows: resnet18 at 2:4 ran 1.28× faster than its dense path
    /// on a Zen 1 VM, against 1.08× with rows choosing alone.
    #[arg(long, value_name = "R", default_value_t = 1)]
    pub nm_rows: usize,
    /// Remove this fraction of channels (of each group; of all channels with --global).
    #[arg(long, value_name = "F", group = "target")]
    pub ratio: Option<f64>,
    /// Keep this fraction of the dense model's MACs (met within 2%).
    #[arg(long, value_name = "F", group = "target")]
    pub target_macs: Option<f64>,
    /// Keep this fraction of the dense model's parameters (met within 2%).
    #[arg(long, value_name = "F", group = "target")]
    pub target_params: Option<f64>,
    /// Keep this fraction of the dense model's latency on --target (predicted by the latency
    /// model; met within 2%).
    #[arg(long, value_name = "F", group = "target", requires = "target_device")]
    pub latency: Option<f64>,
    /// Measure every layer afresh instead of reusing the timings kept in $COPRUNE_CACHE_DIR
    /// (default ~/.cache/coprune; one table per CPU, thread count, runtime and coprune build).
    #[arg(long, requires = "target_device")]
    pub no_latency_cache: bool,
    /// The pruned model's weights take at most this many KiB as f32 (an MCU's flash budget;
    /// `coprune profile --target arm-cortex-m7` shows one).
    #[arg(long, value_name = "KB", group = "target")]
    pub memory_kb: Option<f64>,
    /// At most this many KiB of activations alive at once while the model runs (an MCU's RAM
    /// budget; `coprune analyze` shows the peak).
    #[arg(long, value_name = "KB", group = "target")]
    pub ram_kb: Option<f64>,
    /// Predicted latency on --target at most this many milliseconds.
    #[arg(long, value_name = "MS", group = "target", requires = "target_device")]
    pub latency_ms: Option<f64>,
    /// The device to plan for: `host` (measured), a built-in profile (see `coprune profile
    /// --list`) or a profile TOML file. Channel counts follow its multiple unless --round-to.
    #[arg(long = "target", value_name = "NAME|FILE", id = "target_device")]
    pub target_device: Option<String>,
    /// How latency is predicted: `measured` (each layer timed alone with coprune's runtime;
    /// host only, the default there), `measured-ort` (timed with your onnxruntime; host only)
    /// `roofline` (analytic, any profile) or `probe` (timed by --probe on the target). Measured
    /// tables are calibrated to the whole model.
    #[arg(long, value_enum, requires = "target_device")]
    pub latency_model: Option<LatencyModelArg>,
    /// With `--latency-model probe` (implied): a command that runs a model file on the target
    /// and prints its latency (`{model}` is replaced by the path; a JSON line with median_ms, or
    /// "N ms"), e.g. `ssh board ./bench {model}`. Each layer is timed alone through it.
    #[arg(long, value_name = "CMD", requires = "target_device")]
    pub probe: Option<String>,
    /// Replay a saved plan on this model instead of computing one.
    #[arg(long, value_name = "PLAN.json", group = "target")]
    pub plan: Option<PathBuf>,
    /// Channel importance criterion.
    #[arg(long, value_enum, default_value = "l1")]
    pub criterion: Criterion,
    /// How the scores of a group's tensors combine per channel.
    #[arg(long, value_enum, default_value = "mean")]
    pub reduction: GroupReduction,
    /// Per-group score normalisation (used to compare groups with --global).
    #[arg(long, value_enum, default_value = "mean")]
    pub normalization: GroupNorm,
    /// Rank channels across all groups instead of pruning each group by the same fraction.
    #[arg(long)]
    pub global: bool,
    /// Choose each group's channel count by a knapsack: the least importance removed that meets
    /// the budget (MACs, params, memory or latency), each group's cost measured at up to 16
    /// candidate counts (HALP's latency knapsack). Needs a budget other than --ratio.
    #[arg(long, conflicts_with_all = ["global", "ratio"])]
    pub knapsack: bool,
    /// Never remove more than this fraction of a group.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub max_layer_ratio: f64,
    /// Keep channel counts at multiples of N.
    #[arg(long, value_name = "N")]
    pub round_to: Option<usize>,
    /// Fixed removal fraction for the group rooted at NODE (repeatable).
    #[arg(long = "layer-ratio", value_name = "NODE=F")]
    pub layer_ratio: Vec<String>,
    /// Leave the groups containing NODE alone (repeatable).
    #[arg(long, value_name = "NODE")]
    pub ignore: Vec<String>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Calibration data for data-driven criteria (`--criterion taylor`), its training split:
    /// `mnist:DIR`, `cifar10:DIR`, `npz:FILE`, `npy:X.npy,Y.npy` or
    /// `folder:DIR[,resize=N,crop=N|size=HxW][,gray][,mean=A/B/C,std=A/B/C]`.
    #[arg(long, value_name = "KIND:PATH")]
    pub data: Option<String>,
    /// Calibration samples (first N of the training split).
    #[arg(long, value_name = "N", default_value_t = 512, requires = "data")]
    pub calib_samples: usize,
    /// Threads for calibration and training passes, and the threads the deployed model runs on
    /// for latency predictions.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// `oneshot` prunes once; `gradual` prunes in --steps rounds along --curve while training on
    /// --data for --epochs passes in total (Zhu & Gupta).
    #[arg(long, value_enum, default_value = "oneshot")]
    pub schedule: Schedule,
    /// Gradual: pruning rounds.
    #[arg(long, default_value_t = 4)]
    pub steps: usize,
    /// Gradual with a latency budget: rounds in all (prune, fine-tune, re-measure) before giving
    /// up on the budget; extra rounds after --steps run only while the measured latency misses
    /// it. Default: --steps + 2.
    #[arg(long, value_name = "N")]
    pub max_iters: Option<usize>,
    /// Gradual: passes over the training data, spread over the rounds.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Gradual: how the reduction grows over the rounds.
    #[arg(long, value_enum, default_value = "cubic")]
    pub curve: CurveArg,
    /// Gradual: AdamW learning rate of the training between rounds.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Gradual: samples per training step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Save the plan as JSON.
    #[arg(long, value_name = "PLAN.json")]
    pub plan_out: Option<PathBuf>,
    /// Also write the masked equivalent: original shapes, the weights reading removed channels
    /// zeroed (its outputs equal the pruned model's).
    #[arg(long, value_name = "MASKED.onnx")]
    pub write_masked: Option<PathBuf>,
    /// Plan and report, write no model.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub shapes: super::ShapeArgs,
    /// Print a JSON document instead of the summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    let gradual_only = args.steps != 4
        || args.epochs != 1
        || args.lr != 1e-3
        || args.batch != 64
        || !matches!(args.curve, CurveArg::Cubic);
    if args.schedule == Schedule::Oneshot && gradual_only {
        bail!(coprune::Error::Usage(
            "--steps, --epochs, --curve, --lr and --batch apply to --schedule gradual".into()
        ));
    }
    if args.nm_rows != 1 && !matches!(args.pattern, Pattern::Sparse(SparsePattern::NM { .. })) {
        bail!(coprune::Error::Usage(
            "--nm-rows applies to an N:M --pattern (e.g. 2:4)".into()
        ));
    }
    if let Pattern::Sparse(mut p) = args.pattern {
        if let SparsePattern::NM { rows, .. } = &mut p {
            *rows = args.nm_rows;
        }
        return run_sparse(&args, p);
    }
    if args.sparsity.is_some() || args.threshold.is_some() || args.strict {
        bail!(coprune::Error::Usage(
            "--sparsity, --threshold and --strict apply to --pattern unstructured or N:M".into()
        ));
    }
    if args.output.is_none() && !args.dry_run {
        bail!(coprune::Error::Usage(
            "give -o OUT.onnx, or --dry-run".into()
        ));
    }
    let target = match (args.ratio, args.target_macs, args.target_params) {
        (Some(r), _, _) => Some(Target::Ratio(r)),
        (_, Some(f), _) => Some(Target::Macs(f)),
        (_, _, Some(f)) => Some(Target::Params(f)),
        _ => match (args.latency, args.latency_ms) {
            (Some(f), _) => Some(Target::Latency(f)),
            (_, Some(ms)) => Some(Target::LatencyMs(ms)),
            _ => args
                .memory_kb
                .map(Target::MemoryKb)
                .or(args.ram_kb.map(Target::RamKb)),
        },
    };
    let latency = latency_spec(
        args.target_device.as_ref(),
        args.latency_model,
        args.probe.as_ref(),
        args.threads,
        !args.no_latency_cache,
    );
    let layer_ratios = layer_ratios(&args.layer_ratio, "0.3")?;
    let calibration = calibration(&args)?;
    let cfg = PruneConfig {
        calibration,
        latency,
        criterion: criterion_kind(args.criterion),
        reduction: match args.reduction {
            GroupReduction::Mean => Reduction::Mean,
            GroupReduction::Sum => Reduction::Sum,
            GroupReduction::Max => Reduction::Max,
            GroupReduction::First => Reduction::First,
        },
        normalization: match args.normalization {
            GroupNorm::None => Normalization::None,
            GroupNorm::Mean => Normalization::Mean,
            GroupNorm::Max => Normalization::Max,
            GroupNorm::Sum => Normalization::Sum,
            GroupNorm::Standardize => Normalization::Standardize,
        },
        seed: args.seed,
        allocation: AllocConfig {
            target: target.unwrap_or(Target::Ratio(0.0)),
            global: args.global,
            knapsack: args.knapsack,
            max_layer_ratio: args.max_layer_ratio,
            round_to: args.round_to,
            layer_ratios,
            ignore: args.ignore.clone(),
        },
        input_shapes: args.shapes.input_shape.clone(),
    };
    if args.schedule == Schedule::Gradual {
        if target.is_none() {
            bail!(coprune::Error::Usage(
                "give a target: --ratio F, --target-macs F, --target-params F, or --latency F|--latency-ms MS with --target".into()
            ));
        }
        return run_gradual(
            &args,
            coprune::gradual::GradualTarget::Channel(Box::new(cfg)),
        );
    }
    let source = match (&args.plan, target) {
        (Some(p), _) => PlanSource::Replay(p),
        (None, Some(_)) => PlanSource::Compute(&cfg),
        (None, None) => bail!(coprune::Error::Usage(
            "give a target: --ratio F, --target-macs F, --target-params F, --memory-kb KB, --latency F or --latency-ms MS (with --target), or --plan PLAN.json"
                .into()
        )),
    };
    let outputs = PruneOutputs {
        model: if args.dry_run {
            None
        } else {
            args.output.clone()
        },
        plan: args.plan_out.clone(),
        masked: if args.dry_run {
            None
        } else {
            args.write_masked.clone()
        },
    };
    let r = prune_file(&args.model, source, &outputs)?;
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&r)?);
        return Ok(out);
    }
    for n in &r.notes {
        outln!(out, "note: {n}");
    }
    let pct = |a: u64, b: u64| format!("{:.1}%", 100.0 * a as f64 / b.max(1) as f64);
    let mut rows = vec![vec![
        "dense".to_string(),
        "".into(),
        "".into(),
        si(r.dense.params),
        si(r.dense.macs),
        crate::fmt::bytes(r.dense.peak_activation_bytes),
    ]];
    rows.push(vec![
        "pruned (predicted)".into(),
        "".into(),
        "".into(),
        format!(
            "{} ({})",
            si(r.predicted.params),
            pct(r.predicted.params, r.dense.params)
        ),
        format!(
            "{} ({})",
            si(r.predicted.macs),
            pct(r.predicted.macs, r.dense.macs)
        ),
        crate::fmt::bytes(r.predicted.peak_activation_bytes),
    ]);
    if let Some(m) = &r.measured {
        rows.push(vec![
            "pruned (written)".into(),
            "".into(),
            "".into(),
            format!("{} ({})", si(m.params), pct(m.params, r.dense.params)),
            format!("{} ({})", si(m.macs), pct(m.macs, r.dense.macs)),
            crate::fmt::bytes(m.peak_activation_bytes),
        ]);
    }
    out.push_str(&table(
        &["model", "", "", "params", "MACs", "peak activations"],
        &rows,
    ));
    if let Some(l) = &r.plan.latency {
        outln!(
            out,
            "predicted latency: {:.3} ms dense → {:.3} ms pruned ({:.1}%), {}",
            l.dense_ms,
            l.predicted_ms,
            100.0 * l.predicted_ms / l.dense_ms.max(1e-12),
            l.model
        );
        if let (Some(m), Some(d)) = (r.measured_latency_ms, r.measured_dense_latency_ms) {
            outln!(
                out,
                "measured latency: {d:.3} ms dense → {m:.3} ms written ({:.1}%); prediction error \
                 {:+.1}% in ms, {:+.1}% as a fraction of the dense model",
                100.0 * m / d.max(1e-12),
                100.0 * (l.predicted_ms - m) / m.max(1e-12),
                100.0 * (l.predicted_ms / l.dense_ms.max(1e-12) / (m / d.max(1e-12)) - 1.0)
            );
        }
    }
    outln!(
        out,
        "{} channels removed from {} groups ({} criterion){}",
        r.channels_removed,
        r.groups_pruned,
        serde_json::to_string(&r.plan.criterion)?.trim_matches('"'),
        if r.output.is_none() {
            "; dry run, nothing written"
        } else {
            ""
        }
    );
    for (what, path) in [
        ("model", &r.output),
        ("plan", &r.plan_file),
        ("masked model", &r.masked_output),
    ] {
        if let Some(p) = path {
            outln!(out, "wrote {what}: {p}");
        }
    }
    Ok(out)
}

/// `--layer-ratio NODE=F` values; `example` is the fraction shown in the error.
/// The latency model for `--target` (measured on the host by default, a roofline elsewhere).
pub(crate) fn latency_spec(
    target: Option<&String>,
    model: Option<LatencyModelArg>,
    probe: Option<&String>,
    threads: usize,
    cache: bool,
) -> Option<coprune::hardware::LatencySpec> {
    target.map(|t| coprune::hardware::LatencySpec {
        target: t.clone(),
        probe: probe.cloned(),
        kind: match (model, t.as_str()) {
            (Some(LatencyModelArg::Probe), _) => coprune::hardware::LatencyKind::Probe,
            (None, _) if probe.is_some() => coprune::hardware::LatencyKind::Probe,
            (Some(LatencyModelArg::MeasuredOrt), _) => coprune::hardware::LatencyKind::MeasuredOrt,
            (Some(LatencyModelArg::Measured), _) | (None, "host") => {
                coprune::hardware::LatencyKind::Measured
            }
            _ => coprune::hardware::LatencyKind::Roofline,
        },
        threads: threads.max(1),
        cache_dir: cache.then(coprune::hardware::default_cache_dir).flatten(),
    })
}

pub(crate) fn criterion_kind(c: Criterion) -> CriterionKind {
    match c {
        Criterion::L1 => CriterionKind::L1,
        Criterion::L2 => CriterionKind::L2,
        Criterion::Random => CriterionKind::Random,
        Criterion::BnScale => CriterionKind::BnScale,
        Criterion::Fpgm => CriterionKind::Fpgm,
        Criterion::Lamp => CriterionKind::Lamp,
        Criterion::Taylor => CriterionKind::Taylor,
        Criterion::Wanda => CriterionKind::Wanda,
    }
}

fn layer_ratios(specs: &[String], example: &str) -> Result<Vec<(String, f64)>> {
    specs
        .iter()
        .map(|spec| {
            spec.rsplit_once('=')
                .and_then(|(n, f)| f.parse::<f64>().ok().map(|f| (n.to_string(), f)))
                .ok_or_else(|| {
                    coprune::Error::Usage(format!(
                        "--layer-ratio `{spec}` must look like NODE={example}"
                    ))
                    .into()
                })
        })
        .collect()
}

/// Calibration data from `--data`, which only data-driven criteria read.
fn calibration(args: &Args) -> Result<Option<coprune::train::Calibration>> {
    let needs_data = matches!(args.criterion, Criterion::Taylor | Criterion::Wanda);
    Ok(match (&args.data, needs_data || args.schedule == Schedule::Gradual) {
        (Some(d), true) => Some(coprune::train::Calibration {
            data: d.parse().map_err(coprune::Error::from)?,
            normalize: None,
            samples: args.calib_samples,
            batch: 64,
            threads: args.threads,
        }),
        (Some(_), false) => bail!(coprune::Error::Usage(
            "--data is read only by data-driven criteria (--criterion taylor|wanda) and --schedule gradual"
                .into()
        )),
        (None, _) => None,
    })
}

/// `--schedule gradual`: rounds of pruning and training; writes the final model.
fn run_gradual(args: &Args, target: coprune::gradual::GradualTarget) -> Result<String> {
    use coprune::gradual::{gradual, Curve};
    let mut out = String::new();
    let (Some(cal), Some(output)) = (calibration(args)?, args.output.as_ref()) else {
        bail!(coprune::Error::Usage(
            "--schedule gradual trains: give --data KIND:PATH and -o OUT.onnx".into()
        ));
    };
    if args.dry_run || args.plan_out.is_some() || args.write_masked.is_some() || args.plan.is_some()
    {
        bail!(coprune::Error::Usage(
            "--dry-run, --plan, --plan-out and --write-masked apply to --schedule oneshot".into()
        ));
    }
    let (train, test) = coprune::train::load_splits(&coprune::train::DataConfig {
        data: cal.data.clone(),
        normalize: None,
        limit: None,
        test_limit: None,
    })?;
    let cfg = coprune::train::TrainConfig {
        epochs: args.epochs.max(1),
        batch: args.batch.max(1),
        optimizer: coprune::train::Optimizer::adamw(0.0),
        lr: args.lr,
        schedule: coprune::train::LrSchedule::Cosine,
        seed: args.seed,
        keep_zeros: true,
        distill: None,
        sample_shape: Vec::new(),
        threads: args.threads.max(1),
    };
    let model = coprune::onnx::load(&args.model).map_err(coprune::Error::from)?;
    let label = args.model.display().to_string();
    let bar = crate::progress::bar(args.steps as u64, "rounds", args.json);
    let curve = match args.curve {
        CurveArg::Cubic => Curve::Cubic,
        CurveArg::Linear => Curve::Linear,
    };
    let latency_budget = matches!(&target, coprune::gradual::GradualTarget::Channel(c)
        if matches!(c.allocation.target, Target::Latency(_) | Target::LatencyMs(_)));
    if args.max_iters.is_some() && !latency_budget {
        bail!(coprune::Error::Usage(
            "--max-iters applies to --schedule gradual with --latency or --latency-ms".into()
        ));
    }
    let (model, r) = gradual(
        model,
        &label,
        &target,
        args.steps,
        args.max_iters.unwrap_or(args.steps + 2),
        curve,
        &cfg,
        (&train, &test),
        &|k, _| bar.set_position(k as u64),
    )?;
    bar.finish_and_clear();
    coprune::train::save(&model, output)?;
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&r)?);
        return Ok(out);
    }
    let pct = |a: u64, b: u64| format!("{:.1}%", 100.0 * a as f64 / b.max(1) as f64);
    let rows: Vec<Vec<String>> = r
        .rounds
        .iter()
        .map(|x| {
            vec![
                x.round.to_string(),
                format!("{:.2}", x.progress),
                format!("{} ({})", si(x.params), pct(x.params, r.dense_params)),
                format!("{} ({})", si(x.macs), pct(x.macs, r.dense_macs)),
                x.sparsity
                    .map_or("-".into(), |s| format!("{:.1}%", 100.0 * s)),
                x.samples.to_string(),
                x.test_accuracy
                    .map_or("-".into(), |a| format!("{:.2}%", 100.0 * a)),
                x.latency_ms.map_or("-".into(), |ms| format!("{ms:.3}")),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "round", "progress", "params", "MACs", "sparsity", "samples", "test acc", "ms",
        ],
        &rows,
    ));
    if let (Some(d), Some(b), Some(met)) = (r.dense_latency_ms, r.budget_ms, r.budget_met) {
        let last = r.rounds.last().and_then(|x| x.latency_ms).unwrap_or(d);
        outln!(
            out,
            "latency {d:.3} ms dense → {last:.3} ms after {} rounds; budget {b:.3} ms {}",
            r.rounds.len(),
            if met {
                "met".to_string()
            } else {
                "NOT met (raise --max-iters or loosen the budget)".to_string()
            }
        );
    }
    outln!(out, "wrote {}", output.display());
    Ok(out)
}

/// `--pattern unstructured|N:M`: weights zeroed in place, a per-layer report.
fn run_sparse(args: &Args, pattern: SparsePattern) -> Result<String> {
    let mut out = String::new();
    let channel_only = [
        (args.ratio.is_some(), "--ratio"),
        (args.target_macs.is_some(), "--target-macs"),
        (args.memory_kb.is_some(), "--memory-kb"),
        (args.ram_kb.is_some(), "--ram-kb"),
        (args.knapsack, "--knapsack"),
        (args.target_params.is_some(), "--target-params"),
        (args.plan.is_some(), "--plan"),
        (args.plan_out.is_some(), "--plan-out"),
        (args.write_masked.is_some(), "--write-masked"),
        (args.round_to.is_some(), "--round-to"),
        (args.max_layer_ratio != 1.0, "--max-layer-ratio"),
        (args.target_device.is_some(), "--target"),
        (!args.shapes.input_shape.is_empty(), "--input-shape"),
    ];
    if let Some((_, flag)) = channel_only.iter().find(|(used, _)| *used) {
        bail!(coprune::Error::Usage(format!(
            "{flag} applies to --pattern channel"
        )));
    }
    if args.output.is_none() && !args.dry_run {
        bail!(coprune::Error::Usage(
            "give -o OUT.onnx, or --dry-run".into()
        ));
    }
    let target = match (pattern, args.sparsity, args.threshold) {
        (SparsePattern::NM { .. }, None, None) => SparseTarget::Pattern,
        (SparsePattern::NM { n, m, .. }, _, _) => bail!(coprune::Error::Usage(format!(
            "{n}:{m} fixes the sparsity at {:.0}%; drop --sparsity/--threshold",
            100.0 * (m - n) as f64 / m as f64
        ))),
        (_, Some(f), _) => SparseTarget::Sparsity(f),
        (_, _, Some(t)) => SparseTarget::Threshold(t),
        _ => bail!(coprune::Error::Usage(
            "give a target: --sparsity F or --threshold T".into()
        )),
    };
    let criterion = match args.criterion {
        Criterion::L1 => ElementCriterion::Magnitude,
        Criterion::Random => ElementCriterion::Random,
        Criterion::Taylor => ElementCriterion::Taylor,
        Criterion::Wanda => ElementCriterion::Wanda,
        other => bail!(coprune::Error::Usage(format!(
            "criterion {other:?} scores channels; fine-grained patterns take l1 (magnitude), random, taylor or wanda"
        ))),
    };
    let layer_sparsity = layer_ratios(&args.layer_ratio, "0.9")?;
    let cfg = SparsityConfig {
        pattern,
        target,
        criterion,
        global: args.global,
        layer_sparsity,
        ignore: args.ignore.clone(),
        strict: args.strict,
        seed: args.seed,
    };
    if args.schedule == Schedule::Gradual {
        if matches!(
            cfg.criterion,
            ElementCriterion::Taylor | ElementCriterion::Wanda
        ) {
            bail!(coprune::Error::Usage(
                "gradual sparsity ranks by l1 or random; taylor and wanda are one-shot".into()
            ));
        }
        return run_gradual(args, coprune::gradual::GradualTarget::Sparse(cfg));
    }
    let cal = calibration(args)?;
    let output = if args.dry_run {
        None
    } else {
        args.output.as_deref()
    };
    let r = coprune::sparse::sparsify_file(&args.model, &cfg, cal.as_ref(), output)?;
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&r)?);
        return Ok(out);
    }
    let pct = |z: usize, n: usize| format!("{:.1}%", 100.0 * z as f64 / n.max(1) as f64);
    let rows: Vec<Vec<String>> = r
        .result
        .layers
        .iter()
        .map(|l| {
            vec![
                l.node.clone(),
                l.op.clone(),
                si(l.elements as u64),
                pct(l.zeros_before, l.elements),
                pct(l.zeros_after, l.elements),
                l.skipped.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "node",
            "op",
            "weights",
            "zeros before",
            "zeros after",
            "note",
        ],
        &rows,
    ));
    for w in &r.result.warnings {
        outln!(out, "warning: {w}");
    }
    outln!(
        out,
        "{} of {} weights are zero ({:.1}%); shapes unchanged{}",
        si(r.result.zeros as u64),
        si(r.result.elements as u64),
        100.0 * r.sparsity,
        match &r.output {
            Some(o) => format!("; wrote {o}"),
            None => " (dry run, nothing written)".into(),
        }
    );
    Ok(out)
}
