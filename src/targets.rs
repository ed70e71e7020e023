//! The fuzz targets' logic, as plain functions: `fuzz/fuzz_targets/*.rs` call them on
//! libFuzzer's bytes, and `tests/fuzz_targets.rs` replays a corpus through them, so the same
//! properties hold under `cargo fuzz` and under `cargo test`.

use crate::case::{self, SizeLimits};
use crate::graph::{Graph, LeafKind, Operation, Shape};
use crate::op::{Arg, GateKind, output_shape};
use crate::recipe::Limits;
use crate::value::Value;
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
        max_batch: limit_bytes.get(1).map_or(8, |&b| b as usize / 17 % 9),
    };
    let graph = build(&recipe_from_bytes(rest), &limits);
    if let Err(rule) = violations(&graph, &limits) {
        panic!("a built graph breaks a rule: {rule}\n{graph:?}");
    }
}

/// The first rule of the gate semantics (or of the limits) that `graph` breaks, checked
/// directly from the nodes: operands before their users and never losses, each gate's shape
/// rule (the table's, [`output_shape`]) giving the shape the graph holds, leaves finite and
/// non-empty, dimensions within the limits, and a loss that depends on an input or a weight.
pub fn violations(graph: &Graph, limits: &Limits) -> Result<(), String> {
    let limits = limits.sanitized();
    if graph.len() > limits.max_nodes {
        return Err(format!("{} nodes, above {}", graph.len(), limits.max_nodes));
    }
    let users = graph.users();
    let mut losses = 0;
    let rearranges = graph.ids().any(|id| {
        matches!(
            graph.operation(id).kind(),
            Some(GateKind::Transpose | GateKind::Matmul)
        )
    });
    for id in graph.ids() {
        let name = graph.name(id);
        match graph.operation(id) {
            Operation::Leaf(kind, value) => {
                if !value.is_finite() || value.is_empty() {
                    return Err(format!("{name}: an empty or non-finite leaf"));
                }
                if *kind == LeafKind::Weight && !matches!(value, Value::Matrix(_)) {
                    return Err(format!("{name}: its kind and value disagree"));
                }
                if value.shape() != graph.shape(id) {
                    return Err(format!("{name}: its value is not of its shape"));
                }
            }
            gate => {
                let operands = gate.operands();
                if operands.iter().any(|op| op.0 >= id.0 || graph.is_loss(*op)) {
                    return Err(format!("{name}: an operand after it, or a loss"));
                }
                let kind = gate.kind().expect("a gate");
                losses += kind.is_loss() as usize;
                let args: Vec<Arg> = operands
                    .iter()
                    .map(|&n| Arg {
                        name: graph.name(n),
                        shape: graph.shape(n),
                        is_weight: graph.operation(n).is_weight(),
                    })
                    .collect();
                match output_shape(kind, &args, &mut |_, _| {}) {
                    Ok(shape) if shape == graph.shape(id) => {}
                    Ok(shape) => {
                        return Err(format!(
                            "{name}: shaped {}, but its rule makes {shape}",
                            graph.shape(id)
                        ));
                    }
                    Err(rule) => return Err(format!("{name}: {rule}")),
                }
            }
        }
        let in_range = |n: usize| (1..=limits.max_dim).contains(&n);
        let either = |n: usize| (1..=limits.max_dim.max(limits.max_batch)).contains(&n);
        let dims_ok = match graph.shape(id) {
            // A transpose turns a batch's examples into columns, and a product passes them
            // on: there every side is a dimension or a batch size.
            shape if rearranges && shape != Shape::Scalar => {
                let (m, n) = shape.dims();
                either(m) && either(n)
            }
            Shape::Vector(n) => in_range(n),
            // A weight's rows are a dimension; a batch's rows are examples.
            Shape::Matrix(m, n) if graph.operation(id).is_weight() => in_range(m) && in_range(n),
            Shape::Matrix(m, n) => (1..=limits.max_batch).contains(&m) && in_range(n),
            Shape::Scalar => users[id.0].is_empty(),
        };
        if !dims_ok {
            return Err(format!("{name}: a dimension out of range"));
        }
    }
    if losses == 0 {
        return Err("no loss".into());
    }
    let live_loss = graph.differentiable_leaves().any(|leaf| {
        graph.downstream(leaf).iter().any(|&id| {
            let operation = graph.operation(id);
            operation.is_loss() && operation.operands()[0] != operation.operands()[1]
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
        && a.operations()
            .zip(b.operations())
            .all(|((nx, x), (ny, y))| {
                nx == ny
                    && match (x, y) {
                        (Operation::Leaf(kx, vx), Operation::Leaf(ky, vy)) => {
                            kx == ky
                                && vx.shape() == vy.shape()
                                && (0..vx.len())
                                    .all(|k| vx.entry(k).to_bits() == vy.entry(k).to_bits())
                        }
                        (Operation::Leaf(..), _) | (_, Operation::Leaf(..)) => false,
                        (gx, gy) => gx == gy,
                    }
            })
}
