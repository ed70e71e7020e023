//! Merging the `--save` folders of several runs (shards, machines, nightly jobs) into one
//! folder of cases, each bug once.
//!
//! A saved failure is named by its engine, its blame's signature and the fingerprint of its
//! shrunk graph's structure (`Failure::signature`), so the same bug found by two runs has
//! one name. Merging is then by name: a case whose name (its `name:`, or its file stem) is
//! already in the destination is known; one that an earlier source already brought is a
//! duplicate; the rest are new. Every file is loaded first, so a broken file stops the
//! merge before anything is written.

use super::suite::case_files;
use gradfuzz::case::{self, CaseError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What merging does with one source file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Copied to `to`.
    New { from: PathBuf, to: PathBuf },
    /// The destination already holds a case of this name.
    Known { from: PathBuf, name: String },
    /// An earlier source file (`first`) brought a case of this name.
    Duplicate { from: PathBuf, first: PathBuf },
}

/// Why a merge cannot be planned.
#[derive(Debug)]
pub enum MergeError {
    /// A source or destination path cannot be read.
    Read(String),
    /// A file is not a valid case.
    Invalid(CaseError),
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::Read(message) => write!(f, "{message}"),
            MergeError::Invalid(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for MergeError {}

/// The plan for merging the case files under `sources` (files or folders, in the order
/// given; each folder's files in name order) into `destination` (which need not exist yet).
/// Nothing is written: [`apply`] does that.
pub fn plan(sources: &[PathBuf], destination: &Path) -> Result<Vec<Merge>, MergeError> {
    let mut known = BTreeSet::new();
    if destination.exists() {
        for file in case_files(&[destination.to_path_buf()]).map_err(MergeError::Read)? {
            let case = case::load(&file).map_err(MergeError::Invalid)?;
            known.insert(file_stem_for(&case.name));
            if let Some(stem) = file.file_stem() {
                known.insert(stem.to_string_lossy().into_owned());
            }
        }
    }
    let mut brought: Vec<(String, PathBuf)> = Vec::new();
    let mut plan = Vec::new();
    for from in case_files(sources).map_err(MergeError::Read)? {
        let name = case::load(&from).map_err(MergeError::Invalid)?.name;
        // Names are compared as the file names they are written to, so that a new file never
        // lands on an existing one.
        let stem = file_stem_for(&name);
        let step = if known.contains(&stem) {
            Merge::Known { from, name }
        } else if let Some((_, first)) = brought.iter().find(|(seen, _)| *seen == stem) {
            Merge::Duplicate {
                from,
                first: first.clone(),
            }
        } else {
            let to = destination.join(format!(
                "{stem}.{}",
                case::CaseFormat::of(&from).extension()
            ));
            brought.push((stem, from.clone()));
            Merge::New { from, to }
        };
        plan.push(step);
    }
    Ok(plan)
}

/// Copies every new case of `plan` into place (creating the destination folder).
pub fn apply(plan: &[Merge], destination: &Path) -> Result<(), MergeError> {
    if !plan.iter().any(|step| matches!(step, Merge::New { .. })) {
        return Ok(());
    }
    std::fs::create_dir_all(destination)
        .map_err(|e| MergeError::Read(format!("{}: cannot create: {e}", destination.display())))?;
    for step in plan {
        if let Merge::New { from, to } = step {
            std::fs::copy(from, to).map_err(|e| {
                MergeError::Read(format!(
                    "cannot copy {} to {}: {e}",
                    from.display(),
                    to.display()
                ))
            })?;
        }
    }
    Ok(())
}

/// A case name as a file name: anything but letters, digits, `-`, `_` and `.` becomes `-`
/// (a name never reaches outside the destination folder).
fn file_stem_for(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    match stem.trim_matches('.') {
        "" => "case".to_string(),
        trimmed => trimmed.to_string(),
    }
}
