//! Shape rules shared by `LSTM` and `GRU` (and any ONNX recurrent op with the same layout).

use crate::ops::util::req;
use crate::{bail, Dim, Fact, Result};

/// Output facts of a recurrent op: Y [seq, dirs, batch, hidden] (layout 0) or
/// [batch, seq, dirs, hidden] (layout 1), then Y_h (and Y_c for LSTM) [dirs, batch, hidden].
pub fn recurrent_outputs(
    inputs: &[Option<&Fact>],
    hidden: i64,
    dirs: i64,
    layout: i64,
    states: usize,
) -> Result<Vec<Fact>> {
    let x = req(inputs, 0, "X")?;
    if x.rank() != 3 {
        bail!("X {} must be rank 3", crate::shape_to_string(&x.shape));
    }
    let (seq, batch) = if layout == 0 {
        (x.shape[0].clone(), x.shape[1].clone())
    } else {
        (x.shape[1].clone(), x.shape[0].clone())
    };
    let (h, d) = (Dim::known(hidden), Dim::known(dirs));
    let y = if layout == 0 {
        vec![seq, d.clone(), batch.clone(), h.clone()]
    } else {
        vec![batch.clone(), seq, d.clone(), h.clone()]
    };
    let state = if layout == 0 {
        vec![d, batch, h]
    } else {
        vec![batch, d, h]
    };
    let mut out = vec![Fact::new(x.dtype, y)];
    for _ in 0..states {
        out.push(Fact::new(x.dtype, state.clone()));
    }
    Ok(out)
}

/// MACs of a recurrent op: gates × hidden × (input + hidden) per step, batch and direction.
pub fn recurrent_macs(x: &Fact, hidden: i64, dirs: i64, gates: i64, layout: i64) -> Dim {
    let input = x.shape.get(2).and_then(Dim::as_known).unwrap_or(0);
    let steps = if layout == 0 {
        x.shape[0].mul(&x.shape[1])
    } else {
        x.shape[1].mul(&x.shape[0])
    };
    steps.mul(&Dim::known(dirs * gates * hidden * (input + hidden)))
}

/// Number of directions from the `direction` attribute.
pub fn directions(direction: &str) -> Result<i64> {
    match direction {
        "forward" | "reverse" => Ok(1),
        "bidirectional" => Ok(2),
        other => bail!("unknown direction `{other}`"),
    }
}
