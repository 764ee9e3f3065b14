//! Latency models: predicted milliseconds of one node at concrete shapes. The planner sums them
//! over a candidate pruned model; [`Roofline`] is the analytic model for any profile.

use crate::HardwareProfile;
use coprune_ir::{Fact, Node};

/// One node at concrete shapes, as a latency model sees it.
pub struct NodeShape<'a> {
    pub node: &'a Node,
    /// Input facts (`None` for omitted inputs); weights have their pruned shapes.
    pub inputs: Vec<Option<&'a Fact>>,
    pub outputs: &'a [Fact],
    /// Multiply-accumulates of the node at these shapes.
    pub macs: u64,
    /// Which inputs are learned constants (weights and biases).
    pub weights: Vec<bool>,
    /// The values of the other constant inputs (bounds, pads, scales), which a measurement
    /// needs to build the node.
    pub consts: Vec<Option<&'a coprune_ir::Tensor>>,
}

impl NodeShape<'_> {
    /// Dims of input `i` as numbers (symbolic dims count 1).
    pub fn in_dims(&self, i: usize) -> Option<Vec<u64>> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .map(|f| dims(&f.shape))
    }
}

fn dims(shape: &[coprune_ir::Dim]) -> Vec<u64> {
    shape
        .iter()
        .map(|d| d.substitute(&|_| Some(1)).as_known().unwrap_or(1).max(0) as u64)
        .collect()
}

/// Predicts node latencies.
pub trait LatencyModel {
    /// What the model is (`roofline on x86-avx2, 1 thread`, `measured on host, 1 thread`).
    fn describe(&self) -> String;
    /// Milliseconds for one run of the node.
    fn node_ms(&self, n: &NodeShape) -> f64;
    /// Saves what was measured for later runs (models with an on-disk table); the error says
    /// what could not be written.
    fn persist(&self) -> Result<(), String> {
        Ok(())
    }
    /// Times `n` a second time, at a later moment than its figure was taken, and keeps the
    /// lower of the two (a measurement is only ever inflated by other load on the machine).
    /// A node already rechecked is not timed again: the same finding is returned. `None` for
    /// models that do not measure.
    fn recheck(&self, _n: &NodeShape) -> Option<Recheck> {
        None
    }
    /// Drops every figure read from an earlier run's stored table, so they are measured again.
    fn forget_stored(&self) {}
}

/// What [`LatencyModel::recheck`] found for one node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recheck {
    /// The figure held before (ms).
    pub before: f64,
    /// The node timed now (ms).
    pub now: f64,
    /// Whether the figure held before came from an earlier run's stored table.
    pub stored: bool,
}

/// Another model's predictions times a factor: a measured table calibrated so that its sum over
/// the dense model equals the dense model's measured end-to-end latency (isolated layer timings
/// miss cache reuse between layers and per-run overheads).
pub struct Scaled<M: LatencyModel> {
    pub inner: M,
    pub factor: f64,
}

impl<M: LatencyModel> LatencyModel for Scaled<M> {
    fn describe(&self) -> String {
        format!(
            "{}, calibrated ×{:.3} to the whole model",
            self.inner.describe(),
            self.factor
        )
    }

    fn node_ms(&self, n: &NodeShape) -> f64 {
        self.factor * self.inner.node_ms(n)
    }

    fn persist(&self) -> Result<(), String> {
        self.inner.persist()
    }

    fn recheck(&self, n: &NodeShape) -> Option<Recheck> {
        self.inner.recheck(n)
    }

    fn forget_stored(&self) {
        self.inner.forget_stored()
    }
}

/// Forwards every method to the model behind the pointer.
macro_rules! forward {
    ($($t:ty),*) => {$(
        impl<M: LatencyModel + ?Sized> LatencyModel for $t {
            fn describe(&self) -> String {
                (**self).describe()
            }

            fn node_ms(&self, n: &NodeShape) -> f64 {
                (**self).node_ms(n)
            }

            fn persist(&self) -> Result<(), String> {
                (**self).persist()
            }

            fn recheck(&self, n: &NodeShape) -> Option<Recheck> {
                (**self).recheck(n)
            }

            fn forget_stored(&self) {
                (**self).forget_stored()
            }
        }
    )*};
}
forward!(Box<M>, &M);

/// Ops that only relabel shapes: free.
pub const VIEW_OPS: [&str; 7] = [
    "Identity",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Dropout",
    "Constant",
];

/// The analytic model: max(compute, memory) per node plus a fixed overhead, with the channel
/// dims of convolutions and GEMMs padded up to the profile's channel multiple (a channel count
/// that is not a multiple costs what the next multiple costs).
#[derive(Debug, Clone, PartialEq)]
pub struct Roofline {
    pub profile: HardwareProfile,
    /// Threads (cores) the model runs on.
    pub threads: usize,
}

fn pad(x: u64, m: u64) -> u64 {
    x.div_ceil(m.max(1)) * m.max(1)
}

impl Roofline {
    /// MACs after padding the output and reduction channel dims to the channel multiple.
    fn padded_macs(&self, n: &NodeShape) -> f64 {
        let m = self.profile.channel_multiple as u64;
        let macs = n.macs as f64;
        let factor = |a: u64, b: u64| -> f64 {
            if a == 0 || b == 0 {
                1.0
            } else {
                (pad(a, m) as f64 / a as f64) * (pad(b, m) as f64 / b as f64)
            }
        };
        match n.node.op_type.as_str() {
            "Conv" => {
                let group = n.node.attr_int("group", 1).unwrap_or(1);
                match n.in_dims(1) {
                    // Depthwise and grouped convolutions do not run on the GEMM tiles.
                    Some(w) if group == 1 && w.len() >= 2 => macs * factor(w[0], w[1]),
                    _ => macs,
                }
            }
            "Gemm" => {
                let tb = n.node.attr_int("transB", 0).unwrap_or(0) != 0;
                match n.in_dims(1) {
                    Some(w) if w.len() == 2 => {
                        let (k, o) = if tb { (w[1], w[0]) } else { (w[0], w[1]) };
                        macs * factor(o, k)
                    }
                    _ => macs,
                }
            }
            "MatMul" => match n.in_dims(1) {
                Some(w) if w.len() >= 2 => macs * factor(w[w.len() - 1], w[w.len() - 2]),
                _ => macs,
            },
            _ => macs,
        }
    }
}

impl LatencyModel for Roofline {
    fn describe(&self) -> String {
        format!(
            "roofline on {} ({} thread{})",
            self.profile.name,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }

    fn node_ms(&self, n: &NodeShape) -> f64 {
        if VIEW_OPS.contains(&n.node.op_type.as_str()) {
            return 0.0;
        }
        let p = &self.profile;
        let used = self.threads.clamp(1, p.cores) as f64;
        let flops = p.peak_gflops * 1e9 * used / p.cores as f64;
        let bytes: f64 = n
            .inputs
            .iter()
            .flatten()
            .map(|f| dims(&f.shape).iter().product::<u64>() as f64)
            .sum::<f64>()
            * 4.0
            + n.outputs
                .iter()
                .map(|f| dims(&f.shape).iter().product::<u64>() as f64)
                .sum::<f64>()
                * 4.0;
        let compute = 2.0 * self.padded_macs(n) / flops;
        let memory = bytes / (p.bandwidth_gbs * 1e9);
        (p.overhead_us * 1e-6 + compute.max(memory)) * 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coprune_ir::{AttrValue, DType, Dim};

    fn fact(d: &[i64]) -> Fact {
        Fact::new(DType::F32, d.iter().map(|&x| Dim::known(x)).collect())
    }

    #[test]
    fn padding_makes_odd_channel_counts_cost_the_next_multiple() {
        let r = Roofline {
            profile: crate::builtin("tpu-like").unwrap(),
            threads: 1,
        };
        let node =
            Node::new("c", "Conv", &["x", "w"], &["y"]).with_attr("group", AttrValue::Int(1));
        let at = |cout: i64| {
            let (x, w) = (fact(&[1, 128, 224, 224]), fact(&[cout, 128, 3, 3]));
            let y = [fact(&[1, cout, 224, 224])];
            let n = NodeShape {
                node: &node,
                inputs: vec![Some(&x), Some(&w)],
                outputs: &y,
                macs: (cout * 128 * 9 * 224 * 224) as u64,
                weights: vec![false, true],
                consts: vec![None, None],
            };
            r.node_ms(&n)
        };
        // 129 channels pay for 256 on a 128-wide array; 128 and 100 cost the same.
        assert!((at(100) - at(128)).abs() < 1e-12);
        assert!(at(129) > 1.9 * at(128));
        let view = Node::new("f", "Flatten", &["x"], &["y"]);
        let x = fact(&[1, 8]);
        let n = NodeShape {
            node: &view,
            inputs: vec![Some(&x)],
            outputs: std::slice::from_ref(&x),
            macs: 0,
            weights: vec![false],
            consts: vec![None],
        };
        assert_eq!(r.node_ms(&n), 0.0);
    }
}
