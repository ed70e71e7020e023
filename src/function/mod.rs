//! What the oracles and the tolerance know about the functions the gates apply, one module
//! per function (`sigmoid`, `tanh`, `relu`; `exp`, `log` come with their gates): its
//! value, its derivative written independently of the rule under test, bounds on its slope and
//! curvature, its change without cancellation, its double-double form, the rounding model of
//! an engine that computes it, and its kinks. Nothing here imports the rules under test
//! (`gate.rs`, `arithmetic.rs`) or an engine, and they import nothing from here
//! (`tests/house.rs` holds both), so the oracles' knowledge of a function shares no code with
//! the code they check.
//!
//! [`Function`] is how an oracle's arm for the elementwise gates asks: one arm per family,
//! whichever function the gate applies.

pub mod double_double;
pub mod relu;
pub mod sigmoid;
pub mod tanh;

use crate::op::Unary;
use crate::precision::Precision;
use double_double::DoubleDouble;

/// A function a gate applies elementwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Sigmoid,
    Tanh,
    Relu,
}

/// What a function's change at one point reuses for every perturbation: its constants there,
/// and its steepest slope and largest curvature within the round-off of the point.
#[derive(Clone, Copy, Debug, Default)]
pub struct Point {
    /// The function's own constants at the point (for σ: `e^(−|y|)` and `σ(−y)`).
    pub constants: [f64; 2],
    pub slope: f64,
    pub curvature: f64,
}

impl Function {
    /// The function an elementwise gate applies.
    pub fn of(op: Unary) -> Option<Function> {
        match op {
            Unary::Sigmoid => Some(Function::Sigmoid),
            Unary::Tanh => Some(Function::Tanh),
            Unary::Relu => Some(Function::Relu),
        }
    }

    /// Whether it has kinks (points without a derivative), where the oracles judge a claim
    /// against both sides rather than a slope.
    pub fn has_kinks(self) -> bool {
        self == Function::Relu
    }

    /// Whether `y` lies within `reach` of one of its kinks: there its slope may be either
    /// side's.
    pub fn kink_within(self, y: f64, reach: f64) -> bool {
        match self {
            Function::Sigmoid | Function::Tanh => false,
            Function::Relu => relu::kink_within(y, reach),
        }
    }

    /// Its value.
    pub fn value(self, y: f64) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::value(y),
            Function::Tanh => tanh::value(y),
            Function::Relu => relu::value(y),
        }
    }

    /// Its derivative at `y`, from the input.
    pub fn slope(self, y: f64) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::slope(y),
            Function::Tanh => tanh::slope(y),
            Function::Relu => relu::slope(y),
        }
    }

    /// The largest `|f'|` within `reach` of `y`.
    pub fn slope_max(self, y: f64, reach: f64) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::slope_max(y, reach),
            Function::Tanh => tanh::slope_max(y, reach),
            Function::Relu => relu::slope_max(y, reach),
        }
    }

    /// The largest `|f''|` within `reach` of `y`.
    pub fn curvature_max(self, y: f64, reach: f64) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::curvature_max(y, reach),
            Function::Tanh => tanh::curvature_max(y, reach),
            Function::Relu => 0.0,
        }
    }

    /// The roundings of [`Function::value`], relative to its value.
    pub fn value_roundings(self) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::VALUE_ROUNDINGS,
            Function::Tanh => tanh::VALUE_ROUNDINGS,
            Function::Relu => relu::VALUE_ROUNDINGS,
        }
    }

    /// The roundings of [`Function::change`], relative to the change.
    pub fn change_roundings(self) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::CHANGE_ROUNDINGS,
            Function::Tanh => tanh::CHANGE_ROUNDINGS,
            Function::Relu => relu::CHANGE_ROUNDINGS,
        }
    }

    /// The constants at `y` (off by at most `e_y`) that [`Function::change`] reuses.
    pub fn point(self, y: f64, e_y: f64) -> Point {
        match self {
            Function::Sigmoid => sigmoid::point(y, e_y),
            Function::Tanh => tanh::point(y, e_y),
            Function::Relu => relu::point(),
        }
    }

    /// `f(y + d) − f(y)` in every lane, without cancellation; `reach` is the largest `|d|`.
    pub fn change<const N: usize>(
        self,
        y: f64,
        point: &Point,
        d: [f64; N],
        reach: f64,
    ) -> [f64; N] {
        match self {
            Function::Sigmoid => sigmoid::change(y, point, d, reach),
            Function::Tanh => tanh::change(y, point, d, reach),
            Function::Relu => relu::change(y, d),
        }
    }

    /// The steepest slope and largest curvature within `e_y` of `y` and a step of `reach`.
    pub fn along_step(self, y: f64, e_y: f64, point: &Point, reach: f64) -> (f64, f64) {
        match self {
            Function::Sigmoid => sigmoid::along_step(y, e_y, point, reach),
            Function::Tanh => tanh::along_step(y, e_y, point, reach),
            Function::Relu => relu::along_step(y, e_y, reach),
        }
    }

    /// Its value in double-double.
    pub fn double_double(self, y: DoubleDouble) -> DoubleDouble {
        match self {
            Function::Sigmoid => sigmoid::double_double(y),
            Function::Tanh => tanh::double_double(y),
            Function::Relu => relu::double_double(y),
        }
    }

    /// Its derivative in double-double at the input `y`, whose output is `o` (off by `e_o`),
    /// and its error besides what `y`'s error moves it by: σ takes it from the output, as
    /// the lecture does, with how far `o`'s error moves it; tanh from the input, whose `1 − o²`
    /// would cancel in both tails.
    pub fn double_double_slope(
        self,
        y: DoubleDouble,
        o: DoubleDouble,
        e_o: f64,
    ) -> (DoubleDouble, f64) {
        match self {
            Function::Sigmoid => sigmoid::double_double_slope(o, e_o),
            Function::Tanh => tanh::double_double_slope(y),
            Function::Relu => relu::double_double_slope(y),
        }
    }

    /// The error of [`Function::double_double`], in units of the double-double round-off.
    pub fn double_double_units(self) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::DD_UNITS,
            Function::Tanh => tanh::DD_UNITS,
            Function::Relu => relu::DD_UNITS,
        }
    }

    /// The units of round-off, relative to its value, within which an engine computes it.
    pub fn engine_roundings(self) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::ENGINE_ROUNDINGS,
            Function::Tanh => tanh::ENGINE_ROUNDINGS,
            Function::Relu => relu::ENGINE_ROUNDINGS,
        }
    }

    /// The absolute part of an engine's error in computing it, for a value of at most
    /// `largest`.
    pub fn engine_floor(self, precision: Precision, largest: f64) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::engine_floor(precision, largest),
            Function::Tanh => tanh::engine_floor(precision, largest),
            // Exact: no floor.
            Function::Relu => 0.0,
        }
    }

    /// Whether a computed value `o` lies where the function's values underflow (σ: below the
    /// smallest normal number), so that a derivative through it may be lost.
    pub fn underflows(self, o: f64) -> bool {
        match self {
            Function::Sigmoid => o < f64::MIN_POSITIVE,
            // tanh(y) ≈ y near 0: only a subnormal value has lost digits.
            Function::Tanh => o != 0.0 && o.abs() < f64::MIN_POSITIVE,
            // Exact: a subnormal argument passes through whole.
            Function::Relu => false,
        }
    }

    /// The derivative as the lecture's rule takes it, `s(o)` from the output `o`, and its
    /// tilt `s'(o)`.
    pub fn output_slope(self, o: f64) -> (f64, f64) {
        match self {
            Function::Sigmoid => sigmoid::output_slope(o),
            Function::Tanh => tanh::output_slope(o),
            Function::Relu => relu::output_slope(o),
        }
    }

    /// The rounding error of the rule under test, `g·s(o)`, for a slope of at most `slope`
    /// at the output `o`, `unit` the unit round-off times `|g|` and `eta` the underflow
    /// unit (σ: three roundings, each relative to the slope).
    pub fn rule_rounding(self, o: f64, slope: f64, unit: f64, eta: f64) -> f64 {
        match self {
            Function::Sigmoid => 3.0 * (unit * slope + eta),
            Function::Tanh => unit * tanh::rule_roundings(o, slope) + 3.0 * eta,
            // g times 1 or 0: exact.
            Function::Relu => 0.0,
        }
    }

    /// Half the largest `|s''(o)|` of [`Function::output_slope`].
    pub fn output_slope_bend(self) -> f64 {
        match self {
            Function::Sigmoid => sigmoid::OUTPUT_SLOPE_BEND,
            Function::Tanh => tanh::OUTPUT_SLOPE_BEND,
            Function::Relu => 0.0,
        }
    }

    /// [`Function::output_slope`] at `o`, and how far an `o` off by `e_o` moves it:
    /// `(|s'(o)| + bend·e_o)·e_o`.
    pub fn slope_from_output(self, o: f64, e_o: f64) -> (f64, f64) {
        let (slope, tilt) = self.output_slope(o);
        (slope, (tilt.abs() + self.output_slope_bend() * e_o) * e_o)
    }
}
