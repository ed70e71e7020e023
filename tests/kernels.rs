//! The products behind every value and gradient compute the same bits on every machine: the
//! run-time choice of wider registers changes nothing, and each sum is taken in the order
//! the kernels document (so another machine, or a future compiler, has one answer to match).

use faer::Mat;
use gradfuzz::kernels::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shapes around the kernels' block sizes (4 columns per sweep, 8 partial sums), and numbers
/// of very different sizes, so that any change of order shows in the last bits.
fn cases() -> Vec<(Mat<f64>, Vec<f64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut number = move || {
        let scale = 10f64.powi(rng.random_range(-8..8));
        scale * rng.random_range(-1.0..1.0)
    };
    let mut cases = Vec::new();
    for (rows, cols) in [(1, 1), (3, 5), (7, 9), (8, 8), (17, 13), (33, 64), (5, 130)] {
        let w = Mat::from_fn(rows, cols, |_, _| number());
        let x = (0..rows.max(cols)).map(|_| number()).collect();
        cases.push((w, x));
    }
    cases
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn dispatched_and_portable_kernels_agree_bit_for_bit() {
    for (w, x) in cases() {
        let (rows, cols) = (w.nrows(), w.ncols());
        let x_cols = &x[..cols];
        let x_rows = &x[..rows];
        let start: Vec<f64> = (0..rows).map(|i| x[i % x.len()] * 0.5).collect();

        let (mut a, mut b) = (start.clone(), start.clone());
        matvec_add(&mut a, &w, x_cols);
        matvec_add_portable(&mut b, &w, x_cols);
        assert_eq!(bits(&a), bits(&b), "matvec_add {rows}x{cols}");

        let (mut a, mut b) = (start.clone(), start.clone());
        abs_matvec_add(&mut a, &w, x_cols);
        abs_matvec_add_portable(&mut b, &w, x_cols);
        assert_eq!(bits(&a), bits(&b), "abs_matvec_add {rows}x{cols}");

        let (mut a, mut b) = (vec![0.0; cols], vec![0.0; cols]);
        transposed_matvec_into(&mut a, &w, x_rows);
        transposed_matvec_into_portable(&mut b, &w, x_rows);
        assert_eq!(bits(&a), bits(&b), "transposed_matvec_into {rows}x{cols}");

        let lanes: Vec<[f64; 4]> = x_cols.iter().map(|&v| [v, -v, 2.0 * v, v * v]).collect();
        let start_lanes: Vec<[f64; 4]> = start.iter().map(|&s| [s; 4]).collect();
        let (mut a, mut b) = (start_lanes.clone(), start_lanes);
        matvec_lanes_add(&mut a, &w, &lanes);
        matvec_lanes_add_portable(&mut b, &w, &lanes);
        assert_eq!(
            bits(a.as_flattened()),
            bits(b.as_flattened()),
            "lanes {rows}x{cols}"
        );
    }
}

/// The documented order, written as plainly as possible: a product sums over columns one by
/// one with a fused multiply-add; a dot product in eight interleaved partial sums.
#[test]
fn kernels_sum_in_their_documented_order() {
    for (w, x) in cases() {
        let (rows, cols) = (w.nrows(), w.ncols());
        let mut out = vec![0.0; rows];
        matvec_add(&mut out, &w, &x[..cols]);
        for (i, &o) in out.iter().enumerate() {
            let plain = (0..cols).fold(0.0f64, |s, j| w[(i, j)].mul_add(x[j], s));
            assert_eq!(
                o.to_bits(),
                plain.to_bits(),
                "matvec row {i} of {rows}x{cols}"
            );
        }
        let mut out = vec![0.0; cols];
        transposed_matvec_into(&mut out, &w, &x[..rows]);
        for (j, &o) in out.iter().enumerate() {
            let mut sums = [0.0f64; 8];
            for i in 0..rows {
                sums[i % 8] = w[(i, j)].mul_add(x[i], sums[i % 8]);
            }
            let plain = sums.iter().fold(0.0, |t, s| t + s);
            assert_eq!(
                o.to_bits(),
                plain.to_bits(),
                "transposed column {j} of {rows}x{cols}"
            );
        }
    }
}
