//! What the end-to-end tests of the `kiln` binary share: running it, reading what it printed,
//! and a small trained project to start from.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("run kiln")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs kiln and insists that it succeeds, showing what it printed when it does not.
pub fn kiln_ok(args: &[&str]) -> String {
    let out = kiln(args);
    assert!(
        out.status.success(),
        "kiln {args:?} failed ({:?}):\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

pub fn asset(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name);
    path.to_str().expect("utf-8 asset path").to_owned()
}

/// A search space that trains in a moment: `trials` trials of a few epochs.
pub fn quick_space(dir: &Path, trials: usize, epochs: usize) -> PathBuf {
    let rates: Vec<String> = (0..trials)
        .map(|i| format!("{}", 0.01 * (i + 1) as f64))
        .collect();
    let space = dir.join(format!("space-{trials}x{epochs}.toml"));
    std::fs::write(
        &space,
        format!(
            "learning_rate = [{}]\nbatch_size = 32\nepochs = {epochs}\nhidden = [8]\n",
            rates.join(", ")
        ),
    )
    .expect("space");
    space
}

/// `kiln train FILE` on the penguins with the search space at `space`, on the CPU.
pub fn train_args<'a>(file: &'a str, space: &'a str) -> [&'a str; 8] {
    [
        "train",
        file,
        "--dataset",
        "penguins",
        "--space",
        space,
        "--device",
        "cpu",
    ]
}

/// A new project at `file` with the penguins imported.
pub fn penguins_project(file: &Path) {
    let f = path_str(file);
    kiln_ok(&["new", f]);
    kiln_ok(&["import", f, &asset("penguins.csv")]);
}

/// The penguins CSV made `rows` rows long by repeating its rows, written to `path`.
pub fn big_csv(path: &Path, rows: usize) {
    let source = std::fs::read_to_string(asset("penguins.csv")).expect("csv");
    let mut lines = source.lines();
    let mut out = String::from(lines.next().expect("header"));
    out.push('\n');
    let body: Vec<&str> = lines.collect();
    for i in 0..rows {
        out.push_str(body[i % body.len()]);
        out.push('\n');
    }
    std::fs::write(path, out).expect("big csv");
}

/// A project with the penguins imported, a two-trial study trained on the CPU, and its first
/// run registered as `penguins` version 1 with the alias `champion`.
pub fn trained_project(dir: &Path) -> PathBuf {
    let file = dir.join("base.kiln");
    let f = path_str(&file);
    penguins_project(&file);
    let space = quick_space(dir, 2, 3);
    kiln_ok(&train_args(f, path_str(&space)));
    kiln_ok(&[
        "register", f, "1", "--model", "penguins", "--alias", "champion",
    ]);
    file
}

/// Counts of what a project holds, from `kiln info --json`.
pub fn info(file: &Path) -> serde_json::Value {
    let out = kiln_ok(&["info", "--json", path_str(file)]);
    serde_json::from_str(&out).expect("info json")
}

/// The sha256-free fingerprint of a file: its bytes.
pub fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}
