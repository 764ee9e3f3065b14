//! `coprune groups MODEL [--input-shape NAME=DIMS]... [--json]`

use anyhow::Result;
use coprune::prelude::*;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// Concrete shape of a graph input, e.g. `input=1x3x224x224` (repeatable).
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shape: Vec<InputShape>,
    /// Print a JSON document instead of the listing.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let r = groups_file(&args.model, &args.input_shape)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    for g in &r.groups {
        println!(
            "group {} root `{}`: {} channels, {} prunable",
            g.id, g.root, g.channels, g.prunable
        );
        for m in &g.members {
            println!(
                "    {:<9} {} ({}) `{}` axis {} [{}]",
                format!("{:?}", m.role).to_lowercase(),
                m.node,
                m.op,
                m.tensor,
                m.axis,
                m.positions
            );
        }
        for b in &g.blocked {
            println!("    not prunable ({} channels): {}", b.channels, b.reason);
        }
    }
    println!(
        "{} groups, {} prunable, {} prunable channels",
        r.groups.len(),
        r.prunable_groups,
        r.prunable_channels
    );
    Ok(())
}
