//! What a screen sees of the workbench in one frame, and what it may ask of it.
//!
//! A screen draws from a read-only [`Frame`] and pushes [`Command`]s; the app alone carries
//! them out between frames (starting jobs, asking queries, opening dialogs) and routes what
//! comes back to the screens it concerns. No screen reaches into the app or into another
//! screen.

use std::path::{Path, PathBuf};

use kiln_core::service::{JobInfo, Operation, Query, Snapshot};

/// Something a screen asks the app to do.
#[derive(Debug)]
pub enum Command {
    /// Start an operation as a job.
    Run(Operation),
    /// Read something that may take long, off the UI thread.
    Ask(Query),
    /// Open a native file dialog; the chosen path goes to the screen whose field it fills.
    Pick(Purpose),
    /// Stop the running job.
    Cancel,
    /// Open a folder in the desktop's file manager.
    OpenFolder(PathBuf),
    /// Drop a project from the recent list.
    Forget(PathBuf),
    Fail {
        context: String,
        error: String,
    },
}

/// What a native file dialog was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    NewProject,
    OpenProject,
    ImportFile,
    ImportFolder,
    ExportFolder,
    /// A batch for the Monitor screen to check.
    MonitorBatch,
    /// Traffic for the Deploy screen to replay.
    ReplayTraffic,
}

/// The open project, as screens see it.
#[derive(Debug, Clone, Copy)]
pub struct ProjectRef<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    /// Another process holds the writer: this window only follows.
    pub read_only: bool,
}

/// One frame's view of the workbench for a screen.
pub struct Frame<'a> {
    pub project: Option<ProjectRef<'a>>,
    /// What the lists show, as last re-read.
    pub snapshot: &'a Snapshot,
    /// Counts the snapshots received: what a screen derives from one stays true until it moves.
    pub generation: u64,
    /// The job in flight, if any: while one runs, the project's writer is busy.
    pub job: Option<&'a JobInfo>,
    pub recent: &'a [PathBuf],
    /// Where the last export went, the first guess for the next.
    pub export_dir: Option<&'a Path>,
    commands: &'a mut Vec<Command>,
}

impl<'a> Frame<'a> {
    pub fn new(
        project: Option<ProjectRef<'a>>,
        snapshot: (&'a Snapshot, u64),
        job: Option<&'a JobInfo>,
        recent: &'a [PathBuf],
        export_dir: Option<&'a Path>,
        commands: &'a mut Vec<Command>,
    ) -> Frame<'a> {
        let (snapshot, generation) = snapshot;
        Frame {
            project,
            snapshot,
            generation,
            job,
            recent,
            export_dir,
            commands,
        }
    }

    /// Whether a job runs: buttons that start one are disabled meanwhile.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Whether the open project can be written from this window.
    pub fn writable(&self) -> bool {
        self.project.is_some_and(|p| !p.read_only)
    }

    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    pub fn run(&mut self, operation: Operation) {
        self.send(Command::Run(operation));
    }

    pub fn fail(&mut self, context: impl Into<String>, error: impl std::fmt::Display) {
        self.send(Command::Fail {
            context: context.into(),
            error: error.to_string(),
        });
    }
}
