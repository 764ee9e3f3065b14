//! `coprune prune MODEL -o OUT --pattern channel [target] [options]`

use crate::fmt::{si, table};
use anyhow::{bail, Result};
use clap::ValueEnum;
use coprune::prelude::*;
use coprune::prune::{PlanSource, PruneOutputs};
use coprune::pruning::allocate::{AllocConfig, Target};
use coprune::pruning::importance::{CriterionKind, Normalization, Reduction};
use std::path::PathBuf;

/// Structure to remove.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Pattern {
    /// Whole channels/filters (with everything coupled to them), physically removed.
    Channel,
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
    /// What to remove.
    #[arg(long, value_enum, default_value = "channel")]
    pub pattern: Pattern,
    /// Remove this fraction of channels (of each group; of all channels with --global).
    #[arg(long, value_name = "F", group = "target")]
    pub ratio: Option<f64>,
    /// Keep this fraction of the dense model's MACs (met within 2%).
    #[arg(long, value_name = "F", group = "target")]
    pub target_macs: Option<f64>,
    /// Keep this fraction of the dense model's parameters (met within 2%).
    #[arg(long, value_name = "F", group = "target")]
    pub target_params: Option<f64>,
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
    /// Calibration data for data-driven criteria (`--criterion taylor`): `mnist:DIR` (its
    /// training split).
    #[arg(long, value_name = "KIND:PATH")]
    pub data: Option<String>,
    /// Calibration samples (first N of the training split).
    #[arg(long, value_name = "N", default_value_t = 512, requires = "data")]
    pub calib_samples: usize,
    /// Threads for the calibration passes.
    #[arg(long, default_value_t = 2, requires = "data")]
    pub threads: usize,
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
    let Pattern::Channel = args.pattern;
    if args.output.is_none() && !args.dry_run {
        bail!(coprune::Error::Usage(
            "give -o OUT.onnx, or --dry-run".into()
        ));
    }
    let target = match (args.ratio, args.target_macs, args.target_params) {
        (Some(r), _, _) => Some(Target::Ratio(r)),
        (_, Some(f), _) => Some(Target::Macs(f)),
        (_, _, Some(f)) => Some(Target::Params(f)),
        _ => None,
    };
    let mut layer_ratios = Vec::new();
    for spec in &args.layer_ratio {
        let parsed = spec
            .rsplit_once('=')
            .and_then(|(n, f)| f.parse::<f64>().ok().map(|f| (n.to_string(), f)));
        match parsed {
            Some(x) => layer_ratios.push(x),
            None => bail!(coprune::Error::Usage(format!(
                "--layer-ratio `{spec}` must look like NODE=0.3"
            ))),
        }
    }
    let needs_data = matches!(args.criterion, Criterion::Taylor);
    let calibration = match (&args.data, needs_data) {
        (Some(d), true) => Some(coprune::train::Calibration {
            data: d.parse().map_err(coprune::Error::from)?,
            normalize: None,
            samples: args.calib_samples,
            batch: 64,
            threads: args.threads,
        }),
        (Some(_), false) => bail!(coprune::Error::Usage(
            "--data is read only by data-driven criteria (--criterion taylor)".into()
        )),
        (None, _) => None,
    };
    let cfg = PruneConfig {
        calibration,
        criterion: match args.criterion {
            Criterion::L1 => CriterionKind::L1,
            Criterion::L2 => CriterionKind::L2,
            Criterion::Random => CriterionKind::Random,
            Criterion::BnScale => CriterionKind::BnScale,
            Criterion::Fpgm => CriterionKind::Fpgm,
            Criterion::Lamp => CriterionKind::Lamp,
            Criterion::Taylor => CriterionKind::Taylor,
        },
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
            max_layer_ratio: args.max_layer_ratio,
            round_to: args.round_to,
            layer_ratios,
            ignore: args.ignore.clone(),
        },
        input_shapes: args.shapes.input_shape.clone(),
    };
    let source = match (&args.plan, target) {
        (Some(p), _) => PlanSource::Replay(p),
        (None, Some(_)) => PlanSource::Compute(&cfg),
        (None, None) => bail!(coprune::Error::Usage(
            "give a target: --ratio F, --target-macs F, --target-params F, or --plan PLAN.json"
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
    ]);
    if let Some(m) = &r.measured {
        rows.push(vec![
            "pruned (written)".into(),
            "".into(),
            "".into(),
            format!("{} ({})", si(m.params), pct(m.params, r.dense.params)),
            format!("{} ({})", si(m.macs), pct(m.macs, r.dense.macs)),
        ]);
    }
    out.push_str(&table(&["model", "", "", "params", "MACs"], &rows));
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
