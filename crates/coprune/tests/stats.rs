//! Activation statistics against a direct computation.

use coprune::data::{DataSpec, Split};
use coprune::train::{build, Arch, Calibration};
use coprune_testutil::assets_dir;

#[test]
fn activation_norms_of_the_input_and_a_hidden_layer() {
    let model = build(Arch::Mlp, 1).unwrap();
    let data = DataSpec::Mnist(assets_dir().join("mnist"));
    let cal = Calibration {
        data: data.clone(),
        normalize: None,
        samples: 100,
        batch: 32,
        threads: 1,
    };
    let norms = coprune::stats::activation_norms(&model, "mlp", &cal).unwrap();
    // fc1 reads the input: ‖X_j‖ over the 100 samples, per pixel.
    let mut d = data.load(Split::Train, data.default_normalize()).unwrap();
    d.truncate(100);
    let got = &norms["input"];
    assert_eq!(got.len(), 784);
    for j in [0usize, 300, 405, 783] {
        let want = (0..100)
            .map(|i| (d.data[i * 784 + j] as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            (got[j] as f64 - want).abs() <= 1e-4 * want.max(1.0),
            "{j}: {} vs {want}",
            got[j]
        );
    }
    // fc2 reads relu1's output: 128 non-negative norms, some positive.
    let hidden = &norms["relu1_out"];
    assert_eq!(hidden.len(), 128);
    assert!(hidden.iter().all(|&v| v >= 0.0) && hidden.iter().any(|&v| v > 0.0));
}
