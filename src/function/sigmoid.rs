//! The logistic function `σ(y) = 1/(1 + e^(−y))`, as the oracles and the tolerance know it:
//! its value, its derivative `σ'(y) = σ(y)·σ(−y)` (from the input, not the lecture's
//! `o(1 − o)` from the output, which is the rule under test), the bounds on its slope and
//! curvature within an error of its input, its change `σ(y + d) − σ(y)` without cancellation,
//! its double-double form, and the rounding model of an engine that computes it. σ is smooth:
//! it has no kinks.

use super::Point;
use super::double_double::DoubleDouble;
use crate::precision::Precision;

/// The units of round-off, relative to its value, within which an engine computes a
/// sigmoid: `1/(1 + e^(−s))` takes an exponential (within one unit in the last place, two
/// units of round-off), a sum and a division, and the exponential's error is damped by
/// `e/(1 + e) ≤ 1` on the way; six leaves room for a library exponential of a few ulps.
pub const ENGINE_ROUNDINGS: f64 = 6.0;

/// The roundings of [`value`] relative to its value (an exponential, a sum, a division).
pub const VALUE_ROUNDINGS: f64 = 4.0;

/// The roundings in [`change`], relative to the change: `expm1` (its polynomial or the
/// library's), `e(1 + m)`, a sum, a division and a product, with the constants `e^(−|y|)`
/// and `σ(−y)` already a few units off.
pub const CHANGE_ROUNDINGS: f64 = 16.0;

/// The largest `|σ'''|` (at `y = 0`): `1/8`.
pub const LARGEST_THIRD: f64 = 0.125;

/// `√3/18`, the largest |σ''| (at `|y| = ln(2 + √3)`), rounded up.
const LARGEST_CURVATURE: f64 = 0.096_225_044_864_937_64;

/// Where |σ''| peaks: `ln(2 + √3)`.
const PEAK: f64 = 1.316_957_896_924_816_6;

/// The logistic function, written so that neither branch overflows: for very negative `y`,
/// `e^(−y)` would be infinite, so the algebraically equal `e^y / (1 + e^y)` is used.
pub fn value(y: f64) -> f64 {
    if y >= 0.0 {
        1.0 / (1.0 + (-y).exp())
    } else {
        let e = y.exp();
        e / (1.0 + e)
    }
}

/// `σ'(y) = σ(y)·σ(−y)`, both factors from the input: no `1 − σ` to cancel.
pub fn slope(y: f64) -> f64 {
    value(y) * value(-y)
}

/// The steepest slope of σ within `error` of `y`: `σ'(max(|y| − error, 0))`.
pub fn slope_max(y: f64, error: f64) -> f64 {
    let nearest = (y.abs() - error).max(0.0);
    value(nearest) * value(-nearest)
}

/// The largest `|σ''|` within `reach` of `y`: σ'' = σ(1 − σ)(1 − 2σ) grows in `|y|` up to
/// its peak at `ln(2 + √3)` and falls beyond it.
pub fn curvature_max(y: f64, reach: f64) -> f64 {
    let (near, far) = ((y.abs() - reach).max(0.0), y.abs() + reach);
    let z = if far < PEAK {
        far
    } else if near > PEAK {
        near
    } else {
        return LARGEST_CURVATURE;
    };
    let (o, complement) = (value(z), value(-z));
    o * complement * (o - complement).abs()
}

/// The absolute part of an engine's sigmoid error, for a value of at most `largest`: the
/// smallest normal number where the value may lie below it, since the textbook
/// `1/(1 + e^(−s))` returns 0 there once `e^(−s)` overflows (PyTorch's sigmoid does, in `f32`
/// below `s ≈ −88.7` and in `f64` below `s ≈ −709.8`), and flush-to-zero arithmetic returns 0
/// for any result below it; [`ENGINE_ROUNDINGS`] underflow units elsewhere.
pub fn engine_floor(precision: Precision, largest: f64) -> f64 {
    if largest < precision.smallest_normal() {
        precision.smallest_normal()
    } else {
        ENGINE_ROUNDINGS * precision.underflow_unit()
    }
}

/// The slope as the lecture's rule takes it, `s(o) = o(1 − o)` from the output `o`, and its
/// tilt `s'(o) = 1 − 2o`.
pub fn output_slope(o: f64) -> (f64, f64) {
    (o * (1.0 - o), 1.0 - 2.0 * o)
}

/// Half the largest `|s''(o)|` of [`output_slope`]: `s'' = −2`.
pub const OUTPUT_SLOPE_BEND: f64 = 1.0;

/// The constants a change at `y` reuses ([`super::Point`]): `e^(−|y|)`, from which
/// `σ(y + d)` follows with one `expm1(−d)`, and `σ(−y)`, computed without `1 − σ(y)`; and the
/// steepest slope and largest curvature within `e_y` of `y`.
pub fn point(y: f64, e_y: f64) -> Point {
    let e = (-y.abs()).exp();
    let (big, small) = (1.0 / (1.0 + e), e / (1.0 + e));
    Point {
        constants: [e, if y >= 0.0 { small } else { big }],
        slope: slope_max(y, e_y),
        curvature: curvature_max(y, e_y),
    }
}

/// Below this, `expm1` by its Taylor polynomial is exact to round-off: the first omitted
/// term, `x⁶/720`, is below `1e-22·|x|`.
const TAYLOR_REACH: f64 = 1e-4;

fn expm1_taylor(x: f64) -> f64 {
    x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0)))))
}

/// `expm1(x)`: by its Taylor polynomial where that is exact to round-off, by the library
/// elsewhere. The steps of a perturbation make `|x|` tiny nearly always, so this saves the
/// library call.
pub fn expm1(x: f64) -> f64 {
    if x.abs() < TAYLOR_REACH {
        expm1_taylor(x)
    } else {
        x.exp_m1()
    }
}

/// `σ(y + d) − σ(y)` in every lane, from the constants at `y` and `reach = max |d|`: with
/// `m = expm1(−d)` (so `e^(−d) = 1 + m`), `σ(y + d) = 1 / (1 + e(1 + m))` for `y ≥ 0` and
/// `e / ((1 + m) + e)` for `y < 0`, none computed as `1 −` another. Where that overflows (a
/// change beyond ±709), the plain subtraction, which has nothing left to cancel. Written lane
/// by lane without branches, so that the lanes are computed together.
pub fn change<const N: usize>(y: f64, point: &Point, d: [f64; N], reach: f64) -> [f64; N] {
    let [e, complement] = point.constants;
    let mut m = d;
    if reach < TAYLOR_REACH {
        for m in &mut m {
            *m = expm1_taylor(-*m);
        }
    } else {
        for m in &mut m {
            *m = (-*m).exp_m1();
        }
    }
    let mut change = m;
    if y >= 0.0 {
        for c in &mut change {
            *c = complement * -*c / (1.0 + e * (1.0 + *c));
        }
    } else {
        for c in &mut change {
            *c = e * complement * -*c / ((1.0 + *c) + e);
        }
    }
    if change.iter().all(|c| c.is_finite()) {
        change
    } else {
        subtracted(y, d, change)
    }
}

/// The plain subtraction for the lanes where the rule overflowed. Kept out of line: inlined,
/// the compiler computes its exponentials on every call, the common case included.
#[cold]
#[inline(never)]
fn subtracted<const N: usize>(y: f64, d: [f64; N], mut change: [f64; N]) -> [f64; N] {
    for (c, d) in change.iter_mut().zip(d) {
        if !c.is_finite() && d.is_finite() {
            *c = value(y + d) - value(y);
        }
    }
    change
}

/// The steepest slope and the largest curvature of σ within `e_y` of `y` and a step of
/// `reach` beyond. For short steps they come from the constants at `y`: the slope's
/// relative rate of change, `|1 − 2σ|`, is at most 1, so it grows by at most `1 + 3·reach`;
/// so does the curvature's, `|σ'''/σ''|`, by at most `1 + 5·reach` away from `y = 0`, where
/// `σ''` vanishes and only its largest derivative, `1/8`, bounds its growth.
pub fn along_step(y: f64, e_y: f64, point: &Point, reach: f64) -> (f64, f64) {
    if reach > 1e-3 {
        let widest = e_y + reach;
        return (slope_max(y, widest), curvature_max(y, widest));
    }
    let slope = point.slope * (1.0 + 3.0 * reach);
    let curvature = if y.abs() - e_y - reach >= 0.5 {
        point.curvature * (1.0 + 5.0 * reach)
    } else {
        point.curvature + LARGEST_THIRD * reach
    };
    (slope, curvature)
}

/// The logistic function in double-double, from `e^(−|y|)`, which never overflows; within
/// [`DD_UNITS`] units of the double-double unit round-off.
pub fn double_double(y: DoubleDouble) -> DoubleDouble {
    let magnitude = if y.hi < 0.0 { y.negated() } else { y };
    let e = magnitude.negated().exp();
    let denominator = DoubleDouble::ONE.plus(e);
    if y.hi >= 0.0 {
        DoubleDouble::ONE.over(denominator)
    } else {
        e.over(denominator)
    }
}

/// The slope `o(1 − o)` from an output `o` in double-double, and how far an `o` off by `e_o`
/// moves it: `|1 − 2o| ≤ 1` to first order, `(1 + e_o)·e_o` in all.
pub fn double_double_slope(o: DoubleDouble, e_o: f64) -> (DoubleDouble, f64) {
    (o.times(DoubleDouble::ONE.minus(o)), (1.0 + e_o) * e_o)
}

/// The error of [`double_double`] in units of the double-double unit round-off: the
/// exponential's, a sum and a quotient.
pub const DD_UNITS: f64 = super::double_double::EXP_UNITS + 4.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_double_double_sigmoid_is_symmetric_and_saturates() {
        for y in [-30.0, -2.5, -1e-9, 0.0, 0.7, 12.0, 40.0] {
            let (o, complement) = (
                double_double(DoubleDouble::from(y)),
                double_double(DoubleDouble::from(-y)),
            );
            assert!(
                o.plus(complement).minus(DoubleDouble::ONE).abs() < 1e-30,
                "{y}"
            );
        }
        assert_eq!(double_double(DoubleDouble::from(0.0)).to_f64(), 0.5);
    }

    #[test]
    fn the_change_agrees_with_the_difference_where_nothing_cancels() {
        for y in [-20.0, -1.0, 0.0, 0.5, 3.0] {
            let point = point(y, 0.0);
            let d = [0.25, -0.25];
            let change = change(y, &point, d, 0.25);
            for (c, d) in change.iter().zip(d) {
                // The plain difference is off by a few units of round-off of its terms.
                let plain = value(y + d) - value(y);
                let slack = 4.0 * f64::EPSILON * (value(y + d) + value(y));
                assert!((c - plain).abs() <= slack, "{y} {d}: {c} against {plain}");
            }
        }
    }
}
