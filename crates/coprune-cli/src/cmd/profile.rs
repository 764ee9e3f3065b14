//! `coprune profile [--target NAME|FILE] [--list] [--json | --toml]`

use anyhow::Result;
use coprune::hw::{HardwareProfile, BUILTIN};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `host` (detected and measured: GEMM peak, memory bandwidth), a built-in profile, or a
    /// profile TOML file.
    #[arg(long, default_value = "host", value_name = "NAME|FILE")]
    pub target: String,
    /// List the built-in profiles.
    #[arg(long)]
    pub list: bool,
    /// Print JSON.
    #[arg(long, conflicts_with = "toml")]
    pub json: bool,
    /// Print the profile as TOML (a starting point for your own device's file).
    #[arg(long)]
    pub toml: bool,
}

fn render(p: &HardwareProfile) -> String {
    let mut out = String::new();
    let c = &p.cache_kb;
    let kb = |v: Option<u64>| v.map_or("-".into(), |v| format!("{v} KiB"));
    outln!(out, "{} ({:?}, {})", p.name, p.kind, p.source);
    outln!(out, "  cores             {}", p.cores);
    outln!(
        out,
        "  SIMD              {} bits: {}",
        p.simd_bits,
        p.isa.join(", ")
    );
    outln!(
        out,
        "  caches            L1d {}, L2 {}, L3 {}",
        kb(c.l1d),
        kb(c.l2),
        kb(c.l3)
    );
    outln!(out, "  peak f32          {:.1} GFLOP/s", p.peak_gflops);
    outln!(out, "  peak int8         {:.1} GOP/s", p.peak_gops_int8);
    outln!(out, "  bandwidth         {:.1} GB/s", p.bandwidth_gbs);
    outln!(out, "  channel multiple  {}", p.channel_multiple);
    outln!(
        out,
        "  sparsity          {}",
        if p.sparsity.is_empty() {
            "none".to_string()
        } else {
            p.sparsity.join(", ")
        }
    );
    outln!(out, "  overhead          {} µs per node", p.overhead_us);
    if let Some(m) = &p.memory {
        outln!(
            out,
            "  memory            RAM {} KiB, flash {} KiB",
            m.ram_kb,
            m.flash_kb
        );
    }
    out
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    if args.list {
        outln!(out, "host (detected and measured on this machine)");
        for (name, _) in BUILTIN {
            if let Some(p) = coprune::hw::builtin(name) {
                outln!(
                    out,
                    "{name:<16} {:?}, {} cores, {:.0} GFLOP/s, {:.0} GB/s, channels ×{}",
                    p.kind,
                    p.cores,
                    p.peak_gflops,
                    p.bandwidth_gbs,
                    p.channel_multiple
                );
            }
        }
        return Ok(out);
    }
    let p = coprune::hardware::resolve_target(&args.target)?;
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&p)?);
    } else if args.toml {
        out.push_str(&p.to_toml());
    } else {
        out.push_str(&render(&p));
    }
    Ok(out)
}
