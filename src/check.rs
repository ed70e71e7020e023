//! Analytic against numeric: the verdict on each entry, and the per-graph [`Report`].
//!
//! The engine's precision comes first: the graph's leaves are rounded to it, so that the
//! engine and the oracles differentiate the same function. For each entry, the
//! *allowance* ([`crate::tolerance`]) is
//!
//! ```text
//! atol + rtol·max(|analytic|, |numeric|) + engine bound + SAFETY·oracle bound
//! ```
//!
//! where the engine bound is the error a textbook backward pass in the engine's precision
//! can make at this entry, and the oracle bound the oracle's own rounding error, both from
//! running error analyses. The primary oracle passes an entry when
//! `|analytic − numeric| ≤ allowance + truncation`, its truncation estimate is within the
//! allowance, and its own uncertainty is at most `PRIMARY_SHARE` times what the engine
//! and the user are allowed. Otherwise (a flagged entry, a primary too coarse, or too
//! imprecise) the forward-mode oracle decides, against the allowance alone, unless the
//! primary's pass was the sharper of the two. An entry that neither oracle
//! can decide is *unchecked*; one where a gradient is NaN or infinite is *non-finite*.
//! Neither is ever a pass.

use crate::engine::{Engine, EngineError};
use crate::graph::{Graph, NodeId, Shape};
use crate::oracle::forward_mode::LeafTangents;
use crate::oracle::precise::PreciseValues;
use crate::oracle::{Estimate, finite_differences_with};
use crate::precision::Precision;
use crate::tolerance::{EngineBounds, OWN_SUMMATION, SAFETY, forward_errors, underflowed_nodes};

pub use crate::tolerance::Tolerance;

/// Which oracle gave an entry's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// The cancellation-free central difference (the primary).
    CentralDifference,
    /// Forward mode with dual numbers (asked when the primary flags an entry or is too coarse).
    ForwardMode,
    /// Forward mode in double-double arithmetic (asked when the allowance is tighter than
    /// what the other two can vouch for).
    PreciseForwardMode,
}

/// The outcome for one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Mismatch,
    /// A gradient is NaN or infinite (the engine's, or the forward function's).
    NonFinite,
    /// No verdict can be given, for the reason it holds.
    Unchecked(Undecided),
}

/// Why an entry has no verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undecided {
    /// No oracle is precise enough: their perturbations or their error bounds overflowed.
    OraclesImprecise,
    /// The gradient, or a value it is made of, lies beyond the range of the engine's
    /// precision, so the engine cannot represent it.
    BeyondRange(Precision),
    /// Forward values underflowed (to subnormal numbers or to zero), and the numeric
    /// derivative lost with them cannot tell a right gradient from a wrong one.
    Underflow,
}

impl Undecided {
    /// A line on why, for reports.
    pub fn describe(self) -> String {
        match self {
            Undecided::OraclesImprecise => "no oracle is precise enough for a verdict here".into(),
            Undecided::BeyondRange(p) => {
                format!("the gradient or a value it is made of is beyond the range of {p}")
            }
            Undecided::Underflow => {
                "forward values underflowed, and the numeric derivative with them".into()
            }
        }
    }

    /// A short name, for JSON.
    pub fn name(self) -> &'static str {
        match self {
            Undecided::OraclesImprecise => "oracles-imprecise",
            Undecided::BeyondRange(_) => "beyond-range",
            Undecided::Underflow => "underflow",
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
    pub verdict: Verdict,
    pub oracle: Oracle,
    /// The bound on the deciding oracle's own rounding error.
    pub oracle_error: f64,
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

/// Entries worst first: by error as a fraction of tolerance, largest first (NaN first), as
/// every report lists them.
pub fn worst_first<'e>(entries: impl IntoIterator<Item = &'e EntryCheck>) -> Vec<&'e EntryCheck> {
    let mut worst: Vec<&EntryCheck> = entries.into_iter().collect();
    worst.sort_by(|a, b| b.ratio().total_cmp(&a.ratio()));
    worst
}

/// Checks an engine's gradients of `graph` against central finite differences.
pub fn check(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<Report, EngineError> {
    let (entries, loss_mismatch) = analyse(engine, graph, tolerance)?;
    Ok(Report::of(entries, loss_mismatch))
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
    Ok((Report::of(entries.clone(), loss_mismatch), entries))
}

/// The entries, and the engine's loss if it gave one that differs from the forward pass.
fn analyse(
    engine: &dyn Engine,
    graph: &Graph,
    tolerance: &Tolerance,
) -> Result<(Vec<EntryCheck>, Option<LossMismatch>), EngineError> {
    let precision = engine.precision();
    let graph = crate::engine::rounded_for(engine, graph)?;
    let graph = graph.as_ref();
    let analytic = crate::engine::answer(engine, graph)?;
    let values = graph.forward();
    let own_errors = forward_errors(graph, &values, Precision::F64, OWN_SUMMATION);
    let mut bounds =
        EngineBounds::reusing(graph, &values, precision, engine.summation(), &own_errors);
    bounds.sharpen(graph, &values);
    let loss_mismatch = analytic.loss.and_then(|claimed| {
        let computed = graph.loss(&values);
        let own: f64 = graph
            .ids()
            .filter(|&id| graph.is_loss(id))
            .map(|id| own_errors.of(id)[0])
            .sum();
        let allowance =
            tolerance.atol + tolerance.rtol * computed.abs() + bounds.loss() + SAFETY * own;
        let off = !claimed.is_finite() || (claimed - computed).abs() > allowance;
        off.then_some(LossMismatch {
            claimed,
            computed,
            tolerance: allowance,
        })
    });
    let numeric = finite_differences_with(graph, &values, own_errors.clone());
    let forward_finite = values.iter().all(|v| v.is_finite());
    let underflowed = reaches_underflow(graph, &underflowed_nodes(graph, &values));
    // The third oracle's forward pass, computed the first time an entry needs it.
    let precise = std::cell::OnceCell::new();
    let mut entries = Vec::new();
    for (leaf, estimates) in &numeric.by_leaf {
        let claimed = analytic
            .get(*leaf)
            .expect("validated: every leaf has a gradient");
        // Forward mode's values over the leaf's cone, computed the first time one of its
        // entries needs the second oracle, and shared by the rest.
        let tangents = std::cell::OnceCell::new();
        for (entry, estimate) in estimates.iter().enumerate() {
            let second_oracle = || {
                tangents
                    .get_or_init(|| LeafTangents::new(graph, &values, &own_errors, *leaf))
                    .derivative(entry)
            };
            let context = Context {
                engine_bound: bounds.entry(&values, *leaf, entry),
                forward_finite,
                underflowed: underflowed[leaf.0],
            };
            let third_oracle = || {
                precise
                    .get_or_init(|| PreciseValues::new(graph, &values))
                    .derivative(graph, &values, *leaf, entry)
            };
            let mut decided = decide(
                claimed.entry(entry),
                estimate,
                &context,
                tolerance,
                second_oracle,
                third_oracle,
            );
            decided.verdict = within_range(&decided, context.engine_bound, precision, &bounds);
            decided.leaf = *leaf;
            decided.entry = entry;
            entries.push(decided);
        }
    }
    Ok((entries, loss_mismatch))
}

/// The oracle's error bound, relative to the derivative, from which on a derivative whose
/// differences met underflowed values counts as lost (unless the bound is below the smallest
/// normal number: then the derivative is as precise as a double holds it).
const LOST: f64 = 0.1;

/// For each leaf, whether the oracles' differences through its cone meet an underflowed
/// value: at a node of the cone that reaches a loss, or an operand of one.
fn reaches_underflow(graph: &Graph, underflowed: &[bool]) -> Vec<bool> {
    let mut reaches = vec![false; graph.len()];
    if !underflowed.contains(&true) {
        return reaches;
    }
    let mut live = vec![false; graph.len()];
    for id in graph.ids().rev() {
        if graph.is_loss(id) || live[id.0] {
            live[id.0] = true;
            if let Some(gate) = graph.gate(id) {
                for &op in gate.operands().iter() {
                    live[op.0] = true;
                }
            }
        }
    }
    for leaf in graph.differentiable_leaves() {
        reaches[leaf.0] = graph.downstream(leaf).iter().any(|&node| {
            live[node.0]
                && (underflowed[node.0]
                    || graph
                        .gate(node)
                        .is_some_and(|g| g.operands().iter().any(|&op| underflowed[op.0])))
        });
    }
    reaches
}

/// The verdict, unless the engine's precision cannot hold the gradient: an engine in a
/// narrow precision whose gradient overflowed where the values it is made of, or the terms
/// of its own sum (whose error bound `engine_bound` is then at least `u` times the largest
/// number), lie beyond that precision's range is not wrong.
fn within_range(
    entry: &EntryCheck,
    engine_bound: f64,
    precision: Precision,
    bounds: &EngineBounds,
) -> Verdict {
    let limit = precision.max_finite();
    let beyond_range = precision != Precision::F64
        && (bounds.overflows()
            || entry.numeric.abs() >= limit
            || engine_bound >= precision.unit_roundoff() * limit);
    match entry.verdict {
        Verdict::NonFinite if !entry.analytic.is_finite() && beyond_range => {
            Verdict::Unchecked(Undecided::BeyondRange(precision))
        }
        verdict => verdict,
    }
}

/// How many times the engine's allowance the primary's own uncertainty may be for the
/// primary to pass an entry without asking forward mode.
pub(crate) const PRIMARY_SHARE: f64 = 8.0;

/// How many times the engine's allowance the uncertainty of a pass by the first two oracles
/// may be before the third, in double-double, is asked. (Most such passes are within a few
/// times; where `f64` bounds compound, they are off by orders of magnitude.)
pub(crate) const PRECISE_SHARE: f64 = 64.0;

/// What the verdict on one entry depends on besides the two values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context {
    /// The error the engine may make at this entry (with its safety factor,
    /// [`EngineBounds::entry`]).
    pub(crate) engine_bound: f64,
    /// Whether the forward pass stayed finite: when it did and the analytic value is
    /// finite, an oracle whose perturbation overflowed leaves the entry unchecked, not
    /// non-finite.
    pub(crate) forward_finite: bool,
    /// Whether the oracles' differences for this entry meet underflowed values.
    pub(crate) underflowed: bool,
}

/// Whether a pass was allowed only by the oracle's own uncertainty, beyond what the
/// engine's round-off and the user's tolerance allow, where the oracle's differences met
/// underflowed values and its error bound is a sizable part of the derivative: then the
/// oracle lost the derivative, and a pass would claim more than was checked.
fn lost(entry: &EntryCheck, context: &Context, tolerance: &Tolerance) -> bool {
    let largest = entry.analytic.abs().max(entry.numeric.abs());
    context.underflowed
        && entry.verdict == Verdict::Pass
        && entry.error > context.engine_bound + tolerance.atol + tolerance.rtol * largest
        && entry.oracle_error >= f64::MIN_POSITIVE
        && entry.oracle_error >= LOST * largest
}

/// The verdict on one entry (with leaf and entry left at zero for the caller to set).
///
/// The primary estimate decides when it is sharp (its truncation estimate within the
/// allowance) and passes without having lost the derivative to underflow; otherwise
/// `second_oracle` (the forward mode, which returns its derivative and a bound on its error)
/// is asked and decides.
pub(crate) fn decide(
    analytic: f64,
    estimate: &Estimate,
    context: &Context,
    tolerance: &Tolerance,
    second_oracle: impl FnOnce() -> (f64, f64),
    third_oracle: impl FnOnce() -> (f64, f64),
) -> EntryCheck {
    let Context {
        engine_bound,
        forward_finite,
        ..
    } = *context;
    let allowance = |numeric: f64, oracle_error: f64| {
        tolerance.atol
            + tolerance.rtol * analytic.abs().max(numeric.abs())
            + engine_bound
            + SAFETY * oracle_error
    };
    let judge = |numeric: f64, oracle_error: f64, tolerance: f64, oracle: Oracle| {
        let error = (analytic - numeric).abs();
        let verdict = if !(analytic.is_finite() && numeric.is_finite()) {
            Verdict::NonFinite
        } else if error == 0.0 || error <= tolerance {
            Verdict::Pass
        } else if !tolerance.is_finite() {
            // The bounds overflowed (values near 1e308): no precise verdict is possible.
            Verdict::Unchecked(Undecided::OraclesImprecise)
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
            oracle_error,
        }
    };
    let primary = estimate.derivative;
    let primary_allowance = allowance(primary, estimate.error);
    let sharp = estimate.truncation <= primary_allowance;
    let by_primary = judge(
        primary,
        estimate.error,
        primary_allowance + estimate.truncation,
        Oracle::CentralDifference,
    );
    let primary_passes =
        sharp && by_primary.verdict == Verdict::Pass && !lost(&by_primary, context, tolerance);
    // The primary's own uncertainty, and what the engine's round-off and the user allow: a
    // pass in which the first outweighs the second several times says little, so forward
    // mode, which has no step and often a smaller error, is asked too, and the more precise
    // of the two passes decides.
    let primary_uncertainty = SAFETY * estimate.error + estimate.truncation;
    let slack = engine_bound + tolerance.atol + tolerance.rtol * analytic.abs().max(primary.abs());
    if !analytic.is_finite() || (primary_passes && primary_uncertainty <= PRIMARY_SHARE * slack) {
        return by_primary;
    }
    // Flagged, too coarse to decide, or imprecise: forward mode, exact to round-off, decides,
    // with an error bound of its own.
    let (second, second_error) = second_oracle();
    let second_allowance = allowance(second, second_error);
    let decided = judge(second, second_error, second_allowance, Oracle::ForwardMode);
    let second_is_sharper = SAFETY * second_error < primary_uncertainty;
    // A pass that rests on far more uncertainty than the allowance (where the oracles' f64
    // error bounds compound, as along long linear chains) says little: the third oracle, in
    // double-double, decides if it is sharper.
    let (passing, uncertainty) = if primary_passes && !second_is_sharper {
        (&by_primary, primary_uncertainty)
    } else {
        (&decided, SAFETY * second_error)
    };
    if passing.verdict == Verdict::Pass && uncertainty > PRECISE_SHARE * slack {
        let (third, third_error) = third_oracle();
        if third.is_finite() && SAFETY * third_error < uncertainty {
            let precise = judge(
                third,
                third_error,
                allowance(third, third_error),
                Oracle::PreciseForwardMode,
            );
            if !lost(&precise, context, tolerance) {
                return precise;
            }
        }
    }
    if primary_passes && !second_is_sharper {
        return by_primary;
    }
    let primary_had_a_value = by_primary.verdict != Verdict::NonFinite;
    if decided.verdict == Verdict::NonFinite
        && (primary_had_a_value || (forward_finite && analytic.is_finite()))
    {
        // No oracle has a finite value it can vouch for, though the function and the engine
        // do: the perturbations overflowed, not the graph.
        return EntryCheck {
            verdict: Verdict::Unchecked(Undecided::OraclesImprecise),
            ..by_primary
        };
    }
    if lost(&decided, context, tolerance) {
        return EntryCheck {
            verdict: Verdict::Unchecked(Undecided::Underflow),
            ..decided
        };
    }
    decided
}

impl Report {
    /// The report of checked entries, and of the engine's loss.
    fn of(entries: Vec<EntryCheck>, loss_mismatch: Option<LossMismatch>) -> Report {
        let mut report = Report {
            loss_mismatch,
            ..Report::default()
        };
        for entry in entries {
            report.record(entry);
        }
        report
    }

    fn record(&mut self, entry: EntryCheck) {
        self.scalars += 1;
        self.by_forward_mode += (entry.oracle != Oracle::CentralDifference) as usize;
        match entry.verdict {
            Verdict::NonFinite => return self.non_finite.push(entry),
            Verdict::Unchecked(_) => return self.unchecked.push(entry),
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

    /// An estimate whose own rounding error is a few units of round-off of 1.
    fn estimate(derivative: f64, truncation: f64) -> Estimate {
        Estimate {
            derivative,
            truncation,
            error: 4.0 * f64::EPSILON,
        }
    }

    /// A third oracle that has no finite answer, so that the first two decide.
    const NO_THIRD_ORACLE: fn() -> (f64, f64) = || (f64::NAN, f64::INFINITY);

    const EXACT: f64 = 0.25;
    /// The engine's bound for an entry of size 1 computed in a few operations.
    const ENGINE: f64 = 8.0 * f64::EPSILON;

    const CONTEXT: Context = Context {
        engine_bound: ENGINE,
        forward_finite: true,
        underflowed: false,
    };

    fn decide_default(
        analytic: f64,
        estimate: &Estimate,
        second_oracle: impl FnOnce() -> (f64, f64),
    ) -> EntryCheck {
        decide(
            analytic,
            estimate,
            &CONTEXT,
            &Tolerance::default(),
            second_oracle,
            NO_THIRD_ORACLE,
        )
    }

    #[test]
    fn a_sharp_primary_that_agrees_decides_without_the_second_oracle() {
        let entry = decide_default(EXACT, &estimate(EXACT, 0.0), || panic!("not asked"));
        assert_eq!(
            (entry.verdict, entry.oracle),
            (Verdict::Pass, Oracle::CentralDifference)
        );
    }

    #[test]
    fn a_flagged_entry_is_decided_by_the_second_oracle_both_ways() {
        // The primary is off by 1e-6; the forward mode says the analytic value is right.
        let cleared = decide_default(EXACT, &estimate(EXACT + 1e-6, 0.0), || (EXACT, 1e-16));
        assert_eq!(
            (cleared.verdict, cleared.oracle),
            (Verdict::Pass, Oracle::ForwardMode)
        );
        // ... or confirms the mismatch.
        let confirmed = decide_default(EXACT, &estimate(EXACT + 1e-6, 0.0), || {
            (EXACT + 1e-6, 1e-16)
        });
        assert_eq!(
            (confirmed.verdict, confirmed.oracle),
            (Verdict::Mismatch, Oracle::ForwardMode)
        );
    }

    #[test]
    fn a_coarse_primary_cannot_pass_an_entry_alone() {
        // Truncation 1e-3 would hide a 1e-4 error; the second oracle catches it.
        let entry = decide_default(EXACT + 1e-4, &estimate(EXACT, 1e-3), || (EXACT, 1e-16));
        assert_eq!(entry.verdict, Verdict::Mismatch);
    }

    #[test]
    fn no_precise_oracle_means_unchecked_never_pass() {
        let entry = decide_default(EXACT, &estimate(EXACT, 1e-3), || (f64::NAN, 1e-16));
        assert_eq!(
            entry.verdict,
            Verdict::Unchecked(Undecided::OraclesImprecise)
        );
    }

    #[test]
    fn an_overflowed_error_bound_leaves_an_entry_unchecked_unless_exact() {
        let overflowed = Estimate {
            derivative: 0.0,
            truncation: 0.0,
            error: f64::INFINITY,
        };
        let exact = decide_default(0.0, &overflowed, || (0.0, 1e-16));
        assert_eq!(exact.verdict, Verdict::Pass);
        let nan_error = Estimate {
            error: f64::NAN,
            ..overflowed
        };
        // Both oracles' bounds lost: no precise verdict.
        let differs = decide_default(1.0, &nan_error, || (0.0, f64::NAN));
        assert_eq!(
            differs.verdict,
            Verdict::Unchecked(Undecided::OraclesImprecise)
        );
        // The primary's bound lost, forward mode's intact: it decides.
        let decided = decide_default(1.0, &nan_error, || (0.0, 1e-16));
        assert_eq!(
            (decided.verdict, decided.oracle),
            (Verdict::Mismatch, Oracle::ForwardMode)
        );
    }

    #[test]
    fn a_non_finite_gradient_is_its_own_outcome() {
        let from_engine = decide_default(f64::NAN, &estimate(EXACT, 0.0), || (EXACT, 1e-16));
        assert_eq!(from_engine.verdict, Verdict::NonFinite);
        let unfinished = Context {
            forward_finite: false,
            ..CONTEXT
        };
        let from_forward = decide(
            EXACT,
            &estimate(f64::INFINITY, f64::NAN),
            &unfinished,
            &Tolerance::default(),
            || (f64::NAN, 1e-16),
            NO_THIRD_ORACLE,
        );
        assert_eq!(from_forward.verdict, Verdict::NonFinite);
        // The same oracles with a finite function and a finite engine: the perturbations
        // overflowed, so no verdict, but not a non-finite function either.
        let overflowed_perturbation =
            decide_default(EXACT, &estimate(f64::INFINITY, f64::NAN), || {
                (f64::NAN, 1e-16)
            });
        assert_eq!(
            overflowed_perturbation.verdict,
            Verdict::Unchecked(Undecided::OraclesImprecise)
        );
    }

    #[test]
    fn the_engines_and_the_oracles_round_off_are_allowed_and_no_more() {
        // A true gradient of 0 computed with an error bound of 8ε on either side.
        let cancelled = Estimate {
            derivative: 0.0,
            truncation: 0.0,
            error: 8.0 * f64::EPSILON,
        };
        let ok = decide_default(4.0 * f64::EPSILON, &cancelled, || (0.0, 1e-16));
        assert_eq!(ok.verdict, Verdict::Pass);
        let wrong = decide_default(1e-12, &cancelled, || (0.0, 1e-16));
        assert_eq!(wrong.verdict, Verdict::Mismatch);
    }

    #[test]
    fn a_derivative_lost_to_underflow_goes_to_forward_mode_and_is_unchecked_if_lost_there_too() {
        // The primary lost a true 3e-22 to underflow: 0 with an error bound of 1e-16.
        let lost_primary = Estimate {
            derivative: 0.0,
            truncation: 0.0,
            error: 1e-16,
        };
        // An engine bound far below the difference: only the oracle's error allows it.
        let plain = Context {
            engine_bound: 1e-37,
            ..CONTEXT
        };
        let underflowed = Context {
            underflowed: true,
            ..plain
        };
        let tolerance = Tolerance::default();
        let exact = 3e-22;
        let by_forward_mode = decide(
            exact,
            &lost_primary,
            &underflowed,
            &tolerance,
            || (exact, 1e-37),
            NO_THIRD_ORACLE,
        );
        assert_eq!(
            (by_forward_mode.verdict, by_forward_mode.oracle),
            (Verdict::Pass, Oracle::ForwardMode)
        );
        let both_lost = decide(
            exact,
            &lost_primary,
            &underflowed,
            &tolerance,
            || (0.0, 1e-16),
            NO_THIRD_ORACLE,
        );
        assert_eq!(both_lost.verdict, Verdict::Unchecked(Undecided::Underflow));
        // The same numbers without underflow: a pass within the oracle's own round-off.
        // (forward mode is asked, the primary being imprecise, but is no sharper)
        let passed = decide(
            exact,
            &lost_primary,
            &plain,
            &tolerance,
            || (0.0, 1e-16),
            NO_THIRD_ORACLE,
        );
        assert_eq!(
            (passed.verdict, passed.oracle),
            (Verdict::Pass, Oracle::CentralDifference)
        );
    }

    #[test]
    fn a_pass_that_rests_on_the_oracles_uncertainty_is_decided_by_the_third_oracle() {
        // The primary and forward mode vouch only to 1e-10, far above the engine's 8ε: a
        // gradient wrong by 1e-12 would pass on their word.
        let coarse = Estimate {
            derivative: EXACT,
            truncation: 0.0,
            error: 1e-10,
        };
        let wrong = EXACT + 1e-12;
        let precise: fn() -> (f64, f64) = || (EXACT, 1e-30);
        let with_third = |analytic: f64, third: fn() -> (f64, f64)| {
            let entry = decide(
                analytic,
                &coarse,
                &CONTEXT,
                &Tolerance::default(),
                || (EXACT, 1e-10),
                third,
            );
            (entry.verdict, entry.oracle)
        };
        assert_eq!(
            with_third(wrong, precise),
            (Verdict::Mismatch, Oracle::PreciseForwardMode)
        );
        assert_eq!(
            with_third(EXACT, precise),
            (Verdict::Pass, Oracle::PreciseForwardMode)
        );
        // Without a sharper third answer, the pass stands.
        assert_eq!(with_third(wrong, NO_THIRD_ORACLE).0, Verdict::Pass);
    }
}
