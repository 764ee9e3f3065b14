//! coprune: hardware-aware neural-network pruning.
//!
//! Place in the pipeline: this facade re-exports the stage crates and offers the pipeline
//! functions (`analyze`, `convert`, …) with plain-data inputs and outputs; the `coprune` binary
//! only parses flags into these configs and prints the results.

pub mod analyze;
pub mod bench;
pub mod compress;
pub mod convert;
mod error;
pub mod eval;
pub mod gradual;
pub mod hardware;
pub mod input_shape;
pub mod prune;
pub mod sensitivity;
pub mod sparse;
pub mod stats;
pub mod train;

pub use coprune_data as data;
pub use coprune_hw as hw;
pub use coprune_ir as ir;
pub use coprune_onnx as onnx;
pub use coprune_prune as pruning;
pub use coprune_runtime as runtime;
pub use coprune_train as training;
pub use error::{Error, Result};

/// The common imports.
pub mod prelude {
    pub use crate::analyze::{analyze_file, analyze_model, AnalyzeReport};
    pub use crate::bench::{
        bench_coprune, bench_ort, bench_probe, BenchConfig, BenchReport, SparseLayer,
    };
    pub use crate::convert::{convert_file, ConvertConfig, ConvertReport, InitializerForm};
    pub use crate::eval::{evaluate, EvalConfig, EvalReport};
    pub use crate::input_shape::InputShape;
    pub use crate::prune::{groups_file, prune_file, GroupsReport, PruneConfig, PruneReport};
    pub use crate::{Error, Result};
    pub use coprune_ir::{DType, Dim, Graph, Model, Node, Tensor};
    pub use coprune_runtime::sparse::SparseMode;
}
