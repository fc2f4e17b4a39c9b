//! Pull: an MLflow experiment's runs into the project, as read-only runs marked with their
//! server, beside Kiln's own in every table and chart.

use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use super::client::Client;
use super::push::{as_i64, experiment_by_name, history, pairs, search_runs, tags_of};
use super::{KEY_TAG, SyncError, SyncProgress};
use crate::events::Event;
use crate::store::sync::{self as stored, PulledRun};
use crate::store::{Project, runs, set_meta};
use crate::tracking::MetricPoint;
use crate::train::TrainOptions;
use crate::{Result, now_ms};

/// Which experiment to pull, from where.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    pub url: String,
    pub experiment: String,
}

/// What a pull brought in.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PullReport {
    pub url: String,
    pub experiment: String,
    pub runs_new: u64,
    pub runs_updated: u64,
    /// Runs this project pushed itself, left out.
    pub runs_own: u64,
    pub points: u64,
    pub params: u64,
    pub tags: u64,
    pub seconds: f64,
}

impl PullReport {
    pub fn summary(&self) -> String {
        format!(
            "pulled experiment {:?} from {}: {} new runs, {} updated, {} of this project's own left out\n\
             {} metric points, {} params, {} tags in {:.2} s",
            self.experiment,
            self.url,
            self.runs_new,
            self.runs_updated,
            self.runs_own,
            self.points,
            self.params,
            self.tags,
            self.seconds
        )
    }
}

/// One run read from the server, before anything is written.
struct Fetched {
    uuid: String,
    name: String,
    status: &'static str,
    start_time: i64,
    end_time: Option<i64>,
    params: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    points: Vec<MetricPoint>,
}

/// Kiln's status for an MLflow one.
fn kiln_status(status: &str) -> &'static str {
    match status {
        "FINISHED" => "finished",
        "FAILED" => "failed",
        "KILLED" => "killed",
        _ => "running",
    }
}

impl Project {
    /// Pulls every active run of an MLflow experiment into this project, in one transaction.
    /// A run pulled before is replaced by what the server holds now, so pulling twice
    /// duplicates nothing; runs this project pushed are left out.
    pub fn pull_from_mlflow(
        &mut self,
        request: &PullRequest,
        options: &TrainOptions,
    ) -> Result<PullReport> {
        let started = Instant::now();
        let mut client = Client::connect(&request.url)?;
        let url = client.url().to_owned();
        let name = request.experiment.trim().to_owned();
        let experiment_id = match experiment_by_name(&mut client, &name)? {
            Some((_, stage)) if stage == "deleted" => {
                return Err(SyncError::ExperimentDeleted { url, name }.into());
            }
            Some((id, _)) => id,
            None => {
                let known = experiment_names(&mut client)?;
                return Err(SyncError::NoExperiment { url, name, known }.into());
            }
        };
        let found = search_runs(&mut client, &experiment_id)?;
        let own = self.read(stored::run_uuids)?;
        let identity = self.read(|c| crate::store::meta(c, "project_id"))?;
        let mut report = PullReport {
            url: url.clone(),
            experiment: name.clone(),
            ..PullReport::default()
        };
        let mut progress = SyncProgress {
            direction: "pull".into(),
            runs_done: 0,
            runs_total: found.len() as u64,
            points_done: 0,
            points_total: 0,
            elapsed_ms: 0,
        };
        let mut fetched = Vec::new();
        for run in &found {
            if options.cancelled() {
                return Err(SyncError::Cancelled.into());
            }
            let tags = tags_of(run);
            let key = tags.iter().find(|(k, _)| k == KEY_TAG).map(|(_, v)| v);
            let pushed_here = key.is_some_and(|k| {
                own.contains(k)
                    || identity
                        .as_ref()
                        .is_some_and(|id| k.starts_with(id.as_str()))
            });
            let info = run.get("info").cloned().unwrap_or_default();
            let uuid = info
                .get("run_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if pushed_here || uuid.is_empty() {
                report.runs_own += u64::from(pushed_here);
                progress.runs_done += 1;
                continue;
            }
            let keys: Vec<String> = run
                .pointer("/data/metrics")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| Some(m.get("key")?.as_str()?.to_owned()))
                .collect();
            let mut points = Vec::new();
            for key in &keys {
                points.extend(history(&mut client, &uuid, key)?);
            }
            let name = info
                .get("run_name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .or_else(|| {
                    tags.iter()
                        .find(|(k, _)| k == "mlflow.runName")
                        .map(|(_, v)| v.clone())
                })
                .unwrap_or_else(|| uuid.clone());
            progress.runs_done += 1;
            progress.points_done += points.len() as u64;
            progress.points_total = progress.points_done;
            progress.elapsed_ms = started.elapsed().as_millis() as u64;
            options.events.emit(Event::Sync(progress.clone()));
            fetched.push(Fetched {
                uuid,
                name,
                status: kiln_status(info.get("status").and_then(Value::as_str).unwrap_or("")),
                start_time: info
                    .get("start_time")
                    .and_then(as_i64)
                    .unwrap_or_else(now_ms),
                end_time: info.get("end_time").and_then(as_i64),
                params: pairs(run.pointer("/data/params")),
                tags,
                points,
            });
        }
        let origin = format!("{url}#{name}");
        let counts = self.write(|c| {
            let experiment = runs::experiment(c, &name)?;
            let (mut new, mut updated) = (0u64, 0u64);
            for f in &fetched {
                let existing = stored::run_by_uuid(c, &f.uuid)?;
                if existing.is_some() {
                    updated += 1;
                } else {
                    new += 1;
                }
                stored::store_pulled_run(
                    c,
                    existing,
                    &f.uuid,
                    &PulledRun {
                        origin: &origin,
                        experiment,
                        name: &f.name,
                        status: f.status,
                        start_time: f.start_time,
                        end_time: f.end_time,
                        params: &f.params,
                        tags: &f.tags,
                        points: &f.points,
                    },
                )?;
            }
            // The server, not the experiment: the next push goes to the project's own.
            set_meta(c, "mlflow.url", &url)?;
            Ok((new, updated))
        })?;
        report.runs_new = counts.0;
        report.runs_updated = counts.1;
        report.points = fetched.iter().map(|f| f.points.len() as u64).sum();
        report.params = fetched.iter().map(|f| f.params.len() as u64).sum();
        report.tags = fetched.iter().map(|f| f.tags.len() as u64).sum();
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}

/// The names of the server's active experiments, for a message.
fn experiment_names(client: &mut Client) -> Result<Vec<String>, SyncError> {
    let answer = client.post(
        "experiments/search",
        &json!({ "max_results": 100, "view_type": "ACTIVE_ONLY" }),
    )?;
    Ok(answer
        .get("experiments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(format!("{:?}", e.get("name")?.as_str()?)))
        .collect())
}
