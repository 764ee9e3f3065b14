//! `coprune train --arch mlp|lenet5 …` and `coprune finetune MODEL …`: shared training flags,
//! a progress bar per epoch, a per-epoch table, and the trained model written atomically (also
//! after a NaN loss, with the weights of the last finished epoch).

use crate::fmt::table;
use anyhow::{bail, Result};
use clap::ValueEnum;
use coprune::data::DataSpec;
use coprune::ir::Model;
use coprune::train::{
    load_splits, save, train_model, Arch, DataConfig, Distill, LrSchedule, Optimizer, TrainConfig,
    TrainReport,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OptimizerArg {
    /// AdamW (betas 0.9/0.999, decoupled weight decay).
    Adamw,
    /// SGD with momentum 0.9 (L2 weight decay).
    Sgd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScheduleArg {
    Constant,
    /// Half a cosine down to 0 over the run.
    Cosine,
    /// ×0.1 every --step-epochs epochs.
    Step,
}

/// Flags shared by `train` and `finetune`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// The dataset (train split for training, test split for the per-epoch evaluation):
    /// `mnist:DIR`, `cifar10:DIR`, `npz:FILE`, `npy:X.npy,Y.npy` or
    /// `folder:DIR[,resize=N,crop=N|size=HxW][,gray][,mean=A/B/C,std=A/B/C]`.
    #[arg(long, value_name = "KIND:PATH")]
    pub data: String,
    /// Where to write the trained model.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Passes over the training data.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, value_enum, default_value = "adamw")]
    pub optimizer: OptimizerArg,
    /// Base learning rate (default for AdamW: 1e-3 to train, 3e-4 to fine-tune; SGD: 1e-2).
    #[arg(long)]
    pub lr: Option<f32>,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleArg,
    /// Epochs between learning-rate drops for `--schedule step`.
    #[arg(long, default_value_t = 1)]
    pub step_epochs: usize,
    /// Seed of the shuffling (and of the initial weights for `train`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train on the first N training samples only.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Evaluate on the first N test samples only.
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Pixel normalisation MEAN,STD; default: the dataset's usual.
    #[arg(long, value_name = "MEAN,STD")]
    pub normalize: Option<String>,
    /// Print a JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

impl TrainArgs {
    /// The run's settings; `adam_lr` is the AdamW default learning rate of the command.
    fn config(
        &self,
        adam_lr: f32,
        keep_zeros: bool,
        distill: Option<Distill>,
    ) -> Result<TrainConfig> {
        if self.epochs == 0 || self.batch == 0 {
            bail!(coprune::Error::Usage(
                "--epochs and --batch must be at least 1".into()
            ));
        }
        let (optimizer, lr) = match self.optimizer {
            OptimizerArg::Adamw => (Optimizer::adamw(self.weight_decay), adam_lr),
            OptimizerArg::Sgd => (Optimizer::sgd(self.weight_decay), 1e-2),
        };
        let lr = self.lr.unwrap_or(lr);
        if !(lr > 0.0 && lr.is_finite()) {
            bail!(coprune::Error::Usage(format!("--lr {lr} must be positive")));
        }
        Ok(TrainConfig {
            epochs: self.epochs,
            batch: self.batch,
            optimizer,
            lr,
            schedule: match self.schedule {
                ScheduleArg::Constant => LrSchedule::Constant,
                ScheduleArg::Cosine => LrSchedule::Cosine,
                ScheduleArg::Step => LrSchedule::Step {
                    every: self.step_epochs.max(1),
                    gamma: 0.1,
                },
            },
            seed: self.seed,
            keep_zeros,
            distill,
            sample_shape: Vec::new(),
            threads: self.threads.max(1),
        })
    }

    fn data(&self) -> Result<DataConfig> {
        Ok(DataConfig {
            data: self
                .data
                .parse::<DataSpec>()
                .map_err(coprune::Error::from)?,
            normalize: self
                .normalize
                .as_deref()
                .map(super::eval::parse_normalize)
                .transpose()?,
            limit: self.limit,
            test_limit: self.test_limit,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture: `mlp` (784-128-10) or `lenet5` (conv 20 → conv 50 → fc 500 → fc 10).
    #[arg(long)]
    pub arch: String,
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Debug, clap::Args)]
pub struct FinetuneArgs {
    /// The ONNX model to fine-tune (e.g. a pruned one).
    pub model: PathBuf,
    #[command(flatten)]
    pub train: TrainArgs,
    /// Distil from this model (e.g. the dense original): its logits are soft targets.
    #[arg(long, value_name = "DENSE.onnx")]
    pub teacher: Option<PathBuf>,
    /// Softmax temperature of the distillation.
    #[arg(long, default_value_t = 4.0, requires = "teacher")]
    pub kd_temperature: f32,
    /// Weight of the distillation term (the label loss gets 1 − W).
    #[arg(long, default_value_t = 0.5, requires = "teacher")]
    pub kd_weight: f32,
    /// Let weights that are exactly zero (pruned) grow back; by default they stay zero.
    #[arg(long)]
    pub regrow_zeros: bool,
}

#[derive(Serialize)]
struct Doc<'a> {
    model: String,
    output: String,
    config: &'a TrainConfig,
    report: &'a TrainReport,
}

/// Trains with a progress bar; writes the model (also the last good one after a NaN loss).
fn fit(
    model: &mut Model,
    label: &str,
    teacher: Option<&Model>,
    a: &TrainArgs,
    cfg: &TrainConfig,
) -> Result<TrainReport> {
    let (train, test) = load_splits(&a.data()?)?;
    let bar = crate::progress::bar(train.len().div_ceil(a.batch) as u64, "training", a.json);
    let result = train_model(
        model,
        label,
        &train,
        Some(&test),
        teacher,
        cfg,
        &|epoch, done, _, loss| {
            if done == 1 {
                bar.reset_eta();
            }
            bar.set_message(format!("epoch {epoch} loss {loss:.3}"));
            bar.set_position(done as u64);
        },
    );
    bar.finish_and_clear();
    match result {
        Ok(r) => {
            save(model, &a.output)?;
            Ok(r)
        }
        Err(e @ coprune::Error::Train { .. }) => {
            if matches!(
                &e,
                coprune::Error::Train {
                    source: coprune::training::TrainError::NonFinite { epoch, .. },
                    ..
                } if *epoch > 1
            ) {
                save(model, &a.output)?;
                bail!(
                    "{e}; the weights of the last finished epoch were written to {}",
                    a.output.display()
                );
            }
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The per-epoch table of a report.
pub fn render_epochs(r: &TrainReport) -> String {
    let rows: Vec<Vec<String>> = r
        .epochs
        .iter()
        .map(|e| {
            vec![
                e.epoch.to_string(),
                format!("{:.4}", e.loss),
                format!("{:.2}%", 100.0 * e.accuracy),
                e.test_accuracy
                    .map_or("-".into(), |a| format!("{:.2}%", 100.0 * a)),
                e.test_loss.map_or("-".into(), |l| format!("{l:.4}")),
                format!("{:.2e}", e.lr),
                format!("{:.1}", e.seconds),
            ]
        })
        .collect();
    table(
        &[
            "epoch",
            "train loss",
            "train acc",
            "test acc",
            "test loss",
            "lr",
            "s",
        ],
        &rows,
    )
}

/// Renders a report: the per-epoch table and a summary.
pub fn render(label: &str, output: &Path, r: &TrainReport) -> String {
    let mut out = render_epochs(r);
    outln!(
        out,
        "{label}: {} steps, {:.1} steps/s, {:.0} samples/s; {} trainable weights{}",
        r.steps,
        r.steps_per_s,
        r.samples_per_s,
        r.trainable_params,
        if r.masked_weights > 0 {
            format!(", {} pruned weights kept at zero", r.masked_weights)
        } else {
            String::new()
        }
    );
    outln!(out, "wrote {}", output.display());
    out
}

fn finish(label: &str, a: &TrainArgs, cfg: &TrainConfig, r: &TrainReport) -> Result<String> {
    if a.json {
        let doc = Doc {
            model: label.to_string(),
            output: a.output.display().to_string(),
            config: cfg,
            report: r,
        };
        return Ok(serde_json::to_string_pretty(&doc)? + "\n");
    }
    Ok(render(label, &a.output, r))
}

pub fn run(args: Args) -> Result<String> {
    let arch: Arch = args
        .arch
        .parse()
        .map_err(|e: String| coprune::Error::Usage(e))?;
    let cfg = args.train.config(1e-3, false, None)?;
    let mut model =
        coprune::train::build(arch, args.train.seed).map_err(|source| coprune::Error::Train {
            path: args.arch.clone(),
            source,
        })?;
    let label = format!("{} (new)", args.arch);
    let r = fit(&mut model, &label, None, &args.train, &cfg)?;
    finish(&label, &args.train, &cfg, &r)
}

pub fn run_finetune(args: FinetuneArgs) -> Result<String> {
    let distill = match &args.teacher {
        Some(_) => {
            if args.kd_temperature.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
                || !(0.0..=1.0).contains(&args.kd_weight)
            {
                bail!(coprune::Error::Usage(
                    "--kd-temperature must be > 0 and --kd-weight in [0, 1]".into()
                ));
            }
            Some(Distill {
                temperature: args.kd_temperature,
                weight: args.kd_weight,
            })
        }
        None => None,
    };
    let cfg = args.train.config(3e-4, !args.regrow_zeros, distill)?;
    let mut model = coprune::onnx::load(&args.model).map_err(coprune::Error::from)?;
    let teacher = args
        .teacher
        .as_deref()
        .map(coprune::onnx::load)
        .transpose()
        .map_err(coprune::Error::from)?;
    let label = args.model.display().to_string();
    let r = fit(&mut model, &label, teacher.as_ref(), &args.train, &cfg)?;
    finish(&label, &args.train, &cfg, &r)
}
