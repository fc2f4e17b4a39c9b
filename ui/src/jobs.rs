//! Long work off the UI thread. A job takes the project's writable handle into a worker thread,
//! sends the core's events back on a channel, and returns the handle when it ends; the UI reads
//! through its own read-only handle meanwhile, and drains the channel every frame.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use eframe::egui;
use kiln_core::Project;
use kiln_core::data::ImportOutcome;
use kiln_core::eval::ModelEvaluation;
use kiln_core::events::{Event, EventSink};
use kiln_core::export::{ExportOutcome, ExportPreview};
use kiln_core::lab::LabReport;
use kiln_core::train::{StudyOutcome, TrainOptions};

/// What a finished job produced.
#[derive(Debug)]
pub enum Output {
    Imported(Box<ImportOutcome>),
    Trained(Box<StudyOutcome>),
    Evaluated(Box<ModelEvaluation>),
    Previewed(Box<ExportPreview>),
    Exported(Box<ExportOutcome>),
    Demo(Box<LabReport>),
}

pub enum Message {
    Event(Event),
    /// The job ended: the project handle comes back with the outcome.
    Done(Box<Project>, Result<Output, String>),
}

/// A job in flight.
pub struct Job {
    pub title: String,
    /// Whether the work watches the cancel flag (a study does; an import or export runs to its
    /// end, and its writes are one transaction either way).
    pub cancellable: bool,
    /// The job runs on a read-only handle of its own, not the project's writable one.
    pub reader_only: bool,
    pub started: Instant,
    pub cancel: Arc<AtomicBool>,
    rx: Receiver<Message>,
}

impl Job {
    /// Starts `work` on its own thread with `project`. A panic in the work is caught and
    /// reported as an error; the project (its file is consistent: every write is a
    /// transaction) comes back either way.
    pub fn spawn(
        title: impl Into<String>,
        cancellable: bool,
        reader_only: bool,
        mut project: Project,
        ctx: &egui::Context,
        work: impl FnOnce(&mut Project, &TrainOptions) -> kiln_core::Result<Output> + Send + 'static,
    ) -> Job {
        let (tx, rx) = std::sync::mpsc::channel::<Message>();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut events = EventSink::default();
        let sender = Mutex::new(tx.clone());
        let repaint = ctx.clone();
        events.on_event(Arc::new(move |event: &Event| {
            if let Ok(sender) = sender.lock() {
                let _ = sender.send(Message::Event(event.clone()));
            }
            repaint.request_repaint();
        }));
        let options = TrainOptions {
            events,
            cancel: cancel.clone(),
        };
        let repaint = ctx.clone();
        let title = title.into();
        let thread_title = title.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("kiln: {thread_title}"))
            .spawn(move || {
                let outcome =
                    std::panic::catch_unwind(AssertUnwindSafe(|| work(&mut project, &options)));
                let outcome = match outcome {
                    Ok(Ok(output)) => Ok(output),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(panic) => Err(format!(
                        "{thread_title} stopped on an internal error: {}",
                        panic_message(&panic)
                    )),
                };
                finish(&tx, project, outcome);
                repaint.request_repaint();
            });
        // A failed spawn drops the closure, the project and every sender with it: `drain`
        // then reports that the job ended without a result.
        drop(spawned);
        Job {
            title,
            cancellable,
            reader_only,
            started: Instant::now(),
            cancel,
            rx,
        }
    }

    /// Asks the job to stop (a study stops within a batch of every trial).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn cancelling(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Everything the job has sent since the last call; `Err` when the worker vanished without
    /// saying it was done.
    pub fn drain(&self) -> Result<Vec<Message>, String> {
        let mut messages = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(message) => messages.push(message),
                Err(TryRecvError::Empty) => return Ok(messages),
                Err(TryRecvError::Disconnected) => {
                    if messages.iter().any(|m| matches!(m, Message::Done(..))) {
                        return Ok(messages);
                    }
                    return Err(format!(
                        "{} ended without a result; reopen the project to continue",
                        self.title
                    ));
                }
            }
        }
    }
}

fn finish(tx: &Sender<Message>, project: Project, outcome: Result<Output, String>) {
    let _ = tx.send(Message::Done(Box::new(project), outcome));
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown".into())
}
