//! The fuzz targets' logic, as plain functions: `fuzz/fuzz_targets/*.rs` call them on
//! libFuzzer's bytes, and `tests/fuzz_targets.rs` replays a corpus through them, so the same
//! properties hold under `cargo fuzz` and under `cargo test`.

use crate::case::{self, SizeLimits};
use crate::gate::{Gate, Value};
use crate::graph::{Graph, LeafKind, Op, Shape};
use crate::recipe::Limits;
#[cfg(feature = "arbitrary")]
use crate::{
    check::{Tolerance, check},
    engine::Reference,
    recipe::{Recipe, build},
};
#[cfg(feature = "arbitrary")]
use arbitrary::{Arbitrary, Unstructured};

#[cfg(feature = "arbitrary")]
/// The recipe fuzzer bytes describe (running out of bytes gives a shorter recipe).
pub fn recipe_from_bytes(data: &[u8]) -> Recipe {
    Recipe::arbitrary_take_rest(Unstructured::new(data)).unwrap_or_default()
}

#[cfg(feature = "arbitrary")]
/// Target `check_reference`, in two parts.
///
/// 1. The graph built from the bytes as they are (numbers anywhere up to 1e308, subnormals
///    included): checking and blaming it never panic, whatever the verdict. Near the ends of
///    the double range a perturbation, a product or the gradient itself over- or underflows,
///    and the honest verdicts there are *non-finite* or *unchecked*.
/// 2. The same recipe with its numbers tamed into `[1e-6, 1e3]` in magnitude (or 0), a
///    range that contains every value mode of the generator with room to spare: the
///    reference engine passes, every entry decided. (Far larger numbers make graphs whose
///    forward values are pure round-off of cancelling terms near 1e20 and beyond, where the
///    verdict depends on how each side rounded; see `cases/findings/cancelled-sigmoid-input.yaml`.)
pub fn check_reference(data: &[u8]) {
    let recipe = recipe_from_bytes(data);
    let graph = build(&recipe, &Limits::default());
    let report =
        check(&Reference, &graph, &Tolerance::default()).expect("the reference never errs");
    if !report.passed() {
        crate::blame::blame(&Reference, &graph, &Tolerance::default())
            .expect("the reference never errs");
    }
    let tamed = Recipe {
        numbers: recipe.numbers.iter().map(|&x| tame(x)).collect(),
        ..recipe
    };
    let graph = build(&tamed, &Limits::default());
    let report =
        check(&Reference, &graph, &Tolerance::default()).expect("the reference never errs");
    assert!(
        report.passed(),
        "the reference fails a built graph: {report:?}\n{graph:?}"
    );
}

#[cfg(feature = "arbitrary")]
/// `x` with its magnitude brought into `[1e-6, 1e3]`, or 0 (non-finite numbers become 0,
/// as the builder makes them).
fn tame(x: f64) -> f64 {
    if !x.is_finite() || x.abs() < 1e-6 {
        0.0
    } else {
        x.clamp(-1e3, 1e3)
    }
}

/// Target `load_case`: arbitrary bytes never panic the loader, and whatever loads writes back
/// to YAML that loads to the same graph, bit for bit.
pub fn load_case(data: &[u8]) {
    let limits = SizeLimits {
        max_bytes: 1 << 20,
        max_nodes: 256,
        max_dim: 64,
    };
    let Ok(case) = case::parse(data, "fuzz.yaml", "fuzz", &limits) else {
        return;
    };
    let text = case::to_yaml(&case);
    let back = case::parse(text.as_bytes(), "round-trip.yaml", "fuzz", &limits)
        .unwrap_or_else(|e| panic!("a loaded case does not reload: {e}\n{text}"));
    assert!(
        same_bits(&case.graph, &back.graph),
        "round trip changed the graph:\n{text}"
    );
    assert_eq!(case.gradients.is_some(), back.gradients.is_some());
}

#[cfg(feature = "arbitrary")]
/// Target `build_invariants`: limits and a recipe from the bytes; the built graph obeys every
/// rule of the gate semantics (checked here independently of `Graph::new`) and the limits.
pub fn build_invariants(data: &[u8]) {
    let (limit_bytes, rest) = data.split_at(data.len().min(2));
    let limits = Limits {
        max_nodes: limit_bytes.first().map_or(12, |&b| b as usize % 40),
        max_dim: limit_bytes.get(1).map_or(6, |&b| b as usize % 17),
    };
    let graph = build(&recipe_from_bytes(rest), &limits);
    if let Err(rule) = violations(&graph, &limits) {
        panic!("a built graph breaks a rule: {rule}\n{graph:?}");
    }
}

/// The first rule of the gate semantics (or of the limits) that `graph` breaks, checked
/// directly from the nodes.
pub fn violations(graph: &Graph, limits: &Limits) -> Result<(), String> {
    let limits = limits.sanitized();
    if graph.len() > limits.max_nodes {
        return Err(format!("{} nodes, above {}", graph.len(), limits.max_nodes));
    }
    let users = graph.users();
    let mut losses = 0;
    for id in graph.ids() {
        let node = graph.node(id);
        match &node.op {
            Op::Leaf(kind, value) => {
                if !value.is_finite() || value.is_empty() {
                    return Err(format!("{}: an empty or non-finite leaf", node.name));
                }
                if matches!(value, Value::Matrix(_)) != (*kind == LeafKind::Weight) {
                    return Err(format!("{}: its kind and value disagree", node.name));
                }
            }
            Op::Gate(gate) => {
                if gate
                    .operands()
                    .iter()
                    .any(|op| op.0 >= id.0 || graph.is_loss(*op))
                {
                    return Err(format!("{}: an operand after it, or a loss", node.name));
                }
                let vector = |s: Shape| matches!(s, Shape::Vector(_));
                let ok = match *gate {
                    Gate::Add(a, b) => graph.shape(a) == graph.shape(b) && vector(graph.shape(a)),
                    Gate::Matvec { weight, vector: o } => matches!(
                        (&graph.node(weight).op, graph.shape(weight), graph.shape(o)),
                        (Op::Leaf(LeafKind::Weight, _), Shape::Matrix(_, n), Shape::Vector(k)) if n == k
                    ),
                    Gate::Sigmoid(s) => vector(graph.shape(s)),
                    Gate::Sqerr { output, target } => {
                        losses += 1;
                        graph.shape(output) == graph.shape(target) && vector(graph.shape(output))
                    }
                };
                if !ok {
                    return Err(format!("{}: a shape rule is broken", node.name));
                }
            }
        }
        let in_range = |n: usize| (1..=limits.max_dim).contains(&n);
        let dims_ok = match graph.shape(id) {
            Shape::Vector(n) => in_range(n),
            Shape::Matrix(m, n) => in_range(m) && in_range(n),
            Shape::Scalar => users[id.0].is_empty(),
        };
        if !dims_ok {
            return Err(format!("{}: a dimension out of range", node.name));
        }
    }
    if losses == 0 {
        return Err("no loss".into());
    }
    let live_loss = graph.differentiable_leaves().any(|leaf| {
        graph.downstream(leaf).iter().any(|&id| {
            matches!(graph.gate(id), Some(Gate::Sqerr { output, target }) if output != target)
        })
    });
    if !live_loss {
        return Err("no loss other than sqerr(v, v) depends on an input or a weight".into());
    }
    Ok(())
}

/// Whether two graphs have the same nodes, numbers compared bit for bit.
pub fn same_bits(a: &Graph, b: &Graph) -> bool {
    a.len() == b.len()
        && a.nodes().iter().zip(b.nodes()).all(|(x, y)| {
            x.name == y.name
                && match (&x.op, &y.op) {
                    (Op::Leaf(kx, vx), Op::Leaf(ky, vy)) => {
                        kx == ky
                            && vx.shape() == vy.shape()
                            && (0..vx.len()).all(|k| vx.entry(k).to_bits() == vy.entry(k).to_bits())
                    }
                    (Op::Gate(gx), Op::Gate(gy)) => gx == gy,
                    _ => false,
                }
        })
}
