//! `coprune compress --cluster K`: weight sharing (per-layer k-means into K values stored as a
//! codebook and one-byte indices), written atomically, with file sizes and, given data, the
//! accuracy before and after.

use crate::eval::{evaluate, load_dataset, EvalConfig, EvalReport};
use crate::{Error, Result};
use coprune_onnx::ExportOptions;
use coprune_prune::cluster::{cluster, ClusterConfig, ClusterReport};
use serde::Serialize;
use std::path::Path;

/// What a compression did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CompressReport {
    pub model: String,
    pub output: String,
    pub clusters: usize,
    #[serde(flatten)]
    pub result: ClusterReport,
    pub file_bytes_before: u64,
    pub file_bytes_after: u64,
    /// With data: accuracy of the original and of the compressed model.
    pub before: Option<EvalReport>,
    pub after: Option<EvalReport>,
}

/// Clusters the weights of the model at `path`, writes it to `out`, and evaluates both when
/// `eval` is given.
pub fn compress_file(
    path: &Path,
    cfg: &ClusterConfig,
    out: &Path,
    eval: Option<&EvalConfig>,
    progress: &dyn Fn(usize, usize),
) -> Result<CompressReport> {
    let label = path.display().to_string();
    let model = coprune_onnx::load(path)?;
    let (patch, result) = cluster(&model, cfg).map_err(|source| Error::Prune {
        path: label.clone(),
        source,
    })?;
    let mut compressed = model.clone();
    patch.apply(&mut compressed).map_err(|source| Error::Ir {
        path: label.clone(),
        source,
    })?;
    let (before, after) = match eval {
        Some(ec) => {
            let data = load_dataset(ec)?;
            let out_label = out.display().to_string();
            (
                Some(evaluate(&model, &label, &data, ec, progress)?),
                Some(evaluate(&compressed, &out_label, &data, ec, progress)?),
            )
        }
        None => (None, None),
    };
    let summary = coprune_onnx::save(&compressed, out, &ExportOptions::default())?;
    Ok(CompressReport {
        model: label,
        output: out.display().to_string(),
        clusters: cfg.clusters,
        result,
        file_bytes_before: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        file_bytes_after: summary.model_bytes + summary.external.map_or(0, |e| e.1),
        before,
        after,
    })
}
