//! The event stream of long work: progress, metrics, log lines and results, in one enum that
//! every face follows. The CLI prints it; the GUI charts it.

use serde::Serialize;

use crate::tracking::{RunId, RunStatus, StudyId};
use crate::train::StudyStatus;

/// Something that happened during long work: a study's progress, or a notice for the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    StudyStarted {
        study: StudyId,
        trials: usize,
        strategy: String,
        device: String,
        /// The metric that ranks the trials.
        objective: String,
    },
    /// The device differs from what was asked for; say so to the user. With
    /// `gpu_on_request`, only a software GPU adapter exists and the user may still choose it:
    /// each face says how in its own words.
    Notice {
        message: String,
        gpu_on_request: bool,
    },
    TrialStarted {
        study: StudyId,
        trial: usize,
        run: RunId,
        params: Vec<(String, String)>,
    },
    /// One epoch of one trial is done.
    Progress {
        run: RunId,
        trial: usize,
        epoch: usize,
        epochs: usize,
    },
    Metric {
        run: RunId,
        key: String,
        step: i64,
        value: f64,
    },
    TrialFinished {
        run: RunId,
        trial: usize,
        status: RunStatus,
        objective: Option<f64>,
        reason: Option<String>,
    },
    /// A replay moved on.
    Replay(crate::replay::ReplayProgress),
    /// A push to, or a pull from, an MLflow server moved on.
    Sync(crate::mlflow::SyncProgress),
    StudyFinished {
        study: StudyId,
        status: StudyStatus,
        best: Option<(RunId, f64)>,
    },
}

/// A function called with every event, on the thread that produced it.
pub type Callback = std::sync::Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Clone)]
enum Listener {
    Channel(std::sync::mpsc::Sender<Event>),
    Callback(Callback),
}

/// Where events go: any number of in-process listeners, each a channel or a callback.
#[derive(Clone, Default)]
pub struct EventSink {
    listeners: Vec<Listener>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventSink({} listeners)", self.listeners.len())
    }
}

impl EventSink {
    /// A sink with one channel listener; returns the receiving end.
    pub fn channel() -> (EventSink, std::sync::mpsc::Receiver<Event>) {
        let mut sink = EventSink::default();
        let rx = sink.subscribe();
        (sink, rx)
    }

    /// Adds a channel listener.
    pub fn subscribe(&mut self) -> std::sync::mpsc::Receiver<Event> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.listeners.push(Listener::Channel(tx));
        rx
    }

    /// Adds a callback, run synchronously where each event happens: keep it short.
    pub fn on_event(&mut self, callback: Callback) {
        self.listeners.push(Listener::Callback(callback));
    }

    /// Whether every listener runs where events happen (callbacks only): then handing over
    /// each event as it comes wakes no other thread, and a producer has no reason to gather
    /// them into bursts.
    pub fn synchronous(&self) -> bool {
        self.listeners
            .iter()
            .all(|l| matches!(l, Listener::Callback(_)))
    }

    /// Sends to every listener still listening. Never blocks.
    pub fn emit(&self, event: Event) {
        for listener in &self.listeners {
            match listener {
                Listener::Channel(tx) => {
                    // A listener that hung up is simply no longer told.
                    let _ = tx.send(event.clone());
                }
                Listener::Callback(callback) => callback(&event),
            }
        }
    }
}
