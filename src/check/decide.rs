//! The verdict on one entry: which oracle decides, against which allowance.

use super::{EntryCheck, Oracle, Tolerance, Undecided, Verdict};
use crate::graph::NodeId;
use crate::oracle::Estimate;
use crate::oracle::forward_mode::ForwardDerivative;
use crate::tolerance::SAFETY;

/// What an entry, a direction or a loss may be off by: the user's slack (`atol` per unit of
/// `length`, the number of entries a direction sums; `rtol` of `largest`, the larger of the
/// two values), the engine's bound, and the oracle's own uncertainty with its safety factor.
/// The one formula every verdict uses.
pub(crate) fn allowance(
    tolerance: &Tolerance,
    length: f64,
    largest: f64,
    engine_bound: f64,
    oracle_error: f64,
) -> f64 {
    tolerance.atol * length + tolerance.rtol * largest + engine_bound + SAFETY * oracle_error
}

/// The oracle's error bound, relative to the derivative, from which on a derivative whose
/// differences met underflowed values counts as lost (unless the bound is below the smallest
/// normal number: then the derivative is as precise as a double holds it).
const LOST: f64 = 0.1;

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
    /// The first gate in the entry's cone whose argument may be on either side of a kink.
    pub(crate) kink: Option<NodeId>,
}

/// Whether a pass was allowed only by the oracle's own uncertainty, beyond what the
/// engine's round-off and the user's tolerance allow, where the oracle's differences met
/// underflowed values and its error bound is a sizable part of the derivative: then the
/// oracle lost the derivative, and a pass would claim more than was checked.
fn lost(entry: &EntryCheck, context: &Context, tolerance: &Tolerance) -> bool {
    let largest = entry.analytic.abs().max(entry.numeric.abs());
    context.underflowed
        && entry.verdict == Verdict::Pass
        && entry.error > allowance(tolerance, 1.0, largest, context.engine_bound, 0.0)
        && entry.oracle_error >= f64::MIN_POSITIVE
        && entry.oracle_error >= LOST * largest
}

/// The verdict on one entry (with leaf and entry left at zero for the caller to set).
///
/// The primary estimate decides when it is sharp (its truncation estimate within the
/// allowance) and passes without having lost the derivative to underflow; otherwise
/// `second_oracle` (the forward mode, which returns its derivative and a bound on its error)
/// is asked and decides.
pub(crate) fn decide<S: Into<ForwardDerivative>>(
    analytic: f64,
    estimate: &Estimate,
    context: &Context,
    tolerance: &Tolerance,
    second_oracle: impl FnOnce() -> S,
    third_oracle: impl FnOnce() -> (f64, f64),
) -> EntryCheck {
    let Context {
        engine_bound,
        forward_finite,
        ..
    } = *context;
    let allowance = |numeric: f64, oracle_error: f64| {
        let largest = analytic.abs().max(numeric.abs());
        allowance(tolerance, 1.0, largest, engine_bound, oracle_error)
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
            kink_radius: 0.0,
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
    let slack = allowance(primary, 0.0);
    if !analytic.is_finite() || (primary_passes && primary_uncertainty <= PRIMARY_SHARE * slack) {
        return by_primary;
    }
    // Flagged, too coarse to decide, or imprecise: forward mode, exact to round-off, decides,
    // with an error bound of its own.
    let ForwardDerivative {
        derivative: second,
        error: second_error,
        kink_radius,
    } = second_oracle().into();
    let decided = if kink_radius == 0.0 {
        judge(
            second,
            second_error,
            allowance(second, second_error),
            Oracle::ForwardMode,
        )
    } else {
        // Any claim within the interval the sides of the kinks allow is right; its distance
        // from the interval is the error, against the allowance of its farther end.
        let largest = second.abs() + kink_radius;
        let mut at_kink = judge(
            second,
            second_error,
            allowance(largest, second_error),
            Oracle::BothSidesOfKink,
        );
        at_kink.error = ((analytic - second).abs() - kink_radius).max(0.0);
        at_kink.kink_radius = kink_radius;
        if at_kink.verdict == Verdict::Mismatch && at_kink.error <= at_kink.tolerance {
            at_kink.verdict = Verdict::Pass;
        }
        if !kink_radius.is_finite() && at_kink.verdict != Verdict::NonFinite {
            at_kink.verdict =
                Verdict::Unchecked(Undecided::Kink(context.kink.unwrap_or(NodeId(0))));
        }
        at_kink
    };
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
        kink: None,
    };

    fn decide_default<S: Into<ForwardDerivative>>(
        analytic: f64,
        estimate: &Estimate,
        second_oracle: impl FnOnce() -> S,
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
        let entry = decide_default(EXACT, &estimate(EXACT, 0.0), || -> (f64, f64) {
            panic!("not asked")
        });
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
    fn at_a_kink_a_claim_between_the_sides_passes_and_one_outside_is_a_mismatch() {
        // The sides allow [0, 1] (relu at 0 under an upstream of 1): midpoint ½, half-width ½.
        // The primary, far off, flags every claim, so forward mode across the kink decides.
        let sides = || ForwardDerivative {
            derivative: 0.5,
            error: 1e-17,
            kink_radius: 0.5,
        };
        let flagging = estimate(5.0, 0.0);
        for (claim, expected) in [
            (0.0, Verdict::Pass),
            (0.5, Verdict::Pass),
            (1.0, Verdict::Pass),
            (1.0 + 1e-9, Verdict::Mismatch),
            (-1e-9, Verdict::Mismatch),
        ] {
            let entry = decide_default(claim, &flagging, sides);
            assert_eq!(
                (entry.verdict, entry.oracle),
                (expected, Oracle::BothSidesOfKink),
                "claim {claim}"
            );
            assert_eq!(entry.kink_radius, 0.5);
        }
        // The error is the distance from the interval, not from its midpoint.
        assert_eq!(decide_default(1.25, &flagging, sides).error, 0.25);
    }

    #[test]
    fn sides_of_a_kink_that_cannot_be_bounded_leave_the_entry_unchecked_naming_the_gate() {
        let context = Context {
            kink: Some(NodeId(3)),
            ..CONTEXT
        };
        let unbounded = || ForwardDerivative {
            derivative: 0.5,
            error: 1e-17,
            kink_radius: f64::INFINITY,
        };
        let entry = decide(
            0.25,
            &estimate(5.0, 0.0),
            &context,
            &Tolerance::default(),
            unbounded,
            NO_THIRD_ORACLE,
        );
        assert_eq!(
            entry.verdict,
            Verdict::Unchecked(Undecided::Kink(NodeId(3)))
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
