//! coprune-runtime: executes a coprune-ir graph on the CPU.
//!
//! Place in the pipeline: the evaluate stage (accuracy on data; latency measurement comes with
//! `coprune bench`). A [`Session`] lowers every node to a kernel (`ops/`, one file per op) for
//! concrete input shapes, folds constants and shape arithmetic, and runs on the caller's thread
//! with its own [`pool`] of workers. Convolutions run on `packed` (weights packed at load), and
//! so do Gemm/MatMul with a constant weight (`dense`); products of two run-time operands use the
//! `gemm` crate.

pub mod alloc;
mod buffers;
pub mod dense;
mod error;
pub mod fold;
pub mod gemm;
mod kernel;
mod layout;
pub mod measure;
pub mod onnxruntime;
pub mod ops;
pub mod packed;
pub mod pool;
mod session;
pub mod sparse;
mod value;

pub use error::{Result, RuntimeError};
pub use kernel::{concrete, Kernel, LowerCtx, Post};
pub use session::Session;
pub use value::Value;
