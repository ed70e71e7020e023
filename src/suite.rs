//! Running case files: collecting them from paths, checking each, comparing with `expect`.

use crate::case::{self, Case, CaseError, CaseErrorKind, Expect};
use crate::check::{Report, check};
use crate::engine::{self, Claimed, Engine, EngineError};
use crate::precision::Precision;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The case files named by `paths`: files as given, folders searched recursively for
/// `*.yaml` and `*.yml`, each folder's files in name order.
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
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
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
    EngineFailed(Box<Case>, EngineError),
    /// The check ran; `met` says whether it ended as the case expects.
    Checked {
        case: Box<Case>,
        engine: String,
        report: Report,
        met: bool,
    },
}

/// The engine for a case: `engine_override` (the `--engine` flag) if given, else the case's
/// claimed `gradients:`, else its `engine:` key, else the reference; checked in
/// `precision` (the `--precision` flag) if given, else in the case's `precision:`, else in
/// the engine's own.
pub fn engine_for(
    case: &Case,
    engine_override: Option<&str>,
    timeout: Duration,
    precision: Option<Precision>,
) -> Result<Box<dyn Engine>, String> {
    let engine: Box<dyn Engine> = match (engine_override, &case.gradients, case.engine.as_deref()) {
        (Some(name), _, _) | (None, None, Some(name)) => {
            engine::by_name_with_timeout(name, timeout)?
        }
        (None, Some(gradients), _) => Box::new(Claimed(gradients.clone())),
        (None, None, None) => Box::new(engine::Reference),
    };
    Ok(engine::declared(engine, precision.or(case.precision)))
}

/// Loads and checks one case: with `engine_override` (the `--engine` flag's engine, shared
/// by every case of a run, already in the `--precision` given) when given, else with the
/// engine [`engine_for`] picks; `precision` is the `--precision` flag.
pub fn run_case(
    path: &Path,
    engine_override: Option<&dyn Engine>,
    timeout: Duration,
    precision: Option<Precision>,
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
        None => match engine_for(&case, None, timeout, precision) {
            Ok(engine) => {
                own_engine = engine;
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
        Err(error) => CaseOutcome::EngineFailed(Box::new(case), error),
    }
}
