//! Data: import by dialog or drop, a preview that draws only the visible rows, editable column
//! types, and the expectations with their failing rows.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use eframe::egui;
use kiln_core::data::{
    CheckReport, ColumnKind, DatasetSchema, ExpectationSuite, ImportOptions, ImportOutcome, Table,
};
use kiln_core::service::{Answer, Operation, Outcome, Query};

use crate::screen::{Command, Frame, Purpose};
use crate::widgets::non_empty;

/// Width of a preview column, in points.
const CELL: f32 = 120.0;
const ROW: f32 = 20.0;

#[derive(Default)]
pub struct DataView {
    pub import_path: String,
    pub import_name: String,
    pub import_label: String,
    /// The dataset shown, by name.
    pub selected: Option<String>,
    loaded: Option<Loaded>,
    /// The dataset being read, off the UI thread.
    loading: Option<String>,
    /// The expectations as TOML, as the user edits them.
    pub expectations: String,
    /// Show only the rows some expectation failed on.
    pub only_failing: bool,
    /// A dataset that could not be read: not retried every frame.
    failed: Option<String>,
    /// The preview's row (from 0) open in the side panel.
    pub open_row: Option<usize>,
}

struct Loaded {
    name: String,
    schema: DatasetSchema,
    table: Table,
    report: Option<CheckReport>,
    /// Row numbers (from 1) that failed a rule, as far as the report lists them.
    failing: BTreeSet<usize>,
}

impl DataView {
    /// What a job of this screen's produced.
    pub fn on_outcome(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Imported(outcome) => {
                self.selected = Some(outcome.name.clone());
                self.reload();
            }
            Outcome::ColumnChanged { .. } => self.reload(),
            Outcome::Checked { dataset, report } => {
                if let Some(loaded) = &mut self.loaded
                    && loaded.name == *dataset
                {
                    loaded.failing = failing_rows(Some(report));
                    loaded.report = Some((**report).clone());
                }
            }
            _ => {}
        }
    }

    /// A query's answer: the dataset to show.
    pub fn on_answer(&mut self, query: &Query, answer: Result<Answer, String>) {
        let Query::Dataset { name } = query else {
            return;
        };
        // An answer for a dataset no longer asked for (another was chosen, or the data changed
        // since) is stale.
        if self.loading.as_deref() != Some(name.as_str()) {
            return;
        }
        self.loading = None;
        match answer {
            Ok(Answer::Dataset(view)) => {
                let view = *view;
                self.expectations = view.suite.to_toml();
                if self.loaded.as_ref().is_none_or(|l| l.name != view.name) {
                    self.open_row = None;
                }
                crate::widgets::drop_elsewhere(self.loaded.take());
                self.loaded = Some(Loaded {
                    name: view.name,
                    failing: failing_rows(view.report.as_ref()),
                    schema: view.schema,
                    table: view.table,
                    report: view.report,
                });
            }
            Ok(_) => {}
            Err(_) => self.failed = Some(name.clone()),
        }
    }

    pub fn on_picked(&mut self, path: &Path) {
        self.import_path = path.display().to_string();
    }

    /// Forgets what was read, so that the shown dataset is read again.
    fn reload(&mut self) {
        self.open_row = None;
        crate::widgets::drop_elsewhere(self.loaded.take());
        self.loading = None;
        self.failed = None;
    }

    pub fn show(&mut self, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
        show(self, ui, frame);
    }
}

pub fn describe_import(outcome: &ImportOutcome) -> String {
    let what = if outcome.already_imported {
        "already in the project, nothing written"
    } else if outcome.added_batch {
        "added as a new batch"
    } else {
        "imported"
    };
    let check = if outcome.check.passed() {
        "expectations pass".to_owned()
    } else {
        format!("{} expectation(s) fail", outcome.check.failures().count())
    };
    format!(
        "{} ({} rows, {} columns) {what}; {check}",
        outcome.name,
        outcome.schema.rows,
        outcome.schema.columns.len()
    )
}

/// The import the fields describe, or why there is none.
pub fn import_of(path: &str, name: &str, label: &str) -> Result<Operation, String> {
    if path.trim().is_empty() {
        return Err("choose a CSV file or a folder of text files first".into());
    }
    Ok(Operation::Import {
        path: PathBuf::from(path.trim()),
        options: ImportOptions {
            name: non_empty(name),
            label: non_empty(label),
            kinds: Vec::new(),
        },
    })
}

fn show(view: &mut DataView, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
    crate::widgets::title(
        ui,
        "Data",
        "Import a CSV file or a folder of text files (one sub-folder per class), or drop one on the window.",
    );
    let busy = frame.busy() || !frame.writable();
    ui.group(|ui| {
        let mut pick_file = false;
        let mut pick_folder = false;
        ui.horizontal(|ui| {
            let label = ui.label("File or folder");
            ui.add(
                egui::TextEdit::singleline(&mut view.import_path)
                    .hint_text("data.csv, or a folder of class folders")
                    .desired_width(360.0),
            )
            .labelled_by(label.id);
            pick_file = ui.button("CSV file…").clicked();
            pick_folder = ui.button("Folder…").clicked();
        });
        ui.horizontal(|ui| {
            let label = ui.label("Name");
            ui.add(
                egui::TextEdit::singleline(&mut view.import_name)
                    .hint_text("default: the file name")
                    .desired_width(160.0),
            )
            .labelled_by(label.id);
            let label = ui.label("Label column");
            ui.add(
                egui::TextEdit::singleline(&mut view.import_label)
                    .hint_text("default: guessed")
                    .desired_width(160.0),
            )
            .labelled_by(label.id);
            if ui.add_enabled(!busy, egui::Button::new("Import")).clicked() {
                match import_of(&view.import_path, &view.import_name, &view.import_label) {
                    Ok(operation) => frame.run(operation),
                    Err(e) => frame.fail("Cannot import", e),
                }
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Import demo penguins"))
                .on_hover_text("The Palmer penguins CSV that ships with Kiln")
                .clicked()
            {
                frame.run(Operation::ImportDemo);
            }
        });
        if pick_file {
            frame.send(Command::Pick(Purpose::ImportFile));
        }
        if pick_folder {
            frame.send(Command::Pick(Purpose::ImportFolder));
        }
    });
    ui.add_space(6.0);

    let snapshot = frame.snapshot;
    let datasets = &snapshot.datasets;
    if datasets.is_empty() {
        ui.label("No datasets yet.");
        return;
    }
    if view.selected.is_none() {
        view.selected = datasets.first().map(|d| d.name.clone());
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Datasets:");
        for d in datasets {
            let selected = view.selected.as_deref() == Some(d.name.as_str());
            let text = format!("{} ({} rows, {} batches)", d.name, d.rows, d.batches);
            if ui.selectable_label(selected, text).clicked() {
                view.selected = Some(d.name.clone());
            }
        }
    });
    let Some(name) = view.selected.clone() else {
        return;
    };
    if view.failed.as_deref() == Some(name.as_str()) {
        ui.label(format!("Dataset {name} could not be read; see the log."));
        return;
    }
    let stale = view.loaded.as_ref().is_none_or(|l| l.name != name);
    if stale {
        if view.loading.as_deref() != Some(name.as_str()) {
            view.only_failing = false;
            view.loading = Some(name.clone());
            frame.send(Command::Ask(Query::Dataset { name: name.clone() }));
        }
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!("Reading {name}…"));
        });
        return;
    }
    ui.separator();
    row_panel(view, ui);
    columns_ui(view, ui, frame, &name);
    ui.separator();
    expectations_ui(view, ui, frame, &name);
    ui.separator();
    preview_ui(view, ui);
}

fn failing_rows(report: Option<&CheckReport>) -> BTreeSet<usize> {
    report
        .map(|r| {
            r.failures()
                .flat_map(|f| f.first_failing_rows.iter().copied())
                .collect()
        })
        .unwrap_or_default()
}

fn columns_ui(view: &mut DataView, ui: &mut egui::Ui, frame: &mut Frame<'_>, name: &str) {
    let Some(loaded) = &view.loaded else {
        return;
    };
    ui.strong(format!(
        "Columns of {name} ({} rows); change a type to re-read the data with it",
        loaded.table.rows()
    ));
    let mut change: Option<(String, ColumnKind)> = None;
    egui::ScrollArea::horizontal()
        .id_salt("columns")
        .show(ui, |ui| {
            egui::Grid::new("columns_grid")
                .striped(true)
                .show(ui, |ui| {
                    for title in ["Column", "Type", "Inferred", "Missing", "Distinct"] {
                        ui.strong(title);
                    }
                    ui.end_row();
                    for column in &loaded.schema.columns {
                        let combo_label = ui.label(&column.name);
                        let mut kind = column.kind;
                        egui::ComboBox::from_id_salt(("kind", &column.name))
                            .selected_text(kind.as_str())
                            .show_ui(ui, |ui| {
                                for k in ColumnKind::ALL {
                                    ui.selectable_value(&mut kind, k, k.as_str());
                                }
                            })
                            .response
                            .labelled_by(combo_label.id);
                        if kind != column.kind {
                            change = Some((column.name.clone(), kind));
                        }
                        ui.label(column.inferred.as_str());
                        ui.label(column.missing.to_string());
                        ui.label(column.distinct.to_string());
                        ui.end_row();
                    }
                });
        });
    if let Some((column, kind)) = change {
        frame.run(Operation::SetColumnKind {
            dataset: name.to_owned(),
            column,
            kind,
        });
    }
}

fn expectations_ui(view: &mut DataView, ui: &mut egui::Ui, frame: &mut Frame<'_>, name: &str) {
    ui.collapsing("Expectations", |ui| {
        ui.label(
            egui::RichText::new(
                "Rules every batch must meet, as TOML: [[expect]] column = \"bill_length_mm\", rule = \"in_range\", min = 30, max = 60. \
                 Rules: not_null, in_range (min, max), in_set (values), unique, matches (pattern).",
            )
            .weak(),
        );
        ui.add(
            egui::TextEdit::multiline(&mut view.expectations)
                .code_editor()
                .desired_rows(4)
                .desired_width(f32::INFINITY),
        );
        if ui
            .add_enabled(!frame.busy(), egui::Button::new("Save and check"))
            .clicked()
        {
            match ExpectationSuite::from_toml(&view.expectations) {
                Ok(suite) => frame.run(Operation::Check {
                    dataset: name.to_owned(),
                    suite: Some(suite),
                }),
                Err(e) => frame.fail("The expectations are not valid", e),
            }
        }
        let Some(loaded) = &view.loaded else { return };
        match &loaded.report {
            None => {
                ui.label("Not checked yet.");
            }
            Some(report) => {
                let failures = report.failures().count();
                if failures == 0 {
                    ui.label(format!(
                        "All {} checks pass on {} rows.",
                        report.results.len(),
                        report.rows
                    ));
                } else {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("{failures} of {} checks fail.", report.results.len()),
                    );
                }
                egui::Grid::new("check_grid").striped(true).show(ui, |ui| {
                    for title in ["Rule", "Column", "Failing rows", "First failing rows"] {
                        ui.strong(title);
                    }
                    ui.end_row();
                    for result in &report.results {
                        ui.label(&result.rule);
                        ui.label(&result.column);
                        if result.passed() {
                            ui.label("0");
                        } else {
                            ui.colored_label(
                                ui.visuals().error_fg_color,
                                result.failing.to_string(),
                            );
                        }
                        let rows: Vec<String> = result
                            .first_failing_rows
                            .iter()
                            .map(usize::to_string)
                            .collect();
                        ui.label(rows.join(", "));
                        ui.end_row();
                    }
                });
                if failures > 0 || view.only_failing {
                    ui.checkbox(&mut view.only_failing, "Show only failing rows");
                }
            }
        }
    });
}

/// The rows, drawn only where visible, so a 100k-row table scrolls as smoothly as a short one.
fn preview_ui(view: &mut DataView, ui: &mut egui::Ui) {
    let Some(loaded) = &view.loaded else {
        return;
    };
    let table = &loaded.table;
    let rows: Vec<usize> = if view.only_failing {
        loaded.failing.iter().map(|r| r.saturating_sub(1)).collect()
    } else {
        Vec::new()
    };
    let count = if view.only_failing {
        rows.len()
    } else {
        table.rows()
    };
    ui.strong(format!("Preview of the newest batch ({count} rows)"));
    ui.label(
        egui::RichText::new("Hover over a value to read it whole; click a row to open it.").weak(),
    );
    let mut opened = None;
    egui::ScrollArea::horizontal()
        .id_salt("preview_h")
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.add_sized(
                    [48.0, ROW],
                    egui::Label::new(egui::RichText::new("row").strong()),
                );
                for name in &table.names {
                    ui.add_sized(
                        [CELL, ROW],
                        egui::Label::new(egui::RichText::new(name).strong()).truncate(),
                    );
                }
            });
            egui::ScrollArea::vertical()
                .id_salt("preview_v")
                .auto_shrink([false, false])
                .show_rows(ui, ROW, count, |ui, range| {
                    for i in range {
                        let r = if view.only_failing { rows[i] } else { i };
                        ui.horizontal(|ui| {
                            let failed = loaded.failing.contains(&(r + 1));
                            let number = egui::RichText::new((r + 1).to_string());
                            let number = if failed {
                                number.color(ui.visuals().error_fg_color)
                            } else if view.open_row == Some(r) {
                                // The row the side panel shows.
                                number.strong()
                            } else {
                                number.weak()
                            };
                            let mut open = ui
                                .add_sized([48.0, ROW], egui::Button::new(number).frame(false))
                                .on_hover_text(format!("Open row {} whole", r + 1))
                                .clicked();
                            for column in &table.columns {
                                let text = column.get(r).and_then(|c| c.as_deref()).unwrap_or("");
                                // The whole value on hover; a click opens the row.
                                let cell = egui::Label::new(text)
                                    .truncate()
                                    .show_tooltip_when_elided(false)
                                    .sense(egui::Sense::click());
                                let response = ui.add_sized([CELL, ROW], cell);
                                let response = if text.is_empty() {
                                    response
                                } else {
                                    response.on_hover_text(text)
                                };
                                open |= response.clicked();
                            }
                            if open {
                                opened = Some(r);
                            }
                        });
                    }
                });
        });
    if opened.is_some() {
        view.open_row = opened;
    }
}

/// The open row, every column with its whole value, in a panel at the right.
fn row_panel(view: &mut DataView, ui: &mut egui::Ui) {
    let (Some(r), Some(loaded)) = (view.open_row, &view.loaded) else {
        return;
    };
    let table = &loaded.table;
    if r >= table.rows() {
        view.open_row = None;
        return;
    }
    let mut close = false;
    egui::Panel::right("row_panel")
        .resizable(true)
        .default_size(360.0)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading(format!("Row {} of {}", r + 1, table.rows()));
                close = ui.button("Close").clicked();
            });
            egui::ScrollArea::vertical()
                .id_salt("row_panel_scroll")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    for (name, column) in table.names.iter().zip(&table.columns) {
                        ui.strong(name);
                        match column.get(r).and_then(|c| c.as_deref()) {
                            Some(value) => ui.add(egui::Label::new(value).wrap()),
                            None => ui.weak("(missing)"),
                        };
                        ui.add_space(4.0);
                    }
                });
        });
    if close {
        view.open_row = None;
    }
}
