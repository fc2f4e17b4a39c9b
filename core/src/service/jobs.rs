//! The job service: one long operation at a time, on a thread of its own, with its events,
//! its cancellation and its outcome; and the project's single writer, lent to the job that
//! needs it and taken back when it ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Access, Operation, Outcome};
use crate::events::{Event, EventSink};
use crate::store::{OpenMode, Project};
use crate::train::TrainOptions;

/// Called from a job's thread whenever it has something to say: a face wakes its loop.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The number of a job, unique within one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a face hears from the service.
#[derive(Debug)]
pub enum JobEvent {
    /// The job's work reported progress.
    Progress(JobId, Event),
    /// The job ended, with its title, and its outcome or the reason it failed.
    Done {
        id: JobId,
        title: String,
        outcome: Result<Outcome, String>,
    },
}

/// The job in flight, as a face shows it.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: JobId,
    pub title: String,
    pub cancellable: bool,
    pub cancelling: bool,
    pub started: Instant,
}

enum Message {
    Event(Event),
    /// The job ended; the handle it used comes back (`None` when it had none or lost it).
    Done(Option<Project>, crate::Result<Outcome>),
}

struct Running {
    info: JobInfo,
    access: Access,
    cancel: Arc<AtomicBool>,
    rx: Receiver<Message>,
}

/// The open project: its path and name, and its writer while no job holds it.
struct Slot {
    path: PathBuf,
    name: String,
    writer: Option<Project>,
    /// Why this window cannot write, when it cannot.
    read_only: Option<&'static str>,
}

/// Another process holds the project's write lock.
const FOLLOWING: &str = "the project is open read-only because another process is writing it; close that process and reopen the project";
/// The writer was lost with a job that never came back.
const WRITER_LOST: &str =
    "the project's writer was lost with a job that ended without a result; reopen the project";

/// Runs operations one at a time off the caller's thread.
pub struct JobService {
    project: Option<Slot>,
    running: Option<Running>,
    next: u64,
    waker: Option<Waker>,
}

impl JobService {
    /// A service with no project open; `waker` is called whenever a job has news.
    pub fn new(waker: Option<Waker>) -> JobService {
        JobService {
            project: None,
            running: None,
            next: 1,
            waker,
        }
    }

    pub fn set_waker(&mut self, waker: Waker) {
        self.waker = Some(waker);
    }

    /// The open project's file.
    pub fn path(&self) -> Option<&Path> {
        self.project.as_ref().map(|p| p.path.as_path())
    }

    /// The open project's name.
    pub fn name(&self) -> Option<&str> {
        self.project.as_ref().map(|p| p.name.as_str())
    }

    /// Whether the open project is only followed: another process holds its writer.
    pub fn read_only(&self) -> bool {
        self.project.as_ref().is_some_and(|p| p.read_only.is_some())
    }

    /// The job in flight, if any.
    pub fn running(&self) -> Option<&JobInfo> {
        self.running.as_ref().map(|r| &r.info)
    }

    pub fn busy(&self) -> bool {
        self.running.is_some()
    }

    /// Why `operation` cannot start now, as advice to the user; `None` when it can.
    pub fn refusal(&self, operation: &Operation) -> Option<&'static str> {
        if self.running.is_some() {
            return Some("a job is running; wait for it to end, or cancel it");
        }
        match (operation.access(), &self.project) {
            (Access::Opens, _) => None,
            (_, None) => Some("open or create a project first"),
            (Access::Writes, Some(slot)) if slot.writer.is_none() => {
                Some(slot.read_only.unwrap_or(WRITER_LOST))
            }
            _ => None,
        }
    }

    /// Starts `operation` on a thread of its own, or says why it cannot start.
    pub fn start(&mut self, operation: Operation) -> Result<JobId, String> {
        if let Some(why) = self.refusal(&operation) {
            return Err(why.to_owned());
        }
        let access = operation.access();
        let handle = match (access, &mut self.project) {
            (Access::Reads, Some(slot)) => Handle::Reader(slot.path.clone()),
            (Access::Writes, Some(slot)) => slot.writer.take().map_or(Handle::None, Handle::Writer),
            _ => Handle::None,
        };
        let id = JobId(self.next);
        self.next += 1;
        let (tx, rx) = std::sync::mpsc::channel::<Message>();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut events = EventSink::default();
        let sender = Mutex::new(tx.clone());
        let waker = self.waker.clone();
        events.on_event(Arc::new(move |event: &Event| {
            if let Ok(sender) = sender.lock() {
                // A face that stopped listening is simply no longer told.
                let _ignored = sender.send(Message::Event(event.clone()));
            }
            if let Some(wake) = &waker {
                wake();
            }
        }));
        let options = TrainOptions {
            events,
            cancel: cancel.clone(),
            ..TrainOptions::default()
        };
        let title = operation.title();
        let info = JobInfo {
            id,
            title: title.clone(),
            cancellable: operation.cancellable(),
            cancelling: false,
            started: Instant::now(),
        };
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("kiln: {title}"))
            .spawn(move || {
                let (handle, outcome) = run(operation, handle, &options, &title);
                let _ignored = tx.send(Message::Done(handle, outcome));
                if let Some(wake) = &waker {
                    wake();
                }
            });
        if let Err(e) = spawned {
            // The closure, and the writer with it, is gone: only reading is left.
            if let Some(slot) = &mut self.project
                && access == Access::Writes
            {
                slot.read_only = Some(WRITER_LOST);
            }
            return Err(format!("a thread for {} could not start: {e}", info.title));
        }
        self.running = Some(Running {
            info,
            access,
            cancel,
            rx,
        });
        Ok(id)
    }

    /// Asks the running job to stop (a study stops within a batch of every trial).
    pub fn cancel(&mut self) {
        if let Some(running) = &mut self.running
            && running.info.cancellable
        {
            running.cancel.store(true, Ordering::Relaxed);
            running.info.cancelling = true;
        }
    }

    /// Everything the running job said since the last call. When it has ended, its handle is
    /// back with the service (or, for an operation that opens a project, the new project is).
    pub fn poll(&mut self) -> Vec<JobEvent> {
        let Some(running) = &self.running else {
            return Vec::new();
        };
        let id = running.info.id;
        let mut out = Vec::new();
        loop {
            match running.rx.try_recv() {
                Ok(Message::Event(event)) => out.push(JobEvent::Progress(id, event)),
                Ok(Message::Done(handle, outcome)) => {
                    let title = running.info.title.clone();
                    let outcome = self.finish(handle, outcome);
                    out.push(JobEvent::Done { id, title, outcome });
                    return out;
                }
                Err(TryRecvError::Empty) => return out,
                Err(TryRecvError::Disconnected) => {
                    let title = running.info.title.clone();
                    let why =
                        format!("{title} ended without a result; reopen the project to continue");
                    let outcome = self.finish(None, Err(crate::Error::Internal(why)));
                    out.push(JobEvent::Done { id, title, outcome });
                    return out;
                }
            }
        }
    }

    /// Waits up to `limit` for the running job to end, cancelling it first; for a face that
    /// is closing. Returns what the job said meanwhile.
    pub fn stop(&mut self, limit: std::time::Duration) -> Vec<JobEvent> {
        self.cancel();
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        while self.running.is_some() && Instant::now() < deadline {
            out.extend(self.poll());
            if self.running.is_some() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        out
    }

    /// Takes a job's handle back and turns its outcome into what a face shows.
    fn finish(
        &mut self,
        handle: Option<Project>,
        outcome: crate::Result<Outcome>,
    ) -> Result<Outcome, String> {
        let access = self.running.take().map(|r| r.access);
        match (access, handle) {
            (Some(Access::Writes), Some(writer)) => {
                if let Some(slot) = &mut self.project {
                    slot.writer = Some(writer);
                }
            }
            (Some(Access::Writes), None) => {
                if let Some(slot) = &mut self.project {
                    slot.read_only = Some(WRITER_LOST);
                }
            }
            // A project was opened, even if what followed failed (a demo stopped halfway):
            // it is the open project now.
            (Some(Access::Opens), Some(project)) => {
                let name = match &outcome {
                    Ok(Outcome::Opened { name, .. }) => name.clone(),
                    _ => project
                        .name()
                        .unwrap_or_else(|_| super::project_name(project.path())),
                };
                let following = project.mode() == OpenMode::ReadOnly;
                self.project = Some(Slot {
                    path: project.path().to_owned(),
                    name,
                    read_only: following.then_some(FOLLOWING),
                    writer: (!following).then_some(project),
                });
            }
            // A reader's own handle is simply closed.
            _ => {}
        }
        outcome.map_err(|e| e.to_string())
    }
}

/// What a job works on.
enum Handle {
    /// Nothing yet: the operation opens its project.
    None,
    /// The project's writer, lent for the job.
    Writer(Project),
    /// A read-only handle of its own, opened on the job's thread.
    Reader(PathBuf),
}

/// The body of a job's thread: the operation, with a panic caught and reported as an error.
fn run(
    operation: Operation,
    handle: Handle,
    options: &TrainOptions,
    title: &str,
) -> (Option<Project>, crate::Result<Outcome>) {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let panicked = |panic: Box<dyn std::any::Any + Send>| {
        crate::Error::Internal(format!(
            "{title} stopped on an internal error: {}",
            crate::error::panic_text(panic.as_ref())
        ))
    };
    let mut project = match handle {
        Handle::Writer(project) => project,
        Handle::Reader(path) => match Project::open_read_only_unverified(&path) {
            Ok(project) => project,
            Err(e) => return (None, Err(e)),
        },
        Handle::None => {
            return catch_unwind(AssertUnwindSafe(|| operation.open(options)))
                .unwrap_or_else(|panic| (None, Err(panicked(panic))));
        }
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| operation.run(&mut project, options)))
        .unwrap_or_else(|panic| Err(panicked(panic)));
    // The project file is consistent either way: every write is a transaction.
    (Some(project), outcome)
}
