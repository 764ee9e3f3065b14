//! `coprune demo`: the bundled example. It runs every stage this build has on the bundled LeNet-5
//! (trained on MNIST, `assets/lenet5_mnist.onnx`): analysis, a lossless export through the IR,
//! the channel dependency groups, and structured pruning to half the MACs, verified by
//! re-analysing the written model.

use super::analyze::render;
use crate::fmt::{si, table};
use anyhow::{bail, Context, Result};
use coprune::prelude::*;
use coprune::prune::{PlanSource, PruneOutputs};
use coprune::pruning::allocate::{AllocConfig, Target};
use coprune::pruning::importance::{CriterionKind, Normalization, Reduction};
use std::path::PathBuf;

/// The bundled model, embedded so the demo runs from any directory.
const LENET5: &[u8] = include_bytes!("../../../../assets/lenet5_mnist.onnx");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the demo's output files.
    #[arg(long, default_value = "coprune-demo")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let label = std::path::Path::new("assets/lenet5_mnist.onnx");
    let model = coprune::onnx::decode(LENET5, label, None)?;

    outln!(out, "== 1/4 analyze: LeNet-5 trained on MNIST (bundled) ==");
    let report = coprune::analyze::analyze_model(&model, "lenet5_mnist.onnx", &[])?;
    out.push_str(&render(&report));

    outln!(out, "\n== 2/4 export through coprune's IR and verify ==");
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

    outln!(out, "\n== 3/4 channel groups ==");
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
        "\n== 4/4 prune to 50% of the MACs (L1, channels removed for real) =="
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
    let pct = |a: u64, b: u64| format!("{:.1}%", 100.0 * a as f64 / b.max(1) as f64);
    let rows = vec![
        vec![
            "dense".to_string(),
            si(r.dense.params),
            si(r.dense.macs),
            "".into(),
        ],
        vec![
            "pruned".to_string(),
            si(measured.params),
            si(measured.macs),
            format!(
                "{} params, {} MACs",
                pct(measured.params, r.dense.params),
                pct(measured.macs, r.dense.macs)
            ),
        ],
    ];
    out.push_str(&table(&["model", "params", "MACs", "of dense"], &rows));
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
        "\nAccuracy and measured latency need coprune's runtime, and recovery needs fine-tuning; the demo adds them when those stages land."
    );
    Ok(out)
}
