//! [`RunLogger`]: metric points from a training loop, written without slowing it down.
//!
//! `log` hands a point to a channel and returns at once; it never waits on the disk. A writer
//! thread with its own connection gathers what has arrived and commits it in one transaction at
//! most every [`RunLogger::COMMIT_INTERVAL`], so a reader (the GUI, another process) sees a point
//! within that interval plus one commit. A point is *acknowledged* once its transaction has
//! committed: [`RunLogger::acknowledged`] counts them, and after any crash every acknowledged
//! point is in the file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::store::runs::insert_points;
use crate::store::{OpenMode, Project, StoreError, WriteLock, connect};
use crate::tracking::{MetricPoint, RunId};
use crate::{Result, now_ms};

/// Most points written in one transaction; more wait for the next.
const MAX_BATCH: usize = 50_000;

enum Message {
    Point(MetricPoint),
    /// Answered once everything sent before it has committed (or the writer has failed).
    Flush(Sender<()>),
}

#[derive(Default)]
struct Shared {
    acknowledged: AtomicU64,
    failure: Mutex<Option<String>>,
}

/// Streams one run's metric points into the project from any thread.
pub struct RunLogger {
    run: RunId,
    path: PathBuf,
    sent: AtomicU64,
    tx: Option<Sender<Message>>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl RunLogger {
    /// The longest a logged point waits before its transaction starts.
    pub const COMMIT_INTERVAL: Duration = Duration::from_millis(25);

    pub fn run(&self) -> RunId {
        self.run
    }

    /// Queues one point, stamped with the current wall time. Never blocks. Returns the point's
    /// sequence number (1 for the first): it is acknowledged once
    /// [`acknowledged`](Self::acknowledged) reaches it.
    pub fn log(&self, key: &str, step: i64, value: f64) -> u64 {
        self.log_point(MetricPoint {
            key: key.to_owned(),
            step,
            value,
            timestamp: now_ms(),
        })
    }

    /// Queues a point whose timestamp the caller chose. Never blocks.
    pub fn log_point(&self, point: MetricPoint) -> u64 {
        let seq = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(tx) = &self.tx {
            // A send fails only when the writer has died; its failure is reported by `flush`.
            let _ = tx.send(Message::Point(point));
        }
        seq
    }

    /// How many points are durable in the file, counting from the first logged.
    pub fn acknowledged(&self) -> u64 {
        self.shared.acknowledged.load(Ordering::Acquire)
    }

    /// Waits until every point logged so far is committed.
    pub fn flush(&self) -> Result<()> {
        let (reply_tx, reply_rx) = mpsc::channel();
        if let Some(tx) = &self.tx
            && tx.send(Message::Flush(reply_tx)).is_ok()
        {
            let _ = reply_rx.recv();
        }
        self.check()
    }

    /// Commits what is pending and stops the writer.
    pub fn finish(mut self) -> Result<()> {
        self.stop();
        self.check()
    }

    fn check(&self) -> Result<()> {
        let failure = self
            .shared
            .failure
            .lock()
            .map(|f| f.clone())
            .unwrap_or(None);
        match failure {
            Some(reason) => Err(StoreError::LoggerStopped {
                path: self.path.clone(),
                reason,
            }
            .into()),
            None => Ok(()),
        }
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for RunLogger {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Project {
    /// A logger for `run`'s metrics, writing through its own connection on its own thread.
    pub fn metric_logger(&self, run: RunId) -> Result<RunLogger> {
        let lock = self.write_lock()?;
        if !self.has_run(run)? {
            return Err(StoreError::Missing {
                path: self.path().to_owned(),
                what: "run",
                id: run.to_string(),
            }
            .into());
        }
        let conn = connect(self.path(), OpenMode::ReadWrite)?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            conn,
            run,
            rx,
            shared: shared.clone(),
            _lock: lock,
        };
        let handle = std::thread::Builder::new()
            .name(format!("kiln-metrics-run-{run}"))
            .spawn(move || writer.run())
            .map_err(|source| StoreError::Io {
                path: self.path().to_owned(),
                source,
            })?;
        Ok(RunLogger {
            run,
            path: self.path().to_owned(),
            sent: AtomicU64::new(0),
            tx: Some(tx),
            shared,
            writer: Some(handle),
        })
    }
}

struct Writer {
    // Field order matters: the connection must close before the lock is released.
    conn: Connection,
    run: RunId,
    rx: Receiver<Message>,
    shared: Arc<Shared>,
    _lock: Arc<WriteLock>,
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::new();
        let mut waiting = Vec::new();
        while let Ok(first) = self.rx.recv() {
            let open = self.gather(first, &mut batch, &mut waiting);
            if let Err(e) = self.commit(&batch) {
                if let Ok(mut failure) = self.shared.failure.lock() {
                    *failure = Some(e.to_string());
                }
                answer(&mut waiting);
                return;
            }
            self.shared
                .acknowledged
                .fetch_add(batch.len() as u64, Ordering::Release);
            batch.clear();
            answer(&mut waiting);
            if !open {
                return;
            }
        }
    }

    /// Collects messages until the interval ends, a flush asks, or the batch is full. Returns
    /// false once the logger has been dropped.
    fn gather(
        &self,
        first: Message,
        batch: &mut Vec<MetricPoint>,
        waiting: &mut Vec<Sender<()>>,
    ) -> bool {
        let deadline = Instant::now() + RunLogger::COMMIT_INTERVAL;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Message::Point(p)) => batch.push(p),
                Some(Message::Flush(reply)) => {
                    waiting.push(reply);
                    return true;
                }
                None => {}
            }
            if batch.len() >= MAX_BATCH {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(message) => next = Some(message),
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    fn commit(&mut self, batch: &[MetricPoint]) -> rusqlite::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        insert_points(&tx, self.run, batch)?;
        tx.commit()
    }
}

/// Wakes every `flush` caller waiting on the batch just handled.
fn answer(waiting: &mut Vec<Sender<()>>) {
    for reply in waiting.drain(..) {
        // A caller that stopped waiting needs no answer.
        let _ = reply.send(());
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::{Project, RunSpec};

    fn setup() -> (tempfile::TempDir, Project, crate::RunId) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut project = Project::create(dir.path().join("log.kiln"), "log").expect("create");
        let run = project.start_run(&RunSpec::default()).expect("run");
        (dir, project, run)
    }

    #[test]
    fn a_reader_in_another_connection_sees_points_within_100_ms() {
        let (_dir, project, run) = setup();
        let reader = Project::open_read_only(project.path()).expect("reader");
        let logger = project.metric_logger(run).expect("logger");
        let mut delays = Vec::new();
        for step in 0..20 {
            let start = Instant::now();
            logger.log("loss", step, 0.5);
            loop {
                let seen = reader.run(run).expect("read").metric_points;
                if seen == step as u64 + 1 {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "point {step} never appeared"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            delays.push(start.elapsed());
        }
        delays.sort();
        let median = delays[delays.len() / 2];
        assert!(
            median < Duration::from_millis(100),
            "median delay {median:?}, all {delays:?}"
        );
        logger.finish().expect("finish");
    }

    #[test]
    fn logging_never_waits_and_flush_makes_everything_durable() {
        let (_dir, project, run) = setup();
        let logger = project.metric_logger(run).expect("logger");
        let mut last = 0;
        for step in 0..120_000 {
            last = logger.log("loss", step, step as f64);
        }
        assert_eq!(last, 120_000);
        logger.flush().expect("flush");
        assert_eq!(logger.acknowledged(), 120_000);
        let history = project.metric_history(run, "loss").expect("history");
        assert_eq!(history.len(), 120_000);
        assert!(
            history
                .iter()
                .enumerate()
                .all(|(i, p)| p.step == i as i64 && p.value == i as f64)
        );
        logger.finish().expect("finish");
    }

    #[test]
    fn dropping_the_logger_commits_what_was_pending() {
        let (_dir, project, run) = setup();
        let logger = project.metric_logger(run).expect("logger");
        for step in 0..500 {
            logger.log("acc", step, 0.9);
        }
        drop(logger);
        assert_eq!(project.run(run).expect("run").metric_points, 500);
    }

    #[test]
    fn a_logger_needs_a_writer_and_an_existing_run() {
        let (_dir, project, run) = setup();
        assert!(project.metric_logger(crate::RunId(999)).is_err());
        let reader = Project::open_read_only(project.path()).expect("reader");
        assert!(reader.metric_logger(run).is_err());
    }
}
