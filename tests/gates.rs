//! Each gate's forward and backward rule against numbers worked out by hand, the formula in a
//! comment above each; then the reference engine on every kind of fan-out.

use faer::{Col, Mat};
use gradfuzz::case::{self, SizeLimits};
use gradfuzz::engine::{Engine, Reference};
use gradfuzz::gate::{Gate, Partial, Value};
use gradfuzz::graph::NodeId;

fn col(v: &[f64]) -> Value {
    Value::Vector(Col::from_fn(v.len(), |i| v[i]))
}

fn mat(rows: &[&[f64]]) -> Value {
    Value::Matrix(Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j]))
}

fn close(actual: &Value, expected: &Value) {
    assert_eq!(actual.shape(), expected.shape());
    for k in 0..actual.len() {
        let (a, e) = (actual.entry(k), expected.entry(k));
        assert!(
            (a - e).abs() <= 1e-15 * e.abs().max(1.0),
            "entry {k}: {a} != {e}"
        );
    }
}

const A: NodeId = NodeId(0);
const B: NodeId = NodeId(1);

#[test]
fn add_passes_the_upstream_gradient_to_both_operands() {
    // c = a + b; dE/da = g, dE/db = g.
    let values = [col(&[1.0, 2.0]), col(&[10.0, -4.0])];
    let gate = Gate::Add(A, B);
    let output = gate.forward(|id| &values[id.0]);
    close(&output, &col(&[11.0, -2.0]));
    let g = col(&[0.5, -3.0]);
    let partials = gate.backward(|id| &values[id.0], &output, &g);
    assert_eq!(
        partials,
        vec![Partial::new(A, g.clone()), Partial::new(B, g)]
    );
}

#[test]
fn matvec_gives_the_transpose_to_its_vector_and_the_outer_product_to_its_weight() {
    // W = [[1, 2, 3], [4, 5, 6]], o = [1, 0, −1]: s = W o = [1 − 3, 4 − 6] = [−2, −2].
    // g = [1, 2]: dE/do = Wᵀ g = [1 + 8, 2 + 10, 3 + 12] = [9, 12, 15];
    // dE/dW = g ⊗ o = [[1, 0, −1], [2, 0, −2]].
    let values = [
        mat(&[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]]),
        col(&[1.0, 0.0, -1.0]),
    ];
    let gate = Gate::Matvec {
        weight: A,
        vector: B,
    };
    let output = gate.forward(|id| &values[id.0]);
    close(&output, &col(&[-2.0, -2.0]));
    let partials = gate.backward(|id| &values[id.0], &output, &col(&[1.0, 2.0]));
    assert_eq!(partials.len(), 2);
    assert_eq!((partials[0].operand, partials[1].operand), (A, B));
    close(
        &partials[0].gradient,
        &mat(&[&[1.0, 0.0, -1.0], &[2.0, 0.0, -2.0]]),
    );
    close(&partials[1].gradient, &col(&[9.0, 12.0, 15.0]));
}

#[test]
fn sigmoid_scales_the_upstream_gradient_by_o_times_one_minus_o() {
    // σ(0) = 1/2, σ(ln 3) = 1/(1 + 1/3) = 3/4.
    // g = [4, 8]: dE/ds = g ⊙ o ⊙ (1 − o) = [4·½·½, 8·¾·¼] = [1, 1.5].
    let values = [col(&[0.0, 3.0f64.ln()])];
    let gate = Gate::Sigmoid(A);
    let output = gate.forward(|id| &values[id.0]);
    close(&output, &col(&[0.5, 0.75]));
    let partials = gate.backward(|id| &values[id.0], &output, &col(&[4.0, 8.0]));
    assert_eq!(partials.len(), 1);
    assert_eq!(partials[0].operand, A);
    close(&partials[0].gradient, &col(&[1.0, 1.5]));
}

#[test]
fn sigmoid_does_not_overflow_far_from_zero() {
    // σ(−800) underflows to 0 and σ(800) rounds to 1; neither is NaN.
    let values = [col(&[-800.0, 800.0])];
    let output = Gate::Sigmoid(A).forward(|id| &values[id.0]);
    close(&output, &col(&[0.0, 1.0]));
}

#[test]
fn sqerr_is_half_the_squared_distance_and_sends_o_minus_t_and_t_minus_o() {
    // o = [3, 1], t = [1, 1]: E = ½((3 − 1)² + 0²) = 2.
    // With upstream 1: dE/do = o − t = [2, 0], dE/dt = t − o = [−2, 0].
    let values = [col(&[3.0, 1.0]), col(&[1.0, 1.0])];
    let gate = Gate::Sqerr {
        output: A,
        target: B,
    };
    let output = gate.forward(|id| &values[id.0]);
    assert_eq!(output, Value::Scalar(2.0));
    let partials = gate.backward(|id| &values[id.0], &output, &Value::Scalar(1.0));
    close(&partials[0].gradient, &col(&[2.0, 0.0]));
    close(&partials[1].gradient, &col(&[-2.0, 0.0]));
    assert_eq!((partials[0].operand, partials[1].operand), (A, B));
}

/// The reference engine's gradient of a small case given as YAML.
fn reference(yaml: &str, leaf: &str) -> Value {
    let case = case::parse(
        yaml.as_bytes(),
        "inline.yaml",
        "inline",
        &SizeLimits::default(),
    )
    .expect("valid case");
    let gradients = Reference
        .gradients(&case.graph)
        .expect("the reference never fails");
    gradients
        .get(case.graph.find(leaf).expect("leaf exists"))
        .expect("leaf gradient")
        .clone()
}

#[test]
fn the_same_node_twice_in_one_add_gets_the_gradient_twice() {
    // c = x + x = 2x, E = ½‖c − t‖²: dE/dx = 2 (c − t) = 2 ([2, 4] − [0, 1]) = [4, 6].
    let yaml = "nodes:\n  x: {input: [1.0, 2.0]}\n  c: {add: [x, x]}\n  t: {target: [0.0, 1.0]}\n  E: {sqerr: [c, t]}\n";
    close(&reference(yaml, "x"), &col(&[4.0, 6.0]));
}

#[test]
fn a_weight_used_by_two_matvecs_gets_both_outer_products() {
    // s1 = W x, s2 = W y, E = ½‖s1‖² + ½‖s2‖²: dE/dW = s1 ⊗ x + s2 ⊗ y.
    // W = [[1, 1]], x = [1, 0], y = [0, 2]: s1 = [1], s2 = [2];
    // dE/dW = [[1, 0]] + [[0, 4]] = [[1, 4]].
    let yaml = "nodes:\n  W: {weight: [[1.0, 1.0]]}\n  x: {input: [1.0, 0.0]}\n  y: {input: [0.0, 2.0]}\n  z: {target: [0.0]}\n  s1: {matvec: [W, x]}\n  s2: {matvec: [W, y]}\n  E1: {sqerr: [s1, z]}\n  E2: {sqerr: [s2, z]}\n";
    close(&reference(yaml, "W"), &mat(&[&[1.0, 4.0]]));
}

#[test]
fn a_computed_sqerr_target_receives_t_minus_o() {
    // E = ½‖o − u‖² with u = x + y computed: dE/du = u − o, so dE/dx = dE/dy = u − o
    // = [1, 1] − [3, 0] = [−2, 1], and dE/do = o − u = [2, −1].
    let yaml = "nodes:\n  o: {input: [3.0, 0.0]}\n  x: {input: [0.5, 0.5]}\n  y: {input: [0.5, 0.5]}\n  u: {add: [x, y]}\n  E: {sqerr: [o, u]}\n";
    close(&reference(yaml, "x"), &col(&[-2.0, 1.0]));
    close(&reference(yaml, "y"), &col(&[-2.0, 1.0]));
    close(&reference(yaml, "o"), &col(&[2.0, -1.0]));
}

#[test]
fn a_vector_used_by_three_gates_sums_all_three() {
    // x feeds E1 = ½‖x − t‖², o = σ(x) with E2 = ½‖o − t‖², and E3 = ½‖x − t‖² again:
    // dE/dx = 2 (x − t) + (o − t) ⊙ o ⊙ (1 − o). With x = [0], t = [1]: o = ½,
    // dE/dx = 2·(−1) + (−½)·½·½ = −2.125.
    let yaml = "nodes:\n  x: {input: [0.0]}\n  t: {target: [1.0]}\n  E1: {sqerr: [x, t]}\n  o: {sigmoid: x}\n  E2: {sqerr: [o, t]}\n  E3: {sqerr: [x, t]}\n";
    close(&reference(yaml, "x"), &col(&[-2.125]));
}

#[test]
fn a_leaf_that_reaches_no_loss_has_a_zero_gradient() {
    // y only feeds a sigmoid that no loss uses: dE/dy = 0.
    let yaml = "nodes:\n  x: {input: [1.0]}\n  y: {input: [5.0, 6.0]}\n  o: {sigmoid: y}\n  E: {sqerr: [x, x]}\n";
    close(&reference(yaml, "y"), &col(&[0.0, 0.0]));
}
