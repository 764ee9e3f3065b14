//! What `LSTM` and `GRU` share: attributes, gate activations, the sequence layout, and the
//! input projection of every time step at once (one GEMM per direction).

use crate::gemm::{matmul, MatRef};
use crate::kernel::{f32_in, LowerCtx};
use crate::{Result, RuntimeError, Value};

/// A gate activation of the ONNX recurrent ops.
#[derive(Debug, Clone, Copy)]
pub enum Act {
    Sigmoid,
    Tanh,
    Relu,
    HardSigmoid(f32, f32),
    LeakyRelu(f32),
    Affine(f32, f32),
    ScaledTanh(f32, f32),
    Softsign,
    Softplus,
    Elu(f32),
}

impl Act {
    /// The activation named `name`, with `alpha`/`beta` when given.
    fn parse(name: &str, alpha: Option<f32>, beta: Option<f32>) -> Option<Act> {
        Some(match name.to_ascii_lowercase().as_str() {
            "sigmoid" => Act::Sigmoid,
            "tanh" => Act::Tanh,
            "relu" => Act::Relu,
            "hardsigmoid" => Act::HardSigmoid(alpha.unwrap_or(0.2), beta.unwrap_or(0.5)),
            "leakyrelu" => Act::LeakyRelu(alpha.unwrap_or(0.01)),
            "affine" => Act::Affine(alpha.unwrap_or(1.0), beta.unwrap_or(0.0)),
            "scaledtanh" => Act::ScaledTanh(alpha.unwrap_or(1.0), beta.unwrap_or(1.0)),
            "softsign" => Act::Softsign,
            "softplus" => Act::Softplus,
            "elu" => Act::Elu(alpha.unwrap_or(1.0)),
            _ => return None,
        })
    }

    /// Applies the activation.
    pub fn f(self, x: f32) -> f32 {
        match self {
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
            Act::Relu => x.max(0.0),
            Act::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Act::LeakyRelu(a) => {
                if x < 0.0 {
                    a * x
                } else {
                    x
                }
            }
            Act::Affine(a, b) => a * x + b,
            Act::ScaledTanh(a, b) => a * (b * x).tanh(),
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => (1.0 + x.exp()).ln(),
            Act::Elu(a) => {
                if x < 0.0 {
                    a * (x.exp() - 1.0)
                } else {
                    x
                }
            }
        }
    }
}

/// See [`Recurrent::inputs`].
pub struct Inputs<'a> {
    pub x: Vec<f32>,
    pub w: &'a [f32],
    pub r: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub lens: Vec<usize>,
    pub h: Vec<f32>,
}

/// Attributes and shapes of a recurrent node.
pub struct Recurrent {
    pub hidden: usize,
    pub dirs: usize,
    /// Direction index → runs backwards in time.
    pub reverse: Vec<bool>,
    pub seq: usize,
    pub batch: usize,
    pub input: usize,
    /// Layout 1: X is [batch, seq, input] and the outputs batch-first.
    pub batch_first: bool,
    /// Activations per direction (`per_dir` of them each).
    pub acts: Vec<Vec<Act>>,
    pub clip: Option<f32>,
    pub gates: usize,
}

impl Recurrent {
    /// Reads the attributes common to LSTM and GRU; `defaults` are the activations of one
    /// direction when none are given.
    pub fn lower(c: &LowerCtx, gates: usize, defaults: &[&str]) -> Result<Recurrent> {
        let n = c.node;
        let x = c.in_shape(0)?;
        if x.len() != 3 {
            return Err(c.unsupported(&format!(" (X of rank {})", x.len())));
        }
        let batch_first = n.attr_int("layout", 0)? != 0;
        let (seq, batch) = if batch_first {
            (x[1], x[0])
        } else {
            (x[0], x[1])
        };
        let direction = n.attr_str("direction", "forward")?;
        let reverse = match direction.as_str() {
            "forward" => vec![false],
            "reverse" => vec![true],
            "bidirectional" => vec![false, true],
            other => return Err(c.unsupported(&format!(" (direction `{other}`)"))),
        };
        let dirs = reverse.len();
        let w = c.in_shape(1)?;
        let hidden = match n.attr_int("hidden_size", 0)? {
            h if h > 0 => h as usize,
            _ => w.get(1).copied().unwrap_or(0) / gates,
        };
        if w != [dirs, gates * hidden, x[2]] {
            return Err(c.unsupported(&format!(
                " (W {w:?} does not match {dirs} directions × {gates}·{hidden} gates × {} inputs)",
                x[2]
            )));
        }
        let names: Vec<String> = match n.attr("activations") {
            Some(coprune_ir::AttrValue::Strings(v)) => v
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
            _ => (0..dirs)
                .flat_map(|_| defaults.iter().map(|s| s.to_string()))
                .collect(),
        };
        if names.len() != defaults.len() * dirs {
            return Err(c.unsupported(&format!(
                " ({} activations for {dirs} direction(s); {} each expected)",
                names.len(),
                defaults.len()
            )));
        }
        let alphas = n.attr_floats("activation_alpha")?.unwrap_or_default();
        let betas = n.attr_floats("activation_beta")?.unwrap_or_default();
        let mut all = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let a = Act::parse(name, alphas.get(i).copied(), betas.get(i).copied())
                .ok_or_else(|| c.unsupported(&format!(" (activation `{name}`)")))?;
            all.push(a);
        }
        let acts = all.chunks(defaults.len()).map(<[Act]>::to_vec).collect();
        let clip = n
            .attr("clip")
            .map(|_| n.attr_float("clip", 0.0))
            .transpose()?;
        Ok(Recurrent {
            hidden,
            dirs,
            reverse,
            seq,
            batch,
            input: x[2],
            batch_first,
            acts,
            clip,
            gates,
        })
    }

    /// Clips a gate pre-activation when `clip` is set.
    pub fn clip(&self, x: f32) -> f32 {
        match self.clip {
            Some(t) => x.clamp(-t, t),
            None => x,
        }
    }

    /// X as [seq, batch, input].
    pub fn seq_major(&self, x: &[f32]) -> Vec<f32> {
        if !self.batch_first {
            return x.to_vec();
        }
        let mut out = vec![0.0; x.len()];
        for b in 0..self.batch {
            for t in 0..self.seq {
                let src = (b * self.seq + t) * self.input;
                let dst = (t * self.batch + b) * self.input;
                out[dst..dst + self.input].copy_from_slice(&x[src..src + self.input]);
            }
        }
        out
    }

    /// A state input ([dirs, batch, hidden], or [batch, dirs, hidden] in layout 1) as
    /// [dirs, batch, hidden]; zeros when absent.
    pub fn state_in(&self, v: Option<&Value>) -> Result<Vec<f32>> {
        let n = self.dirs * self.batch * self.hidden;
        let Some(v) = v else {
            return Ok(vec![0.0; n]);
        };
        let data = v
            .as_f32()
            .filter(|d| d.len() == n)
            .ok_or_else(|| RuntimeError::Input {
                name: "initial state".into(),
                msg: format!("expected {n} f32 values"),
            })?;
        Ok(if self.batch_first {
            swap_outer(data, self.batch, self.dirs, self.hidden)
        } else {
            data.to_vec()
        })
    }

    /// A final state [dirs, batch, hidden] in the node's layout.
    pub fn state_out(&self, s: Vec<f32>) -> Value {
        if self.batch_first {
            let data = swap_outer(&s, self.dirs, self.batch, self.hidden);
            Value::f32(vec![self.batch, self.dirs, self.hidden], data)
        } else {
            Value::f32(vec![self.dirs, self.batch, self.hidden], s)
        }
    }

    /// Y from [seq, dirs, batch, hidden] into the node's layout.
    pub fn y_out(&self, y: Vec<f32>) -> Value {
        let (s, d, b, h) = (self.seq, self.dirs, self.batch, self.hidden);
        if !self.batch_first {
            return Value::f32(vec![s, d, b, h], y);
        }
        let mut out = vec![0.0; y.len()];
        for t in 0..s {
            for di in 0..d {
                for bi in 0..b {
                    let src = ((t * d + di) * b + bi) * h;
                    let dst = ((bi * s + t) * d + di) * h;
                    out[dst..dst + h].copy_from_slice(&y[src..src + h]);
                }
            }
        }
        Value::f32(vec![b, s, d, h], out)
    }

    /// The inputs LSTM and GRU share: X (sequence-major), W, R, the optional bias B, the
    /// sequence lengths and the initial hidden state.
    pub fn inputs<'a>(&self, inputs: &[Option<&'a Value>]) -> Result<Inputs<'a>> {
        Ok(Inputs {
            x: self.seq_major(f32_in(inputs, 0)?),
            w: f32_in(inputs, 1)?,
            r: f32_in(inputs, 2)?,
            bias: opt_f32(inputs, 3)?,
            lens: self.lengths(inputs.get(4).copied().flatten())?,
            h: self.state_in(inputs.get(5).copied().flatten())?,
        })
    }

    /// Direction d's input and recurrence biases (Wb, Rb) out of B.
    pub fn biases<'a>(
        &self,
        bias: Option<&'a [f32]>,
        d: usize,
    ) -> (Option<&'a [f32]>, Option<&'a [f32]>) {
        let g = self.gates * self.hidden;
        (
            bias.map(|b| &b[2 * d * g..(2 * d + 1) * g]),
            bias.map(|b| &b[(2 * d + 1) * g..(2 * d + 2) * g]),
        )
    }

    /// Per batch entry: its sequence length (all `seq` when absent).
    pub fn lengths(&self, v: Option<&Value>) -> Result<Vec<usize>> {
        match v {
            None => Ok(vec![self.seq; self.batch]),
            Some(Value::I64 { data, .. }) if data.len() == self.batch => data
                .iter()
                .map(|&l| {
                    usize::try_from(l)
                        .ok()
                        .filter(|&l| l <= self.seq)
                        .ok_or_else(|| RuntimeError::Input {
                            name: "sequence_lens".into(),
                            msg: format!("length {l} outside 0..={}", self.seq),
                        })
                })
                .collect(),
            Some(_) => Err(RuntimeError::Input {
                name: "sequence_lens".into(),
                msg: format!("expected {} integers", self.batch),
            }),
        }
    }

    /// X·Wᵀ + Wb for every step of direction `d`: [seq·batch, gates·hidden].
    pub fn project(
        &self,
        x: &[f32],
        w: &[f32],
        wb: Option<&[f32]>,
        d: usize,
        threads: usize,
    ) -> Vec<f32> {
        let gh = self.gates * self.hidden;
        let rows = self.seq * self.batch;
        let wd = &w[d * gh * self.input..(d + 1) * gh * self.input];
        let mut out = vec![0.0; rows * gh];
        if let Some(b) = wb {
            for r in out.chunks_mut(gh) {
                r.copy_from_slice(b);
            }
        }
        matmul(
            MatRef::new(x, rows, self.input),
            MatRef::new(wd, gh, self.input).t(),
            &mut out,
            wb.is_some(),
            threads,
        );
        out
    }

    /// H·Rᵀ (+ Rb) for direction `d` into `out` [batch, gates·hidden].
    pub fn recur(&self, h: &[f32], r: &[f32], rb: Option<&[f32]>, d: usize, out: &mut [f32]) {
        let gh = self.gates * self.hidden;
        let rd = &r[d * gh * self.hidden..(d + 1) * gh * self.hidden];
        match rb {
            Some(b) => {
                for row in out.chunks_mut(gh) {
                    row.copy_from_slice(b);
                }
            }
            None => out.fill(0.0),
        }
        matmul(
            MatRef::new(h, self.batch, self.hidden),
            MatRef::new(rd, gh, self.hidden).t(),
            out,
            true,
            1,
        );
    }
}

/// [a, b, h] → [b, a, h].
fn swap_outer(data: &[f32], a: usize, b: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for i in 0..a {
        for j in 0..b {
            let src = (i * b + j) * h;
            let dst = (j * a + i) * h;
            out[dst..dst + h].copy_from_slice(&data[src..src + h]);
        }
    }
    out
}

/// The f32 input `i` when present.
pub fn opt_f32<'a>(inputs: &[Option<&'a Value>], i: usize) -> Result<Option<&'a [f32]>> {
    match inputs.get(i).copied().flatten() {
        None => Ok(None),
        Some(v) => v.as_f32().map(Some).ok_or_else(|| RuntimeError::Input {
            name: format!("#{i}"),
            msg: "expected an f32 tensor".into(),
        }),
    }
}
