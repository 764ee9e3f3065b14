//! Weight sharing: each layer's weights clustered by 1-D k-means into K shared values. The model
//! stores per layer a codebook (K floats) and one uint8 index per weight, and computes the weight
//! as `Gather(codebook, Cast(indices → int64))`: a valid ONNX graph that onnxruntime folds at
//! load, about 4× smaller on disk for f32 weights. Exact zeros keep a centroid of their own, so
//! sparsity survives. Deterministic: centroids start at quantiles of the sorted values.

use crate::sparsity::weights;
use crate::{PruneError, Result};
use coprune_ir::{AttrValue, DType, Model, Node, Patch, Tensor};
use serde::{Deserialize, Serialize};

/// Settings of a clustering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Shared values per layer (2..=256).
    pub clusters: usize,
    /// Nodes whose weights stay as they are.
    pub ignore: Vec<String>,
    /// Layers with fewer weights stay as they are (the codebook would not pay off).
    pub min_elements: usize,
}

/// One weight tensor as clustered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerCluster {
    pub node: String,
    pub tensor: String,
    pub elements: usize,
    /// Distinct values before and after.
    pub values_before: usize,
    pub values_after: usize,
    /// Root-mean-square change of the weights.
    pub rms_error: f64,
    pub skipped: Option<String>,
}

/// What a clustering did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReport {
    pub layers: Vec<LayerCluster>,
    /// Bytes of the clustered weights before (dense f32) and after (codebooks + indices).
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// 1-D k-means of `v` into at most `k` centroids: (centroids ascending, index of each value).
/// Zeros, when present, get the centroid 0.0 of their own.
pub fn kmeans_1d(v: &[f32], k: usize) -> (Vec<f32>, Vec<u8>) {
    assert!((1..=256).contains(&k));
    let has_zero = v.contains(&0.0);
    let mut sorted: Vec<f32> = v.iter().copied().filter(|&x| x != 0.0).collect();
    sorted.sort_by(f32::total_cmp);
    let free = if has_zero { k - 1 } else { k };
    let mut c: Vec<f32> = if sorted.is_empty() || free == 0 {
        Vec::new()
    } else {
        let n = free.min(sorted.len());
        (0..n)
            .map(|i| sorted[((2 * i + 1) * sorted.len()) / (2 * n)])
            .collect()
    };
    c.dedup();
    // Lloyd's iterations on the sorted non-zeros: each cluster is a contiguous run.
    for _ in 0..100 {
        if c.is_empty() {
            break;
        }
        let (mut sum, mut cnt) = (vec![0f64; c.len()], vec![0usize; c.len()]);
        let mut j = 0;
        for &x in &sorted {
            while j + 1 < c.len() && (x - c[j]).abs() > (x - c[j + 1]).abs() {
                j += 1;
            }
            sum[j] += x as f64;
            cnt[j] += 1;
        }
        let next: Vec<f32> = c
            .iter()
            .zip(sum.iter().zip(&cnt))
            .filter(|(_, (_, &n))| n > 0)
            .map(|(_, (&s, &n))| (s / n as f64) as f32)
            .collect();
        if next == c {
            break;
        }
        c = next;
    }
    if has_zero {
        c.push(0.0);
        c.sort_by(f32::total_cmp);
    }
    let idx = v
        .iter()
        .map(|&x| {
            if x == 0.0 && has_zero {
                return c.iter().position(|&y| y == 0.0).unwrap_or(0) as u8;
            }
            let p = c.partition_point(|&y| y < x);
            let best = match (p.checked_sub(1), (p < c.len()).then_some(p)) {
                (Some(a), Some(b)) if (x - c[a]).abs() <= (c[b] - x).abs() => a,
                (Some(a), None) => a,
                (_, Some(b)) => b,
                (None, None) => 0,
            };
            best as u8
        })
        .collect();
    (c, idx)
}

/// Clusters the weights of `model` and returns the patch (codebook and index initializers, a
/// Cast and a Gather per layer, consumers rewired) and a report.
pub fn cluster(model: &Model, cfg: &ClusterConfig) -> Result<(Patch, ClusterReport)> {
    if !(2..=256).contains(&cfg.clusters) {
        return Err(PruneError::Invalid(format!(
            "--cluster {} must be in 2..=256 (indices are one byte)",
            cfg.clusters
        )));
    }
    let ws = weights(model)?;
    let g = &model.graph;
    let names = |nodes: &[usize]| -> Vec<&str> {
        nodes.iter().map(|&i| g.nodes[i].display_name()).collect()
    };
    for name in &cfg.ignore {
        if !ws.iter().any(|w| names(&w.nodes).contains(&name.as_str())) {
            return Err(PruneError::Invalid(format!(
                "node `{name}` reads no weight (see `coprune analyze` for node names)"
            )));
        }
    }
    let mut patch = Patch::default();
    let mut report = ClusterReport {
        layers: Vec::new(),
        bytes_before: 0,
        bytes_after: 0,
    };
    let taken = |n: &str| {
        g.initializers.iter().any(|t| t.name == n)
            || g.nodes.iter().any(|x| x.outputs.iter().any(|o| o == n))
            || g.inputs.iter().any(|v| v.name == n)
    };
    let fresh = |base: String| {
        let mut n = base;
        while taken(&n) {
            n.push('_');
        }
        n
    };
    for w in &ws {
        let v = w.tensor.to_f32_vec()?;
        let mut distinct: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut layer = LayerCluster {
            node: names(&w.nodes).join(", "),
            tensor: w.name.clone(),
            elements: v.len(),
            values_before: distinct.len(),
            values_after: distinct.len(),
            rms_error: 0.0,
            skipped: None,
        };
        let skip = if names(&w.nodes)
            .iter()
            .any(|n| cfg.ignore.iter().any(|i| i == n))
        {
            Some("ignored".to_string())
        } else if w.tensor.dtype != DType::F32 {
            Some(format!("{:?} weights (f32 only)", w.tensor.dtype))
        } else if v.len() < cfg.min_elements {
            Some(format!(
                "{} weights, fewer than {}",
                v.len(),
                cfg.min_elements
            ))
        } else {
            None
        };
        if let Some(why) = skip {
            layer.skipped = Some(why);
            report.layers.push(layer);
            continue;
        }
        let (codebook, idx) = kmeans_1d(&v, cfg.clusters);
        let err: f64 = v
            .iter()
            .zip(&idx)
            .map(|(&x, &i)| ((x - codebook[i as usize]) as f64).powi(2))
            .sum::<f64>()
            / v.len() as f64;
        layer.values_after = codebook.len();
        layer.rms_error = err.sqrt();
        report.bytes_before += 4 * v.len() as u64;
        report.bytes_after += (4 * codebook.len() + idx.len()) as u64;
        report.layers.push(layer);
        let (cb, ix, ix64, out) = (
            fresh(format!("{}.codebook", w.name)),
            fresh(format!("{}.indices", w.name)),
            fresh(format!("{}.indices64", w.name)),
            fresh(format!("{}.clustered", w.name)),
        );
        patch.initializers.push(Tensor::from_f32(
            cb.clone(),
            vec![codebook.len() as u64],
            &codebook,
        )?);
        patch.initializers.push(Tensor::from_bytes(
            ix.clone(),
            DType::U8,
            w.tensor.dims.clone(),
            idx,
        )?);
        patch.nodes.push(
            Node::new(format!("{ix64}.cast"), "Cast", &[&ix], &[&ix64])
                .with_attr("to", AttrValue::Int(7)),
        );
        patch.nodes.push(
            Node::new(format!("{out}.gather"), "Gather", &[&cb, &ix64], &[&out])
                .with_attr("axis", AttrValue::Int(0)),
        );
        for (ni, n) in g.nodes.iter().enumerate() {
            for (k, inp) in n.inputs.iter().enumerate() {
                if *inp == w.name {
                    patch.inputs.push((ni, k, out.clone()));
                }
            }
        }
    }
    Ok((patch, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coprune_testutil::small_cnn;

    #[test]
    fn kmeans_finds_separated_clusters_and_keeps_zeros() {
        let v = [0.0, 1.0, 1.1, 0.9, -2.0, -2.1, 0.0, 5.0];
        let (c, idx) = kmeans_1d(&v, 4);
        assert_eq!(c.len(), 4);
        assert!(c.contains(&0.0));
        assert_eq!(idx[0], idx[6]);
        assert_eq!(c[idx[0] as usize], 0.0);
        assert!((c[idx[1] as usize] - 1.0).abs() < 1e-6);
        assert_eq!(idx[1], idx[2]);
        assert_eq!(idx[4], idx[5]);
        // Nearest centroid for everything.
        for (x, &i) in v.iter().zip(&idx) {
            let best = c
                .iter()
                .map(|y| (x - y).abs())
                .fold(f32::INFINITY, f32::min);
            assert_eq!((x - c[i as usize]).abs(), best);
        }
        // Fewer distinct values than clusters: exact.
        let (c, idx) = kmeans_1d(&[3.0, 3.0, -1.0], 16);
        assert_eq!(c, vec![-1.0, 3.0]);
        assert_eq!(idx, vec![1, 1, 0]);
    }

    #[test]
    fn clustered_models_compute_the_shared_weights() {
        let m = small_cnn(3);
        let cfg = ClusterConfig {
            clusters: 8,
            ignore: Vec::new(),
            min_elements: 0,
        };
        let (patch, r) = cluster(&m, &cfg).unwrap();
        let mut out = m.clone();
        patch.apply(&mut out).unwrap();
        assert!(r.layers.iter().all(|l| l.values_after <= 8));
        assert!(r.bytes_after * 3 < r.bytes_before);
        // Each clustered weight is now Gather(codebook, Cast(indices)).
        let gathers = out
            .graph
            .nodes
            .iter()
            .filter(|n| n.op_type == "Gather")
            .count();
        assert_eq!(
            gathers,
            r.layers.iter().filter(|l| l.skipped.is_none()).count()
        );
        assert!(out.graph.nodes.iter().all(|n| n.inputs.iter().all(|i| !r
            .layers
            .iter()
            .any(|l| l.skipped.is_none() && &l.tensor == i))));
        let bad = ClusterConfig {
            clusters: 300,
            ..cfg
        };
        assert!(cluster(&m, &bad).is_err());
    }
}
