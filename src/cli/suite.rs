//! Running case files: collecting them from paths, checking each, comparing with `expect`.

use gradfuzz::case::{self, Case, CaseError, CaseErrorKind, Expect};
use gradfuzz::check::{Report, check};
use gradfuzz::engine::{self, Engine, EngineError};
use gradfuzz::op::GateSet;
use gradfuzz::precision::Precision;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The case files named by `paths`: files as given, folders searched recursively for
/// `*.yaml`, `*.yml` and `*.json`, each folder's files in name order.
pub fn case_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let metadata =
            std::fs::metadata(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        if metadata.is_dir() {
            collect(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect(folder: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let read = |e: std::io::Error| format!("{}: cannot read: {e}", folder.display());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(read)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, files)?;
        } else if entry
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml" || ext == "json")
        {
            files.push(entry);
        }
    }
    Ok(())
}

/// What checking one case file gave.
#[derive(Debug)]
pub enum CaseOutcome {
    /// The file is not a valid case.
    Invalid(CaseError),
    /// The engine could not produce gradients.
    EngineFailed(EngineError),
    /// The check ran; `met` says whether it ended as the case expects.
    Checked {
        case: Box<Case>,
        engine: String,
        report: Report,
        met: bool,
    },
}

/// Loads and checks one case: with `engine_override` (the `--engine` flag's engine, shared
/// by every case of a run, already in the `--precision` given) when given, else with the
/// engine [`Case::engine_for`] picks; `precision` and `gates` are the `--precision` and
/// `--gates` flags.
pub fn run_case(
    path: &Path,
    engine_override: Option<&dyn Engine>,
    timeout: Duration,
    precision: Option<Precision>,
    gates: Option<GateSet>,
) -> CaseOutcome {
    let case = match case::load(path) {
        Ok(case) => case,
        Err(error) => return CaseOutcome::Invalid(error),
    };
    let own_engine;
    let in_case_precision;
    let engine: &dyn Engine = match engine_override {
        Some(engine) => match case
            .precision
            .filter(|p| precision.is_none() && *p != engine.precision())
        {
            Some(precision) => {
                in_case_precision = engine::WithPrecision { engine, precision };
                &in_case_precision
            }
            None => engine,
        },
        None => match case.engine_for(None, timeout, precision) {
            Ok(engine) => {
                own_engine = engine::declared_gates(engine, gates);
                own_engine.as_ref()
            }
            Err(message) => {
                return CaseOutcome::Invalid(CaseError {
                    file: path.display().to_string(),
                    line: None,
                    kind: CaseErrorKind::Invalid,
                    message,
                });
            }
        },
    };
    let tolerance = case.tolerance.unwrap_or_default();
    match check(engine, &case.graph, &tolerance) {
        Ok(report) => {
            let met = report.passed() == (case.expect == Expect::Pass);
            CaseOutcome::Checked {
                engine: engine.name(),
                case: Box::new(case),
                report,
                met,
            }
        }
        Err(error) => CaseOutcome::EngineFailed(error),
    }
}
