//! The primary oracle allocates nothing per entry: once its buffers have grown, differencing
//! one entry of a leaf or all of them makes the same allocations (the per-leaf ones).

use gradfuzz::case::{self, SizeLimits};
use gradfuzz::oracle::base::Base;
use gradfuzz::oracle::delta::Workspace;
use gradfuzz::oracle::difference::leaf_estimates;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting this thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
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
