//! JUnit XML, the report format CI systems show per test: one test case per case file
//! (`gradfuzz check`) or per failing graph (`gradfuzz fuzz`), the text report of each in its
//! failure. No timings, so that the same seed and flags write the same document.

use gradfuzz::case::Case;
use gradfuzz::check::Report;
use gradfuzz::fuzz::{FuzzConfig, FuzzSummary};
use gradfuzz::report;
use std::fmt::Write;

/// How one test case ended.
pub enum Outcome {
    Passed,
    /// Checked, and not as expected: `message` in one line, `details` the text report.
    Failed {
        message: String,
        details: String,
    },
    /// Not checked: an invalid case file or an engine that failed.
    Error {
        message: String,
    },
}

/// One test case: `classname` groups cases in a CI system's view, `name` identifies it.
pub struct TestCase {
    pub classname: String,
    pub name: String,
    pub outcome: Outcome,
}

/// A document of one test suite; `output` (a run's summary) goes to its `system-out`.
pub fn document(suite: &str, cases: &[TestCase], output: &str) -> String {
    let count = |pick: fn(&Outcome) -> bool| cases.iter().filter(|c| pick(&c.outcome)).count();
    let failures = count(|o| matches!(o, Outcome::Failed { .. }));
    let errors = count(|o| matches!(o, Outcome::Error { .. }));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let totals = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\"",
        cases.len()
    );
    let suite = attribute(suite);
    let _ = writeln!(out, "<testsuites name=\"{suite}\" {totals}>");
    let _ = writeln!(out, "  <testsuite name=\"{suite}\" {totals} skipped=\"0\">");
    for case in cases {
        let head = format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            attribute(&case.classname),
            attribute(&case.name)
        );
        match &case.outcome {
            Outcome::Passed => {
                let _ = writeln!(out, "{head}/>");
            }
            Outcome::Failed { message, details } => {
                let _ = writeln!(out, "{head}>");
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"fail\">{}</failure>",
                    attribute(message),
                    escape(details, false)
                );
                let _ = writeln!(out, "    </testcase>");
            }
            Outcome::Error { message } => {
                let _ = writeln!(out, "{head}>");
                let _ = writeln!(
                    out,
                    "      <error message=\"{}\" type=\"invalid\"/>",
                    attribute(message)
                );
                let _ = writeln!(out, "    </testcase>");
            }
        }
    }
    if !output.is_empty() {
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>",
            escape(output, false)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A case file checked: passed when it did what it expects.
pub fn checked_case(file: &str, case: &Case, engine: &str, report: &Report, met: bool) -> TestCase {
    let outcome = match met {
        true => Outcome::Passed,
        false => Outcome::Failed {
            message: format!(
                "{}: {}, expected {} (engine {engine})",
                case.name,
                if report.passed() { "pass" } else { "mismatch" },
                case.expect.name()
            ),
            details: match report.passed() {
                true => {
                    "every entry within its tolerance, but the case expects a mismatch\n".into()
                }
                false => report::failing_entries(&case.graph, report, ""),
            },
        },
    };
    TestCase {
        classname: "gradfuzz.check".into(),
        name: file.into(),
        outcome,
    }
}

/// A case file that could not be checked.
pub fn invalid_case(file: &str, error: &str) -> TestCase {
    TestCase {
        classname: "gradfuzz.check".into(),
        name: file.into(),
        outcome: Outcome::Error {
            message: error.into(),
        },
    }
}

/// A fuzz run: each failing graph kept is a failed test case, with its text report (the
/// blame, the shrunk case, the command that reproduces it); the graphs not kept, and the
/// engine error that stopped a run, are one test case each; a run without failure is one
/// passed test case. The summary is the suite's output.
pub fn fuzz(engine: &str, config: &FuzzConfig, summary: &FuzzSummary) -> String {
    let classname = format!("gradfuzz.fuzz.{engine}");
    let mut cases: Vec<TestCase> = summary
        .failures
        .iter()
        .map(|failure| TestCase {
            classname: classname.clone(),
            name: format!("seed {} graph {}", config.seed, failure.index),
            outcome: Outcome::Failed {
                message: match &failure.blame {
                    Some(blame) => format!(
                        "{}; blame: {}",
                        report::what_failed(&failure.report),
                        blame.culprit
                    ),
                    None => report::what_failed(&failure.report),
                },
                details: report::failure_text(engine, config, failure),
            },
        })
        .collect();
    let unkept = summary.failing_graphs - summary.failures.len() as u64;
    if unkept > 0 {
        cases.push(TestCase {
            classname: classname.clone(),
            name: format!("seed {}: {unkept} more failing graphs", config.seed),
            outcome: Outcome::Failed {
                message: format!("{unkept} more failing graphs, not kept in the report"),
                details: String::new(),
            },
        });
    }
    if let Some((index, error)) = &summary.stopped_by {
        cases.push(TestCase {
            classname: classname.clone(),
            name: format!("seed {} graph {index}", config.seed),
            outcome: Outcome::Error {
                message: format!("the engine failed: {error}"),
            },
        });
    }
    if cases.is_empty() {
        cases.push(TestCase {
            classname,
            name: format!(
                "seed {}: {} graphs{}",
                config.seed,
                summary.graphs,
                if summary.interrupted {
                    " (interrupted: the run stopped before its budget)"
                } else {
                    ""
                }
            ),
            outcome: Outcome::Passed,
        });
    }
    let suite = format!("gradfuzz fuzz: engine {engine}, seed {}", config.seed);
    document(
        &suite,
        &cases,
        &report::fuzz_summary_text(engine, config, summary),
    )
}

/// Text as an attribute value (in double quotes).
fn attribute(text: &str) -> String {
    escape(text, true)
}

/// Text as XML character data or, `quoted`, an attribute value. Characters XML 1.0 cannot
/// hold at all (control characters other than tab and newlines) become U+FFFD.
fn escape(text: &str, quoted: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quoted => out.push_str("&quot;"),
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_and_reports_is_escaped() {
        let cases = [TestCase {
            classname: "gradfuzz.check".into(),
            name: "a<b>&\"c\".yaml".into(),
            outcome: Outcome::Failed {
                message: "x < y & \u{1}".into(),
                details: "</failure> \"quoted\"".into(),
            },
        }];
        let xml = document("s", &cases, "");
        assert!(
            xml.contains("name=\"a&lt;b&gt;&amp;&quot;c&quot;.yaml\""),
            "{xml}"
        );
        assert!(xml.contains("message=\"x &lt; y &amp; \u{FFFD}\""), "{xml}");
        assert!(
            xml.contains(">&lt;/failure&gt; \"quoted\"</failure>"),
            "{xml}"
        );
        assert!(
            xml.contains("tests=\"1\" failures=\"1\" errors=\"0\""),
            "{xml}"
        );
    }
}
