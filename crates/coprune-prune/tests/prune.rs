//! Structured pruning on built graphs, random graphs and export-shaped fixtures: the patched model
//! is consistent, infers, and costs exactly what the plan predicted; blocked channels stay.

use coprune_ir::analysis::analyze;
use coprune_ir::{infer, Dim, Model};
use coprune_prune::allocate::{allocate, AllocConfig, Target};
use coprune_prune::apply::{prune_model, Mode};
use coprune_prune::cost::{Cost, CostModel};
use coprune_prune::depgraph::{DepGraph, Role};
use coprune_prune::importance::{score_groups, CriterionKind, Normalization, Reduction};
use coprune_prune::plan::{PlanSettings, PrunePlan};
use coprune_testutil::{fixtures_dir, random_cnn, small_cnn};
use std::collections::HashMap;

fn shapes(m: &Model) -> HashMap<String, Vec<Dim>> {
    m.graph
        .inputs
        .iter()
        .filter_map(|v| {
            let (_, s) = coprune_ir::infer::declared_shape(&v.name, &v.ty)?;
            Some((
                v.name.clone(),
                s.iter().map(|d| d.substitute(&|_| Some(1))).collect(),
            ))
        })
        .collect()
}

/// Prunes `m` and checks the invariants; returns (dense, pruned, plan).
fn prune_and_check(m: &Model, cfg: &AllocConfig, crit: CriterionKind) -> (Cost, Cost, PrunePlan) {
    let s = shapes(m);
    let inf = infer(m, &s).unwrap();
    let dg = DepGraph::build(m, &inf);
    let cm = CostModel::new(m, &inf, &dg);
    let dense_a = analyze(m, &inf).unwrap();
    let dense = cm.eval(&vec![false; dg.num_units()]);
    assert_eq!(dense.macs, dense_a.totals.macs, "dense MACs prediction");
    assert_eq!(
        dense.params, dense_a.totals.params,
        "dense params prediction"
    );
    let scores = score_groups(
        m,
        &dg,
        crit.build(7).as_ref(),
        &Default::default(),
        Reduction::Mean,
        Normalization::Mean,
    );
    let alloc = allocate(m, &dg, &scores, &cm, cfg, None).unwrap();
    for g in &dg.groups {
        for (i, &u) in g.units.iter().enumerate() {
            if alloc.removed[u] {
                assert!(
                    g.blocked[i].is_none(),
                    "blocked unit removed in group {}",
                    g.root
                );
            }
        }
        assert!(
            g.units.iter().any(|&u| !alloc.removed[u]),
            "group {} emptied",
            g.root
        );
    }
    let pruned = prune_model(m, &dg, &alloc.removed, Mode::Remove).unwrap();
    let masked_for_export = prune_model(m, &dg, &alloc.removed, Mode::Mask).unwrap();
    export_pair(&pruned, &masked_for_export);
    pruned.graph.check_consistency().unwrap();
    let inf2 = infer(&pruned, &s).unwrap_or_else(|e| panic!("pruned model does not infer: {e}"));
    let a = analyze(&pruned, &inf2).unwrap();
    assert_eq!(a.totals.macs, alloc.pruned.macs, "predicted MACs");
    assert_eq!(a.totals.params, alloc.pruned.params, "predicted params");
    // The masked model keeps every shape.
    let masked = prune_model(m, &dg, &alloc.removed, Mode::Mask).unwrap();
    let inf3 = infer(&masked, &s).unwrap();
    let consts = m.graph.constants();
    for (name, f) in inf.facts.iter().filter(|(n, _)| !consts.contains_key(*n)) {
        assert_eq!(
            inf3.facts.get(name).map(|x| &x.shape),
            Some(&f.shape),
            "{name}"
        );
    }
    let plan = PrunePlan::new(
        &dg,
        &alloc,
        PlanSettings {
            latency_model: None,
            model: "m".into(),
            criterion: crit,
            reduction: Reduction::Mean,
            normalization: Normalization::Mean,
            seed: 7,
            allocation: cfg.clone(),
            input_shapes: Default::default(),
        },
    );
    // The plan survives JSON and replays to the same removal.
    let json = serde_json::to_string(&plan).unwrap();
    let back: PrunePlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back.removed_units(&dg).unwrap(), alloc.removed);
    (alloc.dense, alloc.pruned, plan)
}

/// With `COPRUNE_EXPORT_PAIRS=DIR`, every pruned/masked pair is written there so CI can check
/// invariant 2 (pruned ≡ masked outputs) numerically in onnxruntime (scripts/check_pairs.py).
fn export_pair(pruned: &Model, masked: &Model) {
    let Some(dir) = std::env::var_os("COPRUNE_EXPORT_PAIRS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tag = format!("{}-{k}", std::process::id());
    let opts = coprune_onnx::ExportOptions::default();
    coprune_onnx::save(pruned, &dir.join(format!("{tag}.pruned.onnx")), &opts).unwrap();
    coprune_onnx::save(masked, &dir.join(format!("{tag}.masked.onnx")), &opts).unwrap();
}

fn ratio(r: f64) -> AllocConfig {
    AllocConfig {
        target: Target::Ratio(r),
        ..AllocConfig::default()
    }
}

#[test]
fn small_cnn_groups() {
    let m = small_cnn(0);
    let inf = infer(&m, &shapes(&m)).unwrap();
    let dg = DepGraph::build(&m, &inf);
    let prunable: Vec<_> = dg.prunable_groups().collect();
    // conv1 and conv2 are tied by the residual add, the depthwise conv follows them: one group.
    assert_eq!(prunable.len(), 1, "{:#?}", dg.groups);
    let g = prunable[0];
    assert_eq!(g.units.len(), 8);
    let roles: Vec<Role> = g.members.iter().map(|&i| dg.members[i].role).collect();
    assert_eq!(roles.iter().filter(|r| **r == Role::Producer).count(), 3);
    assert!(roles.contains(&Role::Consumer));
    // The input and the logits are blocked with reasons.
    let reasons: Vec<&str> = dg
        .groups
        .iter()
        .flat_map(|g| g.blocked.iter().flatten())
        .map(String::as_str)
        .collect();
    assert!(reasons.iter().any(|r| r.contains("graph input")));
    assert!(reasons.iter().any(|r| r.contains("graph output")));
}

#[test]
fn small_cnn_prunes_by_ratio_and_targets() {
    let m = small_cnn(0);
    let (dense, pruned, plan) = prune_and_check(&m, &ratio(0.5), CriterionKind::L1);
    assert_eq!(plan.groups[0].removed.len(), 4);
    assert!(pruned.macs < dense.macs);
    for target in [Target::Macs(0.5), Target::Params(0.6)] {
        let cfg = AllocConfig {
            target,
            ..AllocConfig::default()
        };
        prune_and_check(&m, &cfg, CriterionKind::L2);
    }
}

#[test]
fn random_graphs_keep_the_invariants() {
    let crits = CriterionKind::ALL;
    for seed in 0..150u64 {
        let m = random_cnn(seed);
        let crit = crits[seed as usize % crits.len()];
        let cfg = AllocConfig {
            target: Target::Ratio([0.25, 0.5, 0.75][seed as usize % 3]),
            global: seed % 2 == 0,
            round_to: if seed % 5 == 0 { Some(2) } else { None },
            ..AllocConfig::default()
        };
        prune_and_check(&m, &cfg, crit);
    }
}

#[test]
fn export_shaped_fixtures_prune() {
    let dir = fixtures_dir().join("prune");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "onnx") {
            continue;
        }
        let m = coprune_onnx::load(&path).unwrap();
        let (dense, pruned, plan) = prune_and_check(&m, &ratio(0.5), CriterionKind::L1);
        assert!(
            !plan.groups.is_empty(),
            "{}: nothing pruned",
            path.display()
        );
        assert!(pruned.macs < dense.macs, "{}", path.display());
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn macs_target_is_met_within_two_percent() {
    for seed in [3u64, 8, 21] {
        let m = random_cnn(seed);
        let cfg = AllocConfig {
            target: Target::Macs(0.6),
            ..AllocConfig::default()
        };
        let s = shapes(&m);
        let inf = infer(&m, &s).unwrap();
        let dg = DepGraph::build(&m, &inf);
        let cm = CostModel::new(&m, &inf, &dg);
        let scores = score_groups(
            &m,
            &dg,
            &coprune_prune::importance::L1,
            &Default::default(),
            Reduction::Mean,
            Normalization::Mean,
        );
        match allocate(&m, &dg, &scores, &cm, &cfg, None) {
            Ok(a) => assert!(a.pruned.macs as f64 <= 0.6 * 1.02 * a.dense.macs as f64),
            Err(e) => assert!(e.to_string().contains("cannot reach"), "{e}"),
        }
    }
}

#[test]
fn impossible_budget_is_reported() {
    let m = small_cnn(0);
    let s = shapes(&m);
    let inf = infer(&m, &s).unwrap();
    let dg = DepGraph::build(&m, &inf);
    let cm = CostModel::new(&m, &inf, &dg);
    let scores = score_groups(
        &m,
        &dg,
        &coprune_prune::importance::L1,
        &Default::default(),
        Reduction::Mean,
        Normalization::Mean,
    );
    let cfg = AllocConfig {
        target: Target::Macs(0.01),
        ..AllocConfig::default()
    };
    let e = allocate(&m, &dg, &scores, &cm, &cfg, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot reach 1.0%") && e.contains("graph output"),
        "{e}"
    );
}

#[test]
fn a_sliced_range_never_loses_all_its_channels() {
    // slice_channels takes channels 4..12 of a 16-channel layer; at 90% the L1 order could
    // remove all eight of them.
    let m = coprune_onnx::load(&fixtures_dir().join("prune/slice_channels.onnx")).unwrap();
    for crit in CriterionKind::ALL {
        prune_and_check(&m, &ratio(0.9), crit);
    }
}

#[test]
fn same_inputs_same_plan() {
    let m = random_cnn(4);
    let (_, _, a) = prune_and_check(&m, &ratio(0.5), CriterionKind::Random);
    let (_, _, b) = prune_and_check(&m, &ratio(0.5), CriterionKind::Random);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}
