//! nnx-core reads left to right: every module imports only from modules of its
//! own tier or an earlier one, and no modules import each other in a circle.
//!
//! The edges are the `crate::module` paths in each file (`use` lines and inline
//! paths, `$crate::` paths in macro bodies; `#[cfg(test)]` code and comments left
//! out), root re-exports (`crate::State`) resolved to the module that defines them.
//! `cargo test -p nnx-core --test reading_order -- --nocapture` prints the edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The reading order, one tier per line: a module may import from its own tier and
/// the tiers above it.
/// (`registry` sits with `builtin`: its table of Flax collection names names the
/// built-in types.)
const TIERS: &[&[&str]] = &[
    &["error", "repr"],
    &["key", "value", "metadata"],
    &["kind", "display", "random"],
    &["variable", "variable_type", "builtin", "registry", "init"],
    &["state", "state_access", "state_map"],
    &["filter"],
    &["graph"],
    &["sow", "rngs", "record", "summary"],
    &["checkpoint"],
];

fn tier(module: &str) -> usize {
    TIERS
        .iter()
        .position(|t| t.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is missing from TIERS"))
}

/// The file's text without comments and `#[cfg(test)]` items.
fn library_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            // Skip the item: up to the line that closes its first brace, or its `;`.
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The identifiers that follow each `crate::` in `code`, expanding `crate::{a, b}`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            names.extend(inner.split(',').map(|s| ident(s.trim())));
        } else {
            let name = ident(rest);
            // `crate::name!` is a macro at the root: its own file is scanned instead.
            if !rest[name.len()..].starts_with('!') {
                names.push(name);
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// `name -> module` for the crate root's `pub use module::{...}` re-exports.
fn root_reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = library_code(lib);
    for stmt in code.split(';') {
        let Some(path) = stmt
            .trim()
            .rsplit("pub use ")
            .next()
            .filter(|_| stmt.contains("pub use "))
        else {
            continue;
        };
        let path = path.strip_prefix("crate::").unwrap_or(path);
        let module = ident(path);
        if !modules.contains(&module) {
            continue;
        }
        let items = match path.find('{') {
            Some(b) => path[b + 1..].trim_end_matches('}').to_string(),
            None => path.rsplit("::").next().unwrap_or("").to_string(),
        };
        for item in items.split(',') {
            let name = item.split(" as ").last().map(str::trim).unwrap_or("");
            map.insert(ident(name), module.clone());
        }
    }
    map
}

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn files(dir: &Path, top: Option<&str>, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let stem = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        if p.is_dir() {
            files(&p, Some(top.unwrap_or(&stem)), out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let module = top.map(str::to_string).unwrap_or(stem);
            out.push((module, std::fs::read_to_string(&p).expect("source file")));
        }
    }
}

/// The edges between top-level modules of nnx-core (the crate root left out).
fn edges() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, None, &mut all);
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let modules: BTreeSet<String> = all.iter().map(|(m, _)| m.clone()).collect();
    let reexports = root_reexports(&lib, &modules);
    let mut edges = BTreeSet::new();
    // `__private` gathers, for generated code only, items from every tier.
    for (module, text) in all.iter().filter(|(m, _)| m != "lib" && m != "__private") {
        for name in crate_paths(&library_code(text)) {
            // `#[macro_export]` macros live at the root, and `$crate::__private` paths
            // in macro bodies expand in the caller's crate, not in the module.
            if name.starts_with("__") {
                continue;
            }
            let target = if modules.contains(&name) {
                Some(name.clone())
            } else {
                reexports.get(&name).cloned()
            };
            match target {
                Some(t) if t != *module && modules.contains(&t) => {
                    edges.insert((module.clone(), t));
                }
                Some(_) => {}
                None => panic!("{module}: cannot resolve `crate::{name}`"),
            }
        }
    }
    edges
}

#[test]
fn every_module_imports_only_from_its_left() {
    let edges = edges();
    for (from, to) in &edges {
        println!("{from} -> {to}");
    }
    let backwards: Vec<String> = edges
        .iter()
        .filter(|(from, to)| tier(to) > tier(from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        backwards.is_empty(),
        "imports from the right: {backwards:?}"
    );
}

#[test]
fn no_import_circles_between_modules() {
    let edges = edges();
    // A circle exists iff some edge's target reaches its source.
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            if m == to {
                return true;
            }
            if seen.insert(m.clone()) {
                stack.extend(
                    edges
                        .iter()
                        .filter(|(f, _)| *f == m)
                        .map(|(_, t)| t.clone()),
                );
            }
        }
        false
    };
    let circles: Vec<String> = edges
        .iter()
        .filter(|(from, to)| from < to && reaches(to, from))
        .map(|(from, to)| format!("{from} <-> {to}"))
        .collect();
    assert!(circles.is_empty(), "import circles: {circles:?}");
}

#[test]
fn the_scanner_sees_paths_and_skips_tests_and_comments() {
    let code = "use crate::{Error, Result};\n// crate::graph in a comment\nfn f() { crate::value::shape; $crate::kind::Kind; crate::variable_type!(X); $crate::__private::create_typed(v) }\n#[cfg(test)]\nmod tests {\n    use crate::graph;\n}\n";
    assert_eq!(
        crate_paths(&library_code(code)),
        ["Error", "Result", "value", "kind", "__private"]
    );
}
