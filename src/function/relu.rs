//! The rectifier `relu(y) = max(0, y)`, as the oracles and the tolerance know it.
//!
//! Piecewise linear: slope 0 below 0, 1 above, no curvature on either side, and a kink at 0
//! where it has no derivative. Its value, its change and its slope are exact in binary (a
//! change that crosses 0 takes one rounding, `y + d`), so it adds no rounding of its own
//! anywhere. What it adds is the kink: wherever an argument may lie on either side of 0
//! (within its error, or within a step), the oracles do not take a slope but judge against
//! both sides ([`kink_within`], used by `oracle::kinks` and the oracles' arms for it). The
//! curvature it reports is 0: the jump in slope is the kink's business, never a curvature.

use super::Point;
use super::double_double::DoubleDouble;

/// An engine's relu is exact: `max(0, y)` of a number in its precision is that number or 0.
pub const ENGINE_ROUNDINGS: f64 = 0.0;

/// [`value`] is exact.
pub const VALUE_ROUNDINGS: f64 = 0.0;

/// [`change`] takes at most one rounding, relative to the change (`y + d` where the step
/// crosses 0 from below).
pub const CHANGE_ROUNDINGS: f64 = 1.0;

/// [`double_double`] is exact.
pub const DD_UNITS: f64 = 0.0;

/// `max(0, y)`; NaN stays NaN (as `f64::max` would not have it).
pub fn value(y: f64) -> f64 {
    if y <= 0.0 { 0.0 } else { y }
}

/// 1 above 0, 0 below, and 0 at 0 itself (a choice; the kink is judged apart).
pub fn slope(y: f64) -> f64 {
    if y > 0.0 { 1.0 } else { 0.0 }
}

/// The steepest slope within `reach` of `y`: 1 once the interval touches `[0, ∞)`.
pub fn slope_max(y: f64, reach: f64) -> f64 {
    if y + reach >= 0.0 { 1.0 } else { 0.0 }
}

/// Whether `y` lies within `reach` of the kink at 0 (0 itself included): there the slope
/// may be either side's.
pub fn kink_within(y: f64, reach: f64) -> bool {
    y.abs() <= reach
}

/// `max(0, y + d) − max(0, y)` in every lane: `d` itself where both sides are at or above 0
/// (exact), `0` where both are below, `−y` (exact) or `y + d` (one rounding) where the step
/// crosses 0.
pub fn change<const N: usize>(y: f64, d: [f64; N]) -> [f64; N] {
    d.map(|d| match (y >= 0.0, d >= -y) {
        (true, true) => d,
        (true, false) => -y,
        (false, true) => y + d,
        (false, false) => 0.0,
    })
}

/// The slope along a step of `reach` from a `y` off by `e_y`, and no curvature (the crossing
/// of 0 is bounded by the oracle's arm, see [`kink_within`]).
pub fn along_step(y: f64, e_y: f64, reach: f64) -> (f64, f64) {
    (slope_max(y, e_y + reach), 0.0)
}

/// Nothing to reuse: the change needs no constants.
pub fn point() -> Point {
    Point::default()
}

/// `max(0, y)` in double-double: exact.
pub fn double_double(y: DoubleDouble) -> DoubleDouble {
    if y.to_f64() > 0.0 {
        y
    } else {
        DoubleDouble::ZERO
    }
}

/// The slope in double-double at `y` (exact where `y` is clear of 0; the kink is judged
/// apart).
pub fn double_double_slope(y: DoubleDouble) -> (DoubleDouble, f64) {
    (DoubleDouble::from(slope(y.to_f64())), 0.0)
}

/// The slope as a rule takes it from the output `o`: 1 where `o > 0`, 0 where `o = 0`; no
/// tilt.
pub fn output_slope(o: f64) -> (f64, f64) {
    (slope(o), 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_is_the_difference_of_the_two_values_on_either_side_of_the_kink() {
        // Every sign combination of y, y + d, with values where y + d is exact.
        for (y, d) in [
            (2.0, 0.5),
            (2.0, -3.0),
            (-2.0, 3.0),
            (-2.0, -0.5),
            (0.0, 1.0),
            (0.0, -1.0),
            (1.0, -1.0),
        ] {
            let [change] = change(y, [d]);
            assert_eq!(change, value(y + d) - value(y), "y = {y}, d = {d}");
        }
    }

    #[test]
    fn the_kink_is_at_zero_only_and_within_its_reach() {
        assert!(kink_within(0.0, 0.0));
        assert!(kink_within(-1e-20, 1e-19));
        assert!(!kink_within(1e-20, 1e-21));
        assert_eq!((slope(0.0), slope(1e-300), slope(-1e-300)), (0.0, 1.0, 0.0));
        assert_eq!((slope_max(-1.0, 0.5), slope_max(-1.0, 1.0)), (0.0, 1.0));
        assert!(value(f64::NAN).is_nan());
    }
}
