//! What an engine author's adapter leans on: leaf values and gradients to and from the
//! row-major layout of tensor libraries, a graph shown as case YAML in test failures, and a
//! failure of an engine the command line cannot name saved as a case that replays without it.

mod common;

use common::{gradfuzz, outcome, scratch};
use gradfuzz::case::{self, SizeLimits};
use gradfuzz::engine::{AnswerError, Engine, EngineError, Gradients, Reference};
use gradfuzz::fuzz::{Budget, FuzzConfig, diagnose, fuzz};
use gradfuzz::{Graph, Shape, Value};

fn graph(yaml: &str) -> Graph {
    case::parse(
        yaml.as_bytes(),
        "adapter.yaml",
        "adapter",
        &SizeLimits::default(),
    )
    .expect("valid")
    .graph
}

const TWO_LAYER: &str = "nodes:\n  x: {input: [0.5, -1.0, 2.0]}\n  W: {weight: [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]}\n  s: {matvec: [W, x]}\n  o: {sigmoid: s}\n  t: {target: [1.0, 0.0]}\n  E: {sqerr: [o, t]}\n";

#[test]
fn values_go_to_row_major_and_back() {
    let graph = graph(TWO_LAYER);
    let w = graph.find("W").expect("W");
    let gradfuzz::Op::Leaf(_, value) = &graph.node(w).op else {
        panic!("W is a leaf")
    };
    assert_eq!(value.to_row_major(), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    let back = Value::from_row_major(Shape::Matrix(2, 3), &value.to_row_major());
    assert_eq!(back.as_ref(), Some(value));
    assert_eq!(back.expect("fits").entry(3), 0.4, "row 1, column 0");
    let vector = Value::from_row_major(Shape::Vector(3), &[1.0, 2.0, 3.0]).expect("fits");
    assert_eq!(vector.to_row_major(), [1.0, 2.0, 3.0]);
    // A count that does not fit the shape is refused, never read past.
    assert_eq!(Value::from_row_major(Shape::Matrix(2, 3), &[0.0; 5]), None);
    assert_eq!(Value::from_row_major(Shape::Vector(3), &[0.0; 4]), None);
    assert_eq!(Value::from_row_major(Shape::Scalar, &[]), None);
}

#[test]
fn gradients_set_from_row_major_pass_and_a_wrong_count_names_the_leaf() {
    let graph = graph(TWO_LAYER);
    let reference = Reference.gradients(&graph).expect("reference");
    let mut gradients = Gradients::empty(graph.len());
    for leaf in graph.differentiable_leaves() {
        let entries = reference.get(leaf).expect("every leaf").to_row_major();
        gradients
            .set_row_major(&graph, leaf, &entries)
            .expect("fits");
    }
    assert_eq!(gradients, reference);
    let error = gradients
        .set_row_major(&graph, graph.find("W").expect("W"), &[0.0; 3])
        .expect_err("3 entries for a 2×3 weight");
    let message = error.to_string();
    assert!(
        matches!(&error, EngineError::Answer { error: AnswerError::Unreadable { leaf, .. }, .. } if leaf == "W")
            && message.contains("3 entries")
            && message.contains("2×3"),
        "{error:?}"
    );
}

fn leaf_value(graph: &Graph, leaf: gradfuzz::NodeId) -> Value {
    match &graph.node(leaf).op {
        gradfuzz::Op::Leaf(_, value) => value.clone(),
        gradfuzz::Op::Gate(_) => panic!("not a leaf"),
    }
}

/// The same mistake, a gradient for a target, said the same way whether a Rust engine makes
/// it or a case file claims it: one validator for every answer.
#[test]
fn an_answer_is_validated_alike_from_an_engine_and_from_a_case_file() {
    let yaml =
        "nodes:\n  x: {input: [1.0, 2.0]}\n  t: {target: [0.0, 1.0]}\n  E: {sqerr: [x, t]}\n";
    let graph = gradfuzz::case::parse(yaml.as_bytes(), "g.yaml", "g", &Default::default())
        .expect("a valid case")
        .graph;
    let (x, t) = (graph.find("x").expect("x"), graph.find("t").expect("t"));
    struct TargetToo;
    impl Engine for TargetToo {
        fn name(&self) -> String {
            "target-too".into()
        }
        fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
            let mut gradients = Reference.gradients(graph)?;
            let t = graph.find("t").expect("t");
            gradients.set(t, leaf_value(graph, t));
            Ok(gradients)
        }
    }
    let from_engine = gradfuzz::engine::answer(&TargetToo, &graph).expect_err("refused");
    let expected = AnswerError::Target { name: "t".into() };
    assert_eq!(from_engine, EngineError::from(expected.clone()));
    let claimed = format!("{yaml}gradients:\n  x: [1.0, 1.0]\n  t: [0.0, 0.0]\n");
    let from_file = gradfuzz::case::parse(claimed.as_bytes(), "c.yaml", "c", &Default::default())
        .expect_err("refused");
    assert_eq!(from_file.kind, gradfuzz::case::CaseErrorKind::Invalid);
    assert!(
        from_file.to_string().contains(&expected.to_string()),
        "{from_file} does not say: {expected}"
    );
    // And a missing leaf, from both.
    let mut partial = Gradients::empty(graph.len());
    partial.set(t, leaf_value(&graph, t));
    let missing = AnswerError::Missing { leaf: "x".into() };
    assert_eq!(
        partial.validate(&graph),
        Err(AnswerError::Target { name: "t".into() })
    );
    let mut none = Gradients::empty(graph.len());
    assert_eq!(none.validate(&graph), Err(missing.clone()));
    let from_file = gradfuzz::case::parse(
        format!("{yaml}gradients: {{}}\n").as_bytes(),
        "c.yaml",
        "c",
        &Default::default(),
    )
    .expect_err("refused");
    assert!(
        from_file.to_string().contains(&missing.to_string()),
        "{from_file}"
    );
    none.set(x, leaf_value(&graph, x));
    assert_eq!(none.validate(&graph), Ok(()));
}

/// Each kind of fault in a case file is told apart, for programs that load cases.
#[test]
fn a_case_file_fault_says_its_kind() {
    use gradfuzz::case::{CaseErrorKind, parse};
    let kind = |bytes: &[u8], limits: &SizeLimits| {
        parse(bytes, "f.yaml", "f", limits)
            .expect_err("refused")
            .kind
    };
    let defaults = SizeLimits::default();
    assert_eq!(kind(b"\xff\xfe", &defaults), CaseErrorKind::NotText);
    assert_eq!(kind(b"nodes: [", &defaults), CaseErrorKind::Syntax);
    assert_eq!(
        kind(b"nodes:\n  x: {input: [1.0]}\n", &defaults),
        CaseErrorKind::Invalid
    );
    let small = SizeLimits {
        max_dim: 1,
        ..SizeLimits::default()
    };
    let two = b"nodes:\n  x: {input: [1.0, 2.0]}\n  E: {sqerr: [x, x]}\n";
    assert_eq!(kind(two, &small), CaseErrorKind::TooLarge);
    let missing = gradfuzz::case::load(std::path::Path::new("no/such/case.yaml"));
    assert_eq!(
        missing.expect_err("refused").kind,
        CaseErrorKind::Unreadable
    );
}

#[test]
fn a_graph_shows_as_the_nodes_of_a_case_file() {
    let graph = graph(TWO_LAYER);
    let shown = format!("{graph:?}");
    assert_eq!(shown.lines().count(), 1 + graph.len(), "{shown}");
    assert!(
        shown.contains("  W: {weight: [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]}"),
        "{shown}"
    );
    assert!(shown.contains("  s: {matvec: [W, x]}"), "{shown}");
    // The lines load back as a case's nodes, to the same graph.
    let nodes: String = shown.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(self::graph(&format!("nodes:\n{nodes}")), graph);
}

/// A user's engine that no command line can name: the reference, with every gradient
/// 1e-6 too large.
struct Mine;

impl Engine for Mine {
    fn name(&self) -> String {
        "my-engine".into()
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        let mut gradients = Reference.gradients(graph)?;
        for leaf in graph.differentiable_leaves() {
            let scaled: Vec<f64> = gradients
                .get(leaf)
                .expect("every leaf")
                .to_row_major()
                .iter()
                .map(|g| g * (1.0 + 1e-6))
                .collect();
            gradients.set_row_major(graph, leaf, &scaled)?;
        }
        Ok(gradients)
    }
}

#[test]
fn a_failure_of_an_unnamed_engine_is_saved_with_its_gradients_and_replays() {
    let config = FuzzConfig {
        budget: Budget::Graphs(50),
        ..FuzzConfig::default()
    };
    let mut summary = fuzz(&Mine, &config);
    assert!(!summary.passed());
    diagnose(&Mine, &config, &mut summary);
    let case = summary.failures[0].to_case(&Mine.name(), &config);
    assert_eq!(
        case.engine, None,
        "`my-engine` cannot be named on the command line"
    );
    assert!(case.gradients.is_some());
    let dir = scratch("unnamed-engine");
    let path = dir.join("mine.yaml");
    std::fs::write(&path, case::to_yaml(&case)).expect("write");
    // Replayed by the command line: the claimed gradients still mismatch, as the case expects.
    let (code, stdout, stderr) = outcome(&gradfuzz(&["check", path.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 as expected"), "{stdout}");

    // A named engine's case names it, and claims nothing.
    let mutant = gradfuzz::engine::by_name("mutant:scale=1e-6").expect("a mutant");
    let mut summary = fuzz(mutant.as_ref(), &config);
    diagnose(mutant.as_ref(), &config, &mut summary);
    let case = summary.failures[0].to_case(&mutant.name(), &config);
    assert_eq!(case.engine.as_deref(), Some(mutant.name().as_str()));
    assert!(case.gradients.is_none());
}

#[test]
fn a_default_run_uses_every_core_as_the_command_line_does() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(FuzzConfig::default().jobs, cores);
}
