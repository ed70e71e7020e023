//! Case files: a graph with its numbers in YAML, loaded with validation and saved so that it
//! reads back bit-for-bit.
//!
//! Parsing is done by `serde-saphyr` (a panic-free YAML parser with located errors, which
//! also rejects duplicate keys) into the file's raw shape (`raw.rs`); everything it cannot
//! know (references, cycles, shapes, gradients) is checked by `validate.rs`, and every
//! message names the file and the node or key. `write.rs` saves a case.

mod json;
mod raw;
mod validate;
mod write;

pub use json::to_json;
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
            max_bytes: 256 << 20,
            max_nodes: 10_000,
            max_dim: 4_096,
        }
    }
}

/// The environment variable that sets the byte limit of a case file (in bytes; `256M`, `1G`
/// with a suffix), for [`load`].
pub const LIMIT_VARIABLE: &str = "GRADFUZZ_MAX_CASE_BYTES";

impl SizeLimits {
    /// The default limits, with the byte limit from [`LIMIT_VARIABLE`] when it is set: an
    /// error naming the variable when it is not a size.
    pub fn configured() -> Result<SizeLimits, String> {
        let mut limits = SizeLimits::default();
        if let Some(value) = std::env::var_os(LIMIT_VARIABLE) {
            let text = value.to_string_lossy();
            limits.max_bytes = parse_bytes(&text).ok_or_else(|| {
                format!(
                    "{LIMIT_VARIABLE}={text}: not a size in bytes (as in 268435456, 512M or 2G)"
                )
            })?;
        }
        Ok(limits)
    }
}

/// `1000`, `512K`, `256M`, `2G` (powers of 1024) as bytes.
fn parse_bytes(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 10),
        (i, 'm' | 'M') => (&text[..i], 20),
        (i, 'g' | 'G') => (&text[..i], 30),
        _ => (text, 0),
    };
    let number: usize = digits.trim().parse().ok()?;
    number
        .checked_mul(1usize.checked_shl(shift)?)
        .filter(|&n| n > 0)
}

/// The YAML parser's budget, which follows the byte limit: at most one YAML node per two
/// bytes (a number and its comma), so that the byte limit is the one limit people meet.
fn parser_budget(limits: &SizeLimits) -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = (limits.max_bytes / 2).max(1024);
    budget.max_events = limits.max_bytes.max(1024);
    budget.max_total_scalar_bytes = limits.max_bytes;
    budget
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

/// Loads and validates a case file with the default size limits (the byte limit as
/// [`LIMIT_VARIABLE`] sets it).
pub fn load(path: &Path) -> Result<Case, CaseError> {
    let limits = SizeLimits::configured().map_err(|message| CaseError {
        file: path.display().to_string(),
        line: None,
        kind: CaseErrorKind::TooLarge,
        message,
    })?;
    load_with_limits(path, &limits)
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
                "the file has {size} bytes, above the limit of {} ({LIMIT_VARIABLE} raises it)",
                limits.max_bytes
            ),
        ));
    }
    let stem = path
        .file_stem()
        .map_or_else(|| "case".to_string(), |s| s.to_string_lossy().into_owned());
    match CaseFormat::of(path) {
        CaseFormat::Json => {
            // Read as a stream: a big case is never in memory twice, as text and as numbers.
            let file_handle = std::fs::File::open(path).map_err(unreadable)?;
            let reader = std::io::BufReader::with_capacity(1 << 16, file_handle);
            validated_json(serde_json::from_reader(reader), &file, &stem, limits)
        }
        CaseFormat::Yaml => {
            let bytes = std::fs::read(path).map_err(unreadable)?;
            parse(&bytes, &file, &stem, limits)
        }
    }
}

/// The two spellings of the case format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseFormat {
    Yaml,
    Json,
}

impl CaseFormat {
    /// JSON for a file named `*.json`, YAML for every other.
    pub fn of(path: &Path) -> CaseFormat {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("json") => CaseFormat::Json,
            _ => CaseFormat::Yaml,
        }
    }

    /// The file name extension it is saved with.
    pub fn extension(self) -> &'static str {
        match self {
            CaseFormat::Yaml => "yaml",
            CaseFormat::Json => "json",
        }
    }

    /// The case written in this format.
    pub fn write(self, case: &Case) -> String {
        match self {
            CaseFormat::Yaml => to_yaml(case),
            CaseFormat::Json => to_json(case),
        }
    }
}

/// Parses and validates a case in the JSON form (`json.rs`). `file` names the source in
/// messages; `default_name` is the name when the text has no `name` key.
pub fn parse_json(
    bytes: &[u8],
    file: &str,
    default_name: &str,
    limits: &SizeLimits,
) -> Result<Case, CaseError> {
    if bytes.len() > limits.max_bytes {
        return Err(CaseError {
            file: file.to_string(),
            line: None,
            kind: CaseErrorKind::TooLarge,
            message: format!(
                "the text has {} bytes, above the limit of {} ({LIMIT_VARIABLE} raises it)",
                bytes.len(),
                limits.max_bytes
            ),
        });
    }
    validated_json(serde_json::from_slice(bytes), file, default_name, limits)
}

/// What the JSON reader made of a file, validated.
fn validated_json(
    raw: Result<RawCase, serde_json::Error>,
    file: &str,
    default_name: &str,
    limits: &SizeLimits,
) -> Result<Case, CaseError> {
    let raw = raw.map_err(|e| json_error(e, file))?;
    Validator { file, limits }.case(raw, default_name)
}

/// A JSON reader's error as a case error, with its line.
fn json_error(error: serde_json::Error, file: &str) -> CaseError {
    use serde_json::error::Category;
    let kind = match error.classify() {
        Category::Io => CaseErrorKind::Unreadable,
        // Invalid UTF-8 is a syntax error to serde_json; say it as YAML's path does.
        Category::Syntax if error.to_string().contains("invalid unicode") => CaseErrorKind::NotText,
        Category::Syntax | Category::Data | Category::Eof => CaseErrorKind::Syntax,
    };
    let line = Some(error.line() as u64).filter(|&line| line > 0);
    // serde_json appends " at line L column C"; the line is said once, before the message.
    let message = error.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => format!("{} (column {})", &message[..at], error.column()),
        None => message,
    };
    CaseError {
        file: file.to_string(),
        line,
        kind,
        message,
    }
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
    options.budget = Some(parser_budget(limits));
    let raw: RawCase = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let message = e.to_string();
        if message.contains("budget breached") {
            // The parser's own count of YAML nodes and events, which follows the byte limit:
            // a file within that limit only breaches it by being mostly punctuation.
            return CaseError {
                file: file.to_string(),
                line: None,
                kind: CaseErrorKind::TooLarge,
                message: format!(
                    "too many numbers and keys for the size limit of {} bytes (the YAML parser \
                     allows one per two bytes of the limit; {LIMIT_VARIABLE} raises it)",
                    limits.max_bytes
                ),
            };
        }
        CaseError {
            file: file.to_string(),
            line: e.location().map(|l| l.line()),
            kind: CaseErrorKind::Syntax,
            // The parser's advice is addressed to programs that embed it, not to our users.
            message: message.replace(", set DuplicateKeyPolicy in Options if acceptable", ""),
        }
    })?;
    Validator { file, limits }.case(raw, default_name)
}
