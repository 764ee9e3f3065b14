//! `coprune convert IN OUT [--external-data-threshold BYTES] [--sparse-initializers |
//! --dense-initializers] [--json]`

use crate::fmt::bytes;
use anyhow::Result;
use coprune::prelude::*;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model to read.
    pub input: PathBuf,
    /// Where to write the re-encoded model.
    pub output: PathBuf,
    /// Store initializers of at least this many bytes in `<OUTPUT>.data` next to the model.
    /// Without it, tensors stay inline or external as they were.
    #[arg(long, value_name = "BYTES")]
    pub external_data_threshold: Option<u64>,
    /// Write mostly-zero weights as ONNX sparse initializers (non-zero values + int64 indices),
    /// wherever that is smaller: below about one third non-zeros for f32. onnxruntime loads them.
    #[arg(long, conflicts_with = "dense_initializers")]
    pub sparse_initializers: bool,
    /// Write every initializer dense (undoes --sparse-initializers, for runtimes without
    /// sparse-initializer support).
    #[arg(long)]
    pub dense_initializers: bool,
    /// Print a JSON document instead of the summary line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    let report = convert_file(
        &args.input,
        &args.output,
        &ConvertConfig {
            external_data_threshold: args.external_data_threshold,
            initializers: match (args.sparse_initializers, args.dense_initializers) {
                (true, _) => Some(InitializerForm::Sparse),
                (_, true) => Some(InitializerForm::Dense),
                _ => None,
            },
        },
    )?;
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&report)?);
    } else {
        out.push_str(&format!(
            "wrote {} ({}, {} nodes, {} initializers)",
            report.output,
            bytes(report.model_bytes),
            report.nodes,
            report.initializers
        ));
        match &report.external_file {
            Some(f) => outln!(
                out,
                " + {f} ({}, {} tensors)",
                bytes(report.external_bytes),
                report.external_tensors
            ),
            None => outln!(out),
        }
        if report.sparse_initializers > 0 {
            outln!(
                out,
                "{} sparse initializers: {} as sparse instead of {} dense ({:.1}× smaller); file {} → {}",
                report.sparse_initializers,
                bytes(report.sparse_bytes),
                bytes(report.sparse_dense_bytes),
                report.sparse_dense_bytes as f64 / report.sparse_bytes.max(1) as f64,
                bytes(report.input_bytes),
                bytes(report.model_bytes)
            );
        }
    }
    Ok(out)
}
