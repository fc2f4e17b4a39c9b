//! The scheduler of a study: trials on a pool of worker threads sharing the project, each
//! trial's run opened, logged and closed, cancellation within one batch, and halving's rungs
//! (whose rules live in [`super::halving`]).
//!
//! A write that fails never passes silently: the trial fails with the reason, and the study
//! ends as failed, so that the records never claim more than happened.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::device::TrainingDevice;
use super::halving::{self, Standing};
use super::space::Hyperparams;
use super::study::{StudyRequest, TrainOptions};
use super::timings::Phase;
use super::trainer::{PreparedData, TrialContext, TrialState, TrialStop};
use crate::events::Event;
use crate::objective::Objective;
use crate::store::Project;
use crate::tracking::{RunId, RunSpec, RunStatus, StudyId};
use crate::{Result, now_ms};

/// A trial to train up to `until` epochs, from scratch or from its state at the last rung.
struct Job {
    trial: usize,
    hyperparams: Hyperparams,
    state: Option<(RunId, TrialState)>,
    until: usize,
    /// Whether this is the trial's last stretch: its run ends after it.
    last: bool,
}

/// Where a trial ended (or, in a halving study, stands between rungs).
pub(crate) struct TrialResult {
    pub trial: usize,
    pub run: RunId,
    pub score: Option<f64>,
    pub status: RunStatus,
    /// Kept for the next rung of a halving study.
    pub state: Option<TrialState>,
}

/// The shared state of the worker threads of one study.
pub(crate) struct Scheduler<'a> {
    project: Mutex<&'a mut Project>,
    study: StudyId,
    request: &'a StudyRequest,
    data: &'a PreparedData,
    device: &'a TrainingDevice,
    options: &'a TrainOptions,
    objective: &'a Objective,
    results: Mutex<Vec<TrialResult>>,
    /// The first write that failed, if any.
    unrecorded: Mutex<Option<String>>,
}

impl<'a> Scheduler<'a> {
    pub(crate) fn new(
        project: &'a mut Project,
        study: StudyId,
        request: &'a StudyRequest,
        data: &'a PreparedData,
        device: &'a TrainingDevice,
        options: &'a TrainOptions,
        objective: &'a Objective,
    ) -> Scheduler<'a> {
        Scheduler {
            project: Mutex::new(project),
            study,
            request,
            data,
            device,
            options,
            objective,
            results: Mutex::new(Vec::new()),
            unrecorded: Mutex::new(None),
        }
    }

    /// Every trial's result, and the first write that failed.
    pub(crate) fn finish(self) -> (Vec<TrialResult>, Option<String>) {
        let results = self.results.into_inner().unwrap_or_else(|p| p.into_inner());
        let unrecorded = self
            .unrecorded
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        (results, unrecorded)
    }

    fn cancelled(&self) -> bool {
        self.options.cancelled()
    }

    /// Notes a failed write; the study reports the first.
    fn unrecorded(&self, what: String) {
        let mut first = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(what);
    }

    /// Runs `f` with the project, one worker at a time.
    fn with_project<T>(&self, f: impl FnOnce(&mut Project) -> Result<T>) -> Result<T> {
        let mut project = self.project.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut project)
    }

    /// Trains every pending trial to its end.
    pub(crate) fn run_all(&self, pending: Vec<(usize, Hyperparams)>) {
        let jobs = pending.into_iter().map(|(trial, hyperparams)| Job {
            trial,
            hyperparams,
            state: None,
            until: usize::MAX,
            last: true,
        });
        self.run_jobs(jobs.collect());
    }

    /// Runs `jobs` on `parallel` worker threads.
    fn run_jobs(&self, jobs: Vec<Job>) {
        // No more workers than jobs: `parallel` is what the user allows, not what is needed.
        let workers = self.request.parallel.clamp(1, jobs.len().max(1));
        let queue = Mutex::new(VecDeque::from(jobs));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                        let Some(job) = job else { break };
                        let result = match job.state {
                            // A trial halfway through a halving study has a run to close.
                            Some((run, _)) if self.cancelled() => self.cancel_run(job.trial, run),
                            None if self.cancelled() => continue,
                            _ => self.run_job(job),
                        };
                        self.results
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(result);
                    }
                });
            }
        });
    }

    /// Successive halving: every trial trains to the first rung, the best 1/eta go on to the
    /// next (eta times the epochs), and the rest stop there.
    pub(crate) fn halving(&self, pending: Vec<(usize, Hyperparams)>) {
        let spec = &self.request.space.halving;
        let max_epochs = pending.iter().map(|(_, hp)| hp.epochs).max().unwrap_or(1);
        let rungs = halving::rungs(spec.min_epochs, spec.eta, max_epochs);
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
            let keep = halving::keep(alive.len(), spec.eta, last_rung);
            for job in &mut alive {
                job.until = until;
                job.last = last_rung;
            }
            self.run_jobs(std::mem::take(&mut alive));
            if self.cancelled() {
                // Trials that finished this rung wait for the next one: their runs end here.
                let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
                for result in results.iter_mut() {
                    if result.status == RunStatus::Running {
                        *result = self.cancel_run(result.trial, result.run);
                    }
                }
                return;
            }
            let results =
                std::mem::take(&mut *self.results.lock().unwrap_or_else(|p| p.into_inner()));
            let (mut running, mut done): (Vec<TrialResult>, Vec<TrialResult>) = results
                .into_iter()
                .partition(|r| r.state.is_some() && r.status == RunStatus::Running);
            let standings = running
                .iter()
                .map(|r| Standing {
                    trial: r.trial,
                    score: r.score,
                })
                .collect();
            let (promoted, _) = halving::promote(standings, keep, self.objective);
            for mut result in running.drain(..) {
                if promoted.iter().any(|s| s.trial == result.trial) {
                    if let Some(state) = result.state.take() {
                        alive.push(Job {
                            trial: result.trial,
                            hyperparams: state.hyperparams.clone(),
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
            self.results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(done);
        }
    }

    /// Ends a trial that halving did not promote.
    fn stop_early(&self, result: &mut TrialResult, rung: usize) {
        let Some(state) = result.state.take() else {
            return;
        };
        let reason = format!("stopped by successive halving after {rung} epochs");
        let tagged = self.with_project(|p| p.set_tag(result.run, "kiln.halving", &reason));
        result.status = match tagged {
            Ok(()) => self.save_model(result.run, &state),
            Err(e) => self.record_failure(result.run, e.to_string()),
        };
        self.options.events.emit(Event::TrialFinished {
            run: result.run,
            trial: result.trial,
            status: result.status,
            objective: result.score,
            reason: Some(reason),
        });
    }

    fn run_job(&self, job: Job) -> TrialResult {
        let (run, mut state) = match job.state {
            Some((run, state)) => (run, state),
            None => {
                let seed = self.request.space.seed.wrapping_add(job.trial as u64);
                let timings = &self.options.timings;
                let state = timings.time(Phase::Build, || {
                    TrialState::new(
                        self.request.family,
                        job.hyperparams.clone(),
                        self.data,
                        seed,
                        &self.device.device,
                    )
                });
                let started = timings.time(Phase::Record, || self.start_run(job.trial, &state));
                match started {
                    Ok(run) => (run, state),
                    Err(e) => {
                        // No run exists to carry the failure: the study must say it.
                        self.unrecorded(format!("trial {} could not start: {e}", job.trial));
                        return self.ended(
                            job.trial,
                            RunId(0),
                            RunStatus::Failed,
                            Some(e.to_string()),
                        );
                    }
                }
            }
        };
        let logger = match self.with_project(|p| p.metric_logger(run)) {
            Ok(logger) => logger,
            Err(e) => return self.fail(job.trial, run, e.to_string()),
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
            timings: &self.options.timings,
            logged: Default::default(),
        };
        let until = job.until;
        let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            state.train_until(until, &ctx)
        }));
        let flushed = self.options.timings.time(Phase::Log, || logger.finish());
        let outcome = match trained {
            Ok(Ok(())) => Ok(()),
            Ok(Err(stop)) => Err(stop),
            Err(panic) => Err(TrialStop::Failed(panic_message(&panic))),
        };
        if let Err(e) = flushed {
            return self.fail(job.trial, run, e.to_string());
        }
        match outcome {
            Err(TrialStop::Cancelled) => self.cancel_run(job.trial, run),
            Err(TrialStop::Failed(reason)) => self.fail(job.trial, run, reason),
            Ok(()) => {
                let score = state.best_objective().map(|(s, _)| s);
                let finished = job.last
                    || state.early_stopped
                    || state.solved
                    || state.epoch >= state.hyperparams.epochs;
                if !finished {
                    return TrialResult {
                        trial: job.trial,
                        run,
                        score,
                        status: RunStatus::Running,
                        state: Some(state),
                    };
                }
                let status = self.save_model(run, &state);
                let reason = match state.hyperparams.patience {
                    Some(patience) if state.early_stopped => Some(format!(
                        "stopped early at epoch {} (no gain in {patience} epochs)",
                        state.epoch
                    )),
                    // Its epochs counted iterations, up to `max_iter`: say where it stopped.
                    _ if state.solved => Some(format!(
                        "solved in {} of at most {} iterations",
                        state.epoch, state.hyperparams.epochs
                    )),
                    _ => None,
                };
                self.options.events.emit(Event::TrialFinished {
                    run,
                    trial: job.trial,
                    status,
                    objective: score,
                    reason,
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
        let params = state.hyperparams.params();
        // The run, its params and its device tag land together, or not at all.
        let run = self.with_project(|project| {
            project.atomically(|p| {
                let run = p.start_run(&spec)?;
                let mut pairs: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                pairs.push(("model", state.architecture.family.as_str()));
                pairs.push(("dataset", &self.request.dataset));
                p.log_params(run, &pairs)?;
                p.set_tag(run, "kiln.device", &self.device.label)?;
                Ok(run)
            })
        })?;
        self.options.events.emit(Event::TrialStarted {
            study: self.study,
            trial,
            run,
            params,
        });
        Ok(run)
    }

    /// Stores the trial's best model and test metrics and ends its run: finished, or failed
    /// with the reason.
    fn save_model(&self, run: RunId, state: &TrialState) -> RunStatus {
        let started = std::time::Instant::now();
        let status = self.store_model(run, state);
        self.options.timings.add(Phase::Save, started.elapsed());
        status
    }

    fn store_model(&self, run: RunId, state: &TrialState) -> RunStatus {
        let saved = state.finish(self.data, self.device);
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
                match serde_json::to_vec(&artifact) {
                    Err(e) => Err(format!("the model description cannot be written: {e}")),
                    // The model, its test metrics and the run's end land together: a finished
                    // run always has its model.
                    Ok(json) => self
                        .with_project(|project| {
                            project.atomically(|p| {
                                p.log_metrics(run, &points)?;
                                p.log_artifact(run, "model.bpk", &weights)?;
                                p.log_artifact(run, "model.json", &json)?;
                                p.finish_run(run, RunStatus::Finished, None)
                            })
                        })
                        .map_err(|e| e.to_string()),
                }
            }
        };
        match stored {
            Ok(()) => RunStatus::Finished,
            Err(reason) => self.record_failure(run, reason),
        }
    }

    /// Ends a cancelled trial's run as killed.
    fn cancel_run(&self, trial: usize, run: RunId) -> TrialResult {
        let reason = "cancelled";
        match self.with_project(|p| p.finish_run(run, RunStatus::Killed, Some(reason))) {
            Ok(()) => self.ended(trial, run, RunStatus::Killed, Some(reason.into())),
            Err(e) => {
                self.unrecorded(format!("run {run} could not be marked cancelled: {e}"));
                self.ended(trial, run, RunStatus::Failed, Some(e.to_string()))
            }
        }
    }

    /// Marks `run` failed with `reason`; a failure to do even that fails the study. Always
    /// [`RunStatus::Failed`].
    fn record_failure(&self, run: RunId, reason: String) -> RunStatus {
        if let Err(e) = self.with_project(|p| p.finish_run(run, RunStatus::Failed, Some(&reason))) {
            self.unrecorded(format!(
                "run {run} failed ({reason}) and could not be marked failed: {e}"
            ));
        }
        RunStatus::Failed
    }

    fn fail(&self, trial: usize, run: RunId, reason: String) -> TrialResult {
        let status = self.record_failure(run, reason.clone());
        self.ended(trial, run, status, Some(reason))
    }

    /// A trial that ended without a score, told to the listeners.
    fn ended(
        &self,
        trial: usize,
        run: RunId,
        status: RunStatus,
        reason: Option<String>,
    ) -> TrialResult {
        self.options.events.emit(Event::TrialFinished {
            run,
            trial,
            status,
            objective: None,
            reason,
        });
        TrialResult {
            trial,
            run,
            score: None,
            status,
            state: None,
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    format!(
        "the backend failed: {} (out of memory, or the device was lost?)",
        crate::error::panic_text(panic.as_ref())
    )
}
