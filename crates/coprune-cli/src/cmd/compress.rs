//! `coprune compress MODEL -o OUT --cluster K [--ignore NODE]... [--min-elements N]
//! [--data KIND:PATH [--limit N]] [--json]`

use crate::fmt::bytes;
use anyhow::Result;
use coprune::compress::compress_file;
use coprune::eval::EvalConfig;
use coprune::pruning::cluster::ClusterConfig;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// Where to write the compressed model.
    #[arg(short, long, value_name = "OUT.onnx")]
    pub output: PathBuf,
    /// Shared values per layer (k-means, 2..=256): each weight becomes a one-byte index into a
    /// per-layer codebook of K floats (Gather(codebook, Cast(indices)) in the ONNX graph).
    #[arg(long, value_name = "K")]
    pub cluster: usize,
    /// Leave the weights of this node as they are (repeatable).
    #[arg(long, value_name = "NODE")]
    pub ignore: Vec<String>,
    /// Leave layers with fewer weights than this as they are.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub min_elements: usize,
    /// Evaluate the original and the compressed model on this dataset (test split):
    /// `mnist:DIR`, `cifar10:DIR`, `npz:FILE`, `npy:X.npy,Y.npy` or
    /// `folder:DIR[,resize=N,crop=N|size=HxW][,gray][,mean=A/B/C,std=A/B/C]`.
    #[arg(long, value_name = "KIND:PATH")]
    pub data: Option<String>,
    /// With --data: evaluate only the first N test samples.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Runtime threads for the evaluation.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print a JSON document instead of the summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<String> {
    let mut out = String::new();
    let cfg = ClusterConfig {
        clusters: args.cluster,
        ignore: args.ignore.clone(),
        min_elements: args.min_elements,
    };
    let eval = match &args.data {
        Some(spec) => Some(EvalConfig::test_split(
            spec.parse().map_err(coprune::Error::from)?,
            args.limit,
            args.threads,
        )),
        None => None,
    };
    let r = compress_file(&args.model, &cfg, &args.output, eval.as_ref(), &|_, _| {})?;
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&r)?);
        return Ok(out);
    }
    outln!(
        out,
        "{:<44} {:>9} {:>8} {:>8} {:>10}",
        "layer",
        "weights",
        "values",
        "shared",
        "rms error"
    );
    for l in &r.result.layers {
        match &l.skipped {
            Some(why) => outln!(out, "{:<44} {:>9}  left as is: {why}", l.node, l.elements),
            None => outln!(
                out,
                "{:<44} {:>9} {:>8} {:>8} {:>10.2e}",
                l.node,
                l.elements,
                l.values_before,
                l.values_after,
                l.rms_error
            ),
        }
    }
    outln!(
        out,
        "clustered weights {} → {}; file {} → {} ({:.1}× smaller); wrote {}",
        bytes(r.result.bytes_before),
        bytes(r.result.bytes_after),
        bytes(r.file_bytes_before),
        bytes(r.file_bytes_after),
        r.file_bytes_before as f64 / r.file_bytes_after.max(1) as f64,
        r.output
    );
    if let (Some(b), Some(a)) = (&r.before, &r.after) {
        outln!(
            out,
            "top-1 on {} samples: {:.2}% before, {:.2}% after",
            a.samples,
            100.0 * b.top1,
            100.0 * a.top1
        );
    }
    Ok(out)
}
