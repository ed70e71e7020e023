//! Double-double numbers: an unevaluated sum `hi + lo` of two `f64`s with `|lo| ≤ ulp(hi)/2`,
//! about 106 significant bits, for the third oracle (`crate::oracle::precise`), whose own round-off
//! must stay far below an `f64` engine's even where `f64` error bounds compound (long chains
//! of matrix-vector products).
//!
//! The algorithms are the textbook error-free transformations (Knuth's two-sum; the exact
//! product by a fused multiply-add) and the accurate double-double sum and product of
//! Joldes, Muller and Popescu, *Tight and rigorous error bounds for basic building blocks of
//! double-word arithmetic* (2017): relative errors at most `3u²` and `4u²` (`u = 2⁻⁵³`),
//! which [`UNIT`] covers with room, away from underflow and overflow.

use crate::precision::exp2;

/// A bound on the relative error of one operation here (`2⁻¹⁰⁰`, well above the `3u²`,
/// `4u²` and `≈ 15u²` of the sum, product and quotient), and of the square root of nothing
/// else: the oracle's error analysis charges it per operation.
pub const UNIT: f64 = 7.888_609_052_210_118e-31;

/// The exponential's error, in units of [`UNIT`]: the Taylor sum, its argument reduction
/// and four squarings, each of which doubles the relative error.
pub const EXP_UNITS: f64 = 64.0;

/// `hi + lo`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DoubleDouble {
    pub hi: f64,
    pub lo: f64,
}

/// `a + b = s + e` exactly (Knuth).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `a + b = s + e` exactly, for `|a| ≥ |b|` or `a = 0` (Dekker).
fn fast_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// `a·b = p + e` exactly, by a fused multiply-add.
fn two_product(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

impl DoubleDouble {
    pub const ZERO: DoubleDouble = DoubleDouble { hi: 0.0, lo: 0.0 };
    pub const ONE: DoubleDouble = DoubleDouble { hi: 1.0, lo: 0.0 };

    pub fn from(x: f64) -> DoubleDouble {
        DoubleDouble { hi: x, lo: 0.0 }
    }

    /// The nearest `f64`.
    pub fn to_f64(self) -> f64 {
        self.hi + self.lo
    }

    pub fn is_finite(self) -> bool {
        self.hi.is_finite() && self.lo.is_finite()
    }

    pub fn abs(self) -> f64 {
        self.to_f64().abs()
    }

    pub fn negated(self) -> DoubleDouble {
        DoubleDouble {
            hi: -self.hi,
            lo: -self.lo,
        }
    }

    /// Times a power of two: exact barring overflow and underflow.
    pub fn scaled(self, factor: f64) -> DoubleDouble {
        DoubleDouble {
            hi: self.hi * factor,
            lo: self.lo * factor,
        }
    }

    /// The accurate sum (Joldes, Muller and Popescu's algorithm 6): relative error ≤ 3u².
    pub fn plus(self, other: DoubleDouble) -> DoubleDouble {
        let (sh, sl) = two_sum(self.hi, other.hi);
        let (th, tl) = two_sum(self.lo, other.lo);
        let (sh, sl) = fast_two_sum(sh, sl + th);
        let (hi, lo) = fast_two_sum(sh, sl + tl);
        DoubleDouble { hi, lo }.finite_or(self.hi + other.hi)
    }

    pub fn minus(self, other: DoubleDouble) -> DoubleDouble {
        self.plus(other.negated())
    }

    /// The product (algorithm 12, with a fused multiply-add): relative error ≤ 4u².
    pub fn times(self, other: DoubleDouble) -> DoubleDouble {
        let (ch, cl1) = two_product(self.hi, other.hi);
        let tl0 = self.lo * other.lo;
        let tl1 = self.hi.mul_add(other.lo, tl0);
        let cl2 = self.lo.mul_add(other.hi, tl1);
        let (hi, lo) = fast_two_sum(ch, cl1 + cl2);
        DoubleDouble { hi, lo }.finite_or(self.hi * other.hi)
    }

    /// The quotient: three steps of long division, each correcting the remainder exactly
    /// to the precision of [`DoubleDouble::times`] and [`DoubleDouble::minus`].
    pub fn over(self, other: DoubleDouble) -> DoubleDouble {
        let q1 = self.hi / other.hi;
        if !q1.is_finite() || q1 == 0.0 {
            return DoubleDouble::from(q1);
        }
        let r = self.minus(other.times(DoubleDouble::from(q1)));
        let q2 = r.hi / other.hi;
        let r = r.minus(other.times(DoubleDouble::from(q2)));
        let q3 = r.hi / other.hi;
        let (hi, lo) = fast_two_sum(q1, q2);
        DoubleDouble { hi, lo }.plus(DoubleDouble::from(q3))
    }

    /// Overflow in the error terms of a finite result (`∞ − ∞`) would read as NaN: the
    /// plain `f64` result then stands, infinite or not.
    fn finite_or(self, plain: f64) -> DoubleDouble {
        if self.is_finite() {
            self
        } else {
            DoubleDouble::from(plain)
        }
    }

    /// `e^x`, within [`EXP_UNITS`] units of [`UNIT`] relative to its value (away from
    /// underflow): `x = k·ln 2 + r`, `e^r = (e^(r/16))^16` with the Taylor sum of `e^(r/16)`,
    /// `|r/16| ≤ 0.022`, to 14 terms (the first term left out is below `1e-34`).
    pub fn exp(self) -> DoubleDouble {
        if self.hi > 709.8 {
            return DoubleDouble::from(f64::INFINITY);
        }
        if self.hi < -745.2 {
            return DoubleDouble::ZERO;
        }
        let k = (self.hi / LN_2.hi).round();
        let r = self
            .minus(LN_2.times(DoubleDouble::from(k)))
            .scaled(1.0 / 16.0);
        // Horner's rule for 1 + r + r²/2! + … + r¹⁴/14!.
        let mut sum = INVERSE_FACTORIALS[13];
        for coefficient in INVERSE_FACTORIALS[..13].iter().rev() {
            sum = coefficient.plus(r.times(sum));
        }
        sum = DoubleDouble::ONE.plus(r.times(sum));
        for _ in 0..4 {
            sum = sum.times(sum);
        }
        // 2^k in two steps, so that neither factor overflows nor underflows on its own.
        let half = (k / 2.0).trunc();
        sum.scaled(exp2(half as i32))
            .scaled(exp2((k - half) as i32))
    }
}

/// `1/n!` for `n = 1..=14`, to double-double precision (each the nearest `hi + lo`).
const INVERSE_FACTORIALS: [DoubleDouble; 14] = [
    DoubleDouble { hi: 1.0, lo: 0.0 },
    DoubleDouble { hi: 0.5, lo: 0.0 },
    DoubleDouble {
        hi: 0.16666666666666666,
        lo: 9.25185853854297e-18,
    },
    DoubleDouble {
        hi: 0.041666666666666664,
        lo: 2.3129646346357427e-18,
    },
    DoubleDouble {
        hi: 0.008333333333333333,
        lo: 1.1564823173178714e-19,
    },
    DoubleDouble {
        hi: 0.001388888888888889,
        lo: -5.300543954373577e-20,
    },
    DoubleDouble {
        hi: 0.0001984126984126984,
        lo: 1.7209558293420705e-22,
    },
    DoubleDouble {
        hi: 2.48015873015873e-05,
        lo: 2.1511947866775882e-23,
    },
    DoubleDouble {
        hi: 2.7557319223985893e-06,
        lo: -1.858393274046472e-22,
    },
    DoubleDouble {
        hi: 2.755731922398589e-07,
        lo: 2.3767714622250297e-23,
    },
    DoubleDouble {
        hi: 2.505210838544172e-08,
        lo: -1.448814070935912e-24,
    },
    DoubleDouble {
        hi: 2.08767569878681e-09,
        lo: -1.20734505911326e-25,
    },
    DoubleDouble {
        hi: 1.6059043836821613e-10,
        lo: 1.2585294588752098e-26,
    },
    DoubleDouble {
        hi: 1.1470745597729725e-11,
        lo: 2.0655512752830745e-28,
    },
];

/// `ln 2` to double-double precision.
const LN_2: DoubleDouble = DoubleDouble {
    hi: std::f64::consts::LN_2,
    lo: 2.319_046_813_846_299_6e-17,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_products_keep_what_f64_loses() {
        let third = DoubleDouble::ONE.over(DoubleDouble::from(3.0));
        let back = third
            .times(DoubleDouble::from(3.0))
            .minus(DoubleDouble::ONE);
        assert!(back.abs() < 1e-31, "{back:?}");
        let big = DoubleDouble::from(1e16).plus(DoubleDouble::from(1.0));
        assert_eq!(big.minus(DoubleDouble::from(1e16)).to_f64(), 1.0);
    }

    #[test]
    fn the_exponential_of_one_is_e_to_32_digits() {
        // e = 2.71828182845904523536028747135266249775724709…
        let e = DoubleDouble::ONE.exp();
        let reference = DoubleDouble {
            hi: std::f64::consts::E,
            lo: 1.445_646_891_729_250_2e-16,
        };
        assert!(e.minus(reference).abs() < 1e-30, "{e:?}");
        assert_eq!(DoubleDouble::from(800.0).exp().hi, f64::INFINITY);
        assert_eq!(DoubleDouble::from(-800.0).exp(), DoubleDouble::ZERO);
        let tiny = DoubleDouble::from(-700.0).exp().to_f64();
        assert!((tiny / (-700f64).exp() - 1.0).abs() < 1e-15);
    }
}
