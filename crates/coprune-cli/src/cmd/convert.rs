//! `coprune convert IN OUT [--external-data-threshold BYTES] [--json]`

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
    }
    Ok(out)
}
