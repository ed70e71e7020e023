//! The command line's grammar and formats: `--help` on every command, completions, every flag
//! the README documents accepted by the commands it names, and JUnit reports that agree with
//! the text reports.

mod common;

use common::{gradfuzz, outcome, scratch};
use std::collections::BTreeSet;

const COMMANDS: &[&str] = &[
    "fuzz",
    "check",
    "shrink",
    "explain",
    "import",
    "merge",
    "dot",
    "bench",
    "gen",
    "engines",
    "completions",
];

fn help(command: &str) -> String {
    let (code, stdout, stderr) = outcome(&gradfuzz(&[command, "--help"]));
    assert_eq!(code, 0, "{command} --help: {stderr}");
    stdout
}

#[test]
fn every_command_has_help_listing_it_in_the_overview() {
    let (code, overview, _) = outcome(&gradfuzz(&["--help"]));
    assert_eq!(code, 0);
    for command in COMMANDS {
        assert!(
            overview.contains(&format!("  {command} ")),
            "`{command}` missing from the overview:\n{overview}"
        );
        let text = help(command);
        assert!(
            text.contains(&format!("Usage: gradfuzz {command}")),
            "{command}: {text}"
        );
        // `gradfuzz help CMD` is the same text.
        let (code, same, _) = outcome(&gradfuzz(&["help", command]));
        assert_eq!((code, &same), (0, &text), "help {command}");
    }
    // The defaults are shown: the values a run uses when no flag is given.
    let fuzz = help("fuzz");
    for default in [
        "[default: 12]",
        "[default: 6]",
        "[default: reference]",
        "[default: 4000]",
        "[default: 10]",
    ] {
        assert!(fuzz.contains(default), "`{default}` missing:\n{fuzz}");
    }
}

#[test]
fn a_mistyped_flag_gets_a_suggestion_and_exit_2() {
    let (code, _, stderr) = outcome(&gradfuzz(&["fuzz", "--graph", "10"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--graph") && stderr.contains("'--graphs'"),
        "{stderr}"
    );
    let (code, _, stderr) = outcome(&gradfuzz(&["chek", "cases/seed"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("'check'"), "{stderr}");
}

#[test]
fn flags_are_taken_in_any_order() {
    let forward = [
        "check",
        "--engine",
        "reference",
        "cases/seed",
        "--format",
        "json",
    ];
    let backward = [
        "check",
        "--format",
        "json",
        "cases/seed",
        "--engine",
        "reference",
    ];
    let (a, b) = (outcome(&gradfuzz(&forward)), outcome(&gradfuzz(&backward)));
    assert_eq!(a.0, 0, "{}", a.2);
    assert_eq!(a, b);
}

#[test]
fn completions_are_written_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, script, stderr) = outcome(&gradfuzz(&["completions", shell]));
        assert_eq!(code, 0, "{shell}: {stderr}");
        for word in ["gradfuzz", "shrink", "shrink-candidates", "junit"] {
            assert!(script.contains(word), "{shell}: `{word}` missing");
        }
    }
    // The bash script completes: `gradfuzz fuzz --shr<TAB>`.
    let folder = scratch("completions");
    let script = folder.join("gradfuzz.bash");
    std::fs::write(&script, outcome(&gradfuzz(&["completions", "bash"])).1).expect("write");
    let completed = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(gradfuzz fuzz --shr); COMP_CWORD=2; \
             COMP_LINE='gradfuzz fuzz --shr'; COMP_POINT=${{#COMP_LINE}}; \
             _gradfuzz gradfuzz --shr fuzz; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .expect("bash runs (CI has it)");
    assert_eq!(
        String::from_utf8_lossy(&completed.stdout).trim(),
        "--shrink-candidates",
        "{}",
        String::from_utf8_lossy(&completed.stderr)
    );
    let (code, _, stderr) = outcome(&gradfuzz(&["completions", "tcsh"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("tcsh"), "{stderr}");
}

/// Every `gradfuzz CMD … --flag` in the README (its code blocks and inline code), and every
/// flag of its command reference, is one that `gradfuzz CMD --help` lists.
#[test]
fn every_flag_the_readme_documents_is_accepted_by_the_commands_it_names() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut uses: BTreeSet<(String, String)> = BTreeSet::new();
    for line in readme.lines() {
        // Inline code spans and whole lines of code blocks alike: each `gradfuzz CMD` starts a
        // command that runs to the end of its span (or line, or pipe).
        for span in line.split('`') {
            let mut rest = span;
            while let Some(at) = rest.find("gradfuzz ") {
                rest = &rest[at + "gradfuzz ".len()..];
                // Quoted text is a flag's value (`--engine 'exec:… --serve'`), not flags.
                let unquoted: String = rest
                    .split(['|', '>', ';'])
                    .next()
                    .unwrap_or("")
                    .split('\'')
                    .step_by(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                let words: Vec<&str> = unquoted.split_whitespace().collect();
                let Some(command) = words.first().filter(|w| COMMANDS.contains(w)) else {
                    continue;
                };
                for word in &words[1..] {
                    let word = word.trim_matches(|c: char| "[]()'\",".contains(c));
                    if word == "gradfuzz" {
                        break;
                    }
                    if let Some(flag) = word.strip_prefix("--") {
                        let flag = flag.split('=').next().unwrap_or(flag);
                        if !flag.is_empty()
                            && flag.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                        {
                            uses.insert((command.to_string(), format!("--{flag}")));
                        }
                    }
                }
            }
        }
    }
    // The README's reference says of the engine flags: every command that takes --engine
    // also takes --timeout and --precision.
    assert!(
        readme
            .to_lowercase()
            .contains("every command that takes `--engine` also takes `--timeout"),
        "the README's sentence about --timeout changed; update this test"
    );
    for command in COMMANDS {
        let text = help(command);
        if text.contains("--engine <E>") {
            uses.insert((command.to_string(), "--timeout".into()));
            uses.insert((command.to_string(), "--precision".into()));
        }
    }
    assert!(uses.len() > 30, "too few README flags found: {uses:?}");
    let mut missing = Vec::new();
    for (command, flag) in &uses {
        if !help(command).contains(&format!("{flag} "))
            && !help(command).contains(&format!("{flag}\n"))
        {
            missing.push(format!("gradfuzz {command} {flag}"));
        }
    }
    assert!(
        missing.is_empty(),
        "the README documents flags the commands do not take: {missing:?}"
    );
}

fn parse(xml: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not XML ({e}):\n{xml}"))
}

fn attribute<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("no attribute {name}"))
}

#[test]
fn check_as_junit_has_a_test_case_per_file_agreeing_with_the_text_report() {
    let folder = scratch("check_as_junit");
    let broken = folder.join("broken.yaml");
    std::fs::write(&broken, "nodes: {x: {input: [1.0]}}\n").expect("write");
    let broken = broken.to_str().expect("utf-8");
    let args = [
        "check",
        "cases/seed",
        "--engine",
        "mutant:sqerr-sign",
        broken,
    ];
    let (code, text, _) = outcome(&gradfuzz(&args));
    assert_eq!(code, 2, "{text}");
    let (code, xml, _) = outcome(&gradfuzz(&[&args[..], &["--format", "junit"]].concat()));
    assert_eq!(code, 2, "the exit status does not depend on the format");
    let document = parse(&xml);
    let cases: Vec<_> = document
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let text_lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.contains(" cases: "))
        .collect();
    assert_eq!(cases.len(), text_lines.len(), "{xml}\n{text}");
    let (mut failures, mut errors) = (0, 0);
    for (case, line) in cases.iter().zip(&text_lines) {
        let name = attribute(*case, "name");
        assert!(line.contains(name), "{line} vs {name}");
        let failure = case.children().find(|n| n.has_tag_name("failure"));
        let error = case.children().find(|n| n.has_tag_name("error"));
        match (line.split_whitespace().next(), failure, error) {
            (Some("ok"), None, None) => {}
            (Some("UNEXPECTED"), Some(failure), None) => {
                failures += 1;
                // The failure holds the text report's entry lines for this file.
                let details = failure.text().expect("details");
                let first = details.lines().next().expect("an entry line");
                assert!(text.contains(&format!("          {first}\n")), "{first}");
            }
            (Some("INVALID" | "ERROR"), None, Some(error)) => {
                errors += 1;
                assert!(!attribute(error, "message").is_empty());
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    assert!(failures > 0 && errors == 1, "{xml}");
    let suite = document
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a suite");
    assert_eq!(attribute(suite, "failures"), failures.to_string());
    assert_eq!(attribute(suite, "errors"), "1");
    assert_eq!(attribute(suite, "tests"), cases.len().to_string());
}

#[test]
fn fuzz_as_junit_has_a_failed_test_case_per_failing_graph_with_its_text_report() {
    let args = [
        "fuzz",
        "--seed",
        "4",
        "--graphs",
        "400",
        "--engine",
        "mutant:add-first-only",
    ];
    let (code, text, _) = outcome(&gradfuzz(&args));
    assert_eq!(code, 1, "{text}");
    let (code, xml, _) = outcome(&gradfuzz(&[&args[..], &["--format", "junit"]].concat()));
    assert_eq!(code, 1);
    let document = parse(&xml);
    let failures: Vec<_> = document
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    let graphs_in_text = text.lines().filter(|l| l.starts_with("graph ")).count();
    let more = text.lines().any(|l| l.starts_with("… and "));
    assert_eq!(failures.len(), graphs_in_text + usize::from(more), "{xml}");
    for failure in &failures[..graphs_in_text] {
        let details = failure.text().expect("details");
        assert!(text.contains(details), "not in the text report:\n{details}");
        assert!(
            attribute(*failure, "message").contains("blame: the `add` rule"),
            "{}",
            attribute(*failure, "message")
        );
    }
    let summary = document
        .descendants()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .expect("the summary");
    assert!(text.ends_with(summary), "{summary}");
    // A passing run is one passed test case.
    let (code, xml, _) = outcome(&gradfuzz(&["fuzz", "--graphs", "200", "--format", "junit"]));
    assert_eq!(code, 0);
    let document = parse(&xml);
    let cases: Vec<_> = document
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 1, "{xml}");
    assert_eq!(cases[0].children().filter(|n| n.is_element()).count(), 0);
    assert!(attribute(cases[0], "name").contains("200 graphs"));
}

#[test]
fn explain_refuses_junit_which_is_for_check_and_fuzz() {
    let (code, _, stderr) = outcome(&gradfuzz(&[
        "explain",
        "cases/seed/sqerr.yaml",
        "--format",
        "junit",
    ]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("junit") && stderr.contains("--format"),
        "{stderr}"
    );
}
