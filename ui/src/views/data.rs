//! Data: import by dialog or drop, a preview that draws only the visible rows, editable column
//! types, and the expectations with their failing rows.

use std::collections::BTreeSet;
use std::path::PathBuf;

use eframe::egui;
use kiln_core::data::{
    CheckReport, ColumnKind, DatasetSchema, ExpectationSuite, ImportOptions, ImportOutcome, Table,
};

use crate::app::{KilnApp, Purpose};
use crate::jobs::Output;

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
    /// The expectations as TOML, as the user edits them.
    pub expectations: String,
    /// Show only the rows some expectation failed on.
    pub only_failing: bool,
    /// A dataset that could not be read: not retried every frame.
    failed: Option<String>,
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
    pub(crate) fn on_imported(&mut self, outcome: &ImportOutcome) {
        self.selected = Some(outcome.name.clone());
        self.loaded = None;
        self.failed = None;
    }
}

pub(crate) fn describe_import(outcome: &ImportOutcome) -> String {
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

/// Imports what the import fields name, in a job.
pub(crate) fn start_import(app: &mut KilnApp, ctx: &egui::Context) {
    let path = PathBuf::from(app.data.import_path.trim());
    if app.data.import_path.trim().is_empty() {
        app.fail(
            "Cannot import",
            "choose a CSV file or a folder of text files first",
        );
        return;
    }
    let options = ImportOptions {
        name: non_empty(&app.data.import_name),
        label: non_empty(&app.data.import_label),
        kinds: Vec::new(),
    };
    let title = format!("Import of {}", path.display());
    app.start_job(ctx, &title, false, move |project, _| {
        project
            .import(&path, &options)
            .map(|o| Output::Imported(Box::new(o)))
    });
}

fn import_demo(app: &mut KilnApp, ctx: &egui::Context) {
    app.start_job(ctx, "Import of the demo penguins", false, |project, _| {
        project
            .import_csv_bytes(
                "penguins.csv",
                kiln_core::demo::PENGUINS_CSV.as_bytes(),
                &ImportOptions {
                    name: Some("penguins".into()),
                    ..Default::default()
                },
            )
            .map(|o| Output::Imported(Box::new(o)))
    });
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

pub(crate) fn show(app: &mut KilnApp, ui: &mut egui::Ui) {
    super::title(
        ui,
        "Data",
        "Import a CSV file or a folder of text files (one sub-folder per class), or drop one on the window.",
    );
    let ctx = ui.ctx().clone();
    let busy = app.busy();
    ui.group(|ui| {
        let mut pick_file = false;
        let mut pick_folder = false;
        ui.horizontal(|ui| {
            let label = ui.label("File or folder");
            ui.add(
                egui::TextEdit::singleline(&mut app.data.import_path)
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
                egui::TextEdit::singleline(&mut app.data.import_name)
                    .hint_text("default: the file name")
                    .desired_width(160.0),
            )
            .labelled_by(label.id);
            let label = ui.label("Label column");
            ui.add(
                egui::TextEdit::singleline(&mut app.data.import_label)
                    .hint_text("default: guessed")
                    .desired_width(160.0),
            )
            .labelled_by(label.id);
            if ui.add_enabled(!busy, egui::Button::new("Import")).clicked() {
                start_import(app, &ctx);
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Import demo penguins"))
                .on_hover_text("The Palmer penguins CSV that ships with Kiln")
                .clicked()
            {
                import_demo(app, &ctx);
            }
        });
        if pick_file {
            app.pick(Purpose::ImportFile);
        }
        if pick_folder {
            app.pick(Purpose::ImportFolder);
        }
    });
    ui.add_space(6.0);

    let datasets = app.datasets().to_vec();
    if datasets.is_empty() {
        ui.label("No datasets yet.");
        return;
    }
    if app.data.selected.is_none() {
        app.data.selected = datasets.first().map(|d| d.name.clone());
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Datasets:");
        for d in &datasets {
            let selected = app.data.selected.as_deref() == Some(d.name.as_str());
            let text = format!("{} ({} rows, {} batches)", d.name, d.rows, d.batches);
            if ui.selectable_label(selected, text).clicked() {
                app.data.selected = Some(d.name.clone());
            }
        }
    });
    let Some(name) = app.data.selected.clone() else {
        return;
    };
    if app.data.failed.as_deref() == Some(name.as_str()) {
        ui.label(format!("Dataset {name} could not be read; see the log."));
        return;
    }
    let stale = app.data.loaded.as_ref().is_none_or(|l| l.name != name);
    if stale {
        app.data.only_failing = false;
        if let Err(e) = load(app, &name) {
            app.data.failed = Some(name.clone());
            app.fail(&format!("Could not read dataset {name}"), e);
            return;
        }
    }
    ui.separator();
    columns_ui(app, ui, &name);
    ui.separator();
    expectations_ui(app, ui, &name);
    ui.separator();
    preview_ui(app, ui);
}

fn load(app: &mut KilnApp, name: &str) -> kiln_core::Result<()> {
    let Some(open) = &app.project else {
        return Ok(());
    };
    // The newest batch: the one the expectations were last checked on.
    let batch = open.reader.load_latest_batch(name)?;
    let suite = open.reader.expectations(name)?;
    let report = open.reader.last_check(name)?;
    app.data.expectations = suite.to_toml();
    app.data.loaded = Some(Loaded {
        name: name.to_owned(),
        failing: failing_rows(report.as_ref()),
        schema: batch.schema,
        table: batch.table,
        report,
    });
    Ok(())
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

fn columns_ui(app: &mut KilnApp, ui: &mut egui::Ui, name: &str) {
    let Some(loaded) = &app.data.loaded else {
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
        let result = match app.project.as_mut().and_then(|p| p.writer.as_mut()) {
            Some(writer) => writer.set_column_kind(name, &column, kind).map(|_| ()),
            None => {
                app.fail("Cannot change the column type", app.why_no_writer());
                return;
            }
        };
        match result {
            Ok(()) => {
                app.info(format!("{name}: column {column} is now {kind}"));
                app.data.loaded = None;
            }
            Err(e) => app.fail(&format!("Could not make {column} {kind}"), e),
        }
    }
}

fn expectations_ui(app: &mut KilnApp, ui: &mut egui::Ui, name: &str) {
    ui.collapsing("Expectations", |ui| {
        ui.label(
            egui::RichText::new(
                "Rules every batch must meet, as TOML: [[expect]] column = \"bill_length_mm\", rule = \"in_range\", min = 30, max = 60. \
                 Rules: not_null, in_range (min, max), in_set (values), unique, matches (pattern).",
            )
            .weak(),
        );
        ui.add(
            egui::TextEdit::multiline(&mut app.data.expectations)
                .code_editor()
                .desired_rows(4)
                .desired_width(f32::INFINITY),
        );
        if ui.button("Save and check").clicked() {
            save_and_check(app, name);
        }
        let Some(loaded) = &app.data.loaded else { return };
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
                if failures > 0 || app.data.only_failing {
                    ui.checkbox(&mut app.data.only_failing, "Show only failing rows");
                }
            }
        }
    });
}

fn save_and_check(app: &mut KilnApp, name: &str) {
    let suite = match ExpectationSuite::from_toml(&app.data.expectations) {
        Ok(suite) => suite,
        Err(e) => {
            app.fail("The expectations are not valid", e);
            return;
        }
    };
    let Some(writer) = app.project.as_mut().and_then(|p| p.writer.as_mut()) else {
        app.fail("Cannot save the expectations", app.why_no_writer());
        return;
    };
    let checked = writer
        .set_expectations(name, &suite)
        .and_then(|()| writer.check_dataset(name));
    match checked {
        Ok(report) => {
            let text = if report.passed() {
                "all checks pass".to_owned()
            } else {
                format!("{} check(s) fail", report.failures().count())
            };
            app.info(format!("{name}: expectations saved; {text}"));
            if let Some(loaded) = &mut app.data.loaded {
                loaded.failing = failing_rows(Some(&report));
                loaded.report = Some(report);
            }
        }
        Err(e) => app.fail(&format!("Could not check {name}"), e),
    }
}

/// The rows, drawn only where visible, so a 100k-row table scrolls as smoothly as a short one.
fn preview_ui(app: &mut KilnApp, ui: &mut egui::Ui) {
    let Some(loaded) = &app.data.loaded else {
        return;
    };
    let table = &loaded.table;
    let rows: Vec<usize> = if app.data.only_failing {
        loaded.failing.iter().map(|r| r.saturating_sub(1)).collect()
    } else {
        Vec::new()
    };
    let count = if app.data.only_failing {
        rows.len()
    } else {
        table.rows()
    };
    ui.strong(format!("Preview of the newest batch ({count} rows)"));
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
                        let r = if app.data.only_failing { rows[i] } else { i };
                        ui.horizontal(|ui| {
                            let failed = loaded.failing.contains(&(r + 1));
                            let number = egui::RichText::new((r + 1).to_string()).weak();
                            let number = if failed {
                                number.color(ui.visuals().error_fg_color)
                            } else {
                                number
                            };
                            ui.add_sized([48.0, ROW], egui::Label::new(number));
                            for column in &table.columns {
                                let text = column.get(r).and_then(|c| c.as_deref()).unwrap_or("");
                                ui.add_sized([CELL, ROW], egui::Label::new(text).truncate());
                            }
                        });
                    }
                });
        });
}
