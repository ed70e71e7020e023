//! Helpers shared by the integration tests: running the binary, scratch folders.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `gradfuzz` binary with `args`.
pub fn gradfuzz(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the gradfuzz binary runs")
}

/// Runs the `gradfuzz` binary with `args` and these environment variables set.
pub fn binary_with_env(args: &[&str], variables: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(args)
        .envs(variables.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the gradfuzz binary runs")
}

/// The `gradfuzz` binary, which is built with the `cli` feature (a default one): without it
/// the tests that run it fail, saying so, while the rest still build.
pub fn binary() -> &'static str {
    match option_env!("CARGO_BIN_EXE_gradfuzz") {
        Some(path) => path,
        None => {
            panic!("the gradfuzz binary is built only with the `cli` feature (a default feature)")
        }
    }
}

/// The exit code, stdout and stderr of a run.
pub fn outcome(output: &Output) -> (i32, String, String) {
    (
        output
            .status
            .code()
            .expect("exited, not killed by a signal"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every case file checked in under `cases/` (`*.yaml`), each folder's in name order.
pub fn checked_in_cases() -> Vec<PathBuf> {
    fn collect(folder: &std::path::Path, files: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
            .expect("readable")
            .map(|entry| entry.expect("an entry").path())
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                collect(&entry, files);
            } else if entry.extension().is_some_and(|ext| ext == "yaml") {
                files.push(entry);
            }
        }
    }
    let mut files = Vec::new();
    collect(
        &PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/cases")),
        &mut files,
    );
    files
}

/// A fresh, empty scratch folder for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradfuzz-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

/// The file names `--save` gives in a folder, sorted.
pub fn saved_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("saved cases")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
