//! No file of a crate imports in a cycle (ARCHITECTURE.md): for every crate of the
//! workspace, the files of `src/` and the files each one names by path — `crate::a::b`,
//! `super::x`, `self::y`, or a child module's name (`sharing::link_path`) — must form a
//! graph without cycles. A file naming one of its own ancestor modules (a child using its
//! parent's types) is not an edge: that is what nesting means. Paths are read from the
//! source text with comments removed, so a cycle through a string or a macro goes unseen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file defines: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`, `src/lib.rs`
/// is the crate root.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Module = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    let root = parts.is_empty() && (stem == "lib" || stem == "main");
    if stem != "mod" && !root {
        parts.push(stem.to_owned());
    }
    parts
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_space(s: &[u8], i: &mut usize) {
    while *i < s.len() && s[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

/// Reads a use tree at `i` (`a::b`, `a::{b, c::d}`, `{self, x}`) into full paths.
fn read_tree(s: &[u8], i: &mut usize, mut prefix: Module, out: &mut Vec<Module>) {
    loop {
        skip_space(s, i);
        if *i < s.len() && s[*i] == b'{' {
            *i += 1;
            loop {
                read_tree(s, i, prefix.clone(), out);
                skip_space(s, i);
                match s.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b'}') => {
                        *i += 1;
                        return;
                    }
                    _ => return,
                }
                skip_space(s, i);
                if s.get(*i) == Some(&b'}') {
                    *i += 1;
                    return;
                }
            }
        }
        let start = *i;
        while *i < s.len() && is_ident(s[*i]) {
            *i += 1;
        }
        let ident = String::from_utf8_lossy(&s[start..*i]).into_owned();
        if ident.is_empty() || ident == "self" {
            out.push(prefix);
            return;
        }
        prefix.push(ident);
        if s[*i..].starts_with(b"::") {
            *i += 2;
        } else {
            out.push(prefix);
            return;
        }
    }
}

/// The paths a file names, each made absolute from the file's own module.
fn paths_in(text: &str, here: &Module, children: &BTreeSet<String>) -> Vec<Module> {
    let code: String = text
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    let s = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let starts_word = i == 0 || !(is_ident(s[i - 1]) || s[i - 1] == b':');
        if !starts_word || !is_ident(s[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && is_ident(s[i]) {
            i += 1;
        }
        if !s[i..].starts_with(b"::") {
            continue;
        }
        let word = std::str::from_utf8(&s[start..i]).unwrap();
        let mut base = match word {
            "crate" => Vec::new(),
            "self" => here.clone(),
            "super" => here[..here.len().saturating_sub(1)].to_vec(),
            child if children.contains(child) => {
                // A child module's name: read it as part of the path.
                i = start;
                let mut found = Vec::new();
                read_tree(s, &mut i, here.clone(), &mut found);
                out.extend(found);
                continue;
            }
            _ => continue,
        };
        i += 2;
        while s[i..].starts_with(b"super::") {
            base.pop();
            i += 7;
        }
        read_tree(s, &mut i, base, &mut out);
    }
    out
}

/// Strongly connected components of more than one file (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(st: &mut State<'a>, v: &'a Module) {
        let n = st.index.len();
        st.index.insert(v, n);
        st.low.insert(v, n);
        st.stack.push(v);
        st.on_stack.insert(v);
        for w in st.edges.get(v).into_iter().flatten() {
            if !st.index.contains_key(w) {
                visit(st, w);
                let lw = st.low[w];
                let lv = st.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if st.on_stack.contains(w) {
                let iw = st.index[w];
                let lv = st.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if st.low[v] == st.index[v] {
            let mut component = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                st.found.push(component);
            }
        }
    }
    let mut st = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !st.index.contains_key(v) {
            visit(&mut st, v);
        }
    }
    st.found
}

/// The import cycles between the files of the crate whose sources are in `src`.
fn crate_cycles(src: &Path) -> Vec<Vec<Module>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (here, file) in &modules {
        let children: BTreeSet<String> = modules
            .keys()
            .filter(|m| m.len() == here.len() + 1 && m.starts_with(here))
            .map(|m| m.last().unwrap().clone())
            .collect();
        let text = std::fs::read_to_string(file).unwrap();
        let targets = edges.entry(here.clone()).or_default();
        for path in paths_in(&text, here, &children) {
            // The longest prefix of the path that is a file of this crate.
            let Some(target) = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|m| modules.contains_key(m))
            else {
                continue;
            };
            if target != *here && !here.starts_with(&target) {
                targets.insert(target);
            }
        }
    }
    cycles(&edges)
}

#[test]
fn no_file_of_a_crate_imports_in_a_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut problems = Vec::new();
    for dir in [
        "platform/core",
        "platform/authz",
        "platform/engine",
        "platform/services",
        "platform/api",
        "platform/query-limits",
        "platform/definitions",
        "platform/server",
        "platform/cli",
        "storage",
        "plugins",
        "queue",
    ] {
        for cycle in crate_cycles(&root.join(dir).join("src")) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            problems.push(format!("{dir}: {}", names.join(" ⇄ ")));
        }
    }
    assert!(
        problems.is_empty(),
        "files importing in a cycle:\n{}",
        problems.join("\n")
    );
}

/// Files stay readable in one sitting (no Rust file of the workspace over 600 lines) and
/// the GraphQL adapter stays an adapter (`vitrine-api` under 6,000 lines): logic that
/// grows there belongs in the services.
#[test]
fn files_and_the_api_crate_stay_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lines = |file: &Path| std::fs::read_to_string(file).unwrap().lines().count();
    let mut problems = Vec::new();
    for dir in ["platform", "storage", "plugins", "queue", "sdk", "tests"] {
        let mut files = Vec::new();
        rust_files_outside_builds(&root.join(dir), &mut files);
        for file in files {
            let n = lines(&file);
            if n > 600 {
                let shown = file
                    .strip_prefix(&root)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                problems.push(format!("{shown}: {n} lines"));
            }
        }
    }
    let mut api = Vec::new();
    rust_files(&root.join("platform/api/src"), &mut api);
    assert!(!api.is_empty());
    let api_lines: usize = api.iter().map(|f| lines(f)).sum();
    if api_lines >= 6000 {
        problems.push(format!("vitrine-api: {api_lines} lines"));
    }
    assert!(problems.is_empty(), "too large:\n{}", problems.join("\n"));
}

/// [`rust_files`], skipping build output and installed packages.
fn rust_files_outside_builds(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target"
                && name != "node_modules"
                && !name.to_string_lossy().starts_with('.')
            {
                rust_files_outside_builds(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    // Guards the check itself: two sibling files naming each other are found.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::{Thing, other::{X}};\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub fn f() { super::c::g() }\n").unwrap();
    std::fs::write(
        src.join("c.rs"),
        "// crate::a is only a comment\nuse crate::a;\n",
    )
    .unwrap();
    assert_eq!(
        crate_cycles(src),
        vec![vec![
            vec!["a".to_owned()],
            vec!["b".to_owned()],
            vec!["c".to_owned()]
        ]]
    );
    std::fs::write(src.join("c.rs"), "// crate::a is only a comment\n").unwrap();
    assert!(crate_cycles(src).is_empty());
}
