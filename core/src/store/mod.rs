//! The project store: one project is one SQLite file (`*.kiln`) that can be copied, mailed or
//! versioned like a document.
//!
//! The file runs in WAL mode with foreign keys on. Opening it for writing takes an exclusive
//! advisory lock on the file, so a second writer (another window, another command) is refused
//! with a message instead of interleaving with the first. Readers take no lock: the GUI can
//! follow a project that a `kiln train` in a terminal is writing.
//!
//! Every write that matters is one transaction; a crash loses at most the work in flight.

mod blobs;
pub(crate) mod datasets;
mod error;
pub(crate) mod evaluations;
pub(crate) mod exports;
mod file;
pub(crate) mod monitoring;
pub(crate) mod registry;
mod repair;
pub(crate) mod replays;
pub(crate) mod runs;
pub mod schema;
pub(crate) mod studies;
pub(crate) mod sync;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use blobs::BlobHash;
pub(crate) use blobs::insert_blob;
pub use error::{StoreError, io_advice};
pub(crate) use file::WriteLock;
pub use file::{
    PROJECT_EXTENSION, file_name, folder_of, has_project_extension, is_project_file,
    remove_dead_leftovers, same_file, with_project_extension,
};
pub use repair::{RepairReport, TableLoss, repair};

use crate::{KILN_VERSION, Result, now_ms};

/// How long a statement waits for another connection's write before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a [`Project`] may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Exclusive writer: holds the project's write lock.
    ReadWrite,
    /// Takes no lock and never writes; sees what the writer commits.
    ReadOnly,
}

/// An open project file.
pub struct Project {
    // Field order matters: the connection must close before the lock is released.
    conn: Connection,
    path: PathBuf,
    mode: OpenMode,
    lock: Option<Arc<WriteLock>>,
    /// Set once the file passed its checks: only then may closing remember it as sound.
    sound: bool,
}

/// What a project holds, in counts: the answer to `kiln info`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectInfo {
    pub name: String,
    pub created_at: i64,
    pub format: u32,
    pub written_by: String,
    pub datasets: u64,
    pub dataset_batches: u64,
    pub experiments: u64,
    pub studies: u64,
    pub runs: u64,
    pub metric_points: u64,
    pub models: u64,
    pub model_versions: u64,
    pub exports: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
}

impl Project {
    /// Creates a new, empty project at `path`, named `name`.
    ///
    /// The file is built under a temporary name beside `path` and linked into place only when
    /// complete, so a crash never leaves a half-made project, and an existing file is never
    /// overwritten.
    pub fn create(path: impl AsRef<Path>, name: &str) -> Result<Project> {
        let path = path.as_ref();
        if path.exists() {
            return Err(StoreError::AlreadyExists {
                path: path.to_owned(),
            }
            .into());
        }
        file::remove_stale_staging(path);
        let staging = file::staging_path(path);
        let built = build_new_file(&staging, name);
        let placed = built.and_then(|()| file::place_without_clobbering(&staging, path));
        file::remove_staging(&staging);
        placed?;
        Project::open(path)
    }

    /// Opens an existing project for writing, upgrading its format if it is older.
    pub fn open(path: impl AsRef<Path>) -> Result<Project> {
        let path = path.as_ref().to_owned();
        file::check_header(&path)?;
        let lock = Arc::new(WriteLock::acquire(&path)?);
        let conn = connect(&path, OpenMode::ReadWrite)?;
        let mut project = Project {
            conn,
            path,
            mode: OpenMode::ReadWrite,
            lock: Some(lock),
            sound: false,
        };
        project.check_identity()?;
        project.verify()?;
        project.upgrade()?;
        project.close_interrupted_work()?;
        project.sound = true;
        Ok(project)
    }

    /// Opens an existing project to read it, without a lock: another process may be writing.
    ///
    /// A damaged file is refused here (SQLite's `quick_check`), so that a reader never shows
    /// part of a project as if it were all of it.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Project> {
        let project = Project::open_read_only_unverified(path)?;
        project.verify()?;
        Ok(project)
    }

    /// [`Project::open_read_only`] without the damage check: for a second handle on a file that
    /// was just verified (the window's reader thread), where the check would only cost time.
    pub fn open_read_only_unverified(path: impl AsRef<Path>) -> Result<Project> {
        let path = path.as_ref().to_owned();
        file::check_header(&path)?;
        let conn = connect(&path, OpenMode::ReadOnly)?;
        let project = Project {
            conn,
            path,
            mode: OpenMode::ReadOnly,
            lock: None,
            sound: false,
        };
        project.check_identity()?;
        let format = project.format()?;
        if format < schema::latest_format() {
            return Err(StoreError::NeedsUpgrade {
                path: project.path.clone(),
                found: format,
                supported: schema::latest_format(),
            }
            .into());
        }
        Ok(project)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads back JSON this project stored; text that no longer parses means the file was
    /// damaged, and says which record (`what`).
    pub(crate) fn stored_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        json: &str,
    ) -> Result<T> {
        serde_json::from_str(json).map_err(|e| {
            StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("{what} cannot be read: {e}"),
            }
            .into()
        })
    }

    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    /// The project's display name.
    pub fn name(&self) -> Result<String> {
        self.read(|c| c.query_row("SELECT name FROM project", [], |r| r.get(0)))
    }

    /// Counts of everything the project holds.
    pub fn info(&self) -> Result<ProjectInfo> {
        let format = self.format()?;
        self.read(|c| {
            let count = |sql: &str| -> rusqlite::Result<u64> {
                c.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .map(|n| n.max(0) as u64)
            };
            let (name, created_at) =
                c.query_row("SELECT name, created_at FROM project", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            Ok(ProjectInfo {
                name,
                created_at,
                format,
                written_by: meta(c, "written_by")?.unwrap_or_default(),
                datasets: count("SELECT count(*) FROM datasets")?,
                dataset_batches: count("SELECT count(*) FROM dataset_batches")?,
                experiments: count("SELECT count(*) FROM experiments")?,
                studies: count("SELECT count(*) FROM studies")?,
                runs: count("SELECT count(*) FROM runs")?,
                // The kept summaries' counts: the same number, without reading every point.
                metric_points: count("SELECT coalesce(sum(points), 0) FROM metric_summaries")?,
                models: count("SELECT count(*) FROM registered_models")?,
                model_versions: count("SELECT count(*) FROM model_versions")?,
                exports: count("SELECT count(*) FROM exports")?,
                blobs: count("SELECT count(*) FROM blobs")?,
                blob_bytes: count("SELECT coalesce(sum(size), 0) FROM blobs")?,
            })
        })
    }

    /// Runs SQLite's full integrity check: `Ok(())` when the file is sound, otherwise the
    /// problems it found.
    pub fn check_integrity(&self) -> Result<()> {
        self.run_check("integrity_check")
    }

    /// The check every open runs: SQLite's `quick_check`, which reads every page and checks
    /// the b-trees' structure, but skips matching indexes against their tables. Random bytes
    /// written over a page make it fail.
    ///
    /// It reads the whole file (seconds per gigabyte), so it is skipped when the file is
    /// exactly as Kiln last found it sound or closed it after writing: same device, inode,
    /// length and modification time to the nanosecond.
    fn verify(&self) -> Result<()> {
        if file::known_sound(&self.path) {
            return Ok(());
        }
        self.run_check("quick_check")?;
        file::remember_sound(&self.path);
        Ok(())
    }

    fn run_check(&self, pragma: &str) -> Result<()> {
        let problems: Vec<String> = self.read(|c| {
            let mut stmt = c.prepare(&format!("PRAGMA {pragma}(20)"))?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })?;
        if problems == ["ok"] {
            return Ok(());
        }
        Err(StoreError::Corrupt {
            path: self.path.clone(),
            reason: problems.join("; "),
        }
        .into())
    }

    /// A random id that tells this project from every other, made on first use. Records that
    /// live outside the file (an export's `kiln-export.json`) carry it, so that a folder two
    /// projects export into is never claimed by the wrong one.
    pub fn identity(&mut self) -> Result<String> {
        if let Some(id) = self.read(|c| meta(c, "project_id"))? {
            return Ok(id);
        }
        let id = crate::tracking::new_uuid("project");
        self.write(|c| set_meta(c, "project_id", &id))?;
        Ok(id)
    }

    /// The file's format: how many schema migrations it has had.
    pub fn format(&self) -> Result<u32> {
        self.read(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }

    /// Runs `f` against the connection, naming this file in any error.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        f(&self.conn).map_err(|e| StoreError::from_sqlite(&self.path, e).into())
    }

    /// Runs `f` in one immediate transaction: all of its writes land, or none do. Inside
    /// [`Project::atomically`] it is a savepoint of the enclosing transaction instead.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.check_writable()?;
        let nested = !self.conn.is_autocommit();
        let (begin, commit, undo) = if nested {
            (
                "SAVEPOINT kiln_write",
                "RELEASE kiln_write",
                "ROLLBACK TO kiln_write; RELEASE kiln_write",
            )
        } else {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        };
        let result = self.conn.execute_batch(begin).and_then(|()| {
            let value = f(&self.conn)?;
            self.conn.execute_batch(commit).map(|()| value)
        });
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch(undo);
        }
        result.map_err(|e| StoreError::from_sqlite(&self.path, e).into())
    }

    /// A number that changes whenever another connection commits to the file: a reader that
    /// sees it unchanged knows that nothing it read is stale.
    pub fn data_version(&self) -> Result<i64> {
        self.read(|c| c.query_row("PRAGMA data_version", [], |r| r.get(0)))
    }

    /// Runs the reads of `f` in one read transaction, so that they see one state of the file
    /// even while a writer commits between them.
    pub fn consistently<T>(&self, f: impl FnOnce(&Project) -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        self.read(|c| c.execute_batch("BEGIN DEFERRED"))?;
        let result = f(self);
        // A read transaction has nothing to keep: ending it cannot lose anything.
        let ended = self.read(|c| c.execute_batch("COMMIT"));
        let value = result?;
        ended.map(|()| value)
    }

    /// Runs `f` as one transaction: every write it makes through this project lands, or none
    /// does. For commands made of several steps (register a version, then point an alias at
    /// it), so that a step refused halfway leaves nothing behind.
    pub fn atomically<T>(&mut self, f: impl FnOnce(&mut Project) -> Result<T>) -> Result<T> {
        self.check_writable()?;
        if !self.conn.is_autocommit() {
            return f(self);
        }
        let sqlite = |path: &Path, e| crate::Error::from(StoreError::from_sqlite(path, e));
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sqlite(&self.path, e))?;
        let result = f(self).and_then(|value| {
            self.conn
                .execute_batch("COMMIT")
                .map(|()| value)
                .map_err(|e| sqlite(&self.path, e))
        });
        // A step that failed, or a commit that did (a full disk, a busy reader), may leave the
        // transaction open: end it, so that nothing of it lands later.
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        result
    }

    fn check_writable(&self) -> Result<()> {
        if self.mode == OpenMode::ReadOnly {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            }
            .into());
        }
        Ok(())
    }

    /// The write lock, shared with background writers so it outlives their connections.
    pub(crate) fn write_lock(&self) -> Result<Arc<WriteLock>> {
        self.lock.clone().ok_or_else(|| {
            StoreError::ReadOnly {
                path: self.path.clone(),
            }
            .into()
        })
    }

    fn check_identity(&self) -> Result<()> {
        let app_id: u32 = self.read(|c| c.query_row("PRAGMA application_id", [], |r| r.get(0)))?;
        if app_id != schema::APPLICATION_ID {
            return Err(StoreError::NotAProject {
                path: self.path.clone(),
                reason: "it is an SQLite database, but not one Kiln wrote".into(),
            }
            .into());
        }
        let format = self.format()?;
        if format > schema::latest_format() {
            let written_by = self
                .read(|c| meta(c, "written_by"))?
                .unwrap_or_else(|| "?".into());
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: format,
                supported: schema::latest_format(),
                written_by,
            }
            .into());
        }
        Ok(())
    }

    /// Marks what a killed process left `running` as interrupted: its runs `killed`, its studies
    /// `cancelled`. Only the holder of the write lock can be running anything, and it has just
    /// opened the file, so whatever says `running` now was left by a process that is gone.
    /// `kiln resume` re-runs those trials as before.
    fn close_interrupted_work(&mut self) -> Result<()> {
        let now = now_ms();
        self.write(|c| {
            studies::end_interrupted_runs(c, None, now)?;
            c.execute(
                "UPDATE studies SET status = 'cancelled', finished_at = ?1 WHERE status = 'running'",
                [now],
            )
            .map(|_| ())
        })
    }

    /// Applies the migrations this file lacks, each in its own transaction, then records who
    /// wrote it last.
    fn upgrade(&mut self) -> Result<()> {
        let from = self.format()?;
        for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(from as usize) {
            let to = index as u32 + 1;
            self.write(|tx| {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", to)
            })?;
        }
        self.write(|tx| set_meta(tx, "written_by", KILN_VERSION))
    }
}

impl Drop for Project {
    /// A writer folds its WAL into the file and remembers the file as sound, so that the next
    /// open need not check it again. Should anything else write afterwards (another connection
    /// still open), the file's stamp changes and the next open checks it.
    fn drop(&mut self) {
        if self.sound && self.mode == OpenMode::ReadWrite && self.conn.is_autocommit() {
            let folded = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                });
            if matches!(folded, Ok(0)) {
                file::remember_sound(&self.path);
            }
        }
    }
}

/// Builds a complete new project file at `path`, then closes it so that its WAL is folded in.
fn build_new_file(path: &Path, name: &str) -> Result<()> {
    let map = |e| StoreError::from_sqlite(path, e);
    let mut conn = Connection::open(path).map_err(map)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(map)?;
    conn.pragma_update(None, "application_id", schema::APPLICATION_ID)
        .map_err(map)?;
    let tx = conn.transaction().map_err(map)?;
    (|| {
        for sql in schema::MIGRATIONS {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", schema::latest_format())?;
        tx.execute(
            "INSERT INTO project (id, name, created_at) VALUES (1, ?1, ?2)",
            rusqlite::params![name, now_ms()],
        )?;
        set_meta(&tx, "created_by", KILN_VERSION)?;
        set_meta(&tx, "written_by", KILN_VERSION)
    })()
    .map_err(map)?;
    tx.commit().map_err(map)?;
    conn.close().map_err(|(_, e)| map(e))?;
    Ok(())
}

/// Opens a connection with the settings every Kiln connection uses.
pub(crate) fn connect(path: &Path, mode: OpenMode) -> Result<Connection> {
    match connect_with(path, mode, false) {
        // A reader of a WAL file needs its `-shm` beside it, which SQLite cannot create in a
        // folder the user may not write to. With no `-wal` there, no writer can be at work
        // (it could not create one either), so the file is read as immutable.
        Err(crate::Error::Store(StoreError::Io { .. }))
            if mode == OpenMode::ReadOnly && !file::sibling(path, "-wal").exists() =>
        {
            connect_with(path, mode, true)
        }
        other => other,
    }
}

fn connect_with(path: &Path, mode: OpenMode, immutable: bool) -> Result<Connection> {
    let flags = match mode {
        OpenMode::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
        OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let map = |e| StoreError::from_sqlite(path, e);
    let conn = if immutable {
        Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(path)),
            flags | OpenFlags::SQLITE_OPEN_URI,
        )
    } else {
        Connection::open_with_flags(path, flags)
    }
    .map_err(map)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map)?;
    if mode == OpenMode::ReadWrite {
        // WAL is recorded in the file, but a file restored from an old copy may lack it.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(map)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(map)?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(map)?;
    // The first real read: a file that is not a database fails here, not later.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(map)?;
    Ok(conn)
}

/// `path` as the path part of an SQLite URI: absolute, with `%`, `?` and `#` escaped.
fn uri_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = String::new();
    for c in absolute.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn meta(c: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

/// `value` as the JSON text of a column; a value JSON cannot hold fails the statement.
fn to_json(value: &impl serde::Serialize) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

pub(crate) fn set_meta(c: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests;
