//! `coprune sensitivity`: how much each channel group can lose. Every prunable group is pruned
//! alone at each ratio (the others dense), the pruned model is evaluated on data, and its MACs and
//! predicted latency (when a target is given) are recorded; also drawn as an SVG plot.

use crate::eval::{evaluate, load_dataset, EvalConfig};
use crate::prune::{compute_plan, prepare_model, PruneConfig};
use crate::{Error, Result};
use coprune_prune::allocate::{AllocConfig, Target};
use coprune_prune::apply::{prune_model, Mode};
use coprune_prune::cost::CostModel;
use serde::Serialize;
use std::path::Path;

/// Settings of a sensitivity analysis.
#[derive(Debug, Clone)]
pub struct SensitivityConfig {
    /// Criterion, shapes, rounding and (optional) latency target; the budget is replaced per
    /// point.
    pub prune: PruneConfig,
    /// Removal fractions to try per group, each in (0, 1).
    pub ratios: Vec<f64>,
    pub eval: EvalConfig,
}

/// One group at one ratio.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SensitivityPoint {
    pub ratio: f64,
    pub channels_removed: usize,
    /// The whole model's MACs as a fraction of the dense model's.
    pub macs: f64,
    pub top1: f64,
    /// Predicted latency of the whole model (ms), with a target.
    pub latency_ms: Option<f64>,
}

/// One group's curve.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupSensitivity {
    pub root: String,
    pub channels: usize,
    pub points: Vec<SensitivityPoint>,
}

/// The result of `coprune sensitivity`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SensitivityReport {
    pub model: String,
    pub dataset: String,
    pub samples: usize,
    pub dense_top1: f64,
    /// The latency model and the dense model's predicted latency, with a target.
    pub latency_model: Option<String>,
    pub dense_latency_ms: Option<f64>,
    pub groups: Vec<GroupSensitivity>,
}

/// Runs the analysis on the model at `path`; `progress(done, total)` counts evaluations.
pub fn sensitivity(
    path: &Path,
    cfg: &SensitivityConfig,
    progress: &dyn Fn(usize, usize),
) -> Result<SensitivityReport> {
    if cfg.ratios.is_empty() || cfg.ratios.iter().any(|r| !(*r > 0.0 && *r < 1.0)) {
        return Err(Error::Usage(format!(
            "ratios {:?} must each be in (0, 1)",
            cfg.ratios
        )));
    }
    let label = path.display().to_string();
    let model = coprune_onnx::load(path)?;
    let p = prepare_model(model, label.clone(), &cfg.prune.input_shapes)?;
    let cm = CostModel::new(&p.model, &p.inferred, &p.dg);
    // One latency model for every point: measured layer timings are memoised inside it.
    let lm = cfg
        .prune
        .latency
        .as_ref()
        .map(crate::hardware::latency_model)
        .transpose()?;
    let data = load_dataset(&cfg.eval)?;
    let roots: Vec<(String, usize)> =
        p.dg.groups
            .iter()
            .filter(|g| g.prunable() > 0)
            .map(|g| (g.root.clone(), g.units.len()))
            .collect();
    let total = 1 + roots.len() * cfg.ratios.len();
    let dense = evaluate(&p.model, &label, &data, &cfg.eval, &|_, _| {})?;
    progress(1, total);
    let dense_removed = vec![false; p.dg.num_units()];
    let mut report = SensitivityReport {
        model: label.clone(),
        dataset: dense.dataset.clone(),
        samples: dense.samples,
        dense_top1: dense.top1,
        latency_model: lm.as_ref().map(|(_, m)| m.describe()),
        dense_latency_ms: lm
            .as_ref()
            .map(|(_, m)| cm.latency(&dense_removed, m.as_ref())),
        groups: Vec::new(),
    };
    let perr = |source| Error::Prune {
        path: label.clone(),
        source,
    };
    let mut done = 1;
    for (root, channels) in roots {
        let mut points = Vec::new();
        for &ratio in &cfg.ratios {
            let mut pc = cfg.prune.clone();
            pc.latency = None;
            pc.allocation = AllocConfig {
                target: Target::Ratio(0.0),
                layer_ratios: vec![(root.clone(), ratio)],
                ..cfg.prune.allocation.clone()
            };
            let (plan, _) = compute_plan(&p, &cm, &pc)?;
            let removed = plan.removed_units(&p.dg).map_err(perr)?;
            let pruned = prune_model(&p.model, &p.dg, &removed, Mode::Remove).map_err(perr)?;
            let r = evaluate(&pruned, &label, &data, &cfg.eval, &|_, _| {})?;
            points.push(SensitivityPoint {
                ratio,
                channels_removed: removed.iter().filter(|&&x| x).count(),
                macs: plan.predicted.macs as f64 / plan.dense.macs.max(1) as f64,
                top1: r.top1,
                latency_ms: lm.as_ref().map(|(_, m)| cm.latency(&removed, m.as_ref())),
            });
            done += 1;
            progress(done, total);
        }
        report.groups.push(GroupSensitivity {
            root,
            channels,
            points,
        });
    }
    if let Some((_, m)) = &lm {
        let _ = m.persist();
    }
    Ok(report)
}

/// The report drawn as an SVG: top-1 against the removal ratio, one line per group.
pub fn svg(report: &SensitivityReport) -> std::result::Result<String, String> {
    use plotters::prelude::*;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 560)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let lo = report
            .groups
            .iter()
            .flat_map(|g| g.points.iter().map(|p| p.top1))
            .fold(report.dense_top1, f64::min);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "sensitivity of {} ({} samples)",
                    report.model, report.samples
                ),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .right_y_label_area_size(0)
            .build_cartesian_2d(0f64..1f64, (lo - 0.02).max(0.0)..1.0f64)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("fraction of the group's channels removed")
            .y_desc("top-1")
            .draw()
            .map_err(|x| e(&x))?;
        for (i, g) in report.groups.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = std::iter::once((0.0, report.dense_top1))
                .chain(g.points.iter().map(|p| (p.ratio, p.top1)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(format!("{} ({} ch)", g.root, g.channels))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(out)
}
