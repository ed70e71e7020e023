//! Analytic against numeric: the tolerance model and the per-graph [`Report`].
//!
//! For each entry, with `C` the contribution scale of the derivative (see
//! [`crate::oracle::Estimate`]), the *allowance* is
//!
//! ```text
//! atol + rtol·max(|analytic|, |numeric|) + k·ε·C,    k = 16·(cone depth + 2 + largest dim)
//! ```
//!
//! where the last term is the round-off that any sound computation of this derivative
//! carries (the analytic side as much as the numeric one), so that cancellation does not make
//! a tiny true gradient look wrong. The primary oracle decides when its own truncation
//! estimate is within the allowance: the entry passes when
//! `|analytic − numeric| ≤ allowance + truncation`. Otherwise (a flagged entry, or a primary too coarse for a verdict) the
//! forward-mode oracle decides, against the allowance alone. An entry that neither oracle can
//! decide is *unchecked*; one where a gradient is NaN or infinite is *non-finite*. Neither is
//! ever a pass.

use crate::engine::{Engine, EngineError};
use crate::graph::{Graph, NodeId, Shape};
use crate::oracle::{Estimate, finite_differences, forward_mode};

/// The absolute and relative parts of the tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            rtol: 1e-10,
            atol: 1e-30,
        }
    }
}

/// Which oracle gave an entry's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// The cancellation-free central difference (the primary).
    CentralDifference,
    /// Forward mode with dual numbers (asked when the primary flags an entry or is too coarse).
    ForwardMode,
}

/// The outcome for one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Mismatch,
    /// A gradient is NaN or infinite (the engine's, or the forward function's).
    NonFinite,
    /// No oracle could give a value precise enough for a verdict.
    Unchecked,
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
    pub verdict: Verdict,
    pub oracle: Oracle,
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
        self.verdict == Verdict::NonFinite
    }

    pub fn is_mismatch(&self) -> bool {
        self.verdict == Verdict::Mismatch
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
    /// Entries no oracle could decide at the requested tolerance.
    pub unchecked: Vec<EntryCheck>,
    /// Entries the forward-mode oracle decided.
    pub by_forward_mode: usize,
    /// The engine's own loss, when it gave one that differs from the forward pass.
    pub loss_mismatch: Option<LossMismatch>,
    /// The entry with the largest error-to-tolerance ratio among the finite ones.
    pub closest: Option<EntryCheck>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
            && self.non_finite.is_empty()
            && self.unchecked.is_empty()
            && self.loss_mismatch.is_none()
    }
}

/// Checks an engine's gradients of `graph` against central finite differences.
pub fn check(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<Report, EngineError> {
    let (entries, loss_mismatch) = analyse(engine, graph, tolerance)?;
    let mut report = Report {
        loss_mismatch,
        ..Report::default()
    };
    for entry in entries {
        report.record(entry);
    }
    Ok(report)
}

/// An engine's own loss that differs from gradfuzz's forward pass: a forward mismatch,
/// distinct from a gradient mismatch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossMismatch {
    pub claimed: f64,
    pub computed: f64,
    pub tolerance: f64,
}

/// The report and every checked entry, from one evaluation (for `explain`).
pub fn check_with_entries(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<(Report, Vec<EntryCheck>), EngineError> {
    let (entries, loss_mismatch) = analyse(engine, graph, tolerance)?;
    let mut report = Report {
        loss_mismatch,
        ..Report::default()
    };
    for entry in &entries {
        report.record(entry.clone());
    }
    Ok((report, entries))
}

/// Every leaf entry of `graph`, checked: leaves in node order, entries in row-major order.
pub fn entry_checks(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<Vec<EntryCheck>, EngineError> {
    analyse(engine, graph, tolerance).map(|(entries, _)| entries)
}

/// The entries, and the engine's loss if it gave one that differs from the forward pass.
fn analyse(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<(Vec<EntryCheck>, Option<LossMismatch>), EngineError> {
    let analytic = engine.gradients(graph)?;
    analytic.validate(graph)?;
    let values = graph.forward();
    let loss_mismatch = analytic.loss.and_then(|claimed| {
        let computed = graph.loss(&values);
        // The loss is a sum of squares: round-off of a few ε per node times its magnitude.
        let magnitude = loss_magnitude(graph, &values);
        let allowance = tolerance.atol
            + tolerance.rtol * computed.abs()
            + ROUNDOFF_UNITS
                * (graph.len() + graph.largest_dim()) as f64
                * f64::EPSILON
                * magnitude;
        let off = !claimed.is_finite() || (claimed - computed).abs() > allowance;
        off.then_some(LossMismatch {
            claimed,
            computed,
            tolerance: allowance,
        })
    });
    let numeric = finite_differences(graph, &values);
    let largest_dim = graph.largest_dim();
    let forward_finite = values.iter().all(|v| v.is_finite());
    let mut entries = Vec::new();
    for (leaf, estimates) in &numeric.by_leaf {
        let claimed = analytic
            .get(*leaf)
            .expect("validated: every leaf has a gradient");
        for (entry, estimate) in estimates.iter().enumerate() {
            let second_oracle = || forward_mode::derivative(graph, &values, *leaf, entry);
            let mut decided = decide(
                claimed.entry(entry),
                estimate,
                largest_dim,
                tolerance,
                forward_finite,
                second_oracle,
            );
            decided.leaf = *leaf;
            decided.entry = entry;
            entries.push(decided);
        }
    }
    Ok((entries, loss_mismatch))
}

/// The sum over the losses of `½ Σ (|o| + |t|)²`, with forward magnitudes: the scale of the
/// loss's round-off.
fn loss_magnitude(graph: &Graph, values: &crate::graph::Values) -> f64 {
    let magnitudes = crate::oracle::base::magnitudes(graph, values);
    graph
        .ids()
        .filter_map(|id| match graph.gate(id) {
            Some(crate::gate::Gate::Sqerr { output, target }) => {
                let (o, t) = (magnitudes.vector(*output), magnitudes.vector(*target));
                Some(
                    (0..o.len())
                        .map(|i| 0.5 * (o[i] + t[i]).powi(2))
                        .sum::<f64>(),
                )
            }
            _ => None,
        })
        .sum()
}

/// The verdict on one entry (with leaf and entry left at zero for the caller to set).
///
/// The primary estimate decides when it is sharp (its truncation estimate within the
/// allowance) and passes; otherwise `second_oracle` (the forward mode) is asked and decides.
///
/// `forward_finite` says whether the forward pass itself stayed finite: when it did and the
/// analytic value is finite, an oracle whose perturbation overflowed leaves the entry
/// unchecked, not non-finite.
pub fn decide(
    analytic: f64,
    estimate: &Estimate,
    largest_dim: usize,
    tolerance: &Tolerance,
    forward_finite: bool,
    second_oracle: impl FnOnce() -> (f64, f64),
) -> EntryCheck {
    let roundoff =
        ROUNDOFF_UNITS * (estimate.depth + 2 + largest_dim) as f64 * f64::EPSILON * estimate.scale;
    let allowance = |numeric: f64| {
        tolerance.atol + tolerance.rtol * analytic.abs().max(numeric.abs()) + roundoff
    };
    let judge = |numeric: f64, tolerance: f64, oracle: Oracle| {
        let error = (analytic - numeric).abs();
        let verdict = if !(analytic.is_finite() && numeric.is_finite()) {
            Verdict::NonFinite
        } else if error == 0.0 || error <= tolerance {
            Verdict::Pass
        } else if !tolerance.is_finite() {
            // The magnitudes overflowed (values near 1e308): no precise verdict is possible.
            Verdict::Unchecked
        } else {
            Verdict::Mismatch
        };
        EntryCheck {
            leaf: NodeId(0),
            entry: 0,
            analytic,
            numeric,
            error,
            tolerance,
            verdict,
            oracle,
        }
    };
    let primary = estimate.derivative;
    let sharp = estimate.truncation <= allowance(primary);
    let by_primary = judge(
        primary,
        allowance(primary) + estimate.truncation,
        Oracle::CentralDifference,
    );
    if !analytic.is_finite() || (sharp && by_primary.verdict == Verdict::Pass) {
        return by_primary;
    }
    // Flagged, or too coarse to decide: forward mode, exact to round-off, decides, with a
    // contribution scale of its own (the primary's may be lost to an overflow).
    let (second, second_scale) = second_oracle();
    let scale = if estimate.scale.is_finite() {
        estimate.scale.max(second_scale)
    } else {
        second_scale
    };
    let second_roundoff =
        ROUNDOFF_UNITS * (estimate.depth + 2 + largest_dim) as f64 * f64::EPSILON * scale;
    let second_allowance =
        tolerance.atol + tolerance.rtol * analytic.abs().max(second.abs()) + second_roundoff;
    let decided = judge(second, second_allowance, Oracle::ForwardMode);
    let primary_had_a_value = by_primary.verdict != Verdict::NonFinite;
    if decided.verdict == Verdict::NonFinite
        && (primary_had_a_value || (forward_finite && analytic.is_finite()))
    {
        // No oracle has a finite value it can vouch for, though the function and the engine
        // do: the perturbations overflowed, not the graph.
        return EntryCheck {
            verdict: Verdict::Unchecked,
            ..by_primary
        };
    }
    decided
}

/// How many units of `ε·C` per node of the cone and per unit of dimension the round-off
/// allowance takes: each node adds a few roundings of size `ε·C`, and a sum of `n` products
/// up to `n` of them.
pub const ROUNDOFF_UNITS: f64 = 16.0;

impl Report {
    fn record(&mut self, entry: EntryCheck) {
        self.scalars += 1;
        self.by_forward_mode += (entry.oracle == Oracle::ForwardMode) as usize;
        match entry.verdict {
            Verdict::NonFinite => return self.non_finite.push(entry),
            Verdict::Unchecked => return self.unchecked.push(entry),
            Verdict::Pass | Verdict::Mismatch => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(derivative: f64, truncation: f64) -> Estimate {
        Estimate {
            derivative,
            truncation,
            scale: 1.0,
            depth: 1,
        }
    }

    const EXACT: f64 = 0.25;

    #[test]
    fn a_sharp_primary_that_agrees_decides_without_the_second_oracle() {
        let entry = decide(
            EXACT,
            &estimate(EXACT, 0.0),
            1,
            &Tolerance::default(),
            true,
            || panic!("not asked"),
        );
        assert_eq!(
            (entry.verdict, entry.oracle),
            (Verdict::Pass, Oracle::CentralDifference)
        );
    }

    #[test]
    fn a_flagged_entry_is_decided_by_the_second_oracle_both_ways() {
        // The primary is off by 1e-6; the forward mode says the analytic value is right.
        let cleared = decide(
            EXACT,
            &estimate(EXACT + 1e-6, 0.0),
            1,
            &Tolerance::default(),
            true,
            || (EXACT, 1.0),
        );
        assert_eq!(
            (cleared.verdict, cleared.oracle),
            (Verdict::Pass, Oracle::ForwardMode)
        );
        // ... or confirms the mismatch.
        let confirmed = decide(
            EXACT,
            &estimate(EXACT + 1e-6, 0.0),
            1,
            &Tolerance::default(),
            true,
            || (EXACT + 1e-6, 1.0),
        );
        assert_eq!(
            (confirmed.verdict, confirmed.oracle),
            (Verdict::Mismatch, Oracle::ForwardMode)
        );
    }

    #[test]
    fn a_coarse_primary_cannot_pass_an_entry_alone() {
        // Truncation 1e-3 would hide a 1e-4 error; the second oracle catches it.
        let entry = decide(
            EXACT + 1e-4,
            &estimate(EXACT, 1e-3),
            1,
            &Tolerance::default(),
            true,
            || (EXACT, 1.0),
        );
        assert_eq!(entry.verdict, Verdict::Mismatch);
    }

    #[test]
    fn no_precise_oracle_means_unchecked_never_pass() {
        let entry = decide(
            EXACT,
            &estimate(EXACT, 1e-3),
            1,
            &Tolerance::default(),
            true,
            || (f64::NAN, 1.0),
        );
        assert_eq!(entry.verdict, Verdict::Unchecked);
    }

    #[test]
    fn an_overflowed_contribution_scale_leaves_an_entry_unchecked_unless_exact() {
        let overflowed = Estimate {
            derivative: 0.0,
            truncation: 0.0,
            scale: f64::INFINITY,
            depth: 1,
        };
        let exact = decide(0.0, &overflowed, 1, &Tolerance::default(), true, || {
            (0.0, 1.0)
        });
        assert_eq!(exact.verdict, Verdict::Pass);
        let nan_scale = Estimate {
            scale: f64::NAN,
            ..overflowed
        };
        // Both oracles' scales lost: no precise verdict.
        let differs = decide(1.0, &nan_scale, 1, &Tolerance::default(), true, || {
            (0.0, f64::NAN)
        });
        assert_eq!(differs.verdict, Verdict::Unchecked);
        // The primary's scale lost, forward mode's intact: it decides.
        let decided = decide(1.0, &nan_scale, 1, &Tolerance::default(), true, || {
            (0.0, 1.0)
        });
        assert_eq!(
            (decided.verdict, decided.oracle),
            (Verdict::Mismatch, Oracle::ForwardMode)
        );
    }

    #[test]
    fn a_non_finite_gradient_is_its_own_outcome() {
        let from_engine = decide(
            f64::NAN,
            &estimate(EXACT, 0.0),
            1,
            &Tolerance::default(),
            true,
            || (EXACT, 1.0),
        );
        assert_eq!(from_engine.verdict, Verdict::NonFinite);
        let from_forward = decide(
            EXACT,
            &estimate(f64::INFINITY, f64::NAN),
            1,
            &Tolerance::default(),
            false,
            || (f64::NAN, 1.0),
        );
        assert_eq!(from_forward.verdict, Verdict::NonFinite);
        // The same oracles with a finite function and a finite engine: the perturbations
        // overflowed, so no verdict, but not a non-finite function either.
        let overflowed_perturbation = decide(
            EXACT,
            &estimate(f64::INFINITY, f64::NAN),
            1,
            &Tolerance::default(),
            true,
            || (f64::NAN, 1.0),
        );
        assert_eq!(overflowed_perturbation.verdict, Verdict::Unchecked);
    }

    #[test]
    fn round_off_of_the_contribution_scale_is_allowed_and_no_more() {
        // A true gradient of 0 made of terms of size 1: round-off of a few ε is allowed.
        let cancelled = Estimate {
            derivative: 0.0,
            truncation: 0.0,
            scale: 1.0,
            depth: 2,
        };
        let ok = decide(
            4.0 * f64::EPSILON,
            &cancelled,
            1,
            &Tolerance::default(),
            true,
            || (0.0, 1.0),
        );
        assert_eq!(ok.verdict, Verdict::Pass);
        let wrong = decide(1e-12, &cancelled, 1, &Tolerance::default(), true, || {
            (0.0, 1.0)
        });
        assert_eq!(wrong.verdict, Verdict::Mismatch);
    }
}
