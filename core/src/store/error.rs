//! Errors of the project store. Each says which file, what is wrong, and what to do.

use std::io;
use std::path::PathBuf;

use rusqlite::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: no such project file; create one with `kiln new {}`", path.display(), path.display())]
    NotFound { path: PathBuf },

    #[error("{}: a file already exists there; choose another name", path.display())]
    AlreadyExists { path: PathBuf },

    #[error("{}: not a Kiln project: {reason}", path.display())]
    NotAProject { path: PathBuf, reason: String },

    #[error("{}: the project file is damaged: {reason}; restore it from a copy", path.display())]
    Corrupt { path: PathBuf, reason: String },

    #[error(
        "{}: written by Kiln {written_by} in project format {found}; this is Kiln {ours}, which reads formats up to {supported}; upgrade Kiln to open it",
        path.display(), ours = crate::KILN_VERSION
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
        written_by: String,
    },

    #[error(
        "{}: project format {found} predates this Kiln's format {supported}; open it once for writing to upgrade it",
        path.display()
    )]
    NeedsUpgrade {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error(
        "{}: the project is open for writing in another process (a Kiln window or command); close it there first, or open it read-only",
        path.display()
    )]
    Locked { path: PathBuf },

    #[error("{}: opened read-only, so it cannot be changed", path.display())]
    ReadOnly { path: PathBuf },

    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error("{}: {what} {id} does not exist", path.display())]
    Missing {
        path: PathBuf,
        what: &'static str,
        id: String,
    },

    #[error("{}: the metric logger stopped: {reason}", path.display())]
    LoggerStopped { path: PathBuf, reason: String },
}

impl StoreError {
    /// Maps an SQLite failure on `path` to the error a user can act on.
    pub(crate) fn from_sqlite(path: &std::path::Path, e: rusqlite::Error) -> StoreError {
        let path = path.to_owned();
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                reason: "SQLite reports a malformed database".into(),
            },
            Some(ErrorCode::NotADatabase) => StoreError::NotAProject {
                path,
                reason: "it is not an SQLite database".into(),
            },
            Some(ErrorCode::CannotOpen) => StoreError::Io {
                path,
                source: io::Error::other("cannot open the file (check the folder and permissions)"),
            },
            _ => StoreError::Sqlite { path, source: e },
        }
    }
}
