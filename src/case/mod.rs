//! Case files: a graph with its numbers in YAML, loaded with validation and saved so that it
//! reads back bit-for-bit.
//!
//! Parsing is done by `serde-saphyr` (a panic-free YAML parser with located errors, which
//! also rejects duplicate keys) into the file's raw shape (`raw.rs`); everything it cannot
//! know (references, cycles, shapes, gradients) is checked by `validate.rs`, and every
//! message names the file and the node or key. `write.rs` saves a case.

mod raw;
mod validate;
mod write;

pub use write::to_yaml;

use crate::check::Tolerance;
use crate::engine::{self, Gradients};
use crate::graph::Graph;
use raw::RawCase;
use std::fmt;
use std::path::Path;
use validate::Validator;

/// What a case expects of its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Every entry within tolerance (the default).
    Pass,
    /// At least one mismatch: the case records a bug that must stay detected.
    Mismatch,
}

impl Expect {
    pub fn name(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Mismatch => "mismatch",
        }
    }
}

/// A loaded, valid case.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub name: String,
    pub description: Option<String>,
    /// The engine named in the file, if any.
    pub engine: Option<String>,
    pub expect: Expect,
    /// The tolerance overrides written in the file, if any.
    pub tolerance: Option<Tolerance>,
    /// The precision the engine computes in, when the file says (`precision:`).
    pub precision: Option<crate::precision::Precision>,
    pub graph: Graph,
    /// Claimed gradients, checked instead of an engine's when present.
    pub gradients: Option<Gradients>,
}

impl Case {
    /// The engine to check this case with: `engine_override` (a `--engine` flag) if given,
    /// else the case's claimed `gradients:`, else its `engine:` key, else the reference;
    /// checked in `precision` (a `--precision` flag) if given, else in the case's
    /// `precision:`, else in the engine's own.
    pub fn engine_for(
        &self,
        engine_override: Option<&str>,
        timeout: std::time::Duration,
        precision: Option<crate::precision::Precision>,
    ) -> Result<Box<dyn engine::Engine>, String> {
        let engine: Box<dyn engine::Engine> =
            match (engine_override, &self.gradients, self.engine.as_deref()) {
                (Some(name), _, _) | (None, None, Some(name)) => {
                    engine::by_name_with_timeout(name, timeout)?
                }
                (None, Some(gradients), _) => Box::new(engine::Claimed(gradients.clone())),
                (None, None, None) => Box::new(engine::Reference),
            };
        Ok(engine::declared(engine, precision.or(self.precision)))
    }
}

/// Size limits for loaded cases, so that a hostile file cannot exhaust memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    pub max_bytes: usize,
    pub max_nodes: usize,
    /// The longest vector or matrix side.
    pub max_dim: usize,
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits {
            max_bytes: 64 << 20,
            max_nodes: 10_000,
            max_dim: 4_096,
        }
    }
}

/// A case file that cannot be loaded: the file, where in it, what kind of fault, and the
/// rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseError {
    pub file: String,
    /// The line (1-based), when known.
    pub line: Option<u64>,
    pub kind: CaseErrorKind,
    pub message: String,
}

/// What kind of fault a case file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaseErrorKind {
    /// The file cannot be read.
    Unreadable,
    /// Beyond a size limit ([`SizeLimits`]): bytes, nodes or a dimension.
    TooLarge,
    /// Not UTF-8 text.
    NotText,
    /// Not YAML of the case format: a syntax error, an unknown or duplicate key.
    Syntax,
    /// YAML of the case format that breaks a rule: a graph the gate semantics refuse, an
    /// unknown engine, gradients that are not the leaves'.
    Invalid,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for CaseError {}

/// Loads and validates a case file with the default size limits.
pub fn load(path: &Path) -> Result<Case, CaseError> {
    load_with_limits(path, &SizeLimits::default())
}

/// Loads and validates a case file.
pub fn load_with_limits(path: &Path, limits: &SizeLimits) -> Result<Case, CaseError> {
    let file = path.display().to_string();
    let error = |kind: CaseErrorKind, message: String| CaseError {
        file: file.clone(),
        line: None,
        kind,
        message,
    };
    let unreadable =
        |e: std::io::Error| error(CaseErrorKind::Unreadable, format!("cannot read: {e}"));
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > limits.max_bytes as u64 {
        return Err(error(
            CaseErrorKind::TooLarge,
            format!(
                "the file has {size} bytes, above the limit of {}",
                limits.max_bytes
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let stem = path
        .file_stem()
        .map_or_else(|| "case".to_string(), |s| s.to_string_lossy().into_owned());
    parse(&bytes, &file, &stem, limits)
}

/// Parses and validates case text. `file` names the source in messages; `default_name` is
/// the name when the text has no `name:` key.
pub fn parse(
    bytes: &[u8],
    file: &str,
    default_name: &str,
    limits: &SizeLimits,
) -> Result<Case, CaseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CaseError {
        file: file.to_string(),
        line: None,
        kind: CaseErrorKind::NotText,
        message: format!("not UTF-8 text: {e}"),
    })?;
    // Non-finite numbers (`.nan`, `.inf`) are read, so that a claimed gradient may be one;
    // the validator refuses them in leaves, naming the node.
    let mut options = serde_saphyr::Options::default();
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    let raw: RawCase =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| CaseError {
            file: file.to_string(),
            line: e.location().map(|l| l.line()),
            kind: CaseErrorKind::Syntax,
            // The parser's advice is addressed to programs that embed it, not to our users.
            message: e
                .to_string()
                .replace(", set DuplicateKeyPolicy in Options if acceptable", ""),
        })?;
    Validator { file, limits }.case(raw, default_name)
}
