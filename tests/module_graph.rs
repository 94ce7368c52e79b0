//! The library's modules keep the layers ARCHITECTURE.md states and form no import cycle:
//! every reference between the files of `src/` (`mod`, `use`, and `crate::`/`super::` paths in
//! code) points to the module's own layer or one below it in the table under `## Layers`,
//! points one way, and no module reaches up to the crate root's re-exports.
//!
//! A file is a node (`src/http/server/layer.rs` is `http::server::layer`); a reference
//! `crate::a::b::Item` is an edge to the longest of `a::b`, `a` that is a node. Unit tests
//! (`tests.rs` files and everything from a file's first `#[cfg(test)]`) are left out: they may
//! use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The code of a file without its unit tests and comment lines.
fn code(text: &str) -> String {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap().trim();
        return vec![path.to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| match p.as_str() {
            "self" => prefix.trim_end_matches("::").to_owned(),
            _ => format!("{prefix}{p}"),
        })
        .collect()
}

/// Every path the code names, as written.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let use_re = regex::Regex::new(r"(?s)\buse\s+([^;]+);").unwrap();
    for cap in use_re.captures_iter(code) {
        out.extend(expand(&cap[1]));
    }
    let inline = regex::Regex::new(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
    out.extend(inline.find_iter(code).map(|m| m.as_str().to_owned()));
    let mods =
        regex::Regex::new(r"(?m)^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;").unwrap();
    out.extend(mods.captures_iter(code).map(|c| format!("self::{}", &c[1])));
    out
}

/// The absolute module path `path` names from `here` (a file whose module is `module`), or
/// `None` for another crate.
fn absolute(
    path: &str,
    module: &Module,
    is_mod_file: bool,
    nodes: &BTreeSet<Module>,
) -> Option<Module> {
    let segments: Vec<&str> = path.split("::").map(str::trim).collect();
    // A child module's directory: `mod.rs` (and the root) is its module, a leaf file is too.
    let mut base: Module = module.clone();
    let mut rest = &segments[..];
    match segments[0] {
        "crate" => {
            base.clear();
            rest = &segments[1..];
        }
        "self" => rest = &segments[1..],
        "super" => {
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        first => {
            let mut child = module.clone();
            child.push(first.to_owned());
            if !nodes.contains(&child) {
                return None;
            }
        }
    }
    let _ = is_mod_file;
    let mut full = base;
    full.extend(rest.iter().map(|s| (*s).to_owned()));
    Some(full)
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let nodes: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let is_mod_file = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let text = fs::read_to_string(file).unwrap();
        let mut targets = BTreeSet::new();
        for path in paths(&code(&text)) {
            let Some(mut full) = absolute(&path, &module, is_mod_file, &nodes) else {
                continue;
            };
            while !full.is_empty() && !nodes.contains(&full) {
                full.pop();
            }
            if full != module {
                targets.insert(full);
            }
        }
        edges.insert(module, targets);
    }
    edges
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
}

/// A cycle through the graph, if there is one.
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(i) = stack.iter().position(|m| m == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

/// One name of the layer table: a module and what is under it (`a::b`), only what is under
/// it (`a::*`), or the crate root (`crate`).
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    module: Module,
    below_only: bool,
}

impl Entry {
    fn parse(name: &str) -> Self {
        let (path, below_only) = match name.strip_suffix("::*") {
            Some(path) => (path, true),
            None => (name, false),
        };
        let module = if path == "crate" {
            Vec::new()
        } else {
            path.split("::").map(str::to_owned).collect()
        };
        Self { module, below_only }
    }

    /// How closely the entry names `node`, when it covers it: the longer name wins, and `a::*`
    /// wins over `a`.
    fn covers(&self, node: &Module) -> Option<usize> {
        let under = node.len() > self.module.len();
        let covered = if self.module.is_empty() {
            node.is_empty()
        } else {
            node.starts_with(&self.module) && (under || !self.below_only)
        };
        covered.then_some(2 * self.module.len() + usize::from(self.below_only))
    }
}

/// The layer table of the markdown text under `## Layers`: the rows from the bottom up, each
/// the backquoted names of its second column.
fn layer_table(markdown: &str) -> Vec<(String, Vec<Entry>)> {
    let section = markdown
        .split("\n## ")
        .find(|s| s.starts_with("Layers\n"))
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(rows.len() > 2, "the `## Layers` section has a table");
    rows[2..]
        .iter()
        .map(|cells| {
            assert_eq!(
                cells.len(),
                2,
                "a layer row is `| layer | modules |`: {cells:?}"
            );
            let names = cells[1]
                .split(',')
                .map(|n| Entry::parse(n.trim().trim_matches('`')))
                .collect();
            (cells[0].to_owned(), names)
        })
        .collect()
}

/// The layer (its row, counted from the bottom) of `node`: the row of the entry that names it
/// most closely.
fn layer_of(node: &Module, table: &[(String, Vec<Entry>)]) -> Option<usize> {
    table
        .iter()
        .enumerate()
        .flat_map(|(row, (_, entries))| entries.iter().map(move |e| (row, e)))
        .filter_map(|(row, e)| e.covers(node).map(|closeness| (closeness, row)))
        .max()
        .map(|(_, row)| row)
}

/// Every way the graph breaks the table: a module in no layer, a name that is no module, an
/// edge up.
fn layer_violations(
    edges: &BTreeMap<Module, BTreeSet<Module>>,
    table: &[(String, Vec<Entry>)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (_, entries) in table {
        for entry in entries {
            let exists = edges.keys().any(|node| entry.covers(node).is_some());
            if !exists {
                out.push(format!(
                    "the table names `{}`, which is no module",
                    name(&entry.module)
                ));
            }
        }
    }
    for (from, targets) in edges {
        let Some(from_layer) = layer_of(from, table) else {
            out.push(format!("`{}` is in no layer", name(from)));
            continue;
        };
        for to in targets {
            if let Some(to_layer) = layer_of(to, table) {
                if to_layer > from_layer {
                    out.push(format!(
                        "`{}` ({}) uses `{}` ({})",
                        name(from),
                        table[from_layer].0,
                        name(to),
                        table[to_layer].0
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_its_own_layer_or_lower_ones() {
    let edges = graph();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md");
    let table = layer_table(&fs::read_to_string(path).unwrap());
    assert!(table.len() >= 3, "bottom, middle and top: {table:?}");
    let violations = layer_violations(&edges, &table);
    assert!(
        violations.is_empty(),
        "the code and ARCHITECTURE.md's layer table disagree:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_finds_an_edge_up_and_a_module_in_no_layer() {
    let markdown = "# A\n\n## Layers\n\ntext\n\n| layer | modules |\n|---|---|\n\
                    | bottom | `a`, `b::names` |\n| top | `crate`, `b`, `c::*` |\n\n## Next\n";
    let table = layer_table(markdown);
    let m = |s: &str| -> Module { s.split("::").map(str::to_owned).collect() };
    assert_eq!(layer_of(&m("b::names"), &table), Some(0));
    assert_eq!(layer_of(&m("b::other"), &table), Some(1));
    assert_eq!(layer_of(&m("c"), &table), None);
    assert_eq!(layer_of(&m("c::d"), &table), Some(1));
    assert_eq!(layer_of(&Vec::new(), &table), Some(1));
    let down = BTreeMap::from([
        (Vec::new(), BTreeSet::from([m("a"), m("b")])),
        (m("a"), BTreeSet::new()),
        (m("b"), BTreeSet::from([m("b::names"), m("a")])),
        (m("b::names"), BTreeSet::from([m("a")])),
        (m("c::d"), BTreeSet::new()),
    ]);
    assert_eq!(layer_violations(&down, &table), Vec::<String>::new());
    let mut up = down.clone();
    up.insert(m("a"), BTreeSet::from([m("b")]));
    up.insert(m("c"), BTreeSet::new());
    assert_eq!(
        layer_violations(&up, &table),
        ["`a` (bottom) uses `b` (top)", "`c` is in no layer"]
    );
}

#[test]
fn the_library_has_no_import_cycle() {
    let edges = graph();
    assert!(
        edges.len() > 30,
        "every source file is read: {}",
        edges.len()
    );
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<String> = cycle.iter().map(name).collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

#[test]
fn the_checker_finds_a_cycle() {
    let a: Module = vec!["a".into()];
    let b: Module = vec!["b".into()];
    let edges = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b.clone(), BTreeSet::from([a.clone()])),
    ]);
    assert_eq!(find_cycle(&edges).map(|c| c.len()), Some(3));
    let acyclic = BTreeMap::from([(a, BTreeSet::from([b.clone()])), (b, BTreeSet::new())]);
    assert_eq!(find_cycle(&acyclic), None);
    assert_eq!(
        expand("super::{a, b::{c, self}, d as e}"),
        ["super::a", "super::b::c", "super::b", "super::d"]
    );
}
