//! Statistics from data for data-driven criteria, collected by running the model (the runtime's
//! observer hook) — criteria themselves never run models.

use crate::train::Calibration;
use crate::{Error, Result};
use coprune_ir::Model;
use coprune_runtime::{Session, Value};
use std::collections::HashMap;

/// The statistics a data-driven criterion reads: mean weight gradients and/or activation norms
/// from the calibration data (an error naming `criterion` when there is none).
pub fn collect(
    model: &Model,
    label: &str,
    cal: Option<&Calibration>,
    criterion: &str,
    gradients: bool,
    activations: bool,
) -> Result<coprune_prune::importance::Stats> {
    let mut stats = coprune_prune::importance::Stats::default();
    if !(gradients || activations) {
        return Ok(stats);
    }
    let cal = cal.ok_or_else(|| {
        Error::Usage(format!(
            "criterion {criterion} needs calibration data: give --data KIND:PATH"
        ))
    })?;
    if gradients {
        stats.grads = crate::train::weight_gradients(model, label, cal)?;
    }
    if activations {
        stats.act_norms = activation_norms(model, label, cal)?;
    }
    Ok(stats)
}

/// The channel axis of the value a layer reads at input 0, for the layers whose weights
/// activation-weighted criteria score (Conv, ConvTranspose: axis 1; Gemm: the feature axis;
/// MatMul: the last axis), by value name.
fn layer_inputs(model: &Model) -> HashMap<String, isize> {
    let mut out = HashMap::new();
    for n in &model.graph.nodes {
        let axis = match n.op_type.as_str() {
            "Conv" | "ConvTranspose" => 1,
            "Gemm" => {
                if n.attr_int("transA", 0).unwrap_or(0) != 0 {
                    0
                } else {
                    1
                }
            }
            "MatMul" => -1,
            _ => continue,
        };
        if let Some(v) = n.input(0) {
            out.entry(v.to_string()).or_insert(axis);
        }
    }
    out
}

/// ‖X_c‖₂ per channel of every layer input (over all calibration samples and positions), by
/// value name: the activation statistics of Wanda-style criteria. One pass, in evaluation mode,
/// outputs unchanged.
pub fn activation_norms(
    model: &Model,
    label: &str,
    cal: &Calibration,
) -> Result<HashMap<String, Vec<f32>>> {
    let set = crate::train::CalibrationSet::load(model, label, cal)?;
    let (data, input) = (&set.data, &set.input);
    let wanted = layer_inputs(model);
    let per = data.sample_len();
    let rt = |source| Error::Runtime {
        path: label.to_string(),
        source,
    };
    let mut sums: HashMap<String, Vec<f64>> = HashMap::new();
    let mut sessions: HashMap<usize, Session> = HashMap::new();
    for (start, b, shape) in set.batches() {
        let session = match sessions.entry(b) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let s = HashMap::from([(input.name.clone(), shape.clone())]);
                e.insert(Session::observable(model, &s, cal.threads).map_err(rt)?)
            }
        };
        let x = Value::f32(shape, data.data[start * per..(start + b) * per].to_vec());
        session
            .run_observed(vec![x], &mut |name, v| {
                let (Some(&axis), Some(d)) = (wanted.get(name), v.as_f32()) else {
                    return;
                };
                let sh = v.shape();
                let ax = if axis < 0 {
                    sh.len() as isize + axis
                } else {
                    axis
                };
                let Some(ax) = usize::try_from(ax).ok().filter(|&a| a < sh.len()) else {
                    return;
                };
                let (c, inner) = (sh[ax], sh[ax + 1..].iter().product::<usize>());
                let acc = sums.entry(name.to_string()).or_insert_with(|| vec![0.0; c]);
                if acc.len() != c || inner == 0 {
                    return;
                }
                for (k, chunk) in d.chunks(inner).enumerate() {
                    acc[k % c] += chunk.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
                }
            })
            .map_err(rt)?;
    }
    Ok(sums
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|s| s.sqrt() as f32).collect()))
        .collect())
}
