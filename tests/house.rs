//! The library's modules import one another without cycles: between the top-level modules
//! (a folder such as `oracle/` counts as one), and between the files of one folder (its
//! `mod.rs`, the folder's face, aside). A cycle means two concepts that cannot be read, tested
//! or changed apart; the fix is a leaf module both can use (as `value.rs` is for `gate.rs`
//! and `graph.rs`, and `tolerance/rules.rs` for the tolerance and its signed bounds).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`oracle::delta`) → source text without comments, for every file of the
/// library (the command line, `src/main.rs` and `src/cli/`, is a client of it).
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(folder: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(folder).expect("src/ is readable") {
            let path = entry.expect("entry").path();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8")
                .to_string();
            let mut module = prefix.to_vec();
            if path.is_dir() {
                module.push(name);
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if name != "mod" {
                    module.push(name);
                }
                let text = std::fs::read_to_string(&path).expect("readable");
                let code: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect();
                out.insert(module, code.join("\n"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    out.retain(|module, _| {
        !matches!(
            module.first().map(String::as_str),
            Some("lib" | "main" | "cli")
        )
    });
    out
}

/// The modules a file refers to: every `crate::a::b…` and `super::…` path, braces expanded,
/// resolved to the longest module it names.
fn references(module: &[String], text: &str, all: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let mut resolve = |path: Vec<String>| {
        for k in (1..=path.len()).rev() {
            if all.contains(&path[..k]) {
                if path[..k] != *module {
                    found.insert(path[..k].to_vec());
                }
                return;
            }
        }
    };
    // `super` of a folder's mod.rs (module `a::b`) is `a`; of a file `a::b::c`, `a::b`.
    let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
    let identifier = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (root, base) in [("crate::", Vec::new()), ("super::", parent)] {
        let mut rest = text;
        while let Some(at) = rest.find(root) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + root.len()..];
            if before.is_some_and(identifier) {
                continue;
            }
            // Paths up to a brace group, then each member of the group.
            let end = rest
                .find(|c: char| !(identifier(c) || c == ':'))
                .unwrap_or(rest.len());
            let head: Vec<String> = rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let stem = [base.clone(), head].concat();
            if rest[end..].starts_with('{') {
                let group = &rest[end + 1..rest[end..].find('}').map_or(rest.len(), |c| end + c)];
                for member in group.split(',') {
                    let member: Vec<String> = member
                        .trim()
                        .split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    resolve([stem.clone(), member].concat());
                }
            } else {
                resolve(stem);
            }
        }
    }
    found
}

/// The cycles of a directed graph: its strongly connected components of more than one node.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    // Reachability by depth-first search from each node: small graphs, so plainly.
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(node) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|node| (node, reach(node))).collect();
    let mut components: Vec<BTreeSet<String>> = Vec::new();
    for (node, seen) in &reachable {
        let component: BTreeSet<String> = seen
            .iter()
            .filter(|other| {
                reachable
                    .get(other)
                    .is_some_and(|back| back.contains(*node))
            })
            .cloned()
            .collect();
        if component.len() > 1 && !components.contains(&component) {
            components.push(component);
        }
    }
    components
}

fn module_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = modules();
    let all: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(module, text)| (module.clone(), references(module, text, &all)))
        .collect()
}

#[test]
fn the_top_level_modules_import_one_another_without_cycles() {
    let graph = module_graph();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, refs) in &graph {
        for target in refs {
            if target[0] != module[0] {
                top.entry(module[0].clone())
                    .or_default()
                    .insert(target[0].clone());
            }
        }
    }
    // The check can see: the modules are there and refer to one another.
    assert!(
        top.get("check").is_some_and(|t| t.contains("engine")),
        "{top:?}"
    );
    assert_eq!(cycles(&top), Vec::<BTreeSet<String>>::new(), "{top:#?}");
}

#[test]
fn the_files_of_a_folder_import_one_another_without_cycles() {
    let graph = module_graph();
    let mut folders: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, refs) in &graph {
        let Some((name, folder)) = module.split_last() else {
            continue;
        };
        if graph
            .keys()
            .any(|m| m.len() > module.len() && m.starts_with(module))
        {
            continue; // a folder's mod.rs
        }
        let siblings = refs
            .iter()
            .filter(|r| r.len() == module.len() && r.starts_with(folder))
            .map(|r| r[r.len() - 1].clone())
            .collect();
        folders
            .entry(folder.to_vec())
            .or_default()
            .insert(name.clone(), siblings);
    }
    assert!(
        folders.contains_key(&vec!["oracle".to_string()]),
        "{folders:?}"
    );
    for (folder, edges) in &folders {
        assert_eq!(
            cycles(edges),
            Vec::<BTreeSet<String>>::new(),
            "src/{}: {edges:#?}",
            folder.join("/")
        );
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    let found = cycles(&edges);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["a", "b", "c"].map(String::from).into());
}

/// Module `module`'s references to any of the top-level modules in `targets`.
fn references_to(module: &str, targets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (from, refs) in module_graph() {
        if from[0] != module {
            continue;
        }
        for to in refs {
            if targets.contains(&to[0].as_str()) {
                found.push(format!("{} -> {}", from.join("::"), to.join("::")));
            }
        }
    }
    found
}

/// What knows the functions and bounds the errors: the oracles, the tolerance, and what they
/// know of each function.
const ORACLES: [&str; 3] = ["oracle", "tolerance", "function"];

/// The rules under test and the engines that run them.
const RULES: [&str; 3] = ["gate", "arithmetic", "engine"];

#[test]
fn the_oracles_never_import_the_rules_under_test_nor_the_rules_the_oracles() {
    for module in ORACLES {
        let crossing = references_to(module, &RULES);
        assert!(
            crossing.is_empty(),
            "{module} imports the rules under test or an engine: {crossing:#?}"
        );
    }
    for module in RULES {
        let crossing = references_to(module, &ORACLES);
        assert!(
            crossing.is_empty(),
            "{module} imports what the oracles know: {crossing:#?}"
        );
    }
    // The test can see: the oracles do import what they are allowed to.
    assert!(!references_to("oracle", &["function", "graph"]).is_empty());
}
