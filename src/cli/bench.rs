//! `gradfuzz bench`: the benchmark graphs, timed.

use super::args::BenchArgs;
use super::suite::case_files;
use gradfuzz::case;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(args: BenchArgs) -> Result<ExitCode, String> {
    let (graphs, mut paths) = (args.graphs, args.paths);
    if paths.is_empty() {
        paths.push(PathBuf::from("cases/bench"));
    }
    let mut cases = Vec::new();
    for file in case_files(&paths)? {
        let case = case::load(&file).map_err(|e| e.to_string())?;
        cases.push((file, case));
    }
    out!("{}", super::measure::run(&cases, graphs));
    Ok(ExitCode::SUCCESS)
}
