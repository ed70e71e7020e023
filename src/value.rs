//! Values and their shapes: what a node holds, and the index of a node. A leaf module, so
//! that the gates (`gate.rs`), the graph (`graph.rs`) and the tolerance can all speak of
//! values without depending on one another.

use crate::precision::Precision;
use faer::{Col, Mat};
use std::fmt;

/// The index of a node in its graph's topological order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// The value of a node: a vector (`input`, `target`, `add`, `matvec`, `sigmoid`), a matrix
/// (`weight`) or a scalar (`sqerr`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Col<f64>),
    Matrix(Mat<f64>),
}

/// The shape of a node's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Scalar,
    Vector(usize),
    Matrix(usize, usize),
}

impl Shape {
    /// Rows and columns, a vector as one row (the way it is added to every row of a matrix,
    /// and `mse` counts it), a scalar as one entry.
    pub fn dims(self) -> (usize, usize) {
        match self {
            Shape::Scalar => (1, 1),
            Shape::Vector(n) => (1, n),
            Shape::Matrix(m, n) => (m, n),
        }
    }

    /// The number of scalars of this shape.
    pub fn len(self) -> usize {
        match self {
            Shape::Scalar => 1,
            Shape::Vector(n) => n,
            Shape::Matrix(m, n) => m * n,
        }
    }

    /// Whether a value of this shape has no entries (no valid graph has one).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// The entry of an operand shaped `operand` that entry `k` (row-major) of an elementwise
/// gate's output shaped `output` reads: the same entry, or, for a vector added to every row
/// of a matrix, its entry for that column.
pub fn broadcast_entry(operand: Shape, output: Shape, k: usize) -> usize {
    match (operand, output) {
        (Shape::Vector(_), Shape::Matrix(_, cols)) => k % cols,
        _ => k,
    }
}

/// The entry of a `rows`×`cols` matrix (row-major) that entry `k` of its transpose holds;
/// read the other way, with the transpose's shape, where entry `k` of the matrix moves to.
pub fn transposed_entry(rows: usize, cols: usize, k: usize) -> usize {
    (k % rows) * cols + k / rows
}

/// The row-major entries of the transpose of a `rows`×`cols` matrix given by its row-major
/// `entries` (values, errors or tangents alike).
pub fn transposed_entries<T: Clone>(entries: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..rows * cols)
        .map(|k| entries[transposed_entry(rows, cols, k)].clone())
        .collect()
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Scalar => write!(f, "scalar"),
            Shape::Vector(n) => write!(f, "vector of length {n}"),
            Shape::Matrix(m, n) => write!(f, "{m}×{n} matrix"),
        }
    }
}

/// The vector inside a value whose shape the graph builder already checked.
pub fn vector(value: &Value) -> &Col<f64> {
    match value {
        Value::Vector(v) => v,
        other => unreachable!("shape checked at build time: expected a vector, got {other:?}"),
    }
}

/// The matrix inside a value whose shape the graph builder already checked.
pub fn matrix(value: &Value) -> &Mat<f64> {
    match value {
        Value::Matrix(m) => m,
        other => unreachable!("shape checked at build time: expected a matrix, got {other:?}"),
    }
}

/// The scalar inside a value whose shape the graph builder already checked.
pub fn scalar(value: &Value) -> f64 {
    match value {
        Value::Scalar(x) => *x,
        other => unreachable!("shape checked at build time: expected a scalar, got {other:?}"),
    }
}

/// The entries of a vector or scalar value as a slice (a vector's column is contiguous). A
/// matrix is stored by columns: its row-major entries come from
/// [`crate::graph::Values::entries`], which every oracle asks.
pub(crate) fn entries(value: &Value) -> &[f64] {
    match value {
        Value::Scalar(x) => std::slice::from_ref(x),
        Value::Vector(v) => v
            .try_as_col_major()
            .expect("a column is contiguous")
            .as_slice(),
        Value::Matrix(_) => panic!("a matrix has no row-major slice: ask Values::entries"),
    }
}

impl Value {
    /// The number of scalars in the value.
    pub fn len(&self) -> usize {
        match self {
            Value::Scalar(_) => 1,
            Value::Vector(v) => v.nrows(),
            Value::Matrix(m) => m.nrows() * m.ncols(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of the value.
    pub fn shape(&self) -> Shape {
        match self {
            Value::Scalar(_) => Shape::Scalar,
            Value::Vector(v) => Shape::Vector(v.nrows()),
            Value::Matrix(m) => Shape::Matrix(m.nrows(), m.ncols()),
        }
    }

    /// A zero value of the same shape.
    pub fn zeros_like(&self) -> Value {
        match self {
            Value::Scalar(_) => Value::Scalar(0.0),
            Value::Vector(v) => Value::Vector(Col::zeros(v.nrows())),
            Value::Matrix(m) => Value::Matrix(Mat::zeros(m.nrows(), m.ncols())),
        }
    }

    /// Entry `k` in row-major order (the order of the case format and of reports).
    pub fn entry(&self, k: usize) -> f64 {
        match self {
            Value::Scalar(x) => *x,
            Value::Vector(v) => v[k],
            Value::Matrix(m) => m[(k / m.ncols(), k % m.ncols())],
        }
    }

    /// A mutable reference to entry `k` in row-major order.
    pub fn entry_mut(&mut self, k: usize) -> &mut f64 {
        match self {
            Value::Scalar(x) => x,
            Value::Vector(v) => &mut v[k],
            Value::Matrix(m) => {
                let cols = m.ncols();
                &mut m[(k / cols, k % cols)]
            }
        }
    }

    /// Every entry in row-major order (a vector's entries; a matrix row after row), the
    /// layout most tensor libraries take: `Tensor::from_vec(value.to_row_major(), dims)`.
    pub fn to_row_major(&self) -> Vec<f64> {
        (0..self.len()).map(|k| self.entry(k)).collect()
    }

    /// A value of `shape` from its entries in row-major order, e.g. a tensor library's
    /// gradient read back with `to_vec`; `None` when the count does not fit the shape.
    pub fn from_row_major(shape: Shape, entries: &[f64]) -> Option<Value> {
        let expected = match shape {
            Shape::Scalar => 1,
            Shape::Vector(n) => n,
            Shape::Matrix(m, n) => m.checked_mul(n)?,
        };
        if entries.len() != expected {
            return None;
        }
        Some(match shape {
            Shape::Scalar => Value::Scalar(entries[0]),
            Shape::Vector(n) => Value::Vector(Col::from_fn(n, |i| entries[i])),
            Shape::Matrix(m, n) => Value::Matrix(Mat::from_fn(m, n, |i, j| entries[i * n + j])),
        })
    }

    /// Elementwise `self += other` in `f64`; the shapes must agree.
    pub fn add_assign(&mut self, other: &Value) {
        self.add_assign_in(Precision::F64, other);
    }

    /// Elementwise `self += other`, each sum rounded to `precision`.
    pub fn add_assign_in(&mut self, precision: Precision, other: &Value) {
        if precision == Precision::F64 {
            match (self, other) {
                (Value::Scalar(a), Value::Scalar(b)) => *a += b,
                (Value::Vector(a), Value::Vector(b)) => *a += b,
                (Value::Matrix(a), Value::Matrix(b)) => *a += b,
                (a, b) => unreachable!("gradient shapes checked at build time: {a:?} += {b:?}"),
            }
            return;
        }
        if self.shape() != other.shape() {
            unreachable!("gradient shapes checked at build time: {self:?} += {other:?}");
        }
        for k in 0..self.len() {
            let sum = precision.round(self.entry(k) + other.entry(k));
            *self.entry_mut(k) = sum;
        }
    }

    /// Every entry rounded to `precision`.
    pub fn rounded(&self, precision: Precision) -> Value {
        let mut value = self.clone();
        for k in 0..value.len() {
            let rounded = precision.round(value.entry(k));
            *value.entry_mut(k) = rounded;
        }
        value
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        (0..self.len()).all(|k| self.entry(k).is_finite())
    }
}

/// A number in the shortest form that reads back to the same `f64` (NaN and the infinities
/// in YAML's spelling, `.nan`, `.inf`, `-.inf`: a claimed gradient may be one).
pub fn number(x: f64) -> String {
    if x.is_nan() {
        ".nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { ".inf" } else { "-.inf" }.into()
    } else {
        // Rust's `{:?}` prints the shortest round-trip digits ("0.1", "1e-7", "-0.0").
        format!("{x:?}")
    }
}

/// A value as a YAML flow list (`[..]` or `[[..], ..]`) of shortest round-trip numbers, as
/// case files and `Debug` of a graph write it.
pub fn flow_list(value: &Value) -> String {
    list_with(value, number)
}

/// A value as a list (`[..]` or `[[..], ..]`) with each number written by `number`: YAML's
/// flow list, or JSON's array with its own spelling of non-finite numbers.
pub fn list_with(value: &Value, number: fn(f64) -> String) -> String {
    let row = |entries: &mut dyn Iterator<Item = f64>| {
        let items: Vec<String> = entries.map(number).collect();
        format!("[{}]", items.join(", "))
    };
    match value {
        Value::Scalar(x) => number(*x),
        Value::Vector(v) => row(&mut v.iter().copied()),
        Value::Matrix(m) => {
            let rows: Vec<String> = (0..m.nrows())
                .map(|i| row(&mut (0..m.ncols()).map(|j| m[(i, j)])))
                .collect();
            format!("[{}]", rows.join(", "))
        }
    }
}
