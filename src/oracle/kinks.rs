//! Where the function may be at a kink: the arguments of gates with kinks (`relu`) whose sign
//! is not certain.
//!
//! An argument's sign decides which side's slope the function has. The oracles' own forward
//! value is off by at most its error bound, and the engine's by at most its own (in its
//! precision, its order of summation): where `|y|` is within the sum of the two, the engine
//! may have taken either side, and the exact function may be at the kink itself. There the
//! oracles do not take a slope: forward mode carries the hull of both sides' tangents
//! (`oracle::forward_mode`), and a claim anywhere in it passes, as SPEC §7's "Kinks" asks.
//! A step of the central difference that crosses 0 is bounded by the difference's own arm
//! (`oracle::delta`).

use crate::function::Function;
use crate::graph::{Graph, NodeId, Operation, Values};
use crate::tolerance::ForwardErrors;

/// Per gate with kinks: for each entry of its argument, how far from a kink the argument may
/// lie and still be on either side of it.
#[derive(Clone, Debug, Default)]
pub struct KinkBands {
    by_node: Vec<Option<Vec<f64>>>,
    /// Per node: whether some entry of a gate with kinks lies within its band.
    uncertain: Vec<bool>,
}

impl KinkBands {
    /// The bands from the oracles' own error bounds and, where an engine is checked, the
    /// engine's forward error bounds.
    pub fn new(
        graph: &Graph,
        values: &Values,
        own: &ForwardErrors,
        engine: Option<&ForwardErrors>,
    ) -> KinkBands {
        // Empty until a gate with kinks is met: a graph without one (every graph of the four
        // gates) allocates nothing here.
        let mut bands = KinkBands::default();
        for id in graph.ids() {
            let &Operation::Unary(op, s) = graph.operation(id) else {
                continue;
            };
            let Some(function) = Function::of(op).filter(|f| f.has_kinks()) else {
                continue;
            };
            if bands.by_node.is_empty() {
                bands.by_node = vec![None; graph.len()];
                bands.uncertain = vec![false; graph.len()];
            }
            let (y, e_own) = (values.entries(s), own.of(s));
            let band: Vec<f64> = (0..y.len())
                .map(|k| e_own[k] + engine.map_or(0.0, |e| e.of(s)[k]))
                .collect();
            bands.uncertain[id.0] = (0..y.len()).any(|k| function.kink_within(y[k], band[k]));
            bands.by_node[id.0] = Some(band);
        }
        bands
    }

    /// The band of entry `k` of the argument of `node`, a gate with kinks (0 elsewhere).
    pub fn band(&self, node: NodeId, k: usize) -> f64 {
        self.by_node
            .get(node.0)
            .and_then(|band| band.as_ref())
            .map_or(0.0, |band| band[k])
    }

    /// Whether some argument of gate `node` may be on either side of a kink.
    pub fn is_uncertain(&self, node: NodeId) -> bool {
        self.uncertain.get(node.0).copied().unwrap_or(false)
    }

    /// The first gate downstream of `leaf` with an argument on either side of a kink.
    pub fn first_reached(&self, graph: &Graph, leaf: NodeId) -> Option<NodeId> {
        if !self.uncertain.contains(&true) {
            return None;
        }
        graph
            .downstream(leaf)
            .iter()
            .copied()
            .find(|&node| self.is_uncertain(node))
    }
}
