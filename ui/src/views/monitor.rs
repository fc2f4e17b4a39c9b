//! Monitor: a model version's batches on a timeline; a heat map of drift per input column and
//! batch, whose cells overlay the reference and current distributions of that column; the
//! accuracy over the labelled batches with DDM's and ADWIN's flags, beside the accuracy
//! estimated from probabilities and the reference's calibration; and a new batch checked from
//! here.

use std::path::Path;

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Bar, BarChart, Legend, Line, LineStyle, Plot, PlotPoints, Points, VLine};
use kiln_core::monitor::retrain::{DataMode, Decision, Policy, RetrainRequest};
use kiln_core::monitor::{ColumnDrift, DriftOptions, MonitorHistory, MonitorReport, StatTest};
use kiln_core::registry::VersionSelector;
use kiln_core::service::{Answer, Operation, Outcome, Query};

use crate::screen::{Command, Frame, Purpose};

const DRIFT: Color32 = Color32::from_rgb(0xd6, 0x4b, 0x3f);
const STEADY: Color32 = Color32::from_rgb(0x3f, 0x9a, 0x5c);

pub struct MonitorView {
    pub model: String,
    /// The version: `@alias`, `vN` or empty for the newest.
    pub version: String,
    /// The batch to check, as typed or chosen.
    pub batch: String,
    pub history: Option<MonitorHistory>,
    /// What the shown history answers: model, version, the model's versions and aliases, and
    /// the project's counts of reports and decisions when it was asked.
    asked: Option<(String, String, String, (u64, u64))>,
    /// The selected heat-map cell: the report's place and the column's name.
    pub cell: Option<(usize, String)>,
    /// A cell to select once the history holds its batch: a new batch's first drifting column.
    pending: Option<(i64, String)>,
    /// The retrain form: train on the newest labelled batches only (else with the training
    /// batch), how many, α and the held-out share.
    pub window: bool,
    pub policy_batches: String,
    pub policy_alpha: String,
    pub policy_held_out: String,
    /// What the last dry run said would happen.
    pub preview: Option<String>,
    /// The drift tests chosen per column (none: Evidently's default), thresholds as typed
    /// (empty: the test's), and the drift share as typed.
    pub tests: std::collections::BTreeMap<String, StatTest>,
    pub thresholds: std::collections::BTreeMap<String, String>,
    pub drift_share: String,
}

impl Default for MonitorView {
    fn default() -> MonitorView {
        let policy = Policy::default();
        MonitorView {
            model: String::new(),
            version: String::new(),
            batch: String::new(),
            history: None,
            asked: None,
            cell: None,
            pending: None,
            window: false,
            policy_batches: policy.data.batches.to_string(),
            policy_alpha: policy.decision.alpha.to_string(),
            policy_held_out: policy.decision.held_out.to_string(),
            preview: None,
            tests: Default::default(),
            thresholds: Default::default(),
            drift_share: kiln_core::monitor::drift::DRIFT_SHARE.to_string(),
        }
    }
}

impl MonitorView {
    pub fn on_answer(&mut self, query: &Query, answer: Result<Answer, String>) {
        if let (Query::Monitoring { model, .. }, Ok(Answer::Monitoring(history))) = (query, answer)
            && *model == self.model
        {
            self.history = Some(*history);
        }
    }

    pub fn on_outcome(&mut self, outcome: &Outcome) {
        if let Outcome::Retrained(report) = outcome {
            self.asked = None;
            self.preview = report.dry_run.then(|| {
                format!(
                    "{}: {}. Triggers: {}",
                    report.decision.as_str(),
                    report.reason,
                    if report.triggers.is_empty() {
                        "none".into()
                    } else {
                        report.triggers.join("; ")
                    }
                )
            });
        }
        if let Outcome::Monitored(report) = outcome {
            self.model = report.model.clone();
            // The new batch's first drifting column, or its first column.
            let column = report
                .columns
                .iter()
                .find(|c| c.drifted)
                .or(report.columns.first())
                .map(|c| c.column.clone());
            self.pending = column.map(|c| (report.batch, c));
            self.batch.clear();
            self.asked = None;
        }
    }

    pub fn on_picked(&mut self, path: &Path) {
        self.batch = path.display().to_string();
    }

    /// A file dropped on the screen: checked as a new batch of the model shown, when one is.
    pub fn check_dropped(&mut self, path: &Path) -> Option<Result<Operation, String>> {
        if self.model.is_empty() {
            return None;
        }
        self.batch = path.display().to_string();
        Some(self.check_operation())
    }

    fn check_operation(&self) -> Result<Operation, String> {
        Ok(Operation::Monitor {
            model: self.model.clone(),
            selector: self.version.parse().unwrap_or(VersionSelector::Latest),
            path: self.batch.trim().into(),
            options: self.drift_options()?,
        })
    }

    /// The drift options the form describes.
    fn drift_options(&self) -> Result<DriftOptions, String> {
        let mut options = DriftOptions {
            tests: self.tests.clone(),
            ..Default::default()
        };
        for (column, text) in &self.thresholds {
            if let Some(text) = crate::widgets::non_empty(text) {
                let value = text
                    .parse()
                    .map_err(|_| format!("threshold of {column}: {text:?} is not a number"))?;
                options.thresholds.insert(column.clone(), value);
            }
        }
        let share = self.drift_share.trim();
        options.drift_share = Some(
            share
                .parse()
                .map_err(|_| format!("drift share: {share:?} is not a number"))?,
        );
        options.validate()?;
        Ok(options)
    }

    /// The retrain the form describes.
    fn retrain_operation(&self, dry_run: bool) -> Result<Operation, String> {
        let number = |what: &str, text: &str| -> Result<f64, String> {
            text.trim()
                .parse::<f64>()
                .map_err(|_| format!("{what}: {text:?} is not a number"))
        };
        let mut policy = Policy::default();
        policy.data.mode = if self.window {
            DataMode::Window
        } else {
            DataMode::Append
        };
        policy.data.batches = self
            .policy_batches
            .trim()
            .parse()
            .map_err(|_| format!("batches: {:?} is not a whole number", self.policy_batches))?;
        policy.decision.alpha = number("alpha", &self.policy_alpha)?;
        policy.decision.held_out = number("held-out share", &self.policy_held_out)?;
        policy.validate()?;
        Ok(Operation::Retrain(Box::new(RetrainRequest {
            model: self.model.clone(),
            policy,
            // The dry run says which of the policy's triggers fire; Retrain now retrains anyway.
            by_hand: !dry_run,
            dry_run,
        })))
    }

    pub fn show(&mut self, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
        show(self, ui, frame);
    }
}

fn show(view: &mut MonitorView, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
    crate::widgets::title(
        ui,
        "Monitor",
        "New batches of a model's data against the rows it was trained on: drift per column (Evidently's tests), predictions, and accuracy with DDM and ADWIN.",
    );
    let models = &frame.snapshot.models;
    if models.is_empty() {
        ui.label("No registered model yet: register a run on the Runs screen, then check batches of its data here.");
        return;
    }
    if !models.iter().any(|(m, _)| *m == view.model) {
        view.model = models[0].0.clone();
        view.version.clear();
        view.history = None;
    }
    let versions = models
        .iter()
        .find(|(m, _)| *m == view.model)
        .map(|(_, v)| v.as_slice())
        .unwrap_or_default();
    if view.version.is_empty() {
        view.version = if versions
            .iter()
            .any(|v| v.aliases.iter().any(|a| a == "champion"))
        {
            "@champion".into()
        } else {
            versions
                .iter()
                .map(|v| format!("v{}", v.version))
                .next_back()
                .unwrap_or_default()
        };
    }
    ui.horizontal(|ui| {
        let label = ui.label("Model");
        egui::ComboBox::from_id_salt("monitor_model")
            .selected_text(view.model.clone())
            .show_ui(ui, |ui| {
                for (m, _) in models {
                    if ui.selectable_label(view.model == *m, m).clicked() {
                        view.model = m.clone();
                        view.version.clear();
                        view.history = None;
                        view.cell = None;
                    }
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label("Version");
        egui::ComboBox::from_id_salt("monitor_version")
            .selected_text(view.version.clone())
            .show_ui(ui, |ui| {
                for v in versions {
                    let mut choices = vec![format!("v{}", v.version)];
                    choices.extend(v.aliases.iter().map(|a| format!("@{a}")));
                    for choice in choices {
                        if ui
                            .selectable_label(view.version == choice, &choice)
                            .clicked()
                        {
                            view.version = choice;
                            view.history = None;
                            view.cell = None;
                        }
                    }
                }
            })
            .response
            .labelled_by(label.id);
    });
    let selector: VersionSelector = view.version.parse().unwrap_or(VersionSelector::Latest);
    let versions_key = format!(
        "{:?}",
        versions
            .iter()
            .map(|v| (v.version, &v.aliases))
            .collect::<Vec<_>>()
    );
    let key = (
        view.model.clone(),
        view.version.clone(),
        versions_key,
        frame.snapshot.monitoring,
    );
    if view.asked.as_ref() != Some(&key) {
        view.asked = Some(key);
        frame.send(Command::Ask(Query::Monitoring {
            model: view.model.clone(),
            selector: selector.clone(),
        }));
    }

    let browse = crate::widgets::path_field(
        ui,
        "Batch file",
        &mut view.batch,
        "a CSV with the dataset's columns; the label is optional",
    );
    if browse {
        frame.send(Command::Pick(Purpose::MonitorBatch));
    }
    let can_check = frame.writable() && !frame.busy() && !view.batch.trim().is_empty();
    let can_retrain = frame.writable()
        && !frame.busy()
        && versions
            .iter()
            .any(|v| v.aliases.iter().any(|a| a == "champion"));
    let columns: Vec<String> = versions
        .iter()
        .find_map(|v| v.lineage.dataset.clone())
        .and_then(|d| frame.snapshot.datasets.iter().find(|s| s.name == d))
        .map(|d| {
            d.column_names
                .iter()
                .filter(|c| d.label.as_deref() != Some(c.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    drift_tests_ui(view, ui, &columns);
    if ui
        .add_enabled(can_check, egui::Button::new("Check a new batch"))
        .on_hover_text("Import the file as a monitoring batch, score it and report its drift")
        .on_disabled_hover_text("Choose a batch file first (and wait for a running job)")
        .clicked()
    {
        match view.check_operation() {
            Ok(operation) => frame.run(operation),
            Err(e) => frame.fail("The drift tests are not valid", e),
        }
    }
    retrain_form_ui(view, ui, frame, can_retrain);
    ui.separator();

    let Some(history) = &view.history else {
        ui.label("Reading the reports…");
        return;
    };
    if history.reports.is_empty() {
        ui.label(format!(
            "{} v{} has no monitoring reports yet: check a batch of its data above.",
            history.model, history.version
        ));
        // A champion promoted a moment ago has no reports yet; the decision that made it shows.
        if !history.decisions.is_empty() {
            ui.add_space(6.0);
            decisions_ui(ui, history);
        }
        return;
    }
    // The cell a new batch asked for, once its report is here; with none chosen, the newest
    // report's first drifting column (or its first).
    if let Some((batch, column)) = &view.pending
        && let Some(at) = history.reports.iter().position(|r| r.batch == *batch)
    {
        view.cell = Some((at, column.clone()));
        view.pending = None;
    }
    if view.cell.is_none()
        && let Some(newest) = history.reports.last()
        && let Some(column) = newest
            .columns
            .iter()
            .find(|c| c.drifted)
            .or(newest.columns.first())
    {
        view.cell = Some((history.reports.len() - 1, column.column.clone()));
    }
    egui::ScrollArea::vertical()
        .id_salt("monitor_scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| history_ui(ui, history, &mut view.cell));
}

/// Everything the screen shows of a history: the timeline, the heat map, the chosen cell's
/// distributions and notes, accuracy over batches, the calibration and the decisions.
pub fn history_ui(ui: &mut egui::Ui, history: &MonitorHistory, cell: &mut Option<(usize, String)>) {
    timeline_ui(ui, history, cell);
    ui.add_space(6.0);
    heat_map_ui(ui, history, cell);
    if let Some((at, column)) = cell.as_ref()
        && let Some(report) = history.reports.get(*at)
    {
        if let Some(drift) = column_of(report, column) {
            ui.add_space(6.0);
            distribution_ui(ui, report, drift);
        }
        ui.add_space(6.0);
        report_notes_ui(ui, report);
    }
    ui.add_space(6.0);
    performance_ui(ui, history);
    ui.add_space(6.0);
    calibration_ui(ui, history);
    ui.add_space(6.0);
    decisions_ui(ui, history);
}

/// A test's value in a few characters: `p 0.034`, `p 2e-13`, `0.153`.
fn short_value(d: &ColumnDrift) -> String {
    match (d.test.is_p_value(), d.value) {
        (true, 0.0) => "p 0".into(),
        (true, p) if p < 1e-3 => format!("p {p:.0e}"),
        (true, p) => format!("p {p:.3}"),
        (false, v) => format!("{v:.3}"),
    }
}

/// A bin edge as a label: four significant digits at most.
fn edge_label(e: f64) -> String {
    match e.abs() {
        a if a >= 100.0 => format!("{e:.0}"),
        a if a >= 10.0 => format!("{e:.1}"),
        a if a >= 1.0 => format!("{e:.2}"),
        _ => format!("{e:.4}"),
    }
}

fn column_of<'a>(report: &'a MonitorReport, column: &str) -> Option<&'a ColumnDrift> {
    report
        .columns
        .iter()
        .chain(report.prediction.iter())
        .find(|c| c.column == column)
}

fn batch_name(report: &MonitorReport) -> String {
    let file = Path::new(&report.source)
        .file_name()
        .map_or(report.source.clone(), |f| f.to_string_lossy().into_owned());
    format!("batch {} · {file}", report.batch)
}

fn timeline_ui(ui: &mut egui::Ui, history: &MonitorHistory, cell: &mut Option<(usize, String)>) {
    let n = history.reports.len();
    ui.strong(format!(
        "{} v{}: {n} {}",
        history.model,
        history.version,
        if n == 1 { "batch" } else { "batches" }
    ));
    ui.horizontal_wrapped(|ui| {
        for (i, r) in history.reports.iter().enumerate() {
            let verdict = if r.drift.drifted { "drifts" } else { "steady" };
            let text = RichText::new(format!(
                "{}\n{} rows · {}/{} columns drift · {verdict}",
                batch_name(r),
                r.rows,
                r.drift.drifted_columns,
                r.drift.columns
            ))
            .color(if r.drift.drifted { DRIFT } else { STEADY });
            let selected = cell.as_ref().is_some_and(|(at, _)| *at == i);
            if ui.selectable_label(selected, text).clicked() {
                let column = cell
                    .as_ref()
                    .map(|(_, c)| c.clone())
                    .or_else(|| r.columns.first().map(|c| c.column.clone()))
                    .unwrap_or_default();
                *cell = Some((i, column));
            }
        }
    });
}

/// How strongly a cell drifts, from 0 (far from its threshold) to 1 (well past it).
fn strength(d: &ColumnDrift) -> f32 {
    let ratio = if d.test.is_p_value() {
        // p-values: log distance below the threshold.
        let p = d.value.max(1e-300);
        ((d.threshold.max(1e-300) / p).log10() / 4.0 + 0.5).clamp(0.0, 1.0)
    } else if d.threshold > 0.0 {
        (d.value / d.threshold / 2.0).clamp(0.0, 1.0)
    } else {
        1.0
    };
    ratio as f32
}

/// Opaque, so that white text reads on it in either theme: red for drift (deeper the further
/// past the threshold), green otherwise (deeper the further from it).
fn cell_colour(d: &ColumnDrift) -> Color32 {
    let s = strength(d);
    let mix = |a: Color32, b: Color32, t: f32| {
        let m = |x: u8, y: u8| (x as f32 + (y as f32 - x as f32) * t).round() as u8;
        Color32::from_rgb(m(a.r(), b.r()), m(a.g(), b.g()), m(a.b(), b.b()))
    };
    if d.drifted {
        mix(Color32::from_rgb(0xe0, 0x7a, 0x4a), DRIFT, s)
    } else {
        mix(STEADY, Color32::from_rgb(0x2a, 0x6e, 0x40), 1.0 - s)
    }
}

fn heat_map_ui(ui: &mut egui::Ui, history: &MonitorHistory, cell: &mut Option<(usize, String)>) {
    ui.strong("Drift per column and batch");
    ui.label(
        RichText::new(
            "Each cell is the column's test on that batch (a p-value, or a distance); red cells drift. Click one to see both distributions.",
        )
        .weak(),
    );
    // Every column any report tested, in the order of first appearance, then the predictions.
    let mut columns: Vec<String> = Vec::new();
    for r in &history.reports {
        for c in &r.columns {
            if !columns.contains(&c.column) {
                columns.push(c.column.clone());
            }
        }
    }
    columns.push("prediction".into());
    egui::ScrollArea::horizontal()
        .id_salt("heat_map")
        .show(ui, |ui| {
            egui::Grid::new("monitor_heat_map")
                .spacing([3.0, 3.0])
                .show(ui, |ui| {
                    ui.label("");
                    for r in &history.reports {
                        ui.strong(format!("batch {}", r.batch));
                    }
                    ui.end_row();
                    for column in &columns {
                        ui.label(column);
                        for (i, r) in history.reports.iter().enumerate() {
                            match column_of(r, column) {
                                Some(d) => {
                                    let text = format!("{} {}", d.test, short_value(d));
                                    let selected = cell
                                        .as_ref()
                                        .is_some_and(|(at, c)| *at == i && c == column);
                                    let button = egui::Button::new(
                                        RichText::new(text).color(Color32::WHITE).small(),
                                    )
                                    .fill(cell_colour(d))
                                    .stroke(if selected {
                                        egui::Stroke::new(2.0, ui.visuals().strong_text_color())
                                    } else {
                                        egui::Stroke::NONE
                                    })
                                    .min_size(egui::vec2(120.0, 0.0));
                                    let hover = format!(
                                        "{} in batch {}: {} {} (threshold {}), {}",
                                        column,
                                        r.batch,
                                        d.test.label(),
                                        d.value,
                                        d.threshold,
                                        if d.drifted { "drifts" } else { "no drift" }
                                    );
                                    let response = ui.add(button);
                                    let name = format!("{column} in batch {}", r.batch);
                                    response.widget_info(|| {
                                        egui::WidgetInfo::labeled(egui::Role::Button, true, &name)
                                    });
                                    if response.on_hover_text(hover).clicked() {
                                        *cell = Some((i, column.clone()));
                                    }
                                }
                                None => {
                                    ui.label("–");
                                }
                            }
                        }
                        ui.end_row();
                    }
                });
        });
}

fn distribution_ui(ui: &mut egui::Ui, report: &MonitorReport, d: &ColumnDrift) {
    ui.strong(format!(
        "{} in {}: {} {} (threshold {}), {}",
        d.column,
        batch_name(report),
        d.test.label(),
        short_value(d).trim_start_matches("p "),
        d.threshold,
        if d.drifted { "drifts" } else { "no drift" }
    ));
    let dist = &d.distribution;
    let bars = |shares: &[f64], offset: f64, name: &str, colour: Color32| {
        let width = 0.4;
        BarChart::new(
            name,
            shares
                .iter()
                .enumerate()
                .map(|(i, s)| Bar::new(i as f64 + offset, *s).width(width))
                .collect(),
        )
        .color(colour)
    };
    let labels: Vec<String> = if dist.edges.is_empty() {
        dist.labels.clone()
    } else {
        dist.edges.iter().map(|e| edge_label(*e)).collect()
    };
    Plot::new(("monitor_distribution", &d.column))
        .height(200.0)
        .legend(Legend::default())
        .y_axis_label("share of rows")
        .include_y(0.0)
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot_ui| {
            plot_ui.bar_chart(bars(
                &dist.reference,
                -0.2,
                "reference (training rows)",
                Color32::from_rgb(0x5b, 0x8d, 0xd6),
            ));
            plot_ui.bar_chart(bars(&dist.current, 0.2, "this batch", DRIFT));
        });
}

fn report_notes_ui(ui: &mut egui::Ui, r: &MonitorReport) {
    let mut notes = vec![format!(
        "{}: {} rows, {} scored, {} refused; reference: {} training rows",
        batch_name(r),
        r.rows,
        r.scored_rows,
        r.refused_rows,
        r.reference_rows
    )];
    if let Some(p) = &r.prediction {
        notes.push(format!(
            "Predicted classes: {} {}, {}",
            p.test.label(),
            short_value(p).trim_start_matches("p "),
            if p.drifted { "drift" } else { "no drift" }
        ));
    }
    for t in &r.text {
        notes.push(format!(
            "Text {}: {:.1}% of terms outside the vocabulary (reference {:.1}%)",
            t.column,
            100.0 * t.current_out_of_vocabulary,
            100.0 * t.reference_out_of_vocabulary
        ));
    }
    if let Some(p) = &r.performance {
        for (class, n) in &p.unseen_classes {
            notes.push(format!(
                "Label {class:?} is a class the model never saw ({n} rows)"
            ));
        }
    }
    for (line, why) in r.refusals.iter().take(5) {
        notes.push(format!("Line {line} not scored: {why}"));
    }
    for f in &r.failed_checks {
        notes.push(format!("Check failed: {f}"));
    }
    for u in &r.untested {
        notes.push(format!("Not tested: {u}"));
    }
    for n in notes {
        ui.label(n);
    }
}

fn performance_ui(ui: &mut egui::Ui, history: &MonitorHistory) {
    ui.strong("Accuracy over batches");
    ui.label(
        RichText::new(
            "Realised accuracy where a batch has labels; the estimate (mean top probability, as CBPE) for every batch. It is only as good as the model's calibration (below). Vertical lines: DDM (orange) and ADWIN (purple) drifts over the labelled rows.",
        )
        .weak(),
    );
    let realised: Vec<[f64; 2]> = history
        .reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.performance.as_ref().map(|p| [i as f64, p.accuracy]))
        .collect();
    let estimated: Vec<[f64; 2]> = history
        .reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.estimate.estimated_accuracy.map(|a| [i as f64, a]))
        .collect();
    let test = history
        .reports
        .iter()
        .find_map(|r| r.performance.as_ref().and_then(|p| p.test_accuracy))
        .or_else(|| {
            history
                .reports
                .iter()
                .find_map(|r| r.estimate.reference_accuracy)
        });
    // A flag's place on the batch axis: its batch, plus how far into the batch's rows it fell.
    let at = |f: &kiln_core::monitor::StreamFlag| {
        let rows = history.reports[f.report]
            .performance
            .as_ref()
            .map_or(1, |p| p.labelled_rows.max(1));
        f.report as f64 - 0.5 + f.row_in_batch as f64 / rows as f64
    };
    let names: Vec<String> = history
        .reports
        .iter()
        .map(|r| format!("b{}", r.batch))
        .collect();
    Plot::new("monitor_performance")
        .height(220.0)
        .legend(Legend::default())
        .include_y(0.0)
        .include_y(1.0)
        .y_axis_label("accuracy")
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot_ui| {
            if !realised.is_empty() {
                plot_ui.line(Line::new("accuracy", PlotPoints::new(realised.clone())).width(2.0));
                plot_ui.points(Points::new("accuracy", PlotPoints::new(realised)).radius(4.0));
            }
            if !estimated.is_empty() {
                plot_ui.line(
                    Line::new("estimated accuracy", PlotPoints::new(estimated.clone()))
                        .style(LineStyle::dashed_loose()),
                );
                plot_ui.points(
                    Points::new("estimated accuracy", PlotPoints::new(estimated)).radius(3.0),
                );
            }
            if let Some(t) = test {
                let n = history.reports.len() as f64;
                plot_ui.line(
                    Line::new(
                        "test accuracy",
                        PlotPoints::new(vec![[-0.5, t], [n - 0.5, t]]),
                    )
                    .style(LineStyle::dotted_loose()),
                );
            }
            for f in history.ddm.iter().filter(|f| f.kind == "drift") {
                plot_ui.vline(
                    VLine::new("DDM drift", at(f)).color(Color32::from_rgb(0xe0, 0x8a, 0x1e)),
                );
            }
            for f in history.adwin.iter().filter(|f| f.kind == "drift") {
                plot_ui.vline(
                    VLine::new("ADWIN drift", at(f)).color(Color32::from_rgb(0x8e, 0x5b, 0xc8)),
                );
            }
        });
    let said = |name: &str, flags: &[kiln_core::monitor::StreamFlag]| {
        let drifts: Vec<String> = flags
            .iter()
            .filter(|f| f.kind == "drift")
            .map(|f| {
                format!(
                    "batch {} row {}",
                    history.reports[f.report].batch, f.row_in_batch
                )
            })
            .collect();
        let warnings = flags.iter().filter(|f| f.kind == "warning").count();
        if drifts.is_empty() && warnings == 0 {
            format!("{name}: no concept drift")
        } else {
            format!(
                "{name}: {} drift(s){}{}",
                drifts.len(),
                if drifts.is_empty() {
                    String::new()
                } else {
                    format!(" at {}", drifts.join(", "))
                },
                if warnings > 0 {
                    format!("; {warnings} warning span(s)")
                } else {
                    String::new()
                }
            )
        }
    };
    ui.label(said("DDM", &history.ddm));
    ui.label(said("ADWIN", &history.adwin));
}

fn calibration_ui(ui: &mut egui::Ui, history: &MonitorHistory) {
    let Some(estimate) = history.reports.last().map(|r| &r.estimate) else {
        return;
    };
    ui.strong("Calibration of the reference");
    ui.label(
        RichText::new(format!(
            "On the model's held-out test rows: confidence against accuracy, ten bins. Calibration error {}; the estimate above assumes the probabilities are calibrated.",
            crate::widgets::number(estimate.calibration_error)
        ))
        .weak(),
    );
    let points: Vec<[f64; 2]> = estimate
        .calibration
        .iter()
        .map(|b| [b.confidence, b.accuracy])
        .collect();
    Plot::new("monitor_calibration")
        .height(200.0)
        .width(260.0)
        .data_aspect(1.0)
        .include_x(0.0)
        .include_x(1.0)
        .include_y(0.0)
        .include_y(1.0)
        .x_axis_label("confidence")
        .y_axis_label("accuracy")
        .show(ui, |plot_ui| {
            plot_ui.line(
                Line::new("perfect", PlotPoints::new(vec![[0.0, 0.0], [1.0, 1.0]]))
                    .style(LineStyle::dashed_loose()),
            );
            plot_ui.line(Line::new("test rows", PlotPoints::new(points.clone())));
            plot_ui.points(Points::new("test rows", PlotPoints::new(points)).radius(4.0));
        });
}

fn decisions_ui(ui: &mut egui::Ui, history: &MonitorHistory) {
    ui.strong("Retrain decisions");
    if history.decisions.is_empty() {
        ui.label("None yet: Retrain now re-runs the champion's search and promotes only a proven challenger.");
        return;
    }
    egui::Grid::new("monitor_decisions")
        .striped(true)
        .show(ui, |ui| {
            for t in [
                "Decision",
                "Triggers",
                "Study",
                "Champion",
                "Challenger",
                "McNemar p",
                "Why",
            ] {
                ui.strong(t);
            }
            ui.end_row();
            for d in history.decisions.iter().rev() {
                let colour = match d.decision {
                    Decision::Promoted => STEADY,
                    _ => ui.visuals().text_color(),
                };
                ui.label(RichText::new(d.decision.as_str()).color(colour));
                ui.label(d.triggers.join("; "));
                ui.label(d.study.map_or("–".into(), |s| s.to_string()));
                let c = d.comparison.as_ref();
                ui.label(format!(
                    "v{} {}",
                    d.champion,
                    crate::widgets::number(c.map(|c| c.champion_accuracy))
                ));
                ui.label(format!(
                    "{} {}",
                    d.challenger.map_or("–".into(), |v| format!("v{v}")),
                    crate::widgets::number(c.map(|c| c.challenger_accuracy))
                ));
                ui.label(c.map_or("–".into(), |c| {
                    format!("{:.4} (mid {:.4})", c.p_exact, c.p_mid)
                }));
                ui.label(&d.reason);
                ui.end_row();
            }
        });
}

/// The retrain form: the policy's data and decision, a dry run, and *Retrain now*.
fn retrain_form_ui(view: &mut MonitorView, ui: &mut egui::Ui, frame: &mut Frame<'_>, can: bool) {
    ui.collapsing("Retrain policy", |ui| {
        ui.horizontal(|ui| {
            ui.radio_value(
                &mut view.window,
                false,
                "Training batch + newest labelled batches",
            );
            ui.radio_value(&mut view.window, true, "Newest labelled batches only");
        });
        ui.horizontal(|ui| {
            for (label, value, hint) in [
                (
                    "Batches",
                    &mut view.policy_batches,
                    "how many labelled batches",
                ),
                (
                    "Alpha",
                    &mut view.policy_alpha,
                    "McNemar's exact p must be under this",
                ),
                (
                    "Held-out share",
                    &mut view.policy_held_out,
                    "of the newest labelled batch, kept to compare on",
                ),
            ] {
                let l = ui.label(label);
                ui.add(egui::TextEdit::singleline(value).desired_width(60.0))
                    .labelled_by(l.id)
                    .on_hover_text(hint);
            }
        });
    });
    ui.horizontal(|ui| {
        for (label, dry_run) in [("Dry run", true), ("Retrain now", false)] {
            let hover = if dry_run {
                "Say which triggers fire and what would be trained; write nothing"
            } else {
                "Re-run the champion's search on the policy's data, compare with McNemar on held-out rows, and promote only a proven challenger"
            };
            if ui
                .add_enabled(can, egui::Button::new(label))
                .on_hover_text(hover)
                .on_disabled_hover_text("The model needs a @champion (and no job may be running)")
                .clicked()
            {
                match view.retrain_operation(dry_run) {
                    Ok(operation) => frame.run(operation),
                    Err(e) => frame.fail("The retrain policy is not valid", e),
                }
            }
        }
    });
    if let Some(preview) = &view.preview {
        ui.label(RichText::new(preview).weak());
    }
}

/// The drift test and threshold of each column (Evidently's default choice unless one is
/// picked), and the share of drifting columns at which the dataset drifts.
fn drift_tests_ui(view: &mut MonitorView, ui: &mut egui::Ui, columns: &[String]) {
    ui.collapsing("Drift tests", |ui| {
        egui::Grid::new("monitor_tests")
            .striped(true)
            .show(ui, |ui| {
                for t in ["Column", "Test", "Threshold"] {
                    ui.strong(t);
                }
                ui.end_row();
                for column in columns {
                    ui.label(column);
                    let chosen = view.tests.get(column).copied();
                    egui::ComboBox::from_id_salt(("monitor_test", column))
                        .selected_text(chosen.map_or("default".into(), |t| t.name().to_owned()))
                        .show_ui(ui, |ui| {
                            if ui.selectable_label(chosen.is_none(), "default").clicked() {
                                view.tests.remove(column);
                            }
                            for t in StatTest::ALL {
                                if ui
                                    .selectable_label(chosen == Some(t), t.name())
                                    .on_hover_text(t.label())
                                    .clicked()
                                {
                                    view.tests.insert(column.clone(), t);
                                }
                            }
                        });
                    // The test's own threshold, or "auto" while the test is Evidently's choice.
                    let hint =
                        chosen.map_or("auto".to_owned(), |t| t.default_threshold().to_string());
                    ui.add(
                        egui::TextEdit::singleline(
                            view.thresholds.entry(column.clone()).or_default(),
                        )
                        .hint_text(hint)
                        .desired_width(70.0),
                    );
                    ui.end_row();
                }
            });
        ui.horizontal(|ui| {
            let label = ui.label("Drift share");
            ui.add(egui::TextEdit::singleline(&mut view.drift_share).desired_width(60.0))
                .labelled_by(label.id)
                .on_hover_text("The dataset drifts when at least this share of its columns does");
        });
    });
}
