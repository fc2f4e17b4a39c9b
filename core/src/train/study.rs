//! Studies: one search, its trials as runs, run in parallel, cancellable, resumable.
//!
//! Every trial has a fixed index in its study's search. A run records the index, and the
//! project refuses two live runs with the same index, so a resumed study re-runs exactly the
//! trials that did not finish and none twice. The trials themselves run in
//! [`super::scheduler`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::TrainError;
use super::device::{DevicePreference, TrainingDevice, probe_adapters, select_device};
use super::model::ModelFamily;
use super::scheduler::{Scheduler, TrialResult};
use super::space::{Hyperparams, SearchSpace, Strategy};
use super::timings::Phase;
use super::trainer::PreparedData;
use crate::events::{Event, EventSink};
use crate::objective::Objective;
use crate::store::{Project, studies};
use crate::tracking::{RunId, RunStatus, StudyId};
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

/// How long work is watched and stopped: its events go to `events`, and setting `cancel`
/// stops it (a study within one batch of every running trial).
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    pub events: EventSink,
    pub cancel: Arc<AtomicBool>,
    /// Where the time goes, phase by phase.
    pub timings: Arc<super::timings::Timings>,
}

impl TrainOptions {
    /// Whether the work was asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Where a study stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StudyStatus {
    Running,
    Finished,
    Cancelled,
    /// It could not record its trials (a full disk, a lost file); resume it.
    Failed,
}

impl StudyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StudyStatus::Running => "running",
            StudyStatus::Finished => "finished",
            StudyStatus::Cancelled => "cancelled",
            StudyStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for StudyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StudyStatus {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<StudyStatus, String> {
        match s {
            "running" => Ok(StudyStatus::Running),
            "finished" => Ok(StudyStatus::Finished),
            "cancelled" => Ok(StudyStatus::Cancelled),
            "failed" => Ok(StudyStatus::Failed),
            other => Err(format!("unknown study status {other:?}")),
        }
    }
}

/// A study as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudySummary {
    pub id: StudyId,
    pub name: String,
    pub strategy: String,
    /// The metric that picks the best trial, and its direction, as stored with the study.
    pub objective: Objective,
    pub status: StudyStatus,
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
    pub objective: Objective,
    pub best: Option<TrialSummary>,
    pub device: String,
    pub notice: Option<crate::train::DeviceNotice>,
}

impl StudyRequest {
    /// The trials of this request, once every setting that needs no data is known to make
    /// sense: the space, the objective, `parallel` and the number of trials (counted before
    /// they are drawn).
    pub fn trials(&self) -> Result<Vec<Hyperparams>> {
        if self.parallel == 0 {
            return Err(TrainError::Space("parallel must be at least 1".into()).into());
        }
        let max = self.max_trials.unwrap_or(MAX_TRIALS_UNASKED);
        let too_many = |trials| TrainError::TooManyTrials { trials, max };
        let bound = self.space.trial_bound(self.strategy, self.family);
        if bound > max {
            return Err(too_many(bound).into());
        }
        let trials = self.space.trials(self.strategy, self.family)?;
        if trials.is_empty() {
            return Err(TrainError::EmptySpace.into());
        }
        Ok(trials)
    }

    /// The name a new study of this request gets: `penguins-mlp-grid`.
    pub fn study_name(&self) -> String {
        format!(
            "{}-{}-{}",
            self.dataset,
            self.family.as_str(),
            self.strategy.as_str()
        )
    }
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
        let data =
            PreparedData::prepare_timed(self, &request.dataset, &request.space, &options.timings)?;
        let spec = serde_json::to_string(request)
            .map_err(|e| TrainError::Space(format!("the request cannot be stored: {e}")))?;
        let objective = request.space.objective();
        let name = request.study_name();
        let study = self.write(|tx| {
            studies::insert(
                tx,
                &name,
                request.strategy.as_str(),
                &spec,
                &objective,
                now_ms(),
            )
        })?;
        self.drive(study, request, trials, data, options)
    }

    /// The trials of `request`, once every setting is known to make sense.
    pub fn check_request(&self, request: &StudyRequest) -> Result<Vec<Hyperparams>> {
        request.trials()
    }

    /// Continues a study after a crash or a kill: finished trials are kept, unfinished ones run
    /// again from the start.
    pub fn resume_study(&mut self, study: StudyId, options: &TrainOptions) -> Result<StudyOutcome> {
        let spec = self
            .read(|c| studies::spec(c, study))?
            .ok_or(TrainError::NoStudy(study.0))?;
        let request: StudyRequest =
            serde_json::from_str(&spec).map_err(|e| TrainError::NotResumable {
                study: study.0,
                reason: e.to_string(),
            })?;
        let trials = request.space.trials(request.strategy, request.family)?;
        let data =
            PreparedData::prepare_timed(self, &request.dataset, &request.space, &options.timings)?;
        self.write(|tx| studies::reopen(tx, study, now_ms()))?;
        self.drive(study, &request, trials, data, options)
    }

    /// The studies of this project with their strategy, objective and status, oldest first.
    pub fn study_summaries(&self) -> Result<Vec<StudySummary>> {
        self.read(studies::summaries)
    }

    /// The best value of metric `key` on `run`: the smallest of a loss, the largest otherwise.
    pub fn best_value(&self, run: RunId, key: &str) -> Result<Option<f64>> {
        let objective = Objective::for_metric(key);
        self.read(|c| studies::best_value(c, run, &objective))
    }

    /// The request a study was started with.
    pub(crate) fn study_request_of_run(&self, run: RunId) -> Result<StudyRequest> {
        let spec = self.read(|c| studies::spec_of_run(c, run))?;
        let spec = spec.ok_or_else(|| {
            TrainError::BadModel(format!(
                "run {run} is not part of a study, so it has no held-out split"
            ))
        })?;
        serde_json::from_str(&spec).map_err(|e| {
            TrainError::BadModel(format!("the study of run {run} cannot be read: {e}")).into()
        })
    }

    /// Trials done in earlier sessions, with their best objective.
    fn done_trials(&self, study: StudyId, objective: &Objective) -> Result<Vec<TrialResult>> {
        let rows = self.read(|c| studies::done_trials(c, study))?;
        rows.into_iter()
            .map(|(trial, run, status)| {
                let score = self.read(|c| studies::best_value(c, run, objective))?;
                Ok(TrialResult {
                    trial,
                    run,
                    score,
                    status,
                    state: None,
                })
            })
            .collect()
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
        let device = options.timings.time(Phase::Device, || {
            let adapters = match request.device {
                DevicePreference::Cpu => Vec::new(),
                _ => probe_adapters(),
            };
            select_device(request.device, &adapters)
        });
        let objective = request.space.objective();
        let done = self.done_trials(study, &objective)?;
        options.events.emit(Event::StudyStarted {
            study,
            trials: trials.len(),
            strategy: request.strategy.as_str().into(),
            device: device.label.clone(),
            objective: objective.key.clone(),
        });
        if let Some(notice) = &device.notice {
            options.events.emit(Event::Notice {
                message: notice.message.clone(),
                gpu_on_request: notice.gpu_on_request,
            });
        }
        let pending: Vec<(usize, Hyperparams)> = trials
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| !done.iter().any(|d| d.trial == *i))
            .collect();
        let kept = done.len();
        let scheduler = Scheduler::new(self, study, request, &data, &device, options, &objective);
        match request.strategy {
            Strategy::Halving => scheduler.halving(pending),
            Strategy::Grid | Strategy::Random => scheduler.run_all(pending),
        }
        let (mut results, unrecorded) = scheduler.finish();
        results.extend(done);
        if let Some(reason) = unrecorded {
            // The trials' records are not all true: say so, and leave the study to resume.
            let marked = self.write(|tx| studies::finish(tx, study, StudyStatus::Failed, now_ms()));
            let reason = match marked {
                Ok(()) => reason,
                Err(e) => format!("{reason}; marking the study failed did not work either: {e}"),
            };
            options.events.emit(Event::StudyFinished {
                study,
                status: StudyStatus::Failed,
                best: None,
            });
            return Err(TrainError::Unrecorded {
                study: study.0,
                reason,
            }
            .into());
        }
        let cancelled = options.cancelled();
        self.conclude(
            study, &trials, results, kept, cancelled, &device, objective, options,
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
        objective: Objective,
        options: &TrainOptions,
    ) -> Result<StudyOutcome> {
        let best = best_trial(&results, &objective).map(|(r, s)| TrialSummary {
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
        self.atomically(|p| {
            p.write(|tx| studies::finish(tx, study, status, now_ms()))?;
            if let Some(best) = &best {
                p.set_tag(best.run, "kiln.best_in_study", "true")?;
            }
            Ok(())
        })?;
        options.events.emit(Event::StudyFinished {
            study,
            status,
            best: best.as_ref().map(|b| (b.run, b.objective)),
        });
        let count = |status| results.iter().filter(|r| r.status == status).count();
        Ok(StudyOutcome {
            study,
            status,
            trials: trials.len(),
            finished: count(RunStatus::Finished),
            failed: count(RunStatus::Failed),
            kept,
            objective,
            best,
            device: device.label.clone(),
            notice: device.notice.clone(),
        })
    }
}

/// The finished trial with the best score; a tie goes to the earlier trial, as in halving.
fn best_trial<'a>(
    results: &'a [TrialResult],
    objective: &Objective,
) -> Option<(&'a TrialResult, f64)> {
    results
        .iter()
        .filter(|r| r.status == RunStatus::Finished)
        .filter_map(|r| r.score.map(|s| (r, s)))
        .min_by(|a, b| objective.rank(a.1, b.1).then(a.0.trial.cmp(&b.0.trial)))
}
