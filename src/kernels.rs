//! The dense products of the forward pass, the reference engine and the oracle, in a fixed
//! order of operations, so that every machine computes the same bits and a seed gives the
//! same report everywhere.
//!
//! A library product chooses its order of summation and whether to fuse multiplies and adds
//! by processor (faer sums in 8-wide groups with AVX-512, 4-wide with AVX2): the last bits
//! of a value then depend on the machine, and so do the figures of a report whose errors are
//! a few units of round-off. Here each output entry is summed in a stated order, every step
//! a fused multiply-add (`f64::mul_add`, exactly rounded on every platform). Each kernel is
//! compiled twice, as portable code and with AVX2 and FMA (picked at run time when the
//! processor has them); both do the same operations in the same order, so they agree bit
//! for bit (`tests/kernels.rs`), and the second is only faster. (Without FMA in hardware,
//! the portable code computes `mul_add` in software: the same result, slowly.)

use faer::{Col, Mat};

/// Defines a kernel twice, `$name` (AVX2 and FMA when the processor has them) and
/// `$portable`, from one body.
macro_rules! kernel {
    ($(#[$doc:meta])* pub fn $name:ident / $portable:ident $(<const $n:ident: usize>)?
        ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        pub fn $name $(<const $n: usize>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2 $(<const $n: usize>)? ($($arg: $ty),*) $(-> $ret)? {
                    $portable $(::<$n>)? ($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the processor has AVX2 and FMA, checked just above.
                    return unsafe { avx2 $(::<$n>)? ($($arg),*) };
                }
            }
            $portable $(::<$n>)? ($($arg),*)
        }

        #[doc = concat!("[`", stringify!($name), "`] as portable code.")]
        #[inline(always)]
        pub fn $portable $(<const $n: usize>)? ($($arg: $ty),*) $(-> $ret)? $body
    };
}

kernel! {
    /// `out[i] += Σ_j w[i, j] · x[j]`, each sum taken over `j` in increasing order.
    pub fn matvec_add / matvec_add_portable(out: &mut [f64], w: &Mat<f64>, x: &[f64]) {
        columns_add(out, w, x, |w| w);
    }
}

kernel! {
    /// `out[i] += Σ_j |w[i, j]| · x[j]`, each sum taken over `j` in increasing order.
    pub fn abs_matvec_add / abs_matvec_add_portable(out: &mut [f64], w: &Mat<f64>, x: &[f64]) {
        columns_add(out, w, x, f64::abs);
    }
}

/// [`lanes_add`] with one lane.
#[inline(always)]
fn columns_add(out: &mut [f64], w: &Mat<f64>, x: &[f64], f: impl Fn(f64) -> f64) {
    let (out, _) = out.as_chunks_mut::<1>();
    let (x, _) = x.as_chunks::<1>();
    lanes_add(out, w, x, f);
}

kernel! {
    /// `out[i][l] += Σ_j w[i, j] · x[j][l]` for every lane `l`: many vectors as the columns
    /// of one product, each sum taken over `j` in increasing order.
    pub fn matvec_lanes_add / matvec_lanes_add_portable<const N: usize>(
        out: &mut [[f64; N]],
        w: &Mat<f64>,
        x: &[[f64; N]],
    ) {
        lanes_add(out, w, x, |w| w);
    }
}

kernel! {
    /// `out[i][l] += Σ_j |w[i, j]| · x[j][l]` for every lane `l`, each sum taken over `j` in
    /// increasing order.
    pub fn abs_matvec_lanes_add / abs_matvec_lanes_add_portable<const N: usize>(
        out: &mut [[f64; N]],
        w: &Mat<f64>,
        x: &[[f64; N]],
    ) {
        lanes_add(out, w, x, f64::abs);
    }
}

/// `out[i][l] = fma(f(w[i, j]), x[j][l], out[i][l])` for `j` in increasing order, four
/// columns per sweep over `out` (the same operations, in the same order, as one column at
/// a time).
#[inline(always)]
fn lanes_add<const N: usize>(
    out: &mut [[f64; N]],
    w: &Mat<f64>,
    x: &[[f64; N]],
    f: impl Fn(f64) -> f64,
) {
    let rows = out.len();
    let mut j = 0;
    while j + 4 <= x.len() {
        let c = [0, 1, 2, 3].map(|k| &w.col_as_slice(j + k)[..rows]);
        let xs = [x[j], x[j + 1], x[j + 2], x[j + 3]];
        for (i, o) in out.iter_mut().enumerate() {
            let mut sum = *o;
            for k in 0..4 {
                let wij = f(c[k][i]);
                for (s, &x) in sum.iter_mut().zip(&xs[k]) {
                    *s = wij.mul_add(x, *s);
                }
            }
            *o = sum;
        }
        j += 4;
    }
    for (j, xj) in x.iter().enumerate().skip(j) {
        for (o, &wij) in out.iter_mut().zip(w.col_as_slice(j)) {
            let wij = f(wij);
            for (o, &x) in o.iter_mut().zip(xj) {
                *o = wij.mul_add(x, *o);
            }
        }
    }
}

/// Partial sums of a dot product: entry `k` goes to sum `k mod DOT_WIDTH`, and the sums are
/// added in order at the end.
pub const DOT_WIDTH: usize = 8;

kernel! {
    /// `out[j] = Σ_i w[i, j] · g[i]`: for each column, [`DOT_WIDTH`] partial sums over
    /// increasing `i`, added in order.
    pub fn transposed_matvec_into / transposed_matvec_into_portable(out: &mut [f64], w: &Mat<f64>, g: &[f64]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = dot(w.col_as_slice(j), g);
        }
    }
}

kernel! {
    /// `out[j] = Σ_i |w[i, j]| · g[i]`: [`transposed_matvec_into`] on magnitudes.
    pub fn abs_transposed_matvec_into / abs_transposed_matvec_into_portable(out: &mut [f64], w: &Mat<f64>, g: &[f64]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = abs_dot(w.col_as_slice(j), g);
        }
    }
}

/// `Σ a[i] · b[i]` in [`DOT_WIDTH`] partial sums over increasing `i`, added in order.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    dot_of(a, b, |x| x)
}

/// `Σ |a[i]| · b[i]`, in the order of [`dot`].
#[inline(always)]
fn abs_dot(a: &[f64], b: &[f64]) -> f64 {
    dot_of(a, b, f64::abs)
}

/// `Σ f(a[i]) · b[i]` in [`DOT_WIDTH`] partial sums over increasing `i`, added in order.
#[inline(always)]
fn dot_of(a: &[f64], b: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut sums = [0.0; DOT_WIDTH];
    let (a_chunks, b_chunks) = (a.chunks_exact(DOT_WIDTH), b.chunks_exact(DOT_WIDTH));
    let tail = a_chunks.remainder().iter().zip(b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((sum, x), y) in sums.iter_mut().zip(x).zip(y) {
            *sum = f(*x).mul_add(*y, *sum);
        }
    }
    for (sum, (x, y)) in sums.iter_mut().zip(tail) {
        *sum = f(*x).mul_add(*y, *sum);
    }
    sums.iter().fold(0.0, |total, sum| total + sum)
}

/// `w · x` as a new column ([`matvec_add`] into zeros).
pub fn matvec(w: &Mat<f64>, x: &Col<f64>) -> Col<f64> {
    let mut out = Col::zeros(w.nrows());
    matvec_add(slice_mut(&mut out), w, slice(x));
    out
}

/// `|w| · x` as a new column ([`abs_matvec_add`] into zeros).
pub fn abs_matvec(w: &Mat<f64>, x: &Col<f64>) -> Col<f64> {
    let mut out = Col::zeros(w.nrows());
    abs_matvec_add(slice_mut(&mut out), w, slice(x));
    out
}

/// `wᵀ · g` as a new column ([`transposed_matvec_into`]).
pub fn transposed_matvec(w: &Mat<f64>, g: &Col<f64>) -> Col<f64> {
    let mut out = Col::zeros(w.ncols());
    transposed_matvec_into(slice_mut(&mut out), w, slice(g));
    out
}

/// `Σ x[i]²`, one by one in increasing `i`.
pub fn sum_of_squares(x: &Col<f64>) -> f64 {
    slice(x).iter().fold(0.0, |sum, x| sum + x * x)
}

/// An owned column's entries.
pub fn slice(x: &Col<f64>) -> &[f64] {
    x.try_as_col_major()
        .expect("an owned column is contiguous")
        .as_slice()
}

fn slice_mut(x: &mut Col<f64>) -> &mut [f64] {
    x.try_as_col_major_mut()
        .expect("an owned column is contiguous")
        .as_slice_mut()
}
