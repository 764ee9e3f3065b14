//! `coprune demo`: the bundled example, end to end on real data with nothing to download. It
//! trains LeNet-5 from scratch on the bundled MNIST subset (20,000 training images), evaluates
//! it on the bundled MNIST test set, analyzes it, exports it losslessly through the IR, shows
//! the channel dependency groups, profiles the host, prunes to half the MACs with channel counts
//! on the host's multiple (channels removed for real), fine-tunes the pruned model, measures latency with coprune's runtime, and ends with a
//! before/after table. Output files go to `--out` (default `./coprune-demo/`).

use super::analyze::render;
use crate::fmt::{si, table};
use anyhow::{bail, Context, Result};
use coprune::data::{Dataset, Split};
use coprune::prelude::*;
use coprune::prune::{PlanSource, PruneOutputs};
use coprune::pruning::allocate::{AllocConfig, Target};
use coprune::pruning::importance::{CriterionKind, Normalization, Reduction};
use coprune::train::{train_model, Arch, LrSchedule, Optimizer, TrainConfig, TrainReport};
use std::path::PathBuf;

/// The bundled data, embedded so the demo runs from any directory.
const MNIST: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../../../assets/mnist/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../../../assets/mnist/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../../../assets/mnist/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../../assets/mnist/t10k-labels-idx1-ubyte.gz"),
    ),
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the demo's output files.
    #[arg(long, default_value = "coprune-demo")]
    pub out: PathBuf,
    /// Threads for training and evaluation (latency is measured on 1 thread).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Epochs of training from scratch.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Train and fine-tune on the first N bundled training images only (a quicker run).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Seed of the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Trains with a progress bar.
fn train(
    model: &mut coprune::ir::Model,
    what: &str,
    data: (&Dataset, &Dataset),
    cfg: &TrainConfig,
) -> Result<TrainReport> {
    let steps = data.0.len().div_ceil(cfg.batch) as u64;
    let bar = crate::progress::bar(steps, what, false);
    let r = train_model(
        model,
        what,
        data.0,
        Some(data.1),
        None,
        cfg,
        &|e, done, _, loss| {
            bar.set_message(format!("{what} {e} loss {loss:.3}"));
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    Ok(r)
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mnist_dir = args.out.join("mnist");
    std::fs::create_dir_all(&mnist_dir)?;
    for (name, bytes) in MNIST {
        std::fs::write(mnist_dir.join(name), bytes)?;
    }
    let eval_cfg = EvalConfig::test_split(
        coprune::data::DataSpec::Mnist(mnist_dir.clone()),
        None,
        args.threads,
    );
    let dataset = coprune::eval::load_dataset(&eval_cfg)?;
    let mut train_set = eval_cfg
        .data
        .load(Split::Train, eval_cfg.data.default_normalize())?;
    if let Some(n) = args.train_limit {
        train_set.truncate(n.max(1));
    }
    let run_eval = |m: &coprune::ir::Model, what: &str| -> Result<EvalReport> {
        let bar = crate::progress::bar(dataset.len() as u64, what, false);
        let r = evaluate(m, what, &dataset, &eval_cfg, &|done, _| {
            bar.set_position(done as u64)
        })?;
        bar.finish_and_clear();
        Ok(r)
    };
    let mut train_cfg = TrainConfig {
        epochs: args.epochs.max(1),
        batch: 64,
        optimizer: Optimizer::adamw(0.0),
        lr: 1e-3,
        schedule: LrSchedule::Cosine,
        seed: args.seed,
        keep_zeros: true,
        distill: None,
        sample_shape: Vec::new(),
        threads: args.threads.max(1),
    };

    outln!(
        out,
        "== 1/7 train LeNet-5 from scratch on the bundled MNIST subset ({} images, {} epochs, AdamW, cosine LR) ==",
        train_set.len(),
        train_cfg.epochs
    );
    let mut model =
        coprune::train::build(Arch::Lenet5, args.seed).map_err(|source| coprune::Error::Train {
            path: "lenet5".into(),
            source,
        })?;
    let tr = train(&mut model, "training", (&train_set, &dataset), &train_cfg)?;
    out.push_str(&super::train::render_epochs(&tr));
    outln!(out, "{:.1} training steps/s (batch 64)", tr.steps_per_s);

    outln!(out, "\n== 2/7 analyze ==");
    let report = coprune::analyze::analyze_model(&model, "lenet5.onnx", &[])?;
    out.push_str(&render(&report));

    outln!(out, "\n== 3/7 export through coprune's IR and verify ==");
    let dense_path = args.out.join("lenet5.onnx");
    let summary = coprune::onnx::save(&model, &dense_path, &Default::default())?;
    // Lossless: the written file, imported, exported and imported again, gives the same graph.
    let model = coprune::onnx::load(&dense_path)?;
    let again = coprune::onnx::encode(&model)?;
    if coprune::onnx::decode(&again, &dense_path, None)? != model {
        bail!(
            "{}: re-exporting the imported model changed it",
            dense_path.display()
        );
    }
    outln!(
        out,
        "wrote {} ({} bytes); import → export → import: identical graph, {} initializers bit-identical",
        dense_path.display(),
        summary.model_bytes,
        model.graph.initializers.len()
    );

    let dense_eval = run_eval(&model, "evaluating")?;
    outln!(out, "\n== 4/7 channel groups ==");
    let groups = groups_file(&dense_path, &[])?;
    for g in &groups.groups {
        let why = g
            .blocked
            .first()
            .map(|b| format!(" (not prunable: {})", b.reason))
            .unwrap_or_default();
        outln!(
            out,
            "group {} root `{}`: {} channels, {} prunable{why}",
            g.id,
            g.root,
            g.channels,
            g.prunable
        );
    }

    outln!(
        out,
        "\n== 5/7 profile the host, prune to 50% of the MACs (L1, channels on the host's multiple, removed for real) =="
    );
    let host = coprune::hardware::resolve_target("host")?;
    outln!(
        out,
        "host: {} cores, {} ({} bits), {:.1} GFLOP/s f32 GEMM and {:.1} GB/s measured; channel counts in multiples of {}",
        host.cores,
        host.isa.join(", "),
        host.simd_bits,
        host.peak_gflops,
        host.bandwidth_gbs,
        host.channel_multiple
    );
    let cfg = PruneConfig {
        calibration: None,
        // LeNet-5 runs in ≈0.3 ms at batch 1: per-layer timings of layers that small are too
        // noisy to plan against, so the demo budgets MACs and measures the latency it gets.
        latency: None,
        criterion: CriterionKind::L1,
        reduction: Reduction::Mean,
        normalization: Normalization::Mean,
        seed: 0,
        allocation: AllocConfig {
            target: Target::Macs(0.5),
            round_to: Some(host.channel_multiple.max(1)),
            ..AllocConfig::default()
        },
        input_shapes: Vec::new(),
    };
    let pruned_path = args.out.join("lenet5_pruned.onnx");
    let plan_path = args.out.join("lenet5_pruned.plan.json");
    let r = prune_file(
        &dense_path,
        PlanSource::Compute(&cfg),
        &PruneOutputs {
            model: Some(pruned_path.clone()),
            plan: Some(plan_path.clone()),
            masked: None,
        },
    )?;
    let Some(measured) = r.measured else {
        bail!("the pruned model was not written");
    };
    let mut pruned_model = coprune::onnx::load(&pruned_path)?;
    let pruned_eval = run_eval(&pruned_model, "evaluating")?;
    outln!(
        out,
        "{} channels removed from {} groups: {} params, {} MACs; top-1 {:.2}% before fine-tuning; wrote {} and {}",
        r.channels_removed,
        r.groups_pruned,
        si(measured.params),
        si(measured.macs),
        100.0 * pruned_eval.top1,
        pruned_path.display(),
        plan_path.display()
    );
    if let Some(l) = &r.plan.latency {
        outln!(
            out,
            "predicted latency {:.3} ms → {:.3} ms ({})",
            l.dense_ms,
            l.predicted_ms,
            l.model
        );
    }

    outln!(
        out,
        "\n== 6/7 fine-tune the pruned model (1 epoch, AdamW 3e-4, cosine; removed channels stay removed) =="
    );
    train_cfg.epochs = 1;
    train_cfg.lr = 3e-4;
    let ft = train(
        &mut pruned_model,
        "fine-tuning",
        (&train_set, &dataset),
        &train_cfg,
    )?;
    out.push_str(&super::train::render_epochs(&ft));
    let ft_path = args.out.join("lenet5_pruned_finetuned.onnx");
    coprune::train::save(&pruned_model, &ft_path)?;
    let ft_eval = run_eval(&pruned_model, "evaluating")?;
    outln!(out, "wrote {}", ft_path.display());

    outln!(
        out,
        "\n== 7/7 measure latency (coprune runtime, batch 1, 1 thread, median) and compare =="
    );
    let bench_cfg = BenchConfig::default();
    let lat_dense = bench_coprune(&model, "dense", &bench_cfg)?;
    let lat_ft = bench_coprune(&pruned_model, "pruned", &bench_cfg)?;
    let pct = |a: u64, b: u64| format!("{:.1}%", 100.0 * a as f64 / b.max(1) as f64);
    let acc = |e: &EvalReport| format!("{:.2}%", 100.0 * e.top1);
    // Pruned and fine-tuned share the graph: same size and latency, their own accuracy.
    let pruned_row = |name: &str, e: &EvalReport| {
        vec![
            name.to_string(),
            format!(
                "{} ({})",
                si(measured.params),
                pct(measured.params, r.dense.params)
            ),
            format!(
                "{} ({})",
                si(measured.macs),
                pct(measured.macs, r.dense.macs)
            ),
            format!("{:.3}", lat_ft.median_ms),
            acc(e),
        ]
    };
    let rows = vec![
        vec![
            "dense (trained here)".to_string(),
            si(r.dense.params),
            si(r.dense.macs),
            format!("{:.3}", lat_dense.median_ms),
            acc(&dense_eval),
        ],
        pruned_row("pruned", &pruned_eval),
        pruned_row("pruned + fine-tuned", &ft_eval),
    ];
    out.push_str(&table(
        &[
            "model",
            "params",
            "MACs",
            "latency ms",
            "top-1 (MNIST test)",
        ],
        &rows,
    ));
    outln!(
        out,
        "measured speed-up {:.2}x at batch 1; top-1 {:+.2} points against the dense model. Files in {}.",
        lat_dense.median_ms / lat_ft.median_ms.max(1e-9),
        100.0 * (ft_eval.top1 - dense_eval.top1),
        args.out.display()
    );
    Ok(out)
}
