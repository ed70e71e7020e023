//! `gradfuzz bench`: the benchmark graphs, timed.

use super::flags::Flags;
use gradfuzz::case;
use gradfuzz::suite::case_files;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(mut args: Flags) -> Result<ExitCode, String> {
    let graphs = args.number("--graphs")?.unwrap_or(100_000);
    let mut paths: Vec<PathBuf> = args.positional()?.into_iter().map(PathBuf::from).collect();
    if paths.is_empty() {
        paths.push(PathBuf::from("cases/bench"));
    }
    let mut cases = Vec::new();
    for file in case_files(&paths)? {
        cases.push(case::load(&file).map_err(|e| e.to_string())?);
    }
    print!("{}", gradfuzz::bench::run(&cases, graphs));
    Ok(ExitCode::SUCCESS)
}
