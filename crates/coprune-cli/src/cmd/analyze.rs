//! `coprune analyze MODEL [--input-shape NAME=DIMS]... [--json]`

use crate::fmt::{bytes, si, table};
use anyhow::Result;
use coprune::prelude::*;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    #[command(flatten)]
    pub shapes: super::ShapeArgs,
    /// Print a JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    let report = analyze_file(&args.model, &args.shapes.input_shape)?;
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&report)?);
    } else {
        out.push_str(&render(&report));
    }
    Ok(out)
}

/// The human-readable table.
pub fn render(r: &AnalyzeReport) -> String {
    let mut out = String::new();
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    let rows: Vec<Vec<String>> = r
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                n.op.clone(),
                n.output_shapes.join(" "),
                si(n.params),
                si(n.macs),
                bytes(n.activation_bytes),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "node",
            "op",
            "output shape",
            "params",
            "MACs",
            "activations",
        ],
        &rows,
    ));
    let t = &r.totals;
    out.push_str(&format!(
        "total: {} nodes, {} params ({} elements, {}), {} MACs ({}), activations {} (peak {} alive)\n",
        t.nodes,
        si(t.params),
        t.params,
        bytes(t.param_bytes),
        si(t.macs),
        t.macs,
        bytes(t.activation_bytes),
        bytes(t.peak_activation_bytes)
    ));
    out
}
