//! Writes from clients: each becomes an [`Operation`] for the project's one [`JobService`],
//! the window's own. One runs at a time; the others wait in a queue, in the order they came.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_core::service::{JobEvent, JobService, Operation, Outcome};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::ServeError;
use crate::state::Live;

/// A job as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Its number on this server.
    pub ticket: u64,
    pub title: String,
    /// `queued`, `running`, `cancelling`, `done` or `failed`.
    pub state: &'static str,
    pub cancellable: bool,
    /// Why it failed, or what it produced, in a line.
    pub message: Option<String>,
}

/// The jobs of one project: the one running, those queued, and the last few ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobsView {
    pub running: Option<JobView>,
    pub queued: Vec<JobView>,
    pub ended: Vec<JobView>,
    /// Where exports are written (chosen by the server, never by a client).
    pub exports: String,
}

/// How many ended jobs are remembered.
const ENDED_KEPT: usize = 20;

enum Message {
    /// The job service has news.
    Wake,
    Submit(u64, Operation),
    /// Cancels the job with the ticket, running or queued; answers whether there was one.
    Cancel(u64, Sender<bool>),
    Stop,
}

pub(crate) struct Jobs {
    tx: Mutex<Sender<Message>>,
    view: Arc<Mutex<JobsView>>,
    next: Mutex<u64>,
    pub exports: PathBuf,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Jobs {
    /// Opens `path` for writing in a job service of its own and starts its pump. Fails when
    /// another process holds the project's writer.
    pub fn open(
        path: &Path,
        exports: PathBuf,
        live: broadcast::Sender<Live>,
    ) -> Result<Jobs, ServeError> {
        let (tx, rx) = std::sync::mpsc::channel::<Message>();
        let waker_tx = Mutex::new(tx.clone());
        let mut service = JobService::new(Some(Arc::new(move || {
            let _ignored = lock(&waker_tx).send(Message::Wake);
        })));
        service
            .start(Operation::Open {
                path: path.to_owned(),
            })
            .map_err(|e| ServeError(format!("{}: {e}", path.display())))?;
        // Opening is quick; wait for it here, so that a refusal stops `kiln serve` at once.
        let opened = loop {
            let events = service.poll();
            if let Some(outcome) = events.into_iter().find_map(|e| match e {
                JobEvent::Done { outcome, .. } => Some(outcome),
                JobEvent::Progress(..) => None,
            }) {
                break outcome;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        opened.map_err(|e| ServeError(format!("{}: {e}", path.display())))?;
        if service.read_only() {
            return Err(ServeError(format!(
                "{}: another process is writing this project; close it, or serve without --allow-writes to follow it read-only",
                path.display()
            )));
        }
        let view = Arc::new(Mutex::new(JobsView {
            exports: exports.display().to_string(),
            ..JobsView::default()
        }));
        let pump_view = view.clone();
        let thread = std::thread::Builder::new()
            .name("kiln: serve jobs".into())
            .spawn(move || pump(service, &rx, &pump_view, &live))
            .map_err(|e| ServeError(format!("the job thread could not start: {e}")))?;
        Ok(Jobs {
            tx: Mutex::new(tx),
            view,
            next: Mutex::new(1),
            exports,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `operation`; returns its ticket.
    pub fn submit(&self, operation: Operation) -> Result<JobView, String> {
        let ticket = {
            let mut next = lock(&self.next);
            let ticket = *next;
            *next += 1;
            ticket
        };
        let view = JobView {
            ticket,
            title: operation.title(),
            state: "queued",
            cancellable: operation.cancellable(),
            message: None,
        };
        // Shown as queued at once; the pump moves it on.
        lock(&self.view).queued.push(view.clone());
        lock(&self.tx)
            .send(Message::Submit(ticket, operation))
            .map_err(|_| "the server is stopping".to_owned())?;
        Ok(view)
    }

    /// Cancels a queued or running job; whether one had that ticket.
    pub fn cancel(&self, ticket: u64) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        if lock(&self.tx).send(Message::Cancel(ticket, tx)).is_err() {
            return false;
        }
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or(false)
    }

    pub fn view(&self) -> JobsView {
        lock(&self.view).clone()
    }

    /// Cancels what runs, drops the queue and waits (a while) for the running job to end.
    pub fn stop(&self) {
        let _ignored = lock(&self.tx).send(Message::Stop);
        if let Some(thread) = lock(&self.thread).take() {
            let _ignored = thread.join();
        }
    }
}

/// The pump: starts queued operations when the service is free, and relays the service's
/// events to the project's live stream.
fn pump(
    mut service: JobService,
    rx: &Receiver<Message>,
    view: &Mutex<JobsView>,
    live: &broadcast::Sender<Live>,
) {
    let mut queue: VecDeque<(u64, Operation)> = VecDeque::new();
    let mut running: Option<u64> = None;
    let publish = |name: &'static str, data: serde_json::Value| {
        let _ignored = live.send(Live::Event {
            name,
            data: data.to_string().into(),
        });
    };
    loop {
        let message = rx.recv_timeout(Duration::from_millis(250));
        match message {
            Ok(Message::Submit(ticket, operation)) => queue.push_back((ticket, operation)),
            Ok(Message::Cancel(ticket, answer)) => {
                let found = if running == Some(ticket) {
                    service.cancel();
                    if let Some(job) = &mut lock(view).running {
                        job.state = "cancelling";
                    }
                    true
                } else if let Some(at) = queue.iter().position(|(t, _)| *t == ticket) {
                    queue.remove(at);
                    let mut v = lock(view);
                    if let Some(at) = v.queued.iter().position(|j| j.ticket == ticket) {
                        let mut job = v.queued.remove(at);
                        job.state = "failed";
                        job.message = Some("cancelled before it started".into());
                        remember(&mut v, job);
                    }
                    true
                } else {
                    false
                };
                let _ignored = answer.send(found);
                if found {
                    publish("jobs", jobs_json(view));
                }
            }
            Ok(Message::Stop) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                service.stop(Duration::from_secs(30));
                return;
            }
            Ok(Message::Wake) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        for event in service.poll() {
            match event {
                // Metric points reach clients from the file, committed, like everyone's.
                JobEvent::Progress(_, kiln_core::events::Event::Metric { .. }) => {}
                JobEvent::Progress(_, event) => {
                    if let Some(ticket) = running {
                        publish(
                            "job",
                            serde_json::json!({ "ticket": ticket, "event": event }),
                        );
                    }
                }
                JobEvent::Done { outcome, .. } => {
                    let mut v = lock(view);
                    if let Some(mut job) = v.running.take() {
                        match &outcome {
                            Ok(outcome) => {
                                job.state = "done";
                                job.message = Some(summary(outcome));
                            }
                            Err(e) => {
                                job.state = "failed";
                                job.message = Some(e.clone());
                            }
                        }
                        remember(&mut v, job);
                    }
                    running = None;
                    drop(v);
                    publish("jobs", jobs_json(view));
                }
            }
        }
        if running.is_none()
            && let Some((ticket, operation)) = queue.pop_front()
        {
            let title = operation.title();
            let cancellable = operation.cancellable();
            let started = service.start(operation);
            let mut v = lock(view);
            v.queued.retain(|j| j.ticket != ticket);
            let mut job = JobView {
                ticket,
                title,
                state: "running",
                cancellable,
                message: None,
            };
            match started {
                Ok(_) => {
                    running = Some(ticket);
                    v.running = Some(job);
                }
                Err(why) => {
                    job.state = "failed";
                    job.message = Some(why);
                    remember(&mut v, job);
                }
            }
            drop(v);
            publish("jobs", jobs_json(view));
        }
    }
}

fn remember(view: &mut JobsView, job: JobView) {
    view.ended.insert(0, job);
    view.ended.truncate(ENDED_KEPT);
}

fn jobs_json(view: &Mutex<JobsView>) -> serde_json::Value {
    serde_json::to_value(&*lock(view)).unwrap_or_default()
}

/// What a finished job did, in a line.
fn summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Trained(study) => format!(
            "study {}: {} of {} trials finished ({})",
            study.study,
            study.finished,
            study.trials,
            study.status.as_str()
        ),
        Outcome::Registered(version) => {
            format!("registered {} version {}", version.model, version.version)
        }
        Outcome::AliasSet {
            model,
            alias,
            version,
        } => format!("{model}@{alias} now points at version {version}"),
        Outcome::Exported(export) => format!(
            "exported {} version {} as Triton version {}",
            export.model, export.model_version, export.triton_version
        ),
        _ => "done".into(),
    }
}
