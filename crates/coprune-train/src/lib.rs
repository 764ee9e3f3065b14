//! coprune-train: fine-tuning and training on the runtime's op set.
//!
//! Place in the pipeline: the fine-tune stage (and training the demo's models from scratch).
//! A [`TrainGraph`] lowers a model for training (`ops/`, one file per op: forward and backward,
//! sharing the runtime's GEMM and convolution geometry); [`Params`] holds the float constants
//! and writes trained values back into the model; [`loss`] has cross-entropy and distillation,
//! [`optim`] SGD with momentum and AdamW, [`schedule`] learning-rate curves, and [`fit`] the
//! training loop (seeded shuffling, masks kept, NaN guard).

pub mod arch;
mod error;
mod graph;
pub mod kernel;
pub mod loss;
pub mod ops;
pub mod optim;
mod params;
pub mod schedule;
pub mod trainer;

pub use error::{Result, TrainError};
pub use graph::{Tape, TrainGraph};
pub use kernel::{Buf, GradKernel};
pub use params::Params;
pub use trainer::{fit, Epoch, TrainConfig, TrainReport};
