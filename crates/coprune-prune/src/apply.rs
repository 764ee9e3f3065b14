//! Compiles a removal decision into a [`Patch`] and applies it: weights are sliced (or, in mask
//! mode, the removed input channels of consuming layers are zeroed in place), depthwise `group`,
//! Split sizes and Reshape targets follow the new channel counts, and value_info is refreshed.

use crate::depgraph::{DepGraph, Member, Role};
use crate::{PruneError, Result};
use coprune_ir::{
    infer, AttrValue, DType, DimSpec, DimValue, IrError, Model, Patch, Storage, Tensor, TensorData,
    ValueType,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// What to do with the removed channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Physically remove them (a smaller model).
    Remove,
    /// Keep every shape and zero the weights that read the removed channels: a model whose
    /// outputs equal the pruned model's (invariant 2 compares the two).
    Mask,
}

fn bytes_per_element(t: &Tensor) -> Result<usize> {
    match (t.dtype.bits(), &t.data) {
        (Some(b), TensorData::Bytes(_)) if b % 8 == 0 => Ok(b as usize / 8),
        _ => Err(PruneError::Invalid(format!(
            "tensor `{}` of type {} cannot be sliced",
            t.name, t.dtype
        ))),
    }
}

/// Keeps positions `keep` along `axis`.
fn slice(t: &Tensor, axis: usize, keep: &[usize]) -> Result<Tensor> {
    let es = bytes_per_element(t)?;
    let dims = &t.dims;
    let outer: usize = dims[..axis].iter().product::<u64>() as usize;
    let n = dims[axis] as usize;
    let inner = dims[axis + 1..].iter().product::<u64>() as usize * es;
    let src = t.bytes();
    let mut out = Vec::with_capacity(outer * keep.len() * inner);
    for o in 0..outer {
        for &p in keep {
            let start = (o * n + p) * inner;
            out.extend_from_slice(&src[start..start + inner]);
        }
    }
    let mut dims = dims.clone();
    dims[axis] = keep.len() as u64;
    Ok(Tensor {
        dims,
        data: TensorData::Bytes(out),
        ..t.clone_without_data()
    })
}

/// Zeroes positions `zero` along `axis`.
fn zero(t: &Tensor, axis: usize, zero: &[usize]) -> Result<Tensor> {
    let es = bytes_per_element(t)?;
    let dims = &t.dims;
    let outer: usize = dims[..axis].iter().product::<u64>() as usize;
    let n = dims[axis] as usize;
    let inner = dims[axis + 1..].iter().product::<u64>() as usize * es;
    let mut data = t.bytes().to_vec();
    for o in 0..outer {
        for &p in zero {
            let start = (o * n + p) * inner;
            data[start..start + inner].fill(0);
        }
    }
    Ok(Tensor {
        dims: dims.clone(),
        data: TensorData::Bytes(data),
        ..t.clone_without_data()
    })
}

/// Builds the patch for `removed` (per unit id).
pub fn to_patch(model: &Model, dg: &DepGraph, removed: &[bool], mode: Mode) -> Result<Patch> {
    let g = &model.graph;
    let consts = g.constants();
    let opset = model.default_opset();
    let mut patch = Patch::default();
    // How many node inputs read each underlying tensor (aliases included).
    let base = |name: &str| -> Option<String> {
        consts.get(name).map(|t| match t {
            Cow::Borrowed(b) => format!("{:p}", *b as *const Tensor),
            Cow::Owned(_) => name.to_string(),
        })
    };
    let mut refs: HashMap<String, usize> = HashMap::new();
    for n in &g.nodes {
        for v in n.inputs.iter().filter(|v| !v.is_empty()) {
            if let Some(b) = base(v) {
                *refs.entry(b).or_default() += 1;
            }
        }
    }
    let direct: std::collections::HashSet<&str> =
        g.initializers.iter().map(|t| t.name.as_str()).collect();
    let mut by_input: BTreeMap<(usize, usize), Vec<&Member>> = BTreeMap::new();
    for m in &dg.members {
        by_input.entry((m.node, m.input)).or_default().push(m);
    }
    let mut made: HashMap<(String, String), String> = HashMap::new();
    let mut names_used: std::collections::HashSet<String> =
        g.initializers.iter().map(|t| t.name.clone()).collect();
    let mut fresh = |stem: &str| -> String {
        let mut k = 0;
        loop {
            let name = if k == 0 {
                format!("{stem}.pruned")
            } else {
                format!("{stem}.pruned{k}")
            };
            if names_used.insert(name.clone()) {
                return name;
            }
            k += 1;
        }
    };
    for ((node_i, input), members) in &by_input {
        let node = &g.nodes[*node_i];
        let Some(name) = node.input(*input) else {
            continue;
        };
        let Some(t) = consts.get(name) else { continue };
        // Per axis: positions to keep (remove mode) or to zero (mask mode).
        let mut per_axis: BTreeMap<usize, Vec<bool>> = BTreeMap::new();
        for m in members {
            if mode == Mode::Mask && m.role != Role::Consumer {
                continue;
            }
            let gone = per_axis
                .entry(m.axis)
                .or_insert_with(|| vec![false; m.units.len()]);
            for (p, &u) in m.units.iter().enumerate() {
                if removed[u] && p < gone.len() {
                    gone[p] = true;
                }
            }
        }
        per_axis.retain(|_, gone| gone.iter().any(|&x| x));
        if per_axis.is_empty() {
            continue;
        }
        let spec = format!("{per_axis:?}");
        let key = (base(name).unwrap_or_else(|| name.to_string()), spec);
        if let Some(existing) = made.get(&key) {
            patch.inputs.push((*node_i, *input, existing.clone()));
            continue;
        }
        let mut nt: Tensor = t.clone().into_owned();
        for (&axis, gone) in &per_axis {
            if axis >= nt.dims.len() || nt.dims[axis] as usize != gone.len() {
                return Err(PruneError::Ir(IrError::Tensor {
                    name: name.to_string(),
                    msg: format!(
                        "axis {axis} of {:?} does not match {} channels",
                        nt.dims,
                        gone.len()
                    ),
                }));
            }
            nt = match mode {
                Mode::Remove => {
                    let keep: Vec<usize> = (0..gone.len()).filter(|&p| !gone[p]).collect();
                    slice(&nt, axis, &keep)?
                }
                Mode::Mask => {
                    let z: Vec<usize> = (0..gone.len()).filter(|&p| gone[p]).collect();
                    zero(&nt, axis, &z)?
                }
            };
        }
        let single = refs.get(&key.0).copied().unwrap_or(0) <= 1 && direct.contains(name);
        let new_name = if single {
            name.to_string()
        } else {
            fresh(name)
        };
        nt.name = new_name.clone();
        if !single {
            nt.storage = Storage::Raw;
            nt.extra = Default::default();
            patch.inputs.push((*node_i, *input, new_name.clone()));
        }
        made.insert(key, new_name);
        patch.initializers.push(nt);
    }
    if mode == Mode::Mask {
        return Ok(patch);
    }
    let kept = |value: &str| -> Option<usize> {
        dg.chan
            .get(value)
            .map(|c| c.units.iter().filter(|&&u| !removed[u]).count())
    };
    for &i in &dg.depthwise {
        let node = &g.nodes[i];
        if let Some(k) = node.input(0).and_then(kept) {
            let old = node.attr_int("group", 1).unwrap_or(1);
            if k as i64 != old {
                patch
                    .attrs
                    .push((i, "group".into(), Some(AttrValue::Int(k as i64))));
            }
        }
    }
    for &i in &dg.splits {
        let node = &g.nodes[i];
        let sizes: Option<Vec<i64>> = node
            .outputs
            .iter()
            .map(|o| kept(o).map(|k| k as i64))
            .collect();
        let Some(sizes) = sizes else { continue };
        if opset >= 13 {
            let name = fresh(&format!("{}.split", node.display_name()));
            let t = Tensor::from_i64(&name, vec![sizes.len() as u64], &sizes)?;
            patch.initializers.push(t);
            patch.inputs.push((i, 1, name));
            patch.attrs.push((i, "num_outputs".into(), None));
        } else {
            patch
                .attrs
                .push((i, "split".into(), Some(AttrValue::Ints(sizes))));
        }
    }
    for &(i, per) in &dg.group_norms {
        let node = &g.nodes[i];
        if let Some(k) = node.input(0).and_then(kept) {
            let groups = (k / per.max(1)) as i64;
            if groups != node.attr_int("num_groups", 0).unwrap_or(0) {
                patch
                    .attrs
                    .push((i, "num_groups".into(), Some(AttrValue::Int(groups))));
            }
        }
    }
    for (i, index, picks) in &dg.ranges {
        let (i, index) = (*i, *index);
        let node = &g.nodes[i];
        let Some(cin) = node.input(0).and_then(|v| dg.chan.get(v)) else {
            continue;
        };
        if cin.units.iter().all(|&u| !removed[u]) {
            continue;
        }
        // Where each picked channel that stays sits in the pruned input.
        let mut new_pos = Vec::with_capacity(cin.units.len());
        let mut n_new = 0i64;
        for &u in &cin.units {
            new_pos.push(n_new);
            n_new += i64::from(!removed[u]);
        }
        let taken: Vec<i64> = picks
            .iter()
            .filter(|&&p| !removed[cin.units[p]])
            .map(|&p| new_pos[p])
            .collect();
        let Some((&first, &last)) = taken.first().zip(taken.last()) else {
            continue;
        };
        let step = taken.get(1).map_or(1, |&x| x - first);
        let even = step != 0 && taken.windows(2).all(|w| w[1] - w[0] == step);
        let has_steps = node.input(4).is_some();
        if even && (step == 1 || has_steps) {
            let end = if step > 0 { last + 1 } else { last - 1 };
            // A negative step ending before position 0 needs an end below -n.
            let end = if end < 0 { -n_new - 1 } else { end };
            for (input, attr, value) in [
                (1usize, "starts", first),
                (2, "ends", end),
                (4, "steps", step),
            ] {
                if let Some(name) = node.input(input) {
                    // Opset ≥ 10: bounds are constant inputs.
                    let Some(t) = consts.get(name) else { continue };
                    let Ok(mut v) = t.to_i64_vec() else { continue };
                    if v.get(index).is_some_and(|&x| x != value) {
                        v[index] = value;
                        let new = fresh(name);
                        patch
                            .initializers
                            .push(Tensor::from_i64(&new, t.dims.clone(), &v)?);
                        patch.inputs.push((i, input, new));
                    }
                } else if let Ok(Some(mut v)) = node.attr_ints(attr) {
                    if v.get(index).is_some_and(|&x| x != value) {
                        v[index] = value;
                        patch.attrs.push((i, attr.into(), Some(AttrValue::Ints(v))));
                    }
                }
            }
            continue;
        }
        // The kept channels are no longer evenly spaced: a Gather takes them, and the Slice
        // (when it also cuts other axes) keeps the whole channel axis.
        let (Some(x), Some(out)) = (node.input(0), node.outputs.first()) else {
            continue;
        };
        let idx = fresh(&format!("{}.channels", node.display_name()));
        patch
            .initializers
            .push(Tensor::from_i64(&idx, vec![taken.len() as u64], &taken)?);
        let axis = AttrValue::Int(cin.axis as i64);
        let entries = node
            .input(1)
            .and_then(|v| consts.get(v))
            .map_or(1, |t| t.dims.iter().product::<u64>());
        if entries <= 1 {
            let gather = coprune_ir::Node::new(node.display_name(), "Gather", &[x, &idx], &[out])
                .with_attr("axis", axis);
            patch.replace.push((i, vec![gather]));
            continue;
        }
        let mid = fresh(&format!("{out}.channels"));
        let gather = coprune_ir::Node::new(
            format!("{}.channels", node.display_name()),
            "Gather",
            &[x, &idx],
            &[&mid],
        )
        .with_attr("axis", axis);
        let mut slice = node.clone();
        slice.inputs[0] = mid;
        for (input, value) in [(1usize, 0i64), (2, i64::MAX), (4, 1)] {
            let Some((name, t)) = node.input(input).and_then(|v| Some((v, consts.get(v)?))) else {
                continue;
            };
            let Ok(mut v) = t.to_i64_vec() else { continue };
            if let Some(slot) = v.get_mut(index) {
                *slot = value;
            }
            let new = fresh(name);
            patch
                .initializers
                .push(Tensor::from_i64(&new, t.dims.clone(), &v)?);
            slice.inputs[input] = new;
        }
        patch.replace.push((i, vec![gather, slice]));
    }
    for &i in &dg.reshapes {
        let node = &g.nodes[i];
        let (Some(out), Some(target)) = (node.outputs.first(), node.input(1)) else {
            continue;
        };
        let (Some(c), Some(t)) = (dg.chan.get(out), consts.get(target)) else {
            continue;
        };
        let Ok(mut v) = t.to_i64_vec() else { continue };
        let k = c.units.iter().filter(|&&u| !removed[u]).count() as i64;
        if v.get(c.axis).is_some_and(|&x| x > 0 && x != k) {
            v[c.axis] = k;
            let name = fresh(target);
            patch
                .initializers
                .push(Tensor::from_i64(&name, t.dims.clone(), &v)?);
            patch.inputs.push((i, 1, name));
        }
    }
    Ok(patch)
}

/// A pruned (or masked) copy of `model`. In remove mode value_info shapes are re-inferred.
pub fn prune_model(model: &Model, dg: &DepGraph, removed: &[bool], mode: Mode) -> Result<Model> {
    let patch = to_patch(model, dg, removed, mode)?;
    let mut out = model.clone();
    patch.apply(&mut out)?;
    if mode == Mode::Remove {
        refresh_value_info(&mut out)?;
    }
    Ok(out)
}

/// Re-infers (with the model's own symbolic input shapes) and rewrites the declared types of
/// value_info entries and graph outputs whose shapes changed.
fn refresh_value_info(m: &mut Model) -> Result<()> {
    let inferred = infer(m, &HashMap::new())?;
    let g = &mut m.graph;
    for v in g.value_info.iter_mut().chain(g.outputs.iter_mut()) {
        let (
            ValueType::Tensor {
                dtype,
                shape: Some(_),
            },
            Some(f),
        ) = (&v.ty, inferred.facts.get(&v.name))
        else {
            continue;
        };
        let dtype: Option<DType> = *dtype;
        let shape: Vec<DimSpec> = f
            .shape
            .iter()
            .map(|d| DimSpec {
                value: match d.as_known() {
                    Some(x) => DimValue::Value(x),
                    None => DimValue::Param(d.to_string()),
                },
                denotation: String::new(),
            })
            .collect();
        let new = ValueType::Tensor {
            dtype,
            shape: Some(shape),
        };
        // Keep declared symbolic names and denotations where the size is unchanged.
        if let ValueType::Tensor {
            shape: Some(old), ..
        } = &v.ty
        {
            if old.len() == f.shape.len()
                && old.iter().zip(&f.shape).all(|(o, d)| match &o.value {
                    DimValue::Value(x) => d.as_known() == Some(*x),
                    _ => true,
                })
            {
                continue;
            }
        }
        v.ty = new;
    }
    Ok(())
}
