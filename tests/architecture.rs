//! The rules of ARCHITECTURE.md that a reading of the sources can check: SQL only in the store,
//! screens that never see the app, and no two files of the workbench that import each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, relative to the repository root, with its text.
fn sources(dir: &str) -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).expect("read a source folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read a source file");
                let relative = path
                    .strip_prefix(root())
                    .expect("under the root")
                    .to_owned();
                out.insert(relative, text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root().join(dir), &mut out);
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

#[test]
fn sql_runs_only_under_the_store() {
    let calls = [
        ".execute(",
        ".prepare(",
        ".prepare_cached(",
        ".query_row(",
        ".execute_batch(",
    ];
    let mut found = Vec::new();
    for (path, text) in sources("core/src") {
        if path.starts_with("core/src/store") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if calls.iter().any(|c| line.contains(c)) {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside core/src/store:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_screen_names_the_app() {
    let named: Vec<String> = sources("ui/src/views")
        .into_iter()
        .filter(|(_, text)| text.contains("KilnApp"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(named.is_empty(), "screens that name KilnApp: {named:?}");
}

/// The workbench's file that module path `module` (as in `crate::views::data`) names.
fn file_of(module: &[&str]) -> Option<PathBuf> {
    let mut path = PathBuf::from("ui/src");
    for part in module {
        path.push(part);
    }
    let file = path.with_extension("rs");
    if root().join(&file).is_file() {
        return Some(file);
    }
    let dir = path.join("mod.rs");
    root().join(&dir).is_file().then_some(dir)
}

#[test]
fn no_two_workbench_files_import_each_other() {
    let files = sources("ui/src");
    let mut imports: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (path, text) in &files {
        // This file's own module path, for `super::`.
        let parent: Vec<String> = path
            .strip_prefix("ui/src")
            .expect("under ui/src")
            .parent()
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        // Modules brought in whole (`use crate::views;`) are then named bare (`views::data`).
        let mut prefixes = vec![
            ("crate::".to_owned(), Vec::new()),
            ("super::".to_owned(), parent),
        ];
        for line in text.lines() {
            if let Some(name) = line
                .trim()
                .strip_prefix("use crate::")
                .and_then(|r| r.strip_suffix(';'))
                && name.chars().all(|c| c.is_lowercase() || c == '_')
            {
                prefixes.push((format!("{name}::"), vec![name.to_owned()]));
            }
        }
        let mut targets = BTreeSet::new();
        for (prefix, base) in &prefixes {
            for (i, _) in text.match_indices(prefix) {
                let rest = &text[i + prefix.len()..];
                let words: Vec<&str> = rest
                    .split("::")
                    .map(|w| {
                        w.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .next()
                            .unwrap_or("")
                    })
                    .take_while(|w| {
                        !w.is_empty() && w.chars().all(|c| c.is_lowercase() || c == '_')
                    })
                    .collect();
                // The deepest module named: `crate::views::data::describe` is views/data.rs.
                // A bare name must stand alone: `views::` but not `crate::views::` again.
                if prefix != "crate::" && prefix != "super::" && text[..i].ends_with("::") {
                    continue;
                }
                let mut module: Vec<&str> = base.iter().map(String::as_str).collect();
                let mut best = None;
                for word in words {
                    module.push(word);
                    if let Some(file) = file_of(&module) {
                        best = Some(file);
                    }
                }
                if let Some(file) = best
                    && file != *path
                {
                    targets.insert(file);
                }
            }
        }
        imports.insert(path.clone(), targets);
    }
    let mut cycles = Vec::new();
    for (a, targets) in &imports {
        for b in targets {
            if a < b && imports.get(b).is_some_and(|t| t.contains(a)) {
                cycles.push(format!("{} <-> {}", a.display(), b.display()));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "files that import each other:\n{}",
        cycles.join("\n")
    );
    // The check sees imports: the app imports the screens, and a screen its frame.
    assert!(imports[Path::new("ui/src/app.rs")].contains(Path::new("ui/src/views/mod.rs")));
    assert!(imports[Path::new("ui/src/views/data.rs")].contains(Path::new("ui/src/screen.rs")));
}
