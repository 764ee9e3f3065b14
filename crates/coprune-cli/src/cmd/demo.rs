//! `coprune demo`: the bundled example. It runs every stage that exists today on the bundled
//! LeNet-5 (trained on MNIST, `assets/lenet5_mnist.onnx`): analysis, then an export through the IR
//! that is re-imported and checked to be identical.

use super::analyze::render;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The bundled model, embedded so the demo runs from any directory.
const LENET5: &[u8] = include_bytes!("../../../../assets/lenet5_mnist.onnx");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the demo's output files.
    #[arg(long, default_value = "coprune-demo")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let label = std::path::Path::new("assets/lenet5_mnist.onnx");
    let model = coprune::onnx::decode(LENET5, label, None)?;
    println!("== 1/2 analyze: LeNet-5 trained on MNIST (bundled) ==");
    let report = coprune::analyze::analyze_model(&model, "lenet5_mnist.onnx", &[])?;
    print!("{}", render(&report));

    println!("\n== 2/2 export through coprune's IR and verify ==");
    let out = args.out.join("lenet5_mnist.onnx");
    let summary = coprune::onnx::save(&model, &out, &Default::default())?;
    let back = coprune::onnx::load(&out)?;
    if back != model {
        bail!(
            "{}: the re-imported model differs from the original",
            out.display()
        );
    }
    println!(
        "wrote {} ({} bytes); re-imported: identical graph, {} initializers bit-identical",
        out.display(),
        summary.model_bytes,
        back.graph.initializers.len()
    );
    println!(
        "\nPruning, evaluation and fine-tuning stages are not in this build yet; the demo runs them once they land."
    );
    Ok(())
}
