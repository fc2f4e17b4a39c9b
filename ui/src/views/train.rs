//! Train: the study form, Start and Cancel, the device in use, progress per trial and for the
//! study, and live charts of every trial's loss and metrics.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;

use eframe::egui;
use kiln_core::events::Event;
use kiln_core::service::{Operation, Outcome};
use kiln_core::train::space::Values;
use kiln_core::train::{
    AdapterSummary, DeviceNotice, DevicePreference, ModelFamily, OptimizerKind, SearchSpace,
    Strategy, StudyOutcome, StudyRequest, StudyStatus,
};
use kiln_core::{Direction, RunId, RunStatus};

use crate::chart::{Axes, ChartStyle, Series, line_chart};
use crate::screen::{Command, Frame};

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
    /// Logistic regression's inverse L2 strengths, as scikit-learn's C.
    pub c: String,
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
            optimizer: "auto".into(),
            c: "0.1, 1, 10".into(),
            patience: "8".into(),
            seed: "42".into(),
            samples: "8".into(),
            parallel: "2".into(),
            objective: kiln_core::objective::DEFAULT_OBJECTIVE.into(),
        }
    }
}

impl TrainForm {
    /// The search space the form describes, as a typed value the core checks. Only the form's
    /// own grammar (numbers, `16; 32x16`) is checked here.
    pub fn space(&self) -> Result<SearchSpace, String> {
        let mut space = SearchSpace {
            learning_rate: numbers(&self.learning_rate, "learning rate")?,
            batch_size: wholes(&self.batch_size, "batch size")?,
            epochs: wholes(&self.epochs, "epochs")?,
            weight_decay: numbers(&self.weight_decay, "weight decay")?,
            optimizer: optimizers(&self.optimizer)?,
            patience: match self.patience.trim() {
                "" => None,
                text => Some(whole(text, "patience")? as usize),
            },
            seed: whole(&self.seed, "seed")?,
            objective: self.objective.trim().to_owned(),
            ..SearchSpace::default()
        };
        if self.family == ModelFamily::Mlp {
            space.hidden = hidden(&self.hidden)?;
            space.dropout = numbers(&self.dropout, "dropout")?;
        } else {
            space.c = numbers(&self.c, "C")?;
        }
        if self.strategy != Strategy::Grid {
            space.samples = whole(&self.samples, "samples")? as usize;
        }
        Ok(space)
    }

    /// Whether the form trains logistic regressions with L-BFGS (its default), which has no
    /// learning rate, batches, epochs or weight decay.
    pub fn full_batch(&self) -> bool {
        self.family == ModelFamily::Logreg
            && matches!(
                self.optimizer.trim().to_ascii_lowercase().as_str(),
                "" | "auto" | "lbfgs"
            )
    }

    /// The request the form describes, checked by the core.
    pub fn request(&self) -> Result<StudyRequest, String> {
        self.plan().map(|(request, _)| request)
    }

    /// The request the form describes and the number of trials it makes, once the core has
    /// checked it (counting the trials before it draws them).
    pub fn plan(&self) -> Result<(StudyRequest, usize), String> {
        if self.dataset.is_empty() {
            return Err("choose a dataset (import one on the Data screen first)".into());
        }
        let request = StudyRequest {
            dataset: self.dataset.clone(),
            family: self.family,
            strategy: self.strategy,
            space: self.space()?,
            parallel: whole(&self.parallel, "parallel trials")?.max(1) as usize,
            device: self.device,
            max_trials: None,
        };
        let trials = request
            .trials()
            .map_err(|e| crate::widgets::window_words(&e.to_string()))?
            .len();
        Ok((request, trials))
    }
}

/// One value stays one value; several are a list to search.
fn values<T>(mut list: Vec<T>) -> Values<T> {
    if list.len() == 1 {
        Values::One(list.remove(0))
    } else {
        Values::List(list)
    }
}

/// The comma-separated items of `text`, each parsed by `parse`.
fn items<T>(
    text: &str,
    what: &str,
    kind: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, String> {
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(format!("{what}: give at least one value"));
    }
    items
        .into_iter()
        .map(|v| parse(v).ok_or_else(|| format!("{what}: {v:?} is not {kind}")))
        .collect()
}

/// `0.01, 0.03`: finite numbers.
fn numbers(text: &str, what: &str) -> Result<Values<f64>, String> {
    items(text, what, "a number", |v| {
        v.parse::<f64>().ok().filter(|v| v.is_finite())
    })
    .map(values)
}

/// `16, 32`: whole numbers.
fn wholes(text: &str, what: &str) -> Result<Values<usize>, String> {
    items(text, what, "a whole number", |v| v.parse::<usize>().ok()).map(values)
}

/// `adam, sgd`; `auto` (or nothing) for the family's default: lbfgs for a logistic
/// regression, adam for an MLP.
fn optimizers(text: &str) -> Result<Option<Values<OptimizerKind>>, String> {
    if text.trim().is_empty() || text.trim().eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    items(text, "optimizer", "adam, sgd or lbfgs", |v| {
        match v.to_ascii_lowercase().as_str() {
            "adam" => Some(OptimizerKind::Adam),
            "sgd" => Some(OptimizerKind::Sgd),
            "lbfgs" => Some(OptimizerKind::Lbfgs),
            _ => None,
        }
    })
    .map(|v| Some(values(v)))
}

fn whole(text: &str, what: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("{what}: {:?} is not a whole number", text.trim()))
}

/// `16; 32x16`: one shape per `;`, layers within one by `x`.
fn hidden(text: &str) -> Result<Values<Vec<usize>>, String> {
    let shapes = text
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|shape| {
            shape
                .split('x')
                .map(|l| l.trim().parse::<usize>().ok().filter(|&n| n > 0))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| format!("hidden layers: {shape:?} is not like 16 or 32x16"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if shapes.is_empty() {
        return Err("hidden layers: give at least one shape, like 16 or 32x16".into());
    }
    Ok(values(shapes))
}

/// One trial as the live view follows it.
pub struct LiveTrial {
    pub trial: usize,
    pub params: Vec<(String, String)>,
    pub epoch: usize,
    pub epochs: usize,
    pub status: RunStatus,
    pub objective: Option<f64>,
    /// Why the trial ended before its last epoch (early stopping, halving), or failed.
    pub reason: Option<String>,
}

/// A study as its events arrive.
#[derive(Default)]
pub struct Live {
    pub trials_total: usize,
    pub device: Option<String>,
    pub notice: Option<DeviceNotice>,
    /// The metric that ranks the trials: its chart comes first.
    pub objective: Option<String>,
    pub trials: BTreeMap<RunId, LiveTrial>,
    /// Metric key, then one series per run.
    pub series: BTreeMap<String, BTreeMap<RunId, Series>>,
    pub finished: Option<StudyStatus>,
    /// Counts the studies this view has shown: each study's charts are new plots, so that a
    /// zoom in one is not kept for the next.
    pub generation: u64,
}

impl Live {
    fn done(&self) -> usize {
        self.trials
            .values()
            .filter(|t| t.status != RunStatus::Running)
            .count()
    }
}

#[derive(Default)]
pub struct TrainView {
    pub form: TrainForm,
    pub live: Live,
    pub style: ChartStyle,
    /// Whether the timing charts (seconds per epoch, samples per second) show.
    pub show_timing: bool,
    adapters: Option<Vec<AdapterSummary>>,
    probing: Option<Receiver<Vec<AdapterSummary>>>,
    /// The form as last checked, and the trial count (or the reason it is not valid): worked
    /// out again only when the form changes, not every frame.
    verdict: Option<(String, Result<usize, String>)>,
    /// A dataset asked for (by the next-step line) that the lists may not show yet.
    wanted: Option<String>,
}

impl TrainView {
    /// Clears the live view for a study about to start.
    pub fn prepare_live(&mut self) {
        let generation = self.live.generation + 1;
        crate::widgets::drop_elsewhere(std::mem::take(&mut self.live));
        self.live.generation = generation;
    }

    /// Shows `dataset` in the form, as soon as the project's lists have it.
    pub fn choose_dataset(&mut self, dataset: String) {
        self.form.dataset = dataset.clone();
        self.wanted = Some(dataset);
    }

    pub fn show(&mut self, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
        show(self, ui, frame);
    }

    pub fn on_outcome(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Trained(outcome) => self.on_finished(outcome),
            Outcome::Demo(report) => self.on_finished(&report.study),
            _ => {}
        }
    }

    pub fn on_event(&mut self, event: &Event) {
        let live = &mut self.live;
        match event {
            Event::StudyStarted {
                trials,
                device,
                objective,
                ..
            } => {
                live.trials_total = *trials;
                live.device = Some(device.clone());
                live.objective = Some(objective.clone());
            }
            Event::Sync(_) | Event::Replay { .. } => {}
            Event::Notice {
                message,
                gpu_on_request,
            } => {
                live.notice = Some(DeviceNotice {
                    message: message.clone(),
                    gpu_on_request: *gpu_on_request,
                })
            }
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
                        status: RunStatus::Running,
                        objective: None,
                        reason: None,
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
                reason,
                ..
            } => {
                if let Some(t) = live.trials.get_mut(run) {
                    t.status = *status;
                    t.objective = *objective;
                    t.reason = reason.clone();
                }
            }
            Event::StudyFinished { status, .. } => live.finished = Some(*status),
        }
    }

    fn on_finished(&mut self, outcome: &StudyOutcome) {
        self.live.finished = Some(outcome.status);
        if self.live.device.is_none() {
            self.live.device = Some(outcome.device.clone());
        }
        if self.live.objective.is_none() {
            self.live.objective = Some(outcome.objective.key.clone());
        }
        if outcome.notice.is_some() {
            self.live.notice = outcome.notice.clone();
        }
    }

    /// The job failed: a study it showed is over.
    pub fn on_failed(&mut self) {
        if self.live.trials_total > 0 && self.live.finished.is_none() {
            self.live.finished = Some(StudyStatus::Failed);
        }
    }
}

pub fn describe_study(outcome: &StudyOutcome) -> String {
    let status = outcome.status;
    let best = outcome.best.as_ref().map_or(String::new(), |b| {
        format!(
            "; best run {} with {} {:.4}",
            b.run, outcome.objective.key, b.objective
        )
    });
    format!(
        "study {} {status}: {} of {} trials finished, {} failed, on {}{best}",
        outcome.study, outcome.finished, outcome.trials, outcome.failed, outcome.device
    )
}

fn show(view: &mut TrainView, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
    crate::widgets::title(
        ui,
        "Train",
        "Search a space of models on a dataset. Every trial is a run in the project, and its curves draw live.",
    );
    let datasets: Vec<String> = frame
        .snapshot
        .datasets
        .iter()
        .map(|d| d.name.clone())
        .collect();
    match view.wanted.take() {
        Some(wanted) if datasets.contains(&wanted) => view.form.dataset = wanted,
        // Not listed yet: the snapshot that has it is on its way.
        Some(wanted) => view.wanted = Some(wanted),
        None if !datasets.contains(&view.form.dataset) => {
            view.form.dataset = datasets.first().cloned().unwrap_or_default();
        }
        None => {}
    }
    if let Some(rx) = &view.probing
        && let Ok(adapters) = rx.try_recv()
    {
        view.adapters = Some(adapters);
        view.probing = None;
    }
    let busy = frame.busy();
    // Ctrl+Enter starts the form, from any field.
    let shortcut = ui.input_mut(|i| i.consume_shortcut(&crate::keys::START));
    let cancelling = frame.job.is_some_and(|j| j.cancelling);
    let cancellable = frame.job.is_some_and(|j| j.cancellable);
    let mut start = shortcut && !busy;
    let mut cancel = false;
    egui::ScrollArea::vertical()
        .id_salt("train_scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            form_ui(ui, view, &datasets);
            ui.horizontal(|ui| {
                let ctx = ui.ctx().clone();
                start |= ui
                    .add_enabled(!busy, egui::Button::new("Start"))
                    .on_hover_text(format!(
                        "Start the study ({})",
                        ctx.format_shortcut(&crate::keys::START)
                    ))
                    .clicked();
                cancel = ui
                    .add_enabled(cancellable && !cancelling, egui::Button::new("Cancel"))
                    .on_hover_text(format!(
                        "Stop the study; finished trials are kept ({} asks first)",
                        ctx.format_shortcut(&crate::keys::CANCEL)
                    ))
                    .clicked();
                if cancelling {
                    ui.label("Cancelling: each trial stops after its current batch…");
                }
            });
            ui.separator();
            live_ui(ui, view);
        });
    if cancel {
        frame.send(Command::Cancel);
    }
    if start {
        match view.form.request() {
            Ok(request) => frame.run(Operation::Train(Box::new(request))),
            Err(e) => frame.fail("Cannot start the study", e),
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

            // L-BFGS solves a logistic regression on every row at once, to convergence: the
            // step settings say nothing to it.
            let stepped = !form.full_batch();
            let why = "Not used by lbfgs, which solves on every row at once until it converges; choose adam or sgd to use it";
            field_if(ui, stepped, why, "Learning rates", &mut form.learning_rate, "0.01, 0.03");
            field_if(ui, stepped, why, "Batch sizes", &mut form.batch_size, "16, 32");
            ui.end_row();
            field_if(ui, stepped, why, "Epochs", &mut form.epochs, "40");
            if form.family == ModelFamily::Mlp {
                field(ui, "Hidden layers", &mut form.hidden, "16; 32x16");
            } else {
                field(ui, "C", &mut form.c, "0.1, 1, 10");
            }
            ui.end_row();
            if form.family == ModelFamily::Mlp {
                field(ui, "Dropout", &mut form.dropout, "0, 0.2");
            } else {
                ui.label("");
                ui.label("");
            }
            field_if(ui, stepped, "lbfgs regularises with C instead", "Weight decay", &mut form.weight_decay, "0, 0.0001");
            ui.end_row();
            field(
                ui,
                "Optimizer",
                &mut form.optimizer,
                "auto, adam, sgd, lbfgs",
            );
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
        let verdict = form.plan().map(|(_, trials)| trials);
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
    ui.collapsing("Search space as TOML", |ui| {
        match form
            .space()
            .and_then(|s| s.to_toml().map_err(|e| e.to_string()))
        {
            Ok(text) => {
                ui.monospace(text);
            }
            Err(e) => {
                ui.label(e);
            }
        }
    });
}

/// As [`field`], greyed out with `why` on hover when `enabled` is false.
fn field_if(
    ui: &mut egui::Ui,
    enabled: bool,
    why: &str,
    label: &str,
    value: &mut String,
    hint: &str,
) {
    let label = ui.add_enabled(enabled, egui::Label::new(label));
    ui.add_enabled(
        enabled,
        egui::TextEdit::singleline(value)
            .hint_text(hint)
            .desired_width(160.0),
    )
    .on_disabled_hover_text(why)
    .labelled_by(label.id);
}

fn field(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str) {
    field_if(ui, true, "", label, value, hint);
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
        let hint = if notice.gpu_on_request {
            ". To use it anyway, choose GPU (wgpu) under Device."
        } else {
            ""
        };
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("Notice: {}{hint}", notice.message),
        );
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
                    let (fraction, text) = trial_progress(t);
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(340.0)
                            .text(text),
                    );
                    ui.label(t.status.as_str());
                    ui.label(crate::widgets::number(t.objective));
                    let params: Vec<String> =
                        t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let params = params.join(" ");
                    // Cut to the room left, whole on hover: a long list must not widen the
                    // page past the window, and the charts below with it.
                    let room = (ui.clip_rect().right() - ui.cursor().left() - 8.0).max(120.0);
                    ui.allocate_ui_with_layout(
                        egui::vec2(room, 18.0),
                        egui::Layout::left_to_right(egui::Align::Center),
                        |ui| ui.add(egui::Label::new(params.clone()).truncate()),
                    )
                    .inner
                    .on_hover_text(params);
                    ui.end_row();
                }
            });
        });
    ui.horizontal(|ui| {
        ui.checkbox(&mut view.style.log_y, "Log scale");
        ui.checkbox(&mut view.show_timing, "Timing charts")
            .on_hover_text("Seconds per epoch and samples per second");
    });
    let style = view.style;
    let (mut keys, timing) = chart_order(live.series.keys(), live.objective.as_deref());
    if view.show_timing {
        keys.extend(timing);
    }
    // The width the window shows, not the width of the widest row above.
    let width = ui
        .available_width()
        .min(ui.clip_rect().right() - ui.cursor().left());
    let per_row = if width > 900.0 { 2 } else { 1 };
    for chunk in keys.chunks(per_row) {
        ui.horizontal(|ui| {
            for key in chunk {
                ui.vertical(|ui| {
                    ui.set_width(width / per_row as f32 - 8.0);
                    if live.objective.as_deref() == Some(key.as_str()) {
                        ui.strong(format!("{key} (objective)"));
                    } else {
                        ui.strong(key);
                    }
                    if let Some(by_run) = live.series.get_mut(key) {
                        let mut series: Vec<&mut Series> = by_run.values_mut().collect();
                        let axes = Axes {
                            x: kiln_core::train::space::step_unit(key),
                            y: key,
                        };
                        let id = chart_id(live.generation, key);
                        line_chart(ui, &id, axes, &mut series, style, 220.0);
                    }
                });
            }
        });
    }
}

/// The id of the live chart of metric `key` in the view's `generation`-th study.
pub fn chart_id(generation: u64, key: &str) -> String {
    format!("live:{generation}:{key}")
}

/// How far a trial got, and what its bar says. A trial that ended before its last epoch (early
/// stopping, halving) fills its bar and says why.
pub(crate) fn trial_progress(t: &LiveTrial) -> (f32, String) {
    let epochs = format!("epoch {} / {}", t.epoch, t.epochs);
    match (t.status, &t.reason) {
        (RunStatus::Running, _) if t.epochs == 0 => (0.0, epochs),
        (RunStatus::Running, _) => (t.epoch as f32 / t.epochs as f32, epochs),
        (RunStatus::Finished, Some(reason)) => (1.0, reason.clone()),
        (_, Some(reason)) => (1.0, format!("{epochs}: {reason}")),
        (_, None) => (1.0, epochs),
    }
}

/// The charts in the order a user reads them: the objective, then the losses (what is
/// minimised, a solver's objective too), then the other
/// quality metrics (validation before training); and apart, the timing charts.
pub fn chart_order<'a>(
    keys: impl Iterator<Item = &'a String>,
    objective: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    const TIMING: [&str; 2] = ["epoch_seconds", "samples_per_second"];
    // A timing metric that is the objective leads like any objective.
    let (timing, mut main): (Vec<String>, Vec<String>) = keys
        .cloned()
        .partition(|k| TIMING.contains(&k.as_str()) && Some(k.as_str()) != objective);
    main.sort_by_key(|k| {
        let rank = if Some(k.as_str()) == objective {
            0
        } else if Direction::of(k) == Direction::Minimize {
            1
        } else {
            2
        };
        let split = ["val/", "train/", "test/"]
            .iter()
            .position(|p| k.starts_with(p))
            .unwrap_or(3);
        // The epoch's loss before the loss of each batch.
        (rank, split, k.contains("batch"), k.clone())
    });
    (main, timing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solvers_objective_is_charted_with_the_losses() {
        let keys: Vec<String> = [
            "val/accuracy",
            "train/objective",
            "val/loss",
            "epoch_seconds",
        ]
        .map(String::from)
        .to_vec();
        let (main, timing) = chart_order(keys.iter(), Some("val/accuracy"));
        assert_eq!(main, ["val/accuracy", "val/loss", "train/objective"]);
        assert_eq!(timing, ["epoch_seconds"]);
    }

    #[test]
    fn a_logistic_regression_form_searches_its_strengths_with_lbfgs() {
        let mut form = TrainForm {
            dataset: "penguins".into(),
            family: ModelFamily::Logreg,
            c: "0.1, 1, 10".into(),
            ..TrainForm::default()
        };
        assert!(form.full_batch());
        let request = form.request().expect("request");
        let trials = request
            .space
            .trials(request.strategy, request.family)
            .expect("trials");
        let cs: Vec<f64> = trials.iter().map(|t| t.c).collect();
        assert_eq!(cs, [0.1, 1.0, 10.0]);
        assert!(trials.iter().all(|t| t.optimizer == OptimizerKind::Lbfgs));
        // With a stepped optimizer the step settings count again.
        form.optimizer = "adam".into();
        assert!(!form.full_batch());
        form.c = "x".into();
        assert!(form.request().expect_err("bad C").contains("C"));
    }

    #[test]
    fn the_form_fills_a_typed_space() {
        let form = TrainForm {
            dataset: "penguins".into(),
            learning_rate: "0.01, 0.03".into(),
            hidden: "16; 32x16".into(),
            optimizer: "adam, SGD".into(),
            patience: "".into(),
            ..TrainForm::default()
        };
        let space = form.space().expect("space");
        assert_eq!(space.learning_rate, Values::List(vec![0.01, 0.03]));
        assert_eq!(space.batch_size, Values::One(16));
        assert_eq!(space.hidden, Values::List(vec![vec![16], vec![32, 16]]));
        assert_eq!(
            space.optimizer,
            Some(Values::List(vec![OptimizerKind::Adam, OptimizerKind::Sgd]))
        );
        assert_eq!(space.patience, None);
        let request = form.request().expect("request");
        let trials = request.space.trials(request.strategy, request.family);
        assert_eq!(trials.expect("trials").len(), 2 * 2 * 2);
    }

    #[test]
    fn the_form_says_which_field_is_wrong() {
        let wrong = |edit: fn(&mut TrainForm)| {
            let mut form = TrainForm {
                dataset: "penguins".into(),
                ..TrainForm::default()
            };
            edit(&mut form);
            form.request().expect_err("refused")
        };
        assert!(wrong(|f| f.learning_rate = "0.01, fast".into()).contains("learning rate"));
        assert!(wrong(|f| f.hidden = "16; 0x4".into()).contains("hidden layers"));
        assert!(wrong(|f| f.optimizer = "adamw".into()).contains("optimizer"));
        assert!(wrong(|f| f.epochs = "".into()).contains("epochs"));
        // The core checks what the form cannot: the objective must be a logged metric.
        assert!(wrong(|f| f.objective = "val/recall".into()).contains("val/recall"));
        let none = TrainForm::default().request().expect_err("no dataset");
        assert!(none.contains("dataset"), "{none}");
    }
}
