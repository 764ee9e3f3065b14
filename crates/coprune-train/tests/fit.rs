//! The training loop on a small synthetic task: it learns, keeps pruned weights at zero,
//! rejects labels the model cannot output, and stops on a NaN loss with the last good weights.

use coprune_data::Dataset;
use coprune_train::arch::{build, Arch};
use coprune_train::loss::Distill;
use coprune_train::optim::Optimizer;
use coprune_train::schedule::LrSchedule;
use coprune_train::{fit, Params, TrainConfig, TrainError};

/// 784-pixel samples whose class is the brightest of 10 stripes.
fn stripes(n: usize) -> Dataset {
    let mut data = vec![0f32; n * 784];
    let mut labels = Vec::new();
    for i in 0..n {
        let c = (i * 7 + i / 3) % 10;
        for p in 0..784 {
            let noise = ((i * 31 + p * 17) % 13) as f32 / 13.0 - 0.5;
            data[i * 784 + p] = noise + if p / 78 == c { 2.0 } else { 0.0 };
        }
        labels.push(c as u32);
    }
    Dataset {
        sample_shape: vec![784],
        data,
        labels,
        classes: 10,
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch: 32,
        optimizer: Optimizer::adamw(0.0),
        lr: 1e-3,
        schedule: LrSchedule::Constant,
        seed: 1,
        keep_zeros: true,
        distill: None,
        sample_shape: vec![784],
        threads: 2,
    }
}

#[test]
fn learns_and_keeps_zeros() {
    let mut model = build(Arch::Mlp, 3).unwrap();
    // Zero a third of fc1's weights: they must stay zero through training.
    let w = model
        .graph
        .initializers
        .iter_mut()
        .find(|t| t.name == "fc1.weight")
        .unwrap();
    let mut v = w.to_f32_vec().unwrap();
    v.iter_mut().step_by(3).for_each(|x| *x = 0.0);
    *w = coprune_ir::Tensor::from_f32("fc1.weight", w.dims.clone(), &v).unwrap();
    let (train, test) = (stripes(640), stripes(200));
    let r = fit(
        &mut model,
        &train,
        Some(&test),
        None,
        &config(),
        &|_, _, _, _| {},
    )
    .unwrap();
    assert!(r.epochs[1].loss < r.epochs[0].loss, "{r:?}");
    assert!(r.epochs[1].test_accuracy.unwrap() > 0.9, "{r:?}");
    assert_eq!(r.masked_weights, v.iter().filter(|&&x| x == 0.0).count());
    let p = Params::from_model(&model).unwrap();
    let i = p.index("fc1.weight").unwrap();
    for (k, x) in p.values[i].data.iter().enumerate() {
        if k % 3 == 0 {
            assert_eq!(*x, 0.0, "pruned weight {k} grew back");
        }
    }
    // Distilling from itself works and changes nothing about the shapes.
    let teacher = model.clone();
    let mut cfg = config();
    cfg.epochs = 1;
    cfg.distill = Some(Distill {
        temperature: 2.0,
        weight: 0.5,
    });
    let r = fit(
        &mut model,
        &train,
        Some(&test),
        Some(&teacher),
        &cfg,
        &|_, _, _, _| {},
    )
    .unwrap();
    assert!(r.epochs[0].test_accuracy.unwrap() > 0.9);
}

#[test]
fn labels_out_of_range_are_refused() {
    let mut model = build(Arch::Mlp, 0).unwrap();
    let mut d = stripes(64);
    d.labels[5] = 12;
    let e = fit(&mut model, &d, None, None, &config(), &|_, _, _, _| {}).unwrap_err();
    assert!(
        matches!(&e, TrainError::Mismatch(m) if m.contains("label 12")),
        "{e}"
    );
}

#[test]
fn nan_loss_keeps_the_last_finished_epoch() {
    let mut model = build(Arch::Mlp, 0).unwrap();
    let before = Params::from_model(&model).unwrap();
    let mut cfg = config();
    cfg.lr = 1e30;
    let e = fit(
        &mut model,
        &stripes(256),
        None,
        None,
        &cfg,
        &|_, _, _, _| {},
    )
    .unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { epoch: 1, .. }), "{e}");
    // Nothing finished: the model holds its initial weights.
    let after = Params::from_model(&model).unwrap();
    assert_eq!(before.values, after.values);
}
