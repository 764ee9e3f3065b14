//! Channels-last values: which of a session's values are stored `[N][H][W][C]` rather than as
//! their `[N, C, H, W]` shape says.
//!
//! A convolution on the transposed product (`ops/conv.rs`: one GEMM row per output pixel, the
//! weights packed as B) reads its input through per-pixel offsets and writes `Cᵀ`, one row of
//! output channels per pixel: channels-last. Stored NCHW, that `Cᵀ` costs a transpose pass per
//! convolution, and the next one copies its input into stride-phase planes. Between two such
//! convolutions the value can stay channels-last: no transpose, and the next convolution's
//! padded copy is one contiguous run per input row (none at all without padding).
//!
//! A value is kept channels-last when its producer can write it so (an eligible convolution, or
//! a max pooling whose input is channels-last) and every reader can read it so: an eligible
//! convolution (as its input, or as its fused residual when its own output is channels-last), a
//! max pooling whose output is channels-last too, or a global pooling (whose `[N, C, 1, 1]`
//! output is the same in both orders). Graph outputs never are. Only with AVX-512, where the
//! transposed product's register tile reads its B panels from L1 at full rate.

use crate::sparse::{Isa, SparseMode};
use coprune_ir::{Graph, Inferred, Node, Tensor};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// A convolution that can read and write channels-last: 2-D, one group, a constant weight
/// that stays dense (no sparse variant is built for it), a computed input.
fn eligible_conv(n: &Node, consts: &HashMap<String, Cow<'_, Tensor>>, sparse: SparseMode) -> bool {
    if n.op_type != "Conv" || n.outputs.len() != 1 || n.attr_int("group", 1).ok() != Some(1) {
        return false;
    }
    let (Some(x), Some(w)) = (n.input(0), n.input(1)) else {
        return false;
    };
    if consts.contains_key(x) {
        return false;
    }
    let Some(w) = consts.get(w) else {
        return false;
    };
    if w.dims.len() != 4 || n.input(2).is_some_and(|b| !consts.contains_key(b)) {
        return false;
    }
    // 1×1 stride-1 convolutions stay planar: their packed product reads the input's rows where
    // they lie, and as transposed products mobilenet_v2's expansions ran up to 5× slower.
    let strided = n
        .attr_ints("strides")
        .ok()
        .flatten()
        .is_some_and(|s| s.iter().any(|&v| v > 1));
    if w.dims[2] * w.dims[3] == 1 && !strided {
        return false;
    }
    // (Without sparse kernels no weight is scanned for zeros.)
    sparse == SparseMode::Off
        || !crate::sparse::candidate(
            sparse,
            w.to_f32_vec().map_or(1.0, |v| crate::sparse::density(&v)),
        )
}

/// A max pooling the channels-last kernel runs: 2-D, no indices output.
fn eligible_max_pool(n: &Node) -> bool {
    n.op_type == "MaxPool" && n.outputs.len() == 1
}

/// The names of the values kept channels-last. `alias` maps a node fused into another to the
/// value that holds its output; `residual`, a Conv to the Add fused into it and the residual it
/// takes from that Add.
pub(crate) fn channels_last(
    g: &Graph,
    inferred: &Inferred,
    consts: &HashMap<String, Cow<'_, Tensor>>,
    alias: &HashMap<usize, String>,
    residual: &HashMap<usize, (usize, String)>,
    sparse: SparseMode,
) -> BTreeSet<String> {
    if Isa::detect() != Isa::Avx512 {
        return BTreeSet::new();
    }
    let default = |n: &Node| coprune_ir::ops::is_default_domain(&n.domain);
    // Each value's holder: a fused node's output is the value of the node it is fused into.
    let mut canon: HashMap<&str, &str> = HashMap::new();
    for &i in &inferred.order {
        let n = &g.nodes[i];
        if let (Some(into), Some(o)) = (alias.get(&i), n.outputs.first()) {
            let c = canon.get(into.as_str()).copied().unwrap_or(into.as_str());
            canon.insert(o.as_str(), c);
        }
    }
    let holder = |v: &'_ str| -> String { canon.get(v).copied().unwrap_or(v).to_string() };
    let four_d_f32 = |v: &str| {
        inferred
            .facts
            .get(v)
            .is_some_and(|f| f.dtype == coprune_ir::DType::F32 && f.shape.len() == 4)
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Conv,
        MaxPool,
        Other,
    }
    // Each node classified once (a convolution's weight is scanned for zeros here, not in every
    // round below).
    let kinds: Vec<Kind> = g
        .nodes
        .iter()
        .map(|n| {
            if !default(n) {
                Kind::Other
            } else if eligible_conv(n, consts, sparse) {
                Kind::Conv
            } else if eligible_max_pool(n) {
                Kind::MaxPool
            } else {
                Kind::Other
            }
        })
        .collect();
    let kind = |i: usize| kinds[i];
    // Readers of each value: (node, input index); usize::MAX for a graph output.
    let mut readers: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    let mut produced: HashMap<String, usize> = HashMap::new();
    for &i in &inferred.order {
        if alias.contains_key(&i) {
            continue;
        }
        let n = &g.nodes[i];
        for (k, v) in n.inputs.iter().enumerate().filter(|(_, v)| !v.is_empty()) {
            readers.entry(holder(v)).or_default().push((i, k));
        }
        if let Some((_, r)) = residual.get(&i) {
            readers.entry(holder(r)).or_default().push((i, 3));
        }
        if let Some(o) = n.outputs.first() {
            produced.insert(o.clone(), i);
        }
    }
    for o in &g.outputs {
        readers
            .entry(holder(&o.name))
            .or_default()
            .push((usize::MAX, 0));
    }
    let out_of = |i: usize| g.nodes[i].outputs.first().cloned().unwrap_or_default();
    // A convolution writes channels-last through its tiles' column epilogue, which takes whole
    // 16-channel panels.
    let whole_panels = |i: usize| {
        let n = &g.nodes[i];
        n.input(1)
            .and_then(|w| consts.get(w))
            .is_some_and(|w| (w.dims[0] as usize).is_multiple_of(crate::packed::NR))
    };
    let mut cand: BTreeSet<String> = produced
        .iter()
        .filter(|(_, &i)| match kind(i) {
            Kind::Conv => whole_panels(i),
            Kind::MaxPool => true,
            Kind::Other => false,
        })
        .filter(|(o, _)| four_d_f32(o))
        .map(|(o, _)| o.clone())
        .collect();
    loop {
        let drop: Vec<String> = cand
            .iter()
            .filter(|v| {
                let p = produced[v.as_str()];
                let producer_ok = match kind(p) {
                    Kind::MaxPool => g.nodes[p]
                        .input(0)
                        .is_some_and(|x| cand.contains(&holder(x))),
                    _ => residual
                        .get(&p)
                        .is_none_or(|(_, r)| cand.contains(&holder(r))),
                };
                let readers_ok = readers.get(v.as_str()).is_none_or(|rs| {
                    rs.iter().all(|&(i, k)| {
                        if i == usize::MAX {
                            return false;
                        }
                        let n = &g.nodes[i];
                        match (kind(i), k) {
                            (Kind::Conv, 0) => true,
                            (Kind::Conv, 3) | (Kind::MaxPool, 0) => cand.contains(&out_of(i)),
                            _ => {
                                default(n)
                                    && k == 0
                                    && matches!(
                                        n.op_type.as_str(),
                                        "GlobalAveragePool" | "GlobalMaxPool"
                                    )
                            }
                        }
                    })
                });
                !(producer_ok && readers_ok)
            })
            .cloned()
            .collect();
        if drop.is_empty() {
            break;
        }
        for v in drop {
            cand.remove(&v);
        }
    }
    // Names that alias a kept value are kept too.
    let aliases: Vec<String> = canon
        .iter()
        .filter(|(_, c)| cand.contains(**c))
        .map(|(name, _)| name.to_string())
        .collect();
    cand.extend(aliases);
    cand
}
