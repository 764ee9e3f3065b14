//! A model's latency with its data in cache (runs back to back) and out of it (each run after
//! writing `GAP_MB` MiB elsewhere), as a layer runs inside a larger model whose other layers
//! evict its weights and buffers between runs:
//! `cargo run --release -p coprune-runtime --example cold_runs -- MODEL [THREADS] [RUNS] [GAP_MB]`
//! (inputs: every symbolic dim set to 1, values from a fixed seed; a one-node model cut out of
//! a real one, e.g. with `onnx.utils.extract_model`, shows what that node loses to cold caches).

mod common;

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: cold_runs MODEL [THREADS] [RUNS] [GAP_MB]");
        std::process::exit(2);
    };
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (threads, runs, gap_mb) = (arg(2, 1), arg(3, 100).max(1), arg(4, 64));
    let model = common::load(path);
    let session = common::session(&model, threads);
    let inputs = common::inputs(&session);
    let mut junk = vec![0u8; gap_mb << 20];
    let mut median = |gap: bool| {
        let mut times = Vec::with_capacity(runs);
        for r in 0..runs + 3 {
            if gap {
                // One write per cache line: every line of the buffer is brought in, dirty.
                for (i, b) in junk.iter_mut().enumerate().step_by(64) {
                    *b = b.wrapping_add(i as u8 | 1);
                }
                std::hint::black_box(&junk);
            }
            let x = inputs.clone();
            let start = Instant::now();
            session.run(x).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2);
            });
            if r >= 3 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let hot = median(false);
    let cold = median(true);
    println!(
        "{path}: {threads} thread(s), median of {runs}: {hot:.3} ms back to back, {cold:.3} ms \
         after {gap_mb} MiB of other writes ({:+.1}%)",
        (cold / hot - 1.0) * 100.0
    );
}
