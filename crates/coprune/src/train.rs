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
        .clone()
        .unwrap_or_else(|| cfg.data.default_normalize());
    let mut train = cfg.data.load(Split::Train, norm.clone())?;
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

/// Calibration data for data-driven pruning criteria.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub data: DataSpec,
    pub normalize: Option<Normalize>,
    /// Samples of the training split to use.
    pub samples: usize,
    pub batch: usize,
    pub threads: usize,
}

/// Mean loss gradient (cross-entropy on the labels) of every trainable weight over the
/// calibration samples, by tensor name, `Identity` aliases included: the statistics of
/// gradient-based criteria. BatchNormalization uses batch statistics, as in training.
pub fn weight_gradients(
    model: &Model,
    label: &str,
    cal: &Calibration,
) -> Result<std::collections::HashMap<String, Vec<f32>>> {
    use coprune_train::{Buf, Params, TrainGraph};
    let set = CalibrationSet::load(model, label, cal)?;
    let data = &set.data;
    let terr = |source| Error::Train {
        path: label.to_string(),
        source,
    };
    let params = Params::from_model(model).map_err(terr)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cal.threads.max(1))
        .build()
        .map_err(|e| Error::Usage(format!("thread pool: {e}")))?;
    let per = data.sample_len();
    let mut sums: Vec<Option<Vec<f32>>> = vec![None; params.values.len()];
    let mut graphs: std::collections::HashMap<usize, TrainGraph> = Default::default();
    let mut batches = 0usize;
    pool.install(|| -> Result<()> {
        for (start, b, shape) in set.batches() {
            let g = match graphs.entry(b) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(TrainGraph::new(model, &params, &shape).map_err(terr)?)
                }
            };
            let g = &*g;
            let x = Buf::new(shape, data.data[start * per..(start + b) * per].to_vec());
            let tape = g.forward(&params, x, true).map_err(terr)?;
            let labels = &data.labels[start..start + b];
            let classes = tape.logits(g).len() / b;
            if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
                return Err(Error::Usage(format!(
                    "{label}: label {bad} is out of range for {classes} outputs"
                )));
            }
            let out = coprune_train::loss::loss(tape.logits(g), labels, None);
            let grads = g.backward(&params, &tape, out.grad).map_err(terr)?;
            for (acc, gr) in sums.iter_mut().zip(grads) {
                if let Some(gr) = gr {
                    match acc {
                        Some(a) => a.iter_mut().zip(&gr.data).for_each(|(p, q)| *p += q),
                        None => *acc = Some(gr.data),
                    }
                }
            }
            batches += 1;
        }
        Ok(())
    })?;
    let mut out = std::collections::HashMap::new();
    for (name, sum) in params.names.iter().zip(sums) {
        if let Some(mut g) = sum {
            g.iter_mut().for_each(|v| *v /= batches.max(1) as f32);
            out.insert(name.clone(), g);
        }
    }
    // Identity aliases (torchvision exports) see the gradient of their root.
    for n in &model.graph.nodes {
        if n.op_type == "Identity" {
            if let (Some(i), Some(o)) = (n.input(0), n.outputs.first()) {
                if let Some(g) = out.get(i).cloned() {
                    out.insert(o.clone(), g);
                }
            }
        }
    }
    Ok(out)
}

/// Calibration samples with the model input they feed, checked to fit.
pub(crate) struct CalibrationSet {
    pub data: Dataset,
    pub input: crate::eval::ModelInput,
    batch: usize,
}

impl CalibrationSet {
    /// Loads the first `cal.samples` training samples and checks them against the model input.
    pub(crate) fn load(model: &Model, label: &str, cal: &Calibration) -> Result<CalibrationSet> {
        let norm = cal
            .normalize
            .clone()
            .unwrap_or_else(|| cal.data.default_normalize());
        let mut data = cal.data.load(Split::Train, norm)?;
        data.truncate(cal.samples.max(1));
        let input = model_input(model, label)?;
        if input.sample.iter().product::<usize>() != data.sample_len() {
            return Err(Error::Usage(format!(
                "{label}: calibration samples {:?} do not fit input `{}` {:?}",
                data.sample_shape, input.name, input.sample
            )));
        }
        let batch = input.fixed_batch.unwrap_or(cal.batch.max(1));
        Ok(CalibrationSet { data, input, batch })
    }

    /// The batches as (first sample, size, input shape); a model with a fixed batch size gets
    /// only whole batches.
    pub(crate) fn batches(&self) -> Vec<(usize, usize, Vec<usize>)> {
        let n = self.data.len();
        (0..n)
            .step_by(self.batch)
            .map(|start| (start, self.batch.min(n - start)))
            .filter(|&(_, b)| self.input.fixed_batch.is_none_or(|f| f == b))
            .map(|(start, b)| {
                let shape = std::iter::once(b)
                    .chain(self.input.sample.iter().copied())
                    .collect();
                (start, b, shape)
            })
            .collect()
    }
}
