//! `coprune demo`: the bundled example. It runs every stage this build has on the bundled LeNet-5
//! (trained on MNIST, `assets/lenet5_mnist.onnx`) and the bundled MNIST test set: analysis, a
//! lossless export through the IR, evaluation, the channel dependency groups, structured pruning
//! to half the MACs, and evaluation of the pruned model, ending with a before/after table.

use super::analyze::render;
use crate::fmt::{si, table};
use anyhow::{bail, Context, Result};
use coprune::prelude::*;
use coprune::prune::{PlanSource, PruneOutputs};
use coprune::pruning::allocate::{AllocConfig, Target};
use coprune::pruning::importance::{CriterionKind, Normalization, Reduction};
use std::path::PathBuf;

/// The bundled model and data, embedded so the demo runs from any directory.
const LENET5: &[u8] = include_bytes!("../../../../assets/lenet5_mnist.onnx");
const MNIST_IMAGES: &[u8] = include_bytes!("../../../../assets/mnist/t10k-images-idx3-ubyte.gz");
const MNIST_LABELS: &[u8] = include_bytes!("../../../../assets/mnist/t10k-labels-idx1-ubyte.gz");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the demo's output files.
    #[arg(long, default_value = "coprune-demo")]
    pub out: PathBuf,
    /// Runtime threads for evaluation.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let label = std::path::Path::new("assets/lenet5_mnist.onnx");
    let model = coprune::onnx::decode(LENET5, label, None)?;

    let mnist_dir = args.out.join("mnist");
    std::fs::create_dir_all(&mnist_dir)?;
    std::fs::write(mnist_dir.join("t10k-images-idx3-ubyte.gz"), MNIST_IMAGES)?;
    std::fs::write(mnist_dir.join("t10k-labels-idx1-ubyte.gz"), MNIST_LABELS)?;
    let eval_cfg = EvalConfig {
        data: coprune::data::DataSpec::Mnist(mnist_dir),
        split: coprune::data::Split::Test,
        limit: None,
        batch: 100,
        threads: args.threads,
        normalize: None,
    };
    let dataset = coprune::eval::load_dataset(&eval_cfg)?;
    let run_eval = |m: &coprune::ir::Model, what: &str| -> Result<EvalReport> {
        let bar = crate::progress::bar(dataset.len() as u64, what, false);
        let r = evaluate(m, what, &dataset, &eval_cfg, &|done, _| {
            bar.set_position(done as u64)
        })?;
        bar.finish_and_clear();
        Ok(r)
    };

    outln!(out, "== 1/5 analyze: LeNet-5 trained on MNIST (bundled) ==");
    let report = coprune::analyze::analyze_model(&model, "lenet5_mnist.onnx", &[])?;
    out.push_str(&render(&report));

    outln!(out, "\n== 2/5 export through coprune's IR and verify ==");
    let dense_path = args.out.join("lenet5_mnist.onnx");
    let summary = coprune::onnx::save(&model, &dense_path, &Default::default())?;
    let back = coprune::onnx::load(&dense_path)?;
    if back != model {
        bail!(
            "{}: the re-imported model differs from the original",
            dense_path.display()
        );
    }
    outln!(
        out,
        "wrote {} ({} bytes); re-imported: identical graph, {} initializers bit-identical",
        dense_path.display(),
        summary.model_bytes,
        back.graph.initializers.len()
    );

    outln!(
        out,
        "\n== 3/5 evaluate on the MNIST test set (coprune runtime) =="
    );
    let dense_eval = run_eval(&model, "dense")?;
    outln!(
        out,
        "top-1 {:.2}% on {} images, {:.0} images/s",
        100.0 * dense_eval.top1,
        dense_eval.samples,
        dense_eval.images_per_s
    );

    outln!(out, "\n== 4/5 channel groups ==");
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
        "\n== 5/5 prune to 50% of the MACs (L1, channels removed for real), evaluate =="
    );
    let cfg = PruneConfig {
        criterion: CriterionKind::L1,
        reduction: Reduction::Mean,
        normalization: Normalization::Mean,
        seed: 0,
        allocation: AllocConfig {
            target: Target::Macs(0.5),
            ..AllocConfig::default()
        },
        input_shapes: Vec::new(),
    };
    let pruned_path = args.out.join("lenet5_mnist_pruned.onnx");
    let plan_path = args.out.join("lenet5_mnist_pruned.plan.json");
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
    let pruned_model = coprune::onnx::load(&pruned_path)?;
    let pruned_eval = run_eval(&pruned_model, "pruned")?;
    let pct = |a: u64, b: u64| format!("{:.1}%", 100.0 * a as f64 / b.max(1) as f64);
    let rows = vec![
        vec![
            "dense".to_string(),
            si(r.dense.params),
            si(r.dense.macs),
            format!("{:.2}%", 100.0 * dense_eval.top1),
            format!("{:.0}", dense_eval.images_per_s),
        ],
        vec![
            format!(
                "pruned ({} of params, {} of MACs)",
                pct(measured.params, r.dense.params),
                pct(measured.macs, r.dense.macs)
            ),
            si(measured.params),
            si(measured.macs),
            format!("{:.2}%", 100.0 * pruned_eval.top1),
            format!("{:.0}", pruned_eval.images_per_s),
        ],
    ];
    outln!(out);
    out.push_str(&table(
        &["model", "params", "MACs", "top-1", "images/s"],
        &rows,
    ));
    outln!(
        out,
        "{} channels removed from {} groups; wrote {} and {}",
        r.channels_removed,
        r.groups_pruned,
        pruned_path.display(),
        plan_path.display()
    );
    outln!(
        out,
        "\nThe pruned model is not fine-tuned yet (recovery training and latency-budget planning come in later releases); images/s is coprune's own runtime on {} thread(s).",
        args.threads
    );
    Ok(out)
}
