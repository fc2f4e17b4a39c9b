//! Errors of the project store. Each says which file, what is wrong, and what to do.

use std::io;
use std::path::PathBuf;

use rusqlite::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} needs an open project: open or create one first")]
    NotOpen { what: String },

    #[error("{}: no such project file; create one with `kiln new {}`", path.display(), path.display())]
    NotFound { path: PathBuf },

    #[error("{}: a file already exists there; choose another name", path.display())]
    AlreadyExists { path: PathBuf },

    #[error("{}: not a Kiln project: {reason}", path.display())]
    NotAProject { path: PathBuf, reason: String },

    #[error(
        "{}: the project file is damaged ({reason}); nothing was changed. `kiln repair {} --out NEW.kiln` copies what is still readable into a new project, or restore it from a copy",
        path.display(), path.display()
    )]
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

    #[error(
        "{}: {reason}; Kiln never writes over a project or over a command's own input: choose another output path",
        path.display()
    )]
    ProtectedOutput { path: PathBuf, reason: String },

    #[error("{}: the file already exists; pass --force to replace it, or choose another path", path.display())]
    OutputExists { path: PathBuf },

    #[error("{}: opened read-only, so it cannot be changed", path.display())]
    ReadOnly { path: PathBuf },

    #[error("{}: {source}{}", path.display(), io_advice(source))]
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

/// What to do about an OS error, in a few words, for the common kinds.
pub fn io_advice(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "; you may not write there: check the file's and the folder's permissions, or work on a copy in a folder you own"
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            "; the file system is read-only: work on a copy in a writable folder"
        }
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            "; the disk is full: free some space and try again (nothing was changed)"
        }
        io::ErrorKind::NotFound => "; check the path",
        io::ErrorKind::IsADirectory => "; it is a folder: give a file name",
        _ => "",
    }
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
            Some(ErrorCode::DiskFull) => StoreError::Io {
                path,
                source: io::Error::new(io::ErrorKind::StorageFull, "the disk is full"),
            },
            Some(ErrorCode::ReadOnly) | Some(ErrorCode::PermissionDenied) => StoreError::Io {
                path,
                source: io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "the file or its folder cannot be written",
                ),
            },
            Some(ErrorCode::SystemIoFailure) => StoreError::Io {
                path,
                source: io::Error::other(format!("the disk failed to read or write ({e})")),
            },
            _ => StoreError::Sqlite { path, source: e },
        }
    }
}
