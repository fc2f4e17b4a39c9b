//! Studies: one search, its trials as runs, run in parallel, cancellable, resumable.
//!
//! Every trial has a fixed index in its study's search. A run records the index, and the
//! project refuses two live runs with the same index, so a resumed study re-runs exactly the
//! trials that did not finish and none twice.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::device::{DevicePreference, TrainingDevice, probe_adapters, select_device};
use super::model::ModelFamily;
use super::space::{Hyperparams, SearchSpace, Strategy};
use super::trainer::{PreparedData, TrialContext, TrialState, TrialStop};
use crate::events::{Event, EventSink};
use crate::store::Project;
use crate::tracking::{RunId, RunSpec, RunStatus, StudyId};
use crate::{Result, now_ms};

/// What to search: stored with the study, so it can be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRequest {
    pub dataset: String,
    pub family: ModelFamily,
    pub strategy: Strategy,
    pub space: SearchSpace,
    /// Trials trained at once.
    pub parallel: usize,
    pub device: DevicePreference,
    /// The most trials the user agreed to. Without it, a space of more than
    /// [`MAX_TRIALS_UNASKED`] trials is refused.
    #[serde(default)]
    pub max_trials: Option<usize>,
}

/// The largest search run without an explicit `max_trials`.
pub const MAX_TRIALS_UNASKED: usize = 10_000;

/// How a study is watched and stopped.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    pub events: EventSink,
    /// Set it to stop the study within one batch of every running trial.
    pub cancel: Arc<AtomicBool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StudyStatus {
    Finished,
    Cancelled,
}

/// A study as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudySummary {
    pub id: StudyId,
    pub name: String,
    pub strategy: String,
    /// The metric that picks the best trial.
    pub objective: String,
    /// Whether the best trial has the smallest objective (a loss) rather than the largest.
    pub minimize: bool,
    pub status: String,
}

/// One finished trial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialSummary {
    pub trial: usize,
    pub run: RunId,
    pub objective: f64,
    /// The best model's accuracy on the held-out test split.
    pub test_accuracy: Option<f64>,
    pub params: Vec<(String, String)>,
}

/// What a study did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyOutcome {
    pub study: StudyId,
    pub status: StudyStatus,
    pub trials: usize,
    pub finished: usize,
    pub failed: usize,
    /// Trials kept from an earlier, interrupted session.
    pub kept: usize,
    pub objective: String,
    pub best: Option<TrialSummary>,
    pub device: String,
    pub notice: Option<String>,
}

impl Project {
    /// Runs a new study to the end (or until cancelled).
    ///
    /// Everything that can be checked is checked before the study is written: the space, the
    /// objective, the trial count, the dataset, its split and its classes. A refused request
    /// leaves nothing behind.
    pub fn run_study(
        &mut self,
        request: &StudyRequest,
        options: &TrainOptions,
    ) -> Result<StudyOutcome> {
        let trials = self.check_request(request)?;
        let data = PreparedData::prepare(self, &request.dataset, &request.space)?;
        let spec = serde_json::to_string(request).unwrap_or_default();
        let name = format!(
            "{}-{}-{}",
            request.dataset,
            family_name(request.family),
            request.strategy.as_str()
        );
        let study = self.write(|tx| {
            tx.execute(
                "INSERT INTO studies (experiment_id, name, strategy, space_json, objective, direction, status, created_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, 'running', ?6)",
                params![
                    name,
                    request.strategy.as_str(),
                    spec,
                    request.space.objective,
                    direction(&request.space.objective),
                    now_ms()
                ],
            )?;
            Ok(StudyId(tx.last_insert_rowid()))
        })?;
        self.drive(study, request, trials, data, options)
    }

    /// The trials of `request`, once every setting is known to make sense.
    pub fn check_request(&self, request: &StudyRequest) -> Result<Vec<Hyperparams>> {
        if request.parallel == 0 {
            return Err(TrainError::Space("parallel must be at least 1".into()).into());
        }
        let trials = request.space.trials(request.strategy, request.family)?;
        if trials.is_empty() {
            return Err(TrainError::EmptySpace.into());
        }
        match request.max_trials {
            Some(max) if trials.len() > max => {
                return Err(TrainError::TooManyTrials {
                    trials: trials.len(),
                    max,
                }
                .into());
            }
            None if trials.len() > MAX_TRIALS_UNASKED => {
                return Err(TrainError::TooManyTrials {
                    trials: trials.len(),
                    max: MAX_TRIALS_UNASKED,
                }
                .into());
            }
            _ => {}
        }
        Ok(trials)
    }

    /// Continues a study after a crash or a kill: finished trials are kept, unfinished ones run
    /// again from the start.
    pub fn resume_study(&mut self, study: StudyId, options: &TrainOptions) -> Result<StudyOutcome> {
        let spec: Option<String> = self.read(|c| {
            c.query_row(
                "SELECT space_json FROM studies WHERE id = ?1",
                [study.0],
                |r| r.get(0),
            )
            .optional()
        })?;
        let spec = spec.ok_or(TrainError::NoStudy(study.0))?;
        let request: StudyRequest =
            serde_json::from_str(&spec).map_err(|e| TrainError::NotResumable {
                study: study.0,
                reason: e.to_string(),
            })?;
        let trials = request.space.trials(request.strategy, request.family)?;
        let data = PreparedData::prepare(self, &request.dataset, &request.space)?;
        // Runs left `running` by a process that died: mark them killed, so their trials run again.
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET status = 'killed', end_time = ?2, failure_reason = 'interrupted; re-run on resume'
                 WHERE study_id = ?1 AND status = 'running'",
                params![study.0, now_ms()],
            )?;
            tx.execute("UPDATE studies SET status = 'running', finished_at = NULL WHERE id = ?1", [study.0])
        })?;
        self.drive(study, &request, trials, data, options)
    }

    /// The studies of this project with their strategy and objective, oldest first.
    pub fn study_summaries(&self) -> Result<Vec<StudySummary>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, strategy, objective, direction, status FROM studies ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(StudySummary {
                    id: StudyId(r.get(0)?),
                    name: r.get(1)?,
                    strategy: r.get(2)?,
                    objective: r.get(3)?,
                    minimize: r.get::<_, String>(4)? == "minimize",
                    status: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The studies of this project: id, name, status.
    pub fn studies(&self) -> Result<Vec<(StudyId, String, String)>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id, name, status FROM studies ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((StudyId(r.get(0)?), r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Trial index to finished run, objective and status, for trials done in earlier sessions.
    fn done_trials(&self, study: StudyId, objective: &str) -> Result<Vec<DoneTrial>> {
        let rows: Vec<(i64, i64, String)> = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT trial_index, id, status FROM runs
                 WHERE study_id = ?1 AND status IN ('finished', 'failed') ORDER BY trial_index",
            )?;
            let rows = stmt.query_map([study.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(index, run, status)| {
                let score = self.best_value(RunId(run), objective)?;
                let status = if status == "failed" {
                    RunStatus::Failed
                } else {
                    RunStatus::Finished
                };
                Ok((index.max(0) as usize, RunId(run), score, status))
            })
            .collect()
    }

    /// The best value of metric `key` on `run`.
    pub fn best_value(&self, run: RunId, key: &str) -> Result<Option<f64>> {
        let agg = if key.contains("loss") { "min" } else { "max" };
        self.read(|c| {
            c.query_row(
                &format!("SELECT {agg}(value) FROM metrics WHERE run_id = ?1 AND key = ?2"),
                params![run.0, key],
                |r| r.get(0),
            )
        })
    }

    fn drive(
        &mut self,
        study: StudyId,
        request: &StudyRequest,
        trials: Vec<Hyperparams>,
        data: PreparedData,
        options: &TrainOptions,
    ) -> Result<StudyOutcome> {
        // Forced to the CPU, wgpu is never touched: no probe, and none of its drivers' noise.
        let adapters = match request.device {
            DevicePreference::Cpu => Vec::new(),
            _ => probe_adapters(),
        };
        let device = select_device(request.device, &adapters);
        let objective = request.space.objective.clone();
        let done = self.done_trials(study, &objective)?;
        options.events.emit(Event::StudyStarted {
            study,
            trials: trials.len(),
            strategy: request.strategy.as_str().into(),
            device: device.label.clone(),
        });
        if let Some(message) = &device.notice {
            options.events.emit(Event::Notice {
                message: message.clone(),
            });
        }
        let pending: Vec<(usize, Hyperparams)> = trials
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| !done.iter().any(|d| d.0 == *i))
            .collect();
        let runner = Runner {
            project: Mutex::new(&mut *self),
            study,
            request,
            data: &data,
            device: &device,
            options,
            objective: &objective,
            results: Mutex::new(Vec::new()),
        };
        match request.strategy {
            Strategy::Halving => runner.halving(pending),
            Strategy::Grid | Strategy::Random => {
                let jobs = pending.into_iter().map(|(i, hp)| Job {
                    trial: i,
                    state: None,
                    hyperparams: hp,
                    until: usize::MAX,
                    last: true,
                });
                runner.run_jobs(jobs.collect());
            }
        }
        let mut results = runner.results.into_inner().unwrap_or_default();
        for (trial, run, score, status) in &done {
            results.push(TrialResult {
                trial: *trial,
                run: *run,
                score: *score,
                status: *status,
                state: None,
            });
        }
        let cancelled = options.cancel.load(Ordering::Relaxed);
        self.conclude(
            study,
            &trials,
            results,
            done.len(),
            cancelled,
            &device,
            &objective,
            &options.events,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn conclude(
        &mut self,
        study: StudyId,
        trials: &[Hyperparams],
        results: Vec<TrialResult>,
        kept: usize,
        cancelled: bool,
        device: &TrainingDevice,
        objective: &str,
        events: &EventSink,
    ) -> Result<StudyOutcome> {
        let minimize = objective.contains("loss");
        let best = results
            .iter()
            .filter(|r| r.status == RunStatus::Finished)
            .filter_map(|r| r.score.map(|s| (r, s)))
            .reduce(|a, b| {
                let b_better = if minimize { b.1 < a.1 } else { b.1 > a.1 };
                if b_better || (b.1 == a.1 && b.0.trial < a.0.trial) {
                    b
                } else {
                    a
                }
            })
            .map(|(r, s)| TrialSummary {
                trial: r.trial,
                run: r.run,
                objective: s,
                test_accuracy: None,
                params: trials.get(r.trial).map(|t| t.params()).unwrap_or_default(),
            });
        let best = match best {
            Some(mut b) => {
                b.test_accuracy = self.best_value(b.run, "test/accuracy")?;
                Some(b)
            }
            None => None,
        };
        let status = if cancelled {
            StudyStatus::Cancelled
        } else {
            StudyStatus::Finished
        };
        let status_text = if cancelled { "cancelled" } else { "finished" };
        self.write(|tx| {
            tx.execute(
                "UPDATE studies SET status = ?2, finished_at = ?3 WHERE id = ?1",
                params![study.0, status_text, now_ms()],
            )
        })?;
        if let Some(best) = &best {
            self.set_tag(best.run, "kiln.best_in_study", "true")?;
        }
        events.emit(Event::StudyFinished {
            study,
            status: status_text.into(),
            best: best.as_ref().map(|b| (b.run, b.objective)),
        });
        Ok(StudyOutcome {
            study,
            status,
            trials: trials.len(),
            finished: results
                .iter()
                .filter(|r| r.status == RunStatus::Finished)
                .count(),
            failed: results
                .iter()
                .filter(|r| r.status == RunStatus::Failed)
                .count(),
            kept,
            objective: objective.to_owned(),
            best,
            device: device.label.clone(),
            notice: device.notice.clone(),
        })
    }
}

/// A trial finished in an earlier session: index, run, best objective, status.
type DoneTrial = (usize, RunId, Option<f64>, RunStatus);

fn family_name(family: ModelFamily) -> &'static str {
    match family {
        ModelFamily::Logreg => "logreg",
        ModelFamily::Mlp => "mlp",
    }
}

fn direction(objective: &str) -> &'static str {
    if objective.contains("loss") {
        "minimize"
    } else {
        "maximize"
    }
}

/// A trial to train up to `until` epochs, from scratch or from its state at the last rung.
struct Job {
    trial: usize,
    hyperparams: Hyperparams,
    state: Option<(RunId, TrialState)>,
    until: usize,
    /// Whether this is the trial's last stretch: its run ends after it.
    last: bool,
}

struct TrialResult {
    trial: usize,
    run: RunId,
    score: Option<f64>,
    status: RunStatus,
    /// Kept for the next rung of a halving study.
    state: Option<TrialState>,
}

/// The shared state of the worker threads of one study.
struct Runner<'a> {
    project: Mutex<&'a mut Project>,
    study: StudyId,
    request: &'a StudyRequest,
    data: &'a PreparedData,
    device: &'a TrainingDevice,
    options: &'a TrainOptions,
    objective: &'a str,
    results: Mutex<Vec<TrialResult>>,
}

impl Runner<'_> {
    /// Runs `jobs` on `parallel` worker threads.
    fn run_jobs(&self, jobs: Vec<Job>) {
        let queue = Mutex::new(VecDeque::from(jobs));
        let workers = self.request.parallel.max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while let Some(job) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                        if self.options.cancel.load(Ordering::Relaxed) {
                            break;
                        }
                        let result = self.run_job(job);
                        if let Ok(mut results) = self.results.lock() {
                            results.push(result);
                        }
                    }
                });
            }
        });
    }

    /// Successive halving: every trial trains to the first rung, the best 1/eta go on to the
    /// next (eta times the epochs), and the rest stop there.
    fn halving(&self, pending: Vec<(usize, Hyperparams)>) {
        let spec = &self.request.space.halving;
        let max_epochs = pending.iter().map(|(_, hp)| hp.epochs).max().unwrap_or(1);
        let mut rungs = vec![spec.min_epochs.min(max_epochs)];
        while let Some(&last) = rungs.last() {
            let next = last.saturating_mul(spec.eta).min(max_epochs);
            if next <= last {
                break;
            }
            rungs.push(next);
        }
        let mut alive: Vec<Job> = pending
            .into_iter()
            .map(|(trial, hyperparams)| Job {
                trial,
                hyperparams,
                state: None,
                until: 0,
                last: false,
            })
            .collect();
        for (k, &until) in rungs.iter().enumerate() {
            let last_rung = k + 1 == rungs.len();
            let keep = if last_rung {
                alive.len()
            } else {
                alive.len().div_ceil(spec.eta).max(1)
            };
            for job in &mut alive {
                job.until = until;
                job.last = last_rung;
            }
            self.run_jobs(std::mem::take(&mut alive));
            if self.options.cancel.load(Ordering::Relaxed) {
                return;
            }
            let mut results = match self.results.lock() {
                Ok(mut r) => std::mem::take(&mut *r),
                Err(_) => return,
            };
            let (mut running, finished): (Vec<TrialResult>, Vec<TrialResult>) = results
                .drain(..)
                .partition(|r| r.state.is_some() && r.status == RunStatus::Running);
            let minimize = self.objective.contains("loss");
            running.sort_by(|a, b| {
                let (x, y) = (a.score.unwrap_or(f64::NAN), b.score.unwrap_or(f64::NAN));
                let order = if minimize {
                    x.total_cmp(&y)
                } else {
                    y.total_cmp(&x)
                };
                order.then(a.trial.cmp(&b.trial))
            });
            let mut done = finished;
            for (rank, mut result) in running.into_iter().enumerate() {
                if rank < keep {
                    if let Some(state) = result.state.take() {
                        let hyperparams = state.hyperparams.clone();
                        alive.push(Job {
                            trial: result.trial,
                            hyperparams,
                            state: Some((result.run, state)),
                            until,
                            last: false,
                        });
                    }
                } else {
                    self.stop_early(&mut result, until);
                    done.push(result);
                }
            }
            if let Ok(mut r) = self.results.lock() {
                r.extend(done);
            }
        }
    }

    /// Ends a trial that halving did not promote.
    fn stop_early(&self, result: &mut TrialResult, rung: usize) {
        let Some(state) = result.state.take() else {
            return;
        };
        let reason = format!("stopped by successive halving after {rung} epochs");
        let outcome = self.save_model(result.run, &state);
        if let Ok(mut project) = self.project.lock() {
            let _ = project.set_tag(result.run, "kiln.halving", &reason);
        }
        result.status = if outcome {
            RunStatus::Finished
        } else {
            RunStatus::Failed
        };
        self.options.events.emit(Event::TrialFinished {
            run: result.run,
            trial: result.trial,
            status: result.status.as_str().into(),
            objective: result.score,
            reason: Some(reason),
        });
    }

    fn run_job(&self, job: Job) -> TrialResult {
        let (run, mut state) = match job.state {
            Some((run, state)) => (run, state),
            None => {
                let seed = self.request.space.seed.wrapping_add(job.trial as u64);
                let state = TrialState::new(
                    self.request.family,
                    job.hyperparams.clone(),
                    self.data,
                    seed,
                    &self.device.device,
                );
                match self.start_run(job.trial, &state) {
                    Ok(run) => (run, state),
                    Err(e) => {
                        return TrialResult {
                            trial: job.trial,
                            run: RunId(0),
                            score: None,
                            status: RunStatus::Failed,
                            state: None,
                        }
                        .with_event(&self.options.events, Some(e.to_string()));
                    }
                }
            }
        };
        let logger = match self
            .project
            .lock()
            .map_err(|_| "the project lock was poisoned".to_string())
            .and_then(|p| p.metric_logger(run).map_err(|e| e.to_string()))
        {
            Ok(logger) => logger,
            Err(reason) => return self.fail(job.trial, run, reason),
        };
        let ctx = TrialContext {
            data: self.data,
            device: self.device,
            logger: &logger,
            events: &self.options.events,
            cancel: &self.options.cancel,
            run,
            trial: job.trial,
            objective: self.objective,
        };
        let until = job.until;
        let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            state.train_until(until, &ctx)
        }));
        let flushed = logger.finish();
        let outcome = match trained {
            Ok(Ok(())) => Ok(()),
            Ok(Err(stop)) => Err(stop),
            Err(panic) => Err(TrialStop::Failed(panic_message(&panic))),
        };
        if let Err(e) = flushed {
            return self.fail(job.trial, run, e.to_string());
        }
        match outcome {
            Err(TrialStop::Cancelled) => {
                if let Ok(mut project) = self.project.lock() {
                    let _ = project.finish_run(run, RunStatus::Killed, Some("cancelled"));
                }
                self.options.events.emit(Event::TrialFinished {
                    run,
                    trial: job.trial,
                    status: "killed".into(),
                    objective: None,
                    reason: Some("cancelled".into()),
                });
                TrialResult {
                    trial: job.trial,
                    run,
                    score: None,
                    status: RunStatus::Killed,
                    state: None,
                }
            }
            Err(TrialStop::Failed(reason)) => self.fail(job.trial, run, reason),
            Ok(()) => {
                let score = state.best_objective().map(|(s, _)| s);
                let finished =
                    job.last || state.early_stopped || state.epoch >= state.hyperparams.epochs;
                if !finished {
                    return TrialResult {
                        trial: job.trial,
                        run,
                        score,
                        status: RunStatus::Running,
                        state: Some(state),
                    };
                }
                let status = if self.save_model(run, &state) {
                    RunStatus::Finished
                } else {
                    RunStatus::Failed
                };
                self.options.events.emit(Event::TrialFinished {
                    run,
                    trial: job.trial,
                    status: status.as_str().into(),
                    objective: score,
                    reason: None,
                });
                TrialResult {
                    trial: job.trial,
                    run,
                    score,
                    status,
                    state: None,
                }
            }
        }
    }

    fn start_run(&self, trial: usize, state: &TrialState) -> Result<RunId> {
        let mut project = self
            .project
            .lock()
            .map_err(|_| TrainError::Space("the project lock was poisoned".into()))?;
        let config = serde_json::json!({
            "family": state.architecture.family,
            "architecture": state.architecture,
            "hyperparams": state.hyperparams,
            "dataset": self.request.dataset,
            "dataset_hash": self.data.content_hash.as_str(),
        });
        let spec = RunSpec {
            name: format!("trial-{trial}"),
            experiment: None,
            study: Some(self.study),
            trial_index: Some(trial as u32),
            dataset_batch: Some(self.data.batch.0),
            seed: Some(state.seed),
            device: Some(self.device.label.clone()),
            config_json: Some(config.to_string()),
        };
        let run = project.start_run(&spec)?;
        let params = state.hyperparams.params();
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("model", family_name(state.architecture.family)));
        pairs.push(("dataset", &self.request.dataset));
        project.log_params(run, &pairs)?;
        project.set_tag(run, "kiln.device", &self.device.label)?;
        drop(project);
        self.options.events.emit(Event::TrialStarted {
            study: self.study,
            trial,
            run,
            params,
        });
        Ok(run)
    }

    /// Stores the trial's best model and test metrics and ends its run. False when that failed.
    fn save_model(&self, run: RunId, state: &TrialState) -> bool {
        let saved = state.finish(self.data, self.device);
        let Ok(mut project) = self.project.lock() else {
            return false;
        };
        let stored = match saved {
            Err(TrialStop::Failed(reason)) => Err(reason),
            Err(TrialStop::Cancelled) => Err("cancelled".to_string()),
            Ok((weights, artifact, test_metrics)) => {
                let points: Vec<crate::MetricPoint> = test_metrics
                    .into_iter()
                    .map(|(key, value)| crate::MetricPoint {
                        key,
                        step: artifact.best_epoch as i64,
                        value,
                        timestamp: now_ms(),
                    })
                    .collect();
                let json = serde_json::to_vec(&artifact).unwrap_or_default();
                // The model, its test metrics and the run's end land together: a finished run
                // always has its model.
                project
                    .atomically(|p| {
                        p.log_metrics(run, &points)?;
                        p.log_artifact(run, "model.bpk", &weights)?;
                        p.log_artifact(run, "model.json", &json)?;
                        p.finish_run(run, RunStatus::Finished, None)
                    })
                    .map_err(|e| e.to_string())
            }
        };
        match stored {
            Ok(()) => true,
            Err(reason) => {
                let _ = project.finish_run(run, RunStatus::Failed, Some(&reason));
                false
            }
        }
    }

    fn fail(&self, trial: usize, run: RunId, reason: String) -> TrialResult {
        if let Ok(mut project) = self.project.lock() {
            let _ = project.finish_run(run, RunStatus::Failed, Some(&reason));
        }
        TrialResult {
            trial,
            run,
            score: None,
            status: RunStatus::Failed,
            state: None,
        }
        .with_event(&self.options.events, Some(reason))
    }
}

impl TrialResult {
    fn with_event(self, events: &EventSink, reason: Option<String>) -> TrialResult {
        events.emit(Event::TrialFinished {
            run: self.run,
            trial: self.trial,
            status: self.status.as_str().into(),
            objective: self.score,
            reason,
        });
        self
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown failure");
    format!(
        "the backend failed: {} (out of memory, or the device was lost?)",
        what.lines().next().unwrap_or(what)
    )
}

/// The held-out test split of a run's data, as its model sees it.
pub struct HeldOut {
    pub table: crate::data::Table,
    /// Row indices of the test split in `table`.
    pub rows: Vec<usize>,
    /// The rows through the model's feature pipeline.
    pub features: crate::features::Matrix,
    pub labels: Vec<usize>,
}

impl Project {
    /// The test split the run's study held out, rebuilt from the stored data and split seed,
    /// and passed through `pipeline`.
    pub fn held_out(
        &self,
        run: RunId,
        pipeline: &crate::features::FeaturePipeline,
    ) -> Result<HeldOut> {
        let spec: Option<String> = self.read(|c| {
            c.query_row(
                "SELECT s.space_json FROM runs r JOIN studies s ON s.id = r.study_id WHERE r.id = ?1",
                [run.0],
                |r| r.get(0),
            )
            .optional()
        })?;
        let request: StudyRequest = spec
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| {
                TrainError::BadModel(format!(
                    "run {run} is not part of a study, so it has no held-out split"
                ))
            })?;
        let loaded = self.load_dataset(&request.dataset)?;
        let labels: Vec<Option<&str>> = loaded
            .table
            .column(&pipeline.label)
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_deref())
            .collect();
        let split = crate::data::stratified_split(&labels, request.space.split())?;
        let features = pipeline.transform(&loaded.table, &split.test)?;
        let labels = pipeline.encode_labels(&loaded.table, &split.test)?;
        Ok(HeldOut {
            table: loaded.table,
            rows: split.test,
            features,
            labels,
        })
    }
}
