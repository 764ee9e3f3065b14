//! PrunePlan: the decision as plain data — what to remove, why, and the predicted cost. Saved as
//! JSON (`--plan-out`), replayed on the same model (`--plan`), and compiled to a patch by
//! [`crate::apply`].

use crate::allocate::{AllocConfig, Allocation};
use crate::cost::Cost;
use crate::depgraph::DepGraph;
use crate::importance::{CriterionKind, Normalization, Reduction};
use crate::{PruneError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Plan format version written into every plan.
pub const PLAN_FORMAT: u32 = 1;

/// One group's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanGroup {
    pub id: usize,
    /// Root node name (checked on replay).
    pub root: String,
    /// Channels in the group before pruning.
    pub channels: usize,
    /// Positions (in the group's channel order) removed.
    pub removed: Vec<usize>,
}

/// A complete structured-pruning plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrunePlan {
    pub format: u32,
    /// The model file the plan was made for.
    pub model: String,
    /// Structure pattern ("channel").
    pub pattern: String,
    pub criterion: CriterionKind,
    pub reduction: Reduction,
    pub normalization: Normalization,
    pub seed: u64,
    pub allocation: AllocConfig,
    /// Concrete input shapes the plan was computed at.
    pub input_shapes: BTreeMap<String, Vec<i64>>,
    /// Groups that lose channels.
    pub groups: Vec<PlanGroup>,
    pub dense: Cost,
    pub predicted: Cost,
    /// Predicted latency, when the plan was made against a latency model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<PlanLatency>,
}

/// Latency as predicted when planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanLatency {
    /// The latency model (`measured with coprune's runtime on the host (1 thread)`).
    pub model: String,
    pub dense_ms: f64,
    pub predicted_ms: f64,
    /// Per node that takes time, in graph order: its predicted latency dense and pruned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerLatency>,
}

/// One node's predicted latency in the dense and in the pruned model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerLatency {
    pub node: String,
    pub dense_ms: f64,
    pub predicted_ms: f64,
}

impl LayerLatency {
    /// Every node's predicted latency under `lm`, dense and with `removed` units taken out
    /// (nodes predicted to take no time are left out).
    pub fn of(
        cm: &crate::cost::CostModel,
        removed: &[bool],
        lm: &dyn coprune_hw::LatencyModel,
    ) -> Vec<LayerLatency> {
        let mut layers = Vec::new();
        cm.for_each_node(&vec![false; removed.len()], &mut |n| {
            layers.push(LayerLatency {
                node: n.node.name.clone(),
                dense_ms: lm.node_ms(n),
                predicted_ms: 0.0,
            })
        });
        let mut pruned = std::collections::HashMap::new();
        cm.for_each_node(removed, &mut |n| {
            pruned.insert(n.node.name.clone(), lm.node_ms(n));
        });
        for l in &mut layers {
            l.predicted_ms = pruned.get(&l.node).copied().unwrap_or(0.0);
        }
        layers.retain(|l| l.dense_ms > 0.0 || l.predicted_ms > 0.0);
        layers
    }
}

/// Settings recorded in a plan next to the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSettings {
    pub model: String,
    pub criterion: CriterionKind,
    pub reduction: Reduction,
    pub normalization: Normalization,
    pub seed: u64,
    pub allocation: AllocConfig,
    pub input_shapes: BTreeMap<String, Vec<i64>>,
    /// Description of the latency model used, if any.
    pub latency_model: Option<String>,
    /// Per-layer predictions under that model (see [`LayerLatency::of`]).
    pub latency_layers: Vec<LayerLatency>,
}

impl PrunePlan {
    /// The plan of an allocation.
    pub fn new(dg: &DepGraph, alloc: &Allocation, s: PlanSettings) -> PrunePlan {
        let groups = dg
            .groups
            .iter()
            .filter_map(|g| {
                let removed: Vec<usize> = g
                    .units
                    .iter()
                    .enumerate()
                    .filter(|(_, &u)| alloc.removed[u])
                    .map(|(i, _)| i)
                    .collect();
                (!removed.is_empty()).then(|| PlanGroup {
                    id: g.id,
                    root: g.root.clone(),
                    channels: g.units.len(),
                    removed,
                })
            })
            .collect();
        PrunePlan {
            format: PLAN_FORMAT,
            model: s.model,
            pattern: "channel".into(),
            criterion: s.criterion,
            reduction: s.reduction,
            normalization: s.normalization,
            seed: s.seed,
            allocation: s.allocation,
            input_shapes: s.input_shapes,
            groups,
            dense: alloc.dense,
            predicted: alloc.pruned,
            latency: s.latency_model.zip(alloc.latency_ms).map(
                |(model, (dense_ms, predicted_ms))| PlanLatency {
                    model,
                    dense_ms,
                    predicted_ms,
                    layers: s.latency_layers,
                },
            ),
        }
    }

    /// The removed-unit flags of this plan on `dg`, checking that the plan fits the model.
    pub fn removed_units(&self, dg: &DepGraph) -> Result<Vec<bool>> {
        if self.format != PLAN_FORMAT {
            return Err(PruneError::Invalid(format!(
                "plan format {} is not supported (expected {PLAN_FORMAT})",
                self.format
            )));
        }
        let mut removed = vec![false; dg.num_units()];
        for pg in &self.groups {
            let g = dg
                .groups
                .get(pg.id)
                .filter(|g| g.root == pg.root && g.units.len() == pg.channels);
            let Some(g) = g else {
                return Err(PruneError::Invalid(format!(
                    "the plan's group {} (root `{}`, {} channels) does not exist in this model; was the plan made for another model?",
                    pg.id, pg.root, pg.channels
                )));
            };
            for &p in &pg.removed {
                match (g.units.get(p), g.blocked.get(p)) {
                    (Some(&u), Some(None)) => removed[u] = true,
                    (Some(_), Some(Some(why))) => {
                        return Err(PruneError::Invalid(format!(
                            "the plan removes channel {p} of group `{}`, which cannot be removed: {why}",
                            pg.root
                        )))
                    }
                    _ => {
                        return Err(PruneError::Invalid(format!(
                            "the plan removes channel {p} of group `{}`, which has {} channels",
                            pg.root,
                            g.units.len()
                        )))
                    }
                }
            }
        }
        Ok(removed)
    }
}
