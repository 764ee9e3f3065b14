//! Patches: the one place where a graph is edited. Every stage that changes a model describes the
//! change as a [`Patch`]; [`Patch::apply`] performs it, removes what the change left unused, and
//! ends with [`Graph::check_consistency`].

use crate::{AttrValue, Graph, Model, Result, Tensor};
use std::collections::HashSet;

/// A set of edits to one graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    /// Initializers to add, or to replace when one of the same name exists.
    pub initializers: Vec<Tensor>,
    /// (node index, input index, new value name).
    pub inputs: Vec<(usize, usize, String)>,
    /// (node index, attribute name, new value or `None` to remove it).
    pub attrs: Vec<(usize, String, Option<AttrValue>)>,
    /// (node index, nodes that take its place, in order): the node is replaced after the edits
    /// above (a Slice that becomes a Gather). The last of them should write its outputs.
    pub replace: Vec<(usize, Vec<crate::Node>)>,
    /// Nodes to add at the front of the graph, after the edits above (whose node indices refer to
    /// the graph before). They may read only initializers, graph inputs and earlier added nodes.
    pub nodes: Vec<crate::Node>,
}

fn used_values(g: &Graph) -> HashSet<String> {
    g.nodes
        .iter()
        .flat_map(|n| n.inputs.iter().cloned())
        .chain(g.outputs.iter().map(|o| o.name.clone()))
        .filter(|v| !v.is_empty())
        .collect()
}

impl Patch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.initializers.is_empty()
            && self.inputs.is_empty()
            && self.attrs.is_empty()
            && self.replace.is_empty()
            && self.nodes.is_empty()
    }

    /// Applies the edits. Initializers, `Constant` and `Identity` nodes that were used before and
    /// are unused after are removed; nothing else is.
    pub fn apply(self, model: &mut Model) -> Result<()> {
        let g = &mut model.graph;
        let used_before = used_values(g);
        for t in self.initializers {
            match g.initializers.iter_mut().find(|x| x.name == t.name) {
                Some(slot) => *slot = t,
                None => g.initializers.push(t),
            }
        }
        for (n, i, v) in self.inputs {
            let Some(node) = g.nodes.get_mut(n) else {
                crate::bail!(
                    "patch names node #{n}, but the graph has {} nodes",
                    g.nodes.len()
                );
            };
            if i == node.inputs.len() {
                node.inputs.push(v); // a new optional input (e.g. Split sizes)
            } else if let Some(slot) = node.inputs.get_mut(i) {
                *slot = v;
            } else {
                crate::bail!(
                    "patch names input {i} of node `{}`, which it lacks",
                    node.display_name()
                );
            }
        }
        for (n, name, value) in self.attrs {
            let Some(node) = g.nodes.get_mut(n) else {
                crate::bail!(
                    "patch names node #{n}, but the graph has {} nodes",
                    g.nodes.len()
                );
            };
            match value {
                Some(v) => node.set_attr(&name, v),
                None => node.attrs.retain(|a| a.name != name),
            }
        }
        if !self.replace.is_empty() {
            let mut with: std::collections::HashMap<usize, Vec<crate::Node>> =
                std::collections::HashMap::new();
            for (n, nodes) in self.replace {
                if n >= g.nodes.len() {
                    crate::bail!(
                        "patch replaces node #{n}, but the graph has {} nodes",
                        g.nodes.len()
                    );
                }
                with.insert(n, nodes);
            }
            let old = std::mem::take(&mut g.nodes);
            for (i, node) in old.into_iter().enumerate() {
                match with.remove(&i) {
                    Some(new) => g.nodes.extend(new),
                    None => g.nodes.push(node),
                }
            }
        }
        if !self.nodes.is_empty() {
            let mut nodes = self.nodes;
            nodes.append(&mut g.nodes);
            g.nodes = nodes;
        }
        // Remove what the edits orphaned, to a fixed point (an Identity alias of a replaced
        // weight, then the weight it aliased).
        loop {
            let used = used_values(g);
            let before = g.nodes.len() + g.initializers.len();
            g.nodes.retain(|n| {
                let orphaned = matches!(n.op_type.as_str(), "Identity" | "Constant")
                    && n.outputs
                        .iter()
                        .all(|o| !used.contains(o) && used_before.contains(o));
                !orphaned
            });
            let inputs: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
            // Keep an initializer that is still read, is a graph input's default, or was never
            // read to begin with (not ours to remove).
            g.initializers.retain(|t| {
                used.contains(&t.name)
                    || inputs.contains(t.name.as_str())
                    || !used_before.contains(&t.name)
            });
            if g.nodes.len() + g.initializers.len() == before {
                break;
            }
        }
        g.check_consistency()
    }
}
