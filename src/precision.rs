//! The floating-point formats an engine may compute in, and rounding to them.
//!
//! An engine computes in `f64` (the default), `f32`, `f16` or `bf16`. Its precision enters a
//! check twice: the leaves are rounded to it first (so that the engine and the oracles
//! differentiate the same function), and its unit round-off `u` and underflow unit `η`
//! enter the allowance ([`crate::tolerance`]), through the standard model of floating-point
//! arithmetic, `fl(x ∘ y) = (x ∘ y)(1 + δ) + η'` with `|δ| ≤ u`, `|η'| ≤ η` (Higham,
//! *Accuracy and Stability of Numerical Algorithms*, §2.2).
//!
//! [`Precision::round`] rounds an `f64` to nearest, ties to even, in the format, with its
//! subnormals and its overflow to infinity. An operation done in `f64` on values of a
//! narrower format and then rounded is the correctly rounded operation of that format (`f64`
//! has more than twice their significand bits plus two), which is how the low-precision
//! reference engines compute.

use std::fmt;
use std::str::FromStr;

/// A floating-point format an engine computes in, and whether its arithmetic flushes
/// subnormal numbers to zero (as XLA on the CPU, most GPU kernels and `-ffast-math` code
/// do): then a result below the smallest normal number may be zero, and a subnormal operand
/// may be read as zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Precision {
    format: Format,
    flushes_subnormals: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Format {
    F64,
    F32,
    F16,
    Bf16,
}

/// Every format with gradual underflow, widest first (each also comes flushing, as
/// [`Precision::flushing_subnormals`]).
pub const ALL: [Precision; 4] = [
    Precision::F64,
    Precision::F32,
    Precision::F16,
    Precision::Bf16,
];

impl Default for Precision {
    fn default() -> Self {
        Precision::F64
    }
}

impl fmt::Debug for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Precision {
    /// IEEE binary64: 53 significand bits.
    pub const F64: Precision = Precision::of(Format::F64);
    /// IEEE binary32: 24 significand bits.
    pub const F32: Precision = Precision::of(Format::F32);
    /// IEEE binary16: 11 significand bits, largest finite 65504.
    pub const F16: Precision = Precision::of(Format::F16);
    /// bfloat16: 8 significand bits, the exponent range of `f32`.
    #[allow(non_upper_case_globals)] // the name it had as an enum variant
    pub const Bf16: Precision = Precision::of(Format::Bf16);

    const fn of(format: Format) -> Precision {
        Precision {
            format,
            flushes_subnormals: false,
        }
    }

    /// The same format with arithmetic that flushes subnormal results (and operands) to
    /// zero: named `f32-ftz` and so on.
    pub const fn flushing_subnormals(self) -> Precision {
        Precision {
            flushes_subnormals: true,
            ..self
        }
    }

    /// Whether results below the smallest normal number may be flushed to zero.
    pub fn flushes_subnormals(self) -> bool {
        self.flushes_subnormals
    }

    /// The name on the command line and in case files.
    pub fn name(self) -> &'static str {
        match (self.format, self.flushes_subnormals) {
            (Format::F64, false) => "f64",
            (Format::F32, false) => "f32",
            (Format::F16, false) => "f16",
            (Format::Bf16, false) => "bf16",
            (Format::F64, true) => "f64-ftz",
            (Format::F32, true) => "f32-ftz",
            (Format::F16, true) => "f16-ftz",
            (Format::Bf16, true) => "bf16-ftz",
        }
    }

    /// Significand bits, the implicit one included.
    pub fn significand_bits(self) -> i32 {
        match self.format {
            Format::F64 => 53,
            Format::F32 => 24,
            Format::F16 => 11,
            Format::Bf16 => 8,
        }
    }

    /// The exponent of the smallest normal number.
    fn min_exponent(self) -> i32 {
        match self.format {
            Format::F64 => -1022,
            Format::F32 | Format::Bf16 => -126,
            Format::F16 => -14,
        }
    }

    /// The exponent of the largest finite number.
    fn max_exponent(self) -> i32 {
        match self.format {
            Format::F64 => 1023,
            Format::F32 | Format::Bf16 => 127,
            Format::F16 => 15,
        }
    }

    /// The unit round-off `u = 2^−p`: a rounding to nearest moves a normal number by at
    /// most `u` times itself.
    pub fn unit_roundoff(self) -> f64 {
        exp2(-self.significand_bits())
    }

    /// The most a rounding can move a number where the relative bound no longer holds: half
    /// the smallest subnormal number with gradual underflow; the smallest normal number
    /// where results below it are flushed to zero.
    pub fn underflow_unit(self) -> f64 {
        if self.flushes_subnormals {
            return self.smallest_normal();
        }
        // 2^(emin − p) is half of the smallest subnormal 2^(emin − p + 1); for f64 that is
        // below the smallest f64 subnormal, so the smallest f64 subnormal stands in for it.
        let exponent = self.min_exponent() - self.significand_bits();
        if exponent < -1074 {
            f64::from_bits(1)
        } else {
            exp2(exponent)
        }
    }

    /// The smallest normal number `2^emin`: the most a result below it can be off where it
    /// is flushed to zero rather than rounded to a subnormal number.
    pub fn smallest_normal(self) -> f64 {
        exp2(self.min_exponent())
    }

    /// The largest finite number of the format.
    pub fn max_finite(self) -> f64 {
        (2.0 - exp2(1 - self.significand_bits())) * exp2(self.max_exponent())
    }

    /// `x` rounded to nearest (ties to even) in this format; beyond its range, `±∞`; below
    /// the smallest normal number, zero of its sign where the arithmetic flushes.
    #[inline]
    pub fn round(self, x: f64) -> f64 {
        // One match on both fields, so that `f64` (every operation of the reference engine
        // and of the oracles' bounds) stays a single branch.
        match (self.format, self.flushes_subnormals) {
            (Format::F64, false) => x,
            (Format::F32, false) => x as f32 as f64,
            (Format::F16 | Format::Bf16, false) => self.round_narrow(x),
            (_, true) => {
                let rounded = Precision::of(self.format).round(x);
                if rounded.abs() < self.smallest_normal() {
                    0.0f64.copysign(rounded)
                } else {
                    rounded
                }
            }
        }
    }

    fn round_narrow(self, x: f64) -> f64 {
        if x == 0.0 || !x.is_finite() {
            return x;
        }
        // The spacing of the format's numbers at |x|: 2^(e − p + 1), with e the exponent of
        // |x|, not below the exponent of the smallest normal (where subnormals keep it).
        let exponent = ((x.abs().to_bits() >> 52) as i32 - 1023).max(self.min_exponent());
        let spacing = exp2(exponent - self.significand_bits() + 1);
        // Both scalings are by powers of two and exact; `round_ties_even` is the rounding.
        let rounded = (x / spacing).round_ties_even() * spacing;
        if rounded.abs() > self.max_finite() {
            f64::INFINITY.copysign(x)
        } else {
            rounded
        }
    }

    /// `γ(n) = (1 + u)^n − 1`: a bound on the relative error of `n` successive roundings
    /// (a sum or dot product of `n + 1` terms in any order), `n·u/(1 − n·u)` in Higham's
    /// notation where `n·u < 1`, and still finite beyond.
    pub fn gamma(self, n: usize) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let u = self.unit_roundoff();
        let nu = n as f64 * u;
        if nu < 0.5 {
            // (1 + u)^n − 1 ≤ nu/(1 − nu), and cheaper.
            nu / (1.0 - nu)
        } else {
            (n as f64 * u.ln_1p()).exp_m1()
        }
    }
}

/// `2^exponent`, exactly, from its bits where it is a normal or subnormal `f64` (the
/// bounds ask for it at every operation, and `powi` is a loop).
pub(crate) fn exp2(exponent: i32) -> f64 {
    if (-1022..=1023).contains(&exponent) {
        f64::from_bits(((exponent + 1023) as u64) << 52)
    } else if (-1074..-1022).contains(&exponent) {
        f64::from_bits(1u64 << (exponent + 1074))
    } else {
        2f64.powi(exponent)
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        let (format, flushing) = match name.strip_suffix("-ftz") {
            Some(format) => (format, true),
            None => (name, false),
        };
        let precision = ALL
            .into_iter()
            .find(|p| p.name() == format)
            .ok_or_else(|| {
                format!(
                    "unknown precision `{name}` (one of f64, f32, f16, bf16, each also with -ftz \
                 for arithmetic that flushes subnormal numbers to zero)"
                )
            })?;
        Ok(match flushing {
            true => precision.flushing_subnormals(),
            false => precision,
        })
    }
}

/// How an engine sums the terms of each matrix-vector and matrix product, and of the row sums
/// of a broadcast operand's gradient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Summation {
    /// In any order, fused or not: the bound is `γ(n)·Σ|terms|`, which holds for every order.
    #[default]
    AnyOrder,
    /// Each row of a matrix-vector product from its first column to its last, each entry of a
    /// matrix product (forward and backward) over its inner index in order, each row sum from
    /// the first row to the last; one term at a time (a fused multiply-add or a product and a
    /// sum): the bound is the running error bound of that order,
    /// `u·Σ_k |partial sum k|`, which for terms of mixed signs is about `√n` times smaller.
    Sequential,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushing_formats_round_subnormals_to_zero_and_allow_the_smallest_normal() {
        for format in ALL {
            let flushing = format.flushing_subnormals();
            assert!(flushing.flushes_subnormals() && !format.flushes_subnormals());
            assert_eq!(flushing.name().parse::<Precision>(), Ok(flushing));
            assert_eq!(flushing.name(), format!("{}-ftz", format.name()));
            let normal = format.smallest_normal();
            assert_eq!(flushing.underflow_unit(), normal);
            assert!(format.underflow_unit() < normal);
            // Below the smallest normal number: zero of its sign; at it and above, as before.
            for x in [normal / 2.0, normal * 0.75, -normal / 3.0] {
                let rounded = flushing.round(x);
                assert!(rounded == 0.0 && rounded.is_sign_negative() == x.is_sign_negative());
            }
            for x in [normal, -normal, 1.0, 3.0e4, f64::INFINITY] {
                assert_eq!(
                    flushing.round(x).to_bits(),
                    format.round(x).to_bits(),
                    "{x:e}"
                );
            }
            // The model's absolute error bound holds for every flushed result.
            let x = normal * 0.999;
            assert!((flushing.round(x) - x).abs() <= flushing.underflow_unit());
        }
        assert!("f32-ftz-ftz".parse::<Precision>().is_err());
        assert!("ftz".parse::<Precision>().unwrap_err().contains("-ftz"));
    }

    #[test]
    fn powers_of_two_from_bits_are_exact() {
        // Halving and doubling are exact down to the smallest subnormal and up to 2^1023.
        let mut power = 1.0f64;
        for exponent in 0..=1023 {
            assert_eq!(exp2(exponent), power, "2^{exponent}");
            power *= 2.0;
        }
        let mut power = 1.0f64;
        for exponent in 0..=1074 {
            assert_eq!(exp2(-exponent), power, "2^-{exponent}");
            power *= 0.5;
        }
        assert_eq!(exp2(1024), f64::INFINITY);
        assert_eq!(exp2(-1075), 0.0);
    }

    #[test]
    fn f32_rounding_is_the_hardware_conversion_and_the_general_rule_agrees() {
        // The narrow-format rule, given f32's parameters, against `as f32`.
        let f32_by_rule = |x: f64| {
            let exponent = ((x.abs().to_bits() >> 52) as i32 - 1023).max(-126);
            let spacing = exp2(exponent - 23);
            let r = (x / spacing).round_ties_even() * spacing;
            if r.abs() > f32::MAX as f64 {
                f64::INFINITY.copysign(x)
            } else {
                r
            }
        };
        let mut x = 1.234_567_890_123e-45;
        while x < 1e39 {
            for v in [x, -x, x * 1.000_000_1, 0.1 * x] {
                assert_eq!(f32_by_rule(v), Precision::F32.round(v), "{v:e}");
            }
            x *= 1.7;
        }
    }

    #[test]
    fn narrow_formats_round_to_nearest_even_with_subnormals_and_overflow() {
        let f16 = Precision::F16;
        assert_eq!(f16.round(1.0 + 1.0 / 2048.0), 1.0); // a tie, to even
        assert_eq!(f16.round(1.0 + 3.0 / 2048.0), 1.0 + 2.0 / 1024.0); // a tie, to even
        assert_eq!(f16.round(65504.0), 65504.0);
        assert_eq!(f16.round(65519.9), 65504.0);
        assert_eq!(f16.round(65520.0), f64::INFINITY); // the tie above the largest
        assert_eq!(f16.round(2f64.powi(-24)), 2f64.powi(-24)); // the smallest subnormal
        assert_eq!(f16.round(2f64.powi(-25)), 0.0); // half of it: a tie, to even (zero)
        assert_eq!(f16.round(1.5 * 2f64.powi(-25)), 2f64.powi(-24));
        let bf16 = Precision::Bf16;
        assert_eq!(bf16.round(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(bf16.round(1.0 + 3.0 / 256.0), 1.0 + 2.0 / 128.0);
        assert_eq!(bf16.round(3.0e38), 226.0 * 2f64.powi(120)); // 225.7 spacings of 2^120
        assert_eq!(bf16.round(-1e39), f64::NEG_INFINITY);
        for p in ALL {
            assert_eq!(p.round(p.max_finite()), p.max_finite());
            assert!(p.round(0.1) != 0.0);
        }
    }

    #[test]
    fn the_unit_roundoff_bounds_every_rounding() {
        for p in ALL {
            let u = p.unit_roundoff();
            let mut x = 1e-30_f64;
            while x < 1e30 {
                let r = p.round(x);
                if r.is_finite() {
                    assert!(
                        (r - x).abs() <= u * x.abs() + p.underflow_unit(),
                        "{p} {x:e}"
                    );
                }
                x *= 1.37;
            }
        }
    }

    #[test]
    fn gamma_is_n_u_for_small_n_and_finite_for_large() {
        let u = Precision::F64.unit_roundoff();
        assert!((Precision::F64.gamma(10) / (10.0 * u) - 1.0).abs() < 1e-12);
        assert!(Precision::Bf16.gamma(4096).is_finite());
        assert_eq!(Precision::F32.gamma(0), 0.0);
    }
}
