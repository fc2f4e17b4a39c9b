//! Tracking: experiments, runs, params, tags and metrics, named as MLflow names them.
//!
//! A run records what it needs to be repeated (data batch, config, seed, device, Kiln version).
//! Metrics arrive in bulk through [`crate::RunLogger`]; the calls here are the synchronous path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::store::{BlobHash, Project, StoreError};
use crate::{KILN_VERSION, Result, now_ms};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// An experiment: a named group of runs. Every project has `Default` (id 1).
    ExperimentId
);
id_type!(
    /// A study: one search, whose trials are runs.
    StudyId
);
id_type!(
    /// A run: one training (or one trial of a study).
    RunId
);

impl ExperimentId {
    pub const DEFAULT: ExperimentId = ExperimentId(1);
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    /// Stopped from outside: cancelled, or found unfinished after a crash.
    Killed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Killed => "killed",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "finished" => RunStatus::Finished,
            "failed" => RunStatus::Failed,
            "killed" => RunStatus::Killed,
            _ => RunStatus::Running,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a new run is: everything but its metrics, which come later.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub name: String,
    /// `None` puts the run in the `Default` experiment.
    pub experiment: Option<ExperimentId>,
    pub study: Option<StudyId>,
    pub trial_index: Option<u32>,
    pub dataset_batch: Option<i64>,
    pub seed: Option<u64>,
    pub device: Option<String>,
    pub config_json: Option<String>,
}

/// One value of one metric at one step. A NaN value is kept as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub key: String,
    pub step: i64,
    pub value: f64,
    /// Wall time, milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// A run as a table row shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: RunId,
    pub uuid: String,
    pub name: String,
    pub experiment: String,
    pub study: Option<String>,
    pub trial_index: Option<u32>,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub device: Option<String>,
    pub failure_reason: Option<String>,
    pub metric_points: u64,
}

/// One metric of one run, summarised for a table: its last, smallest and largest value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSummary {
    pub key: String,
    pub last: f64,
    pub min: f64,
    pub max: f64,
    pub points: u64,
}

impl MetricSummary {
    /// The best value: the smallest for a loss, the largest for anything else (as studies rank).
    pub fn best(&self) -> f64 {
        if self.key.contains("loss") {
            self.min
        } else {
            self.max
        }
    }
}

/// A run with its params and metric summaries: a row of a sortable, filterable runs table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub run: RunSummary,
    pub params: Vec<(String, String)>,
    pub metrics: Vec<MetricSummary>,
}

impl RunRow {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn metric(&self, key: &str) -> Option<&MetricSummary> {
        self.metrics.iter().find(|m| m.key == key)
    }
}

impl Project {
    /// The experiment called `name`, created if it does not exist yet.
    pub fn experiment(&mut self, name: &str) -> Result<ExperimentId> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO experiments (name, created_at) VALUES (?1, ?2)
                 ON CONFLICT (name) DO NOTHING",
                params![name, now_ms()],
            )?;
            tx.query_row("SELECT id FROM experiments WHERE name = ?1", [name], |r| {
                r.get(0)
            })
        })
        .map(ExperimentId)
    }

    /// Starts a run, with status `running`.
    pub fn start_run(&mut self, spec: &RunSpec) -> Result<RunId> {
        let uuid = new_uuid(&spec.name);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO runs (uuid, experiment_id, study_id, trial_index, name, status,
                    start_time, dataset_batch_id, seed, device, config_json, kiln_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    uuid,
                    spec.experiment.unwrap_or(ExperimentId::DEFAULT).0,
                    spec.study.map(|s| s.0),
                    spec.trial_index,
                    spec.name,
                    now_ms(),
                    spec.dataset_batch,
                    spec.seed.map(|s| s as i64),
                    spec.device,
                    spec.config_json,
                    KILN_VERSION,
                ],
            )?;
            Ok(RunId(tx.last_insert_rowid()))
        })
    }

    /// Records `params` on `run`. A param, once logged, keeps its value, as in MLflow.
    pub fn log_params(&mut self, run: RunId, params: &[(&str, &str)]) -> Result<()> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_id, key) DO NOTHING",
            )?;
            for (key, value) in params {
                stmt.execute(params![run.0, key, value])?;
            }
            Ok(())
        })
    }

    /// The params of `run`, by key.
    pub fn params(&self, run: RunId) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            key_values(
                c,
                "SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key",
                run,
            )
        })
    }

    /// Sets a tag on `run`, replacing its earlier value.
    pub fn set_tag(&mut self, run: RunId, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                params![run.0, key, value],
            )
            .map(|_| ())
        })
    }

    /// The tags of `run`, by key.
    pub fn tags(&self, run: RunId) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            key_values(
                c,
                "SELECT key, value FROM tags WHERE run_id = ?1 ORDER BY key",
                run,
            )
        })
    }

    /// Logs metric points in one transaction. For a stream of points from a training loop, use
    /// [`Project::metric_logger`] instead: it never blocks the caller.
    pub fn log_metrics(&mut self, run: RunId, points: &[MetricPoint]) -> Result<()> {
        self.write(|tx| insert_points(tx, run, points))
    }

    /// Every point of metric `key` on `run`, in step order.
    pub fn metric_history(&self, run: RunId, key: &str) -> Result<Vec<MetricPoint>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT step, value, timestamp FROM metrics
                 WHERE run_id = ?1 AND key = ?2 ORDER BY step, rowid",
            )?;
            let rows = stmt.query_map(params![run.0, key], |r| {
                Ok(MetricPoint {
                    key: key.to_owned(),
                    step: r.get(0)?,
                    value: r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
                    timestamp: r.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The metric keys logged on `run`.
    pub fn metric_keys(&self, run: RunId) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT key FROM metrics WHERE run_id = ?1 ORDER BY key",
            )?;
            let rows = stmt.query_map([run.0], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Stores `bytes` as the artifact `path` of `run` (content-addressed, so a copy costs
    /// nothing).
    pub fn log_artifact(&mut self, run: RunId, path: &str, bytes: &[u8]) -> Result<BlobHash> {
        let hash = BlobHash::of(bytes);
        self.write(|tx| {
            crate::store::insert_blob(tx, &hash, bytes)?;
            tx.execute(
                "INSERT INTO artifacts (run_id, path, blob_hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_id, path) DO UPDATE SET blob_hash = excluded.blob_hash",
                params![run.0, path, hash.as_str()],
            )
            .map(|_| ())
        })?;
        Ok(hash)
    }

    /// Ends `run` with `status`, and the reason where it failed.
    pub fn finish_run(
        &mut self,
        run: RunId,
        status: RunStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let changed = self.write(|tx| {
            tx.execute(
                "UPDATE runs SET status = ?2, end_time = ?3, failure_reason = ?4 WHERE id = ?1",
                params![run.0, status.as_str(), now_ms(), reason],
            )
        })?;
        if changed == 0 {
            return Err(self.missing("run", run));
        }
        Ok(())
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        self.query_runs("ORDER BY r.id DESC", [])
    }

    /// One run.
    pub fn run(&self, id: RunId) -> Result<RunSummary> {
        let mut found = self.query_runs("WHERE r.id = ?1", [id.0])?;
        found.pop().ok_or_else(|| self.missing("run", id))
    }

    /// Every run with its params and metric summaries, newest first, in three queries.
    pub fn run_rows(&self) -> Result<Vec<RunRow>> {
        use std::collections::HashMap;
        let runs = self.runs()?;
        let mut params: HashMap<i64, Vec<(String, String)>> = HashMap::new();
        let mut metrics: HashMap<i64, Vec<MetricSummary>> = HashMap::new();
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT run_id, key, value FROM params ORDER BY run_id, key")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                params
                    .entry(r.get(0)?)
                    .or_default()
                    .push((r.get(1)?, r.get(2)?));
            }
            // The last value: the one at the largest step, the latest logged among equals.
            let mut stmt = c.prepare(
                "SELECT m.run_id, m.key,
                        (SELECT l.value FROM metrics l WHERE l.run_id = m.run_id AND l.key = m.key
                         ORDER BY l.step DESC, l.rowid DESC LIMIT 1),
                        min(m.value), max(m.value), count(*)
                 FROM metrics m GROUP BY m.run_id, m.key ORDER BY m.run_id, m.key",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
                metrics.entry(r.get(0)?).or_default().push(MetricSummary {
                    key: r.get(1)?,
                    last: nan(r.get(2)?),
                    min: nan(r.get(3)?),
                    max: nan(r.get(4)?),
                    points: r.get::<_, i64>(5)?.max(0) as u64,
                });
            }
            Ok(())
        })?;
        Ok(runs
            .into_iter()
            .map(|run| RunRow {
                params: params.remove(&run.id.0).unwrap_or_default(),
                metrics: metrics.remove(&run.id.0).unwrap_or_default(),
                run,
            })
            .collect())
    }

    fn query_runs(&self, tail: &str, args: impl rusqlite::Params) -> Result<Vec<RunSummary>> {
        let sql = format!(
            "SELECT r.id, r.uuid, r.name, e.name, s.name, r.trial_index, r.status, r.start_time,
                    r.end_time, r.device, r.failure_reason,
                    (SELECT count(*) FROM metrics m WHERE m.run_id = r.id)
             FROM runs r
             JOIN experiments e ON e.id = r.experiment_id
             LEFT JOIN studies s ON s.id = r.study_id
             {tail}"
        );
        self.read(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(args, |r| {
                Ok(RunSummary {
                    id: RunId(r.get(0)?),
                    uuid: r.get(1)?,
                    name: r.get(2)?,
                    experiment: r.get(3)?,
                    study: r.get(4)?,
                    trial_index: r.get(5)?,
                    status: RunStatus::parse(&r.get::<_, String>(6)?),
                    start_time: r.get(7)?,
                    end_time: r.get(8)?,
                    device: r.get(9)?,
                    failure_reason: r.get(10)?,
                    metric_points: r.get::<_, i64>(11)?.max(0) as u64,
                })
            })?;
            rows.collect()
        })
    }

    fn missing(&self, what: &'static str, id: impl fmt::Display) -> crate::Error {
        StoreError::Missing {
            path: self.path().to_owned(),
            what,
            id: id.to_string(),
        }
        .into()
    }

    /// Whether `run` exists. Used where a caller holds an id from elsewhere.
    pub fn has_run(&self, run: RunId) -> Result<bool> {
        self.read(|c| {
            c.query_row("SELECT 1 FROM runs WHERE id = ?1", [run.0], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
        })
    }
}

/// Inserts points inside a caller's transaction. NaN becomes NULL, which SQLite can store.
pub(crate) fn insert_points(
    tx: &Connection,
    run: RunId,
    points: &[MetricPoint],
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO metrics (run_id, key, step, value, timestamp) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for p in points {
        let value = if p.value.is_nan() {
            None
        } else {
            Some(p.value)
        };
        stmt.execute(params![run.0, p.key, p.step, value, p.timestamp])?;
    }
    Ok(())
}

fn key_values(c: &Connection, sql: &str, run: RunId) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([run.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// A run's globally unique id, for pushing it elsewhere later: 32 hex digits.
pub(crate) fn new_uuid(salt: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!(
        "{nanos}:{}:{}:{salt}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    BlobHash::of(seed.as_bytes()).as_str()[..32].to_owned()
}
