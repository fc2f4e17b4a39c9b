//! The project file as a file: its header, its write lock, and how a new one is put in place.

use std::fs::{self, File, TryLockError};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::StoreError;
use super::schema::APPLICATION_ID;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const HEADER_LEN: usize = 100;

/// Looks at the first 100 bytes before SQLite does, so that a text file, a truncated copy or
/// someone else's database is refused with a reason, and is never touched (opening a foreign
/// database for writing would switch it to WAL).
pub(super) fn check_header(path: &Path) -> Result<(), StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let metadata = fs::metadata(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound {
            path: path.to_owned(),
        },
        _ => io_err(source),
    })?;
    let not_a_project = |reason: &str| StoreError::NotAProject {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if metadata.is_dir() {
        return Err(not_a_project("it is a folder"));
    }
    let len = metadata.len();
    if len == 0 {
        return Err(not_a_project("the file is empty"));
    }
    let mut header = Vec::with_capacity(HEADER_LEN);
    File::open(path)
        .and_then(|f| f.take(HEADER_LEN as u64).read_to_end(&mut header))
        .map_err(io_err)?;
    if !header.starts_with(SQLITE_MAGIC) {
        if SQLITE_MAGIC.starts_with(&header) {
            return Err(truncated(path, len, "the database header"));
        }
        return Err(not_a_project("it is not an SQLite database"));
    }
    if header.len() < HEADER_LEN {
        return Err(truncated(path, len, "the 100-byte database header"));
    }
    if be_u32(&header, 68) != APPLICATION_ID {
        return Err(not_a_project(
            "it is an SQLite database, but not one Kiln wrote",
        ));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let page_count = u64::from(be_u32(&header, 28));
    let count_is_valid = page_count > 0 && be_u32(&header, 24) == be_u32(&header, 92);
    // With a WAL beside it the main file may be mid-checkpoint; SQLite itself judges that case.
    let wal_exists = sibling(path, "-wal").exists();
    if count_is_valid && !wal_exists && len < page_size * page_count {
        let expected = format!("the {} bytes its header promises", page_size * page_count);
        return Err(truncated(path, len, &expected));
    }
    Ok(())
}

fn truncated(path: &Path, len: u64, expected: &str) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        reason: format!("it is truncated: {len} bytes, shorter than {expected}"),
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The extension of a project file.
pub const PROJECT_EXTENSION: &str = "kiln";

/// `path` with `.kiln` added when it has no extension: what a user typing `lab` means.
pub fn with_project_extension(path: &Path) -> PathBuf {
    if path.extension().is_none() {
        path.with_extension(PROJECT_EXTENSION)
    } else {
        path.to_owned()
    }
}

/// Whether `path` names a project by its extension (a dropped file, a dialog's answer).
pub fn has_project_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == PROJECT_EXTENSION)
}

/// Whether `path` is a Kiln project file (an SQLite file with Kiln's application id), judged by
/// its header alone. Outputs are never written over one.
pub fn is_project_file(path: &Path) -> bool {
    let mut header = Vec::with_capacity(HEADER_LEN);
    let read = File::open(path).and_then(|f| f.take(HEADER_LEN as u64).read_to_end(&mut header));
    read.is_ok()
        && header.len() == HEADER_LEN
        && header.starts_with(SQLITE_MAGIC)
        && be_u32(&header, 68) == APPLICATION_ID
}

/// Whether process `pid` still runs, so that its staging files must be left alone. Where this
/// cannot be told (no `/proc`), every process counts as alive and nothing is removed.
fn process_is_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// A file's identity and state as the file system reports it: device, inode, length and
/// modification time in nanoseconds, and the length of its write-ahead log. Any write to the
/// file, or to its log, changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(String);

#[cfg(unix)]
fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    let wal = fs::metadata(sibling(path, "-wal")).map_or(0, |w| w.len());
    Some(Stamp(format!(
        "{} {} {} {}.{:09} {wal}",
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec()
    )))
}

#[cfg(not(unix))]
fn stamp(_path: &Path) -> Option<Stamp> {
    None
}

/// Where Kiln remembers the project files it last verified or closed after writing, by stamp:
/// `$XDG_CACHE_HOME/kiln/verified` (or under `~/.cache`). Losing it costs only a check.
fn verified_list() -> Option<PathBuf> {
    crate::kiln_dir("XDG_CACHE_HOME", ".cache").map(|dir| dir.join("verified"))
}

/// How many stamps the list keeps, newest last.
const VERIFIED_KEPT: usize = 256;

/// Whether `path` is exactly as Kiln last found it sound or left it: then its damage check
/// can be skipped. A file changed by anything else (a copy, a `dd`, a failing write) differs
/// in its stamp and is checked again.
pub(super) fn known_sound(path: &Path) -> bool {
    let (Some(stamp), Some(list)) = (stamp(path), verified_list()) else {
        return false;
    };
    fs::read_to_string(list)
        .map(|text| text.lines().any(|line| line == stamp.0))
        .unwrap_or(false)
}

/// Records that `path`, as it is now, is sound. Best effort: the list is a cache.
pub(super) fn remember_sound(path: &Path) {
    let (Some(stamp), Some(list)) = (stamp(path), verified_list()) else {
        return;
    };
    let identity: String = stamp.0.split(' ').take(2).collect::<Vec<_>>().join(" ") + " ";
    let text = fs::read_to_string(&list).unwrap_or_default();
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with(&identity))
        .collect();
    lines.push(&stamp.0);
    let skip = lines.len().saturating_sub(VERIFIED_KEPT);
    let mut out = lines[skip..].join("\n");
    out.push('\n');
    let Some(dir) = list.parent() else { return };
    // One name per write, so that two threads remembering at once never share a file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = dir.join(format!(".verified.tmp-{}-{n}", std::process::id()));
    let written = fs::create_dir_all(dir)
        .and_then(|()| fs::write(&temp, out))
        .and_then(|()| fs::rename(&temp, &list));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
}

/// Whether `a` and `b` name the same existing file, through links and relative paths.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (fs::metadata(a), fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `path` with `suffix` appended to its file name, as SQLite names its `-wal` and `-shm`.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The exclusive advisory lock (flock) of a writer. The kernel drops it when the process dies,
/// however it dies, so a crash never leaves a project locked.
#[derive(Debug)]
pub(crate) struct WriteLock {
    _file: File,
}

impl WriteLock {
    pub(super) fn acquire(path: &Path) -> Result<WriteLock, StoreError> {
        let io_err = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => Ok(WriteLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
                path: path.to_owned(),
            }),
            Err(TryLockError::Error(source)) => Err(io_err(source)),
        }
    }
}

/// Where a new project is built before it is put in place: beside it, so the final step is a
/// link within one file system.
pub(super) fn staging_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        ".{}.creating-{}",
        file_name(path),
        std::process::id()
    ))
}

/// Puts the finished `staging` file at `path`, failing rather than replacing a file that
/// appeared there meanwhile.
pub(super) fn place_without_clobbering(staging: &Path, path: &Path) -> crate::Result<()> {
    match fs::hard_link(staging, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists {
            path: path.to_owned(),
        }
        .into()),
        // Some file systems have no hard links; fall back to a rename after a last look.
        Err(_) if !path.exists() => fs::rename(staging, path).map_err(|source| {
            StoreError::Io {
                path: path.to_owned(),
                source,
            }
            .into()
        }),
        Err(source) => Err(StoreError::Io {
            path: path.to_owned(),
            source,
        }
        .into()),
    }
}

/// Removes from `dir` the leftovers of processes that are gone: every entry whose name
/// `pid_of` reads a process id from, when that process no longer runs. Files and folders alike;
/// best effort.
pub fn remove_dead_leftovers(dir: &Path, pid_of: impl Fn(&str) -> Option<u32>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if pid_of(&name).is_none_or(process_is_alive) {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

/// The folder a file `path` is in: `.` for a bare name.
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Removes what a `create` or `repair` of `path` killed midway left beside it: staging files
/// `.NAME.creating-PID` (and their `-wal`, `-shm`).
pub(super) fn remove_stale_staging(path: &Path) {
    let prefix = format!(".{}.creating-", file_name(path));
    remove_dead_leftovers(folder_of(path), |name| {
        name.strip_prefix(&prefix)?.split('-').next()?.parse().ok()
    });
}

/// `path`'s file name as text (empty for none).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(super) fn remove_staging(staging: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        // Best effort: what is left is a hidden file named after its creator's pid.
        let _ = fs::remove_file(sibling(staging, suffix));
    }
}
