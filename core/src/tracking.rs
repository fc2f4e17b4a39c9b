//! Tracking: experiments, runs, params, tags and metrics, named as MLflow names them.
//!
//! A run records what it needs to be repeated (data batch, config, seed, device, Kiln version).
//! Metrics arrive in bulk through [`crate::RunLogger`]; the calls here are the synchronous path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::store::{BlobHash, Project, StoreError, insert_blob, runs};

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

    /// The status stored as `s`; anything unknown reads as running.
    pub(crate) fn parse(s: &str) -> RunStatus {
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

/// A committed metric point of any run, with its place in the file: what a follower of a
/// running study reads as points arrive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TailPoint {
    /// Increases with every point committed; a follower asks for the points after the last.
    pub seq: i64,
    pub run: RunId,
    pub key: String,
    pub step: i64,
    pub value: f64,
    /// Wall time the point was logged, milliseconds since the Unix epoch.
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
    /// Where a pulled run came from (`URL#experiment`); `None` for a run trained here.
    pub origin: Option<String>,
    /// The study the run is a trial of (`study` is its name, which several studies may share).
    pub study_id: Option<StudyId>,
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
        self.best_for(crate::objective::Direction::of(&self.key))
    }

    /// The best value in `direction`: the smallest when minimising, the largest otherwise.
    pub fn best_for(&self, direction: crate::objective::Direction) -> f64 {
        direction.pick(self.min, self.max)
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

/// A metric's smallest and largest value on one run.
pub type Extremes = (f64, f64);

/// The params and metrics of a list of runs as columns: per key, each run's value by its
/// position in the list. A table over thousands of runs filters, sorts and picks its columns
/// over these arrays instead of searching every run's own lists (whose strings lie all over
/// memory). Built off the UI thread, with the list it describes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunColumns {
    /// Param keys, sorted, each with every run's value: an index into `values`, or `ABSENT`.
    pub params: Vec<(String, Vec<u32>)>,
    /// Each distinct param value, with its number where it reads as one.
    pub values: Vec<(String, Option<f64>)>,
    /// Metric keys, sorted, each with every run's smallest and largest value, if it logged any.
    pub metrics: Vec<(String, Vec<Option<Extremes>>)>,
    /// Each run's words for a search, lowercased: name, study, status, device and every
    /// `param=value`.
    pub text: Vec<String>,
    /// Where each run is in the list.
    pub positions: std::collections::HashMap<RunId, usize>,
}

impl RunColumns {
    /// A run without the param.
    pub const ABSENT: u32 = u32::MAX;

    pub fn new(rows: &[RunRow]) -> RunColumns {
        use std::collections::{BTreeMap, HashMap};
        let mut params: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        let mut metrics: BTreeMap<&str, Vec<Option<Extremes>>> = BTreeMap::new();
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut values: Vec<(String, Option<f64>)> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            for (key, value) in &row.params {
                let id = *ids.entry(value.as_str()).or_insert_with(|| {
                    values.push((value.clone(), value.parse().ok()));
                    (values.len() - 1) as u32
                });
                params
                    .entry(key.as_str())
                    .or_insert_with(|| vec![RunColumns::ABSENT; rows.len()])[i] = id;
            }
            for m in &row.metrics {
                metrics
                    .entry(m.key.as_str())
                    .or_insert_with(|| vec![None; rows.len()])[i] = Some((m.min, m.max));
            }
        }
        let text = rows
            .iter()
            .map(|row| {
                use std::fmt::Write;
                let mut text = format!(
                    "{} {} {} {}",
                    row.run.name,
                    row.run.study.as_deref().unwrap_or(""),
                    row.run.status,
                    row.run.device.as_deref().unwrap_or("")
                );
                for (k, v) in &row.params {
                    let _ = write!(text, " {k}={v}");
                }
                text.to_lowercase()
            })
            .collect();
        RunColumns {
            text,
            positions: rows
                .iter()
                .enumerate()
                .map(|(i, r)| (r.run.id, i))
                .collect(),
            params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            values,
            metrics: metrics
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }

    /// Every run's value of param `key`, if any run has it.
    pub fn param(&self, key: &str) -> Option<&[u32]> {
        self.params
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.params[i].1.as_slice())
    }

    /// Every run's smallest and largest value of metric `key`, if any run logged it.
    pub fn metric(&self, key: &str) -> Option<&[Option<Extremes>]> {
        self.metrics
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.metrics[i].1.as_slice())
    }

    /// Run `i`'s best value of metric `key` in `direction`, if it logged any.
    pub fn best(&self, key: &str, direction: crate::objective::Direction, i: usize) -> Option<f64> {
        let (min, max) = self.metric(key)?[i]?;
        Some(direction.pick(min, max))
    }

    /// The text and number of the value `id` of a param column.
    pub fn value(&self, id: u32) -> Option<&(String, Option<f64>)> {
        self.values.get(id as usize)
    }
}

impl Project {
    /// The experiment called `name`, created if it does not exist yet.
    pub fn experiment(&mut self, name: &str) -> Result<ExperimentId> {
        self.write(|tx| runs::experiment(tx, name))
    }

    /// Starts a run, with status `running`.
    pub fn start_run(&mut self, spec: &RunSpec) -> Result<RunId> {
        let uuid = new_uuid(&spec.name);
        self.write(|tx| runs::insert_run(tx, &uuid, spec))
    }

    /// Records `params` on `run`. A param, once logged, keeps its value, as in MLflow.
    pub fn log_params(&mut self, run: RunId, params: &[(&str, &str)]) -> Result<()> {
        self.write(|tx| runs::insert_params(tx, run, params))
    }

    /// The params of `run`, by key.
    pub fn params(&self, run: RunId) -> Result<Vec<(String, String)>> {
        self.read(|c| runs::params(c, run))
    }

    /// Sets a tag on `run`, replacing its earlier value.
    pub fn set_tag(&mut self, run: RunId, key: &str, value: &str) -> Result<()> {
        self.write(|tx| runs::set_tag(tx, run, key, value))
    }

    /// The tags of `run`, by key.
    pub fn tags(&self, run: RunId) -> Result<Vec<(String, String)>> {
        self.read(|c| runs::tags(c, run))
    }

    /// Logs metric points in one transaction. For a stream of points from a training loop, use
    /// [`Project::metric_logger`] instead: it never blocks the caller.
    pub fn log_metrics(&mut self, run: RunId, points: &[MetricPoint]) -> Result<()> {
        self.write(|tx| runs::insert_points(tx, run, points))
    }

    /// Every point of metric `key` on `run`, in step order.
    pub fn metric_history(&self, run: RunId, key: &str) -> Result<Vec<MetricPoint>> {
        self.read(|c| runs::metric_history(c, run, key))
    }

    /// Every (step, value) of metric `key` on `run`, in step order (a NaN stays NaN).
    pub fn metric_values(&self, run: RunId, key: &str) -> Result<Vec<[f64; 2]>> {
        self.read(|c| runs::metric_values(c, run, key))
    }

    /// Up to `limit` metric points committed after `after` (a [`TailPoint::seq`], or 0 for the
    /// first), in the order they were committed.
    pub fn metric_tail(&self, after: i64, limit: usize) -> Result<Vec<TailPoint>> {
        self.read(|c| runs::metric_tail(c, after, limit))
    }

    /// The newest committed point's [`TailPoint::seq`] (0 when there is none): a follower that
    /// starts here hears only what is logged from now on.
    pub fn metric_tail_end(&self) -> Result<i64> {
        self.read(runs::metric_tail_end)
    }

    /// The metric keys logged on `run`.
    pub fn metric_keys(&self, run: RunId) -> Result<Vec<String>> {
        self.read(|c| runs::metric_keys(c, run))
    }

    /// Stores `bytes` as the artifact `path` of `run` (content-addressed, so a copy costs
    /// nothing).
    pub fn log_artifact(&mut self, run: RunId, path: &str, bytes: &[u8]) -> Result<BlobHash> {
        let hash = BlobHash::of(bytes);
        self.write(|tx| {
            insert_blob(tx, &hash, bytes)?;
            runs::set_artifact(tx, run, path, &hash)
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
        if !self.write(|tx| runs::finish_run(tx, run, status, reason))? {
            return Err(self.missing("run", run));
        }
        Ok(())
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        self.read(runs::runs)
    }

    /// One run.
    pub fn run(&self, id: RunId) -> Result<RunSummary> {
        self.read(|c| runs::run(c, id))?
            .ok_or_else(|| self.missing("run", id))
    }

    /// Every run with its params and metric summaries, newest first, in three queries.
    pub fn run_rows(&self) -> Result<Vec<RunRow>> {
        let found = self.runs()?;
        let (mut params, mut metrics) =
            self.read(|c| Ok((runs::all_params(c)?, runs::metric_summaries(c)?)))?;
        Ok(found
            .into_iter()
            .map(|run| RunRow {
                params: params.remove(&run.id).unwrap_or_default(),
                metrics: metrics.remove(&run.id).unwrap_or_default(),
                run,
            })
            .collect())
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
        self.read(|c| runs::has_run(c, run))
    }
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
