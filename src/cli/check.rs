//! `gradfuzz check`: case files and folders of them, each against what it expects.

use super::args::{CheckArgs, ReportFormat};
use super::json;
use super::junit;
use super::suite::{CaseOutcome, case_files, run_case};
use crate::{INVALID, MISMATCH};
use gradfuzz::engine;
use gradfuzz::report;
use std::process::ExitCode;

pub fn run(args: CheckArgs) -> Result<ExitCode, String> {
    let talk = &args.engine.talk;
    let (timeout, precision, gates) = (talk.timeout, talk.precision, talk.gates);
    let format = args.format.format;
    let text = format == ReportFormat::Text;
    let mut documents = Vec::new();
    let mut tests = Vec::new();
    let engine = match &args.engine.engine {
        Some(name) => Some(talk.declare(
            engine::by_name_with_timeout(name, timeout).map_err(|e| format!("--engine: {e}"))?,
        )),
        None => None,
    };
    let files = case_files(&args.paths)?;
    let (mut met, mut unmet, mut invalid) = (0, 0, 0);
    for file in &files {
        match run_case(file, engine.as_deref(), timeout, precision, gates) {
            CaseOutcome::Invalid(error) => {
                invalid += 1;
                if text {
                    outln!("INVALID   {}", file.display());
                }
                eprintln!("gradfuzz: {error}");
                let file = file.display().to_string();
                documents.push(json::invalid_case(&file, &error.to_string()));
                tests.push(junit::invalid_case(&file, &error.to_string()));
            }
            CaseOutcome::EngineFailed(error) => {
                invalid += 1;
                let message = format!("the engine failed: {error}");
                if text {
                    outln!("ERROR     {}: {message}", file.display());
                }
                eprintln!("gradfuzz: {}: {message}", file.display());
                let file = file.display().to_string();
                documents.push(json::invalid_case(&file, &message));
                tests.push(junit::invalid_case(&file, &message));
            }
            CaseOutcome::Checked {
                case,
                engine,
                report,
                met: ok,
            } => {
                let name = file.display().to_string();
                documents.push(json::checked_case(&name, &case, &engine, &report, ok));
                tests.push(junit::checked_case(&name, &case, &engine, &report, ok));
                let outcome = if report.passed() { "pass" } else { "mismatch" };
                let status = if ok { "ok" } else { "UNEXPECTED" };
                if text {
                    outln!(
                        "{status:<9} {} ({}: {outcome}, expected {}; {} scalars, engine {engine})",
                        file.display(),
                        case.name,
                        case.expect.name(),
                        report.scalars
                    );
                    if !report.passed() {
                        out!(
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
    let summary = format!(
        "{} cases: {met} as expected, {unmet} not as expected, {invalid} invalid",
        files.len()
    );
    match format {
        ReportFormat::Text => outln!("{summary}"),
        ReportFormat::Json => outln!(
            "{:#}",
            json::check(documents, files.len(), met, unmet, invalid)
        ),
        ReportFormat::Junit => out!(
            "{}",
            junit::document("gradfuzz check", &tests, &format!("{summary}\n"))
        ),
    }
    Ok(if invalid > 0 {
        ExitCode::from(INVALID)
    } else if unmet > 0 {
        ExitCode::from(MISMATCH)
    } else {
        ExitCode::SUCCESS
    })
}
