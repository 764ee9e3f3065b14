//! `coprune sensitivity MODEL --data KIND:PATH [--ratios 0.1,0.3,…] [--limit N] [--criterion C]
//! [--round-to N] [--target NAME|FILE [--latency-model M]] [-o REPORT.json] [--svg PLOT.svg]
//! [--json]`

use super::prune::{criterion_kind, latency_spec, Criterion, LatencyModelArg};
use anyhow::{bail, Result};
use coprune::eval::EvalConfig;
use coprune::prelude::*;
use coprune::pruning::allocate::{AllocConfig, Target};
use coprune::pruning::importance::{Normalization, Reduction};
use coprune::sensitivity::{sensitivity, svg, SensitivityConfig};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// The dataset to evaluate on (test split): `mnist:DIR`, `cifar10:DIR`, `npz:FILE`, `npy:X.npy,Y.npy` or
    /// `folder:DIR[,resize=N,crop=N|size=HxW][,gray][,mean=A/B/C,std=A/B/C]`.
    #[arg(long, value_name = "KIND:PATH")]
    pub data: String,
    /// Fractions of each group's channels to remove, one point each.
    #[arg(long, value_name = "F,F,…", default_value = "0.1,0.3,0.5,0.7,0.9")]
    pub ratios: String,
    /// Evaluate on the first N test samples only.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Channel importance criterion (data-free ones).
    #[arg(long, value_enum, default_value = "l1")]
    pub criterion: Criterion,
    /// Channel counts kept at multiples of N.
    #[arg(long, value_name = "N")]
    pub round_to: Option<usize>,
    /// Also predict each point's latency on this target (host, a built-in profile or a TOML).
    #[arg(long = "target", value_name = "NAME|FILE")]
    pub target_device: Option<String>,
    /// Latency model for --target (default: measured on host, roofline elsewhere).
    #[arg(long, value_enum, requires = "target_device")]
    pub latency_model: Option<LatencyModelArg>,
    /// With `--latency-model probe` (implied): the command that times a model file on the
    /// target (`{model}` is replaced by the path; it prints median_ms JSON or "N ms").
    #[arg(long, value_name = "CMD", requires = "target_device")]
    pub probe: Option<String>,
    /// Write the report as JSON here.
    #[arg(short, long, value_name = "REPORT.json")]
    pub output: Option<PathBuf>,
    /// Draw top-1 against the removed fraction, one line per group, as an SVG.
    #[arg(long, value_name = "PLOT.svg")]
    pub svg: Option<PathBuf>,
    /// Runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    #[command(flatten)]
    pub shapes: super::ShapeArgs,
    /// Print a JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    let ratios: Vec<f64> = args
        .ratios
        .split(',')
        .map(|r| r.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            coprune::Error::Usage(format!(
                "--ratios `{}` must be numbers such as 0.1,0.5,0.9",
                args.ratios
            ))
        })?;
    if matches!(args.criterion, Criterion::Taylor | Criterion::Wanda) {
        bail!(coprune::Error::Usage(
            "sensitivity takes a data-free criterion: l1, l2, random, bn-scale, fpgm or lamp"
                .into()
        ));
    }
    let cfg = SensitivityConfig {
        prune: PruneConfig {
            criterion: criterion_kind(args.criterion),
            reduction: Reduction::Mean,
            normalization: Normalization::Mean,
            seed: 0,
            allocation: AllocConfig {
                target: Target::Ratio(0.0),
                round_to: args.round_to,
                ..AllocConfig::default()
            },
            input_shapes: args.shapes.input_shape.clone(),
            calibration: None,
            latency: latency_spec(
                args.target_device.as_ref(),
                args.latency_model,
                args.probe.as_ref(),
                args.threads,
                true,
            ),
        },
        ratios,
        eval: EvalConfig::test_split(
            args.data.parse().map_err(coprune::Error::from)?,
            args.limit,
            args.threads,
        ),
    };
    let bar = crate::progress::bar(0, "sensitivity", args.json);
    let r = sensitivity(&args.model, &cfg, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let json = serde_json::to_string_pretty(&r)?;
    if let Some(p) = &args.output {
        coprune::onnx::write_atomic(p, json.as_bytes()).map_err(coprune::Error::from)?;
    }
    if let Some(p) = &args.svg {
        let s = svg(&r).map_err(|e| anyhow::anyhow!("drawing the plot: {e}"))?;
        coprune::onnx::write_atomic(p, s.as_bytes()).map_err(coprune::Error::from)?;
    }
    if args.json {
        outln!(out, "{json}");
        return Ok(out);
    }
    let lat = r.latency_model.is_some();
    outln!(
        out,
        "{}: dense top-1 {:.2}% on {} samples{}",
        r.model,
        100.0 * r.dense_top1,
        r.samples,
        r.dense_latency_ms
            .map(|ms| format!(
                ", predicted {ms:.3} ms ({})",
                r.latency_model.as_deref().unwrap_or("")
            ))
            .unwrap_or_default()
    );
    let mut head = format!("{:<36} {:>8}", "group (root)", "channels");
    for p in &cfg.ratios {
        head.push_str(&format!(" {:>13}", format!("{:.0}% removed", 100.0 * p)));
    }
    outln!(out, "{head}");
    for g in &r.groups {
        let mut row = format!("{:<36} {:>8}", g.root, g.channels);
        for p in &g.points {
            let cell = match p.latency_ms {
                Some(ms) if lat => format!("{:.2}%/{ms:.2}ms", 100.0 * p.top1),
                _ => format!("{:.2}%", 100.0 * p.top1),
            };
            row.push_str(&format!(" {cell:>13}"));
        }
        outln!(out, "{row}");
    }
    for (what, p) in [("report", &args.output), ("plot", &args.svg)] {
        if let Some(p) = p {
            outln!(out, "wrote {what} {}", p.display());
        }
    }
    Ok(out)
}
