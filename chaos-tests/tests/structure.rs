//! The structure the project keeps (docs/ARCHITECTURE.md §2), checked on
//! every test run so that it does not erode one change at a time:
//!
//! - the product never links its test harness, and the engine crate has no
//!   socket code (`cargo tree`);
//! - no module of a crate reaches, through its `crate::`/`super::` paths,
//!   a module that reaches back to it;
//! - no source file under a `src/` folder grows past 1,500 lines;
//! - nothing in the repository cites a document outside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The longest a source file under `src/` may grow: past it, its sections
/// are the files it wants to be.
const MAX_SRC_FILE_LINES: usize = 1_500;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("chaos-tests sits in the repository root")
        .to_path_buf()
}

/// Files git tracks (and untracked ones it does not ignore).
fn tracked_files() -> Vec<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(repo())
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| repo().join(l))
        .filter(|p| p.is_file())
        .collect()
}

// === dependencies ===

/// The crates `package` depends on for its normal build.
fn normal_deps(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(repo())
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_product_does_not_link_its_test_harness() {
    let deps = normal_deps("rampart-node");
    assert!(deps.contains("rampart-dataplane"), "sanity: {deps:?}");
    assert!(
        !deps.contains("rampart-chaos-tests"),
        "rampart-node depends on its test harness"
    );
}

#[test]
fn the_engine_crate_has_no_socket_code() {
    let deps = normal_deps("rampart-dataplane");
    assert!(deps.contains("rampart-asa"), "sanity: {deps:?}");
    for socket_crate in ["socket2", "rampart-afpacket", "tokio", "quinn"] {
        assert!(
            !deps.contains(socket_crate),
            "rampart-dataplane depends on {socket_crate}"
        );
    }
    let deps = normal_deps("rampart-asa");
    assert!(
        !deps
            .iter()
            .any(|d| d.starts_with("rampart-") && d != "rampart-asa"),
        "the policy language depends on another crate of ours: {deps:?}"
    );
}

// === module cycles ===

/// A crate's modules (`a::b`) and the file of each.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable source folder") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                // `src/bin/` holds binaries: crates of their own.
                if path != src.join("bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("below src");
            let mut parts: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            out.insert(parts.join("::"), path);
        }
    }
    out
}

/// The text of a file without comments and without its inline test module.
fn code_of(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths named after `prefix` in `code` (`crate::a::b::C` gives `a::b::C`).
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        out.push(
            path.split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        );
    }
    out
}

/// Which modules each module refers to, leaving out a module's own
/// ancestors and descendants (a parent and its children are one unit).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let longest_module = |parts: &[String]| -> Option<String> {
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| mods.contains_key(m))
    };
    let related = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
    };
    let mut graph = BTreeMap::new();
    for (name, file) in &mods {
        let mut edges = BTreeSet::new();
        if name.rsplit("::").next() == Some("tests") {
            graph.insert(name.clone(), edges);
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).expect("readable source"));
        let mut targets = paths_after(&code, "crate::");
        let parent: Vec<String> = name
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let parent = &parent[..parent.len().saturating_sub(1)];
        for p in paths_after(&code, "super::") {
            targets.push(parent.iter().cloned().chain(p).collect());
        }
        for t in targets {
            if let Some(m) = longest_module(&t)
                && !related(name, &m)
            {
                edges.insert(m);
            }
        }
        graph.insert(name.clone(), edges);
    }
    graph
}

/// Groups of two or more modules that reach each other (Tarjan's strongly
/// connected components).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in &self.graph[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_ignores_parent_and_child() {
    let g = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        cycles(&g(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
    assert!(cycles(&g(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
    let code = code_of(
        "use crate::engine::Engine; // crate::ignored\nfn f() { super::x::y(); }\n#[cfg(test)]\nmod tests { use crate::z; }",
    );
    assert_eq!(
        paths_after(&code, "crate::"),
        vec![vec!["engine", "Engine"]]
    );
    assert_eq!(paths_after(&code, "super::"), vec![vec!["x", "y"]]);
}

/// Crates whose modules must form no cycle, by source folder.
const ACYCLIC_CRATES: [&str; 6] = [
    "dataplane/src",
    "dataplane/asa/src",
    "dataplane/afpacket/src",
    "ops/src",
    "node/src",
    "chaos-tests/src",
];

#[test]
fn no_module_reaches_a_module_that_reaches_back() {
    let mut found = Vec::new();
    for krate in ACYCLIC_CRATES {
        let src = repo().join(krate);
        let graph = module_graph(&src);
        assert!(graph.len() > 1, "{krate}: sanity, modules found");
        for group in cycles(&graph) {
            let edges: Vec<String> = group
                .iter()
                .map(|m| {
                    let inside: Vec<&String> =
                        graph[m].iter().filter(|t| group.contains(t)).collect();
                    format!("{m} -> {inside:?}")
                })
                .collect();
            found.push(format!("{krate}: {}", edges.join("; ")));
        }
    }
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

// === files ===

#[test]
fn no_source_file_under_src_is_longer_than_the_limit() {
    let long: Vec<String> = tracked_files()
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "rs")
                && p.components().any(|c| c.as_os_str() == "src")
        })
        .filter_map(|p| {
            let n = std::fs::read_to_string(&p).ok()?.lines().count();
            (n > MAX_SRC_FILE_LINES).then(|| format!("{}: {n} lines", p.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_SRC_FILE_LINES} lines: {long:?}"
    );
}

#[test]
fn nothing_cites_a_document_outside_the_repository() {
    // Spelled in pieces so that this file does not cite them itself.
    let outside = [
        ["..", "/shared"].concat(),
        ["DESIGN", ".md"].concat(),
        ["STYLE", ".md"].concat(),
        ["LIBRARIES", ".md"].concat(),
        ["spec/", "asa.md"].concat(),
        ["state-sync-", "prior-art"].concat(),
    ];
    let mut found = Vec::new();
    for path in tracked_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(cited) = outside.iter().find(|c| line.contains(c.as_str())) {
                found.push(format!("{}:{}: cites {cited}", path.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "citations of outside documents:\n{}",
        found.join("\n")
    );
}
