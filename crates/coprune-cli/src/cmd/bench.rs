//! `coprune bench MODEL [--batch B] [--threads T] [--runtime coprune|ort|probe] [--probe CMD] [--json]`

use anyhow::{bail, Result};
use clap::ValueEnum;
use coprune::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Runtime {
    /// coprune's own CPU runtime.
    Coprune,
    /// Your onnxruntime library, loaded at run time (ORT_DYLIB_PATH, or Python's onnxruntime).
    Ort,
    /// An external command given with --probe that prints a latency.
    Probe,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// Batch size (the symbolic batch dim of the inputs).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// What runs the model.
    #[arg(long, value_enum, default_value = "coprune")]
    pub runtime: Runtime,
    /// Command that measures the model elsewhere and prints its latency (`{model}` is replaced
    /// by the model path), e.g. 'ssh board ./bench {model}'. Implies --runtime probe.
    #[arg(long, value_name = "CMD")]
    pub probe: Option<String>,
    /// Untimed runs first.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Minimum timed runs (timing also lasts at least one second); probe: number of calls.
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// coprune runtime: sparse kernels for weights with zeros. auto (default) times each such
    /// layer dense and sparse at load and keeps the faster; off: dense only; on: sparse wherever
    /// at least 25% of a layer's weights are zero.
    #[arg(long, value_enum)]
    pub sparse: Option<super::Sparse>,
    #[command(flatten)]
    pub shapes: super::ShapeArgs,
    /// Print a JSON document instead of the summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    let runtime = if args.probe.is_some() {
        Runtime::Probe
    } else {
        args.runtime
    };
    let r = match (runtime, &args.probe) {
        (Runtime::Probe, Some(cmd)) => {
            bench_probe(&args.model, cmd, args.runs.min(1000), args.batch)?
        }
        (Runtime::Probe, None) => bail!(coprune::Error::Usage(
            "--runtime probe needs --probe 'CMD {model}'".into()
        )),
        _ if runtime != Runtime::Coprune && args.sparse.is_some() => {
            bail!(coprune::Error::Usage(
                "--sparse applies to --runtime coprune".into()
            ))
        }
        (Runtime::Coprune | Runtime::Ort, _) => {
            let model = coprune::onnx::load(&args.model).map_err(coprune::Error::from)?;
            let cfg = BenchConfig {
                batch: args.batch.max(1),
                threads: args.threads.max(1),
                warmup: args.warmup,
                min_runs: args.runs.max(1),
                min_time: Duration::from_secs(1),
                input_shapes: args.shapes.input_shape.clone(),
                sparse: args.sparse.unwrap_or(super::Sparse::Auto).into(),
            };
            if runtime == Runtime::Ort {
                bench_ort(&model, &args.model, &cfg)?
            } else {
                bench_coprune(&model, &args.model.display().to_string(), &cfg)?
            }
        }
    };
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&r)?);
        return Ok(out);
    }
    outln!(
        out,
        "{} ({}, batch {}, {} thread(s)): median {:.3} ms, p10 {:.3} ms, p90 {:.3} ms over {} runs; {:.1} samples/s",
        r.model,
        r.runtime,
        r.batch,
        r.threads,
        r.median_ms,
        r.p10_ms,
        r.p90_ms,
        r.runs,
        r.throughput
    );
    if !r.sparse_layers.is_empty() {
        let on: Vec<_> = r
            .sparse_layers
            .iter()
            .filter(|l| l.format.is_some())
            .collect();
        outln!(
            out,
            "sparse kernels: {} of {} layers with zero weights ({} dense: too dense or slower when timed)",
            on.len(),
            r.sparse_layers.len(),
            r.sparse_layers.len() - on.len()
        );
        if let Some((d, s)) = r.model_race_ms {
            let kept = if d < s { "all dense" } else { "sparse" };
            outln!(
                out,
                "whole model timed at load: all dense {d:.3} ms, with the sparse layers {s:.3} ms: {kept} kept"
            );
        }
        for l in &r.sparse_layers {
            let timed = l
                .timed_ms
                .map(|(d, s)| format!("  timed dense {d:.3} ms, sparse {s:.3} ms"))
                .unwrap_or_default();
            outln!(
                out,
                "  {:<44} {:>5.1}% zeros  {:<9}{}",
                l.node,
                100.0 * (1.0 - l.density),
                l.format.as_deref().unwrap_or("dense"),
                timed
            );
        }
    }
    Ok(out)
}
