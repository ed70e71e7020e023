//! Flags: a minimal parser, and the flags several commands share.

use gradfuzz::check::Tolerance;
use gradfuzz::fuzz::Shard;
use gradfuzz::generate::ValueMode;
use gradfuzz::precision::Precision;
use gradfuzz::recipe::Limits;
use std::time::Duration;

/// A minimal flag parser: `--name value` or `--name=value`; everything else positional.
pub struct Flags {
    args: Vec<String>,
}

impl Flags {
    pub fn new(args: Vec<String>) -> Self {
        Flags { args }
    }

    pub fn command(&mut self) -> Option<String> {
        (!self.args.is_empty()).then(|| self.args.remove(0))
    }

    /// The value of `--name`, removing it from the arguments.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let prefix = format!("{name}=");
        let Some(at) = self
            .args
            .iter()
            .position(|a| a == name || a.starts_with(&prefix))
        else {
            return Ok(None);
        };
        let arg = self.args.remove(at);
        let value = if let Some(value) = arg.strip_prefix(&prefix) {
            value.to_string()
        } else if at < self.args.len() {
            self.args.remove(at)
        } else {
            return Err(format!("{name} needs a value"));
        };
        if self
            .args
            .iter()
            .any(|a| a == name || a.starts_with(&prefix))
        {
            return Err(format!("{name} is given twice"));
        }
        Ok(Some(value))
    }

    /// Whether the bare flag `--name` is given, removing it from the arguments.
    pub fn switch(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|a| a != name);
        self.args.len() != before
    }

    pub fn number(&mut self, name: &str) -> Result<Option<u64>, String> {
        self.value(name)?
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{name} takes a whole number, not `{v}`"))
            })
            .transpose()
    }

    pub fn seconds(&mut self, name: &str) -> Result<Option<Duration>, String> {
        self.value(name)?
            .map(|v| match v.parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
                _ => Err(format!(
                    "{name} takes a positive number of seconds, not `{v}`"
                )),
            })
            .transpose()
    }

    /// The remaining arguments, all positional; an unknown flag is an error.
    pub fn positional(&mut self) -> Result<Vec<String>, String> {
        if let Some(flag) = self.args.iter().find(|a| a.starts_with("--")) {
            return Err(format!("unknown flag `{flag}`"));
        }
        Ok(std::mem::take(&mut self.args))
    }

    /// Errors on anything left over.
    pub fn finish(self) -> Result<(), String> {
        match self.args.first() {
            None => Ok(()),
            Some(arg) if arg.starts_with('-') => Err(format!("unknown flag `{arg}`")),
            Some(arg) => Err(format!("unexpected argument `{arg}`")),
        }
    }
}

pub fn limits(args: &mut Flags) -> Result<Limits, String> {
    let defaults = Limits::default();
    let limits = Limits {
        max_nodes: args
            .number("--max-nodes")?
            .unwrap_or(defaults.max_nodes as u64) as usize,
        max_dim: args.number("--max-dim")?.unwrap_or(defaults.max_dim as u64) as usize,
    };
    if limits.max_nodes < 3 || limits.max_nodes > 10_000 {
        return Err(
            "--max-nodes must be between 3 and 10000 (an input, a target and a loss at least)"
                .into(),
        );
    }
    if limits.max_dim < 1 || limits.max_dim > 1024 {
        return Err("--max-dim must be between 1 and 1024".into());
    }
    Ok(limits)
}

pub fn tolerance(args: &mut Flags, defaults: Tolerance) -> Result<Tolerance, String> {
    let mut part = |name: &str, default: f64| match args.value(name)? {
        None => Ok(default),
        Some(v) => match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
            _ => Err(format!(
                "{name} takes a finite, non-negative number, not `{v}`"
            )),
        },
    };
    Ok(Tolerance {
        rtol: part("--rtol", defaults.rtol)?,
        atol: part("--atol", defaults.atol)?,
    })
}

/// `--format text|json`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub fn format(args: &mut Flags) -> Result<Format, String> {
    match args.value("--format")?.as_deref() {
        None | Some("text") => Ok(Format::Text),
        Some("json") => Ok(Format::Json),
        Some(other) => Err(format!("--format takes text or json, not `{other}`")),
    }
}

/// `--shard K/N`: the K-th of N disjoint slices of the seed's graphs (K from 1).
pub fn shard(args: &mut Flags) -> Result<Shard, String> {
    let Some(text) = args.value("--shard")? else {
        return Ok(Shard::WHOLE);
    };
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
    match parsed {
        Some((k, n)) if (1..=n).contains(&k) => Ok(Shard {
            index: k - 1,
            count: n,
        }),
        _ => Err(format!(
            "--shard takes K/N with 1 <= K <= N, as in 2/8, not `{text}`"
        )),
    }
}

pub fn timeout(args: &mut Flags) -> Result<Duration, String> {
    Ok(args
        .seconds("--timeout")?
        .unwrap_or(gradfuzz::engine::exec::DEFAULT_TIMEOUT))
}

/// `--precision P`: the precision the engine computes in, when the flag is given.
pub fn precision(args: &mut Flags) -> Result<Option<Precision>, String> {
    args.value("--precision")?
        .map(|name| name.parse().map_err(|e| format!("--precision: {e}")))
        .transpose()
}

/// `--shrink-candidates N`: candidate graphs checked at most while shrinking a failure.
pub fn shrink_candidates(args: &mut Flags) -> Result<usize, String> {
    match args.number("--shrink-candidates")? {
        None => Ok(gradfuzz::shrink::MAX_CANDIDATES),
        Some(0) => Err("--shrink-candidates must be at least 1".into()),
        Some(n) => Ok(n as usize),
    }
}

pub fn values(args: &mut Flags) -> Result<ValueMode, String> {
    match args.value("--values")? {
        None => Ok(ValueMode::Normal),
        Some(name) => ValueMode::by_name(&name)
            .ok_or_else(|| format!("--values takes normal, wide or extreme, not `{name}`")),
    }
}
