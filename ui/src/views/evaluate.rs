//! Evaluate: a registered model on its held-out test split: the confusion matrix as a heat
//! map, the per-class table, ROC and PR curves, fairness per group and behavioural tests.

use eframe::egui::{self, Color32, Pos2, Rect, Stroke};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints};
use kiln_core::eval::{BehaviourSpec, EvaluateOptions, ModelEvaluation};
use kiln_core::registry::VersionSelector;
use kiln_core::service::{Operation, Outcome};

use crate::chart::color;
use crate::screen::Frame;
use crate::widgets::{non_empty, number};

#[derive(Default)]
pub struct EvalView {
    pub model: String,
    /// A version number or an alias; empty: the newest version.
    pub version: String,
    /// The column whose groups the fairness report compares; empty: none.
    pub sensitive: String,
    pub positive: String,
    pub behaviour: String,
    pub result: Option<ModelEvaluation>,
}

impl EvalView {
    pub fn on_outcome(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Evaluated(evaluation) => self.result = Some((**evaluation).clone()),
            Outcome::Demo(report) => self.result = Some(report.evaluation.clone()),
            _ => {}
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
        show(self, ui, frame);
    }
}

fn show(view: &mut EvalView, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
    crate::widgets::title(
        ui,
        "Evaluate",
        "Scores a registered model on the test split it never saw in training.",
    );
    let models: Vec<String> = frame
        .snapshot
        .models
        .iter()
        .map(|(m, _)| m.clone())
        .collect();
    if models.is_empty() {
        ui.label("No registered model yet: register a run on the Runs screen first.");
        return;
    }
    if !models.contains(&view.model) {
        view.model = models[0].clone();
    }
    let busy = frame.busy();
    let mut start = false;
    egui::Grid::new("eval_form")
        .num_columns(4)
        .spacing([10.0, 6.0])
        .show(ui, |ui| {
            let combo_label = ui.label("Model");
            egui::ComboBox::from_id_salt("eval_model")
                .selected_text(view.model.clone())
                .show_ui(ui, |ui| {
                    for m in &models {
                        ui.selectable_value(&mut view.model, m.clone(), m);
                    }
                })
                .response
                .labelled_by(combo_label.id);
            let label = ui.label("Version or alias");
            ui.add(
                egui::TextEdit::singleline(&mut view.version)
                    .hint_text("newest")
                    .desired_width(120.0),
            )
            .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Fairness column");
            let columns = sensitive_columns(frame, &view.model, &view.version);
            // A column the chosen version's dataset lacks is dropped; nothing is dropped while
            // the lists are still on their way.
            if !columns.is_empty() && !columns.contains(&view.sensitive) {
                view.sensitive.clear();
            }
            egui::ComboBox::from_id_salt("fairness_column")
                .selected_text(if view.sensitive.is_empty() {
                    NO_FAIRNESS
                } else {
                    view.sensitive.as_str()
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut view.sensitive, String::new(), NO_FAIRNESS);
                    for c in &columns {
                        ui.selectable_value(&mut view.sensitive, c.clone(), c);
                    }
                })
                .response
                .labelled_by(label.id)
                .on_hover_text("The column whose groups the fairness report compares");
            let label = ui.label("Favourable class");
            ui.add(
                egui::TextEdit::singleline(&mut view.positive)
                    .hint_text("default: guessed")
                    .desired_width(120.0),
            )
            .labelled_by(label.id);
            ui.end_row();
        });
    ui.collapsing("Behavioural tests (TOML, optional)", |ui| {
        ui.label(
            egui::RichText::new(
                "[[invariance]] description = \"…\" change = { column = \"…\", replace = { from = \"…\", to = \"…\" } }",
            )
            .weak(),
        );
        ui.add(
            egui::TextEdit::multiline(&mut view.behaviour)
                .code_editor()
                .desired_rows(4)
                .desired_width(f32::INFINITY),
        );
    });
    if ui
        .add_enabled(!busy, egui::Button::new("Evaluate"))
        .clicked()
    {
        start = true;
    }
    ui.separator();
    if start {
        match evaluation_of(view) {
            Ok(operation) => frame.run(operation),
            Err(e) => frame.fail("Cannot evaluate", e),
        }
    }
    if let Some(result) = &view.result {
        egui::ScrollArea::vertical()
            .id_salt("eval_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| result_ui(ui, result));
    }
}

/// The fairness drop-down's first choice.
const NO_FAIRNESS: &str = "(none)";

/// The columns a fairness report can group by: every column of the dataset of the version the
/// form names (a number, an alias, or empty for the newest) but its label.
fn sensitive_columns(frame: &Frame<'_>, model: &str, version: &str) -> Vec<String> {
    let selector: VersionSelector = match version.parse() {
        Ok(selector) => selector,
        Err(never) => match never {},
    };
    let dataset = frame
        .snapshot
        .models
        .iter()
        .find(|(m, _)| m == model)
        .and_then(|(_, versions)| selector.pick(versions))
        .and_then(|v| v.lineage.dataset.clone());
    frame
        .snapshot
        .datasets
        .iter()
        .find(|d| Some(&d.name) == dataset.as_ref())
        .map(|d| {
            d.column_names
                .iter()
                .filter(|c| Some(*c) != d.label.as_ref())
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The evaluation the form describes, or why it is not valid.
fn evaluation_of(view: &EvalView) -> Result<Operation, String> {
    let behaviour = if view.behaviour.trim().is_empty() {
        None
    } else {
        Some(BehaviourSpec::from_toml(&view.behaviour).map_err(|e| e.to_string())?)
    };
    let selector: VersionSelector = match view.version.parse() {
        Ok(selector) => selector,
        Err(never) => match never {},
    };
    Ok(Operation::Evaluate {
        model: view.model.clone(),
        selector,
        options: EvaluateOptions {
            sensitive: non_empty(&view.sensitive),
            positive: non_empty(&view.positive),
            behaviour,
        },
    })
}

pub fn result_ui(ui: &mut egui::Ui, result: &ModelEvaluation) {
    let m = &result.metrics;
    ui.heading(format!(
        "{} v{} (run {})",
        result.model, result.version, result.run
    ));
    ui.label(format!(
        "{} test rows · accuracy {:.4} · macro F1 {:.4} · weighted F1 {:.4} · ROC AUC {} · PR AUC {}",
        m.rows,
        m.accuracy,
        m.macro_f1,
        m.weighted_f1,
        number(m.roc_auc),
        number(m.pr_auc)
    ));
    ui.add_space(6.0);
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.strong("Confusion matrix (rows: truth, columns: predicted)");
            heat_map(ui, &m.classes, &m.confusion);
        });
        ui.add_space(16.0);
        ui.vertical(|ui| {
            ui.strong("Per class");
            egui::Grid::new("per_class").striped(true).show(ui, |ui| {
                for t in [
                    "Class",
                    "Precision",
                    "Recall",
                    "F1",
                    "Support",
                    "ROC AUC",
                    "PR AUC",
                ] {
                    ui.strong(t);
                }
                ui.end_row();
                for c in &m.per_class {
                    ui.label(&c.class);
                    ui.label(format!("{:.4}", c.precision));
                    ui.label(format!("{:.4}", c.recall));
                    ui.label(format!("{:.4}", c.f1));
                    ui.label(c.support.to_string());
                    ui.label(number(c.roc_auc));
                    ui.label(number(c.pr_auc));
                    ui.end_row();
                }
            });
        });
    });
    ui.add_space(6.0);
    if !m.curves.is_empty() {
        let width = (ui.available_width() / 2.0 - 8.0).max(200.0);
        ui.horizontal(|ui| {
            curve_plot(
                ui,
                "roc",
                "ROC (one class against the rest)",
                ["false-positive rate", "true-positive rate"],
                width,
                m,
                Curve::Roc,
            );
            curve_plot(
                ui,
                "pr",
                "Precision-recall",
                ["recall", "precision"],
                width,
                m,
                Curve::PrecisionRecall,
            );
        });
    }
    if let Some(f) = &result.fairness {
        ui.add_space(6.0);
        ui.strong(format!(
            "Fairness by {} (favourable class: {})",
            f.column, f.positive
        ));
        ui.label(format!(
            "Demographic parity difference {:.4} · ratio {} · equalized odds difference {}",
            f.demographic_parity_difference,
            number(Some(f.demographic_parity_ratio)),
            number(f.equalized_odds_difference)
        ));
        egui::Grid::new("fairness").striped(true).show(ui, |ui| {
            for t in [
                "Group",
                "Rows",
                "Accuracy",
                "Selection rate",
                "TPR",
                "FPR",
                "Macro F1",
            ] {
                ui.strong(t);
            }
            ui.end_row();
            for g in &f.groups {
                ui.label(&g.group);
                ui.label(g.count.to_string());
                ui.label(format!("{:.4}", g.accuracy));
                ui.label(format!("{:.4}", g.selection_rate));
                ui.label(number(g.true_positive_rate));
                ui.label(number(g.false_positive_rate));
                ui.label(format!("{:.4}", g.macro_f1));
                ui.end_row();
            }
        });
    }
    if !result.behaviour.is_empty() {
        ui.add_space(6.0);
        ui.strong("Behavioural tests");
        egui::Grid::new("behaviour").striped(true).show(ui, |ui| {
            for t in ["Kind", "Test", "Passed", "Pass rate", "First failures"] {
                ui.strong(t);
            }
            ui.end_row();
            for b in &result.behaviour {
                ui.label(&b.kind);
                ui.label(&b.description);
                ui.label(format!("{} / {}", b.passed, b.tested));
                let rate = format!("{:.1}%", b.pass_rate * 100.0);
                if b.passed == b.tested {
                    ui.label(rate);
                } else {
                    ui.colored_label(ui.visuals().error_fg_color, rate);
                }
                let failures: Vec<String> = b
                    .failures
                    .iter()
                    .map(|f| format!("row {}: {} → {}", f.row, f.before, f.after))
                    .collect();
                ui.label(failures.join("; "));
                ui.end_row();
            }
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Curve {
    Roc,
    PrecisionRecall,
}

/// One curve per class, drawn as lines (never as filled bands), each named with its class's
/// area under the curve, over the line a classifier that guesses would draw.
fn curve_plot(
    ui: &mut egui::Ui,
    id: &str,
    heading: &str,
    [x, y]: [&str; 2],
    width: f32,
    m: &kiln_core::eval::Evaluation,
    curve: Curve,
) {
    ui.vertical(|ui| {
        ui.set_width(width);
        ui.strong(heading);
        Plot::new(id)
            .height(240.0)
            .legend(Legend::default())
            .x_axis_label(x)
            .y_axis_label(y)
            .include_x(0.0)
            .include_x(1.0)
            .include_y(0.0)
            .include_y(1.0)
            .data_aspect(1.0)
            .show(ui, |plot_ui| {
                let weak = plot_ui.ctx().global_style().visuals.weak_text_color();
                for (i, c) in m.curves.iter().enumerate() {
                    let class = m.per_class.iter().find(|p| p.class == c.class);
                    let (points, area) = match curve {
                        Curve::Roc => (&c.roc, class.and_then(|p| p.roc_auc)),
                        Curve::PrecisionRecall => (&c.pr, class.and_then(|p| p.pr_auc)),
                    };
                    let name = match area {
                        Some(a) => format!("{} (AUC {a:.3})", c.class),
                        None => c.class.clone(),
                    };
                    plot_ui.line(
                        Line::new(name, PlotPoints::new(points.clone()))
                            .color(color(i))
                            .width(1.5)
                            .allow_band(false),
                    );
                }
                // Guessing: the diagonal for ROC; for precision-recall, each class's share of
                // the rows, in its colour (one legend entry for all).
                let chance: Vec<(Vec<[f64; 2]>, Color32)> = match curve {
                    Curve::Roc => vec![(vec![[0.0, 0.0], [1.0, 1.0]], weak)],
                    Curve::PrecisionRecall => m
                        .curves
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let rate = prevalence(m, &c.class);
                            (vec![[0.0, rate], [1.0, rate]], color(i).gamma_multiply(0.6))
                        })
                        .collect(),
                };
                for (points, stroke) in chance {
                    plot_ui.line(
                        Line::new("chance", PlotPoints::new(points))
                            .color(stroke)
                            .style(LineStyle::dashed_loose())
                            .width(1.0)
                            .allow_band(false),
                    );
                }
            });
    });
}

/// The share of `class` among the rows: where a precision-recall curve of random guesses for
/// that class lies.
fn prevalence(m: &kiln_core::eval::Evaluation, class: &str) -> f64 {
    m.per_class
        .iter()
        .find(|p| p.class == class)
        .map_or(0.0, |p| p.support as f64 / m.rows.max(1) as f64)
}

/// `counts[truth][predicted]` as coloured cells with their counts.
fn heat_map(ui: &mut egui::Ui, classes: &[String], counts: &[Vec<u64>]) {
    let n = classes.len();
    let cell = 48.0;
    let margin = 90.0;
    let size = egui::vec2(margin + cell * n as f32, 20.0 + cell * n as f32);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let max = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f32;
    let text = ui.visuals().text_color();
    let base = ui.visuals().extreme_bg_color;
    let hot = Color32::from_rgb(0x1f, 0x77, 0xb4);
    for (j, class) in classes.iter().enumerate() {
        painter.text(
            Pos2::new(
                rect.left() + margin + cell * (j as f32 + 0.5),
                rect.top() + 2.0,
            ),
            egui::Align2::CENTER_TOP,
            class,
            egui::FontId::proportional(11.0),
            text,
        );
    }
    let mut hovered: Option<String> = None;
    for (i, row) in counts.iter().enumerate() {
        let y = rect.top() + 20.0 + cell * i as f32;
        painter.text(
            Pos2::new(rect.left() + margin - 6.0, y + cell / 2.0),
            egui::Align2::RIGHT_CENTER,
            classes.get(i).map_or("", String::as_str),
            egui::FontId::proportional(11.0),
            text,
        );
        for (j, &count) in row.iter().enumerate() {
            let r = Rect::from_min_size(
                Pos2::new(rect.left() + margin + cell * j as f32, y),
                egui::vec2(cell, cell),
            );
            let t = count as f32 / max;
            let fill = base.lerp_to_gamma(hot, t);
            painter.rect_filled(r.shrink(1.0), 2.0, fill);
            if i == j {
                painter.rect_stroke(
                    r.shrink(1.0),
                    2.0,
                    Stroke::new(1.0, text),
                    egui::StrokeKind::Inside,
                );
            }
            let ink = if t > 0.5 { Color32::WHITE } else { text };
            painter.text(
                r.center(),
                egui::Align2::CENTER_CENTER,
                count.to_string(),
                egui::FontId::monospace(13.0),
                ink,
            );
            if response.hovered()
                && let Some(pos) = response.hover_pos()
                && r.contains(pos)
            {
                hovered = Some(format!(
                    "{count} rows of {} predicted {}",
                    classes.get(i).map_or("", String::as_str),
                    classes.get(j).map_or("", String::as_str)
                ));
            }
        }
    }
    if let Some(text) = hovered {
        response.on_hover_text(text);
    }
}
