//! The shape of `src/`, checked: no file imports from a file that imports it back (directly or
//! through a chain), and only the command line knows clap.
//!
//! # What counts as an import
//! Every `.rs` file under `src/` is a module: `src/lib.rs` is the library's root (`crate`),
//! `src/a.rs` and `src/a/mod.rs` are `crate::a`, `src/a/b.rs` is `crate::a::b`; `src/main.rs` is
//! the root of the binary, where `crate::...` means the binary itself and `replay::...` the
//! library. Inline modules (`mod tests { ... }`, `#[cfg(test)] mod limits { ... }`) belong to the
//! file they are written in: their imports count as that file's (so test code is held to the
//! same rule), and `super` inside them is resolved from the inline module, as the compiler does.
//!
//! An import is a path in code (comments, doc comments, string and char literals are skipped)
//! that starts with `crate::`, `super::` or `self::` (and, in `main.rs`, `replay::`), or with
//! the name of a child module the file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`
//! written in the file: `x::Y` is `self::x::Y`): in a `use` item, nested groups included (`use
//! crate::{a::X, b::{Y, Z}}` is `crate::a::X`, `crate::b::Y` and `crate::b::Z`; `pub use
//! x::Y` and `use x::{Y, Z}` re-exporting a child's items are imports of the child), or inline
//! (`crate::a::b::f(...)`, `super::x::Y`, `bump::ENTRY` in `alloc/mod.rs`'s `ALL`). So a
//! `mod.rs` that names a child's items imports that child, and that child may then not import
//! anything of the `mod.rs` back (`use super::Strategy`): what the children share lives in a
//! sibling file they import directly. A child name counts in the file's inline modules too
//! (where `use super::*` brings it in). Only the `mod x;` declaration itself is not an import:
//! a `mod.rs` may declare children that import it (as `#[cfg(test)] mod reference;` does) as
//! long as it names nothing of theirs. A path that starts with any other name (an external
//! crate, an imported item, a local) is not an import. A path resolves to the file of its
//! longest prefix that is a file's module (so an item, or an inline module, of `alloc/mod.rs`
//! resolves to `alloc/mod.rs`, and an item that `mod.rs` re-exports resolves to `mod.rs` too).
//! Edges from a file to itself are dropped.
//!
//! `cargo test --release --test architecture -- --nocapture` prints the graph, `file ->
//! [files]`, one line per file, sorted; it is also written to `module-graph.txt` in
//! `CARGO_TARGET_TMPDIR` (`target/tmp/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file, by its path relative to the crate root (`src/alloc/mod.rs`).
type File = String;
/// A module path: `["alloc", "freelist"]` is `crate::alloc::freelist`. Roots are `[]` (the
/// library) and `["<main>"]` (the binary).
type ModPath = Vec<String>;

const MAIN_ROOT: &str = "<main>";
/// The library's name, as the binary's paths spell it.
const LIB_NAME: &str = "replay";

// ---------------------------------------------------------------------------------------------
// Reading the files

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file, given its path relative to `src/` (`alloc/mod.rs`).
fn module_of(relative: &Path) -> ModPath {
    let parts: Vec<String> =
        relative.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>();
    if parts == ["main.rs"] {
        return vec![MAIN_ROOT.to_string()];
    }
    let mut path: ModPath = parts.clone();
    let last = path.pop().expect("a file name");
    let stem = last.strip_suffix(".rs").expect("a .rs file").to_string();
    if !(stem == "mod" || (stem == "lib" && path.is_empty())) {
        path.push(stem);
    }
    path
}

// ---------------------------------------------------------------------------------------------
// A small Rust lexer: just enough to find paths in code

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// An identifier or keyword (`crate`, `use`, `mod`...); raw identifiers without `r#`.
    Ident(String),
    /// `::`
    PathSep,
    /// Any other punctuation character (`{`, `}`, `,`, `;`, `*`, `$`...).
    Punct(char),
    /// A literal (number, string, char): its content never matters here.
    Literal,
}

/// The tokens of `src`, comments, strings and char literals left out (a literal becomes one
/// [`Tok::Literal`]). Lifetimes and labels are left out too.
fn tokens(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let n = c.len();
    let at = |i: usize| if i < n { c[i] } else { '\0' };
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < n && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            while i < n {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1);
            out.push(Tok::Literal);
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // An escaped char literal: '\n', '\'', '\u{1F600}'.
                i += 3;
                while i < n && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(Tok::Literal);
            } else if at(i + 2) == '\'' {
                i += 3;
                out.push(Tok::Literal);
            } else {
                // A lifetime or a label: skip the quote and the name.
                i += 1;
                while i < n && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_ascii_digit() {
            while i < n && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Literal);
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < n && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // String-like literals with a prefix: b"..", c"..", r"..", r#".."#, br#".."#, b'x'.
            let raw = matches!(word.as_str(), "r" | "br" | "cr");
            if raw && (at(i) == '"' || at(i) == '#') {
                let mut hashes = 0;
                let mut j = i;
                while at(j) == '#' {
                    hashes += 1;
                    j += 1;
                }
                if at(j) == '"' {
                    i = skip_raw_string(&c, j + 1, hashes);
                    out.push(Tok::Literal);
                    continue;
                }
                if word == "r" && hashes == 1 {
                    // A raw identifier, r#type.
                    let s = j;
                    while j < n && (c[j].is_alphanumeric() || c[j] == '_') {
                        j += 1;
                    }
                    out.push(Tok::Ident(c[s..j].iter().collect()));
                    i = j;
                    continue;
                }
            }
            if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_string(&c, i + 1);
                out.push(Tok::Literal);
                continue;
            }
            if word == "b" && at(i) == '\'' {
                i += 1;
                if at(i) == '\\' {
                    i += 1;
                }
                i += 1;
                while i < n && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(Tok::Literal);
                continue;
            }
            out.push(Tok::Ident(word));
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// The index just past the `"` closing a string whose content starts at `i`.
fn skip_string(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The index just past the `"` and `hashes` `#` closing a raw string whose content starts at `i`.
fn skip_raw_string(c: &[char], mut i: usize, hashes: usize) -> usize {
    while i < c.len() {
        if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

// ---------------------------------------------------------------------------------------------
// Finding the paths

/// One path that starts with `crate`, `super`, `self` (or the library's name in `main.rs`),
/// resolved to an absolute module path (the item's name included, if any).
fn references(src: &str, module: &ModPath) -> Vec<ModPath> {
    let toks = tokens(src);
    let in_main = module.first().is_some_and(|m| m == MAIN_ROOT);
    let root: ModPath = if in_main { vec![MAIN_ROOT.to_string()] } else { Vec::new() };
    let mut out = Vec::new();
    // Inline modules open at the brace depth they were opened at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let current = |inline: &[(String, usize)]| {
        let mut m = module.clone();
        m.extend(inline.iter().map(|(name, _)| name.clone()));
        m
    };
    let ident = |i: usize| match toks.get(i) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    let children = child_modules(&toks);
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
                i += 1;
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(name), Some(Tok::Punct('{'))) = (ident(i + 1), toks.get(i + 2)) {
                    depth += 1;
                    inline.push((name.to_string(), depth));
                    i += 3;
                } else {
                    i += 1;
                }
            }
            Tok::Ident(w) if w == "use" => {
                let here = current(&inline);
                let mut paths = Vec::new();
                let end = use_tree(&toks, i + 1, Vec::new(), &mut paths);
                for p in paths {
                    if let Some(abs) = absolute(&p, &here, &root, in_main, module, &children) {
                        out.push(abs);
                    }
                }
                i = end;
            }
            Tok::Ident(w)
                if matches!(w.as_str(), "crate" | "super" | "self")
                    || (in_main && w == LIB_NAME)
                    || children.contains(w) =>
            {
                // An inline path; `$crate` in a macro is the crate too. A path continuing
                // another (`x::crate`, `Self::tree::X`) is not a path of its own.
                let after_sep = i > 0 && toks[i - 1] == Tok::PathSep;
                let mut segs = vec![w.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::PathSep) {
                    match ident(j + 1) {
                        Some(s) => {
                            segs.push(s.to_string());
                            j += 2;
                        }
                        None => break,
                    }
                }
                if !after_sep && segs.len() > 1 {
                    let here = current(&inline);
                    if let Some(abs) = absolute(&segs, &here, &root, in_main, module, &children) {
                        out.push(abs);
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// Parse the use tree starting at `i` under `prefix`, pushing every leaf path (a glob is its
/// module's path; `self` in a group is the group's prefix; `as` renames are dropped). Returns
/// the index just past the tree (past the `;` at the top level).
fn use_tree(
    toks: &[Tok],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    if toks.get(i) == Some(&Tok::PathSep) {
        // `use ::std::x`: an external crate.
        i += 1;
        prefix.push("::".to_string());
    }
    loop {
        match toks.get(i) {
            Some(Tok::Ident(s)) if s == "self" && !prefix.is_empty() => {
                i += 1;
            }
            Some(Tok::Ident(s)) => {
                prefix.push(s.clone());
                i += 1;
            }
            Some(Tok::Punct('*')) => {
                i += 1;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Punct('}')) => {
                            i += 1;
                            break;
                        }
                        Some(Tok::Punct(',')) => i += 1,
                        None => return i,
                        _ => i = use_tree(toks, i, prefix.clone(), out),
                    }
                }
                // A group is the end of its tree.
                if toks.get(i) == Some(&Tok::Punct(';')) {
                    i += 1;
                }
                return i;
            }
            _ => {}
        }
        match toks.get(i) {
            Some(Tok::PathSep) => i += 1,
            Some(Tok::Ident(s)) if s == "as" => {
                // `as name` (or `as _`).
                i += 2;
            }
            Some(Tok::Punct(';')) => {
                out.push(prefix);
                return i + 1;
            }
            _ => {
                // `,` or `}` of the enclosing group, or the end.
                out.push(prefix);
                return i;
            }
        }
    }
}

/// The child modules a file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`: a `mod`
/// followed by a name and `;`, so not an inline `mod x { ... }`), by name.
fn child_modules(toks: &[Tok]) -> BTreeSet<String> {
    toks.windows(3)
        .filter_map(|w| match w {
            [Tok::Ident(m), Tok::Ident(name), Tok::Punct(';')] if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The absolute module path of `path`, written in the module `here` (of the file whose module
/// is `file`, which declares the child modules `children`) whose crate root is `root`; `None`
/// for a path into another crate. A path starting with a child's name (`bump::ENTRY`) is that
/// child's, from any inline module of the file too (where `use super::*` brings the name in).
fn absolute(
    path: &[String],
    here: &ModPath,
    root: &ModPath,
    in_main: bool,
    file: &ModPath,
    children: &BTreeSet<String>,
) -> Option<ModPath> {
    let first = path.first()?;
    let mut abs: ModPath;
    let mut rest = &path[1..];
    match first.as_str() {
        "crate" => abs = root.clone(),
        LIB_NAME if in_main => abs = Vec::new(),
        "self" => abs = here.clone(),
        "super" => {
            abs = here.clone();
            abs.pop();
        }
        child if children.contains(child) => {
            abs = file.clone();
            rest = path;
        }
        _ => return None,
    }
    while let Some(seg) = rest.first() {
        match seg.as_str() {
            "super" => {
                abs.pop();
            }
            "self" => {}
            _ => break,
        }
        rest = &rest[1..];
    }
    abs.extend(rest.iter().cloned());
    Some(abs)
}

// ---------------------------------------------------------------------------------------------
// The graph

struct Crate {
    /// Module path -> file.
    files: BTreeMap<ModPath, File>,
    /// File -> the files it imports from.
    graph: BTreeMap<File, BTreeSet<File>>,
    /// File -> its code's tokens (for the clap check).
    tokens: BTreeMap<File, Vec<Tok>>,
}

fn read_crate() -> Crate {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for path in rust_files(&src) {
        let relative = path.strip_prefix(&src).expect("under src/");
        let name = format!("src/{}", relative.display());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        files.insert(module_of(relative), name.clone());
        texts.insert(name, text);
    }
    let mut graph = BTreeMap::new();
    let mut toks = BTreeMap::new();
    for (module, file) in &files {
        let text = &texts[file];
        let mut to = BTreeSet::new();
        for path in references(text, module) {
            if let Some(target) = resolve(&files, &path) {
                if target != *file {
                    to.insert(target);
                }
            }
        }
        graph.insert(file.clone(), to);
        toks.insert(file.clone(), tokens(text));
    }
    Crate { files, graph, tokens: toks }
}

/// The file of the longest prefix of `path` that is a file's module.
fn resolve(files: &BTreeMap<ModPath, File>, path: &ModPath) -> Option<File> {
    (0..=path.len()).rev().find_map(|n| files.get(&path[..n]).cloned())
}

/// The graph as text: `file -> [files]`, one line per file, sorted.
fn graph_text(graph: &BTreeMap<File, BTreeSet<File>>) -> String {
    graph
        .iter()
        .map(|(from, to)| {
            format!("{from} -> [{}]\n", to.iter().cloned().collect::<Vec<_>>().join(", "))
        })
        .collect()
}

/// Every elementary cycle of `graph`, each as a chain of files starting and ending at its
/// smallest file, sorted. (Each cycle is found once: from its smallest file, through larger
/// files only.) At most `limit` cycles.
fn cycles(graph: &BTreeMap<File, BTreeSet<File>>, limit: usize) -> Vec<Vec<File>> {
    fn walk(
        graph: &BTreeMap<File, BTreeSet<File>>,
        start: &File,
        path: &mut Vec<File>,
        out: &mut Vec<Vec<File>>,
        limit: usize,
    ) {
        let last = path.last().expect("a path").clone();
        for next in graph.get(&last).into_iter().flatten() {
            if out.len() >= limit {
                return;
            }
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.clone());
                out.push(cycle);
            } else if next > start && !path.contains(next) {
                path.push(next.clone());
                walk(graph, start, path, out, limit);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    for start in graph.keys() {
        walk(graph, start, &mut vec![start.clone()], &mut out, limit);
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// The checks

#[test]
fn no_file_of_src_imports_from_a_file_that_imports_it_back() {
    let krate = read_crate();
    let found = cycles(&krate.graph, 200);
    let listed: Vec<String> = found.iter().map(|c| c.join(" -> ")).collect();
    assert!(
        found.is_empty(),
        "{} import cycle(s) among the files of src/ (see the docs of tests/architecture.rs for \
         what counts as an import):\n  {}\n",
        found.len(),
        listed.join("\n  ")
    );
}

#[test]
fn only_the_command_line_knows_clap() {
    // The files that may name clap or the clap argument structs of src/cli.rs.
    const ALLOWED: [&str; 3] = ["src/cli.rs", "src/main.rs", "src/commands.rs"];
    let krate = read_crate();
    let mut offenders = Vec::new();
    for (file, toks) in &krate.tokens {
        if ALLOWED.contains(&file.as_str()) {
            continue;
        }
        let names_clap = toks.contains(&Tok::Ident("clap".to_string()));
        let imports_cli = krate.graph[file].contains("src/cli.rs");
        match (names_clap, imports_cli) {
            (true, true) => offenders.push(format!("{file}: names clap and imports src/cli.rs")),
            (true, false) => offenders.push(format!("{file}: names clap")),
            (false, true) => offenders.push(format!("{file}: imports src/cli.rs")),
            (false, false) => {}
        }
    }
    assert!(
        offenders.is_empty(),
        "only {} may know clap (the library must be usable without the CLI):\n  {}\n",
        ALLOWED.join(", "),
        offenders.join("\n  ")
    );
}

/// Prints the module graph (`-- --nocapture`) and writes it to `module-graph.txt` in
/// `CARGO_TARGET_TMPDIR`, for the closing note of a change to the layout.
#[test]
fn the_module_graph_is_printed_for_the_record() {
    let krate = read_crate();
    let text = graph_text(&krate.graph);
    println!("module graph of src/ (file -> the files it imports from):\n{text}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-graph.txt");
    std::fs::write(&out, &text).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    // Every file is a node, and every edge leads to a file of src/.
    assert_eq!(krate.graph.len(), krate.files.len());
    for to in krate.graph.values() {
        assert!(to.iter().all(|f| krate.graph.contains_key(f)));
    }
}

// ---------------------------------------------------------------------------------------------
// The checker checked: hand-made files with known edges

/// The references of `src` written in module `module` (`"alloc::tlsf"`), as `a::b` strings.
fn refs(src: &str, module: &str) -> Vec<String> {
    let module: ModPath = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_string).collect()
    };
    references(src, &module).into_iter().map(|p| p.join("::")).collect()
}

#[test]
fn use_items_are_read_with_their_nested_groups_globs_and_renames() {
    let src = "use crate::{a::X, b::{Y, z::{self, W as V}}};\nuse super::*;\nuse self::c::D;\n\
               pub(crate) use super::super::e::F as _;\nuse std::fmt;\nuse ::core::mem;";
    assert_eq!(refs(src, "m::n"), ["a::X", "b::Y", "b::z", "b::z::W", "m", "m::n::c::D", "e::F"]);
}

#[test]
fn inline_paths_count_and_comments_strings_and_chars_do_not() {
    let src = r####"
        // use crate::comment::X;
        /// crate::doc::Y
        /* nested /* crate::block::Z */ crate::still_comment::Z */
        fn f() -> u8 {
            let s = "crate::string::S";
            let r = r#"crate::raw::R "quoted" "#;
            let b = b"crate::bytes";
            let c = '{';
            let q = '\'';
            let lifetime: &'static str = "x";
            crate::a::b::f();
            let x = super::x::Y::new();
            self::helper();
            Self::assoc();
            $crate::macro_path::M;
            0
        }
    "####;
    assert_eq!(refs(src, "m"), ["a::b::f", "x::Y::new", "m::helper", "macro_path::M"]);
}

#[test]
fn super_inside_an_inline_module_is_the_file_itself() {
    let src = "use super::Strategy;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    \
               use crate::alloc::limits;\n    mod deeper { use super::super::X; }\n}\n\
               use super::Y;";
    assert_eq!(
        refs(src, "alloc::tlsf"),
        ["alloc::Strategy", "alloc::tlsf", "alloc::limits", "alloc::tlsf::X", "alloc::Y"]
    );
}

#[test]
fn files_map_to_modules_and_paths_to_the_longest_file_prefix() {
    assert_eq!(module_of(Path::new("lib.rs")), Vec::<String>::new());
    assert_eq!(module_of(Path::new("main.rs")), [MAIN_ROOT]);
    assert_eq!(module_of(Path::new("alloc/mod.rs")), ["alloc"]);
    assert_eq!(module_of(Path::new("alloc/freelist/tree.rs")), ["alloc", "freelist", "tree"]);
    assert_eq!(module_of(Path::new("cli.rs")), ["cli"]);
    let files: BTreeMap<ModPath, File> = [
        (vec![], "src/lib.rs"),
        (vec!["alloc"], "src/alloc/mod.rs"),
        (vec!["alloc", "tlsf"], "src/alloc/tlsf.rs"),
    ]
    .into_iter()
    .map(|(m, f)| (m.into_iter().map(str::to_string).collect(), f.to_string()))
    .collect();
    let path = |p: &str| p.split("::").map(str::to_string).collect::<ModPath>();
    assert_eq!(resolve(&files, &path("alloc::tlsf::Tlsf::new")).unwrap(), "src/alloc/tlsf.rs");
    assert_eq!(resolve(&files, &path("alloc::limits::size")).unwrap(), "src/alloc/mod.rs");
    assert_eq!(resolve(&files, &path("Error")).unwrap(), "src/lib.rs");
}

#[test]
fn the_binary_reaches_the_library_by_its_name() {
    let main = vec![MAIN_ROOT.to_string()];
    let found: Vec<String> = references(
        "use replay::cli::{Cli, Command};\nfn main() { replay::cleanup::install(); crate::x(); }",
        &main,
    )
    .into_iter()
    .map(|p| p.join("::"))
    .collect();
    assert_eq!(found, ["cli::Cli", "cli::Command", "cleanup::install", "<main>::x"]);
}

#[test]
fn a_path_through_a_declared_child_module_is_an_import_of_the_child() {
    let src = "pub mod bump;\nmod tree;\n#[cfg(test)]\nmod reference;\nmod inline { }\n\
               pub use tree::{Cursor, FreeTree};\nuse bump::ENTRY as B;\n\
               pub static ALL: &[E] = &[bump::ENTRY, B];\n\
               fn f() { other::bump::X; inline::Y; self.tree.len(); x.tree::<u8>(); }\n\
               mod tests { use super::*; fn t() { tree::check(); } }";
    assert_eq!(
        refs(src, "alloc"),
        [
            "alloc::tree::Cursor",
            "alloc::tree::FreeTree",
            "alloc::bump::ENTRY",
            "alloc::bump::ENTRY",
            "alloc",
            "alloc::tree::check"
        ]
    );
}

#[test]
fn a_mod_rs_naming_its_child_that_uses_super_is_a_cycle() {
    // Hand-made files: `mod.rs` lists its child's entry, the child implements the trait that
    // `mod.rs` defines. Neither names the other by `crate::` or `super::` from `mod.rs`'s side.
    let files: BTreeMap<ModPath, File> =
        [(vec!["alloc"], "src/alloc/mod.rs"), (vec!["alloc", "bump"], "src/alloc/bump.rs")]
            .into_iter()
            .map(|(m, f)| (m.into_iter().map(str::to_string).collect(), f.to_string()))
            .collect();
    let texts = [
        (
            "src/alloc/mod.rs",
            "pub mod bump;\npub trait Strategy {}\npub static ALL: &[Entry] = &[bump::ENTRY];",
        ),
        ("src/alloc/bump.rs", "use super::Strategy;\npub const ENTRY: Entry = Entry;"),
    ];
    let mut graph: BTreeMap<File, BTreeSet<File>> = BTreeMap::new();
    for (module, file) in &files {
        let text = texts.iter().find(|(f, _)| f == file).expect("a text").1;
        let to = references(text, module)
            .iter()
            .filter_map(|p| resolve(&files, p))
            .filter(|target| target != file)
            .collect();
        graph.insert(file.clone(), to);
    }
    let found: Vec<String> = cycles(&graph, 10).iter().map(|c| c.join(" -> ")).collect();
    assert_eq!(found, ["src/alloc/bump.rs -> src/alloc/mod.rs -> src/alloc/bump.rs"]);
}

#[test]
fn a_cycle_is_listed_as_a_chain_of_files_and_each_once() {
    let graph: BTreeMap<File, BTreeSet<File>> =
        [("a", vec!["b"]), ("b", vec!["c", "a"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(f, to)| (f.to_string(), to.into_iter().map(str::to_string).collect()))
            .collect();
    let found: Vec<String> = cycles(&graph, 10).iter().map(|c| c.join(" -> ")).collect();
    assert_eq!(found, ["a -> b -> a", "a -> b -> c -> a"]);
    assert_eq!(graph_text(&graph), "a -> [b]\nb -> [a, c]\nc -> [a]\nd -> [a]\n");
}
