//! One trial: the training loop (mini-batches, cross-entropy, Adam or SGD, weight decay, early
//! stopping), its metrics, and the model it leaves behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::device::TrainingDevice;
use super::lbfgs::{LogregSettings, Stopped, fit_logreg};
use super::metrics::Confusion;
use super::model::{Architecture, Classifier, ModelFamily, dropout_masks};
use super::space::{Hyperparams, OptimizerKind, SearchSpace};
use super::timings::{Phase, Timings};
use crate::data::{BatchId, stratified_split};
use crate::events::{Event, EventSink};
use crate::features::{FeaturePipeline, Matrix, PipelineSpec};
use crate::logger::RunLogger;
use crate::rng::SeededRng;
use crate::store::{BlobHash, Project};
use crate::tracking::RunId;

/// Rows evaluated at once outside training.
const EVAL_CHUNK: usize = 4096;

/// Features and labels of one split.
pub struct SplitData {
    pub x: Matrix,
    pub y: Vec<usize>,
}

/// A dataset made ready for a study: split, the pipeline fitted on the training rows, and
/// every split transformed. Shared by all trials.
pub struct PreparedData {
    pub batch: BatchId,
    pub content_hash: BlobHash,
    pub pipeline: FeaturePipeline,
    pub train: SplitData,
    pub validation: SplitData,
    pub test: SplitData,
}

impl PreparedData {
    pub fn prepare(
        project: &Project,
        dataset: &str,
        space: &SearchSpace,
    ) -> crate::Result<PreparedData> {
        PreparedData::prepare_timed(project, dataset, space, &Timings::default())
    }

    /// As `prepare`, adding the time to read the batch and make the features to `timings`.
    pub fn prepare_timed(
        project: &Project,
        dataset: &str,
        space: &SearchSpace,
        timings: &Timings,
    ) -> crate::Result<PreparedData> {
        let loaded = timings.time(Phase::Read, || project.load_dataset(dataset))?;
        let started = Instant::now();
        let label = loaded
            .schema
            .label()
            .ok_or(crate::features::FeatureError::NoLabel)?
            .to_owned();
        let labels: Vec<Option<&str>> = loaded
            .table
            .column(&label)
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_deref())
            .collect();
        let split = stratified_split(&labels, space.split())?;
        let unusable = |reason: String| crate::train::TrainError::Unusable {
            dataset: dataset.to_owned(),
            reason,
        };
        if space.objective().needs_validation() && split.validation.is_empty() {
            return Err(unusable(format!(
                "validation = {} leaves no validation rows in its {} rows, so the objective {} cannot be measured; raise validation, or use a train/ objective",
                space.validation,
                labels.len(),
                space.objective
            ))
            .into());
        }
        let classes: std::collections::BTreeSet<&str> =
            split.train.iter().filter_map(|&r| labels[r]).collect();
        if classes.len() < 2 {
            return Err(unusable(match classes.iter().next() {
                Some(only) => format!(
                    "its label {label:?} has one class ({only:?}) in the training rows; a classifier needs at least two"
                ),
                None => format!("its label {label:?} has no values in the training rows"),
            })
            .into());
        }
        let spec = PipelineSpec {
            tfidf: space.tfidf.clone(),
        };
        let pipeline = FeaturePipeline::fit(&loaded.schema, &loaded.table, &split.train, &spec)?;
        let part = |rows: &[usize]| -> crate::Result<SplitData> {
            Ok(SplitData {
                x: pipeline.transform(&loaded.table, rows)?,
                y: pipeline.encode_labels(&loaded.table, rows)?,
            })
        };
        let prepared = PreparedData {
            batch: loaded.batch,
            content_hash: loaded.content_hash.clone(),
            train: part(&split.train)?,
            validation: part(&split.validation)?,
            test: part(&split.test)?,
            pipeline,
        };
        timings.add(Phase::Features, started.elapsed());
        Ok(prepared)
    }
}

/// What is stored beside a trained model's weights: enough to rebuild and use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    pub architecture: Architecture,
    pub hyperparams: Hyperparams,
    pub pipeline: FeaturePipeline,
    pub seed: u64,
    pub device: String,
    pub best_epoch: usize,
}

/// A trained model as stored: burnpack weights, its description, its test metrics.
pub type SavedModel = (Vec<u8>, ModelArtifact, Vec<(String, f64)>);

/// Why a trial stopped before its epochs were done.
pub enum TrialStop {
    Cancelled,
    Failed(String),
}

/// Everything a trial carries between rungs of a halving study.
pub struct TrialState {
    pub hyperparams: Hyperparams,
    pub architecture: Architecture,
    pub seed: u64,
    model: Option<Classifier>,
    /// None for a full-batch solver.
    optimizer: Option<ModuleOptimizer>,
    rng: SeededRng,
    pub epoch: usize,
    step: i64,
    best: Option<(f64, Classifier, usize)>,
    since_best: usize,
    pub early_stopped: bool,
    /// A full-batch solver has finished: it converged, or ran out of iterations.
    pub solved: bool,
    /// The train and validation features on the device, made once for every epoch's measure.
    measured: Option<[Vec<Tensor<2>>; 2]>,
}

/// What a trial needs from its study while it trains.
pub struct TrialContext<'a> {
    pub data: &'a PreparedData,
    pub device: &'a TrainingDevice,
    pub logger: &'a RunLogger,
    pub events: &'a EventSink,
    pub cancel: &'a AtomicBool,
    pub run: RunId,
    pub trial: usize,
    pub objective: &'a crate::objective::Objective,
    pub timings: &'a Timings,
    /// Time this trial has spent logging.
    pub logged: std::cell::Cell<std::time::Duration>,
}

impl TrialState {
    pub fn new(
        family: ModelFamily,
        hyperparams: Hyperparams,
        data: &PreparedData,
        seed: u64,
        device: &Device,
    ) -> TrialState {
        let architecture = Architecture {
            family,
            inputs: data.pipeline.width(),
            classes: data.pipeline.classes.len(),
            hidden: if family == ModelFamily::Mlp {
                hyperparams.hidden.clone()
            } else {
                Vec::new()
            },
            activation: hyperparams.activation,
            dropout: hyperparams.dropout,
        };
        let mut rng = SeededRng::new(seed);
        let model = Classifier::init(&architecture, &mut rng, &device.clone().autodiff());
        let decay = (hyperparams.weight_decay > 0.0)
            .then(|| WeightDecayConfig::new(hyperparams.weight_decay as f32));
        let optimizer = match hyperparams.optimizer {
            OptimizerKind::Adam => Some(AdamConfig::new().with_weight_decay(decay).init()),
            OptimizerKind::Sgd => Some(
                SgdConfig::new()
                    .with_weight_decay(decay)
                    .with_momentum(Some(MomentumConfig::new()))
                    .init(),
            ),
            OptimizerKind::Lbfgs => None,
        };
        TrialState {
            hyperparams,
            architecture,
            seed,
            model: Some(model),
            optimizer,
            rng,
            epoch: 0,
            step: 0,
            best: None,
            since_best: 0,
            early_stopped: false,
            solved: false,
            measured: None,
        }
    }

    /// The best objective so far, and its epoch.
    pub fn best_objective(&self) -> Option<(f64, usize)> {
        self.best.as_ref().map(|(score, _, epoch)| (*score, *epoch))
    }

    /// Trains until epoch `until` (or early stopping, or a stop).
    pub fn train_until(&mut self, until: usize, ctx: &TrialContext) -> Result<(), TrialStop> {
        let trained = if self.optimizer.is_none() {
            self.solve(ctx)
        } else {
            self.train_epochs(until, ctx)
        };
        // The features measured each epoch leave the device between rungs: a halving study
        // keeps many trials waiting.
        self.measured = None;
        trained
    }

    fn train_epochs(&mut self, until: usize, ctx: &TrialContext) -> Result<(), TrialStop> {
        let device = ctx.device.device.clone().autodiff();
        let loss_fn = CrossEntropyLoss::new(None, &device);
        let hp = self.hyperparams.clone();
        let widths = if self.architecture.family == ModelFamily::Mlp {
            self.architecture.hidden.clone()
        } else {
            Vec::new()
        };
        let train = &ctx.data.train;
        let mut order: Vec<usize> = (0..train.y.len()).collect();
        let mut batch_losses = BatchLosses::new(ctx);
        while self.epoch < until.min(hp.epochs) && !self.early_stopped {
            let started = Instant::now();
            let logged_before = ctx.logged.get();
            self.rng.shuffle(&mut order);
            for batch in order.chunks(hp.batch_size) {
                if ctx.cancel.load(Ordering::Relaxed) {
                    return Err(TrialStop::Cancelled);
                }
                let model = self
                    .model
                    .take()
                    .ok_or_else(|| TrialStop::Failed("the model was lost".into()))?;
                let (x, y) = batch_tensors(train, batch, &device);
                let masks = dropout_masks(&widths, batch.len(), hp.dropout, &mut self.rng, &device);
                let loss = loss_fn.forward(model.forward_train(x, &masks), y);
                let value = f64::from(loss.clone().into_scalar::<f32>());
                if !value.is_finite() {
                    return Err(TrialStop::Failed(format!(
                        "the training loss became {value} at epoch {}, step {}; lower the learning rate",
                        self.epoch + 1,
                        self.step
                    )));
                }
                batch_losses.push(self.step, value);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let optimizer = self
                    .optimizer
                    .as_mut()
                    .ok_or_else(|| TrialStop::Failed("the optimizer was lost".into()))?;
                self.model = Some(optimizer.step(hp.learning_rate, model, grads));
                self.step += 1;
            }
            batch_losses.flush();
            self.epoch += 1;
            trained(ctx, started, logged_before);
            self.end_epoch(started, ctx)?;
        }
        Ok(())
    }

    /// Solves a logistic regression full-batch by L-BFGS: each iteration logs the objective,
    /// and the solution is measured once, as the last epoch, at the iteration it was reached.
    fn solve(&mut self, ctx: &TrialContext) -> Result<(), TrialStop> {
        if self.solved {
            return Ok(());
        }
        let started = Instant::now();
        let logged_before = ctx.logged.get();
        let hp = &self.hyperparams;
        let settings = LogregSettings {
            c: hp.c,
            tol: hp.tol,
            max_iter: hp.epochs,
        };
        let train = &ctx.data.train;
        let fit = fit_logreg(
            &train.x,
            &train.y,
            self.architecture.classes,
            &settings,
            |iteration, objective| {
                if ctx.cancel.load(Ordering::Relaxed) {
                    return false;
                }
                log(ctx, "train/objective", iteration as i64, objective);
                ctx.events.emit(Event::Progress {
                    run: ctx.run,
                    trial: ctx.trial,
                    epoch: iteration,
                    epochs: settings.max_iter,
                });
                true
            },
        )
        .map_err(|Stopped| TrialStop::Cancelled)?;
        if !fit.objective.is_finite() {
            return Err(TrialStop::Failed(format!(
                "the objective became {} after {} iterations; check the features for extreme values",
                fit.objective, fit.iterations
            )));
        }
        self.model = Some(Classifier::linear(
            &fit.coef,
            &fit.intercept,
            &ctx.device.device.clone().autodiff(),
        ));
        self.epoch = fit.iterations.max(1);
        self.solved = true;
        trained(ctx, started, logged_before);
        self.end_epoch(started, ctx)
    }

    /// Logs the epoch's metrics, keeps the best model, and applies early stopping.
    fn end_epoch(&mut self, started: Instant, ctx: &TrialContext) -> Result<(), TrialStop> {
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| TrialStop::Failed("the model was lost".into()))?
            .valid();
        let train_seconds = started.elapsed().as_secs_f64();
        let device = &ctx.device.device;
        let step = self.epoch as i64;
        let mut epoch_metrics = Vec::new();
        let evaluating = Instant::now();
        let [train_x, val_x] = self.measured.get_or_insert_with(|| {
            [
                feature_chunks(&ctx.data.train.x, device),
                feature_chunks(&ctx.data.validation.x, device),
            ]
        });
        let splits = [
            ("train", &ctx.data.train, &*train_x),
            ("val", &ctx.data.validation, &*val_x),
        ];
        for (prefix, split, chunks) in splits {
            if split.y.is_empty() {
                continue;
            }
            let (loss, predicted) = measure(&probabilities_of(&model, chunks), &split.y);
            let confusion = Confusion::new(self.architecture.classes, &split.y, &predicted);
            epoch_metrics.push((format!("{prefix}/loss"), loss));
            epoch_metrics.push((format!("{prefix}/accuracy"), confusion.accuracy()));
            epoch_metrics.push((format!("{prefix}/macro_f1"), confusion.macro_f1()));
        }
        ctx.timings.add(Phase::Evaluate, evaluating.elapsed());
        epoch_metrics.push(("epoch_seconds".into(), train_seconds));
        epoch_metrics.push((
            "samples_per_second".into(),
            ctx.data.train.y.len() as f64 / train_seconds.max(1e-9),
        ));
        for (key, value) in &epoch_metrics {
            log(ctx, key, step, *value);
        }
        ctx.events.emit(Event::Progress {
            run: ctx.run,
            trial: ctx.trial,
            epoch: self.epoch,
            epochs: self.hyperparams.epochs,
        });
        let score = epoch_metrics
            .iter()
            .find(|(k, _)| *k == ctx.objective.key)
            .map(|(_, v)| *v);
        let Some(score) = score else {
            return Err(TrialStop::Failed(format!(
                "the objective {} is not a metric Kiln logs",
                ctx.objective.key
            )));
        };
        let better = self
            .best
            .as_ref()
            .is_none_or(|(best, _, _)| ctx.objective.better(score, *best));
        if better {
            self.best = Some((score, model, self.epoch));
            self.since_best = 0;
        } else {
            self.since_best += 1;
            if self
                .hyperparams
                .patience
                .is_some_and(|p| self.since_best >= p)
            {
                self.early_stopped = true;
            }
        }
        Ok(())
    }

    /// The best model (by the objective) as weights and a description, with its test metrics.
    pub fn finish(
        &self,
        data: &PreparedData,
        device: &TrainingDevice,
    ) -> Result<SavedModel, TrialStop> {
        let (_, model, best_epoch) = self
            .best
            .as_ref()
            .ok_or_else(|| TrialStop::Failed("no epoch finished".into()))?;
        let mut test_metrics = Vec::new();
        if !data.test.y.is_empty() {
            let (loss, predicted) = evaluate(model, &data.test, &device.device);
            let confusion = Confusion::new(self.architecture.classes, &data.test.y, &predicted);
            test_metrics.push(("test/loss".to_string(), loss));
            test_metrics.push(("test/accuracy".to_string(), confusion.accuracy()));
            test_metrics.push(("test/macro_f1".to_string(), confusion.macro_f1()));
        }
        let bytes = model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| TrialStop::Failed(format!("the model could not be saved: {e:?}")))?;
        let artifact = ModelArtifact {
            architecture: self.architecture.clone(),
            hyperparams: self.hyperparams.clone(),
            pipeline: data.pipeline.clone(),
            seed: self.seed,
            device: device.label.clone(),
            best_epoch: *best_epoch,
        };
        Ok((bytes.to_vec(), artifact, test_metrics))
    }
}

/// The per-step losses, handed to the logger and the listeners in bursts (every 256 steps,
/// every 100 ms, and at the end of each epoch) rather than one by one: each hand-over wakes
/// another thread, which costs more than a small model's step. Listeners that all run on the
/// training thread still hear of each step as it ends. Whatever is held is handed over when it
/// is dropped, however the trial ends: done, cancelled, failed or panicking.
struct BatchLosses<'c, 'a> {
    ctx: &'c TrialContext<'a>,
    points: Vec<(i64, f64, i64)>,
    since: Option<Instant>,
    /// Every listener runs on this thread: tell each step at once.
    at_once: bool,
}

impl<'c, 'a> BatchLosses<'c, 'a> {
    const KEY: &'static str = "train/batch_loss";

    fn new(ctx: &'c TrialContext<'a>) -> BatchLosses<'c, 'a> {
        BatchLosses {
            ctx,
            points: Vec::new(),
            since: None,
            at_once: ctx.events.synchronous(),
        }
    }

    fn push(&mut self, step: i64, value: f64) {
        self.points.push((step, value, crate::now_ms()));
        if self.at_once {
            tell(self.ctx, Self::KEY, step, value);
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.points.len() >= 256 || since.elapsed().as_millis() >= 100 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let ctx = self.ctx;
        let started = Instant::now();
        for (step, value, timestamp) in self.points.drain(..) {
            ctx.logger.log_point(crate::MetricPoint {
                key: Self::KEY.into(),
                step,
                value,
                timestamp,
            });
            if !self.at_once {
                tell(ctx, Self::KEY, step, value);
            }
        }
        self.since = None;
        logged(ctx, started.elapsed());
    }
}

impl Drop for BatchLosses<'_, '_> {
    fn drop(&mut self) {
        self.flush();
    }
}

fn log(ctx: &TrialContext, key: &str, step: i64, value: f64) {
    let started = Instant::now();
    ctx.logger.log(key, step, value);
    tell(ctx, key, step, value);
    logged(ctx, started.elapsed());
}

/// Tells the listeners of a point of the trial's run.
fn tell(ctx: &TrialContext, key: &str, step: i64, value: f64) {
    ctx.events.emit(Event::Metric {
        run: ctx.run,
        key: key.to_owned(),
        step,
        value,
    });
}

/// Adds the time since `started` to the training phase, less what this trial spent logging
/// since (`logged_before`).
fn trained(ctx: &TrialContext, started: Instant, logged_before: std::time::Duration) {
    let logging = ctx.logged.get().saturating_sub(logged_before);
    ctx.timings
        .add(Phase::Train, started.elapsed().saturating_sub(logging));
}

/// Counts `elapsed` as logging: in the study's timings, and in this trial's own count (which
/// its training time leaves out; other trials log at the same time).
fn logged(ctx: &TrialContext, elapsed: std::time::Duration) {
    ctx.timings.add(Phase::Log, elapsed);
    ctx.logged.set(ctx.logged.get() + elapsed);
}

/// A training batch as tensors: features `[batch, inputs]` and class indices `[batch]`.
fn batch_tensors(
    split: &SplitData,
    rows: &[usize],
    device: &Device,
) -> (Tensor<2>, Tensor<1, Int>) {
    let cols = split.x.cols;
    let mut x = Vec::with_capacity(rows.len() * cols);
    for &r in rows {
        x.extend_from_slice(split.x.row(r));
    }
    let y: Vec<i64> = rows.iter().map(|&r| split.y[r] as i64).collect();
    (
        Tensor::<2>::from_data(TensorData::new(x, [rows.len(), cols]), device),
        Tensor::<1, Int>::from_data(TensorData::new(y, [rows.len()]), device),
    )
}

/// Mean cross-entropy and the predicted class of every row of `split`, in chunks.
pub(crate) fn evaluate(
    model: &Classifier,
    split: &SplitData,
    device: &Device,
) -> (f64, Vec<usize>) {
    measure(&predict_probabilities(model, &split.x, device), &split.y)
}

/// Mean cross-entropy and the predicted class of each row, from its probabilities.
fn measure(probabilities: &[Vec<f32>], y: &[usize]) -> (f64, Vec<usize>) {
    let mut loss = 0.0;
    let mut predicted = Vec::with_capacity(y.len());
    for (row, truth) in probabilities.iter().zip(y) {
        loss -= f64::from(row.get(*truth).copied().unwrap_or(0.0))
            .max(1e-12)
            .ln();
        predicted.push(crate::eval::argmax(row));
    }
    (loss / y.len().max(1) as f64, predicted)
}

/// Class probabilities for every row of `x`.
pub(crate) fn predict_probabilities(
    model: &Classifier,
    x: &Matrix,
    device: &Device,
) -> Vec<Vec<f32>> {
    probabilities_of(model, &feature_chunks(x, device))
}

/// The rows of `x` as tensors on `device`, in chunks of `EVAL_CHUNK` rows.
fn feature_chunks(x: &Matrix, device: &Device) -> Vec<Tensor<2>> {
    (0..x.rows)
        .step_by(EVAL_CHUNK)
        .map(|start| {
            let end = (start + EVAL_CHUNK).min(x.rows);
            let data = x.data[start * x.cols..end * x.cols].to_vec();
            Tensor::<2>::from_data(TensorData::new(data, [end - start, x.cols]), device)
        })
        .collect()
}

/// Class probabilities for every row of the chunks, in order.
fn probabilities_of(model: &Classifier, chunks: &[Tensor<2>]) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for input in chunks {
        let probs = model.probabilities(input.clone());
        let classes = probs.dims()[1];
        let values: Vec<f32> = probs.into_data().try_into_vec::<f32>().unwrap_or_default();
        out.extend(values.chunks(classes.max(1)).map(<[f32]>::to_vec));
    }
    out
}
