//! What the timing examples share: a model loaded, a session for it with every symbolic input
//! dim set to 1, and inputs from a fixed seed. Errors end the process with exit code 2.

use coprune_runtime::{Session, Value};
use std::collections::HashMap;

/// The model at `path`.
pub fn load(path: &str) -> coprune_ir::Model {
    coprune_onnx::load(std::path::Path::new(path)).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    })
}

/// A session on `threads` threads, its symbolic input dims set to 1.
pub fn session(model: &coprune_ir::Model, threads: usize) -> Session {
    let inits: std::collections::HashSet<&str> = model
        .graph
        .initializers
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let shapes: HashMap<String, Vec<usize>> = model
        .graph
        .inputs
        .iter()
        .filter(|i| !inits.contains(i.name.as_str()))
        .filter_map(|i| {
            let (_, dims) = coprune_ir::infer::declared_shape(&i.name, &i.ty)?;
            let dims = dims.iter().map(|d| d.as_known().map_or(1, |v| v as usize));
            Some((i.name.clone(), dims.collect()))
        })
        .collect();
    Session::new(model, &shapes, threads).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    })
}

/// The session's inputs, values in [−0.5, 0.5) from a fixed seed.
pub fn inputs(session: &Session) -> Vec<Value> {
    let mut seed = 7u64;
    session
        .input_shapes()
        .into_iter()
        .map(|(_, s)| {
            let n = s.iter().product();
            let data = (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            Value::f32(s, data)
        })
        .collect()
}

/// Large blocks on cache lines, as in the `coprune` binary (see `coprune_runtime::alloc`).
#[global_allocator]
static ALLOC: coprune_runtime::alloc::LineAligned = coprune_runtime::alloc::LineAligned;
