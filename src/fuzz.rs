//! The fuzz loop: many random graphs, each checked, merged into one [`FuzzSummary`].
//!
//! Graph `i` depends only on the seed, `i` and the limits, and results are merged in graph
//! order, so the summary is the same whatever the number of worker threads.

use crate::blame::{Blame, blame};
use crate::case::{Case, Expect};
use crate::check::fast::{DIRECTIONS, fast_check};
use crate::check::{EntryCheck, Report, Tolerance, check};
use crate::engine::{Engine, EngineError, Gradients};
use crate::generate::{ValueMode, recipe_with};
use crate::graph::Graph;
use crate::op::GateSet;
use crate::precision::Precision;
use crate::recipe::{Limits, build};
use crate::shrink::Shrinker;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a run lasts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    Graphs(u64),
    Time(Duration),
}

/// Everything that decides which graphs a run checks and how.
#[derive(Clone, Debug, PartialEq)]
pub struct FuzzConfig {
    pub seed: u64,
    pub budget: Budget,
    pub limits: Limits,
    pub values: ValueMode,
    pub tolerance: Tolerance,
    /// Threads checking graphs (by default the number of cores, as on the command line);
    /// the report is the same whatever the number.
    pub jobs: usize,
    /// Every entry, or a few random directions (falling back to every entry on a mismatch).
    pub mode: Mode,
    /// This run checks graphs `shard.index`, `shard.index + shard.count`, … of the seed's
    /// sequence, so that `count` runs with different `index` check disjoint graphs.
    pub shard: Shard,
    /// Failing graphs kept in full; later ones are only counted.
    pub keep_failures: usize,
    /// Candidate graphs checked at most while shrinking each failure (see
    /// [`Shrinker::with_budget`]).
    pub shrink_candidates: usize,
    /// The gates random graphs may use (by default all): of these, the ones the engine
    /// declares ([`Engine::gates`]), on batches if both say so.
    pub ops: GateSet,
}

impl FuzzConfig {
    /// The gates this run's graphs use with `engine`: those of [`FuzzConfig::ops`] it
    /// declares.
    pub fn gates_for(&self, engine: &dyn Engine) -> GateSet {
        engine.gates().and(self.ops)
    }
}

impl Default for FuzzConfig {
    fn default() -> Self {
        FuzzConfig {
            seed: 0,
            budget: Budget::Graphs(100_000),
            limits: Limits::default(),
            values: ValueMode::Normal,
            tolerance: Tolerance::default(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            shard: Shard::WHOLE,
            mode: Mode::Full,
            keep_failures: 10,
            shrink_candidates: crate::shrink::MAX_CANDIDATES,
            ops: GateSet::all(),
        }
    }
}

/// How much of each graph is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every entry of every leaf.
    Full,
    /// [`crate::check::fast::DIRECTIONS`] seeded random directions; a graph whose directions
    /// disagree is checked in full, which decides and reports.
    Fast,
}

impl Mode {
    /// The mode as `--mode` and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Fast => "fast",
        }
    }
}

/// One of `count` disjoint slices of a seed's graphs (`index` from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Every graph.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The graph index of this shard's `n`-th graph.
    pub(crate) fn graph_index(self, n: u64) -> u64 {
        n * self.count + self.index
    }
}

/// A graph that failed, with its report.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub index: u64,
    pub graph: Graph,
    pub report: Report,
    /// Filled in by [`diagnose`]: the blame of the graph as found.
    pub blame: Option<Blame>,
    /// Filled in by [`diagnose`]: the smallest graph found that fails with the same blame.
    pub shrunk: Option<Shrunk>,
    /// The precision the engine was checked in.
    pub precision: Precision,
    /// The gates the run's graphs used.
    pub gates: GateSet,
    /// Filled in by [`diagnose`] for an engine the command line cannot name (a library
    /// user's own): its gradients of the saved graph, which the saved case then claims, so
    /// that `gradfuzz check` replays it without the engine.
    pub claimed: Option<Gradients>,
    /// The engine's short name ([`Engine::short_name`]), which saved cases are named for
    /// (empty: the name given to [`Failure::to_case`]).
    pub engine_short_name: String,
}

/// A shrunk failure: the graph, its report and its blame.
#[derive(Clone, Debug, PartialEq)]
pub struct Shrunk {
    pub graph: Graph,
    pub report: Report,
    pub blame: Blame,
    /// Shrinking stopped at its budget of candidates ([`FuzzConfig::shrink_candidates`]),
    /// so a smaller graph may still fail the same way.
    pub budget_spent: bool,
}

/// The closest call of a run: the passing or failing entry with the largest error ratio.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosestCall {
    pub index: u64,
    pub label: String,
    pub entry: EntryCheck,
}

/// What a run found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FuzzSummary {
    pub graphs: u64,
    pub scalars: u64,
    pub failing_graphs: u64,
    /// Graphs with at least one mismatched entry (a failing graph may have none: its
    /// entries non-finite or unchecked, or only its loss wrong).
    pub mismatched_graphs: u64,
    pub mismatched_entries: u64,
    pub non_finite_entries: u64,
    pub unchecked_entries: u64,
    /// Graphs where the engine's own loss differs from the forward pass.
    pub loss_mismatches: u64,
    /// Fast mode: directions checked, graphs sent to the full check, and the largest
    /// directional error as a fraction of its tolerance among the graphs whose directions
    /// agreed (a disagreement's own verdict is the full check's).
    pub directions: u64,
    pub fast_fallbacks: u64,
    pub worst_direction: f64,
    /// Entries decided by the forward-mode oracle.
    pub by_forward_mode: u64,
    /// Entries judged on both sides of a kink, and those left unchecked there.
    pub at_kink_entries: u64,
    pub unchecked_kink_entries: u64,
    /// Generated graphs skipped because a leaf entry does not fit the engine's precision
    /// (beyond its range, or nonzero and rounding to zero): not checked, not failing.
    pub unrepresentable_graphs: u64,
    pub closest: Option<ClosestCall>,
    /// The first failing graphs, in graph order.
    pub failures: Vec<Failure>,
    /// The engine error that stopped the run, with the graph it happened on.
    pub stopped_by: Option<(u64, EngineError)>,
    /// The run was asked to stop ([`Progress::stop_requested`]: SIGINT or SIGTERM on the
    /// command line) before its budget was spent.
    pub interrupted: bool,
    /// The precision the engine was checked in.
    pub precision: Precision,
    /// The gates the run's graphs used ([`FuzzConfig::gates_for`]).
    pub gates: GateSet,
    pub elapsed: Duration,
}

impl FuzzSummary {
    pub fn passed(&self) -> bool {
        self.failing_graphs == 0 && self.stopped_by.is_none()
    }

    /// Adds one checked graph.
    fn add(
        &mut self,
        index: u64,
        graph: Graph,
        report: Report,
        keep: usize,
        run: (Precision, GateSet),
    ) {
        let (precision, gates) = run;
        self.graphs += 1;
        self.scalars += report.scalars as u64;
        self.by_forward_mode += report.by_forward_mode as u64;
        self.at_kink_entries += report.at_kink as u64;
        self.unchecked_kink_entries += report
            .unchecked
            .iter()
            .filter(|e| {
                matches!(
                    e.verdict,
                    crate::check::Verdict::Unchecked(crate::check::Undecided::Kink(_))
                )
            })
            .count() as u64;
        if let Some(entry) = &report.closest {
            self.offer_closest(ClosestCall {
                index,
                label: entry.label(&graph),
                entry: entry.clone(),
            });
        }
        if !report.passed() {
            self.failing_graphs += 1;
            self.mismatched_graphs += !report.mismatches.is_empty() as u64;
            self.mismatched_entries += report.mismatches.len() as u64;
            self.non_finite_entries += report.non_finite.len() as u64;
            self.unchecked_entries += report.unchecked.len() as u64;
            self.loss_mismatches += report.loss_mismatch.is_some() as u64;
            if self.failures.len() < keep {
                self.failures.push(Failure {
                    index,
                    graph,
                    report,
                    blame: None,
                    shrunk: None,
                    precision,
                    gates,
                    claimed: None,
                    engine_short_name: String::new(),
                });
            }
        }
    }

    /// Keeps the call with the larger ratio; on a tie, the earlier graph (so that the result
    /// does not depend on which worker saw which graph).
    fn offer_closest(&mut self, call: ClosestCall) {
        let closer = self.closest.as_ref().is_none_or(|c| {
            let (new, old) = (call.entry.ratio(), c.entry.ratio());
            new > old || (new == old && call.index < c.index)
        });
        if closer {
            self.closest = Some(call);
        }
    }

    /// Merges another worker's summary; every part is order-independent.
    fn merge(&mut self, other: FuzzSummary, keep: usize) {
        self.graphs += other.graphs;
        self.scalars += other.scalars;
        self.failing_graphs += other.failing_graphs;
        self.mismatched_graphs += other.mismatched_graphs;
        self.mismatched_entries += other.mismatched_entries;
        self.non_finite_entries += other.non_finite_entries;
        self.unchecked_entries += other.unchecked_entries;
        self.loss_mismatches += other.loss_mismatches;
        self.directions += other.directions;
        self.fast_fallbacks += other.fast_fallbacks;
        self.worst_direction = self.worst_direction.max(other.worst_direction);
        self.by_forward_mode += other.by_forward_mode;
        self.at_kink_entries += other.at_kink_entries;
        self.unchecked_kink_entries += other.unchecked_kink_entries;
        self.unrepresentable_graphs += other.unrepresentable_graphs;
        self.interrupted |= other.interrupted;
        if let Some(call) = other.closest {
            self.offer_closest(call);
        }
        self.failures.extend(other.failures);
        self.failures.sort_by_key(|f| f.index);
        self.failures.truncate(keep);
        if let Some((index, error)) = other.stopped_by
            && self
                .stopped_by
                .as_ref()
                .is_none_or(|(mine, _)| index < *mine)
        {
            self.stopped_by = Some((index, error));
        }
    }
}

/// The flags after `--seed` that make a run's graphs (for `gen`, which reproduces one, and
/// the saved cases, which say where they came from): the limits and the values, and the
/// gates when they are more than the four of the lecture.
pub fn generation_flags(config: &FuzzConfig, gates: GateSet) -> String {
    let limits = &config.limits;
    let mut flags = format!(
        " --max-nodes {} --max-dim {} --values {}",
        limits.max_nodes,
        limits.max_dim,
        config.values.name()
    );
    if gates != GateSet::LECTURE {
        flags.push_str(&format!(" --ops {gates}"));
        if gates.batches() {
            flags.push_str(&format!(" --max-batch {}", limits.max_batch));
        }
    }
    flags
}

/// The graph a run of the four gates of the lecture checks as number `index`.
pub fn graph_for(seed: u64, index: u64, limits: &Limits, values: ValueMode) -> Graph {
    graph_with(seed, index, limits, values, GateSet::LECTURE)
}

/// The graph a run of the gates `gates` checks as number `index`.
pub fn graph_with(
    seed: u64,
    index: u64,
    limits: &Limits,
    values: ValueMode,
    gates: GateSet,
) -> Graph {
    build(&recipe_with(seed, index, limits, values, gates), limits)
}

/// Checks random graphs until the budget is spent (or an engine fails).
pub fn fuzz(engine: &dyn Engine, config: &FuzzConfig) -> FuzzSummary {
    fuzz_with_progress(engine, config, &Progress::default())
}

/// Counters a run updates as it goes, for a progress display, and a flag that stops it.
#[derive(Debug, Default)]
pub struct Progress {
    /// Graphs checked so far.
    pub graphs: AtomicU64,
    /// Failing graphs so far.
    pub failing: AtomicU64,
    /// Set (from any thread, or a signal handler: it is one atomic store) to stop the run
    /// after the graphs in hand; the summary then covers what was checked and says it was
    /// interrupted.
    pub stop_requested: AtomicBool,
}

impl Progress {
    /// Zero counters, no stop requested (`const`, so that a `static` can hold one for a
    /// signal handler).
    pub const fn new() -> Progress {
        Progress {
            graphs: AtomicU64::new(0),
            failing: AtomicU64::new(0),
            stop_requested: AtomicBool::new(false),
        }
    }
}

/// [`fuzz`], updating `progress` after every graph.
pub fn fuzz_with_progress(
    engine: &dyn Engine,
    config: &FuzzConfig,
    progress: &Progress,
) -> FuzzSummary {
    let start = Instant::now();
    let next_index = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let merged = Mutex::new(FuzzSummary::default());
    let precision = engine.precision();
    let gates = config.gates_for(engine);
    let worker = || {
        let mut local = FuzzSummary::default();
        while !stop.load(Ordering::Relaxed) {
            if progress.stop_requested.load(Ordering::Relaxed) {
                local.interrupted = true;
                break;
            }
            if let Budget::Time(limit) = config.budget
                && start.elapsed() >= limit
            {
                break;
            }
            let n = next_index.fetch_add(1, Ordering::Relaxed);
            if let Budget::Graphs(count) = config.budget
                && n >= count
            {
                break;
            }
            let index = config.shard.graph_index(n);
            let graph = graph_with(config.seed, index, &config.limits, config.values, gates);
            // A generated leaf that a narrow precision cannot hold (normal values include
            // 7e-9, which is 0 in f16) is the generator's reach, not the engine's fault:
            // such graphs are counted and skipped. (A case file that does not fit is an
            // error instead.)
            if precision != Precision::F64 && graph.fits(precision).is_err() {
                local.unrepresentable_graphs += 1;
                continue;
            }
            if config.mode == Mode::Fast {
                match fast_check(engine, &graph, &config.tolerance, DIRECTIONS, index) {
                    Ok(fast) => {
                        local.directions += fast.directions as u64;
                        if fast.agreed {
                            // A disagreement goes to the full check, whose verdict stands:
                            // its directional error is not a near miss of a passing graph.
                            local.worst_direction = local.worst_direction.max(fast.worst_ratio);
                            local.graphs += 1;
                            progress.graphs.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        local.fast_fallbacks += 1;
                    }
                    Err(error) => {
                        stop.store(true, Ordering::Relaxed);
                        local.stopped_by = Some((index, error));
                        continue;
                    }
                }
            }
            match check(engine, &graph, &config.tolerance) {
                Ok(report) => {
                    progress.graphs.fetch_add(1, Ordering::Relaxed);
                    if !report.passed() {
                        progress.failing.fetch_add(1, Ordering::Relaxed);
                    }
                    local.add(
                        index,
                        graph,
                        report,
                        config.keep_failures,
                        (engine.precision(), gates),
                    );
                }
                Err(error) => {
                    stop.store(true, Ordering::Relaxed);
                    local.stopped_by = Some((index, error));
                }
            }
        }
        merged
            .lock()
            .expect("a worker panicked")
            .merge(local, config.keep_failures);
    };
    std::thread::scope(|scope| {
        for _ in 1..config.jobs.max(1) {
            scope.spawn(worker);
        }
        worker();
    });
    let mut summary = merged.into_inner().expect("a worker panicked");
    summary.elapsed = start.elapsed();
    summary.precision = engine.precision();
    summary.gates = gates;
    let short_name = engine.short_name();
    for failure in &mut summary.failures {
        failure.engine_short_name.clone_from(&short_name);
    }
    summary
}

/// Blames each kept failure and shrinks it through its recipe. Deterministic: it depends on
/// the failures and the configuration only.
pub fn diagnose(engine: &dyn Engine, config: &FuzzConfig, summary: &mut FuzzSummary) {
    for failure in &mut summary.failures {
        failure.blame = blame(engine, &failure.graph, &config.tolerance).ok();
        let Some(shrinker) = Shrinker::for_failure(engine, &failure.graph, &config.tolerance)
        else {
            continue;
        };
        let mut shrinker = shrinker.with_budget(config.shrink_candidates);
        let gates = config.gates_for(engine);
        let recipe = recipe_with(
            config.seed,
            failure.index,
            &config.limits,
            config.values,
            gates,
        );
        let graph = shrinker.shrink_recipe(&recipe, &config.limits);
        // Rebuilding a shrunk recipe closes the graph with a loss of its own, which can make
        // it no smaller than the graph as found: then the graph as found stands. Smaller is
        // fewer nodes, or as many with fewer scalars (a batch of fewer rows).
        let graph = if graph.size() < failure.graph.size() {
            graph
        } else {
            failure.graph.clone()
        };
        let report = check(engine, &graph, &config.tolerance);
        let shrunk_blame = blame(engine, &graph, &config.tolerance);
        if let (Ok(report), Ok(blame)) = (report, shrunk_blame) {
            failure.shrunk = Some(Shrunk {
                graph,
                report,
                blame,
                budget_spent: shrinker.budget_spent(),
            });
        }
    }
    claim_for_unnamed(engine, summary);
}

/// For an engine that `gradfuzz check --engine NAME` could not recreate, keeps its
/// gradients of each failure's saved graph, to be written into the saved case.
fn claim_for_unnamed(engine: &dyn Engine, summary: &mut FuzzSummary) {
    if crate::engine::by_name(&engine.name()).is_ok() {
        return;
    }
    keep_claims(engine, summary);
}

/// Keeps the engine's gradients of each failure's saved graph ([`Failure::claimed`]), which
/// the saved case then claims in place of naming the engine (`--save-claims`): the finding
/// can be shown, and checked with exact arithmetic, without the engine. A failure whose
/// saved graph the engine no longer answers keeps none, and names the engine.
pub fn keep_claims(engine: &dyn Engine, summary: &mut FuzzSummary) {
    for failure in &mut summary.failures {
        let saved = failure.saved_graph();
        failure.claimed = crate::engine::rounded_for(engine, saved)
            .and_then(|graph| crate::engine::answer(engine, &graph))
            .ok();
    }
}

/// The cases a run's failures are saved as: one per bug, since failures that shrank to
/// graphs of the same structure with the same blame have one name (the first found stands
/// for the rest, and its description says which graph it holds and which others it stands
/// for), each with the indices of the graphs it stands for, the kept one first.
pub fn cases_to_save(
    summary: &FuzzSummary,
    engine: &str,
    config: &FuzzConfig,
) -> Vec<(Case, Vec<u64>)> {
    let mut saved: Vec<(Case, Vec<u64>)> = Vec::new();
    for failure in &summary.failures {
        let case = failure.to_case(engine, config);
        match saved.iter_mut().find(|(kept, _)| kept.name == case.name) {
            Some((_, indices)) => indices.push(failure.index),
            None => saved.push((case, vec![failure.index])),
        }
    }
    for (case, indices) in &mut saved {
        if let (Some(description), [kept, others @ ..]) = (&mut case.description, &indices[..])
            && !others.is_empty()
        {
            let others: Vec<String> = others.iter().map(u64::to_string).collect();
            description.push_str(&format!(
                "; this file holds graph {kept}'s case, and stands for graph{} {} too (the same \
                 blame, shrunk to the same structure, with other values)",
                if others.len() == 1 { "" } else { "s" },
                others.join(", ")
            ));
        }
    }
    saved
}

/// Where a failure was saved (`--save`): the file, and the graph whose case it holds (the
/// failure's own, or that of an earlier graph with the same blame and shrunk structure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedAs {
    pub file: String,
    pub kept: u64,
}

/// The files of a run's saved cases, by the index of each failing graph they stand for.
pub type SavedFiles = std::collections::BTreeMap<u64, SavedAs>;

impl Failure {
    /// What names a saved failure: the blame's signature (the rule, `fan-out` or
    /// `unlocated`; `unblamed` when blame could not run) and the fingerprint of the graph's
    /// structure, e.g. `sigmoid-5f0c2a9e41d7b3c8`. The same bug shrunk to the same graph by two
    /// shards, machines or seeds gets one name, so their `--save` folders merge without
    /// duplicates (`gradfuzz merge`), while a different rule or a different minimal graph
    /// gets a name of its own.
    pub fn signature(&self, saved: &Graph) -> String {
        let blame = self
            .shrunk
            .as_ref()
            .map(|shrunk| &shrunk.blame)
            .or(self.blame.as_ref());
        let culprit = blame.map_or("unblamed".to_string(), |blame| {
            blame.culprit.signature().to_string()
        });
        format!("{culprit}-{:016x}", saved.structure_fingerprint())
    }

    /// The graph a saved case holds: the shrunk one, or the graph as found.
    pub fn saved_graph(&self) -> &Graph {
        self.shrunk
            .as_ref()
            .map_or(&self.graph, |shrunk| &shrunk.graph)
    }

    /// The shrunk graph (or the graph as found, if it was not shrunk) as a regression case
    /// that records where it came from. It names the engine, or, for an engine the command
    /// line cannot name, claims the engine's gradients ([`Failure::claimed`]).
    pub fn to_case(&self, engine: &str, config: &FuzzConfig) -> Case {
        let precision = self.precision;
        let (graph, shrunk_note) = match &self.shrunk {
            Some(shrunk) if shrunk.graph.size() < self.graph.size() => (
                shrunk.graph.clone(),
                format!(
                    "; shrunk from {} to {} nodes{}{}",
                    self.graph.len(),
                    shrunk.graph.len(),
                    if shrunk.graph.len() == self.graph.len() {
                        format!(
                            ", from {} to {} scalars",
                            self.graph.size().1,
                            shrunk.graph.size().1
                        )
                    } else {
                        String::new()
                    },
                    if shrunk.budget_spent {
                        format!(
                            " (the budget of {} candidates ran out)",
                            config.shrink_candidates
                        )
                    } else {
                        String::new()
                    }
                ),
            ),
            Some(shrunk) if shrunk.budget_spent => (
                shrunk.graph.clone(),
                format!(
                    "; {} nodes, not shrunk within the budget of {} candidates",
                    shrunk.graph.len(),
                    config.shrink_candidates
                ),
            ),
            Some(shrunk) => (
                shrunk.graph.clone(),
                format!(
                    "; {} nodes, and no smaller graph fails the same way",
                    shrunk.graph.len()
                ),
            ),
            None => (self.graph.clone(), String::new()),
        };
        let short_name = match self.engine_short_name.as_str() {
            "" => engine,
            short => short,
        };
        let engine_slug: String = short_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        Case {
            name: format!("{engine_slug}-{}", self.signature(&graph)),
            description: Some(format!(
                "found by gradfuzz fuzz --engine {engine} --seed {}{}: graph {}{shrunk_note}",
                config.seed,
                generation_flags(config, self.gates),
                self.index
            )),
            engine: self.claimed.is_none().then(|| engine.to_string()),
            expect: Expect::Mismatch,
            tolerance: (config.tolerance != Tolerance::default()).then_some(config.tolerance),
            precision: (precision != Precision::F64).then_some(precision),
            graph,
            gradients: self.claimed.clone(),
        }
    }
}
