//! The channel dependency graph: which channels of which layers must be removed together.
//!
//! Every tracked channel position starts as an *element*; each op's [`ChannelRule`] says how the
//! elements of its inputs reach its outputs and which constant tensors are sliced by them.
//! Element-wise ops (residual adds, BatchNorm, activations) unite elements index by index; a
//! union-find over elements gives the *units* (channels that can only go together) and a
//! union-find over the layers that created them gives the *groups* (as Torch-Pruning's
//! DependencyGraph, but on ONNX graphs). Anything that cannot follow a removal — a graph output,
//! an op without a rule, a reshape mixing channels — *blocks* the elements reaching it, with the
//! reason.

use coprune_ir::{infer::Inferred, ChannelCtx, ChannelRule, Dim, Fact, Model};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What a sliced tensor is to its layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Output-channel slices of a layer's weight (filters).
    Producer,
    /// Input-channel slices of a layer's weight (where removed channels are read).
    Consumer,
    /// A per-channel vector (bias, BatchNorm statistics, broadcast constant).
    Param,
}

/// A constant input of a node sliced along one axis: position `p` belongs to unit `units[p]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub node: usize,
    pub input: usize,
    pub axis: usize,
    pub units: Vec<usize>,
    pub role: Role,
}

/// The tracked channel axis of a value and the unit of each position along it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChanInfo {
    pub axis: usize,
    pub units: Vec<usize>,
}

/// A set of coupled channels with one root layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub id: usize,
    /// Name of the node whose output channels started the group.
    pub root: String,
    /// Global unit ids, in channel order of the root. A unit is a set of channels that can only
    /// go together (one position of every group of a grouped conv, a GroupNormalization group).
    pub units: Vec<usize>,
    /// Number of channels of the widest tensor made only of this group's units.
    pub channels: usize,
    /// Per unit (same order): why it cannot be removed, if it cannot.
    pub blocked: Vec<Option<String>>,
    /// Indices into [`DepGraph::members`].
    pub members: Vec<usize>,
    /// Ops that normalise across these channels (LayerNormalization over the hidden size):
    /// removing some changes the kept ones' values, so the pruned model needs fine-tuning.
    pub renormalized: Vec<String>,
}

impl Group {
    /// Number of units that may be removed.
    pub fn prunable(&self) -> usize {
        self.blocked.iter().filter(|b| b.is_none()).count()
    }
}

/// The dependency graph of a model.
#[derive(Debug, Clone)]
pub struct DepGraph {
    pub groups: Vec<Group>,
    /// Unit → its group.
    pub unit_group: Vec<usize>,
    pub members: Vec<Member>,
    /// Value name → tracked channels.
    pub chan: HashMap<String, ChanInfo>,
    /// Depthwise convolutions (node index) whose `group` follows their channel count.
    pub depthwise: Vec<usize>,
    /// Split nodes along a channel axis (sizes follow the channels).
    pub splits: Vec<usize>,
    /// Reshape nodes whose constant target names a channel count.
    pub reshapes: Vec<usize>,
    /// Slice nodes taking channels: (node, entry of the channel axis in starts/ends/steps, the
    /// input position of each output channel).
    pub ranges: Vec<(usize, usize, Vec<usize>)>,
    /// GroupNormalization nodes and their channels per group (`num_groups` follows).
    pub group_norms: Vec<(usize, usize)>,
}

#[derive(Default)]
struct Builder {
    parent: Vec<u32>,
    space_of: Vec<u32>,
    blocked: Vec<Option<String>>,
    space_parent: Vec<u32>,
    space_creator: Vec<String>,
    chan: HashMap<String, (usize, Vec<u32>)>,
    members: Vec<(usize, usize, usize, Vec<u32>, Role)>,
    depthwise: Vec<usize>,
    splits: Vec<usize>,
    reshapes: Vec<usize>,
    ranges: Vec<(usize, usize, Vec<usize>)>,
    group_norms: Vec<(usize, usize)>,
    /// (an element, why its group is renormalised).
    renormalized: Vec<(u32, String)>,
}

fn find(p: &mut [u32], mut x: u32) -> u32 {
    while p[x as usize] != x {
        p[x as usize] = p[p[x as usize] as usize];
        x = p[x as usize];
    }
    x
}

impl Builder {
    fn space(&mut self, n: usize, creator: &str, blocked: Option<String>) -> Vec<u32> {
        let s = self.space_parent.len() as u32;
        self.space_parent.push(s);
        self.space_creator.push(creator.to_string());
        let start = self.parent.len() as u32;
        for i in 0..n as u32 {
            self.parent.push(start + i);
            self.space_of.push(s);
            self.blocked.push(blocked.clone());
        }
        (start..start + n as u32).collect()
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (find(&mut self.parent, a), find(&mut self.parent, b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.parent[hi as usize] = lo;
        }
        let (sa, sb) = (self.space_of[a as usize], self.space_of[b as usize]);
        let (ra, rb) = (
            find(&mut self.space_parent, sa),
            find(&mut self.space_parent, sb),
        );
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.space_parent[hi as usize] = lo;
        }
    }

    /// A per-output-channel bias: sliced with the channels when it is a constant vector of their
    /// count; anything else that is present blocks them.
    fn bias(
        &mut self,
        node: usize,
        input: usize,
        f: Option<&Fact>,
        constant: bool,
        e: &[u32],
        at: &str,
    ) {
        let Some(f) = f else { return };
        if constant && f.shape.first().and_then(dim) == Some(e.len()) {
            self.members.push((node, input, 0, e.to_vec(), Role::Param));
        } else {
            self.block(e, &format!("bias is not a constant vector at {at}"));
        }
    }

    fn block(&mut self, elems: &[u32], reason: &str) {
        for &e in elems {
            if self.blocked[e as usize].is_none() {
                self.blocked[e as usize] = Some(reason.to_string());
            }
        }
    }
}

fn dim(d: &Dim) -> Option<usize> {
    d.as_known().and_then(|v| usize::try_from(v).ok())
}

impl DepGraph {
    /// Builds the graph from a model and its inferred facts (concrete shapes needed for
    /// channel counts).
    pub fn build(model: &Model, inferred: &Inferred) -> DepGraph {
        let g = &model.graph;
        let constants: HashSet<String> = g.constants().into_keys().collect();
        let mut b = Builder::default();
        for v in &g.inputs {
            if constants.contains(&v.name) {
                continue;
            }
            if let Some(f) = inferred.facts.get(&v.name) {
                if f.rank() >= 2 {
                    if let Some(n) = dim(&f.shape[1]) {
                        let e = b.space(n, &v.name, Some(format!("graph input `{}`", v.name)));
                        b.chan.insert(v.name.clone(), (1, e));
                    }
                }
            }
        }
        for &i in &inferred.order {
            let node = &g.nodes[i];
            let op = &inferred.ops[i];
            let ins = inferred.input_facts(node);
            let outs: Vec<Fact> = node
                .outputs
                .iter()
                .map(|o| {
                    inferred
                        .facts
                        .get(o)
                        .cloned()
                        .unwrap_or_else(|| Fact::new(coprune_ir::DType::F32, vec![]))
                })
                .collect();
            let constant: Vec<bool> = node.inputs.iter().map(|v| constants.contains(v)).collect();
            let tracked: Vec<Option<(usize, Vec<u32>)>> = node
                .inputs
                .iter()
                .map(|v| {
                    if constants.contains(v) {
                        None
                    } else {
                        b.chan.get(v).cloned()
                    }
                })
                .collect();
            let chan_axis: Vec<Option<usize>> =
                tracked.iter().map(|t| t.as_ref().map(|x| x.0)).collect();
            let ctx = ChannelCtx {
                inputs: &ins,
                outputs: &outs,
                constant: &constant,
                chan_axis: &chan_axis,
            };
            let at = format!("node `{}` ({})", node.display_name(), node.op_type);
            let (rule, renorm) = match op.channel_rule(&ctx) {
                ChannelRule::Renormalized(why) => {
                    (ChannelRule::Elementwise, Some(format!("{why} at {at}")))
                }
                rule => (rule, None),
            };
            let block_inputs = |b: &mut Builder, why: &str| {
                for t in tracked.iter().flatten() {
                    b.block(&t.1, why);
                }
            };
            let size_at =
                |f: Option<&Fact>, axis: usize| f.and_then(|f| f.shape.get(axis)).and_then(dim);
            match rule {
                ChannelRule::Block(reason) => block_inputs(&mut b, &format!("{reason} at {at}")),
                // Mapped to Elementwise above, with the reason kept.
                ChannelRule::Passive | ChannelRule::Renormalized(_) => {}
                ChannelRule::Moved { axis } => {
                    if let (Some((_, e)), Some(o)) = (&tracked[0], node.outputs.first()) {
                        b.chan.insert(o.clone(), (axis, e.clone()));
                    }
                }
                ChannelRule::Elementwise => {
                    let out_rank = outs.first().map_or(0, |f| f.rank());
                    // Aligned output axis of each tracked input.
                    let mut reference: Option<(usize, Vec<u32>)> = None;
                    let mut conflict = false;
                    for (k, t) in tracked.iter().enumerate() {
                        let Some((axis, e)) = t else { continue };
                        let r = ins[k].map_or(0, |f| f.rank());
                        let Some(out_axis) = (out_rank + axis).checked_sub(r) else {
                            conflict = true;
                            continue;
                        };
                        if e.len() == 1
                            && outs.first().and_then(|f| size_at(Some(f), out_axis)) != Some(1)
                        {
                            continue; // broadcast along the channel axis: no coupling
                        }
                        match &reference {
                            None => reference = Some((out_axis, e.clone())),
                            Some((ra, re)) if *ra == out_axis && re.len() == e.len() => {
                                for (x, y) in re.clone().iter().zip(e) {
                                    b.union(*x, *y);
                                }
                            }
                            Some(_) => conflict = true,
                        }
                    }
                    let Some((out_axis, e)) = reference else {
                        continue;
                    };
                    if let (Some(why), Some(&first)) = (&renorm, e.first()) {
                        b.renormalized.push((first, why.clone()));
                    }
                    if conflict {
                        block_inputs(
                            &mut b,
                            &format!("inputs carry channels on different axes at {at}"),
                        );
                        continue;
                    }
                    let c = e.len();
                    let mut ok = true;
                    for (k, f) in ins.iter().enumerate() {
                        let Some(f) = f else { continue };
                        if tracked[k].is_some() {
                            continue;
                        }
                        let Some(ax) = (f.rank() + out_axis).checked_sub(out_rank) else {
                            continue;
                        };
                        if size_at(Some(f), ax) != Some(c) || c == 1 {
                            continue;
                        }
                        if constant[k] {
                            b.members.push((i, k, ax, e.clone(), Role::Param));
                        } else {
                            ok = false;
                        }
                    }
                    if !ok {
                        b.block(&e, &format!("coupled with an un-prunable input at {at}"));
                    }
                    for (o, f) in node.outputs.iter().zip(&outs) {
                        if !o.is_empty() && size_at(Some(f), out_axis) == Some(c) {
                            b.chan.insert(o.clone(), (out_axis, e.clone()));
                        }
                    }
                }
                ChannelRule::PerChannel { params } => {
                    let Some((axis, e)) = tracked[0].clone() else {
                        continue;
                    };
                    if axis != 1 {
                        block_inputs(
                            &mut b,
                            &format!("channels on axis {axis}, op normalises axis 1, at {at}"),
                        );
                        continue;
                    }
                    for p in params {
                        if ins.get(p).copied().flatten().is_none() {
                            continue;
                        }
                        if constant.get(p).copied().unwrap_or(false)
                            && size_at(ins[p], 0) == Some(e.len())
                        {
                            b.members.push((i, p, 0, e.clone(), Role::Param));
                        } else {
                            b.block(
                                &e,
                                &format!("per-channel input {p} is not a constant vector at {at}"),
                            );
                        }
                    }
                    if let Some(o) = node.outputs.first() {
                        b.chan.insert(o.clone(), (1, e));
                    }
                }
                ChannelRule::GroupNorm { groups, params } => {
                    let Some((axis, e)) = tracked[0].clone() else {
                        continue;
                    };
                    if axis != 1 || groups == 0 || e.len() % groups != 0 {
                        block_inputs(
                            &mut b,
                            &format!("channels on axis {axis} do not form {groups} groups at {at}"),
                        );
                        continue;
                    }
                    // Whole groups go: the statistics of the kept groups stay as they were.
                    let per = e.len() / groups;
                    for gi in 0..groups {
                        for k in 1..per {
                            b.union(e[gi * per], e[gi * per + k]);
                        }
                    }
                    let firsts: Vec<u32> = e.iter().step_by(per).copied().collect();
                    for p in params {
                        let Some(f) = ins.get(p).copied().flatten() else {
                            continue;
                        };
                        let n = size_at(Some(f), 0);
                        let is_const = constant.get(p).copied().unwrap_or(false);
                        if is_const && f.rank() == 1 && n == Some(e.len()) {
                            b.members.push((i, p, 0, e.clone(), Role::Param));
                        } else if is_const && f.rank() == 1 && n == Some(groups) {
                            b.members.push((i, p, 0, firsts.clone(), Role::Param));
                        } else {
                            b.block(&e, &format!("input {p} is not a constant vector at {at}"));
                        }
                    }
                    b.group_norms.push((i, per));
                    if let Some(o) = node.outputs.first() {
                        b.chan.insert(o.clone(), (1, e));
                    }
                }
                ChannelRule::Dense {
                    weight,
                    w_in_axis,
                    w_out_axis,
                    in_axis,
                    out_axis,
                    bias,
                    out_broadcast,
                } => {
                    let w = ins.get(weight).copied().flatten();
                    if let Some((axis, e)) = &tracked[0] {
                        if *axis != in_axis {
                            b.block(e, &format!("channels arrive on axis {axis} but the layer reads axis {in_axis} at {at}"));
                        } else if size_at(w, w_in_axis) == Some(e.len()) {
                            b.members
                                .push((i, weight, w_in_axis, e.clone(), Role::Consumer));
                        } else {
                            b.block(
                                e,
                                &format!("weight does not match the input channels at {at}"),
                            );
                        }
                    }
                    let Some(n) = size_at(w, w_out_axis) else {
                        continue;
                    };
                    let Some(o) = node.outputs.first() else {
                        continue;
                    };
                    let e = b.space(n, node.display_name(), None);
                    b.members
                        .push((i, weight, w_out_axis, e.clone(), Role::Producer));
                    if let Some(bi) = bias {
                        let f = ins.get(bi).copied().flatten();
                        let is_const = constant.get(bi).copied().unwrap_or(false);
                        b.bias(i, bi, f, is_const, &e, &at);
                    }
                    if let Some(c) = out_broadcast {
                        if let Some(f) = ins.get(c).copied().flatten() {
                            let out_rank = outs.first().map_or(0, |f| f.rank());
                            let ax = (f.rank() + out_axis).checked_sub(out_rank);
                            match ax.and_then(|ax| size_at(Some(f), ax).map(|s| (ax, s))) {
                                Some((ax, s)) if s == n && constant[c] && n > 1 => {
                                    b.members.push((i, c, ax, e.clone(), Role::Param))
                                }
                                Some((_, 1)) | None => {}
                                _ => b.block(&e, &format!("added term is not a constant at {at}")),
                            }
                        }
                    }
                    b.chan.insert(o.clone(), (out_axis, e));
                }
                ChannelRule::Depthwise {
                    weight,
                    bias,
                    multiplier,
                    transposed,
                } => {
                    let Some(o) = node.outputs.first() else {
                        continue;
                    };
                    let n = outs.first().and_then(|f| size_at(Some(f), 1)).unwrap_or(0);
                    let e: Vec<u32> = match &tracked[0] {
                        Some((1, ein)) if ein.len() * multiplier == n => {
                            (0..n).map(|j| ein[j / multiplier]).collect()
                        }
                        Some((_, ein)) => {
                            b.block(
                                ein,
                                &format!("depthwise convolution reads another axis at {at}"),
                            );
                            b.space(
                                n,
                                node.display_name(),
                                Some(format!(
                                    "depthwise convolution of un-prunable channels at {at}"
                                )),
                            )
                        }
                        None => b.space(
                            n,
                            node.display_name(),
                            Some(format!(
                                "depthwise convolution of un-prunable channels at {at}"
                            )),
                        ),
                    };
                    // A transposed weight [C, multiplier, k…] has one row per input channel.
                    let rows = if transposed {
                        e.iter().step_by(multiplier.max(1)).copied().collect()
                    } else {
                        e.clone()
                    };
                    b.members.push((i, weight, 0, rows, Role::Producer));
                    if let Some(bi) = bias {
                        let f = ins.get(bi).copied().flatten();
                        let is_const = constant.get(bi).copied().unwrap_or(false);
                        b.bias(i, bi, f, is_const, &e, &at);
                    }
                    b.depthwise.push(i);
                    b.chan.insert(o.clone(), (1, e));
                }
                ChannelRule::Grouped {
                    weight,
                    bias,
                    groups,
                    transposed,
                } => {
                    // Conv weight [M, C/groups, k…]; ConvTranspose weight [C, M/groups, k…].
                    let (w_in, w_out) = if transposed { (0, 1) } else { (1, 0) };
                    let Some(o) = node.outputs.first() else {
                        continue;
                    };
                    let m = outs.first().and_then(|f| size_at(Some(f), 1)).unwrap_or(0);
                    match &tracked[0] {
                        Some((1, ein)) if ein.len() % groups == 0 => {
                            // Position p of every input group is one weight column: tie them.
                            let per = ein.len() / groups;
                            for gi in 1..groups {
                                for p in 0..per {
                                    b.union(ein[p], ein[gi * per + p]);
                                }
                            }
                            let cols = if transposed {
                                ein.clone()
                            } else {
                                ein[..per].to_vec()
                            };
                            b.members.push((i, weight, w_in, cols, Role::Consumer));
                        }
                        Some((_, ein)) => {
                            b.block(
                                ein,
                                &format!("grouped convolution reads another axis at {at}"),
                            );
                        }
                        None => {}
                    }
                    let e = b.space(m, node.display_name(), None);
                    let per = m / groups.max(1);
                    for gi in 1..groups {
                        for q in 0..per {
                            b.union(e[q], e[gi * per + q]);
                        }
                    }
                    let rows = if transposed {
                        e[..per].to_vec()
                    } else {
                        e.clone()
                    };
                    b.members.push((i, weight, w_out, rows, Role::Producer));
                    if let Some(bi) = bias {
                        let f = ins.get(bi).copied().flatten();
                        let is_const = constant.get(bi).copied().unwrap_or(false);
                        b.bias(i, bi, f, is_const, &e, &at);
                    }
                    b.chan.insert(o.clone(), (1, e));
                }
                ChannelRule::Concat { axis } => {
                    let on_axis = tracked.iter().flatten().all(|(a, _)| *a == axis);
                    if !on_axis {
                        // Concatenating along another axis couples the inputs like an add.
                        let mut reference: Option<Vec<u32>> = None;
                        let mut ok = true;
                        for t in tracked.iter().flatten() {
                            match &reference {
                                None => reference = Some(t.1.clone()),
                                Some(r) if r.len() == t.1.len() => {
                                    for (x, y) in r.clone().iter().zip(&t.1) {
                                        b.union(*x, *y);
                                    }
                                }
                                Some(_) => ok = false,
                            }
                        }
                        let untracked = ins
                            .iter()
                            .enumerate()
                            .any(|(k, f)| f.is_some() && tracked[k].is_none());
                        if let Some(r) = reference {
                            if !ok
                                || untracked
                                || tracked.iter().flatten().any(|t| {
                                    t.0 != tracked.iter().flatten().next().map_or(0, |x| x.0)
                                })
                            {
                                b.block(
                                    &r,
                                    &format!("concatenated with un-prunable inputs at {at}"),
                                );
                            }
                            if let Some(o) = node.outputs.first() {
                                let a = tracked.iter().flatten().next().map_or(0, |x| x.0);
                                b.chan.insert(o.clone(), (a, r));
                            }
                        }
                        continue;
                    }
                    let mut all = Vec::new();
                    for (k, f) in ins.iter().enumerate() {
                        let Some(f) = f else { continue };
                        match &tracked[k] {
                            Some((_, e)) => all.extend_from_slice(e),
                            None => {
                                let n = size_at(Some(f), axis).unwrap_or(0);
                                let e = b.space(
                                    n,
                                    node.display_name(),
                                    Some(format!("concatenated un-prunable input at {at}")),
                                );
                                all.extend(e);
                            }
                        }
                    }
                    if tracked.iter().any(Option::is_some) {
                        if let Some(o) = node.outputs.first() {
                            b.chan.insert(o.clone(), (axis, all));
                        }
                    }
                }
                ChannelRule::Split { axis } => {
                    let Some((a, e)) = tracked[0].clone() else {
                        continue;
                    };
                    if a != axis {
                        for o in node.outputs.iter().filter(|o| !o.is_empty()) {
                            b.chan.insert(o.clone(), (a, e.clone()));
                        }
                        continue;
                    }
                    let mut start = 0;
                    for (o, f) in node.outputs.iter().zip(&outs) {
                        let n = size_at(Some(f), axis).unwrap_or(0);
                        let part = e
                            .get(start..start + n)
                            .map(<[u32]>::to_vec)
                            .unwrap_or_default();
                        start += n;
                        if !o.is_empty() {
                            b.chan.insert(o.clone(), (axis, part));
                        }
                    }
                    b.splits.push(i);
                }
                ChannelRule::Range { axis, picks, index } => {
                    let Some((a, e)) = tracked[0].clone() else {
                        continue;
                    };
                    if a != axis || picks.iter().any(|&p| p >= e.len()) || picks.is_empty() {
                        b.block(
                            &e,
                            &format!("slice bounds do not match the channels at {at}"),
                        );
                        continue;
                    }
                    // Channels the slice drops change nothing downstream; only the picked ones
                    // flow on. A channel picked twice would have to go twice: keep it.
                    let mut seen = HashSet::new();
                    if !picks.iter().all(|p| seen.insert(*p)) {
                        b.block(&e, &format!("slice takes a channel twice at {at}"));
                        continue;
                    }
                    if let Some(o) = node.outputs.first() {
                        let out: Vec<u32> = picks.iter().map(|&p| e[p]).collect();
                        b.chan.insert(o.clone(), (axis, out));
                    }
                    b.ranges.push((i, index, picks));
                }
                ChannelRule::Flatten { inner } => {
                    let Some((_, e)) = tracked[0].clone() else {
                        continue;
                    };
                    let rep: Vec<u32> = e
                        .iter()
                        .flat_map(|&x| std::iter::repeat_n(x, inner))
                        .collect();
                    if let Some(o) = node.outputs.first() {
                        b.chan.insert(o.clone(), (1, rep));
                    }
                    if node.op_type == "Reshape" {
                        b.reshapes.push(i);
                    }
                }
            }
            if node.op_type == "Reshape" && !b.reshapes.contains(&i) {
                if let Some(o) = node.outputs.first() {
                    if b.chan.contains_key(o) {
                        b.reshapes.push(i);
                    }
                }
            }
        }
        for o in &g.outputs {
            if let Some((_, e)) = b.chan.get(&o.name).cloned() {
                b.block(&e, &format!("graph output `{}`", o.name));
            }
        }
        finish(b)
    }

    /// Groups with at least one removable unit.
    pub fn prunable_groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().filter(|g| g.prunable() > 0)
    }

    /// Total number of units.
    pub fn num_units(&self) -> usize {
        self.unit_group.len()
    }
}

/// Turns elements into units and spaces into groups.
fn finish(mut b: Builder) -> DepGraph {
    let n = b.parent.len();
    let mut unit_of_root: HashMap<u32, usize> = HashMap::new();
    let mut elem_unit = vec![0usize; n];
    let mut unit_blocked: Vec<Option<String>> = Vec::new();
    let mut unit_space: Vec<u32> = Vec::new();
    for e in 0..n as u32 {
        let r = find(&mut b.parent, e);
        let u = *unit_of_root.entry(r).or_insert_with(|| {
            unit_blocked.push(None);
            unit_space.push(b.space_of[r as usize]);
            unit_blocked.len() - 1
        });
        elem_unit[e as usize] = u;
        if unit_blocked[u].is_none() {
            unit_blocked[u] = b.blocked[e as usize].clone();
        }
    }
    // Blocked reasons found on later elements of a unit also block it.
    for (e, &u) in elem_unit.iter().enumerate() {
        if unit_blocked[u].is_none() {
            unit_blocked[u] = b.blocked[e].clone();
        }
    }
    let mut group_of_space: HashMap<u32, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut unit_group = vec![0usize; unit_blocked.len()];
    for (u, &s) in unit_space.iter().enumerate() {
        let root_space = find(&mut b.space_parent, s);
        let gid = *group_of_space.entry(root_space).or_insert_with(|| {
            groups.push(Group {
                id: groups.len(),
                root: b.space_creator[root_space as usize].clone(),
                units: Vec::new(),
                blocked: Vec::new(),
                members: Vec::new(),
                renormalized: Vec::new(),
                channels: 0,
            });
            groups.len() - 1
        });
        unit_group[u] = gid;
        groups[gid].units.push(u);
        groups[gid].blocked.push(unit_blocked[u].clone());
    }
    for (e, why) in &b.renormalized {
        let gid = unit_group[elem_unit[*e as usize]];
        if !groups[gid].renormalized.contains(why) {
            groups[gid].renormalized.push(why.clone());
        }
    }
    let members: Vec<Member> = b
        .members
        .into_iter()
        .map(|(node, input, axis, elems, role)| Member {
            node,
            input,
            axis,
            units: elems.iter().map(|&e| elem_unit[e as usize]).collect(),
            role,
        })
        .collect();
    for (mi, m) in members.iter().enumerate() {
        if let Some(&u) = m.units.first() {
            let gid = unit_group[u];
            if !groups[gid].members.contains(&mi) {
                groups[gid].members.push(mi);
            }
            // A member may span several groups (a consumer of a concat).
            for &u2 in &m.units {
                let g2 = unit_group[u2];
                if !groups[g2].members.contains(&mi) {
                    groups[g2].members.push(mi);
                }
            }
        }
    }
    let chan: HashMap<String, ChanInfo> = b
        .chan
        .into_iter()
        .map(|(k, (axis, e))| {
            (
                k,
                ChanInfo {
                    axis,
                    units: e.iter().map(|&x| elem_unit[x as usize]).collect(),
                },
            )
        })
        .collect();
    for c in chan.values() {
        let Some(&u) = c.units.first() else { continue };
        let gid = unit_group[u];
        if c.units.iter().all(|&v| unit_group[v] == gid) {
            groups[gid].channels = groups[gid].channels.max(c.units.len());
        }
    }
    for g in &mut groups {
        g.channels = g.channels.max(g.units.len());
    }
    DepGraph {
        groups,
        unit_group,
        members,
        chan,
        depthwise: b.depthwise,
        splits: b.splits,
        reshapes: b.reshapes,
        ranges: b.ranges,
        group_norms: b.group_norms,
    }
}
