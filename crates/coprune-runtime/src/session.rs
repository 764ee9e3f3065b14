//! A model lowered for given input shapes: constants and shape computations folded, one kernel
//! per remaining node, values freed after their last use.

use crate::kernel::{concrete, Kernel, LowerCtx};
use crate::ops::registry;
use crate::sparse::{SparseChoice, SparseMode};
use crate::{Result, RuntimeError, Value};
use coprune_ir::{infer, ConstValue, DType, Dim, Model, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

struct Step {
    node: String,
    kernel: Box<dyn Kernel>,
    inputs: Vec<Option<usize>>,
    outputs: Vec<Option<usize>>,
}

/// An executable model.
pub struct Session {
    steps: Vec<Step>,
    /// Slot of each graph input, with its shape.
    inputs: Vec<(String, usize, Vec<usize>)>,
    outputs: Vec<(String, usize)>,
    constants: Vec<(usize, Arc<Value>)>,
    n_slots: usize,
    /// The value name of each slot (for observers).
    names: Vec<String>,
    /// Index of the last step reading each slot (usize::MAX: a graph output, kept).
    last_use: Vec<usize>,
    /// Always set once built (`lower` runs inside it first).
    pool: Option<crate::pool::Pool>,
    /// Unique per session: owner of the recycled buffers of the thread running it.
    id: u64,
    /// The values kept channels-last (see `layout`).
    channels_last: Vec<String>,
    /// How many values an all-dense session of the same model keeps channels-last.
    channels_last_dense: usize,
    /// With sparse layers chosen (auto): the whole model's milliseconds at load, all dense
    /// (channels-last where it can) and with the sparse layers.
    model_race_ms: Option<(f64, f64)>,
}

/// The best of five runs of each session on probe inputs, alternating (dense first), in
/// milliseconds; None when a run fails (inputs that are not f32).
fn whole_model_race(dense: &Session, sparse: &Session) -> Option<(f64, f64)> {
    let inputs: Vec<Value> = dense
        .inputs
        .iter()
        .map(|(_, _, shape)| {
            Value::f32(
                shape.clone(),
                crate::sparse::probe_input(shape.iter().product()),
            )
        })
        .collect();
    let time = |s: &Session| -> Option<f64> {
        let t = std::time::Instant::now();
        let out = s.run(inputs.clone()).ok()?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        s.recycle(out);
        Some(ms)
    };
    time(dense)?;
    time(sparse)?;
    let (mut d, mut sp) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        d = d.min(time(dense)?);
        sp = sp.min(time(sparse)?);
    }
    Some((d, sp))
}

/// The next [`Session`] id.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Drop for Session {
    fn drop(&mut self) {
        // The outputs it recycled on this thread (a one-thread session runs on the caller's
        // thread, whose pool would otherwise outlive it).
        crate::buffers::release(self.id);
    }
}

fn tensor_value(t: &Tensor) -> Option<Value> {
    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    if t.dtype.is_float() {
        Some(Value::F32 {
            shape,
            data: t.to_f32_vec().ok()?,
        })
    } else if t.dtype.is_int() || t.dtype == DType::Bool {
        Some(Value::I64 {
            shape,
            data: t.to_i64_vec().ok()?,
        })
    } else {
        None
    }
}

fn folded(f: &coprune_ir::Fact) -> Option<Value> {
    let shape = concrete(&f.shape)?;
    match &f.value {
        Some(ConstValue::Ints(v)) => Some(Value::I64 {
            shape,
            data: v.iter().map(Dim::as_known).collect::<Option<Vec<_>>>()?,
        }),
        Some(ConstValue::Floats(v)) if f.dtype.is_float() => Some(Value::F32 {
            shape,
            data: v.iter().map(|&x| x as f32).collect(),
        }),
        _ => None,
    }
}

impl Session {
    /// Lowers `model` for the given input shapes, running on `threads` threads; layers with
    /// sparse weights are timed dense and sparse at load and keep the faster kernel.
    pub fn new(
        model: &Model,
        input_shapes: &HashMap<String, Vec<usize>>,
        threads: usize,
    ) -> Result<Session> {
        Session::with_sparse(model, input_shapes, threads, SparseMode::Auto)
    }

    /// [`Session::new`] without fusing activations into convolutions, so that
    /// [`Session::run_observed`] sees every value of the graph (pre-activation outputs included).
    pub fn observable(
        model: &Model,
        input_shapes: &HashMap<String, Vec<usize>>,
        threads: usize,
    ) -> Result<Session> {
        Session::build(model, input_shapes, threads, SparseMode::Auto, false)
    }

    /// [`Session::new`] with a choice of sparse kernels.
    pub fn with_sparse(
        model: &Model,
        input_shapes: &HashMap<String, Vec<usize>>,
        threads: usize,
        sparse: SparseMode,
    ) -> Result<Session> {
        Session::build(model, input_shapes, threads, sparse, true)
    }

    fn build(
        model: &Model,
        input_shapes: &HashMap<String, Vec<usize>>,
        threads: usize,
        sparse: SparseMode,
        fuse: bool,
    ) -> Result<Session> {
        let pool = crate::pool::Pool::new(threads.max(1)).map_err(|e| RuntimeError::Input {
            name: "threads".into(),
            msg: e.to_string(),
        })?;
        // Lower inside the pool: sparse layers are timed with the threads they will run on.
        let mut s = pool.install(|| Session::lower(model, input_shapes, threads, sparse, fuse))?;
        s.pool = Some(pool);
        // Each sparse layer won its race against the dense kernel alone, but a sparse layer
        // keeps its neighbours planar where the dense model keeps them channels-last (see
        // `layout`): resnet18 at 2:4 ran 5% slower with its sparse layers than all dense. So
        // the whole model is timed both ways, and the faster kept.
        let chosen = s.sparse_layers().iter().any(|(_, c)| c.format.is_some());
        if sparse == SparseMode::Auto
            && fuse
            && chosen
            && s.channels_last_dense > s.channels_last.len()
        {
            let mut dense = Session::build(model, input_shapes, threads, SparseMode::Off, fuse)?;
            if let Some((d, sp)) = whole_model_race(&dense, &s) {
                s.model_race_ms = Some((d, sp));
                if d < sp {
                    dense.model_race_ms = Some((d, sp));
                    return Ok(dense);
                }
            }
        }
        Ok(s)
    }

    fn lower(
        model: &Model,
        input_shapes: &HashMap<String, Vec<usize>>,
        threads: usize,
        sparse: SparseMode,
        fuse: bool,
    ) -> Result<Session> {
        let bn_folded = crate::fold::fold_batch_norms(model);
        let model = bn_folded.as_ref().unwrap_or(model);
        let g = &model.graph;
        let dims: HashMap<String, Vec<Dim>> = input_shapes
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|&d| Dim::known(d as i64)).collect()))
            .collect();
        let inferred = infer(model, &dims)?;
        let mut consts = g.constants();
        let mut slot: HashMap<String, usize> = HashMap::new();
        let mut n_slots = 0usize;
        let mut slot_of = |name: &str, slot: &mut HashMap<String, usize>| -> usize {
            *slot.entry(name.to_string()).or_insert_with(|| {
                n_slots += 1;
                n_slots - 1
            })
        };
        let mut constants = Vec::new();
        let mut known: BTreeSet<String> = BTreeSet::new();
        for (name, t) in &consts {
            if let Some(v) = tensor_value(t) {
                let s = slot_of(name, &mut slot);
                constants.push((s, Arc::new(v)));
                known.insert(name.clone());
            }
        }
        let mut inputs = Vec::new();
        for v in &g.inputs {
            if known.contains(&v.name) {
                continue;
            }
            let f = inferred
                .facts
                .get(&v.name)
                .and_then(|f| concrete(&f.shape))
                .ok_or_else(|| RuntimeError::Input {
                    name: v.name.clone(),
                    msg: "shape is not concrete".into(),
                })?;
            let s = slot_of(&v.name, &mut slot);
            inputs.push((v.name.clone(), s, f));
            known.insert(v.name.clone());
        }
        // A Conv, Gemm or Add whose only reader is a Relu or a Clip with known bounds takes the
        // clamp into its own output; the activation's output then names that node's slot (no
        // separate pass; a residual block's Add and Relu become one).
        let mut fused: HashMap<usize, crate::kernel::Post> = HashMap::new();
        let mut alias: HashMap<usize, String> = HashMap::new();
        // A Conv whose only reader is an Add of a same-shaped value computed before it takes
        // that value as a residual input, added in its own output pass (a residual block's
        // last convolution); the Add's activation then fuses into the Conv as below.
        // Conv node → (Add node, the residual's name).
        let mut residual: HashMap<usize, (usize, String)> = HashMap::new();
        if fuse {
            let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
            for (i, n) in g.nodes.iter().enumerate() {
                for v in n.inputs.iter().filter(|v| !v.is_empty()) {
                    readers.entry(v.as_str()).or_default().push(i);
                }
            }
            let graph_out: BTreeSet<&str> = g.outputs.iter().map(|o| o.name.as_str()).collect();
            let position: HashMap<usize, usize> = inferred
                .order
                .iter()
                .enumerate()
                .map(|(k, &i)| (i, k))
                .collect();
            let producer = g.producers();
            let default = |n: &coprune_ir::Node| coprune_ir::ops::is_default_domain(&n.domain);
            for (i, n) in g.nodes.iter().enumerate() {
                let Some(o) = n.outputs.first() else {
                    continue;
                };
                // (A Conv of a constant input runs once at load, on its own inputs only.)
                if n.op_type != "Conv"
                    || !default(n)
                    || n.outputs.len() != 1
                    || graph_out.contains(o.as_str())
                    || n.input(0).is_none_or(|x| consts.contains_key(x))
                {
                    continue;
                }
                let Some(&[j]) = readers.get(o.as_str()).map(Vec::as_slice) else {
                    continue;
                };
                let add = &g.nodes[j];
                if add.op_type != "Add"
                    || !default(add)
                    || add.inputs.len() != 2
                    || add.outputs.len() != 1
                {
                    continue;
                }
                let Some(other) = add.inputs.iter().find(|v| *v != o) else {
                    continue;
                };
                let shape = |v: &str| -> Option<Vec<i64>> {
                    let f = inferred.facts.get(v)?;
                    f.shape.iter().map(coprune_ir::Dim::as_known).collect()
                };
                let f32_valued = inferred
                    .facts
                    .get(other.as_str())
                    .is_some_and(|f| f.dtype == coprune_ir::DType::F32);
                // Computed before the Conv runs (or a graph input), never a constant.
                let before = match producer.get(other.as_str()) {
                    Some(p) => position.get(p) < position.get(&i),
                    None => !consts.contains_key(other.as_str()),
                };
                if f32_valued
                    && before
                    && shape(o).is_some()
                    && shape(o) == shape(other)
                    && shape(o) == shape(&add.outputs[0])
                {
                    residual.insert(i, (j, other.clone()));
                    alias.insert(j, o.clone());
                }
            }
            for (i, n) in g.nodes.iter().enumerate() {
                let (Some(o), Some(x)) = (n.outputs.first(), n.input(0)) else {
                    continue;
                };
                if !matches!(n.op_type.as_str(), "Conv" | "Gemm" | "Add")
                    || n.outputs.len() != 1
                    || graph_out.contains(o.as_str())
                    || consts.contains_key(x)
                {
                    continue;
                }
                let Some(&[j]) = readers.get(o.as_str()).map(Vec::as_slice) else {
                    continue;
                };
                let act = &g.nodes[j];
                if !coprune_ir::ops::is_default_domain(&act.domain) || act.outputs.len() != 1 {
                    continue;
                }
                let post = match act.op_type.as_str() {
                    "Relu" => Some(crate::kernel::Post {
                        lo: 0.0,
                        hi: f32::INFINITY,
                    }),
                    "Clip" => {
                        crate::ops::clip::bounds(&LowerCtx::new(act, &inferred, &consts, threads))
                            .ok()
                            .map(|(lo, hi)| crate::kernel::Post { lo, hi })
                    }
                    _ => None,
                };
                if let Some(p) = post {
                    // An Add fused into its Conv hands its activation on to that Conv.
                    let into = residual
                        .iter()
                        .find(|(_, (a, _))| *a == i)
                        .map_or(i, |(c, _)| *c);
                    fused.insert(into, p);
                    alias.insert(j, o.clone());
                }
            }
        }
        // Values kept channels-last between the convolutions that read and write them so (only
        // with fusion: an observer sees every value in its declared order).
        let plan = |mode| {
            if fuse {
                crate::layout::channels_last(g, &inferred, &consts, &alias, &residual, mode)
            } else {
                BTreeSet::new()
            }
        };
        let nhwc = plan(sparse);
        // What an all-dense session would keep (see `build`).
        let channels_last_dense = match sparse {
            SparseMode::Off => nhwc.len(),
            _ => plan(SparseMode::Off).len(),
        };
        let mut steps = Vec::new();
        let mut unsupported: BTreeSet<String> = BTreeSet::new();
        let mut first_error = None;
        for &i in &inferred.order {
            let node = &g.nodes[i];
            if let Some(conv_out) = alias.get(&i) {
                // Fused into the Conv that writes `conv_out`: the same slot, under this name.
                let s = slot_of(conv_out, &mut slot);
                slot.insert(node.outputs[0].clone(), s);
                known.insert(node.outputs[0].clone());
                continue;
            }
            // Outputs fully known at build time (shape arithmetic) become constants.
            let outs: Vec<Option<Value>> = node
                .outputs
                .iter()
                .map(|o| {
                    if consts.contains_key(o) {
                        None
                    } else {
                        inferred.facts.get(o).and_then(folded)
                    }
                })
                .collect();
            if node
                .outputs
                .iter()
                .all(|o| o.is_empty() || known.contains(o))
                || (!outs.is_empty()
                    && outs
                        .iter()
                        .zip(&node.outputs)
                        .all(|(v, o)| v.is_some() || o.is_empty()))
            {
                for (v, o) in outs.into_iter().zip(&node.outputs) {
                    if let Some(v) = v {
                        let s = slot_of(o, &mut slot);
                        constants.push((s, Arc::new(v)));
                        known.insert(o.clone());
                    }
                }
                continue;
            }
            let Some(lower) = registry()
                .get(node.op_type.as_str())
                .filter(|_| coprune_ir::ops::is_default_domain(&node.domain))
            else {
                unsupported.insert(node.op_type.clone());
                first_error.get_or_insert_with(|| RuntimeError::Unsupported {
                    node: node.display_name().to_string(),
                    op: node.op_type.clone(),
                    detail: String::new(),
                });
                continue;
            };
            let mut ctx = LowerCtx::new(node, &inferred, &consts, threads);
            ctx.sparse = sparse;
            ctx.post = fused.get(&i).copied();
            ctx.residual = residual.contains_key(&i);
            ctx.nhwc_in = node.input(0).is_some_and(|x| nhwc.contains(x));
            ctx.nhwc_out = node.outputs.first().is_some_and(|o| nhwc.contains(o));
            let kernel = lower(&ctx)?;
            // A node that reads only constants (e.g. a weight stored as codebook + indices) runs
            // once here; its outputs become constants that later lowerings see as weights.
            let const_inputs: Option<Vec<Option<Arc<Value>>>> = node
                .inputs
                .iter()
                .map(|v| {
                    if v.is_empty() {
                        return Some(None);
                    }
                    let s = slot.get(v)?;
                    constants
                        .iter()
                        .find(|(c, _)| c == s)
                        .map(|(_, val)| Some(val.clone()))
                })
                .collect();
            if let Some(ins) = const_inputs.filter(|i| i.iter().any(Option::is_some)) {
                let refs: Vec<Option<&Value>> = ins.iter().map(|v| v.as_deref()).collect();
                let outs = kernel.run(&refs)?;
                for (o, v) in node.outputs.iter().zip(outs) {
                    if o.is_empty() {
                        continue;
                    }
                    let dims: Vec<u64> = v.shape().iter().map(|&d| d as u64).collect();
                    let t = match &v {
                        Value::F32 { data, .. } => Tensor::from_f32(o.clone(), dims, data),
                        Value::I64 { data, .. } => Tensor::from_i64(o.clone(), dims, data),
                    }
                    .map_err(|e| RuntimeError::Input {
                        name: o.clone(),
                        msg: e.to_string(),
                    })?;
                    consts.insert(o.clone(), std::borrow::Cow::Owned(t));
                    let s = slot_of(o, &mut slot);
                    constants.push((s, Arc::new(v)));
                    known.insert(o.clone());
                }
                continue;
            }
            let mut inputs_s: Vec<Option<usize>> = node
                .inputs
                .iter()
                .map(|v| (!v.is_empty()).then(|| slot_of(v, &mut slot)))
                .collect();
            if let Some((_, r)) = residual.get(&i) {
                // Past the Conv's optional bias: the residual is always its fourth input.
                inputs_s.resize(3, None);
                inputs_s.push(Some(slot_of(r, &mut slot)));
            }
            let outputs_s = node
                .outputs
                .iter()
                .map(|o| (!o.is_empty()).then(|| slot_of(o, &mut slot)))
                .collect();
            for o in &node.outputs {
                known.insert(o.clone());
            }
            steps.push(Step {
                node: node.display_name().to_string(),
                kernel,
                inputs: inputs_s,
                outputs: outputs_s,
            });
        }
        if let Some(e) = first_error {
            let list: Vec<String> = unsupported.into_iter().collect();
            return Err(match e {
                RuntimeError::Unsupported { node, op, .. } => RuntimeError::Unsupported {
                    node,
                    op,
                    detail: format!(" (unsupported ops in this model: {})", list.join(", ")),
                },
                other => other,
            });
        }
        let outputs: Vec<(String, usize)> = g
            .outputs
            .iter()
            .map(|o| (o.name.clone(), slot_of(&o.name, &mut slot)))
            .collect();
        let mut names = vec![String::new(); n_slots];
        for (name, &i) in &slot {
            names[i] = name.clone();
        }
        // A fused slot holds the activation's value: it is observed under that name.
        for j in alias.keys() {
            if let Some(o) = g.nodes[*j].outputs.first() {
                if let Some(&s) = slot.get(o) {
                    names[s] = o.clone();
                }
            }
        }
        let mut last_use = vec![0usize; n_slots];
        for (k, s) in steps.iter().enumerate() {
            for &i in s.inputs.iter().flatten() {
                last_use[i] = k;
            }
        }
        for &(_, s) in &outputs {
            last_use[s] = usize::MAX;
        }
        Ok(Session {
            steps,
            inputs,
            outputs,
            constants,
            n_slots,
            names,
            last_use,
            pool: None,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            channels_last: nhwc.into_iter().collect(),
            channels_last_dense,
            model_race_ms: None,
        })
    }

    /// Every layer whose constant weight has zeros, with the kernel it runs (node name, choice).
    pub fn sparse_layers(&self) -> Vec<(&str, &SparseChoice)> {
        self.steps
            .iter()
            .filter_map(|s| s.kernel.sparse().map(|c| (s.node.as_str(), c)))
            .collect()
    }

    /// The values this session stores channels-last (`[N][H][W][C]`) between the
    /// convolutions and poolings that read and write them so, by name, in order; an observer of
    /// [`Session::run_observed`] sees them in that order too (an observable session keeps none).
    pub fn channels_last(&self) -> &[String] {
        &self.channels_last
    }

    /// When sparse layers had won their races (auto mode), the whole model timed at load: all
    /// dense and with those sparse layers, in milliseconds; the faster runs (all dense: every
    /// layer of [`Session::sparse_layers`] then reports the dense kernel).
    pub fn model_race_ms(&self) -> Option<(f64, f64)> {
        self.model_race_ms
    }

    /// Names and shapes of the inputs the session expects.
    pub fn input_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.inputs
            .iter()
            .map(|(n, _, s)| (n.clone(), s.clone()))
            .collect()
    }

    /// Runs the model; `inputs` in the order of [`Session::input_shapes`]. Returns the graph
    /// outputs in order.
    pub fn run(&self, inputs: Vec<Value>) -> Result<Vec<Value>> {
        self.run_observed(inputs, &mut |_, _| {})
    }

    /// Hands back the outputs of an earlier run once they are read, so that a later run writes
    /// into their buffers: an inference loop (a benchmark, an evaluation) then allocates and
    /// faults in no fresh output per run (a one-node model's output was most of its measured
    /// time).
    pub fn recycle(&self, outputs: Vec<Value>) {
        self.on_own_thread(|| {
            crate::buffers::claim(self.id);
            for v in outputs {
                if let Value::F32 { data, .. } = v {
                    crate::buffers::recycle(data);
                }
            }
        })
    }

    /// Runs `f` with the session's pool installed: steps run on the caller's thread (which
    /// keeps the recycled buffers), their parallel regions on the pool's workers too.
    fn on_own_thread<R>(&self, f: impl FnOnce() -> R) -> R {
        self.pool.as_ref().expect("session pool").install(f)
    }

    /// Like [`Session::run`], and shows `observe` every graph input and every computed value
    /// (by name) as it is produced, before it may be freed; the outputs are unchanged. This is
    /// the statistics hook: calibration passes record activation norms with it.
    pub fn run_observed(
        &self,
        inputs: Vec<Value>,
        observe: &mut (dyn FnMut(&str, &Value) + Send),
    ) -> Result<Vec<Value>> {
        if inputs.len() != self.inputs.len() {
            return Err(RuntimeError::Input {
                name: "inputs".into(),
                msg: format!(
                    "{} given, the model takes {}",
                    inputs.len(),
                    self.inputs.len()
                ),
            });
        }
        let mut slots: Vec<Option<Arc<Value>>> = vec![None; self.n_slots];
        for (s, v) in &self.constants {
            slots[*s] = Some(v.clone());
        }
        for ((name, s, shape), v) in self.inputs.iter().zip(inputs) {
            if v.shape() != shape.as_slice() {
                return Err(RuntimeError::Input {
                    name: name.clone(),
                    msg: format!(
                        "shape {:?}, the session was built for {:?}",
                        v.shape(),
                        shape
                    ),
                });
            }
            observe(name, &v);
            slots[*s] = Some(Arc::new(v));
        }
        let steps = || {
            crate::buffers::claim(self.id);
            for (k, step) in self.steps.iter().enumerate() {
                let ins: Vec<Option<&Value>> = step
                    .inputs
                    .iter()
                    .map(|s| s.and_then(|s| slots[s].as_deref()))
                    .collect();
                let outs = step.kernel.run(&ins)?;
                for (o, v) in step.outputs.iter().zip(outs) {
                    if let Some(o) = o {
                        observe(&self.names[*o], &v);
                        slots[*o] = Some(Arc::new(v));
                    }
                }
                for &i in step.inputs.iter().flatten() {
                    if self.last_use[i] == k {
                        // The last holder hands the data back for a later output. Not the
                        // caller's inputs: a new one comes every run, so keeping them piled up
                        // one more buffer a run (mobilenet_v2's filled the kept buffers, so
                        // that a hundred outputs a run were allocated and zeroed afresh).
                        let value = slots[i].take().map(Arc::try_unwrap);
                        if let Some(Ok(Value::F32 { data, .. })) = value {
                            if !self.inputs.iter().any(|(_, s, _)| *s == i) {
                                crate::buffers::recycle(data);
                            }
                        }
                    }
                }
            }
            Ok::<(), RuntimeError>(())
        };
        self.on_own_thread(steps)?;
        // Outputs are moved out, not copied (a copy of a one-node model's output was a third of
        // its measured time); a value listed twice, or a constant, is copied.
        self.outputs
            .iter()
            .enumerate()
            .map(|(k, (name, s))| {
                let again = self.outputs[k + 1..].iter().any(|(_, t)| t == s);
                let v = if again {
                    slots[*s].clone()
                } else {
                    slots[*s].take()
                };
                v.map(|v| Arc::try_unwrap(v).unwrap_or_else(|v| (*v).clone()))
                    .ok_or_else(|| RuntimeError::Input {
                        name: name.clone(),
                        msg: "output was not computed".into(),
                    })
            })
            .collect()
    }
}
