//! What the server holds: each project's follower, its latest snapshot, its read handles, its
//! chart cache and (with `--allow-writes`) its jobs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use kiln_core::Project;
use kiln_core::service::Snapshot;
use tokio::sync::broadcast;

use crate::charts::ChartCache;
use crate::jobs::Jobs;
use crate::{ServeError, ServeOptions};

/// A message for every client following a project's events.
#[derive(Debug, Clone)]
pub(crate) enum Live {
    /// One Server-Sent Event: its name and its JSON.
    Event { name: &'static str, data: Arc<str> },
    /// The server is stopping: streams end.
    Close,
}

/// How many live messages a slow client may fall behind before it is told to re-read.
const LIVE_BACKLOG: usize = 256;

pub(crate) struct Server {
    pub projects: Vec<Arc<ProjectState>>,
    pub token: Option<String>,
    pub reads_need_token: bool,
    /// Bound to a loopback address: requests must name a loopback host (no DNS rebinding).
    pub loopback: bool,
    pub allow_writes: bool,
}

pub(crate) struct ProjectState {
    /// The project's name in URLs: its file's stem, made safe and unique.
    pub id: String,
    pub path: PathBuf,
    pub name: String,
    /// The newest snapshot of the lists, and how many snapshots came before it.
    pub snapshot: RwLock<(u64, Arc<Snapshot>)>,
    pub live: broadcast::Sender<Live>,
    /// Read-only handles, reused between requests.
    pool: Mutex<Vec<Project>>,
    pub charts: ChartCache,
    pub jobs: Option<Jobs>,
    pub stop: Arc<AtomicBool>,
    follower: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Server {
    pub fn open(
        options: &ServeOptions,
        token: Option<String>,
        reads_need_token: bool,
        loopback: bool,
    ) -> Result<Arc<Server>, ServeError> {
        if options.projects.is_empty() {
            return Err(ServeError("name at least one project file to serve".into()));
        }
        let mut projects: Vec<Arc<ProjectState>> = Vec::new();
        for given in &options.projects {
            // Absolute, so that the exports folder beside it is, whatever the working folder.
            let path = &std::fs::canonicalize(given).unwrap_or_else(|_| given.clone());
            let id = unique_id(path, &projects);
            let exports = match &options.exports {
                Some(dir) if options.projects.len() > 1 => dir.join(&id),
                Some(dir) => dir.clone(),
                None => default_exports(path),
            };
            let state = ProjectState::open(path, id, options.allow_writes, exports)?;
            projects.push(state);
        }
        Ok(Arc::new(Server {
            projects,
            token,
            reads_need_token,
            loopback,
            allow_writes: options.allow_writes,
        }))
    }

    pub fn project(&self, id: &str) -> Option<&Arc<ProjectState>> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// Ends every client's live stream (the followers stop first, so that nothing comes after).
    pub fn close_streams(&self) {
        for project in &self.projects {
            project.stop.store(true, Ordering::Relaxed);
            // No receiver left is fine: nobody is following.
            let _ignored = project.live.send(Live::Close);
        }
    }

    /// Stops the followers and the jobs (the running one is cancelled and waited for).
    pub fn shut_down(&self) {
        self.close_streams();
        for project in &self.projects {
            project.stop.store(true, Ordering::Relaxed);
            if let Some(jobs) = &project.jobs {
                jobs.stop();
            }
            if let Ok(mut follower) = project.follower.lock()
                && let Some(handle) = follower.take()
            {
                let _ignored = handle.join();
            }
        }
    }
}

impl ProjectState {
    fn open(
        path: &Path,
        id: String,
        allow_writes: bool,
        exports: PathBuf,
    ) -> Result<Arc<ProjectState>, ServeError> {
        let failed = |e: kiln_core::Error| ServeError(format!("{}: {e}", path.display()));
        if !path.is_file() {
            return Err(ServeError(format!(
                "{}: no such project file; create one with `kiln new` or `kiln lab`",
                path.display()
            )));
        }
        // Verified once: a file that is not a Kiln project is refused here, by name.
        let reader = Project::open_read_only(path).map_err(failed)?;
        let name = reader.name().map_err(failed)?;
        let snapshot = Snapshot::read(&reader).map_err(failed)?;
        let (live, _) = broadcast::channel(LIVE_BACKLOG);
        let jobs = if allow_writes {
            Some(Jobs::open(path, exports, live.clone())?)
        } else {
            None
        };
        let state = Arc::new(ProjectState {
            id,
            path: path.to_owned(),
            name,
            snapshot: RwLock::new((0, Arc::new(snapshot))),
            live,
            pool: Mutex::new(vec![reader]),
            charts: ChartCache::default(),
            jobs,
            stop: Arc::new(AtomicBool::new(false)),
            follower: Mutex::new(None),
        });
        let follower = crate::live::follow(state.clone())
            .map_err(|e| ServeError(format!("{}: cannot follow it: {e}", path.display())))?;
        if let Ok(mut slot) = state.follower.lock() {
            *slot = Some(follower);
        }
        Ok(state)
    }

    /// The newest snapshot and its generation.
    pub fn snapshot(&self) -> (u64, Arc<Snapshot>) {
        match self.snapshot.read() {
            Ok(s) => (s.0, s.1.clone()),
            Err(poisoned) => {
                let s = poisoned.into_inner();
                (s.0, s.1.clone())
            }
        }
    }

    pub fn set_snapshot(&self, snapshot: Snapshot) -> u64 {
        let mut slot = match self.snapshot.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slot.0 += 1;
        slot.1 = Arc::new(snapshot);
        slot.0
    }

    /// Runs `f` on a read-only handle of the project (blocking: call off the runtime).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Project) -> kiln_core::Result<T>,
    ) -> kiln_core::Result<T> {
        let handle = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        let handle = match handle {
            Some(handle) => handle,
            None => Project::open_read_only_unverified(&self.path)?,
        };
        let result = f(&handle);
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < 8
        {
            pool.push(handle);
        }
        result
    }

    /// Sends a live event to every client following this project.
    pub fn publish(&self, name: &'static str, data: String) {
        // Nobody following is fine.
        let _ignored = self.live.send(Live::Event {
            name,
            data: data.into(),
        });
    }
}

/// The id of a project in URLs: its file stem, lowercased, with anything but letters, digits,
/// `-` and `_` made `-`, and a number added when another project has it.
fn unique_id(path: &Path, taken: &[Arc<ProjectState>]) -> String {
    let stem = kiln_core::service::project_name(path);
    let mut base: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    if base.is_empty() || base.starts_with('-') {
        base.insert(0, 'p');
    }
    let mut id = base.clone();
    let mut n = 2;
    while taken.iter().any(|p| p.id == id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// Exports of `project.kiln` go to `project-triton/` beside it: a Triton model repository.
fn default_exports(path: &Path) -> PathBuf {
    let stem = kiln_core::service::project_name(path);
    path.with_file_name(format!("{stem}-triton"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_in_urls_and_unique() {
        assert_eq!(
            unique_id(Path::new("/x/Class Room.kiln"), &[]),
            "class-room"
        );
        assert_eq!(unique_id(Path::new("/x/..kiln"), &[]), "p-");
        assert_eq!(
            default_exports(Path::new("/w/lab.kiln")),
            Path::new("/w/lab-triton")
        );
    }
}
