//! The lecture's graphs under `cases/seed/`, with gradients worked out from the lecture's
//! closed-form rules in plain arithmetic (never from the engine).
//!
//! `GRADFUZZ_BLESS=1 cargo test --test seed_cases` rewrites the files; otherwise the test
//! asserts that the checked-in `gradients:` are exactly these closed forms, and that
//! `gradfuzz check` accepts them and rejects each entry nudged by a relative 1e-5.

use gradfuzz::case::{self, Case, SizeLimits};
use gradfuzz::check::{Tolerance, check};
use gradfuzz::engine::{Claimed, Gradients};
use gradfuzz::gate::Value;
use std::path::{Path, PathBuf};

fn sigmoid(s: f64) -> f64 {
    1.0 / (1.0 + (-s).exp())
}

/// `W v` for `W` given by rows.
fn matvec(w: &[Vec<f64>], v: &[f64]) -> Vec<f64> {
    w.iter()
        .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
        .collect()
}

fn vector(v: &[f64]) -> Value {
    Value::Vector(faer::Col::from_fn(v.len(), |i| v[i]))
}

fn matrix(rows: &[Vec<f64>]) -> Value {
    Value::Matrix(faer::Mat::from_fn(rows.len(), rows[0].len(), |i, j| {
        rows[i][j]
    }))
}

fn fmt_vec(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", items.join(", "))
}

fn fmt_mat(m: &[Vec<f64>]) -> String {
    let rows: Vec<String> = m.iter().map(|r| fmt_vec(r)).collect();
    format!("[{}]", rows.join(", "))
}

/// A seed case: its YAML nodes and its closed-form gradients by leaf name.
struct Seed {
    file: &'static str,
    description: &'static str,
    nodes: String,
    gradients: Vec<(&'static str, Value)>,
}

fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();

    // 20.1 The squared-error gate alone: E = ½‖o − t‖², dE/do = o − t.
    let o = [0.8, 0.2, 0.6];
    let t = [1.0, 0.0, 0.5];
    let d_o: Vec<f64> = (0..3).map(|k| o[k] - t[k]).collect();
    seeds.push(Seed {
        file: "sqerr.yaml",
        description: "20.1: the squared-error gate alone; dE/do = o - t",
        nodes: format!(
            "  o: {{input: {}}}\n  t: {{target: {}}}\n  E: {{sqerr: [o, t]}}\n",
            fmt_vec(&o),
            fmt_vec(&t)
        ),
        gradients: vec![("o", vector(&d_o))],
    });

    // 20.2 The sigmoid gate: o = σ(s), E = ½‖o − t‖²; dE/ds = (o − t) ⊙ o ⊙ (1 − o).
    let s = [0.5, -1.0, 2.0];
    let t = [1.0, 0.0, 0.5];
    let o: Vec<f64> = s.iter().map(|&x| sigmoid(x)).collect();
    let d_s: Vec<f64> = (0..3)
        .map(|i| (o[i] - t[i]) * o[i] * (1.0 - o[i]))
        .collect();
    seeds.push(Seed {
        file: "sigmoid.yaml",
        description: "20.2: the sigmoid gate; dE/ds = (o - t) * o * (1 - o), a diagonal Jacobian",
        nodes: format!("  s: {{input: {}}}\n  o: {{sigmoid: s}}\n  t: {{target: {}}}\n  E: {{sqerr: [o, t]}}\n", fmt_vec(&s), fmt_vec(&t)),
        gradients: vec![("s", vector(&d_s))],
    });

    // 20.3 The matrix-vector gate: s = W o, E = ½‖s − t‖²; g = s − t;
    // dE/do = Wᵀ g (a), dE/dW[j,i] = g_j o_i (b).
    let w = vec![vec![0.1, 0.2, 0.3], vec![0.0, -0.1, 0.5]];
    let o = [0.5, -1.0, 2.0];
    let t = [0.25, -0.75];
    let s = matvec(&w, &o);
    let g: Vec<f64> = (0..2).map(|j| s[j] - t[j]).collect();
    let d_o: Vec<f64> = (0..3)
        .map(|i| (0..2).map(|j| w[j][i] * g[j]).sum())
        .collect();
    let d_w: Vec<Vec<f64>> = (0..2)
        .map(|j| (0..3).map(|i| g[j] * o[i]).collect())
        .collect();
    seeds.push(Seed {
        file: "matvec.yaml",
        description: "20.3: the matrix-vector gate; dE/do = W^T g and dE/dW = g (outer) o, g = s - t",
        nodes: format!("  o: {{input: {}}}\n  W: {{weight: {}}}\n  s: {{matvec: [W, o]}}\n  t: {{target: {}}}\n  E: {{sqerr: [s, t]}}\n", fmt_vec(&o), fmt_mat(&w), fmt_vec(&t)),
        gradients: vec![("o", vector(&d_o)), ("W", matrix(&d_w))],
    });

    // 20.0 and 20.2 The add gate, whose input x fans out: c = x + y feeds E1 = ½‖c − t1‖², and
    // x also feeds E2 = ½‖x − t2‖². The add gate hands dE/dc = c − t1 to both operands, and
    // x sums what its two uses send back: dE/dx = (c − t1) + (x − t2), dE/dy = c − t1.
    let x = [1.0, -2.0];
    let y = [0.5, 0.25];
    let t1 = [1.0, 1.0];
    let t2 = [0.0, -1.0];
    let c: Vec<f64> = (0..2).map(|k| x[k] + y[k]).collect();
    let d_x: Vec<f64> = (0..2).map(|k| (c[k] - t1[k]) + (x[k] - t2[k])).collect();
    let d_y: Vec<f64> = (0..2).map(|k| c[k] - t1[k]).collect();
    seeds.push(Seed {
        file: "add-fanout.yaml",
        description: "20.0: the add gate with its input x used twice; x's gradients from both uses are summed",
        nodes: format!("  x: {{input: {}}}\n  y: {{input: {}}}\n  c: {{add: [x, y]}}\n  t1: {{target: {}}}\n  E1: {{sqerr: [c, t1]}}\n  t2: {{target: {}}}\n  E2: {{sqerr: [x, t2]}}\n", fmt_vec(&x), fmt_vec(&y), fmt_vec(&t1), fmt_vec(&t2)),
        gradients: vec![("x", vector(&d_x)), ("y", vector(&d_y))],
    });

    // 20.4 The two-layer network x → W1 → σ → W2 → σ → sqerr(t):
    // dE/dW2[j,i] = (o2_j − t_j) o2_j (1 − o2_j) o1_i,
    // dE/ds2_k = (o2_k − t_k) o2_k (1 − o2_k),
    // dE/dW1[j,i] = (Σ_k dE/ds2_k W2[k,j]) o1_j (1 − o1_j) x_i, dE/dx_i = Σ_j dE/ds1_j W1[j,i].
    let x = [0.5, -1.0, 2.0];
    let w1 = vec![
        vec![0.1, 0.2, 0.3],
        vec![0.0, -0.1, 0.5],
        vec![0.4, -0.3, 0.2],
        vec![-0.2, 0.1, 0.1],
    ];
    let w2 = vec![vec![0.3, -0.2, 0.5, 0.1], vec![-0.4, 0.6, 0.2, -0.1]];
    let t = [1.0, 0.0];
    let o1: Vec<f64> = matvec(&w1, &x).iter().map(|&s| sigmoid(s)).collect();
    let o2: Vec<f64> = matvec(&w2, &o1).iter().map(|&s| sigmoid(s)).collect();
    let d_s2: Vec<f64> = (0..2)
        .map(|k| (o2[k] - t[k]) * o2[k] * (1.0 - o2[k]))
        .collect();
    let d_w2: Vec<Vec<f64>> = (0..2)
        .map(|j| {
            (0..4)
                .map(|i| (o2[j] - t[j]) * o2[j] * (1.0 - o2[j]) * o1[i])
                .collect()
        })
        .collect();
    let d_s1: Vec<f64> = (0..4)
        .map(|j| (0..2).map(|k| d_s2[k] * w2[k][j]).sum::<f64>() * o1[j] * (1.0 - o1[j]))
        .collect();
    let d_w1: Vec<Vec<f64>> = (0..4)
        .map(|j| (0..3).map(|i| d_s1[j] * x[i]).collect())
        .collect();
    let d_x: Vec<f64> = (0..3)
        .map(|i| (0..4).map(|j| d_s1[j] * w1[j][i]).sum())
        .collect();
    seeds.push(Seed {
        file: "two-layer.yaml",
        description: "20.4: the two-layer network x -> W1 -> sigmoid -> W2 -> sigmoid -> sqerr(t)",
        nodes: format!("  x: {{input: {}}}\n  W1: {{weight: {}}}\n  s1: {{matvec: [W1, x]}}\n  o1: {{sigmoid: s1}}\n  W2: {{weight: {}}}\n  s2: {{matvec: [W2, o1]}}\n  o2: {{sigmoid: s2}}\n  t: {{target: {}}}\n  E: {{sqerr: [o2, t]}}\n", fmt_vec(&x), fmt_mat(&w1), fmt_mat(&w2), fmt_vec(&t)),
        gradients: vec![("x", vector(&d_x)), ("W1", matrix(&d_w1)), ("W2", matrix(&d_w2))],
    });
    seeds
}

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/seed")
}

/// The seed as a case: its graph parsed from its nodes, its closed-form gradients attached.
fn seed_case(seed: &Seed) -> Case {
    let name = seed.file.trim_end_matches(".yaml");
    let text = format!(
        "name: seed-{name}\ndescription: \"{}\"\nnodes:\n{}",
        seed.description, seed.nodes
    );
    let mut case = case::parse(text.as_bytes(), seed.file, name, &SizeLimits::default())
        .expect("seed nodes parse");
    let mut gradients = Gradients::empty(case.graph.len());
    for (leaf, value) in &seed.gradients {
        gradients.set(
            case.graph.find(leaf).expect("seed leaf exists"),
            value.clone(),
        );
    }
    case.gradients = Some(gradients);
    case
}

#[test]
fn seed_files_hold_the_closed_form_gradients() {
    let bless = std::env::var_os("GRADFUZZ_BLESS").is_some();
    for seed in seeds() {
        let path = seed_dir().join(seed.file);
        let expected = seed_case(&seed);
        if bless {
            std::fs::write(&path, case::to_yaml(&expected)).expect("write seed case");
        }
        let on_disk = case::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            on_disk, expected,
            "{} differs from its closed form; rerun with GRADFUZZ_BLESS=1",
            seed.file
        );
    }
}

#[test]
fn closed_form_gradients_pass_the_finite_difference_check() {
    for seed in seeds() {
        let case = seed_case(&seed);
        let claimed = Claimed(case.gradients.clone().expect("seed has gradients"));
        let report = check(&claimed, &case.graph, &Tolerance::default())
            .expect("claimed gradients have the right shapes");
        assert!(report.passed(), "{}: {:?}", seed.file, report.mismatches);
        assert!(report.scalars > 0);
    }
}

/// A relative change of 1e-5 in any one claimed entry is a mismatch, and the report names
/// exactly that entry.
#[test]
fn a_claimed_entry_off_by_a_relative_1e5_is_caught_and_named() {
    for seed in seeds() {
        let case = seed_case(&seed);
        let gradients = case.gradients.clone().expect("seed has gradients");
        for leaf in case.graph.differentiable_leaves() {
            let value = gradients.get(leaf).expect("every leaf has a gradient");
            for entry in 0..value.len() {
                if value.entry(entry) == 0.0 {
                    continue; // a relative change of zero is no change
                }
                let mut nudged = value.clone();
                *nudged.entry_mut(entry) *= 1.0 + 1e-5;
                let mut wrong = gradients.clone();
                wrong.set(leaf, nudged);
                let report = check(&Claimed(wrong), &case.graph, &Tolerance::default())
                    .expect("right shapes");
                let named: Vec<String> = report
                    .mismatches
                    .iter()
                    .map(|m| m.label(&case.graph))
                    .collect();
                let label = gradfuzz::check::entry_label(&case.graph, leaf, entry);
                assert_eq!(named, vec![label], "{}", seed.file);
            }
        }
    }
}
