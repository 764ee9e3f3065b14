//! `coprune eval`: accuracy, loss and throughput of a model on a labelled dataset, run by
//! coprune's own runtime.

use crate::{Error, Result};
use coprune_data::{DataSpec, Dataset, Normalize, Split};
use coprune_ir::{infer::declared_shape, Model};
use coprune_runtime::{Session, Value};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// Settings of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// The dataset.
    pub data: DataSpec,
    /// Which split.
    pub split: Split,
    /// Evaluate only the first N samples.
    pub limit: Option<usize>,
    /// Samples per batch.
    pub batch: usize,
    /// Runtime threads.
    pub threads: usize,
    /// Pixel normalisation; `None` uses the dataset's usual one.
    pub normalize: Option<Normalize>,
    /// Sparse kernels for weights with zeros (see [`coprune_runtime::sparse::SparseMode`]).
    pub sparse: coprune_runtime::sparse::SparseMode,
}

impl EvalConfig {
    /// The test split of `data` (its first `limit` samples), in batches of 100, with the
    /// dataset's usual normalisation and sparse kernels chosen per layer.
    pub fn test_split(data: DataSpec, limit: Option<usize>, threads: usize) -> EvalConfig {
        EvalConfig {
            data,
            split: Split::Test,
            limit,
            batch: 100,
            threads: threads.max(1),
            normalize: None,
            sparse: Default::default(),
        }
    }
}

/// The result of an evaluation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalReport {
    pub model: String,
    pub dataset: String,
    pub samples: usize,
    /// Top-1 accuracy in [0, 1].
    pub top1: f64,
    /// Top-5 accuracy (datasets with at least 5 classes).
    pub top5: Option<f64>,
    /// Mean cross-entropy of the softmax of the outputs.
    pub mean_loss: f64,
    pub images_per_s: f64,
    pub seconds: f64,
}

/// Loads the dataset of `cfg`.
pub fn load_dataset(cfg: &EvalConfig) -> Result<Dataset> {
    let norm = cfg
        .normalize
        .clone()
        .unwrap_or_else(|| cfg.data.default_normalize());
    let mut d = cfg.data.load(cfg.split, norm)?;
    if let Some(n) = cfg.limit {
        d.truncate(n);
    }
    Ok(d)
}

/// The one data input of a model: its name, the dims of one sample (after the batch dim) and
/// the batch size when the model fixes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    pub name: String,
    pub sample: Vec<usize>,
    pub fixed_batch: Option<usize>,
}

/// Finds the data input of `model` (graph inputs that are not initializers); errors name `label`.
pub fn model_input(model: &Model, label: &str) -> Result<ModelInput> {
    let usage = |m: String| Error::Usage(format!("{label}: {m}"));
    let consts = model.graph.constants();
    let inputs: Vec<_> = model
        .graph
        .inputs
        .iter()
        .filter(|v| !consts.contains_key(&v.name))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(usage(format!(
            "a model with one input is needed, this one has {}",
            inputs.len()
        )));
    };
    let (_, decl) = declared_shape(&input.name, &input.ty)
        .ok_or_else(|| usage(format!("input `{}` has no declared shape", input.name)))?;
    if decl.is_empty() {
        return Err(usage(format!("input `{}` is a scalar", input.name)));
    }
    let sample: Option<Vec<usize>> = decl[1..]
        .iter()
        .map(|d| d.as_known().map(|v| v as usize))
        .collect();
    let sample = sample.ok_or_else(|| {
        usage(format!(
            "input `{}` has symbolic dims beyond the batch",
            input.name
        ))
    })?;
    Ok(ModelInput {
        name: input.name.clone(),
        sample,
        fixed_batch: decl[0].as_known().map(|v| v as usize),
    })
}

/// Evaluates `model` on an already loaded dataset; `progress(done, total)` is called per batch.
pub fn evaluate(
    model: &Model,
    label: &str,
    data: &Dataset,
    cfg: &EvalConfig,
    progress: &dyn Fn(usize, usize),
) -> Result<EvalReport> {
    let usage = |m: String| Error::Usage(format!("{label}: {m}"));
    let rt = |source| Error::Runtime {
        path: label.to_string(),
        source,
    };
    let ModelInput {
        name: input_name,
        sample: rest,
        fixed_batch,
    } = model_input(model, label)?;
    if rest.iter().product::<usize>() != data.sample_len() {
        return Err(usage(format!(
            "dataset samples {:?} ({} values) do not fit input `{input_name}` {:?}",
            data.sample_shape,
            data.sample_len(),
            rest
        )));
    }
    let batch = fixed_batch.unwrap_or(cfg.batch.max(1));
    let mut sessions: HashMap<usize, Session> = HashMap::new();
    let (n, per) = (data.len(), data.sample_len());
    let (mut correct1, mut correct5, mut loss) = (0usize, 0usize, 0f64);
    let t0 = Instant::now();
    let mut start = 0;
    while start < n {
        let b = batch.min(n - start);
        if fixed_batch.is_some_and(|f| f != b) {
            return Err(usage(format!(
                "the model's batch is fixed at {batch}; {n} samples do not split into such batches (use --limit)"
            )));
        }
        let mut shape = vec![b];
        shape.extend(&rest);
        let session = match sessions.entry(b) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let inputs = HashMap::from([(input_name.clone(), shape.clone())]);
                e.insert(Session::with_sparse(model, &inputs, cfg.threads, cfg.sparse).map_err(rt)?)
            }
        };
        let x = Value::f32(shape, data.data[start * per..(start + b) * per].to_vec());
        let out = session.run(vec![x]).map_err(rt)?;
        let logits = out
            .first()
            .and_then(Value::as_f32)
            .ok_or_else(|| usage("the first output is not f32".into()))?;
        let classes = logits.len() / b;
        if classes < data.classes {
            return Err(usage(format!(
                "the model outputs {classes} values per sample, the dataset has {} classes",
                data.classes
            )));
        }
        for i in 0..b {
            let row = &logits[i * classes..(i + 1) * classes];
            let y = data.labels[start + i] as usize;
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max as f64
                + row
                    .iter()
                    .map(|&v| ((v - max) as f64).exp())
                    .sum::<f64>()
                    .ln();
            loss += lse - row[y] as f64;
            let better = row.iter().filter(|&&v| v > row[y]).count();
            correct1 += usize::from(better == 0);
            correct5 += usize::from(better < 5);
        }
        session.recycle(out);
        start += b;
        progress(start, n);
    }
    let seconds = t0.elapsed().as_secs_f64();
    Ok(EvalReport {
        model: label.to_string(),
        dataset: format!("{:?}", cfg.data),
        samples: n,
        top1: correct1 as f64 / n.max(1) as f64,
        top5: (data.classes >= 5).then(|| correct5 as f64 / n.max(1) as f64),
        mean_loss: loss / n.max(1) as f64,
        images_per_s: n as f64 / seconds.max(1e-9),
        seconds,
    })
}
