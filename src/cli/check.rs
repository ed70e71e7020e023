//! `gradfuzz check`: case files and folders of them, each against what it expects.

use super::flags::{Flags, Format, format, precision, timeout};
use crate::{INVALID, MISMATCH};
use gradfuzz::engine;
use gradfuzz::json;
use gradfuzz::report;
use gradfuzz::suite::{CaseOutcome, case_files, run_case};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(mut args: Flags) -> Result<ExitCode, String> {
    let engine_name = args.value("--engine")?;
    let timeout = timeout(&mut args)?;
    let precision = precision(&mut args)?;
    let format = format(&mut args)?;
    let text = format == Format::Text;
    let mut documents = Vec::new();
    let engine = match &engine_name {
        Some(name) => Some(engine::declared(
            engine::by_name_with_timeout(name, timeout).map_err(|e| format!("--engine: {e}"))?,
            precision,
        )),
        None => None,
    };
    let paths: Vec<PathBuf> = args.positional()?.into_iter().map(PathBuf::from).collect();
    if paths.is_empty() {
        return Err("check needs at least one case file or folder".into());
    }
    let files = case_files(&paths)?;
    let (mut met, mut unmet, mut invalid) = (0, 0, 0);
    for file in &files {
        match run_case(file, engine.as_deref(), timeout, precision) {
            CaseOutcome::Invalid(error) => {
                invalid += 1;
                if text {
                    println!("INVALID   {}", file.display());
                }
                eprintln!("gradfuzz: {error}");
                documents.push(json::invalid_case(
                    &file.display().to_string(),
                    &error.to_string(),
                ));
            }
            CaseOutcome::EngineFailed(_, error) => {
                invalid += 1;
                let message = format!("the engine failed: {error}");
                if text {
                    println!("ERROR     {}: {message}", file.display());
                }
                eprintln!("gradfuzz: {}: {message}", file.display());
                documents.push(json::invalid_case(&file.display().to_string(), &message));
            }
            CaseOutcome::Checked {
                case,
                engine,
                report,
                met: ok,
            } => {
                documents.push(json::checked_case(
                    &file.display().to_string(),
                    &case,
                    &engine,
                    &report,
                    ok,
                ));
                let outcome = if report.passed() { "pass" } else { "mismatch" };
                let status = if ok { "ok" } else { "UNEXPECTED" };
                if text {
                    println!(
                        "{status:<9} {} ({}: {outcome}, expected {}; {} scalars, engine {engine})",
                        file.display(),
                        case.name,
                        case.expect.name(),
                        report.scalars
                    );
                    if !report.passed() {
                        print!(
                            "{}",
                            report::failing_entries(&case.graph, &report, "          ")
                        );
                    }
                }
                if ok {
                    met += 1;
                } else {
                    unmet += 1;
                }
            }
        }
    }
    if text {
        println!(
            "{} cases: {met} as expected, {unmet} not as expected, {invalid} invalid",
            files.len()
        );
    } else {
        let document = serde_json::json!({
            "command": "check",
            "cases": documents,
            "summary": {"cases": files.len(), "as_expected": met, "not_as_expected": unmet, "invalid": invalid},
        });
        println!("{document:#}");
    }
    Ok(if invalid > 0 {
        ExitCode::from(INVALID)
    } else if unmet > 0 {
        ExitCode::from(MISMATCH)
    } else {
        ExitCode::SUCCESS
    })
}
