//! `coprune prune --pattern unstructured|N:M`: fine-grained sparsity (weights zeroed in place,
//! shapes unchanged), written atomically with a per-layer report.

use crate::train::Calibration;
use crate::{Error, Result};
use coprune_onnx::ExportOptions;
use coprune_prune::sparsity::{sparsify, ElementCriterion, SparsityConfig, SparsityReport};
use serde::Serialize;
use std::path::Path;

/// What a sparsification did, per layer and in total.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SparseReport {
    pub model: String,
    pub output: Option<String>,
    pub config: SparsityConfig,
    #[serde(flatten)]
    pub result: SparsityReport,
    /// Zeros among the weights considered, in [0, 1].
    pub sparsity: f64,
}

/// Sparsifies the model at `path` and writes it to `out` (none: dry run).
pub fn sparsify_file(
    path: &Path,
    cfg: &SparsityConfig,
    calibration: Option<&Calibration>,
    out: Option<&Path>,
) -> Result<SparseReport> {
    let label = path.display().to_string();
    let mut model = coprune_onnx::load(path)?;
    let perr = |source| Error::Prune {
        path: label.clone(),
        source,
    };
    let stats = crate::stats::collect(
        &model,
        &label,
        calibration,
        match cfg.criterion {
            ElementCriterion::Taylor => "taylor",
            _ => "wanda",
        },
        cfg.criterion == ElementCriterion::Taylor,
        cfg.criterion == ElementCriterion::Wanda,
    )?;
    let (patch, result) = sparsify(&model, cfg, &stats).map_err(perr)?;
    patch.apply(&mut model).map_err(|source| Error::Ir {
        path: label.clone(),
        source,
    })?;
    if let Some(o) = out {
        coprune_onnx::save(&model, o, &ExportOptions::default())?;
    }
    Ok(SparseReport {
        model: label,
        output: out.map(|o| o.display().to_string()),
        config: cfg.clone(),
        sparsity: result.zeros as f64 / result.elements.max(1) as f64,
        result,
    })
}
