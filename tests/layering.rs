//! The crate's top-level modules form layers: none imports, directly or through others, a
//! module that imports it back. A cycle is how "the pipeline needs the server needs the
//! pipeline" creeps in, and it is what makes a stage impossible to test or reuse on its own
//! (`policy explain` runs the plan without a server because of this).
//!
//! Read from the source text, so it needs no build of its own: every `crate::NAME` outside
//! comments and `#[cfg(test)]` code is an edge from the file's top-level module to `NAME`.

// Test code may unwrap and panic; the lints guard the gateway, not its tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules the others are built on: they must import nothing from the crate but each other.
/// `request` is one: the strict parse must not come to depend on the policy it feeds.
const LEAVES: [&str; 9] = [
    "byte_class",
    "json_text",
    "hex_text",
    "error_code",
    "data_class",
    "glob",
    "secret",
    "on_error",
    "request",
];

/// Files that are entry points, not layers.
const ROOTS: [&str; 3] = ["main", "lib", "bin"];

type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `crate::NAME` references in one line of code (comments already removed).
fn references(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices("crate::").filter_map(|(at, _)| {
        // `my_crate::x` is not `crate::x`.
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        let rest = &line[at + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if ROOTS.contains(&top.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or_default();
            for target in references(line) {
                if target != top {
                    graph
                        .entry(top.clone())
                        .or_default()
                        .entry(target.to_owned())
                        .or_default()
                        .push(format!("{rel}:{}", n + 1));
                }
            }
        }
        graph.entry(top).or_default();
    }
    graph
}

/// A cycle through `start`, as the modules on it, if there is one.
fn cycle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flat_map(|e| e.keys()) {
            if next == start {
                let mut cycle = path;
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn the_modules_import_each_other_without_cycles() {
    let graph = graph();
    assert!(
        graph.len() > 10,
        "the module scan found too little: {:?}",
        graph.keys()
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            let evidence: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} at {}", w[0], w[1], graph[&w[0]][&w[1]][0]))
                .collect();
            panic!(
                "import cycle {}:\n  {}",
                cycle.join(" -> "),
                evidence.join("\n  ")
            );
        }
    }
}

#[test]
fn the_leaf_modules_import_nothing_above_them() {
    let graph = graph();
    for leaf in LEAVES {
        let edges = graph
            .get(leaf)
            .unwrap_or_else(|| panic!("{leaf} is not a module"));
        for (target, at) in edges {
            assert!(
                LEAVES.contains(&target.as_str()),
                "{leaf} imports crate::{target} at {}",
                at[0]
            );
        }
    }
}

#[test]
fn the_scan_sees_a_reference_and_not_a_lookalike() {
    let found: Vec<&str> = references(
        "use crate::policy::X; other_crate::nope; f(crate::limits::y) // crate::ignored",
    )
    .collect();
    // The caller strips the comment; here it is still present, so three are found.
    assert_eq!(found, ["policy", "limits", "ignored"]);
}
