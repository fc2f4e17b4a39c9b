//! The reader: a thread with its own read-only handle that re-reads what lists show (a
//! [`Snapshot`]) when the file changed or when asked, and answers [`Query`]s that may scan a lot (a
//! dataset, a metric's history) on threads of their own, so that no face waits on the file.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::Duration;

use super::Waker;
use crate::data::{CheckReport, DatasetSchema, DatasetSummary, ExpectationSuite, Table};
use crate::registry::ModelVersion;
use crate::store::Project;
use crate::tracking::{MetricPoint, RunColumns, RunId, RunRow};
use crate::train::StudySummary;

/// What the lists of a face show: re-read as a whole, so that it is always one consistent
/// picture of the file.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub runs: Vec<RunRow>,
    /// The runs' params and metrics as columns, in the order of `runs`.
    pub columns: RunColumns,
    pub datasets: Vec<DatasetSummary>,
    pub studies: Vec<StudySummary>,
    pub models: Vec<(String, Vec<ModelVersion>)>,
    /// The MLflow server and experiment the project last synced with.
    pub mlflow: (Option<String>, Option<String>),
    /// How many monitoring reports and retrain decisions there are: a monitoring history read
    /// at the same counts (and the same versions) is current.
    pub monitoring: (u64, u64),
    /// How many replay reports there are: a model's list read at the same count is current.
    pub replays: u64,
}

impl Snapshot {
    /// Reads every list in one read transaction: one consistent picture of the file.
    pub fn read(p: &Project) -> crate::Result<Snapshot> {
        p.consistently(Snapshot::read_lists)
    }

    fn read_lists(p: &Project) -> crate::Result<Snapshot> {
        let models = p
            .registered_models()?
            .into_iter()
            .map(|name| {
                let versions = p.model_versions(&name)?;
                Ok((name, versions))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let runs = p.run_rows()?;
        Ok(Snapshot {
            columns: RunColumns::new(&runs),
            runs,
            datasets: p.datasets()?,
            studies: p.study_summaries()?,
            models,
            mlflow: p.mlflow_remembered()?,
            monitoring: p.monitoring_counts()?,
            replays: p.replay_count()?,
        })
    }
}

/// A read that may take long.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// A dataset's newest batch with its expectations and their last check.
    Dataset { name: String },
    /// Every point of one metric of one run.
    MetricHistory { run: RunId, key: String },
    /// A model version's monitoring reports, with DDM and ADWIN over their labelled rows.
    Monitoring {
        model: String,
        selector: crate::registry::VersionSelector,
    },
    /// A model's replay reports, newest first.
    Replays { model: String },
}

/// A dataset as the Data screen shows it.
#[derive(Debug, Clone)]
pub struct DatasetView {
    pub name: String,
    pub schema: DatasetSchema,
    pub table: Table,
    pub suite: ExpectationSuite,
    pub report: Option<CheckReport>,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone)]
pub enum Answer {
    Dataset(Box<DatasetView>),
    MetricHistory {
        run: RunId,
        key: String,
        points: Vec<MetricPoint>,
    },
    Monitoring(Box<crate::monitor::MonitorHistory>),
    Replays(Vec<crate::replay::ReplayReport>),
}

impl Query {
    /// What the query reads, for a message: "dataset penguins".
    pub fn what(&self) -> String {
        match self {
            Query::Dataset { name } => format!("dataset {name}"),
            Query::MetricHistory { run, key } => format!("{key} of run {run}"),
            Query::Monitoring { model, selector } => format!("monitoring of {model} {selector}"),
            Query::Replays { model } => format!("replays of {model}"),
        }
    }

    /// Answers the query from `p`.
    pub fn answer(&self, p: &Project) -> crate::Result<Answer> {
        Ok(match self {
            Query::Dataset { name } => {
                // The newest batch: the one the expectations were last checked on.
                let batch = p.load_latest_batch(name)?;
                Answer::Dataset(Box::new(DatasetView {
                    name: name.clone(),
                    suite: p.expectations(name)?,
                    report: p.last_check(name)?,
                    schema: batch.schema,
                    table: batch.table,
                }))
            }
            Query::MetricHistory { run, key } => Answer::MetricHistory {
                run: *run,
                key: key.clone(),
                points: p.metric_history(*run, key)?,
            },
            Query::Monitoring { model, selector } => {
                Answer::Monitoring(Box::new(p.monitoring(model, selector)?))
            }
            Query::Replays { model } => Answer::Replays(p.replays(model)?),
        })
    }
}

/// What the reader sends.
#[derive(Debug)]
pub enum ReaderMessage {
    Snapshot(Result<Box<Snapshot>, String>),
    Answer(Query, Result<Answer, String>),
}

/// What the threads send the reader: a snapshot with the last refresh it covers, or an answer.
enum Inner {
    Snapshot(u64, Result<Box<Snapshot>, String>),
    Answer(Query, Result<Answer, String>),
}

/// Follows one project file.
pub struct Reader {
    path: PathBuf,
    wake: Sender<u64>,
    tx: Sender<Inner>,
    rx: Receiver<Inner>,
    /// Refreshes asked for (the first read counts as one), and the newest one a snapshot covers.
    asked: u64,
    covered: u64,
    waker: Option<Waker>,
    thread: std::thread::JoinHandle<()>,
    /// The snapshot thread ended: it was said once.
    stopped: bool,
}

impl Reader {
    /// Starts following `path`, reading a snapshot at once and then every `every` (or sooner
    /// when [`Reader::refresh`] is called).
    pub fn spawn(path: &Path, every: Duration, waker: Option<Waker>) -> std::io::Result<Reader> {
        let (wake, woken) = std::sync::mpsc::channel::<u64>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread_tx = tx.clone();
        let thread_path = path.to_owned();
        let thread_waker = waker.clone();
        let thread = std::thread::Builder::new()
            .name("kiln: project reader".into())
            .spawn(move || follow(&thread_path, every, &woken, &thread_tx, thread_waker))?;
        Ok(Reader {
            path: path.to_owned(),
            wake,
            tx,
            rx,
            waker,
            asked: 1,
            covered: 0,
            thread,
            stopped: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asks for a fresh snapshot now (after a write).
    pub fn refresh(&mut self) {
        self.asked += 1;
        // A reader that stopped has said so through `poll`.
        let _ignored = self.wake.send(self.asked);
    }

    /// Whether a snapshot asked for has not arrived yet: the lists may not show the newest
    /// writes of this window.
    pub fn pending(&self) -> bool {
        !self.stopped && self.covered < self.asked
    }

    /// Answers `query` on a thread of its own; the answer arrives through [`Reader::poll`].
    pub fn ask(&self, query: Query) {
        let tx = self.tx.clone();
        let path = self.path.clone();
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("kiln: query".into())
            .spawn({
                let query = query.clone();
                move || {
                    let answer = Project::open_read_only_unverified(&path)
                        .and_then(|p| query.answer(&p))
                        .map_err(|e| e.to_string());
                    let _ignored = tx.send(Inner::Answer(query, answer));
                    if let Some(wake) = &waker {
                        wake();
                    }
                }
            });
        if let Err(e) = spawned {
            let _ignored = self.tx.send(Inner::Answer(
                query,
                Err(format!("a thread for the query could not start: {e}")),
            ));
        }
    }

    /// Everything that arrived since the last call, oldest first.
    pub fn poll(&mut self) -> Vec<ReaderMessage> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(Inner::Snapshot(covers, snapshot)) => {
                    self.covered = self.covered.max(covers);
                    out.push(ReaderMessage::Snapshot(snapshot));
                }
                Ok(Inner::Answer(query, answer)) => out.push(ReaderMessage::Answer(query, answer)),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if !self.stopped && self.thread.is_finished() {
            // A failed read ends the thread after saying why; then say what it means, once.
            self.stopped = true;
            out.push(ReaderMessage::Snapshot(Err(
                "the project reader stopped, so the lists no longer update; reopen the project"
                    .into(),
            )));
        }
        out
    }
}

fn follow(
    path: &Path,
    every: Duration,
    woken: &Receiver<u64>,
    tx: &Sender<Inner>,
    waker: Option<Waker>,
) {
    let reader = match Project::open_read_only_unverified(path) {
        Ok(reader) => reader,
        Err(e) => {
            let _ignored = tx.send(Inner::Snapshot(u64::MAX, Err(e.to_string())));
            return;
        }
    };
    // The first read covers refresh 1; `seen` is the newest refresh asked for since.
    let mut seen = 1;
    let mut read_at: Option<i64> = None;
    loop {
        // Re-read only when the file changed, or when a refresh asks for it explicitly.
        let version = reader.data_version().ok();
        if version.is_none() || version != read_at {
            let snapshot = Snapshot::read(&reader)
                .map(Box::new)
                .map_err(|e| e.to_string());
            read_at = if snapshot.is_ok() { version } else { None };
            if tx.send(Inner::Snapshot(seen, snapshot)).is_err() {
                return;
            }
            if let Some(wake) = &waker {
                wake();
            }
        }
        match woken.recv_timeout(every) {
            Ok(n) => {
                seen = seen.max(n);
                // Several wake-ups at once need one read.
                while let Ok(n) = woken.try_recv() {
                    seen = seen.max(n);
                }
                // An explicit refresh always reads.
                read_at = None;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
