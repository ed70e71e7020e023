//! `gradfuzz bench`: timings of the full and fast checks on the graphs under `cases/bench/`,
//! against the naive per-entry loop (two full forward passes per entry) measured in the same
//! run, and fuzzing throughput with one and two worker threads. These machines are shared
//! and noisy: compare the ratios measured in one run, not absolute figures across runs.

use gradfuzz::case::Case;
use gradfuzz::check::fast::{DIRECTIONS, fast_check};
use gradfuzz::check::{Tolerance, check};
use gradfuzz::engine::Reference;
use gradfuzz::fuzz::{Budget, FuzzConfig, fuzz};
use gradfuzz::gate::{Value, forward_in};
use gradfuzz::graph::{Graph, NodeId, Operation, Values};
use gradfuzz::oracle::RELATIVE_STEP;
use gradfuzz::precision::Precision;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The median of `runs` timings of `work` (after one warm-up run).
fn median(runs: usize, mut work: impl FnMut()) -> Duration {
    work();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// How many timed runs fit a budget of about a second, between 3 and 101.
fn runs_for(one: Duration) -> usize {
    let fit = (1.0 / one.as_secs_f64().max(1e-9)) as usize;
    (fit | 1).clamp(3, 101)
}

/// The naive check's numeric gradient: for every entry, two full forward passes of a copy of
/// the values, and a plain central difference.
fn naive_gradients(graph: &Graph) -> Vec<f64> {
    let base = graph.forward();
    let mut numeric = Vec::new();
    for leaf in graph.differentiable_leaves() {
        for entry in 0..base[leaf.0].len() {
            let theta = base[leaf.0].entry(entry);
            let h = RELATIVE_STEP * theta.abs().max(1.0);
            let loss_at = |x: f64| {
                let mut values: Vec<Value> = Vec::with_capacity(graph.len());
                for id in graph.ids() {
                    let value = match graph.operation(id) {
                        Operation::Leaf(_, v) if id == leaf => {
                            let mut v = v.clone();
                            *v.entry_mut(entry) = x;
                            v
                        }
                        gate => forward_in(gate, Precision::F64, |n: NodeId| &values[n.0]),
                    };
                    values.push(value);
                }
                graph.loss(&Values::from(values))
            };
            numeric.push((loss_at(theta + h) - loss_at(theta - h)) / (2.0 * h));
        }
    }
    numeric
}

/// Runs the benchmark and returns its report.
pub fn run(cases: &[(PathBuf, Case)], fuzz_graphs: u64) -> String {
    let mut out = load_table(cases);
    let tolerance = Tolerance::default();
    let _ = writeln!(
        out,
        "| graph | checked scalars | full check | fast check ({DIRECTIONS} directions) | naive loop | naive / full |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (_, case) in cases {
        let graph = &case.graph;
        let full_once = {
            let start = Instant::now();
            let report = check(&Reference, graph, &tolerance).expect("the reference never errs");
            assert!(report.passed(), "the reference fails {}", case.name);
            start.elapsed()
        };
        let full = median(runs_for(full_once), || {
            check(&Reference, graph, &tolerance).expect("never errs");
        });
        let fast = median(101, || {
            fast_check(&Reference, graph, &tolerance, DIRECTIONS, 0).expect("never errs");
        });
        let scalars: usize = graph
            .differentiable_leaves()
            .map(|l| graph.shape_len(l))
            .sum();
        // The naive loop takes two forward passes per entry: on a batch of 64 through 256-wide
        // layers that is minutes, so it is estimated from one pass and left out past 10 s.
        let forward = median(5, || {
            graph.forward();
        });
        let estimate = 2.0 * scalars as f64 * forward.as_secs_f64();
        let (naive, ratio) = if estimate > 10.0 {
            (
                format!("≈ {estimate:.0} s, not run"),
                format!("≈ {:.0}×", estimate / full.as_secs_f64()),
            )
        } else {
            let naive_once = {
                let start = Instant::now();
                naive_gradients(graph);
                start.elapsed()
            };
            let naive = median(runs_for(naive_once).min(5), || {
                naive_gradients(graph);
            });
            (
                show(naive),
                format!("{:.0}×", naive.as_secs_f64() / full.as_secs_f64()),
            )
        };
        let _ = writeln!(
            out,
            "| {} | {scalars} | {} | {} | {naive} | {ratio} |",
            case.name,
            show(full),
            show(fast),
        );
    }
    let _ = writeln!(
        out,
        "\n| fuzzing ({fuzz_graphs} graphs, default settings) | graphs/s | scalars/s |"
    );
    let _ = writeln!(out, "|---|---|---|");
    for jobs in [1, 2] {
        let config = FuzzConfig {
            seed: 1,
            budget: Budget::Graphs(fuzz_graphs),
            jobs,
            ..FuzzConfig::default()
        };
        let summary = fuzz(&Reference, &config);
        let seconds = summary.elapsed.as_secs_f64();
        let _ = writeln!(
            out,
            "| --jobs {jobs} | {:.0} | {:.0} |",
            summary.graphs as f64 / seconds,
            summary.scalars as f64 / seconds
        );
    }
    out
}

/// Loading each case file (read, parse, validate) in-process, and `gradfuzz check FILE` as
/// a whole process (start-up, loading, the check, the report), so that a regression in
/// either shows beside the check's own figures; then the same for the case written as JSON
/// (to a temporary file), the form for big cases.
fn load_table(cases: &[(PathBuf, Case)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| case file | YAML bytes | load | MB/s | whole process `gradfuzz check FILE` | JSON bytes | load | MB/s | whole process |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for (file, case) in cases {
        let yaml = load_row(file);
        let stem = file
            .file_stem()
            .map_or_else(|| "case".into(), |s| s.to_string_lossy());
        let json_file =
            std::env::temp_dir().join(format!("gradfuzz-bench-{}-{stem}.json", std::process::id()));
        let json = match std::fs::write(&json_file, gradfuzz::case::to_json(case)) {
            Ok(()) => load_row(&json_file),
            Err(e) => format!("(cannot write {}: {e}) | | |", json_file.display()),
        };
        let _ = std::fs::remove_file(&json_file);
        let _ = writeln!(out, "| {} | {yaml} | {json} |", file.display());
    }
    out.push('\n');
    out
}

/// A file's bytes, load time, load speed and whole-process check, as table cells.
fn load_row(file: &std::path::Path) -> String {
    let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
    let load = median(5, || {
        let _ = gradfuzz::case::load(file);
    });
    let whole = match std::env::current_exe() {
        Ok(binary) => {
            let once = || {
                let _ = std::process::Command::new(&binary)
                    .arg("check")
                    .arg(file)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            };
            show(median(5, once))
        }
        Err(_) => "(the binary cannot be found)".into(),
    };
    format!(
        "{bytes} | {} | {:.0} | {whole}",
        show(load),
        bytes as f64 / 1e6 / load.as_secs_f64()
    )
}

fn show(time: Duration) -> String {
    let seconds = time.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}
