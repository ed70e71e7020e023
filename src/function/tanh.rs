//! The hyperbolic tangent `tanh(y) = 2σ(2y) − 1`, as the oracles and the tolerance know it.
//!
//! Its derivative, bounds and change without cancellation follow from the sigmoid's by that
//! identity, scaled by powers of two (exact in binary): `tanh'(y) = 4σ'(2y)`,
//! `tanh''(y) = 8σ''(2y)`, `tanh(y + d) − tanh(y) = 2(σ(2y + 2d) − σ(2y))`. Its value is the
//! library's, whose error was measured (`the_library_tanh_is_within_its_roundings`); its
//! double-double form is a sum of positive series terms near 0, where `2σ(2y) − 1` would
//! cancel, and the sigmoid's beyond. The lecture's rule under test takes the slope from the
//! output, `1 − o²`; tanh is smooth: no kinks.

use super::Point;
use super::double_double::{DoubleDouble, UNIT};
use super::sigmoid;
use crate::precision::Precision;

/// The units of round-off, relative to its value, within which an engine computes tanh: a
/// library tanh within two units in the last place (glibc and the C runtimes document 2 ulp
/// or less), with room for one or two more roundings of a formula.
pub const ENGINE_ROUNDINGS: f64 = 6.0;

/// The roundings of [`value`] relative to its value: the library's tanh, measured within 2.4
/// units of round-off (1.2 units in the last place) over every binade the tests sweep; four
/// leaves room for other C libraries.
pub const VALUE_ROUNDINGS: f64 = 4.0;

/// The roundings of [`change`], relative to the change: the sigmoid's, doubled exactly.
pub const CHANGE_ROUNDINGS: f64 = sigmoid::CHANGE_ROUNDINGS;

/// The library's tanh.
pub fn value(y: f64) -> f64 {
    y.tanh()
}

/// `tanh'(y) = 4σ(2y)σ(−2y)`, from the input and without `1 − tanh²` to cancel.
pub fn slope(y: f64) -> f64 {
    4.0 * sigmoid::slope(2.0 * y)
}

/// The steepest slope within `error` of `y`.
pub fn slope_max(y: f64, error: f64) -> f64 {
    4.0 * sigmoid::slope_max(2.0 * y, 2.0 * error)
}

/// The largest `|tanh''|` within `reach` of `y`.
pub fn curvature_max(y: f64, reach: f64) -> f64 {
    8.0 * sigmoid::curvature_max(2.0 * y, 2.0 * reach)
}

/// The absolute part of an engine's tanh error for a value of at most `largest`: as the
/// sigmoid's, the smallest normal number where the value may lie below it (flushed to
/// zero), [`ENGINE_ROUNDINGS`] underflow units elsewhere.
pub fn engine_floor(precision: Precision, largest: f64) -> f64 {
    if largest < precision.smallest_normal() {
        precision.smallest_normal()
    } else {
        ENGINE_ROUNDINGS * precision.underflow_unit()
    }
}

/// The slope as the rule under test takes it, `s(o) = 1 − o²` from the output `o`, and its
/// tilt `s'(o) = −2o`.
pub fn output_slope(o: f64) -> (f64, f64) {
    (1.0 - o * o, -2.0 * o)
}

/// Half the largest `|s''(o)|` of [`output_slope`]: `s'' = −2`.
pub const OUTPUT_SLOPE_BEND: f64 = 1.0;

/// The roundings of the rule `g·(1 − o·o)` (or `g·(1 − o)(1 + o)`), in units of `u·|g|`, for
/// a slope of at most `slope`: `o·o` rounds by `o²` (not by the slope: near saturation the
/// slope is tiny and that rounding is not), the rest by the slope each.
pub fn rule_roundings(o: f64, slope: f64) -> f64 {
    o * o + 3.0 * slope
}

/// The sigmoid's point at `2y` that a tanh point at `y` holds.
fn sigmoid_point(point: &Point) -> Point {
    Point {
        constants: point.constants,
        slope: point.slope / 4.0,
        curvature: point.curvature / 8.0,
    }
}

/// The constants a change at `y` reuses: the sigmoid's at `2y`; the steepest slope and
/// largest curvature within `e_y` of `y`.
pub fn point(y: f64, e_y: f64) -> Point {
    let point = sigmoid::point(2.0 * y, 2.0 * e_y);
    Point {
        constants: point.constants,
        slope: 4.0 * point.slope,
        curvature: 8.0 * point.curvature,
    }
}

/// `tanh(y + d) − tanh(y)` in every lane, without cancellation: `2(σ(2y + 2d) − σ(2y))`.
pub fn change<const N: usize>(y: f64, point: &Point, d: [f64; N], reach: f64) -> [f64; N] {
    let change = sigmoid::change(
        2.0 * y,
        &sigmoid_point(point),
        d.map(|d| 2.0 * d),
        2.0 * reach,
    );
    change.map(|c| 2.0 * c)
}

/// The steepest slope and the largest curvature within `e_y` of `y` and a step of `reach`.
pub fn along_step(y: f64, e_y: f64, point: &Point, reach: f64) -> (f64, f64) {
    let (slope, curvature) =
        sigmoid::along_step(2.0 * y, 2.0 * e_y, &sigmoid_point(point), 2.0 * reach);
    (4.0 * slope, 8.0 * curvature)
}

/// Below this `|y|`, the double-double tanh is `sinh/cosh` by their series.
const SERIES_REACH: f64 = 0.5;

/// The series terms summed: at `|y| ≤ ½` the 20th term of either is below `10⁻⁴⁰` of the
/// first.
const SERIES_TERMS: usize = 20;

/// tanh in double-double: near 0 `sinh(y)/cosh(y)` from their Taylor series, every term of
/// one sign (so nothing cancels, and each is the last times `y²/((k + 1)(k + 2))`, exact
/// integers); beyond `½` as `2σ(2y) − 1`, which then loses at most a factor `1/tanh(½) < 2.2`
/// to the subtraction. Within [`DD_UNITS`] units of the double-double unit round-off.
pub fn double_double(y: DoubleDouble) -> DoubleDouble {
    if y.hi.abs() >= SERIES_REACH {
        return sigmoid::double_double(y.scaled(2.0))
            .scaled(2.0)
            .minus(DoubleDouble::ONE);
    }
    let square = y.times(y);
    let (mut sinh, mut cosh) = (y, DoubleDouble::ONE);
    let (mut odd, mut even) = (y, DoubleDouble::ONE);
    for k in 1..SERIES_TERMS {
        let k = k as f64;
        even = even
            .times(square)
            .over(DoubleDouble::from((2.0 * k - 1.0) * (2.0 * k)));
        odd = odd
            .times(square)
            .over(DoubleDouble::from((2.0 * k) * (2.0 * k + 1.0)));
        cosh = cosh.plus(even);
        sinh = sinh.plus(odd);
    }
    sinh.over(cosh)
}

/// The slope in double-double, from the input `y` (not from the output, whose `1 − o²`
/// would cancel in both tails): `4σ(2y)σ(−2y)`, and its own error, two sigmoids' and a
/// product's. (How far `y`'s error moves it, the caller adds from the curvature.)
pub fn double_double_slope(y: DoubleDouble) -> (DoubleDouble, f64) {
    let twice = y.scaled(2.0);
    let slope = sigmoid::double_double(twice)
        .times(sigmoid::double_double(twice.negated()))
        .scaled(4.0);
    (slope, (2.0 * sigmoid::DD_UNITS + 2.0) * UNIT * slope.abs())
}

/// The error of [`double_double`] in units of the double-double unit round-off: beyond ½,
/// the sigmoid's (at most doubled by the subtraction's factor 2.2, two roundings more); near
/// 0, forty products and quotients and forty sums of positive terms, and the final quotient.
/// Measured well inside it (`the_double_double_tanh_meets_its_error_model`).
pub const DD_UNITS: f64 = 2.2 * sigmoid::DD_UNITS + 200.0;

/// [`DD_UNITS`] as a relative error.
pub const DD_ERROR: f64 = DD_UNITS * UNIT;

#[cfg(test)]
mod tests {
    use super::*;

    /// tanh by the other route at each point: the series reaches past ½, and the sigmoid
    /// route below it, so that the two check each other where both hold.
    fn by_series(y: f64) -> DoubleDouble {
        let y = DoubleDouble::from(y);
        let square = y.times(y);
        let (mut sinh, mut cosh) = (y, DoubleDouble::ONE);
        let (mut odd, mut even) = (y, DoubleDouble::ONE);
        for k in 1..60 {
            let k = k as f64;
            even = even
                .times(square)
                .over(DoubleDouble::from((2.0 * k - 1.0) * (2.0 * k)));
            odd = odd
                .times(square)
                .over(DoubleDouble::from((2.0 * k) * (2.0 * k + 1.0)));
            cosh = cosh.plus(even);
            sinh = sinh.plus(odd);
        }
        sinh.over(cosh)
    }

    #[test]
    fn the_double_double_tanh_meets_its_error_model() {
        for y in [0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0] {
            for sign in [1.0, -1.0] {
                let y = sign * y;
                let (ours, other) = (double_double(DoubleDouble::from(y)), by_series(y));
                let error = ours.minus(other).abs() / other.abs();
                assert!(error < DD_ERROR, "{y}: relative {error:e}");
            }
        }
        // Near 0 the result is the series; at 0.4999 the sigmoid route must agree with it.
        let y = 0.4999;
        let sigmoid_route = sigmoid::double_double(DoubleDouble::from(2.0 * y))
            .scaled(2.0)
            .minus(DoubleDouble::ONE);
        let series = double_double(DoubleDouble::from(y));
        assert!(sigmoid_route.minus(series).abs() / series.abs() < DD_ERROR);
        // Tiny arguments keep every digit: tanh(y) = y − y³/3 + …
        for y in [1e-300, -3e-200, 1e-20, 1e-9] {
            let t = double_double(DoubleDouble::from(y));
            let expected = DoubleDouble::from(y).minus(DoubleDouble::from(y * y * y / 3.0));
            assert!(t.minus(expected).abs() <= 1e-30 * y.abs(), "{y}");
        }
    }

    #[test]
    fn the_library_tanh_is_within_its_roundings() {
        // Every binade from 2⁻⁴⁰ to 2⁵, 64 points each, both signs, against double-double.
        let u = f64::EPSILON / 2.0;
        let mut worst: f64 = 0.0;
        for binade in -40..5 {
            for k in 0..64 {
                let y = (1.0 + k as f64 / 64.0) * 2f64.powi(binade);
                for y in [y, -y] {
                    let exact = double_double(DoubleDouble::from(y));
                    let error = DoubleDouble::from(value(y)).minus(exact).abs() / exact.abs();
                    worst = worst.max(error / u);
                }
            }
        }
        assert!(
            worst <= VALUE_ROUNDINGS,
            "the library's tanh is off by {worst} units"
        );
    }

    #[test]
    fn the_change_and_the_slope_agree_with_the_value_where_nothing_cancels() {
        for y in [-20.0, -1.0, -1e-3, 0.0, 0.5, 3.0] {
            let point = point(y, 0.0);
            let d = [0.25, -0.25];
            let change = change(y, &point, d, 0.25);
            for (c, d) in change.iter().zip(d) {
                let plain = value(y + d) - value(y);
                let slack = 8.0 * f64::EPSILON * (value(y + d).abs() + value(y).abs());
                assert!((c - plain).abs() <= slack, "{y} {d}: {c} against {plain}");
            }
            let t = value(y);
            let from_output = 1.0 - t * t;
            assert!((slope(y) - from_output).abs() <= 4.0 * f64::EPSILON, "{y}");
        }
        // Far out, the slope keeps its digits where 1 − tanh² is 0.
        assert!(slope(30.0) > 0.0 && 1.0 - value(30.0).powi(2) == 0.0);
    }
}
