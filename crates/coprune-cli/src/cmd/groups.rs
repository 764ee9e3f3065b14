//! `coprune groups MODEL [--input-shape NAME=DIMS]... [--json]`

use anyhow::Result;
use coprune::prelude::*;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    #[command(flatten)]
    pub shapes: super::ShapeArgs,
    /// Print a JSON document instead of the listing.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    let r = groups_file(&args.model, &args.shapes.input_shape)?;
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&r)?);
        return Ok(out);
    }
    for n in &r.notes {
        outln!(out, "note: {n}");
    }
    for g in &r.groups {
        if g.units == g.channels {
            outln!(
                out,
                "group {} root `{}`: {} channels, {} prunable",
                g.id,
                g.root,
                g.channels,
                g.prunable
            );
        } else {
            outln!(
                out,
                "group {} root `{}`: {} channels in {} units that go together, {} units prunable",
                g.id,
                g.root,
                g.channels,
                g.units,
                g.prunable
            );
        }
        for m in &g.members {
            outln!(
                out,
                "    {:<9} {} ({}) `{}` axis {} [{}]",
                format!("{:?}", m.role).to_lowercase(),
                m.node,
                m.op,
                m.tensor,
                m.axis,
                m.positions
            );
        }
        for why in &g.renormalized {
            outln!(out, "    renormalised: {why}");
        }
        for b in &g.blocked {
            outln!(
                out,
                "    not prunable ({} channels): {}",
                b.channels,
                b.reason
            );
        }
    }
    outln!(
        out,
        "{} groups, {} prunable, {} prunable units",
        r.groups.len(),
        r.prunable_groups,
        r.prunable_channels
    );
    Ok(out)
}
