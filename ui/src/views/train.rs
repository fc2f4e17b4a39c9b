//! Train: the study form, Start and Cancel, the device in use, progress per trial and for the
//! study, and live charts of every trial's loss and metrics.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;

use eframe::egui;
use kiln_core::RunId;
use kiln_core::events::Event;
use kiln_core::train::{
    AdapterSummary, DevicePreference, ModelFamily, SearchSpace, Strategy, StudyOutcome,
    StudyRequest, StudyStatus,
};

use crate::app::KilnApp;
use crate::chart::{ChartStyle, Series, line_chart};
use crate::jobs::Output;

/// The study form, as text the user edits: lists are comma-separated.
#[derive(Debug)]
pub struct TrainForm {
    pub dataset: String,
    pub family: ModelFamily,
    pub strategy: Strategy,
    pub device: DevicePreference,
    pub learning_rate: String,
    pub batch_size: String,
    pub epochs: String,
    /// Hidden layer shapes separated by ';', layers within one by 'x': `16; 32x16`.
    pub hidden: String,
    pub dropout: String,
    pub weight_decay: String,
    pub optimizer: String,
    pub patience: String,
    pub seed: String,
    pub samples: String,
    pub parallel: String,
    pub objective: String,
}

impl Default for TrainForm {
    fn default() -> TrainForm {
        TrainForm {
            dataset: String::new(),
            family: ModelFamily::Mlp,
            strategy: Strategy::Grid,
            device: DevicePreference::Auto,
            learning_rate: "0.01, 0.03".into(),
            batch_size: "16".into(),
            epochs: "40".into(),
            hidden: "16; 32".into(),
            dropout: "0".into(),
            weight_decay: "0".into(),
            optimizer: "adam".into(),
            patience: "8".into(),
            seed: "42".into(),
            samples: "8".into(),
            parallel: "2".into(),
            objective: "val/macro_f1".into(),
        }
    }
}

impl TrainForm {
    /// The search space the form describes, as the TOML `kiln train --space` reads.
    pub fn to_toml(&self) -> Result<String, String> {
        let mut out = String::new();
        let mut line = |key: &str, value: String| out.push_str(&format!("{key} = {value}\n"));
        line(
            "learning_rate",
            numbers(&self.learning_rate, "learning rate", false)?,
        );
        line("batch_size", numbers(&self.batch_size, "batch size", true)?);
        line("epochs", numbers(&self.epochs, "epochs", true)?);
        if self.family == ModelFamily::Mlp {
            line("hidden", hidden(&self.hidden)?);
            line("dropout", numbers(&self.dropout, "dropout", false)?);
        }
        line(
            "weight_decay",
            numbers(&self.weight_decay, "weight decay", false)?,
        );
        let optimizers: Vec<String> = self
            .optimizer
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if optimizers.is_empty() || optimizers.iter().any(|o| o != "adam" && o != "sgd") {
            return Err("optimizer: write adam, sgd, or both separated by a comma".into());
        }
        line(
            "optimizer",
            format!(
                "[{}]",
                optimizers
                    .iter()
                    .map(|o| format!("{o:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        if !self.patience.trim().is_empty() {
            line("patience", whole(&self.patience, "patience")?.to_string());
        }
        line("seed", whole(&self.seed, "seed")?.to_string());
        if self.strategy != Strategy::Grid {
            let samples = whole(&self.samples, "samples")?;
            if samples > MAX_TRIALS as u64 {
                return Err(format!("samples: at most {MAX_TRIALS} trials in one study"));
            }
            line("samples", samples.to_string());
        }
        line("objective", format!("{:?}", self.objective.trim()));
        Ok(out)
    }

    /// The request the form describes, checked by the core's own parser.
    pub fn request(&self) -> Result<StudyRequest, String> {
        if self.dataset.is_empty() {
            return Err("choose a dataset (import one on the Data screen first)".into());
        }
        let grid = grid_size(&[
            &self.learning_rate,
            &self.batch_size,
            &self.epochs,
            &self.hidden,
            &self.dropout,
            &self.weight_decay,
            &self.optimizer,
        ]);
        if self.strategy != Strategy::Random && grid > MAX_TRIALS {
            return Err(format!(
                "this grid has {grid} trials; at most {MAX_TRIALS} in one study (use random search to sample it)"
            ));
        }
        let space = SearchSpace::from_toml(&self.to_toml()?).map_err(|e| e.to_string())?;
        let parallel = whole(&self.parallel, "parallel trials")?.max(1) as usize;
        Ok(StudyRequest {
            dataset: self.dataset.clone(),
            family: self.family,
            strategy: self.strategy,
            space,
            parallel,
            device: self.device,
            max_trials: None,
        })
    }
}

/// The most trials one study may have: a bigger search is a typo more often than a plan, and
/// counting it would stall the form.
const MAX_TRIALS: usize = 10_000;

/// How many trials a grid of these lists makes, without building it.
fn grid_size(lists: &[&str]) -> usize {
    lists
        .iter()
        .map(|text| {
            text.split([',', ';'])
                .filter(|v| !v.trim().is_empty())
                .count()
                .max(1)
        })
        .fold(1usize, |n, k| n.saturating_mul(k))
}

/// `0.01, 0.03` as a TOML list; one value stays a scalar.
fn numbers(text: &str, what: &str, integer: bool) -> Result<String, String> {
    let values: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if values.is_empty() {
        return Err(format!("{what}: give at least one value"));
    }
    for v in &values {
        let ok = if integer {
            v.parse::<u64>().is_ok()
        } else {
            v.parse::<f64>().is_ok_and(f64::is_finite)
        };
        if !ok {
            let kind = if integer {
                "a whole number"
            } else {
                "a number"
            };
            return Err(format!("{what}: {v:?} is not {kind}"));
        }
    }
    Ok(if values.len() == 1 {
        values[0].to_owned()
    } else {
        format!("[{}]", values.join(", "))
    })
}

fn whole(text: &str, what: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("{what}: {:?} is not a whole number", text.trim()))
}

/// `16; 32x16` as `[[16], [32, 16]]`.
fn hidden(text: &str) -> Result<String, String> {
    let shapes: Result<Vec<String>, String> = text
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|shape| {
            let layers: Result<Vec<String>, String> = shape
                .split('x')
                .map(|l| {
                    l.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|&n| n > 0)
                        .map(|n| n.to_string())
                        .ok_or_else(|| format!("hidden layers: {shape:?} is not like 16 or 32x16"))
                })
                .collect();
            Ok(format!("[{}]", layers?.join(", ")))
        })
        .collect();
    let shapes = shapes?;
    if shapes.is_empty() {
        return Err("hidden layers: give at least one shape, like 16 or 32x16".into());
    }
    Ok(format!("[{}]", shapes.join(", ")))
}

/// One trial as the live view follows it.
pub struct LiveTrial {
    pub trial: usize,
    pub params: Vec<(String, String)>,
    pub epoch: usize,
    pub epochs: usize,
    pub status: String,
    pub objective: Option<f64>,
}

/// A study as its events arrive.
#[derive(Default)]
pub struct Live {
    pub trials_total: usize,
    pub device: Option<String>,
    pub notice: Option<String>,
    pub trials: BTreeMap<RunId, LiveTrial>,
    /// Metric key, then one series per run.
    pub series: BTreeMap<String, BTreeMap<RunId, Series>>,
    pub finished: Option<String>,
}

impl Live {
    fn done(&self) -> usize {
        self.trials
            .values()
            .filter(|t| t.status != "running")
            .count()
    }
}

#[derive(Default)]
pub struct TrainView {
    pub form: TrainForm,
    pub live: Live,
    pub style: ChartStyle,
    adapters: Option<Vec<AdapterSummary>>,
    probing: Option<Receiver<Vec<AdapterSummary>>>,
    /// The form as last checked, and the trial count (or the reason it is not valid): worked
    /// out again only when the form changes, not every frame.
    verdict: Option<(String, Result<usize, String>)>,
}

impl TrainView {
    pub(crate) fn prepare_live(&mut self) {
        self.live = Live::default();
    }

    pub(crate) fn on_event(&mut self, event: &Event) {
        let live = &mut self.live;
        match event {
            Event::StudyStarted { trials, device, .. } => {
                live.trials_total = *trials;
                live.device = Some(device.clone());
            }
            Event::Notice { message } => live.notice = Some(message.clone()),
            Event::TrialStarted {
                trial, run, params, ..
            } => {
                live.trials.insert(
                    *run,
                    LiveTrial {
                        trial: *trial,
                        params: params.clone(),
                        epoch: 0,
                        epochs: 0,
                        status: "running".into(),
                        objective: None,
                    },
                );
            }
            Event::Progress {
                run, epoch, epochs, ..
            } => {
                if let Some(t) = live.trials.get_mut(run) {
                    t.epoch = *epoch;
                    t.epochs = *epochs;
                }
            }
            Event::Metric {
                run,
                key,
                step,
                value,
            } => {
                let trial = live.trials.get(run).map_or(0, |t| t.trial);
                live.series
                    .entry(key.clone())
                    .or_default()
                    .entry(*run)
                    .or_insert_with(|| Series::new(format!("trial {trial} (run {run})")))
                    .push(*step as f64, *value);
            }
            Event::TrialFinished {
                run,
                status,
                objective,
                ..
            } => {
                if let Some(t) = live.trials.get_mut(run) {
                    t.status = status.clone();
                    t.objective = *objective;
                }
            }
            Event::StudyFinished { status, .. } => live.finished = Some(status.clone()),
        }
    }

    pub(crate) fn on_finished(&mut self, outcome: &StudyOutcome) {
        self.live.finished = Some(
            match outcome.status {
                StudyStatus::Finished => "finished",
                StudyStatus::Cancelled => "cancelled",
            }
            .into(),
        );
        if self.live.device.is_none() {
            self.live.device = Some(outcome.device.clone());
        }
        if outcome.notice.is_some() {
            self.live.notice = outcome.notice.clone();
        }
    }

    pub(crate) fn on_failed(&mut self) {
        if self.live.trials_total > 0 && self.live.finished.is_none() {
            self.live.finished = Some("failed".into());
        }
    }
}

pub(crate) fn describe_study(outcome: &StudyOutcome) -> String {
    let status = match outcome.status {
        StudyStatus::Finished => "finished",
        StudyStatus::Cancelled => "cancelled",
    };
    let best = outcome.best.as_ref().map_or(String::new(), |b| {
        format!(
            "; best run {} with {} {:.4}",
            b.run, outcome.objective, b.objective
        )
    });
    format!(
        "study {} {status}: {} of {} trials finished, {} failed, on {}{best}",
        outcome.study, outcome.finished, outcome.trials, outcome.failed, outcome.device
    )
}

pub(crate) fn show(app: &mut KilnApp, ui: &mut egui::Ui) {
    super::title(
        ui,
        "Train",
        "Search a space of models on a dataset. Every trial is a run in the project, and its curves draw live.",
    );
    let ctx = ui.ctx().clone();
    let datasets: Vec<String> = app.datasets().iter().map(|d| d.name.clone()).collect();
    let view = &mut app.train;
    if !datasets.contains(&view.form.dataset) {
        view.form.dataset = datasets.first().cloned().unwrap_or_default();
    }
    if let Some(rx) = &view.probing
        && let Ok(adapters) = rx.try_recv()
    {
        view.adapters = Some(adapters);
        view.probing = None;
    }
    let busy = app.job.is_some();
    let mut start = false;
    egui::ScrollArea::vertical()
        .id_salt("train_scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let view = &mut app.train;
            form_ui(ui, view, &datasets);
            ui.horizontal(|ui| {
                start = ui
                    .add_enabled(!busy, egui::Button::new("Start"))
                    .on_hover_text("Start the study")
                    .clicked();
                let cancelling = app.job.as_ref().is_some_and(|j| j.cancelling());
                let cancellable = app.job.as_ref().is_some_and(|j| j.cancellable);
                if ui
                    .add_enabled(cancellable && !cancelling, egui::Button::new("Cancel"))
                    .clicked()
                    && let Some(job) = &app.job
                {
                    job.cancel();
                }
                if cancelling {
                    ui.label("Cancelling: each trial stops after its current batch…");
                }
            });
            ui.separator();
            live_ui(ui, &mut app.train);
        });
    if start {
        match app.train.form.request() {
            Ok(request) => {
                let title = format!("Training on {}", request.dataset);
                let started = app.start_job(&ctx, &title, true, move |project, options| {
                    project
                        .run_study(&request, options)
                        .map(|o| Output::Trained(Box::new(o)))
                });
                if started {
                    // Events are drained on this thread, so none is lost by clearing now.
                    app.train.prepare_live();
                }
            }
            Err(e) => app.fail("Cannot start the study", e),
        }
    }
}

fn form_ui(ui: &mut egui::Ui, view: &mut TrainView, datasets: &[String]) {
    let form = &mut view.form;
    egui::Grid::new("train_form")
        .num_columns(4)
        .spacing([10.0, 6.0])
        .show(ui, |ui| {
            let combo_label = ui.label("Dataset");
            egui::ComboBox::from_id_salt("dataset")
                .selected_text(if form.dataset.is_empty() {
                    "(none)"
                } else {
                    form.dataset.as_str()
                })
                .show_ui(ui, |ui| {
                    for d in datasets {
                        ui.selectable_value(&mut form.dataset, d.clone(), d);
                    }
                })
                .response
                .labelled_by(combo_label.id);
            ui.label("Model");
            ui.horizontal(|ui| {
                ui.radio_value(&mut form.family, ModelFamily::Mlp, "MLP");
                ui.radio_value(&mut form.family, ModelFamily::Logreg, "Logistic regression");
            });
            ui.end_row();

            ui.label("Search");
            ui.horizontal(|ui| {
                ui.radio_value(&mut form.strategy, Strategy::Grid, "Grid");
                ui.radio_value(&mut form.strategy, Strategy::Random, "Random");
                ui.radio_value(&mut form.strategy, Strategy::Halving, "Halving");
            });
            ui.label("Device");
            ui.horizontal(|ui| {
                ui.radio_value(&mut form.device, DevicePreference::Auto, "Auto");
                ui.radio_value(&mut form.device, DevicePreference::Gpu, "GPU (wgpu)");
                ui.radio_value(&mut form.device, DevicePreference::Cpu, "CPU");
            });
            ui.end_row();

            field(ui, "Learning rates", &mut form.learning_rate, "0.01, 0.03");
            field(ui, "Batch sizes", &mut form.batch_size, "16, 32");
            ui.end_row();
            field(ui, "Epochs", &mut form.epochs, "40");
            if form.family == ModelFamily::Mlp {
                field(ui, "Hidden layers", &mut form.hidden, "16; 32x16");
            } else {
                ui.label("");
                ui.label("");
            }
            ui.end_row();
            if form.family == ModelFamily::Mlp {
                field(ui, "Dropout", &mut form.dropout, "0, 0.2");
            } else {
                ui.label("");
                ui.label("");
            }
            field(ui, "Weight decay", &mut form.weight_decay, "0, 0.0001");
            ui.end_row();
            field(ui, "Optimizer", &mut form.optimizer, "adam, sgd");
            field(ui, "Patience", &mut form.patience, "empty: no early stop");
            ui.end_row();
            field(ui, "Seed", &mut form.seed, "42");
            if form.strategy == Strategy::Grid {
                ui.label("");
                ui.label("");
            } else {
                field(ui, "Samples", &mut form.samples, "8");
            }
            ui.end_row();
            field(ui, "Parallel trials", &mut form.parallel, "2");
            field(ui, "Objective", &mut form.objective, "val/macro_f1");
            ui.end_row();
        });
    let key = format!("{form:?}");
    if view.verdict.as_ref().is_none_or(|(k, _)| *k != key) {
        let verdict = form.request().and_then(|request| {
            request
                .space
                .trials(request.strategy, request.family)
                .map(|t| t.len())
                .map_err(|e| e.to_string())
        });
        view.verdict = Some((key, verdict));
    }
    match view.verdict.as_ref().map(|(_, v)| v) {
        Some(Ok(trials)) => {
            ui.label(format!("{trials} trial(s) in this search."));
        }
        Some(Err(e)) => {
            ui.colored_label(ui.visuals().warn_fg_color, e);
        }
        None => {}
    }
    ui.horizontal(|ui| match &view.adapters {
        Some(adapters) if adapters.is_empty() => {
            ui.label("GPU adapters: none found; training runs on the CPU.");
        }
        Some(adapters) => {
            let names: Vec<String> = adapters
                .iter()
                .map(|a| {
                    if a.software {
                        format!("{a} (software)")
                    } else {
                        a.to_string()
                    }
                })
                .collect();
            ui.label(format!("GPU adapters: {}", names.join("; ")));
        }
        None if view.probing.is_some() => {
            ui.spinner();
            ui.label("Looking for GPU adapters…");
        }
        None => {
            if ui.button("Find GPU adapters").clicked() {
                let (tx, rx) = std::sync::mpsc::channel();
                let spawned = std::thread::Builder::new()
                    .name("kiln: adapter probe".into())
                    .spawn(move || {
                        let _ = tx.send(kiln_core::train::probe_adapters());
                    });
                if spawned.is_ok() {
                    view.probing = Some(rx);
                }
            }
        }
    });
    ui.collapsing("Search space as TOML", |ui| match form.to_toml() {
        Ok(text) => {
            ui.monospace(text);
        }
        Err(e) => {
            ui.label(e);
        }
    });
}

fn field(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str) {
    let label = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(value)
            .hint_text(hint)
            .desired_width(160.0),
    )
    .labelled_by(label.id);
}

fn live_ui(ui: &mut egui::Ui, view: &mut TrainView) {
    let live = &mut view.live;
    if live.trials_total == 0 && live.trials.is_empty() {
        ui.label("No study running. Fill in the form and press Start.");
        return;
    }
    ui.horizontal(|ui| {
        ui.label("Device in use:");
        ui.strong(live.device.as_deref().unwrap_or("choosing…"));
        if let Some(status) = &live.finished {
            ui.separator();
            ui.label(format!("Study {status}"));
        }
    });
    if let Some(notice) = &live.notice {
        ui.colored_label(ui.visuals().warn_fg_color, format!("Notice: {notice}"));
    }
    let total = live.trials_total.max(live.trials.len()).max(1);
    let done = live.done();
    ui.add(
        egui::ProgressBar::new(done as f32 / total as f32)
            .text(format!("Study: {done} of {total} trials done")),
    );
    egui::CollapsingHeader::new(format!("Trials ({})", live.trials.len()))
        .default_open(true)
        .show(ui, |ui| {
            egui::Grid::new("live_trials").striped(true).show(ui, |ui| {
                for title in ["Trial", "Run", "Progress", "Status", "Objective", "Params"] {
                    ui.strong(title);
                }
                ui.end_row();
                for (run, t) in &live.trials {
                    ui.label(t.trial.to_string());
                    ui.label(run.to_string());
                    let fraction = if t.status == "running" {
                        if t.epochs == 0 {
                            0.0
                        } else {
                            t.epoch as f32 / t.epochs as f32
                        }
                    } else {
                        1.0
                    };
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(160.0)
                            .text(format!("epoch {} / {}", t.epoch, t.epochs)),
                    );
                    ui.label(&t.status);
                    ui.label(super::number(t.objective));
                    let params: Vec<String> =
                        t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    ui.label(params.join(" "));
                    ui.end_row();
                }
            });
        });
    ui.checkbox(&mut view.style.log_y, "Log scale");
    let style = view.style;
    let keys: Vec<String> = live.series.keys().cloned().collect();
    let width = ui.available_width();
    let per_row = if width > 900.0 { 2 } else { 1 };
    for chunk in keys.chunks(per_row) {
        ui.horizontal(|ui| {
            for key in chunk {
                ui.vertical(|ui| {
                    ui.set_width(width / per_row as f32 - 8.0);
                    ui.strong(key);
                    if let Some(by_run) = live.series.get_mut(key) {
                        let mut series: Vec<&mut Series> = by_run.values_mut().collect();
                        line_chart(ui, &format!("live:{key}"), key, &mut series, style, 220.0);
                    }
                });
            }
        });
    }
}
