//! Writes the benchmark graphs under `cases/bench/` (fixed seed, so the files never change
//! unless this program does): the two-layer networks 64→64→16 and 256→256→16, and the
//! fan-out graph x:32; s1 = W1 x; o1 = σ(s1); r = o1 + x; s2 = W2 r (W2: 8×32); o2 = σ(s2);
//! s3 = W1 r (W1 shared); o3 = σ(s3); E = sqerr(o2,t1) + sqerr(o1,t2) + sqerr(o3,t3); and a
//! perceptron on a batch, X: 64×256; h = tanh(X·W1 + b1), W1: 256×256; y = h·W2 + b2,
//! W2: 256×16; E = mse(y, T).
//!
//! `cargo run --release --example bench_cases`

use gradfuzz::case::{self, Case, Expect, SizeLimits};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn numbers(rng: &mut ChaCha8Rng, count: usize, scale: f64) -> String {
    let items: Vec<String> = (0..count)
        .map(|_| {
            format!(
                "{:?}",
                scale * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut *rng)
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn matrix(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> String {
    let scale = 1.0 / (cols as f64).sqrt();
    let rows: Vec<String> = (0..rows).map(|_| numbers(rng, cols, scale)).collect();
    format!("[{}]", rows.join(", "))
}

fn targets(rng: &mut ChaCha8Rng, count: usize) -> String {
    let items: Vec<String> = (0..count)
        .map(|_| format!("{:?}", rand::RngExt::random::<f64>(rng)))
        .collect();
    format!("[{}]", items.join(", "))
}

fn network(rng: &mut ChaCha8Rng, n: usize, hidden: usize, out: usize) -> String {
    format!(
        "nodes:\n  x: {{input: {}}}\n  W1: {{weight: {}}}\n  s1: {{matvec: [W1, x]}}\n  o1: {{sigmoid: s1}}\n  W2: {{weight: {}}}\n  s2: {{matvec: [W2, o1]}}\n  o2: {{sigmoid: s2}}\n  t: {{target: {}}}\n  E: {{sqerr: [o2, t]}}\n",
        numbers(rng, n, 1.0),
        matrix(rng, hidden, n),
        matrix(rng, out, hidden),
        targets(rng, out)
    )
}

/// A `rows`×`cols` matrix of standard normal entries times `scale`.
fn scaled_matrix(rng: &mut ChaCha8Rng, rows: usize, cols: usize, scale: f64) -> String {
    let rows: Vec<String> = (0..rows).map(|_| numbers(rng, cols, scale)).collect();
    format!("[{}]", rows.join(", "))
}

/// `mse(tanh(X·W1 + b1)·W2 + b2, T)`, each weight divided by √(its rows), its fan-in.
fn batch_network(
    rng: &mut ChaCha8Rng,
    batch: usize,
    n: usize,
    hidden: usize,
    out: usize,
) -> String {
    format!(
        "nodes:\n  X: {{input: {}}}\n  W1: {{weight: {}}}\n  b1: {{input: {}}}\n  s1: {{matmul: [X, W1]}}\n  a1: {{add: [s1, b1]}}\n  h: {{tanh: a1}}\n  W2: {{weight: {}}}\n  b2: {{input: {}}}\n  s2: {{matmul: [h, W2]}}\n  y: {{add: [s2, b2]}}\n  T: {{target: {}}}\n  E: {{mse: [y, T]}}\n",
        scaled_matrix(rng, batch, n, 1.0),
        scaled_matrix(rng, n, hidden, 1.0 / (n as f64).sqrt()),
        numbers(rng, hidden, 0.5),
        scaled_matrix(rng, hidden, out, 1.0 / (hidden as f64).sqrt()),
        numbers(rng, out, 0.5),
        scaled_matrix(rng, batch, out, 1.0)
    )
}

fn fan_out(rng: &mut ChaCha8Rng) -> String {
    format!(
        "nodes:\n  x: {{input: {}}}\n  W1: {{weight: {}}}\n  s1: {{matvec: [W1, x]}}\n  o1: {{sigmoid: s1}}\n  r: {{add: [o1, x]}}\n  W2: {{weight: {}}}\n  s2: {{matvec: [W2, r]}}\n  o2: {{sigmoid: s2}}\n  s3: {{matvec: [W1, r]}}\n  o3: {{sigmoid: s3}}\n  t1: {{target: {}}}\n  t2: {{target: {}}}\n  t3: {{target: {}}}\n  E1: {{sqerr: [o2, t1]}}\n  E2: {{sqerr: [o1, t2]}}\n  E3: {{sqerr: [o3, t3]}}\n",
        numbers(rng, 32, 1.0),
        matrix(rng, 32, 32),
        matrix(rng, 8, 32),
        targets(rng, 8),
        targets(rng, 32),
        targets(rng, 32)
    )
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let graphs = [
        (
            "net-64-64-16",
            "two-layer network 64 -> 64 -> 16 (5,184 checked scalars)",
            network(&mut rng, 64, 64, 16),
        ),
        (
            "net-256-256-16",
            "two-layer network 256 -> 256 -> 16 (69,888 checked scalars)",
            network(&mut rng, 256, 256, 16),
        ),
        (
            "fanout-32",
            "fan-out graph: W1 shared by two matvecs, x used twice, three losses",
            fan_out(&mut rng),
        ),
        (
            "mlp-batch-64",
            "perceptron on a batch of 64: 256 -> 256 tanh -> 16, mse (86,288 checked scalars)",
            batch_network(&mut rng, 64, 256, 256, 16),
        ),
    ];
    let dir = format!("{}/cases/bench", env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&dir).expect("create cases/bench");
    for (name, description, nodes) in graphs {
        let parsed = case::parse(nodes.as_bytes(), name, name, &SizeLimits::default())
            .expect("a valid graph");
        let case = Case {
            name: format!("bench-{name}"),
            description: Some(format!(
                "{description}; written by cargo run --example bench_cases"
            )),
            engine: Some("reference".into()),
            expect: Expect::Pass,
            tolerance: None,
            precision: None,
            graph: parsed.graph,
            gradients: None,
        };
        std::fs::write(format!("{dir}/{name}.yaml"), case::to_yaml(&case)).expect("write");
    }
}
