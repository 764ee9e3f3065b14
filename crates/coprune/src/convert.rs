//! `coprune convert`: re-encode a model through the IR (optionally moving large tensors to an
//! external data file, or storing mostly-zero weights as ONNX sparse initializers).

use crate::Result;
use coprune_onnx::{ExportOptions, ExportSummary};
use serde::Serialize;
use std::path::Path;

/// Settings of a conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvertConfig {
    /// Initializers of at least this many bytes go to `<output>.data`; `None` keeps tensors where
    /// they were.
    pub external_data_threshold: Option<u64>,
    /// Sparse or dense initializers (`None`: each as it was).
    pub initializers: Option<InitializerForm>,
}

/// How initializers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitializerForm {
    /// As `sparse_initializer`s (non-zero values + int64 indices) wherever that is smaller:
    /// below about one third non-zeros for 4-byte types.
    Sparse,
    /// Every initializer dense (for runtimes without sparse-initializer support).
    Dense,
}

/// Bytes a tensor takes as a sparse initializer (values + 8-byte indices) and dense.
fn sparse_vs_dense(t: &coprune_ir::Tensor) -> Option<(u64, u64)> {
    let size = t.dtype.bits().filter(|b| b % 8 == 0 && *b > 0)? / 8;
    if t.dims.is_empty() || !matches!(t.data, coprune_ir::TensorData::Bytes(_)) {
        return None;
    }
    let nnz = t
        .bytes()
        .chunks_exact(size as usize)
        .filter(|e| e.iter().any(|&x| x != 0))
        .count() as u64;
    Some((nnz * (size + 8), t.bytes().len() as u64))
}

/// What a conversion wrote.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConvertReport {
    pub input: String,
    pub output: String,
    pub input_bytes: u64,
    pub model_bytes: u64,
    pub external_file: Option<String>,
    pub external_bytes: u64,
    pub external_tensors: usize,
    pub nodes: usize,
    pub initializers: usize,
    /// Initializers written as sparse initializers, and the bytes their values take dense and
    /// sparse.
    pub sparse_initializers: usize,
    pub sparse_dense_bytes: u64,
    pub sparse_bytes: u64,
}

/// Reads `input`, checks it, and writes it to `output`.
pub fn convert_file(input: &Path, output: &Path, cfg: &ConvertConfig) -> Result<ConvertReport> {
    let mut model = coprune_onnx::load(input)?;
    for t in &mut model.graph.initializers {
        match (cfg.initializers, sparse_vs_dense(t)) {
            (Some(InitializerForm::Sparse), Some((s, d))) if s < d => {
                t.storage = coprune_ir::Storage::Sparse {
                    source: Default::default(),
                }
            }
            (Some(InitializerForm::Dense), _)
                if matches!(t.storage, coprune_ir::Storage::Sparse { .. }) =>
            {
                t.storage = coprune_ir::Storage::Raw
            }
            _ => {}
        }
    }
    let sparse: Vec<(u64, u64)> = model
        .graph
        .initializers
        .iter()
        .filter(|t| matches!(t.storage, coprune_ir::Storage::Sparse { .. }))
        .filter_map(sparse_vs_dense)
        .collect();
    let input_bytes = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let ExportSummary {
        model_bytes,
        external,
        external_tensors,
    } = coprune_onnx::save(
        &model,
        output,
        &ExportOptions {
            external_data_threshold: cfg.external_data_threshold,
        },
    )?;
    Ok(ConvertReport {
        input: input.display().to_string(),
        output: output.display().to_string(),
        input_bytes,
        model_bytes,
        external_bytes: external.as_ref().map(|e| e.1).unwrap_or(0),
        external_file: external.map(|e| e.0.display().to_string()),
        external_tensors,
        nodes: model.graph.nodes.len(),
        initializers: model.graph.initializers.len(),
        sparse_initializers: sparse.len(),
        sparse_dense_bytes: sparse.iter().map(|x| x.1).sum(),
        sparse_bytes: sparse.iter().map(|x| x.0).sum(),
    })
}
