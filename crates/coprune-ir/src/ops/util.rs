//! Shape helpers shared by the op files: broadcasting, axis normalisation, windowed output sizes,
//! value arithmetic for tracked shape vectors.

use crate::{bail, ConstValue, DType, Dim, Fact, Node, Result, MAX_TRACKED_ELEMENTS};

/// Required input `i`, or an error naming it.
pub fn req<'a>(inputs: &[Option<&'a Fact>], i: usize, what: &str) -> Result<&'a Fact> {
    match inputs.get(i).copied().flatten() {
        Some(f) => Ok(f),
        None => bail!("missing required input {i} ({what})"),
    }
}

/// Optional input `i`.
pub fn opt<'a>(inputs: &[Option<&'a Fact>], i: usize) -> Option<&'a Fact> {
    inputs.get(i).copied().flatten()
}

/// A possibly negative axis counted from the front (no range check).
pub fn wrap_axis(axis: i64, rank: usize) -> i64 {
    if axis < 0 {
        axis + rank as i64
    } else {
        axis
    }
}

/// Normalises a possibly negative axis for a tensor of `rank` (use `rank + 1` for Unsqueeze).
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// Numpy-style multidirectional broadcast of shapes.
pub fn broadcast(shapes: &[&[Dim]]) -> Result<Vec<Dim>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let one = Dim::known(1);
    let mut out = Vec::with_capacity(rank);
    for ax in 0..rank {
        let mut d = one.clone();
        for s in shapes {
            let off = rank - s.len();
            if ax < off {
                continue;
            }
            let x = &s[ax - off];
            if *x == one {
                continue;
            }
            if d == one {
                d = x.clone();
            } else if d != *x {
                if d.is_symbolic() || x.is_symbolic() {
                    // Runtime must agree; keep the known one when there is one.
                    if x.as_known().is_some() {
                        d = x.clone();
                    }
                    continue;
                }
                let list: Vec<String> = shapes.iter().map(|s| crate::shape_to_string(s)).collect();
                bail!(
                    "shapes {} cannot be broadcast together (axis {ax}: {d} vs {x})",
                    list.join(" and ")
                );
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// Windowed output size: floor/ceil((in + pads - dilation*(k-1) - 1) / stride) + 1.
pub fn window_out(
    input: &Dim,
    kernel: i64,
    stride: i64,
    pad_total: i64,
    dilation: i64,
    ceil: bool,
) -> Result<Dim> {
    if stride <= 0 || kernel <= 0 || dilation <= 0 {
        bail!("kernel {kernel}, stride {stride} and dilation {dilation} must be positive");
    }
    let Some(i) = input.as_known() else {
        // Symbolic spatial size: the output is a new symbol named after the expression.
        if kernel == 1 && stride == 1 && pad_total == 0 {
            return Ok(input.clone());
        }
        return Ok(Dim::sym(format!(
            "conv({input};k{kernel}s{stride}p{pad_total}d{dilation})"
        )));
    };
    let span = i + pad_total - dilation * (kernel - 1) - 1;
    if span < 0 {
        bail!(
            "input size {i} (padding {pad_total}) is smaller than the kernel extent {}",
            dilation * (kernel - 1) + 1
        );
    }
    let mut o = if ceil {
        (span + stride - 1) / stride
    } else {
        span / stride
    } + 1;
    // ONNX/PyTorch rule: with ceil_mode the last window must start inside the (left-padded) input.
    if ceil && (o - 1) * stride >= i + pad_total / 2 {
        o -= 1;
    }
    Ok(Dim::known(o))
}

/// Spatial attributes shared by Conv, ConvTranspose and the pooling ops.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub kernel: Vec<i64>,
    pub strides: Vec<i64>,
    /// Begin pads then end pads, ONNX order.
    pub pads: Vec<i64>,
    pub dilations: Vec<i64>,
    pub auto_pad: String,
    pub ceil_mode: bool,
}

impl Window {
    /// Reads kernel_shape (or `kernel` when it is inferred from a weight), strides, pads,
    /// dilations, auto_pad, ceil_mode.
    pub fn from_node(node: &Node, kernel: Option<Vec<i64>>) -> Result<Window> {
        let kernel = match node.attr_ints("kernel_shape")? {
            Some(k) => k,
            None => kernel.unwrap_or_default(),
        };
        let n = kernel.len();
        let strides = node.attr_ints("strides")?.unwrap_or_else(|| vec![1; n]);
        let pads = node.attr_ints("pads")?.unwrap_or_else(|| vec![0; 2 * n]);
        let dilations = node.attr_ints("dilations")?.unwrap_or_else(|| vec![1; n]);
        Ok(Window {
            kernel,
            strides,
            pads,
            dilations,
            auto_pad: node.attr_str("auto_pad", "NOTSET")?,
            ceil_mode: node.attr_int("ceil_mode", 0)? != 0,
        })
    }

    /// Output spatial dims for input spatial dims `x`.
    pub fn output(&self, x: &[Dim]) -> Result<Vec<Dim>> {
        let n = x.len();
        if self.kernel.len() != n {
            bail!(
                "kernel has {} spatial dims but the input has {n}",
                self.kernel.len()
            );
        }
        let get = |v: &Vec<i64>, i: usize, what: &str| -> Result<i64> {
            match v.get(i) {
                Some(&x) => Ok(x),
                None => bail!("`{what}` has {} entries, expected {n}", v.len()),
            }
        };
        let mut out = Vec::with_capacity(n);
        for (i, xi) in x.iter().enumerate() {
            let k = self.kernel[i];
            let s = get(&self.strides, i, "strides")?;
            let d = get(&self.dilations, i, "dilations")?;
            match self.auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => out.push(match xi.as_known() {
                    Some(v) => Dim::known((v + s - 1) / s),
                    None if s == 1 => xi.clone(),
                    None => Dim::sym(format!("ceil({xi}/{s})")),
                }),
                "VALID" => out.push(window_out(xi, k, s, 0, d, false)?),
                "NOTSET" | "" => {
                    let pb = get(&self.pads, i, "pads")?;
                    let pe = get(&self.pads, n + i, "pads")?;
                    out.push(window_out(xi, k, s, pb + pe, d, self.ceil_mode)?)
                }
                other => bail!("unknown auto_pad `{other}`"),
            }
        }
        Ok(out)
    }
}

/// The fact of a same-shape, same-type output (unary elementwise ops).
pub fn same_as(input: &Fact) -> Fact {
    Fact::new(input.dtype, input.shape.clone())
}

/// Combines two tracked integer elements (None stops tracking).
pub type ValueFn<'a> = &'a dyn Fn(&Dim, &Dim) -> Option<Dim>;

/// Output fact of a broadcasting binary op; when both inputs carry integer values, `f` combines
/// them element-wise so shape arithmetic (`Shape → Mul → Reshape`) stays known.
pub fn binary(
    inputs: &[Option<&Fact>],
    out_dtype: Option<DType>,
    f: Option<ValueFn<'_>>,
) -> Result<Vec<Fact>> {
    let a = req(inputs, 0, "A")?;
    let b = req(inputs, 1, "B")?;
    let shape = broadcast(&[&a.shape, &b.shape])?;
    let mut fact = Fact::new(out_dtype.unwrap_or(a.dtype), shape);
    if let (Some(f), Some(va), Some(vb)) = (f, a.ints(), b.ints()) {
        fact.value = broadcast_values(va, vb, &fact.shape, f).map(ConstValue::Ints);
    }
    Ok(vec![fact])
}

/// Element-wise combination of two tracked rank ≤ 1 int values with broadcasting.
fn broadcast_values(a: &[Dim], b: &[Dim], out_shape: &[Dim], f: ValueFn<'_>) -> Option<Vec<Dim>> {
    if out_shape.len() > 1 {
        return None;
    }
    let n = a.len().max(b.len());
    if (a.len() != n && a.len() != 1) || (b.len() != n && b.len() != 1) {
        return None;
    }
    (0..n)
        .map(|i| f(&a[i.min(a.len() - 1)], &b[i.min(b.len() - 1)]))
        .collect()
}

/// Keeps the value of a fact when the result is small enough to track.
pub fn tracked(shape: &[Dim], value: Option<ConstValue>) -> Option<ConstValue> {
    let n = crate::known_numel(shape)?;
    (n <= MAX_TRACKED_ELEMENTS).then_some(value).flatten()
}

/// Output fact of a reduction over `axes` (all axes when `None`).
pub fn reduce(
    input: &Fact,
    axes: Option<Vec<i64>>,
    keepdims: bool,
    noop_with_empty: bool,
) -> Result<Fact> {
    let rank = input.rank();
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&x| norm_axis(x, rank))
            .collect::<Result<_>>()?,
        _ if noop_with_empty => return Ok(same_as(input)),
        _ => (0..rank).collect(),
    };
    let mut shape = Vec::with_capacity(rank);
    for (i, d) in input.shape.iter().enumerate() {
        if axes.contains(&i) {
            if keepdims {
                shape.push(Dim::known(1));
            }
        } else {
            shape.push(d.clone());
        }
    }
    Ok(Fact::new(input.dtype, shape))
}

/// Declares a unary element-wise op whose output has the input's type and shape.
#[macro_export]
macro_rules! unary_op {
    ($(#[$meta:meta])* $ty:ident, $name:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty;

        impl $ty {
            /// Builds the op from a node (no attributes are needed for inference).
            pub fn build(_node: &$crate::Node, _opset: i64) -> $crate::Result<Box<dyn $crate::Op>> {
                Ok(Box::new($ty))
            }
        }

        impl $crate::Op for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn output_facts(&self, inputs: &[Option<&$crate::Fact>]) -> $crate::Result<Vec<$crate::Fact>> {
                Ok(vec![$crate::ops::util::same_as($crate::ops::util::req(inputs, 0, "X")?)])
            }

            fn channel_rule(&self, _ctx: &$crate::ChannelCtx) -> $crate::ChannelRule {
                $crate::ChannelRule::Elementwise
            }
        }
    };
}

/// Declares a normalisation along one axis (Softmax, LogSoftmax, Hardmax): element-wise in shape,
/// coupling all channels when `axis` is the channel axis.
#[macro_export]
macro_rules! axis_softmax_op {
    ($(#[$meta:meta])* $ty:ident, $name:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            pub axis: i64,
        }

        impl $ty {
            /// Reads axis (default -1 from opset 13, 1 before).
            pub fn build(node: &$crate::Node, opset: i64) -> $crate::Result<Box<dyn $crate::Op>> {
                Ok(Box::new($ty {
                    axis: node.attr_int("axis", if opset >= 13 { -1 } else { 1 })?,
                }))
            }
        }

        impl $crate::Op for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn output_facts(&self, inputs: &[Option<&$crate::Fact>]) -> $crate::Result<Vec<$crate::Fact>> {
                Ok(vec![$crate::ops::util::same_as($crate::ops::util::req(inputs, 0, "input")?)])
            }
            fn channel_rule(&self, ctx: &$crate::ChannelCtx) -> $crate::ChannelRule {
                match ctx.axis(0) {
                    Some(c) if c as i64 == $crate::ops::util::wrap_axis(self.axis, ctx.rank(0)) => {
                        $crate::ChannelRule::Block(concat!($name, " across the channel axis").into())
                    }
                    _ => $crate::ChannelRule::Elementwise,
                }
            }
        }
    };
}
