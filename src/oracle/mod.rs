//! The oracles: numeric `dE/d(leaf entry)` from the forward function alone, never from a
//! backward rule or an engine.
//!
//! - [`difference`] (primary): the central difference `(E(θ+h) − E(θ−h)) / 2h`, computed
//!   without cancellation: instead of two losses that are subtracted, each side's change
//!   `E(θ±h) − E(θ)` is carried through the perturbed leaf's downstream cone ([`delta`]),
//!   from the unperturbed point ([`base`]), with rules that are exact algebra. What remains
//!   is truncation, `h²E'''/6`, which the step `h = 1e-7·|θ|` makes tiny, and
//!   round-off, which the same pass bounds by a running error analysis of its own
//!   arithmetic ([`crate::tolerance`]).
//! - [`forward_mode`] (second): forward-mode differentiation with dual numbers, exact up to
//!   round-off and free of any step. It is asked about every entry the primary flags, and
//!   about any entry where the primary's own error estimate is too large for a verdict.
//! - [`precise`] (third): forward mode again, in double-double arithmetic
//!   ([`crate::function::double_double`]), asked only where the engine's allowance is tighter than what the
//!   other two can vouch for.

pub mod base;
pub mod delta;
pub mod difference;
pub mod forward_mode;
pub mod kinks;
pub mod precise;

use crate::graph::{Graph, NodeId, Values};

/// The relative step of the central difference. Round-off no longer grows as `ε/h` (the
/// difference is carried, not computed by subtraction), so the step only has to keep the
/// truncation error `h²E'''/6` small.
pub const RELATIVE_STEP: f64 = 1e-8;

/// A numeric derivative with its error estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The numeric derivative.
    pub derivative: f64,
    /// Truncation error estimate: `|D(h) − D(2h)|`, three times the asymptotic truncation
    /// error of `D(h)`.
    pub truncation: f64,
    /// A bound on the rounding error of `derivative` (as a central difference at this
    /// step: truncation is apart).
    pub error: f64,
}

/// Numeric gradients of every differentiable leaf, entries in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericGradients {
    pub by_leaf: Vec<(NodeId, Vec<Estimate>)>,
}

/// Graphs with at least this many checked entries are differenced on several threads (the
/// fuzz loop's graphs are far smaller, and it runs graphs in parallel already).
pub const PARALLEL_ENTRIES: usize = 20_000;

/// The primary oracle for every entry of every `input` and `weight`.
pub fn finite_differences(graph: &Graph, values: &Values) -> NumericGradients {
    let errors = crate::tolerance::forward_errors(
        graph,
        values,
        crate::Precision::F64,
        crate::tolerance::OWN_SUMMATION,
    );
    finite_differences_with(graph, values, &errors)
}

/// [`finite_differences`] with the forward values' error bounds (in `f64`) at hand.
pub fn finite_differences_with(
    graph: &Graph,
    values: &Values,
    errors: &crate::tolerance::ForwardErrors,
) -> NumericGradients {
    let differences = CentralDifferences::new(graph, values, errors);
    let by_leaf = graph
        .differentiable_leaves()
        .map(|leaf| (leaf, differences.of(leaf, 0..values[leaf.0].len())))
        .collect();
    NumericGradients { by_leaf }
}

/// The primary oracle, asked for any range of a leaf's entries: what every range shares (the
/// forward values' points, each leaf's scale) is prepared once, so that a big leaf can be
/// taken in blocks, each decided and dropped before the next (the full check never holds
/// every entry's estimate at once).
pub struct CentralDifferences<'a> {
    graph: &'a Graph,
    base: base::Base<'a>,
    /// Each node's largest magnitude (for the leaves; 0 elsewhere).
    largest: Vec<f64>,
    threads: usize,
    /// The buffers of the sequential path, kept from one call to the next.
    workspace: std::cell::RefCell<delta::Workspace>,
}

impl<'a> CentralDifferences<'a> {
    pub fn new(
        graph: &'a Graph,
        values: &'a Values<'a>,
        errors: &'a crate::tolerance::ForwardErrors,
    ) -> Self {
        let mut largest = vec![0.0; graph.len()];
        let mut total = 0;
        for leaf in graph.differentiable_leaves() {
            largest[leaf.0] = difference::largest_magnitude(&values[leaf.0]);
            total += values[leaf.0].len();
        }
        // Asked only for large graphs: the standard library reads the cgroup files under
        // /proc to answer, which costs more than checking a small graph.
        let threads = if total < PARALLEL_ENTRIES {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        };
        CentralDifferences {
            graph,
            base: base::Base::with_errors(graph, values, errors),
            largest,
            threads,
            workspace: std::cell::RefCell::new(delta::Workspace::new(graph)),
        }
    }

    /// The estimates of `entries` of `leaf`, in order. On a large graph the range is split
    /// into contiguous chunks, one a thread, each with its own buffers: the results are the
    /// same as sequentially, entry for entry.
    pub fn of(&self, leaf: NodeId, entries: std::ops::Range<usize>) -> Vec<Estimate> {
        let (graph, base, largest) = (self.graph, &self.base, self.largest[leaf.0]);
        if self.threads == 1 || entries.len() < 2 {
            let workspace = &mut self.workspace.borrow_mut();
            return difference::estimates_with_scale(
                graph, base, leaf, entries, largest, workspace,
            );
        }
        let estimates = |entries| {
            let mut workspace = delta::Workspace::new(graph);
            difference::estimates_with_scale(graph, base, leaf, entries, largest, &mut workspace)
        };
        let chunk = entries.len().div_ceil(self.threads);
        let parts: Vec<Vec<Estimate>> = std::thread::scope(|scope| {
            let handles: Vec<_> = entries
                .clone()
                .step_by(chunk)
                .map(|start| {
                    let part = start..(start + chunk).min(entries.end);
                    scope.spawn(move || estimates(part))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an oracle thread panicked"))
                .collect()
        });
        parts.concat()
    }
}
