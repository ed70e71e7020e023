//! The vector and matrix operations of the gate rules, in a precision.
//!
//! The rules in [`crate::gate`] are written once, in terms of these operations. In `f64`
//! they are the fixed-order kernels of [`crate::kernels`]; in a narrower precision every
//! single operation (each product, each sum, each step of a sigmoid) is computed in `f64`
//! and rounded to the format, which is that format's correctly rounded operation: the
//! arithmetic of a textbook engine in `f32`, `f16` or `bf16`. Sums are taken in increasing
//! index order.

use crate::kernels;
use crate::precision::Precision;
use crate::value::Value;
use faer::{Col, Mat};

/// The value of an elementwise gate's output shaped as `like` (the larger operand), entry `k`
/// (row-major) from `entry(k)`.
fn shaped_as(like: &Value, entry: impl Fn(usize) -> f64) -> Value {
    match like {
        Value::Scalar(_) => Value::Scalar(entry(0)),
        Value::Vector(v) => Value::Vector(Col::from_fn(v.nrows(), entry)),
        Value::Matrix(m) => {
            let cols = m.ncols();
            Value::Matrix(Mat::from_fn(m.nrows(), cols, |i, j| entry(i * cols + j)))
        }
    }
}

/// Entry `k` (row-major) of an output shaped as `output` read from `operand`: the same entry,
/// or for a vector broadcast over a matrix's rows, its entry for that column.
fn broadcast(operand: &Value, output: &Value, k: usize) -> f64 {
    match (operand, output) {
        (Value::Vector(v), Value::Matrix(m)) => v[k % m.ncols()],
        _ => operand.entry(k),
    }
}

impl Precision {
    /// `f(a, b)` entry by entry, each rounded: operands of equal shape, or a matrix and a
    /// vector repeated on every row.
    pub fn zip(self, a: &Value, b: &Value, f: impl Fn(f64, f64) -> f64) -> Value {
        // The output is shaped as the matrix, if either is one (a 1×n matrix and a vector of
        // length n have as many entries, and the output is still the matrix).
        let larger = match (a, b) {
            (Value::Vector(_), Value::Matrix(_)) => b,
            _ => a,
        };
        shaped_as(larger, |k| {
            self.round(f(broadcast(a, larger, k), broadcast(b, larger, k)))
        })
    }

    /// `f(a)` entry by entry, each as `f` rounds it.
    pub fn map(self, a: &Value, f: impl Fn(f64) -> f64) -> Value {
        shaped_as(a, |k| f(a.entry(k)))
    }

    /// The partial of an operand that was broadcast to `upstream`'s shape: `upstream` itself
    /// where the shapes agree; for a vector repeated on every row of a matrix, the sum over
    /// the rows (each column summed from the first row to the last, each sum rounded).
    pub fn unbroadcast(self, operand: &Value, upstream: &Value) -> Value {
        match (operand, upstream) {
            (Value::Vector(_), Value::Matrix(g)) => Value::Vector(Col::from_fn(g.ncols(), |j| {
                (0..g.nrows()).fold(0.0, |sum, i| self.round(sum + g[(i, j)]))
            })),
            _ => upstream.clone(),
        }
    }

    /// `½ Σ r_k²` over every entry, in row-major order.
    pub fn half_sum_of_squares_of(self, r: &Value) -> f64 {
        match r {
            Value::Vector(v) => self.half_sum_of_squares(v),
            _ => {
                let sum = (0..r.len()).fold(0.0, |sum, k| {
                    let x = r.entry(k);
                    self.round(sum + self.round(x * x))
                });
                self.round(0.5 * sum)
            }
        }
    }
}

impl Precision {
    /// `a + b`, entry by entry.
    pub fn add(self, a: &Col<f64>, b: &Col<f64>) -> Col<f64> {
        Col::from_fn(a.nrows(), |i| self.round(a[i] + b[i]))
    }

    /// `a − b`, entry by entry.
    pub fn sub(self, a: &Col<f64>, b: &Col<f64>) -> Col<f64> {
        Col::from_fn(a.nrows(), |i| self.round(a[i] - b[i]))
    }

    /// `a · factor`, entry by entry.
    pub fn scale(self, a: &Col<f64>, factor: f64) -> Col<f64> {
        Col::from_fn(a.nrows(), |i| self.round(a[i] * factor))
    }

    /// `w x`.
    pub fn matvec(self, w: &Mat<f64>, x: &Col<f64>) -> Col<f64> {
        if self == Precision::F64 {
            return kernels::matvec(w, x);
        }
        Col::from_fn(w.nrows(), |i| {
            self.dot((0..w.ncols()).map(|j| (w[(i, j)], x[j])))
        })
    }

    /// `wᵀ g`.
    pub fn transposed_matvec(self, w: &Mat<f64>, g: &Col<f64>) -> Col<f64> {
        if self == Precision::F64 {
            return kernels::transposed_matvec(w, g);
        }
        Col::from_fn(w.ncols(), |j| {
            self.dot((0..w.nrows()).map(|i| (w[(i, j)], g[i])))
        })
    }

    /// `A B`: each entry's `k` products summed in increasing order of `k`, each product and
    /// each partial sum rounded (a column of the output at a time, as an axpy over `A`'s
    /// columns, which leaves every entry's order of summation as stated).
    pub fn matmul(self, a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
        let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
        let mut out = Mat::<f64>::zeros(m, n);
        for j in 0..n {
            let column = out.col_as_slice_mut(j);
            for p in 0..k {
                let factor = b[(p, j)];
                for (sum, &x) in column.iter_mut().zip(a.col_as_slice(p)) {
                    *sum = self.round(*sum + self.round(x * factor));
                }
            }
        }
        out
    }

    /// `g oᵀ`.
    pub fn outer(self, g: &Col<f64>, o: &Col<f64>) -> Mat<f64> {
        Mat::from_fn(g.nrows(), o.nrows(), |i, j| self.round(g[i] * o[j]))
    }

    /// `½ Σ r_i²`.
    pub fn half_sum_of_squares(self, r: &Col<f64>) -> f64 {
        if self == Precision::F64 {
            return 0.5 * kernels::sum_of_squares(r);
        }
        let sum = (0..r.nrows()).fold(0.0, |sum, i| self.round(sum + self.round(r[i] * r[i])));
        self.round(0.5 * sum)
    }

    /// `σ(s)`: in `f64` the logistic function below; narrower, the same formula with each of
    /// its three steps rounded.
    pub fn sigmoid(self, s: f64) -> f64 {
        if self == Precision::F64 {
            return sigmoid(s);
        }
        let e = self.round((-s.abs()).exp());
        let denominator = self.round(1.0 + e);
        self.round(if s >= 0.0 { 1.0 } else { e } / denominator)
    }

    /// `tanh(s)`: the library's, rounded once to the precision.
    pub fn tanh(self, s: f64) -> f64 {
        self.round(s.tanh())
    }

    /// `g ⊙ o ⊙ (1 − o)`, the sigmoid's backward rule from its output, left to right.
    pub fn sigmoid_slope_times(self, g: &Col<f64>, o: &Col<f64>) -> Col<f64> {
        Col::from_fn(o.nrows(), |i| {
            self.round(self.round(g[i] * o[i]) * self.round(1.0 - o[i]))
        })
    }

    /// `Σ x_k y_k`, each product and each partial sum rounded, in order.
    fn dot(self, terms: impl Iterator<Item = (f64, f64)>) -> f64 {
        terms.fold(0.0, |sum, (x, y)| self.round(sum + self.round(x * y)))
    }
}

/// The logistic function the rules compute, written so that neither branch overflows: for
/// very negative `s`, `e^(−s)` would be infinite, so the algebraically equal `e^s / (1 + e^s)`
/// is used. (The oracles have their own, [`crate::function::sigmoid::value`].)
fn sigmoid(s: f64) -> f64 {
    if s >= 0.0 {
        1.0 / (1.0 + (-s).exp())
    } else {
        let e = s.exp();
        e / (1.0 + e)
    }
}
