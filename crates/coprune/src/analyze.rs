//! `coprune analyze`: per-node parameters, MACs and activation bytes.

use crate::input_shape::{resolve_input_shapes, InputShape, ResolvedShapes};
use crate::{Error, Result};
use coprune_ir::analysis::{analyze, NodeCost, Totals};
use coprune_ir::Model;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The result of analysing a model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AnalyzeReport {
    /// The model file.
    pub model: String,
    /// Concrete input shapes used.
    pub input_shapes: BTreeMap<String, Vec<String>>,
    /// Remarks (defaulted symbolic dims, …).
    pub notes: Vec<String>,
    pub nodes: Vec<NodeCost>,
    pub totals: Totals,
}

/// Analyses a loaded model; `label` names it in errors and the report.
pub fn analyze_model(model: &Model, label: &str, shapes: &[InputShape]) -> Result<AnalyzeReport> {
    let ResolvedShapes {
        shapes: resolved,
        notes,
    } = resolve_input_shapes(model, shapes)?;
    let ir = |source| Error::Ir {
        path: label.to_string(),
        source,
    };
    let inferred = coprune_ir::infer(model, &resolved).map_err(ir)?;
    let analysis = analyze(model, &inferred).map_err(ir)?;
    Ok(AnalyzeReport {
        model: label.to_string(),
        input_shapes: resolved
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|d| d.to_string()).collect()))
            .collect(),
        notes,
        nodes: analysis.nodes,
        totals: analysis.totals,
    })
}

/// Loads and analyses a model file.
pub fn analyze_file(path: &Path, shapes: &[InputShape]) -> Result<AnalyzeReport> {
    let model = coprune_onnx::load(path)?;
    analyze_model(&model, &path.display().to_string(), shapes)
}
