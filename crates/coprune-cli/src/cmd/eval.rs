//! `coprune eval MODEL --data KIND:PATH [--split test] [--limit N] [--batch B] [--threads T] [--json]`

use crate::fmt::si;
use anyhow::Result;
use clap::ValueEnum;
use coprune::data::{DataSpec, Normalize, Split};
use coprune::eval::load_dataset;
use coprune::prelude::*;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SplitArg {
    Train,
    Test,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// The dataset: `mnist:DIR`, `cifar10:DIR`, `npz:FILE`, `npy:X.npy,Y.npy` or
    /// `folder:DIR[,resize=N,crop=N|size=HxW][,gray][,mean=A/B/C,std=A/B/C]`.
    #[arg(long, value_name = "KIND:PATH")]
    pub data: String,
    /// Which split.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    /// Evaluate only the first N samples.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Samples per batch (models with a fixed batch use theirs).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Sparse kernels for weights with zeros: auto (timed per layer at load), off, on.
    #[arg(long, value_enum, default_value = "auto")]
    pub sparse: super::Sparse,
    /// Pixel normalisation MEAN,STD or per channel M1/M2/M3,S1/S2/S3 (x = (pixel/255 − MEAN)/STD);
    /// default: the dataset's usual.
    #[arg(long, value_name = "MEAN,STD")]
    pub normalize: Option<String>,
    /// Print a JSON document instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// Parses `MEAN,STD`, or per channel `M1/M2/M3,S1/S2/S3`.
pub fn parse_normalize(s: &str) -> Result<Normalize, coprune::Error> {
    let list = |v: &str| -> Option<Vec<f32>> {
        v.split('/').map(|x| x.trim().parse::<f32>().ok()).collect()
    };
    let parsed = s
        .split_once(',')
        .and_then(|(m, d)| Some((list(m)?, list(d)?)));
    match parsed {
        Some((mean, std)) if std.iter().all(|&x| x > 0.0) => Ok(Normalize { mean, std }),
        _ => Err(coprune::Error::Usage(format!(
            "--normalize `{s}` must be MEAN,STD (or per channel M1/M2/M3,S1/S2/S3) with STD > 0"
        ))),
    }
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    let data: DataSpec = args.data.parse().map_err(coprune::Error::from)?;
    let cfg = EvalConfig {
        data,
        split: match args.split {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        },
        limit: args.limit,
        batch: args.batch,
        threads: args.threads,
        sparse: args.sparse.into(),
        normalize: args.normalize.as_deref().map(parse_normalize).transpose()?,
    };
    let model = coprune::onnx::load(&args.model).map_err(coprune::Error::from)?;
    let dataset = load_dataset(&cfg)?;
    let bar = crate::progress::bar(dataset.len() as u64, "evaluating", args.json);
    let label = args.model.display().to_string();
    let r = evaluate(&model, &label, &dataset, &cfg, &|done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&r)?);
        return Ok(out);
    }
    outln!(
        out,
        "{}: top-1 {:.2}%{} on {} samples, mean loss {:.4}, {} images/s ({:.2} s)",
        r.model,
        100.0 * r.top1,
        r.top5
            .map(|t| format!(", top-5 {:.2}%", 100.0 * t))
            .unwrap_or_default(),
        r.samples,
        r.mean_loss,
        si(r.images_per_s as u64),
        r.seconds
    );
    Ok(out)
}
