//! Which gates an engine computes (SPEC §7): a set of gates, and whether it computes them on
//! batches (matrix inputs and targets, a vector added to every row of a matrix, elementwise
//! gates and losses over matrices). An engine written for the four gates of §1 declares
//! [`GateSet::LECTURE`], the default, and is only ever handed graphs of those four gates on
//! vectors.

use super::GateKind;
use std::fmt;

/// A set of gates, and whether batches are among what they take.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GateSet {
    /// Bit `k` for `GateKind::ALL[k]`.
    kinds: u32,
    batches: bool,
}

impl GateSet {
    /// The four gates of SPEC §1, on vectors: what an engine declares unless it says more.
    pub const LECTURE: GateSet = GateSet {
        kinds: (1 << GateKind::Add as u32)
            | (1 << GateKind::Matvec as u32)
            | (1 << GateKind::Sigmoid as u32)
            | (1 << GateKind::Sqerr as u32),
        batches: false,
    };

    /// No gate.
    pub const EMPTY: GateSet = GateSet {
        kinds: 0,
        batches: false,
    };

    /// Every gate, on batches too.
    pub fn all() -> GateSet {
        GateSet {
            kinds: GateKind::ALL
                .iter()
                .fold(0, |bits, &kind| bits | 1 << kind as u32),
            batches: true,
        }
    }

    /// These gates, on batches or not.
    pub fn of(kinds: impl IntoIterator<Item = GateKind>, batches: bool) -> GateSet {
        GateSet {
            kinds: kinds
                .into_iter()
                .fold(0, |bits, kind| bits | 1 << kind as u32),
            batches,
        }
    }

    pub fn contains(self, kind: GateKind) -> bool {
        self.kinds & (1 << kind as u32) != 0
    }

    /// Whether the gates take batches (matrices other than `matvec`'s weight).
    pub fn batches(self) -> bool {
        self.batches
    }

    /// The same gates, on batches or not.
    pub fn with_batches(self, batches: bool) -> GateSet {
        GateSet { batches, ..self }
    }

    /// The gates in the table's order.
    pub fn kinds(self) -> impl Iterator<Item = GateKind> {
        GateKind::ALL.into_iter().filter(move |&k| self.contains(k))
    }

    /// What both sets have.
    pub fn and(self, other: GateSet) -> GateSet {
        GateSet {
            kinds: self.kinds & other.kinds,
            batches: self.batches && other.batches,
        }
    }

    /// Both sets' gates.
    pub fn or(self, other: GateSet) -> GateSet {
        GateSet {
            kinds: self.kinds | other.kinds,
            batches: self.batches || other.batches,
        }
    }

    /// Whether this set has everything `needed` has.
    pub fn covers(self, needed: GateSet) -> bool {
        self.and(needed) == needed
    }

    /// A set from a list, as `--ops` and `--gates` take it: gate names and `batch`, separated
    /// by commas, or `lecture` (the four gates of §1), or `all`.
    pub fn parse(list: &str) -> Result<GateSet, String> {
        let mut set = GateSet::EMPTY;
        for word in list.split(',').map(str::trim) {
            set = set.or(match word {
                "all" => GateSet::all(),
                "lecture" => GateSet::LECTURE,
                "batch" => GateSet::EMPTY.with_batches(true),
                name => match GateKind::by_name(name) {
                    Some(kind) => GateSet::of([kind], false),
                    None => {
                        let names: Vec<&str> = GateKind::ALL.iter().map(|k| k.name()).collect();
                        return Err(format!(
                            "unknown gate `{name}` (gates are {}; also `batch`, `lecture` and `all`)",
                            names.join(", ")
                        ));
                    }
                },
            });
        }
        if set.kinds == 0 {
            return Err("names no gate (say `lecture`, `all`, or gate names)".into());
        }
        Ok(set)
    }
}

/// The list [`GateSet::parse`] reads back: `lecture`, `all`, or the names and `batch`.
impl fmt::Display for GateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == GateSet::LECTURE {
            return f.write_str("lecture");
        }
        if *self == GateSet::all() {
            return f.write_str("all");
        }
        let mut words: Vec<&str> = self.kinds().map(|k| k.name()).collect();
        if self.batches {
            words.push("batch");
        }
        f.write_str(&words.join(","))
    }
}

impl fmt::Debug for GateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GateSet({self})")
    }
}

impl Default for GateSet {
    fn default() -> Self {
        GateSet::LECTURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_back_as_written() {
        for list in [
            "lecture",
            "all",
            "add,sigmoid",
            "add,matvec,sigmoid,sqerr,batch",
        ] {
            let set = GateSet::parse(list).expect("a list");
            assert_eq!(GateSet::parse(&set.to_string()), Ok(set), "{list}");
        }
        assert_eq!(
            GateSet::parse("add, matvec ,sigmoid,sqerr"),
            Ok(GateSet::LECTURE)
        );
        assert!(GateSet::parse("tahn").unwrap_err().contains("`tahn`"));
        assert!(GateSet::parse("batch").is_err());
        assert!(GateSet::all().covers(GateSet::LECTURE));
        assert!(!GateSet::LECTURE.covers(GateSet::LECTURE.with_batches(true)));
    }
}
