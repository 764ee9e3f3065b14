//! End-to-end tests of the `coprune` binary.

use coprune_testutil::{assets_dir, fixtures_dir, shared_models_dir, small_cnn, temp_dir};
use std::path::Path;
use std::process::{Command, Output};

fn coprune(args: &[&str]) -> Output {
    // Measured latency tables go to a folder of the test run, not the user's cache.
    Command::new(env!("CARGO_BIN_EXE_coprune"))
        .args(args)
        .env(
            "COPRUNE_CACHE_DIR",
            std::env::temp_dir().join(format!("coprune-test-cache-{}", std::process::id())),
        )
        .output()
        .expect("run coprune")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).expect("valid JSON")
}

fn lenet_ref() -> &'static str {
    static P: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    P.get_or_init(lenet)
}

fn lenet() -> String {
    assets_dir().join("lenet5_mnist.onnx").display().to_string()
}

#[test]
fn analyze_lenet_matches_independent_counts() {
    // LeNet-5: 431,080 parameters (models/README.md); MACs by hand: conv1 20·24·24·25 = 288,000,
    // conv2 50·8·8·500 = 1,600,000, fc1 800·500 = 400,000, fc2 500·10 = 5,000.
    let v = json(&coprune(&["analyze", &lenet(), "--json"]));
    assert_eq!(v["totals"]["params"], 431_080);
    assert_eq!(v["totals"]["macs"], 2_293_000);
    assert_eq!(v["nodes"].as_array().unwrap().len(), 10);
    assert!(v["notes"][0].as_str().unwrap().contains("N set to 1"));

    let v = json(&coprune(&[
        "analyze",
        &lenet(),
        "--json",
        "--input-shape",
        "input=4x1x28x28",
    ]));
    assert_eq!(v["totals"]["macs"], 4 * 2_293_000);
    assert_eq!(v["notes"].as_array().unwrap().len(), 0);
}

#[test]
fn analyze_prints_a_table() {
    let o = coprune(&["analyze", &lenet()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("node") && out.contains("MACs"), "{out}");
    assert!(
        out.contains("/conv1/Conv") && out.contains("[1,20,24,24]"),
        "{out}"
    );
    assert!(out.contains("total: 10 nodes, 431.08k params"), "{out}");
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let dir = temp_dir("cli-bad");
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a model at all").unwrap();
    for args in [
        vec!["analyze".to_string(), garbage.display().to_string()],
        vec![
            "analyze".to_string(),
            dir.join("missing.onnx").display().to_string(),
        ],
        vec![
            "analyze".to_string(),
            lenet(),
            "--input-shape".into(),
            "nope=1x1x28x28".into(),
        ],
        vec![
            "analyze".to_string(),
            lenet(),
            "--input-shape".into(),
            "input=1x3x28x28".into(),
        ],
        vec![
            "analyze".to_string(),
            lenet(),
            "--input-shape".into(),
            "input".into(),
        ],
        vec![
            "analyze".to_string(),
            fixtures_dir().join("features.onnx").display().to_string(),
        ],
        vec!["frobnicate".to_string()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = coprune(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.trim().is_empty());
    }
    let o = coprune(&["analyze", &garbage.display().to_string()]);
    assert!(stderr(&o).contains("garbage.onnx"), "{}", stderr(&o));
    let o = coprune(&[
        "analyze",
        &fixtures_dir().join("features.onnx").display().to_string(),
    ]);
    assert!(
        stderr(&o).contains("Fancy") && stderr(&o).contains("custom"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn convert_round_trips_and_writes_external_data() {
    let dir = temp_dir("cli-convert");
    let src = dir.join("cnn.onnx");
    coprune::onnx::save(&small_cnn(5), &src, &Default::default()).unwrap();
    let out = dir.join("out.onnx");
    let v = json(&coprune(&[
        "convert",
        &src.display().to_string(),
        &out.display().to_string(),
        "--external-data-threshold",
        "64",
        "--json",
    ]));
    assert!(v["external_tensors"].as_u64().unwrap() >= 4);
    assert!(Path::new(v["external_file"].as_str().unwrap()).is_file());
    let back = coprune::onnx::load(&out).unwrap();
    let orig = coprune::onnx::load(&src).unwrap();
    assert_eq!(back.graph.nodes, orig.graph.nodes);
    for (a, b) in back.graph.initializers.iter().zip(&orig.graph.initializers) {
        assert_eq!(a.bytes(), b.bytes());
    }
    // A failed write leaves nothing behind.
    let o = coprune(&[
        "convert",
        &src.display().to_string(),
        &dir.join("no/such/dir.onnx").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.join("no").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn demo_runs() {
    let dir = temp_dir("cli-demo");
    let out = dir.join("demo");
    let o = coprune(&[
        "demo",
        "--out",
        &out.display().to_string(),
        "--epochs",
        "1",
        "--train-limit",
        "5000",
    ]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(text.contains("identical graph"), "{text}");
    // The last table: dense, pruned, pruned + fine-tuned, each with its accuracy.
    let acc = |row: &str| -> f64 {
        let line = text
            .lines()
            .rev()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no row {row}: {text}"));
        line.trim_end()
            .rsplit(' ')
            .next()
            .and_then(|v| v.trim_end_matches('%').parse().ok())
            .unwrap_or_else(|| panic!("no accuracy in {line}"))
    };
    // 5,000 images, one epoch: far above chance (≈ 92% measured), and fine-tuning recovers
    // from pruning.
    assert!(acc("dense (trained here)") > 85.0, "{text}");
    assert!(acc("pruned + fine-tuned") > 85.0, "{text}");
    for f in [
        "lenet5.onnx",
        "lenet5_pruned.onnx",
        "lenet5_pruned_finetuned.onnx",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn mnist_ref() -> &'static str {
    static P: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    P.get_or_init(mnist)
}

fn mnist() -> String {
    format!("mnist:{}", assets_dir().join("mnist").display())
}

#[test]
fn train_mlp_then_eval_agrees() {
    let dir = temp_dir("cli-train");
    let out = dir.join("mlp.onnx");
    let v = json(&coprune(&[
        "train",
        "--arch",
        "mlp",
        "--data",
        &mnist(),
        "-o",
        &out.display().to_string(),
        "--epochs",
        "2",
        "--limit",
        "4000",
        "--test-limit",
        "500",
        "--json",
    ]));
    let epochs = v["report"]["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    let (l1, l2) = (
        epochs[0]["loss"].as_f64().unwrap(),
        epochs[1]["loss"].as_f64().unwrap(),
    );
    assert!(l2 < l1, "loss {l1} → {l2}");
    let acc = epochs[1]["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.85, "{v}");
    // The written model, run by the runtime, gives the trainer's test accuracy.
    let e = json(&coprune(&[
        "eval",
        &out.display().to_string(),
        "--data",
        &mnist(),
        "--limit",
        "500",
        "--json",
    ]));
    assert!(
        (e["top1"].as_f64().unwrap() - acc).abs() < 1e-9,
        "{e} vs {acc}"
    );
    // Same seed, same bytes.
    let again = dir.join("again.onnx");
    let o = coprune(&[
        "train",
        "--arch",
        "mlp",
        "--data",
        &mnist(),
        "-o",
        &again.display().to_string(),
        "--epochs",
        "2",
        "--limit",
        "4000",
        "--test-limit",
        "500",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn finetune_with_a_teacher_and_bad_input() {
    let dir = temp_dir("cli-finetune");
    let (lenet, mnist) = (lenet(), mnist());
    let out = dir.join("ft.onnx");
    let outs = out.display().to_string();
    let v = json(&coprune(&[
        "finetune",
        &lenet,
        "--data",
        &mnist,
        "-o",
        &outs,
        "--limit",
        "640",
        "--test-limit",
        "200",
        "--teacher",
        &lenet,
        "--kd-temperature",
        "2",
        "--json",
    ]));
    assert_eq!(v["config"]["distill"]["temperature"], 2.0);
    assert!(
        v["report"]["epochs"][0]["test_accuracy"].as_f64().unwrap() > 0.95,
        "{v}"
    );
    assert!(out.is_file());
    std::fs::remove_file(&out).ok();
    let se = fixtures_dir()
        .join("prune/se_block.onnx")
        .display()
        .to_string();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![
                "train", "--arch", "resnet", "--data", "mnist:x", "-o", &outs,
            ],
            2,
            "valid: mlp, lenet5",
        ),
        (
            vec!["finetune", &lenet, "--data", &mnist, "-o", &outs, "--lr=-1"],
            2,
            "--lr",
        ),
        (
            vec!["finetune", &se, "--data", &mnist, "-o", &outs],
            2,
            "do not fit",
        ),
        (
            vec!["finetune", &lenet, "--data", "mnist:/no/such", "-o", &outs],
            2,
            "/no/such",
        ),
        // A learning rate that blows the weights up in the first epoch: stopped, nothing written.
        (
            vec![
                "finetune",
                &lenet,
                "--data",
                &mnist,
                "-o",
                &outs,
                "--lr",
                "1e30",
                "--limit",
                "640",
                "--schedule",
                "constant",
            ],
            1,
            "the loss became",
        ),
    ];
    for (args, code, msg) in cases {
        let o = coprune(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} wrote a model");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn real_models_analyze_to_reference_counts() {
    let Some(models) = shared_models_dir() else {
        return;
    };
    // Weight elements from models/README.md; MACs ≈ 1.82 G and 0.30 G (issue 2).
    for (name, params, macs_lo, macs_hi) in [
        (
            "resnet18.onnx",
            11_680_872u64,
            1_810_000_000u64,
            1_830_000_000u64,
        ),
        ("mobilenet_v2.onnx", 3_475_008, 295_000_000, 305_000_000),
        ("mlp_784_128_10_mnist.onnx", 101_770, 101_632, 101_632),
    ] {
        let path = models.join(name);
        let v = json(&coprune(&[
            "analyze",
            &path.display().to_string(),
            "--json",
        ]));
        assert_eq!(v["totals"]["params"], params, "{name}");
        let macs = v["totals"]["macs"].as_u64().unwrap();
        assert!((macs_lo..=macs_hi).contains(&macs), "{name}: {macs} MACs");
    }
}

#[test]
fn real_models_round_trip_through_the_ir() {
    let Some(models) = shared_models_dir() else {
        return;
    };
    let dir = temp_dir("cli-real");
    let mut entries: Vec<_> = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut n = 0;
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
    {
        let m = coprune::onnx::load(path).unwrap_or_else(|e| panic!("{e}"));
        let out = dir.join(path.file_name().unwrap());
        coprune::onnx::save(&m, &out, &Default::default()).unwrap();
        let back = coprune::onnx::load(&out).unwrap();
        assert!(
            back == m,
            "{}: round trip changed the model",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 4, "expected the reference models, found {n}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn prune_lenet_to_half_the_macs() {
    let dir = temp_dir("cli-prune");
    let out = dir.join("pruned.onnx");
    let plan = dir.join("plan.json");
    let v = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out.display().to_string(),
        "--target-macs",
        "0.5",
        "--plan-out",
        &plan.display().to_string(),
        "--json",
    ]));
    let dense = v["dense"]["macs"].as_f64().unwrap();
    let measured = v["measured"]["macs"].as_f64().unwrap();
    assert!(
        (measured / dense - 0.5).abs() <= 0.02,
        "{measured} of {dense}"
    );
    assert_eq!(v["measured"], v["predicted"]);
    // The written model re-analyses to the same figures.
    let a = json(&coprune(&["analyze", &out.display().to_string(), "--json"]));
    assert_eq!(a["totals"]["macs"], v["measured"]["macs"]);
    assert_eq!(a["totals"]["params"], v["measured"]["params"]);

    // Replaying the plan gives the same bytes; so does planning again (determinism).
    let out2 = dir.join("replayed.onnx");
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out2.display().to_string(),
        "--plan",
        &plan.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
    let out3 = dir.join("again.onnx");
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out3.display().to_string(),
        "--target-macs",
        "0.5",
    ]);
    assert!(o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out3).unwrap());

    // A plan for another model is refused.
    let mlp_plan = dir.join("bad-plan.json");
    std::fs::write(
        &mlp_plan,
        std::fs::read_to_string(&plan)
            .unwrap()
            .replace("\"root\": \"/conv1/Conv\"", "\"root\": \"/nope\""),
    )
    .unwrap();
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &dir.join("x.onnx").display().to_string(),
        "--plan",
        &mlp_plan.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not exist in this model"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn prune_errors_and_budgets() {
    let dir = temp_dir("cli-prune-bad");
    let out = dir.join("never.onnx");
    let o_s = out.display().to_string();
    // Impossible budget: exit 1, says what blocks it, writes nothing.
    let o = coprune(&["prune", &lenet(), "-o", &o_s, "--target-macs", "0.001"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot reach") && stderr(&o).contains("graph output"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    // Unknown criterion: usage error listing the valid ones.
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &o_s,
        "--ratio",
        "0.5",
        "--criterion",
        "magic",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("l1") && err.contains("fpgm") && err.contains("lamp"),
        "{err}"
    );
    // No target, no output, bad values.
    for args in [
        vec!["prune", &lenet(), "-o", &o_s],
        vec!["prune", &lenet(), "--ratio", "0.5"],
        vec!["prune", &lenet(), "-o", &o_s, "--ratio", "1.5"],
        vec![
            "prune",
            &lenet(),
            "-o",
            &o_s,
            "--ratio",
            "0.5",
            "--ignore",
            "no_such_node",
        ],
        vec![
            "prune",
            &lenet(),
            "-o",
            &o_s,
            "--ratio",
            "0.5",
            "--target-macs",
            "0.5",
        ],
    ] {
        let o = coprune(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    assert!(!out.exists());
    // Dry run prints the plan, writes nothing.
    let o = coprune(&["prune", &lenet(), "--dry-run", "--ratio", "0.3", "-o", &o_s]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("dry run"), "{}", stdout(&o));
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn prune_with_the_taylor_criterion_needs_data() {
    let dir = temp_dir("cli-taylor");
    let out = dir.join("t.onnx").display().to_string();
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--target-macs",
        "0.5",
        "--criterion",
        "taylor",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("needs calibration data"),
        "{}",
        stderr(&o)
    );
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--target-macs",
        "0.5",
        "--data",
        &mnist(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("data-driven"), "{}", stderr(&o));
    let v = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--target-macs",
        "0.5",
        "--criterion",
        "taylor",
        "--data",
        &mnist(),
        "--calib-samples",
        "256",
        "--json",
    ]));
    assert_eq!(v["plan"]["criterion"], "taylor", "{v}");
    let e = json(&coprune(&[
        "eval",
        &out,
        "--data",
        &mnist(),
        "--limit",
        "1000",
        "--json",
    ]));
    assert!(e["top1"].as_f64().unwrap() > 0.95, "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn block_sparsity_runs_on_sparse_kernels() {
    let dir = temp_dir("cli-block");
    let out = dir.join("b.onnx").display().to_string();
    let v = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--pattern",
        "block:4x1",
        "--sparsity",
        "0.75",
        "--json",
    ]));
    // conv2 (50 outputs) and fc2 (10) are not multiples of 4: left dense, with warnings.
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2, "{v}");
    let layers = v["layers"].as_array().unwrap();
    for (i, l) in layers.iter().enumerate() {
        let f = l["zeros_after"].as_f64().unwrap() / l["elements"].as_f64().unwrap();
        if i % 2 == 1 {
            assert!(l["skipped"].is_string() && f == 0.0, "{l}");
        } else {
            assert!((f - 0.75).abs() < 0.01, "{l}");
        }
    }
    // The runtime stores 4×1 blocks in its blocked format, and the outputs do not change.
    let b = json(&coprune(&[
        "bench", &out, "--runs", "2", "--warmup", "0", "--sparse", "on", "--json",
    ]));
    let sl = b["sparse_layers"].as_array().unwrap();
    assert_eq!(sl.len(), 2, "{b}");
    assert!(sl.iter().all(|l| l["format"] == "block4x1"), "{b}");
    let top1 = |mode: &str| {
        json(&coprune(&[
            "eval",
            &out,
            "--data",
            &mnist(),
            "--limit",
            "500",
            "--sparse",
            mode,
            "--json",
        ]))["top1"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(top1("on"), top1("off"));
    let o = coprune(&["bench", &out, "--runtime", "ort", "--sparse", "on"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--runtime coprune"), "{}", stderr(&o));
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--pattern",
        "block:1x0",
        "--sparsity",
        "0.5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("block:RxC"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sparse_initializers_shrink_the_file() {
    let dir = temp_dir("cli-sparse-init");
    let (pruned, small, back) = (
        dir.join("p.onnx").display().to_string(),
        dir.join("s.onnx").display().to_string(),
        dir.join("d.onnx").display().to_string(),
    );
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &pruned,
        "--pattern",
        "unstructured",
        "--sparsity",
        "0.9",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&coprune(&[
        "convert",
        &pruned,
        &small,
        "--sparse-initializers",
        "--json",
    ]));
    assert_eq!(v["sparse_initializers"], 4, "{v}");
    let (dense, sparse) = (
        v["sparse_dense_bytes"].as_f64().unwrap(),
        v["sparse_bytes"].as_f64().unwrap(),
    );
    // 10% non-zeros at 12 bytes each (value + int64 index) against 4 bytes per weight.
    assert!((dense / sparse - 4.0 / 1.2).abs() < 0.05, "{v}");
    assert!(v["model_bytes"].as_u64().unwrap() * 3 < v["input_bytes"].as_u64().unwrap());
    let top1 = |m: &str| {
        json(&coprune(&[
            "eval",
            m,
            "--data",
            &mnist(),
            "--limit",
            "300",
            "--json",
        ]))["top1"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(top1(&small), top1(&pruned));
    // Dense again: the same bytes as before.
    let o = coprune(&["convert", &small, &back, "--dense-initializers"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&pruned).unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compress_clusters_weights_into_a_codebook() {
    let dir = temp_dir("cli-compress");
    let out = dir.join("c.onnx").display().to_string();
    let v = json(&coprune(&[
        "compress",
        &lenet(),
        "-o",
        &out,
        "--cluster",
        "16",
        "--data",
        &mnist(),
        "--limit",
        "500",
        "--json",
    ]));
    let layers = v["layers"].as_array().unwrap();
    // conv1 has 500 weights: below --min-elements (1024), left as is.
    assert!(layers[0]["skipped"].is_string(), "{v}");
    for l in &layers[1..] {
        assert!(l["values_after"].as_u64().unwrap() <= 16, "{l}");
        assert!(l["values_before"].as_u64().unwrap() > 1000, "{l}");
    }
    let (before, after) = (
        v["file_bytes_before"].as_f64().unwrap(),
        v["file_bytes_after"].as_f64().unwrap(),
    );
    assert!(before / after > 3.5, "{v}");
    let (b, a) = (
        v["before"]["top1"].as_f64().unwrap(),
        v["after"]["top1"].as_f64().unwrap(),
    );
    assert!(a > b - 0.02, "{v}");
    // The written model runs (Gather/Cast folded at load) and gives what compress measured.
    let e = json(&coprune(&[
        "eval",
        &out,
        "--data",
        &mnist(),
        "--limit",
        "500",
        "--json",
    ]));
    assert_eq!(e["top1"].as_f64().unwrap(), a);
    for (k, msg) in [("1", "2..=256"), ("300", "2..=256")] {
        let o = coprune(&["compress", &lenet(), "-o", &out, "--cluster", k]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(msg), "{}", stderr(&o));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sensitivity_per_group_with_plot() {
    let dir = temp_dir("cli-sens");
    let (json_out, svg_out) = (
        dir.join("s.json").display().to_string(),
        dir.join("s.svg").display().to_string(),
    );
    let v = json(&coprune(&[
        "sensitivity",
        &lenet(),
        "--data",
        &mnist(),
        "--limit",
        "300",
        "--ratios",
        "0.5,0.95",
        "--target",
        "x86-avx2",
        "-o",
        &json_out,
        "--svg",
        &svg_out,
        "--json",
    ]));
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{v}");
    let dense = v["dense_top1"].as_f64().unwrap();
    let dense_ms = v["dense_latency_ms"].as_f64().unwrap();
    for g in groups {
        let pts = g["points"].as_array().unwrap();
        assert_eq!(pts.len(), 2);
        // Removing more channels costs MACs and predicted latency, never adds them.
        let (a, b) = (&pts[0], &pts[1]);
        assert!(a["macs"].as_f64().unwrap() < 1.0 && b["macs"].as_f64() < a["macs"].as_f64());
        assert!(b["latency_ms"].as_f64().unwrap() <= a["latency_ms"].as_f64().unwrap());
        assert!(a["latency_ms"].as_f64().unwrap() < dense_ms);
    }
    // conv1 (20 channels) at 95% keeps one channel: accuracy falls far below the dense model's.
    assert!(
        groups[0]["points"][1]["top1"].as_f64().unwrap() < dense - 0.1,
        "{v}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    assert_eq!(saved, v);
    let plot = std::fs::read_to_string(&svg_out).unwrap();
    assert!(plot.starts_with("<svg") && plot.contains("/conv2/Conv"));
    let o = coprune(&[
        "sensitivity",
        &lenet(),
        "--data",
        &mnist(),
        "--ratios",
        "0.5,1.5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("(0, 1)"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn memory_budget_for_an_mcu() {
    let dir = temp_dir("cli-memkb");
    let out = dir.join("m.onnx").display().to_string();
    let v = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--memory-kb",
        "256",
        "--json",
    ]));
    let params = v["measured"]["params"].as_f64().unwrap();
    assert!(params * 4.0 <= 256.0 * 1024.0, "{v}");
    assert!(params * 4.0 > 0.9 * 256.0 * 1024.0, "{v}");
    let a = json(&coprune(&["analyze", &out, "--json"]));
    assert_eq!(a["totals"]["params"].as_f64().unwrap(), params);
    for (args, code, msg) in [
        (vec!["--memory-kb", "4000"], 2, "nothing to prune"),
        (vec!["--memory-kb=-1"], 2, "must be positive"),
        (
            vec![
                "--memory-kb",
                "100",
                "--pattern",
                "unstructured",
                "--sparsity",
                "0.5",
            ],
            2,
            "cannot be used with",
        ),
    ] {
        let mut a = vec!["prune", lenet_ref(), "-o", &out];
        a.extend(args.iter().copied());
        let o = coprune(&a);
        assert_eq!(o.status.code(), Some(code), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{a:?}: {}", stderr(&o));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ram_budget_for_an_mcu() {
    // LeNet-5's peak of live activations is 90 KiB; 40 KiB must be met exactly (a hard limit),
    // and the written model re-analysed must show it.
    let dir = temp_dir("cli-ramkb");
    let out = dir.join("r.onnx").display().to_string();
    let v = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--ram-kb",
        "40",
        "--target",
        "arm-cortex-m7",
        "--json",
    ]));
    let peak = v["measured"]["peak_activation_bytes"].as_f64().unwrap();
    assert!(peak <= 40.0 * 1024.0 && peak > 20.0 * 1024.0, "{v}");
    assert_eq!(v["dense"]["peak_activation_bytes"], 90 * 1024, "{v}");
    let a = json(&coprune(&["analyze", &out, "--json"]));
    assert_eq!(a["totals"]["peak_activation_bytes"].as_f64().unwrap(), peak);
    let notes = v["notes"].to_string();
    assert!(notes.contains("of the target's 1024 KiB"), "{notes}");
    // Budgets the graph's own input and output exceed cannot be met; nothing is written.
    let bad = dir.join("bad.onnx");
    let o = coprune(&[
        "prune",
        lenet_ref(),
        "-o",
        bad.to_str().unwrap(),
        "--ram-kb",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("graph input"), "{}", stderr(&o));
    assert!(!bad.exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// Plan for half the latency of a stand-in board whose probe reports the model file's size in µs.
const SIZE_PROBE: [&str; 6] = [
    "--target",
    "arm-cortex-m7",
    "--probe",
    "stat -c '%s us' {model}",
    "--latency",
    "0.5",
];

#[test]
fn latency_measured_by_a_probe_command() {
    // A stand-in for a board reached over ssh: the "latency" is the model file's size in µs,
    // deterministic and growing with the channels. Every layer goes through the probe alone,
    // the table is calibrated to the whole model, and the written model is probed too.
    let dir = temp_dir("cli-probe");
    let out = dir.join("p.onnx").display().to_string();
    let lenet = lenet();
    let mut args = vec!["prune", &lenet, "-o", &out];
    args.extend(SIZE_PROBE);
    args.extend(["--no-latency-cache", "--json"]);
    let v = json(&coprune(&args));
    let l = &v["plan"]["latency"];
    assert!(l["model"].as_str().unwrap().contains("probe"), "{l}");
    let (d, p) = (
        l["dense_ms"].as_f64().unwrap(),
        l["predicted_ms"].as_f64().unwrap(),
    );
    assert!(p <= 0.5 * d * 1.02 && p >= 0.4 * d, "{d} → {p}");
    let measured = v["measured_latency_ms"].as_f64().unwrap();
    let size_ms = std::fs::metadata(&out).unwrap().len() as f64 / 1000.0;
    assert!(
        (measured - size_ms).abs() <= 0.01 * size_ms,
        "{measured} vs {size_ms}"
    );
    // A probe that fails, or one without {model}, is an error naming it; nothing is written.
    for (probe, msg) in [("false {model}", "exited with"), ("echo 1 ms", "{model}")] {
        let bad = dir.join("bad.onnx");
        let o = coprune(&[
            "prune",
            lenet_ref(),
            "-o",
            bad.to_str().unwrap(),
            "--target",
            "arm-cortex-m7",
            "--probe",
            probe,
            "--latency",
            "0.5",
            "--no-latency-cache",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{}", stderr(&o));
        assert!(!bad.exists());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_stored_latency_table_that_disagrees_is_measured_again() {
    // The probe's "latency" is the file size, so every figure is exact and a tampered table
    // (as if timed while the machine was loaded) is told apart from a good one.
    let dir = temp_dir("cli-stale-table");
    let cache = dir.join("cache");
    let run = || {
        let o = Command::new(env!("CARGO_BIN_EXE_coprune"))
            .args(["prune", &lenet()])
            .args(SIZE_PROBE)
            .args(["--dry-run", "--json"])
            .env("COPRUNE_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let v = json(&o);
        (
            v["plan"]["groups"].clone(),
            v["plan"]["latency"]["model"].as_str().unwrap().to_string(),
        )
    };
    let (fresh, _) = run();
    // A good table is used as it is.
    let (again, how) = run();
    assert_eq!(again, fresh);
    assert!(!how.contains("measured again"), "{how}");
    // The dense model's layers tripled, as if timed while the machine was busy: against them,
    // pruned layers look cheap. (A table off by one factor throughout is harmless: the
    // calibration to the whole model absorbs it.)
    let tables: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(tables.len(), 1, "{tables:?}");
    let text = std::fs::read_to_string(&tables[0]).unwrap();
    // Stores the table with each figure rewritten by `ms(figure, key)`, plans again, and checks
    // the plan says why it measured again and equals the fresh one.
    let replan_from = |ms: &dyn Fn(f64, &str) -> f64, why: &str| {
        let tampered: String = text
            .lines()
            .map(|l| {
                let (v, key) = l.split_once('\t').unwrap();
                format!("{}\t{key}\n", ms(v.parse().unwrap(), key))
            })
            .collect();
        assert_ne!(tampered, text);
        std::fs::write(&tables[0], tampered).unwrap();
        let (replanned, how) = run();
        assert!(how.contains(why) && how.contains("measured again"), "{how}");
        assert_eq!(replanned, fresh);
    };
    let dense = ["[20,1,5,5]", "[50,20,5,5]", "[500,800]", "[10,500]"];
    replan_from(
        &|v, key| {
            if dense.iter().any(|d| key.contains(d)) {
                3.0 * v
            } else {
                v
            }
        },
        "% off",
    );
    // The table on disk holds the re-measured figures, none of the tampered ones.
    let now = std::fs::read_to_string(&tables[0]).unwrap();
    let missing = text.lines().filter(|l| !now.contains(l)).count();
    assert_eq!(
        missing, 0,
        "{missing} figures of the fresh table are not back"
    );
    // A table of zeros (timed on a machine too busy to measure) is measured again too.
    replan_from(&|_, _| 0.0, "held no time");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn knapsack_allocation_meets_the_budget() {
    let dir = temp_dir("cli-knapsack");
    let out = dir.join("k.onnx").display().to_string();
    let plan = dir.join("k.json").display().to_string();
    let v = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--target-macs",
        "0.3",
        "--knapsack",
        "--plan-out",
        &plan,
        "--json",
    ]));
    let (d, p) = (
        v["dense"]["macs"].as_f64().unwrap(),
        v["measured"]["macs"].as_f64().unwrap(),
    );
    assert!(p <= 0.3 * 1.02 * d && p > 0.2 * d, "{d} → {p}");
    assert_eq!(v["plan"]["allocation"]["knapsack"], true, "{v}");
    // The saved plan replays to the same model.
    let again = dir.join("again.onnx").display().to_string();
    let r = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &again,
        "--plan",
        &plan,
        "--json",
    ]));
    assert_eq!(r["measured"], v["measured"]);
    let o = coprune(&[
        "prune",
        lenet_ref(),
        "-o",
        &out,
        "--knapsack",
        "--global",
        "--target-macs",
        "0.5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn prune_unstructured_and_n_m() {
    let dir = temp_dir("cli-sparse");
    let out = dir.join("s.onnx").display().to_string();
    let v = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--pattern",
        "unstructured",
        "--sparsity",
        "0.8",
        "--global",
        "--json",
    ]));
    assert!((v["sparsity"].as_f64().unwrap() - 0.8).abs() < 1e-4, "{v}");
    assert_eq!(v["layers"].as_array().unwrap().len(), 4);
    // Shapes unchanged: same parameter count, and it still classifies (global 80% magnitude
    // pruning of LeNet-5 costs little).
    let a = json(&coprune(&["analyze", &out, "--json"]));
    assert_eq!(a["totals"]["params"], 431_080);
    let e = json(&coprune(&[
        "eval",
        &out,
        "--data",
        &mnist(),
        "--limit",
        "1000",
        "--json",
    ]));
    assert!(e["top1"].as_f64().unwrap() > 0.95, "{e}");
    // Fine-tuning keeps the zeros.
    let ft = dir.join("ft.onnx").display().to_string();
    let f = json(&coprune(&[
        "finetune",
        &out,
        "--data",
        &mnist(),
        "-o",
        &ft,
        "--limit",
        "640",
        "--test-limit",
        "100",
        "--json",
    ]));
    let zeros = v["zeros"].as_u64().unwrap();
    assert_eq!(f["report"]["masked_weights"].as_u64().unwrap(), zeros);
    let again = json(&coprune(&[
        "prune",
        &ft,
        "--pattern",
        "unstructured",
        "--threshold",
        "0",
        "--dry-run",
        "--json",
    ]));
    assert_eq!(again["zeros"].as_u64().unwrap(), zeros, "{again}");
    // 2:4: conv1 has one input channel, so it is left dense with a warning; --strict refuses.
    let o = coprune(&["prune", &lenet(), "-o", &out, "--pattern", "2:4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("warning: ") && stdout(&o).contains("not a multiple of 4"));
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--pattern",
        "2:4",
        "--strict",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // 2:4 with the choice shared by 5 output channels (conv2: 50, fc: 500 and 10 outputs);
    // by 3, conv2's 50 outputs do not divide: left dense with a warning, refused with --strict.
    let lenet_path = lenet();
    let two_four = |extra: &[&str]| {
        let mut a = vec!["prune", &lenet_path, "-o", &out, "--pattern", "2:4"];
        a.extend_from_slice(extra);
        coprune(&a)
    };
    let shared = json(&two_four(&["--nm-rows", "5", "--json"]));
    let plain = json(&two_four(&["--json"]));
    assert_eq!(shared["zeros"], plain["zeros"], "{shared}");
    let o = two_four(&["--nm-rows", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("output-channel dim 50"),
        "{}",
        stdout(&o)
    );
    let o = two_four(&["--nm-rows", "3", "--strict"]);
    assert_eq!(o.status.code(), Some(2));
    for (args, msg) in [
        (vec!["--pattern", "3:2"], "supported: channel, unstructured"),
        (
            vec![
                "--pattern",
                "unstructured",
                "--sparsity",
                "0.5",
                "--nm-rows",
                "4",
            ],
            "--nm-rows applies to an N:M",
        ),
        (
            vec!["--pattern", "2:4", "--nm-rows", "0"],
            "needs at least one",
        ),
        (
            vec!["--pattern", "unstructured"],
            "--sparsity F or --threshold T",
        ),
        (
            vec!["--pattern", "unstructured", "--sparsity", "1.5"],
            "must be in [0, 1)",
        ),
        (
            vec!["--pattern", "2:4", "--sparsity", "0.5"],
            "fixes the sparsity",
        ),
        (
            vec![
                "--pattern",
                "unstructured",
                "--sparsity",
                "0.5",
                "--criterion",
                "fpgm",
            ],
            "fine-grained",
        ),
        (
            vec!["--pattern", "unstructured", "--target-macs", "0.5"],
            "--target-macs applies",
        ),
        (vec!["--sparsity", "0.5"], "apply to --pattern unstructured"),
    ] {
        let mut a = vec!["prune", lenet_ref(), "-o", &out];
        a.extend(args.iter().copied());
        let o = coprune(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{a:?}: {}", stderr(&o));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gradual_pruning_during_training() {
    let dir = temp_dir("cli-gradual");
    let mlp = dir.join("mlp.onnx").display().to_string();
    let o = coprune(&[
        "train",
        "--arch",
        "mlp",
        "--data",
        &mnist(),
        "-o",
        &mlp,
        "--limit",
        "3000",
        "--test-limit",
        "500",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.join("g.onnx").display().to_string();
    let v = json(&coprune(&[
        "prune",
        &mlp,
        "-o",
        &out,
        "--pattern",
        "unstructured",
        "--sparsity",
        "0.8",
        "--global",
        "--schedule",
        "gradual",
        "--steps",
        "3",
        "--data",
        &mnist(),
        "--json",
    ]));
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 3);
    // Cubic: 1 − (1 − t)³ of 80% at t = 1/3, 2/3, 1.
    let sp: Vec<f64> = rounds
        .iter()
        .map(|r| r["sparsity"].as_f64().unwrap())
        .collect();
    for (s, want) in sp.iter().zip([
        0.8 * (1.0 - (2.0f64 / 3.0).powi(3)),
        0.8 * (1.0 - (1.0f64 / 3.0).powi(3)),
        0.8,
    ]) {
        assert!((s - want).abs() < 1e-3, "{sp:?}");
    }
    assert!(rounds[2]["test_accuracy"].as_f64().unwrap() > 0.85, "{v}");
    // Channels, linear curve: MACs shrink every round and end at the target.
    let v = json(&coprune(&[
        "prune",
        &mlp,
        "-o",
        &out,
        "--target-macs",
        "0.5",
        "--schedule",
        "gradual",
        "--steps",
        "2",
        "--curve",
        "linear",
        "--data",
        &mnist(),
        "--json",
    ]));
    let macs: Vec<u64> = v["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["macs"].as_u64().unwrap())
        .collect();
    let dense = v["dense_macs"].as_u64().unwrap() as f64;
    assert!(macs[0] > macs[1], "{macs:?}");
    assert!((macs[1] as f64 / dense - 0.5).abs() < 0.02, "{macs:?}");
    let a = json(&coprune(&["analyze", &out, "--json"]));
    assert_eq!(a["totals"]["macs"].as_u64().unwrap(), macs[1]);
    // A latency budget: prune, fine-tune, re-measure (here a roofline, deterministic) per round.
    let v = json(&coprune(&[
        "prune",
        &mlp,
        "-o",
        &out,
        "--latency",
        "0.5",
        "--target",
        "x86-avx2",
        "--schedule",
        "gradual",
        "--steps",
        "2",
        "--data",
        &mnist(),
        "--json",
    ]));
    let ms: Vec<f64> = v["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["latency_ms"].as_f64().unwrap())
        .collect();
    let (dense_ms, budget) = (
        v["dense_latency_ms"].as_f64().unwrap(),
        v["budget_ms"].as_f64().unwrap(),
    );
    assert!((budget / dense_ms - 0.5).abs() < 1e-9, "{v}");
    assert!(ms.len() >= 2 && ms[0] < dense_ms && ms[1] < ms[0], "{v}");
    assert!(ms[ms.len() - 1] <= budget * 1.02, "{v}");
    assert_eq!(v["budget_met"], true);
    // A budget no plan can meet fails (exit 1) and writes nothing.
    let never = dir.join("never.onnx");
    let o = coprune(&[
        "prune",
        &mlp,
        "-o",
        never.to_str().unwrap(),
        "--latency-ms",
        "0.0000001",
        "--target",
        "x86-avx2",
        "--schedule",
        "gradual",
        "--steps",
        "2",
        "--data",
        &mnist(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!never.exists());
    for (args, msg) in [
        (
            vec![
                "--target-macs",
                "0.5",
                "--schedule",
                "gradual",
                "--max-iters",
                "3",
                "--data",
                mnist_ref(),
            ],
            "--max-iters applies",
        ),
        (
            vec!["--target-macs", "0.5", "--schedule", "gradual"],
            "give --data",
        ),
        (
            vec!["--target-macs", "0.5", "--steps", "3"],
            "apply to --schedule gradual",
        ),
        (
            vec![
                "--pattern",
                "2:4",
                "--schedule",
                "gradual",
                "--data",
                mnist_ref(),
            ],
            "channel and unstructured",
        ),
    ] {
        let mut a = vec!["prune", &mlp, "-o", &out];
        a.extend(args.iter().copied());
        let o = coprune(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{a:?}: {}", stderr(&o));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn profiles_and_latency_budgets() {
    let dir = temp_dir("cli-profile");
    // The host: detected and measured.
    let h = json(&coprune(&["profile", "--json"]));
    assert_eq!(h["name"], "host");
    assert_eq!(h["source"], "measured");
    assert!(h["peak_gflops"].as_f64().unwrap() > 0.1, "{h}");
    assert!(h["bandwidth_gbs"].as_f64().unwrap() > 0.1, "{h}");
    let list = stdout(&coprune(&["profile", "--list"]));
    for name in [
        "x86-avx2",
        "x86-avx512",
        "arm-cortex-a76",
        "arm-cortex-m7",
        "nvidia-ampere",
        "nvidia-hopper",
        "tpu-like",
    ] {
        assert!(list.contains(name), "{list}");
    }
    let o = coprune(&["profile", "--target", "no-such-device"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("x86-avx512"), "{}", stderr(&o));
    // A user's own profile: the TOML of a built-in one, renamed, with a 16-channel multiple.
    let toml = stdout(&coprune(&[
        "profile",
        "--target",
        "arm-cortex-a76",
        "--toml",
    ]))
    .replace("name = \"arm-cortex-a76\"", "name = \"my-board\"")
    .replace("channel_multiple = 4", "channel_multiple = 16");
    let file = dir.join("board.toml");
    std::fs::write(&file, toml).unwrap();
    let f = file.display().to_string();
    assert_eq!(
        json(&coprune(&["profile", "--target", &f, "--json"]))["name"],
        "my-board"
    );
    let out = dir.join("p.onnx").display().to_string();
    // Roofline on the user's board: 60% of the predicted latency, channel counts ×16.
    let v = json(&coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--target",
        &f,
        "--latency",
        "0.6",
        "--json",
    ]));
    let l = &v["plan"]["latency"];
    assert!(
        l["model"]
            .as_str()
            .unwrap()
            .contains("roofline on my-board"),
        "{v}"
    );
    let (d, p) = (
        l["dense_ms"].as_f64().unwrap(),
        l["predicted_ms"].as_f64().unwrap(),
    );
    assert!(p <= 0.6 * d * 1.02 && p < d, "{d} → {p}");
    // The plan records each layer's prediction; they add up to the totals, and the pruned
    // convolutions and GEMMs are predicted cheaper than dense.
    let layers = l["layers"].as_array().unwrap();
    let sum = |k: &str| layers.iter().map(|x| x[k].as_f64().unwrap()).sum::<f64>();
    assert!((sum("dense_ms") - d).abs() <= 1e-9 * d, "{l}");
    assert!((sum("predicted_ms") - p).abs() <= 1e-9 * d, "{l}");
    let conv = layers
        .iter()
        .find(|x| x["node"].as_str().unwrap().contains("conv2"))
        .expect("conv2 is listed");
    assert!(
        conv["predicted_ms"].as_f64() < conv["dense_ms"].as_f64(),
        "{conv}"
    );
    assert!(
        v.get("measured_latency_ms").is_none(),
        "a roofline is not measured: {v}"
    );
    assert_eq!(v["plan"]["allocation"]["round_to"], 16);
    for g in v["plan"]["groups"].as_array().unwrap() {
        let kept = g["channels"].as_u64().unwrap() - g["removed"].as_array().unwrap().len() as u64;
        assert_eq!(kept % 16, 0, "{g}");
    }
    // Measured on the host. LeNet-5's layers take microseconds, so timings under a loaded test
    // run are noisy: the plan either meets the budget and says what it measured, or reports
    // that it cannot (exit 1) — never anything else.
    let o = coprune(&[
        "prune",
        &lenet(),
        "-o",
        &out,
        "--target",
        "host",
        "--latency",
        "0.7",
        "--threads",
        "1",
        "--json",
    ]);
    match o.status.code() {
        Some(0) => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let l = &v["plan"]["latency"];
            assert!(l["model"].as_str().unwrap().contains("measured"), "{v}");
            assert!(
                l["predicted_ms"].as_f64().unwrap() <= 0.7 * 1.02 * l["dense_ms"].as_f64().unwrap(),
                "{l}"
            );
            // The written model is measured too, for the prediction error.
            assert!(v["measured_latency_ms"].as_f64().unwrap() > 0.0, "{v}");
        }
        Some(1) => assert!(stderr(&o).contains("predicted latency"), "{}", stderr(&o)),
        other => panic!("{other:?}: {}", stderr(&o)),
    }
    // Bad combinations.
    for (args, code, msg) in [
        (vec!["--latency", "0.5"], 2, "--target"),
        (
            vec![
                "--target",
                "arm-cortex-m7",
                "--latency-model",
                "measured",
                "--latency",
                "0.5",
            ],
            2,
            "measured latency needs the device",
        ),
        (
            vec!["--target", "x86-avx2", "--latency-ms", "1e9"],
            2,
            "nothing to prune",
        ),
        (
            vec!["--target", "x86-avx2", "--latency", "0.0001"],
            1,
            "predicted latency",
        ),
    ] {
        let mut a = vec!["prune", lenet_ref(), "-o", &out];
        a.extend(args.iter().copied());
        let o = coprune(&a);
        assert_eq!(o.status.code(), Some(code), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{a:?}: {}", stderr(&o));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn groups_lists_blocked_reasons() {
    let v = json(&coprune(&["groups", &lenet(), "--json"]));
    assert_eq!(v["prunable_groups"], 3);
    assert_eq!(v["prunable_channels"], 20 + 50 + 500);
    let text = stdout(&coprune(&["groups", &lenet()]));
    assert!(text.contains("graph output `logits`"), "{text}");
}

#[test]
fn normalisation_groups_are_reported_and_pruned() {
    let fx = |name: &str| {
        fixtures_dir()
            .join("prune")
            .join(name)
            .display()
            .to_string()
    };
    // GroupNormalization ties its groups' channels into units.
    let v = json(&coprune(&["groups", &fx("group_norm.onnx"), "--json"]));
    let g = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["root"] == "Conv_7")
        .unwrap();
    assert_eq!(
        (g["channels"].as_u64(), g["units"].as_u64()),
        (Some(24), Some(6))
    );
    // Across a LayerNormalization the group prunes, with a note that it renormalises.
    let dir = temp_dir("cli-layer-norm");
    let out = dir.join("ln.onnx");
    let o = coprune(&[
        "prune",
        &fx("layer_norm.onnx"),
        "-o",
        out.to_str().unwrap(),
        "--ratio",
        "0.25",
        "--json",
    ]);
    let v = json(&o);
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("renormalised")),
        "{v}"
    );
    assert_eq!(v["channels_removed"], 8, "{v}");
    assert!(out.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn real_models_prune_to_half_the_macs() {
    let Some(models) = shared_models_dir() else {
        return;
    };
    let dir = temp_dir("cli-real-prune");
    for name in [
        "resnet18",
        "mobilenet_v2",
        "lenet5_mnist",
        "mlp_784_128_10_mnist",
    ] {
        let out = dir.join(format!("{name}.onnx"));
        let v = json(&coprune(&[
            "prune",
            &models.join(format!("{name}.onnx")).display().to_string(),
            "-o",
            &out.display().to_string(),
            "--target-macs",
            "0.5",
            "--json",
        ]));
        let ratio = v["measured"]["macs"].as_f64().unwrap() / v["dense"]["macs"].as_f64().unwrap();
        assert!((ratio - 0.5).abs() <= 0.02, "{name}: {ratio}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_lenet_on_the_bundled_mnist_test_set() {
    let data = format!("mnist:{}", assets_dir().join("mnist").display());
    // onnxruntime gets 990 of the first 1,000 test images right (scripts/check_eval.py computes
    // the full-set figure in CI).
    let v = json(&coprune(&[
        "eval",
        &lenet(),
        "--data",
        &data,
        "--limit",
        "1000",
        "--json",
    ]));
    assert_eq!(v["samples"], 1000);
    assert!((v["top1"].as_f64().unwrap() - 0.990).abs() < 1e-9, "{v}");
    assert!(v["top5"].as_f64().unwrap() >= v["top1"].as_f64().unwrap());
    // Bad data specs and mismatched models are usage errors.
    for args in [
        vec![
            "eval".to_string(),
            lenet(),
            "--data".into(),
            "cifar99:/nowhere".into(),
        ],
        vec![
            "eval".to_string(),
            lenet(),
            "--data".into(),
            "mnist:/no/such/dir".into(),
        ],
        vec![
            "eval".to_string(),
            fixtures_dir()
                .join("prune/se_block.onnx")
                .display()
                .to_string(),
            "--data".into(),
            data.clone(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = coprune(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn bench_with_coprune_and_a_probe() {
    let v = json(&coprune(&[
        "bench",
        &lenet(),
        "--runs",
        "3",
        "--warmup",
        "1",
        "--json",
    ]));
    assert_eq!(v["runtime"], "coprune");
    assert!(v["runs"].as_u64().unwrap() >= 3);
    let (p10, med, p90) = (
        v["p10_ms"].as_f64().unwrap(),
        v["median_ms"].as_f64().unwrap(),
        v["p90_ms"].as_f64().unwrap(),
    );
    assert!(p10 > 0.0 && p10 <= med && med <= p90, "{v}");
    // A probe prints a latency; the model path is substituted.
    let v = json(&coprune(&[
        "bench",
        &lenet(),
        "--probe",
        "test -f {model} && echo 'latency: 12.5 ms'",
        "--runs",
        "2",
        "--json",
    ]));
    assert_eq!(v["median_ms"], 12.5);
    // A probe that prints no latency, or fails, is a clear error.
    let o = coprune(&["bench", &lenet(), "--probe", "echo hello {model}"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("printed no latency"), "{}", stderr(&o));
    let o = coprune(&["bench", &lenet(), "--probe", "exit 3 # {model}"]);
    assert_eq!(o.status.code(), Some(2));
    let o = coprune(&["bench", &lenet(), "--probe", "echo 1 ms"]);
    assert!(stderr(&o).contains("{model}"), "{}", stderr(&o));
}

#[test]
fn bench_with_the_users_onnxruntime() {
    // A missing library is a one-line hint, exit 2.
    let o = Command::new(env!("CARGO_BIN_EXE_coprune"))
        .args(["bench", &lenet(), "--runtime", "ort"])
        .env("ORT_DYLIB_PATH", "/no/such/libonnxruntime.so")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("ORT_DYLIB_PATH") && !stderr(&o).contains("panicked"),
        "{}",
        stderr(&o)
    );
    // Planning against onnxruntime latency needs the library too.
    let dir = temp_dir("cli-ort-plan");
    let out = dir.join("p.onnx").display().to_string();
    let plan = [
        "prune",
        lenet_ref(),
        "-o",
        &out,
        "--target",
        "host",
        "--latency-model",
        "measured-ort",
        "--latency",
        "0.7",
        "--threads",
        "1",
        "--json",
    ];
    let o = Command::new(env!("CARGO_BIN_EXE_coprune"))
        .args(plan)
        .env("ORT_DYLIB_PATH", "/no/such/libonnxruntime.so")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("ORT_DYLIB_PATH"), "{}", stderr(&o));
    // Where Python's onnxruntime is installed (CI installs it), it is found and measures.
    let has_ort = Command::new("python3")
        .args(["-c", "import onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_ort {
        // LeNet-5's layers are noisy to time (see profiles_and_latency_budgets): the plan meets
        // the budget and names onnxruntime, or reports that it cannot.
        let o = coprune(&plan);
        match o.status.code() {
            Some(0) => {
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                let m = v["plan"]["latency"]["model"].as_str().unwrap().to_string();
                assert!(m.contains("measured with onnxruntime"), "{m}");
            }
            Some(1) => assert!(stderr(&o).contains("predicted latency"), "{}", stderr(&o)),
            other => panic!("{other:?}: {}", stderr(&o)),
        }
        std::fs::remove_dir_all(&dir).ok();
        let o = Command::new(env!("CARGO_BIN_EXE_coprune"))
            .args([
                "bench",
                &lenet(),
                "--runtime",
                "ort",
                "--runs",
                "5",
                "--json",
            ])
            .env_remove("ORT_DYLIB_PATH")
            .output()
            .unwrap();
        let v = json(&o);
        assert!(
            v["runtime"].as_str().unwrap().starts_with("onnxruntime"),
            "{v}"
        );
        assert!(v["median_ms"].as_f64().unwrap() > 0.0);
    }
}
