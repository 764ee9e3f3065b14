//! `coprune train` and `coprune finetune`: train a built-in architecture from scratch or
//! fine-tune any model coprune can train (optionally distilling from a dense teacher), then
//! write the trained model (same graph, new weights) atomically.

use crate::eval::model_input;
use crate::{Error, Result};
use coprune_data::{DataSpec, Dataset, Normalize, Split};
use coprune_ir::Model;
use coprune_onnx::ExportOptions;
pub use coprune_train::arch::{build, Arch};
pub use coprune_train::loss::Distill;
pub use coprune_train::optim::Optimizer;
pub use coprune_train::schedule::LrSchedule;
pub use coprune_train::{Epoch, TrainConfig, TrainReport};
use std::path::Path;

/// Training and test data of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct DataConfig {
    pub data: DataSpec,
    /// Pixel normalisation; `None` uses the dataset's usual one.
    pub normalize: Option<Normalize>,
    /// Train on the first N training samples only.
    pub limit: Option<usize>,
    /// Evaluate on the first N test samples only.
    pub test_limit: Option<usize>,
}

/// Loads the training and test splits.
pub fn load_splits(cfg: &DataConfig) -> Result<(Dataset, Dataset)> {
    let norm = cfg
        .normalize
        .unwrap_or_else(|| cfg.data.default_normalize());
    let mut train = cfg.data.load(Split::Train, norm)?;
    let mut test = cfg.data.load(Split::Test, norm)?;
    if let Some(n) = cfg.limit {
        train.truncate(n);
    }
    if let Some(n) = cfg.test_limit {
        test.truncate(n);
    }
    Ok((train, test))
}

/// Trains `model` in place; `cfg.sample_shape` is taken from the model's input. On a NaN loss
/// the model holds the weights of the last finished epoch and the error says so.
pub fn train_model(
    model: &mut Model,
    label: &str,
    train: &Dataset,
    test: Option<&Dataset>,
    teacher: Option<&Model>,
    cfg: &TrainConfig,
    progress: coprune_train::trainer::Progress,
) -> Result<TrainReport> {
    let input = model_input(model, label)?;
    if input.sample.iter().product::<usize>() != train.sample_len() {
        return Err(Error::Usage(format!(
            "{label}: dataset samples {:?} ({} values) do not fit input `{}` {:?}",
            train.sample_shape,
            train.sample_len(),
            input.name,
            input.sample
        )));
    }
    if let Some(b) = input.fixed_batch {
        if b != cfg.batch {
            return Err(Error::Usage(format!(
                "{label}: the model's batch is fixed at {b}; train with --batch {b} or export it with a symbolic batch"
            )));
        }
    }
    let mut cfg = cfg.clone();
    cfg.sample_shape = input.sample;
    coprune_train::fit(model, train, test, teacher, &cfg, progress).map_err(|source| Error::Train {
        path: label.to_string(),
        source,
    })
}

/// Writes a trained model (temp file + rename).
pub fn save(model: &Model, path: &Path) -> Result<()> {
    coprune_onnx::save(model, path, &ExportOptions::default())?;
    Ok(())
}
