//! Where a model's time goes inside coprune's runtime: the median time from one computed value to
//! the next (so each node's kernel plus the session's work around it), summed per op type and
//! listed for the slowest nodes.
//! `cargo run --release -p coprune-runtime --example node_times -- MODEL [THREADS] [RUNS]`
//! (inputs: every symbolic dim set to 1, random values from a fixed seed).

mod common;

use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: node_times MODEL [THREADS] [RUNS]");
        std::process::exit(2);
    };
    let threads: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(1);
    let runs: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(50);
    let model = common::load(path);
    let session = common::session(&model, threads);
    let inputs = common::inputs(&session);
    let producer: HashMap<&str, (&str, &str)> = model
        .graph
        .nodes
        .iter()
        .flat_map(|n| {
            n.outputs
                .iter()
                .map(move |o| (o.as_str(), (n.name.as_str(), n.op_type.as_str())))
        })
        .collect();
    let mut per: HashMap<String, Vec<f64>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut totals = Vec::new();
    for r in 0..runs + 5 {
        let mut last = Instant::now();
        let start = last;
        let mut seen = Vec::new();
        session
            .run_observed(inputs.clone(), &mut |name, _| {
                let now = Instant::now();
                seen.push((name.to_string(), (now - last).as_secs_f64() * 1e3));
                last = now;
            })
            .unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2);
            });
        if r < 5 {
            continue;
        }
        totals.push(start.elapsed().as_secs_f64() * 1e3);
        for (name, ms) in seen {
            if !per.contains_key(&name) {
                order.push(name.clone());
            }
            per.entry(name).or_default().push(ms);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let total = median(&mut totals);
    let mut rows: Vec<(String, &str, &str, f64)> = order
        .iter()
        .filter_map(|name| {
            let (node, op) = producer.get(name.as_str()).copied()?;
            let ms = median(per.get_mut(name)?);
            Some((name.clone(), node, op, ms))
        })
        .collect();
    let mut by_op: HashMap<&str, (usize, f64)> = HashMap::new();
    for (_, _, op, ms) in &rows {
        let e = by_op.entry(op).or_default();
        e.0 += 1;
        e.1 += ms;
    }
    println!("{path}: {threads} thread(s), median {total:.3} ms over {runs} runs");
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (op, (count, ms)) in ops {
        println!("  {op:<22} {count:>4} nodes {ms:>9.3} ms");
    }
    rows.sort_by(|a, b| b.3.total_cmp(&a.3));
    println!("slowest nodes:");
    for (value, node, op, ms) in rows.iter().take(usize::MAX) {
        println!("  {ms:>8.3} ms  {op:<18} {node} -> {value}");
    }
}
