//! Analytic against numeric: the tolerance model and the per-graph [`Report`].
//!
//! An entry passes when `|analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|) +
//! oracle error`, where the oracle error is the finite-difference oracle's own estimate of
//! its error (see [`crate::oracle`]). The ratio of the error to that tolerance is kept for
//! every entry, so a report can say how close the closest call came.

use crate::engine::{Engine, EngineError};
use crate::graph::{Graph, NodeId, Shape};
use crate::oracle::finite_differences;

/// The absolute and relative parts of the tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            rtol: 1e-6,
            atol: 1e-10,
        }
    }
}

/// One leaf entry, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryCheck {
    pub leaf: NodeId,
    /// The entry in row-major order.
    pub entry: usize,
    pub analytic: f64,
    pub numeric: f64,
    /// `|analytic − numeric|`.
    pub error: f64,
    pub tolerance: f64,
}

impl EntryCheck {
    /// The error as a fraction of the tolerance: above 1 is a mismatch. Not a number when
    /// either side is not finite.
    pub fn ratio(&self) -> f64 {
        if self.tolerance > 0.0 {
            self.error / self.tolerance
        } else if self.error == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    }

    /// Whether either gradient is NaN or infinite: never a pass, never a plain mismatch.
    pub fn is_non_finite(&self) -> bool {
        !(self.analytic.is_finite() && self.numeric.is_finite())
    }

    pub fn is_mismatch(&self) -> bool {
        !self.is_non_finite() && self.ratio() > 1.0
    }

    /// `x[3]` for a vector leaf, `W1[1,2]` for a weight.
    pub fn label(&self, graph: &Graph) -> String {
        entry_label(graph, self.leaf, self.entry)
    }
}

/// `name[i]` or `name[row,col]` for entry `entry` (row-major) of a leaf.
pub fn entry_label(graph: &Graph, leaf: NodeId, entry: usize) -> String {
    let name = &graph.node(leaf).name;
    match graph.shape(leaf) {
        Shape::Matrix(_, cols) => format!("{name}[{},{}]", entry / cols, entry % cols),
        _ => format!("{name}[{entry}]"),
    }
}

/// What checking one graph found.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Report {
    /// Leaf entries compared.
    pub scalars: usize,
    /// Entries whose error exceeds their tolerance, in leaf and entry order.
    pub mismatches: Vec<EntryCheck>,
    /// Entries where either side is NaN or infinite.
    pub non_finite: Vec<EntryCheck>,
    /// The entry with the largest error-to-tolerance ratio among the finite ones.
    pub closest: Option<EntryCheck>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.non_finite.is_empty()
    }
}

/// Checks an engine's gradients of `graph` against central finite differences.
pub fn check(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<Report, EngineError> {
    let mut report = Report::default();
    for entry in entry_checks(engine, graph, tolerance)? {
        report.record(entry);
    }
    Ok(report)
}

/// Every leaf entry of `graph`, checked: leaves in node order, entries in row-major order.
pub fn entry_checks(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<Vec<EntryCheck>, EngineError> {
    let analytic = engine.gradients(graph)?;
    analytic.validate(graph)?;
    let values = graph.forward();
    let numeric = finite_differences(graph, &values);
    let mut entries = Vec::new();
    for (leaf, estimates) in &numeric.by_leaf {
        let claimed = analytic
            .get(*leaf)
            .expect("validated: every leaf has a gradient");
        for (entry, estimate) in estimates.iter().enumerate() {
            let a = claimed.entry(entry);
            let n = estimate.derivative;
            entries.push(EntryCheck {
                leaf: *leaf,
                entry,
                analytic: a,
                numeric: n,
                error: (a - n).abs(),
                tolerance: tolerance.atol + tolerance.rtol * a.abs().max(n.abs()) + estimate.error,
            });
        }
    }
    Ok(entries)
}

impl Report {
    fn record(&mut self, entry: EntryCheck) {
        self.scalars += 1;
        if entry.is_non_finite() {
            self.non_finite.push(entry);
            return;
        }
        if self
            .closest
            .as_ref()
            .is_none_or(|closest| entry.ratio() > closest.ratio())
        {
            self.closest = Some(entry.clone());
        }
        if entry.is_mismatch() {
            self.mismatches.push(entry);
        }
    }
}
