//! The training loop: seeded shuffling, mini-batches, loss (with optional distillation from a
//! teacher run by the runtime), optimizer steps on a learning-rate schedule, evaluation after
//! every epoch, and a NaN guard that restores the last finished epoch.

use crate::graph::TrainGraph;
use crate::kernel::Buf;
use crate::loss::{loss, Distill};
use crate::optim::{OptState, Optimizer};
use crate::params::Params;
use crate::schedule::LrSchedule;
use crate::{Result, TrainError};
use coprune_data::Dataset;
use coprune_ir::Model;
use coprune_runtime::{Session, Value};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// Settings of a training run (plain data; the CLI fills it from flags).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Samples per step.
    pub batch: usize,
    pub optimizer: Optimizer,
    /// Base learning rate.
    pub lr: f32,
    pub schedule: LrSchedule,
    /// Seed of the shuffling.
    pub seed: u64,
    /// Weights (rank ≥ 2) that are exactly zero at the start stay zero: pruned weights are not
    /// regrown.
    pub keep_zeros: bool,
    /// Distillation from a teacher model, when one is given to [`fit`].
    pub distill: Option<Distill>,
    /// Dims of one input sample (after the batch dim).
    pub sample_shape: Vec<usize>,
    pub threads: usize,
}

/// Figures of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Epoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy (during the epoch, with the weights of each step).
    pub accuracy: f64,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub lr: f32,
    pub seconds: f64,
}

/// The outcome of [`fit`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    pub epochs: Vec<Epoch>,
    pub steps: usize,
    /// Optimizer steps per second (training time only, not evaluation).
    pub steps_per_s: f64,
    pub samples_per_s: f64,
    pub trainable_params: usize,
    /// Weights held at zero (see [`TrainConfig::keep_zeros`]).
    pub masked_weights: usize,
}

/// Where training is: (epoch, steps done in it, steps per epoch, running mean loss).
pub type Progress<'a> = &'a (dyn Fn(usize, usize, usize, f64) + Sync);

/// A seeded permutation of 0..n (SplitMix64 + Fisher–Yates).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

struct Graphs<'m> {
    model: &'m Model,
    sample: Vec<usize>,
    train: HashMap<usize, TrainGraph>,
    teacher: HashMap<usize, Session>,
    threads: usize,
}

impl Graphs<'_> {
    fn shape(&self, b: usize) -> Vec<usize> {
        std::iter::once(b)
            .chain(self.sample.iter().copied())
            .collect()
    }

    fn train(&mut self, params: &Params, b: usize) -> Result<&TrainGraph> {
        if !self.train.contains_key(&b) {
            let g = TrainGraph::new(self.model, params, &self.shape(b))?;
            self.train.insert(b, g);
        }
        Ok(&self.train[&b])
    }

    fn teacher(&mut self, teacher: &Model, x: &Buf) -> Result<Buf> {
        let b = x.shape[0];
        if !self.teacher.contains_key(&b) {
            let name = teacher_input(teacher)?;
            let s = Session::new(
                teacher,
                &HashMap::from([(name, x.shape.clone())]),
                self.threads,
            )?;
            self.teacher.insert(b, s);
        }
        let out = self.teacher[&b].run(vec![Value::f32(x.shape.clone(), x.data.clone())])?;
        match out.into_iter().next() {
            Some(Value::F32 { shape, data }) => Ok(Buf::new(shape, data)),
            _ => Err(TrainError::Mismatch(
                "the teacher's first output is not f32".into(),
            )),
        }
    }
}

fn teacher_input(m: &Model) -> Result<String> {
    let consts = m.graph.constants();
    let ins: Vec<_> = m
        .graph
        .inputs
        .iter()
        .filter(|v| !consts.contains_key(&v.name))
        .collect();
    match ins.as_slice() {
        [one] => Ok(one.name.clone()),
        _ => Err(TrainError::Mismatch(format!(
            "the teacher must have one input, it has {}",
            ins.len()
        ))),
    }
}

/// Gathers the samples `idx` of `data` into one batch.
fn batch(data: &Dataset, idx: &[usize], shape: Vec<usize>) -> (Buf, Vec<u32>) {
    let b = data.subset(idx);
    (Buf::new(shape, b.data), b.labels)
}

/// Accuracy and mean loss of the current parameters on `data` (evaluation mode).
fn evaluate(g: &mut Graphs, params: &Params, data: &Dataset, bs: usize) -> Result<(f64, f64)> {
    let (mut correct, mut total) = (0usize, 0f64);
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(bs.max(1)) {
        let (x, y) = batch(data, chunk, g.shape(chunk.len()));
        let tg = g.train(params, chunk.len())?;
        let tape = tg.forward(params, x, false)?;
        let out = loss(tape.logits(tg), &y, None);
        correct += out.correct;
        total += out.loss as f64 * chunk.len() as f64;
    }
    let n = data.len().max(1) as f64;
    Ok((correct as f64 / n, total / n))
}

/// Trains `model` in place on `train` (evaluating on `test` after every epoch). With `teacher`
/// and `cfg.distill`, the loss mixes in distillation from the teacher's logits. On a NaN or
/// infinite loss the model keeps the weights of the last finished epoch and
/// [`TrainError::NonFinite`] is returned.
pub fn fit(
    model: &mut Model,
    train: &Dataset,
    test: Option<&Dataset>,
    teacher: Option<&Model>,
    cfg: &TrainConfig,
    progress: Progress,
) -> Result<TrainReport> {
    if train.is_empty() {
        return Err(TrainError::Mismatch("the training set is empty".into()));
    }
    if cfg.sample_shape.iter().product::<usize>() != train.sample_len() {
        return Err(TrainError::Mismatch(format!(
            "dataset samples {:?} do not fit the model's input {:?}",
            train.sample_shape, cfg.sample_shape
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads.max(1))
        .build()
        .map_err(|e| TrainError::Mismatch(format!("thread pool: {e}")))?;
    let mut params = Params::from_model(model)?;
    let masks: Vec<Option<Vec<bool>>> = params
        .values
        .iter()
        .zip(&params.trainable)
        .map(|(v, &t)| {
            (cfg.keep_zeros && t && v.shape.len() >= 2 && v.data.contains(&0.0))
                .then(|| v.data.iter().map(|&w| w != 0.0).collect())
        })
        .collect();
    let masked_weights = masks
        .iter()
        .flatten()
        .map(|m| m.iter().filter(|&&k| !k).count())
        .sum();
    let snapshot = model.clone();
    let mut graphs = Graphs {
        model: &snapshot,
        sample: cfg.sample_shape.clone(),
        train: HashMap::new(),
        teacher: HashMap::new(),
        threads: cfg.threads,
    };
    let bs = cfg.batch.max(1);
    let per_epoch = train.len().div_ceil(bs);
    let total = per_epoch * cfg.epochs;
    let mut opt = OptState::default();
    let mut epochs = Vec::new();
    let mut train_secs = 0f64;
    let mut step = 0usize;
    let mut last_good = params.clone();
    let distill = teacher.and(cfg.distill);
    let result = pool.install(|| -> Result<()> {
        for e in 0..cfg.epochs {
            let t0 = Instant::now();
            let order = permutation(train.len(), cfg.seed.wrapping_add(e as u64));
            let (mut sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
            let mut lr = cfg.lr;
            for (k, chunk) in order.chunks(bs).enumerate() {
                let (x, y) = batch(train, chunk, graphs.shape(chunk.len()));
                let t_logits = match (teacher, distill) {
                    (Some(t), Some(_)) => Some(graphs.teacher(t, &x)?),
                    _ => None,
                };
                let tg = graphs.train(&params, chunk.len())?;
                let tape = tg.forward(&params, x, true)?;
                let logits = tape.logits(tg);
                let classes = logits.len() / chunk.len();
                if let Some(&bad) = y.iter().find(|&&l| l as usize >= classes) {
                    return Err(TrainError::Mismatch(format!(
                        "label {bad} is out of range: the model outputs {classes} classes"
                    )));
                }
                if let Some(t) = &t_logits {
                    if t.len() != logits.len() {
                        return Err(TrainError::Mismatch(format!(
                            "the teacher outputs {:?}, the student {:?}",
                            t.shape, logits.shape
                        )));
                    }
                }
                let out = loss(logits, &y, t_logits.as_ref().zip(distill));
                if !out.loss.is_finite() {
                    params = last_good.clone();
                    return Err(TrainError::NonFinite {
                        value: out.loss,
                        epoch: e + 1,
                        step: k + 1,
                    });
                }
                let grads = tg.backward(&params, &tape, out.grad)?;
                for (i, v) in tape.state {
                    params.values[i] = v;
                    params.changed[i] = true;
                }
                lr = cfg.schedule.lr(cfg.lr, step, total, per_epoch);
                opt.step(&cfg.optimizer, lr, &mut params, &grads, &masks);
                step += 1;
                sum += out.loss as f64 * chunk.len() as f64;
                correct += out.correct;
                seen += chunk.len();
                progress(e + 1, k + 1, per_epoch, sum / seen as f64);
            }
            let secs = t0.elapsed().as_secs_f64();
            train_secs += secs;
            let (test_accuracy, test_loss) = match test {
                Some(t) => {
                    let (a, l) = evaluate(&mut graphs, &params, t, bs)?;
                    (Some(a), Some(l))
                }
                None => (None, None),
            };
            if !params
                .values
                .iter()
                .all(|v| v.data.iter().all(|x| x.is_finite()))
            {
                params = last_good.clone();
                return Err(TrainError::NonFinite {
                    value: f32::NAN,
                    epoch: e + 1,
                    step: per_epoch,
                });
            }
            last_good = params.clone();
            epochs.push(Epoch {
                epoch: e + 1,
                loss: sum / seen.max(1) as f64,
                accuracy: correct as f64 / seen.max(1) as f64,
                test_accuracy,
                test_loss,
                lr,
                seconds: secs,
            });
        }
        Ok(())
    });
    params.write_back(model)?;
    result?;
    Ok(TrainReport {
        epochs,
        steps: step,
        steps_per_s: step as f64 / train_secs.max(1e-9),
        samples_per_s: (step.min(total) as f64 * bs as f64).min((train.len() * cfg.epochs) as f64)
            / train_secs.max(1e-9),
        trainable_params: params.trainable_len(),
        masked_weights,
    })
}
