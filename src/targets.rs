//! The fuzz targets' logic, as plain functions: `fuzz/fuzz_targets/*.rs` call them on
//! libFuzzer's bytes, and `tests/fuzz_targets.rs` replays a corpus through them, so the same
//! properties hold under `cargo fuzz` and under `cargo test`.

use crate::case::{self, SizeLimits};
use crate::check::{Tolerance, check};
use crate::engine::Reference;
use crate::gate::{Gate, Value};
use crate::graph::{Graph, LeafKind, Op, Shape};
use crate::recipe::{Limits, Recipe, build};
use arbitrary::{Arbitrary, Unstructured};

/// The recipe fuzzer bytes describe (running out of bytes gives a shorter recipe).
pub fn recipe_from_bytes(data: &[u8]) -> Recipe {
    Recipe::arbitrary_take_rest(Unstructured::new(data)).unwrap_or_default()
}

/// Target `check_reference`: the graph built from the bytes, at the default limits, passes
/// the reference engine's check, except for entries reported non-finite or unchecked where
/// the forward values or their magnitudes overflow (fuzzer numbers reach 1e308); blaming the
/// graph never panics.
pub fn check_reference(data: &[u8]) {
    let graph = build(&recipe_from_bytes(data), &Limits::default());
    let report =
        check(&Reference, &graph, &Tolerance::default()).expect("the reference never errs");
    let overflowed = graph.forward().iter().any(|value| !value.is_finite());
    assert!(
        report.mismatches.is_empty(),
        "the reference fails a built graph: {report:?}\n{graph:?}"
    );
    // Non-finite or undecidable entries only where the forward values overflow, or where
    // the gradient itself does (a true gradient beyond 1.8e308, as with a residual of 1e116
    // times an input of 1e298: the reference then says infinity, rightly).
    let overflowed = overflowed
        || crate::oracle::difference::magnitudes(&graph, &graph.forward())
            .iter()
            .any(|m| !m.is_finite());
    let explained = |entry: &crate::check::EntryCheck| overflowed || !entry.analytic.is_finite();
    assert!(
        report
            .non_finite
            .iter()
            .chain(&report.unchecked)
            .all(explained),
        "{report:?}\n{graph:?}"
    );
    if !report.passed() {
        crate::blame::blame(&Reference, &graph, &Tolerance::default())
            .expect("the reference never errs");
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
