//! The README's mutant table: for every mutant, over seeds 1..=10 with 1000 graphs each, in
//! how many seeds it was caught, the median number of graphs until the first detection, and
//! the size and blame of the shrunk case from the first seed that caught it.
//!
//! `cargo run --release --example mutant_table` prints the table;
//! `cargo run --release --example mutant_table -- --write` also rewrites `cases/mutants/`;
//! `cargo run --release --example mutant_table -- --scale` prints the `mutant:scale=DELTA`
//! table instead: DELTA from 1e-3 to 1e-16 against the median graphs until detection.

use gradfuzz::case;
use gradfuzz::engine::{self, mutant::CATALOGUE};
use gradfuzz::fuzz::{Budget, FuzzConfig, diagnose, fuzz};

/// Graphs each seed may take for `--scale`.
const SCALE_BUDGET: u64 = 10_000;

fn scale_table() {
    println!("| DELTA | seeds caught (of 10) | median graphs until first detection |");
    println!("|---|---|---|");
    for exponent in 3..=16 {
        let engine =
            engine::by_name(&format!("mutant:scale=1e-{exponent}")).expect("a valid delta");
        let mut first: Vec<u64> = (1..=10)
            .filter_map(|seed| {
                let config = FuzzConfig {
                    seed,
                    budget: Budget::Graphs(SCALE_BUDGET),
                    keep_failures: 1,
                    jobs: 2,
                    ..FuzzConfig::default()
                };
                fuzz(engine.as_ref(), &config)
                    .failures
                    .first()
                    .map(|f| f.index + 1)
            })
            .collect();
        first.sort_unstable();
        // Seeds that never caught it count as beyond the budget for the median.
        let caught = first.len();
        let mut all: Vec<Option<u64>> = first.into_iter().map(Some).collect();
        all.resize(10, None);
        let median = match (all[4], all[5]) {
            (Some(a), Some(b)) => format!("{}", (a + b) as f64 / 2.0),
            _ => format!("> {SCALE_BUDGET}"),
        };
        println!("| 1e-{exponent} | {caught} | {median} |");
    }
}

fn main() {
    if std::env::args().any(|a| a == "--scale") {
        return scale_table();
    }
    let write = std::env::args().any(|a| a == "--write");
    println!(
        "| mutant | seeds caught (of 10) | median graphs until first detection | shrunk nodes | shrunk largest dim | blame |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, _, _) in CATALOGUE {
        let engine = engine::by_name(&format!("mutant:{name}")).expect("a catalogued mutant");
        let mut first_detections = Vec::new();
        let mut shrunk_case = None;
        for seed in 1..=10 {
            let config = FuzzConfig {
                seed,
                budget: Budget::Graphs(1000),
                keep_failures: 1,
                jobs: 2,
                ..FuzzConfig::default()
            };
            let mut summary = fuzz(engine.as_ref(), &config);
            let Some(first) = summary.failures.first() else {
                continue;
            };
            first_detections.push(first.index + 1);
            if shrunk_case.is_none() {
                diagnose(engine.as_ref(), &config, &mut summary);
                let failure = &summary.failures[0];
                let mut case = failure.to_case(&engine.name(), &config);
                case.name = format!("mutant-{name}");
                let shrunk = failure
                    .shrunk
                    .as_ref()
                    .expect("a failure that fails shrinks");
                shrunk_case = Some((case, shrunk.blame.culprit.clone()));
            }
        }
        first_detections.sort_unstable();
        let median = match first_detections.len() {
            0 => "–".to_string(),
            n if n % 2 == 1 => first_detections[n / 2].to_string(),
            n => format!(
                "{}",
                (first_detections[n / 2 - 1] + first_detections[n / 2]) as f64 / 2.0
            ),
        };
        let (nodes, dim, blame) = match &shrunk_case {
            Some((case, culprit)) => (
                case.graph.len().to_string(),
                case.graph.largest_dim().to_string(),
                culprit.signature().to_string(),
            ),
            None => ("–".into(), "–".into(), "not detected".into()),
        };
        println!(
            "| `{name}` | {} | {median} | {nodes} | {dim} | {blame} |",
            first_detections.len()
        );
        if let (true, Some((case, _))) = (write, &shrunk_case) {
            let path = format!("{}/cases/mutants/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
            std::fs::write(&path, case::to_yaml(case)).expect("write the mutant case");
        }
    }
}
