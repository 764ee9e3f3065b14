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
    assert_eq!(
        dense.peak_activation_bytes, dense_a.totals.peak_activation_bytes,
        "dense peak activation prediction"
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
    // Pruning across a LayerNormalization's channels renormalises the kept ones: not a mask.
    let exact = dg
        .groups
        .iter()
        .all(|g| g.renormalized.is_empty() || g.units.iter().all(|&u| !alloc.removed[u]));
    if exact {
        export_pair(&pruned, &masked_for_export);
    }
    pruned.graph.check_consistency().unwrap();
    let inf2 = infer(&pruned, &s).unwrap_or_else(|e| panic!("pruned model does not infer: {e}"));
    let a = analyze(&pruned, &inf2).unwrap();
    assert_eq!(a.totals.macs, alloc.pruned.macs, "predicted MACs");
    assert_eq!(a.totals.params, alloc.pruned.params, "predicted params");
    assert_eq!(
        a.totals.peak_activation_bytes, alloc.pruned.peak_activation_bytes,
        "predicted peak activation memory"
    );
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
            latency_layers: Vec::new(),
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
    assert_eq!(n, 11);
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
fn knapsack_meets_the_budget_removing_the_least_importance() {
    // The knapsack chooses per-group counts; it must meet the budget like the other modes and,
    // as it minimises the removed importance for the budget, remove no more of it than the
    // uniform (local) plan, on these graphs. Its plans keep the invariants (prune_and_check).
    let mut compared = 0;
    for seed in 0u64..40 {
        let m = random_cnn(seed);
        let s = shapes(&m);
        let inf = infer(&m, &s).unwrap();
        let dg = DepGraph::build(&m, &inf);
        let cm = CostModel::new(&m, &inf, &dg);
        if cm.eval(&vec![false; dg.num_units()]).macs == 0 {
            continue; // symbolic spatial sizes: nothing to budget
        }
        let scores = score_groups(
            &m,
            &dg,
            &coprune_prune::importance::L1,
            &Default::default(),
            Reduction::Mean,
            Normalization::Mean,
        );
        let removed_score = |removed: &[bool]| -> f64 {
            dg.groups
                .iter()
                .flat_map(|g| g.units.iter().enumerate().map(move |(i, &u)| (g.id, i, u)))
                .filter(|&(_, _, u)| removed[u])
                .map(|(g, i, _)| scores[g][i] as f64)
                .sum()
        };
        for target in [Target::Macs(0.6), Target::Params(0.5)] {
            let local = AllocConfig {
                target,
                ..AllocConfig::default()
            };
            let knap = AllocConfig {
                knapsack: true,
                ..local.clone()
            };
            let (Ok(a), Ok(k)) = (
                allocate(&m, &dg, &scores, &cm, &local, None),
                allocate(&m, &dg, &scores, &cm, &knap, None),
            ) else {
                continue;
            };
            let (goal, got) = match target {
                Target::Macs(f) => (f * k.dense.macs as f64, k.pruned.macs as f64),
                Target::Params(f) => (f * k.dense.params as f64, k.pruned.params as f64),
                _ => unreachable!(),
            };
            assert!(got <= goal * 1.02, "seed {seed} {target:?}: {got} > {goal}");
            assert!(
                removed_score(&k.removed) <= removed_score(&a.removed) + 1e-6,
                "seed {seed} {target:?}: knapsack removed {} vs local {}",
                removed_score(&k.removed),
                removed_score(&a.removed)
            );
            prune_and_check(&m, &knap, CriterionKind::L1);
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} comparisons ran");
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

/// Prunes exactly `gone` (positions in the channel order of group `root`) from a fixture, checks
/// the pruned model infers and exports the pair for CI's numeric check; returns it.
fn remove_exactly(fixture: &str, root: &str, gone: &[usize]) -> Model {
    let m = coprune_onnx::load(&fixtures_dir().join("prune").join(fixture)).unwrap();
    let s = shapes(&m);
    let inf = infer(&m, &s).unwrap();
    let dg = DepGraph::build(&m, &inf);
    let grp = dg.groups.iter().find(|g| g.root == root).unwrap();
    let mut removed = vec![false; dg.num_units()];
    for &p in gone {
        removed[grp.units[p]] = true;
    }
    let pruned = prune_model(&m, &dg, &removed, Mode::Remove).unwrap();
    let masked = prune_model(&m, &dg, &removed, Mode::Mask).unwrap();
    pruned.graph.check_consistency().unwrap();
    let inf2 = infer(&pruned, &s).unwrap_or_else(|e| panic!("{fixture} {gone:?}: {e}"));
    let predicted = CostModel::new(&m, &inf, &dg).eval(&removed);
    assert_eq!(analyze(&pruned, &inf2).unwrap().totals.macs, predicted.macs);
    export_pair(&pruned, &masked);
    pruned
}

fn ops(m: &Model) -> Vec<&str> {
    m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

#[test]
fn strided_slices_follow_any_removal() {
    // slice_steps takes channels 1, 3, …, 15 of Conv_3 and, in a second Slice that also takes
    // every other row, 15, 13, …, 1. Removing 1 and 3 leaves the odd ones evenly spaced (new
    // step 2 from position 3; the reversed ones step -2 from 13).
    let m = remove_exactly("slice_steps.onnx", "Conv_3", &[1, 3]);
    assert_eq!(ops(&m).iter().filter(|o| **o == "Gather").count(), 0);
    let odd = m.graph.nodes.iter().find(|n| n.name == "Slice_5").unwrap();
    let consts = m.graph.constants();
    let bounds: Vec<Vec<i64>> = (1..5)
        .map(|i| consts[odd.input(i).unwrap()].to_i64_vec().unwrap())
        .collect();
    assert_eq!(bounds, vec![vec![3], vec![14], vec![1], vec![2]]);
    let rev = m.graph.nodes.iter().find(|n| n.name == "Slice_10").unwrap();
    let bounds: Vec<Vec<i64>> = (1..5)
        .map(|i| consts[rev.input(i).unwrap()].to_i64_vec().unwrap())
        .collect();
    assert_eq!(bounds[0], vec![13, 0]);
    assert_eq!(bounds[1][0], 2);
    assert_eq!(bounds[3], vec![-2, 2]);
    // Removing 5 breaks the spacing: Gathers take the channels instead, the second one ahead of
    // a Slice that still takes every other row.
    let m = remove_exactly("slice_steps.onnx", "Conv_3", &[5]);
    let gathers: Vec<_> = m
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "Gather")
        .collect();
    assert_eq!(gathers.len(), 2, "{:?}", ops(&m));
    assert_eq!(
        consts_i64(&m, gathers[0].input(1).unwrap()),
        vec![1, 3, 6, 8, 10, 12, 14]
    );
    assert_eq!(
        consts_i64(&m, gathers[1].input(1).unwrap()),
        vec![14, 12, 10, 8, 6, 3, 1]
    );
    assert_eq!(ops(&m).iter().filter(|o| **o == "Slice").count(), 1);
    // Every other position everywhere: still evenly spaced for both.
    let m = remove_exactly("slice_steps.onnx", "Conv_3", &[0, 2, 4, 6, 8, 10, 12, 14]);
    assert!(!ops(&m).contains(&"Gather"));
}

fn consts_i64(m: &Model, name: &str) -> Vec<i64> {
    m.graph.constants()[name].to_i64_vec().unwrap()
}

#[test]
fn group_norm_loses_whole_groups() {
    // 24 channels in 6 groups of 4: the group's units are whole GroupNormalization groups.
    let m = coprune_onnx::load(&fixtures_dir().join("prune/group_norm.onnx")).unwrap();
    let inf = infer(&m, &shapes(&m)).unwrap();
    let dg = DepGraph::build(&m, &inf);
    let grp = dg.groups.iter().find(|g| g.root == "Conv_7").unwrap();
    assert_eq!(grp.units.len(), 6);
    let pruned = remove_exactly("group_norm.onnx", "Conv_7", &[1, 4]);
    let gn = pruned
        .graph
        .nodes
        .iter()
        .find(|n| n.op_type == "GroupNormalization")
        .unwrap();
    assert_eq!(gn.attr_int("num_groups", 0).unwrap(), 4);
    let scale = &pruned.graph.constants()[gn.input(1).unwrap()];
    assert_eq!(scale.dims, vec![16]);
}

#[test]
fn grouped_and_depthwise_conv_transpose_prune() {
    // ConvTranspose_7: group 4, 16 → 12 channels; ConvTranspose_9 is depthwise (12 → 24).
    let pruned = remove_exactly("convtranspose_grouped.onnx", "ConvTranspose_7", &[2]);
    let ct: Vec<_> = pruned
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "ConvTranspose")
        .collect();
    let consts = pruned.graph.constants();
    assert_eq!(ct[0].attr_int("group", 1).unwrap(), 4);
    assert_eq!(consts[ct[0].input(1).unwrap()].dims, vec![16, 2, 2, 2]);
    assert_eq!(ct[1].attr_int("group", 1).unwrap(), 8);
    assert_eq!(consts[ct[1].input(1).unwrap()].dims, vec![8, 2, 3, 3]);
    assert_eq!(consts[ct[1].input(2).unwrap()].dims, vec![16]);
    // Input position 1 of each of Conv_3's four groups of four.
    let pruned = remove_exactly("convtranspose_grouped.onnx", "Conv_3", &[1]);
    let ct = pruned
        .graph
        .nodes
        .iter()
        .find(|n| n.op_type == "ConvTranspose")
        .unwrap();
    assert_eq!(
        pruned.graph.constants()[ct.input(1).unwrap()].dims,
        vec![12, 3, 2, 2]
    );
}
