//! The primary oracle allocates nothing per entry: once its buffers have grown, differencing
//! one entry of a leaf or all of them makes the same allocations (the per-leaf ones); and
//! the full check of a big leaf holds no record per entry.

use gradfuzz::case::{self, SizeLimits};
use gradfuzz::oracle::base::Base;
use gradfuzz::oracle::delta::Workspace;
use gradfuzz::oracle::difference::leaf_estimates;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting this thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Bytes allocated and not yet freed, by every thread (the full check differences a big leaf
/// on several), and the most there were since the last reset.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::SeqCst);
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        grew(new_size);
        shrank(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

/// Every kind of change: sparse (a weight entry), dense with odd lanes the negation of even
/// ones (an input entry through two products), dense and general (after a sigmoid), fan-out
/// through an add, two losses.
const GRAPH: &str = "nodes:
  x: {input: [0.5, -1.0, 2.0]}
  W1: {weight: [[0.1, 0.2, 0.3], [0.4, -0.5, 0.6], [-0.7, 0.8, 0.9], [1.0, -1.1, 1.2]]}
  s1: {matvec: [W1, x]}
  W2: {weight: [[0.3, -0.1, 0.2, 0.5], [0.7, 0.1, -0.4, 0.2], [0.2, 0.2, 0.2, -0.9]]}
  s2: {matvec: [W2, s1]}
  o2: {sigmoid: s2}
  r: {add: [o2, x]}
  s3: {matvec: [W2, s1]}
  o3: {sigmoid: s3}
  t: {target: [0.1, 0.2, 0.3]}
  E1: {sqerr: [r, t]}
  E2: {sqerr: [o3, o2]}
";

#[test]
fn differencing_allocates_nothing_per_entry() {
    let graph = case::parse(
        GRAPH.as_bytes(),
        "alloc.yaml",
        "alloc",
        &SizeLimits::default(),
    )
    .expect("valid")
    .graph;
    let values = graph.forward();
    let base = Base::new(&graph, &values);
    let mut workspace = Workspace::new(&graph);
    for leaf in graph.differentiable_leaves() {
        let entries = graph.shape_len(leaf);
        // Grow the buffers.
        leaf_estimates(&graph, &base, leaf, 0..entries, &mut workspace);
        let one = allocations_during(|| {
            leaf_estimates(&graph, &base, leaf, 0..1, &mut workspace);
        });
        let all = allocations_during(|| {
            leaf_estimates(&graph, &base, leaf, 0..entries, &mut workspace);
        });
        assert_eq!(
            one,
            all,
            "leaf {}: {one} allocations for one entry, {all} for {entries}",
            graph.node(leaf).name
        );
    }
}

/// The full check of a 1200×1200 weight (1.44 million entries, 11.5 MB of `f64`) holds, on
/// top of the graph, its entries once more in row-major order, the engine's gradient, the
/// leaves' zero error bounds (allocated zeroed and never written, so not resident) and one
/// block of estimates (6.3 MB): under four times the numbers' size, 3.6 when this was
/// written. (It held a record of every entry and every entry's estimate, twice, before:
/// 30 times.)
#[test]
fn the_full_check_of_a_big_leaf_holds_no_record_per_entry() {
    use gradfuzz::graph::Graph;
    use gradfuzz::op::{Binary, LeafKind, Loss, Operation, Unary};
    use gradfuzz::value::{NodeId, Value};
    let n = 1200;
    // Entries of a few sizes, deterministic, none zero.
    let entry = |i: usize, j: usize| ((i * 7 + j * 13) % 17) as f64 / 17.0 - 0.47;
    let nodes = vec![
        (
            "x".to_string(),
            Operation::Leaf(
                LeafKind::Target,
                Value::Vector(faer::Col::from_fn(n, |i| entry(i, 1))),
            ),
        ),
        (
            "W".to_string(),
            Operation::Leaf(
                LeafKind::Weight,
                Value::Matrix(faer::Mat::from_fn(n, n, |i, j| entry(i, j) / n as f64)),
            ),
        ),
        (
            "t".to_string(),
            Operation::Leaf(
                LeafKind::Target,
                Value::Vector(faer::Col::from_fn(n, |i| entry(i, 3))),
            ),
        ),
        (
            "s".to_string(),
            Operation::Binary(Binary::Matvec, NodeId(1), NodeId(0)),
        ),
        ("o".to_string(), Operation::Unary(Unary::Sigmoid, NodeId(3))),
        (
            "E".to_string(),
            Operation::Loss(Loss::Sqerr, NodeId(4), NodeId(2)),
        ),
    ];
    let graph = Graph::with_operations(nodes).expect("a valid graph");
    let numbers = n * n * std::mem::size_of::<f64>();
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let report = gradfuzz::check::check(
        &gradfuzz::engine::Reference,
        &graph,
        &gradfuzz::check::Tolerance::default(),
    )
    .expect("the reference answers");
    let held = PEAK.load(Ordering::SeqCst) - before;
    assert!(report.passed() && report.scalars == n * n, "{report:?}");
    assert!(
        held < 4 * numbers,
        "the check held {held} bytes above the graph's, {:.1} times the weight's {numbers}",
        held as f64 / numbers as f64
    );
}
