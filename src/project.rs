//! Opening the project a command names, and running an operation on it in the foreground: the
//! same operations the window runs as jobs.

use std::path::Path;

use kiln_core::Project;
use kiln_core::service::{Operation, Outcome};
use kiln_core::train::TrainOptions;

/// `file`, opened for writing.
pub fn open(file: &Path) -> Result<Project, String> {
    Project::open(file).map_err(|e| e.to_string())
}

/// `file`, opened only to read (it may be open for writing elsewhere).
pub fn open_read_only(file: &Path) -> Result<Project, String> {
    Project::open_read_only(file).map_err(|e| e.to_string())
}

/// Runs `operation` on the project `file` in the foreground.
pub fn run_here(file: &Path, operation: Operation) -> Result<Outcome, String> {
    let mut project = open(file)?;
    operation
        .run(&mut project, &TrainOptions::default())
        .map_err(|e| e.to_string())
}

/// What a command says if an operation ended in another outcome than its own: a bug, but a
/// message rather than a crash.
pub fn unexpected(what: &str, outcome: &Outcome) -> String {
    let kind = format!("{outcome:?}");
    let kind = kind.split(['(', ' ', '{']).next().unwrap_or("");
    format!("{what} ended in an unexpected outcome ({kind}); please report it")
}
