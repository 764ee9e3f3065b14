//! `coprune convert`: re-encode a model through the IR (optionally moving large tensors to an
//! external data file).

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
}

/// Reads `input`, checks it, and writes it to `output`.
pub fn convert_file(input: &Path, output: &Path, cfg: &ConvertConfig) -> Result<ConvertReport> {
    let model = coprune_onnx::load(input)?;
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
    })
}
