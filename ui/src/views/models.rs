//! Registry and Export: versions with their aliases (set and moved here), lineage and model
//! card; then an export to a Triton repository with the configuration previewed and linted,
//! the parity figures, and a button that opens the folder.

use std::path::{Path, PathBuf};

use eframe::egui;
use kiln_core::export::{ExportOutcome, ExportPreview, InstanceKind, Parity, TritonOptions};
use kiln_core::registry::{ModelVersion, VersionSelector};
use kiln_core::service::{Operation, Outcome};

use crate::screen::{Command, Frame, Purpose};

#[derive(Default)]
pub struct ModelsView {
    pub model: String,
    pub version: Option<u32>,
    pub alias: String,
    /// The target folder, as typed or chosen.
    pub target: String,
    pub max_batch_size: String,
    pub gpu: bool,
    /// Export the `features` form (the client applies `pipeline.json`) instead of raw columns.
    pub features_input: bool,
    pub preview: Option<ExportPreview>,
    pub outcome: Option<ExportOutcome>,
    /// An alias removal waiting for the user's confirmation.
    confirm_remove: Option<(String, String)>,
}

impl ModelsView {
    pub fn select(&mut self, model: &str, version: u32) {
        self.model = model.to_owned();
        self.version = Some(version);
        self.preview = None;
    }

    pub fn last_export(&self) -> Option<&Path> {
        self.outcome.as_ref().map(|o| o.version_dir.as_path())
    }

    pub fn on_outcome(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Previewed(preview) => self.preview = Some((**preview).clone()),
            Outcome::Exported(outcome) => self.outcome = Some((**outcome).clone()),
            Outcome::Demo(report) => self.outcome = Some(report.export.clone()),
            Outcome::Registered(version) => self.select(&version.model, version.version),
            Outcome::AliasSet { .. } | Outcome::AliasRemoved { .. } => self.alias.clear(),
            _ => {}
        }
    }

    pub fn on_picked(&mut self, path: &Path) {
        self.target = path.display().to_string();
    }

    pub fn show(&mut self, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
        show(self, ui, frame);
    }

    fn options(&self) -> Result<TritonOptions, String> {
        let mut options = TritonOptions::default();
        let text = self.max_batch_size.trim();
        if !text.is_empty() {
            options.max_batch_size = text
                .parse()
                .map_err(|_| format!("max batch size: {text:?} is not a whole number"))?;
        }
        if self.gpu {
            options.instance_kind = InstanceKind::Gpu;
        }
        if self.features_input {
            options.input = kiln_core::export::InputChoice::Features;
        }
        Ok(options)
    }
}

/// The linter's and the parity check's verdict in one line.
pub fn verdict(preview: &ExportPreview) -> String {
    let lint = if preview.lint.is_empty() {
        "the configuration agrees with the graph".to_owned()
    } else {
        format!("the linter found {} problem(s)", preview.lint.len())
    };
    format!("{lint}; {}", parity_text(&preview.parity))
}

fn parity_text(p: &Parity) -> String {
    format!(
        "parity on {} test rows: {} prediction(s) differ, largest probability difference {:.2e} (limit {:.0e}) — {}",
        p.rows,
        p.argmax_mismatches,
        p.max_abs_diff,
        Parity::MAX_ABS_DIFF,
        if p.holds() { "holds" } else { "FAILS" }
    )
}

fn show(view: &mut ModelsView, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
    crate::widgets::title(
        ui,
        "Registry & Export",
        "Registered model versions, their aliases, lineage and card; export one for NVIDIA Triton.",
    );
    let snapshot = frame.snapshot;
    let models = &snapshot.models;
    if models.is_empty() {
        ui.label("No registered model yet: register a run on the Runs screen.");
        return;
    }
    if !models.iter().any(|(m, _)| *m == view.model) {
        view.model = models[0].0.clone();
        view.version = None;
    }
    if view.target.is_empty()
        && let Some(dir) = frame.export_dir
    {
        view.target = dir.display().to_string();
    }
    let Some((_, versions)) = models.iter().find(|(m, _)| *m == view.model) else {
        return;
    };
    if view
        .version
        .is_none_or(|v| !versions.iter().any(|mv| mv.version == v))
    {
        view.version = versions.iter().map(|v| v.version).max();
    }

    ui.horizontal(|ui| {
        let combo_label = ui.label("Model");
        egui::ComboBox::from_id_salt("registry_model")
            .selected_text(view.model.clone())
            .show_ui(ui, |ui| {
                for (m, _) in models {
                    if ui.selectable_label(view.model == *m, m).clicked() {
                        view.model = m.clone();
                        view.version = None;
                        view.preview = None;
                    }
                }
            })
            .response
            .labelled_by(combo_label.id);
    });
    let mut alias_action: Option<AliasAction> = None;
    versions_ui(ui, view, versions, &mut alias_action);
    if let Some(action) = alias_action {
        frame.run(match action {
            AliasAction::Set { alias, version } => Operation::SetAlias {
                model: view.model.clone(),
                alias,
                version,
            },
            AliasAction::Remove { model, alias } => Operation::RemoveAlias { model, alias },
        });
    }

    let Some(version) = view
        .version
        .and_then(|v| versions.iter().find(|mv| mv.version == v))
    else {
        return;
    };
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("models_scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.collapsing(format!("Lineage of v{}", version.version), |ui| {
                lineage_ui(ui, version)
            });
            ui.collapsing("Model card", |ui| {
                let card = crate::widgets::window_words(&version.card);
                ui.add(egui::Label::new(egui::RichText::new(card).monospace()).wrap());
            });
            ui.separator();
            export_ui(view, ui, frame, version);
        });
}

enum AliasAction {
    Set { alias: String, version: u32 },
    Remove { model: String, alias: String },
}

fn versions_ui(
    ui: &mut egui::Ui,
    view: &mut ModelsView,
    versions: &[ModelVersion],
    action: &mut Option<AliasAction>,
) {
    egui::Grid::new("versions").striped(true).show(ui, |ui| {
        for t in ["Version", "Run", "Aliases", "Study", "Device", "Registered"] {
            ui.strong(t);
        }
        ui.end_row();
        for v in versions {
            let selected = view.version == Some(v.version);
            if ui
                .selectable_label(selected, format!("v{}", v.version))
                .clicked()
            {
                view.version = Some(v.version);
                view.preview = None;
            }
            ui.label(v.run.to_string());
            ui.horizontal(|ui| {
                for alias in &v.aliases {
                    ui.label(egui::RichText::new(format!("@{alias}")).strong());
                    if ui
                        .small_button("×")
                        .on_hover_text(format!("Remove alias {alias}"))
                        .clicked()
                    {
                        view.confirm_remove = Some((v.model.clone(), alias.clone()));
                    }
                }
            });
            ui.label(v.lineage.study.clone().unwrap_or_default());
            ui.label(v.lineage.device.clone().unwrap_or_default());
            ui.label(kiln_core::format_utc(v.created_at));
            ui.end_row();
        }
    });
    if let Some((model, alias)) = view.confirm_remove.clone() {
        ui.horizontal(|ui| {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("Remove alias @{alias} from {model}? Anything that loads {model}@{alias} will stop finding it."),
            );
            if ui.button("Remove alias").clicked() {
                *action = Some(AliasAction::Remove { model, alias });
                view.confirm_remove = None;
            }
            if ui.button("Keep it").clicked() {
                view.confirm_remove = None;
            }
        });
    }
    if let Some(version) = view.version {
        ui.horizontal(|ui| {
            let label = ui.label("Alias");
            ui.add(
                egui::TextEdit::singleline(&mut view.alias)
                    .hint_text("champion")
                    .desired_width(120.0),
            )
            .labelled_by(label.id);
            let alias = view.alias.trim().to_owned();
            let taken_by = versions
                .iter()
                .find(|v| v.aliases.contains(&alias) && v.version != version)
                .map(|v| v.version);
            let text = match taken_by {
                Some(other) => format!("Move @{alias} from v{other} to v{version}"),
                None => format!("Set alias on v{version}"),
            };
            if ui
                .add_enabled(!alias.is_empty(), egui::Button::new(text))
                .clicked()
            {
                *action = Some(AliasAction::Set { alias, version });
            }
        });
    }
}

fn lineage_ui(ui: &mut egui::Ui, v: &ModelVersion) {
    let l = &v.lineage;
    egui::Grid::new("lineage").striped(true).show(ui, |ui| {
        let mut row = |k: &str, value: String| {
            ui.label(k);
            ui.label(value);
            ui.end_row();
        };
        row("Run", format!("{} ({})", l.run, l.run_uuid));
        row("Study", l.study.clone().unwrap_or_default());
        row("Dataset", l.dataset.clone().unwrap_or_default());
        row("Dataset hash", l.dataset_hash.clone().unwrap_or_default());
        row("Pipeline hash", l.pipeline_hash.clone());
        row("Weights", v.weights.to_string());
        row("Seed", l.seed.map(|s| s.to_string()).unwrap_or_default());
        row("Device", l.device.clone().unwrap_or_default());
        row("Trained with", l.trained_with.clone());
        row("Registered with", l.registered_with.clone());
        row(
            "Input",
            format!(
                "{} {:?} {} ({} features)",
                v.signature.input_name,
                v.signature.input_shape,
                v.signature.input_dtype,
                v.signature.feature_names.len()
            ),
        );
        row(
            "Output",
            format!(
                "{} {:?} {}: {}",
                v.signature.output_name,
                v.signature.output_shape,
                v.signature.output_dtype,
                v.signature.classes.join(", ")
            ),
        );
    });
}

fn export_ui(
    view: &mut ModelsView,
    ui: &mut egui::Ui,
    frame: &mut Frame<'_>,
    version: &ModelVersion,
) {
    ui.strong(format!(
        "Export {} v{} to a Triton model repository",
        version.model, version.version
    ));
    let busy = frame.busy();
    let browse = crate::widgets::path_field(
        ui,
        "Target folder",
        &mut view.target,
        "path/to/model_repository",
    );
    if browse {
        frame.send(Command::Pick(Purpose::ExportFolder));
    }
    ui.horizontal(|ui| {
        let label = ui.label("Max batch size");
        ui.add(
            egui::TextEdit::singleline(&mut view.max_batch_size)
                .hint_text("32")
                .desired_width(60.0),
        )
        .labelled_by(label.id);
        ui.checkbox(&mut view.gpu, "Serve on GPU instances");
        ui.checkbox(&mut view.features_input, "Features input")
            .on_hover_text("The graph reads the feature pipeline's output, and clients apply pipeline.json first. Unticked, it reads the raw columns, one input each, text included (a text model whose token pattern has no RE2 form reads features)");
    });
    let mut preview = false;
    let mut export = false;
    ui.horizontal(|ui| {
        preview = ui
            .add_enabled(!busy, egui::Button::new("Preview"))
            .on_hover_text(
                "Build the ONNX graph, check parity and lint the configuration, without writing",
            )
            .clicked();
        export = ui
            .add_enabled(
                !busy && !view.target.trim().is_empty(),
                egui::Button::new("Export"),
            )
            .clicked();
    });
    let options = match view.options() {
        Ok(options) => options,
        Err(e) => {
            ui.colored_label(ui.visuals().warn_fg_color, e);
            return;
        }
    };
    let selector = VersionSelector::Number(version.version);
    let model = version.model.clone();
    if preview {
        frame.run(Operation::PreviewExport {
            model: model.clone(),
            selector: selector.clone(),
            options: options.clone(),
        });
    }
    if export {
        frame.run(Operation::Export {
            model,
            selector,
            target: PathBuf::from(view.target.trim()),
            options,
        });
    }

    if let Some(p) = &view.preview
        && p.model == version.model
        && p.model_version == version.version
    {
        ui.add_space(6.0);
        ui.strong("Preview");
        if p.lint.is_empty() {
            ui.label("Linter: the configuration agrees with the ONNX graph.");
        } else {
            for problem in &p.lint {
                ui.colored_label(ui.visuals().error_fg_color, format!("Linter: {problem}"));
            }
        }
        parity_ui(ui, &p.parity);
        raw_refused_ui(ui, p.raw_refused.as_deref());
        ui.label("config.pbtxt:");
        ui.add(egui::Label::new(egui::RichText::new(&p.config).monospace()));
    }
    let mut open_folder: Option<PathBuf> = None;
    if let Some(o) = &view.outcome {
        ui.add_space(6.0);
        ui.strong(format!(
            "Exported {} v{} as Triton version {}",
            o.model, o.model_version, o.triton_version
        ));
        ui.label(format!("Written to {}", o.version_dir.display()));
        parity_ui(ui, &o.parity);
        raw_refused_ui(ui, o.raw_refused.as_deref());
        ui.horizontal(|ui| {
            if ui.button("Open folder").clicked() {
                open_folder = Some(o.target.join(&o.model));
            }
            ui.label(egui::RichText::new(o.target.join(&o.model).display().to_string()).weak());
        });
        ui.collapsing("config.pbtxt as written", |ui| {
            ui.add(egui::Label::new(egui::RichText::new(&o.config).monospace()));
        });
    }
    if let Some(folder) = open_folder {
        frame.send(Command::OpenFolder(folder));
    }
}

/// Why the graph reads the pipeline's features where raw rows were the default, if it does.
fn raw_refused_ui(ui: &mut egui::Ui, why: Option<&str>) {
    if let Some(why) = why {
        ui.label(format!(
            "Reads the pipeline's features, not raw rows: {why}"
        ));
    }
}

fn parity_ui(ui: &mut egui::Ui, parity: &Parity) {
    let text = format!("Parity: {}", parity_text(parity));
    if parity.holds() {
        ui.label(text);
    } else {
        ui.colored_label(ui.visuals().error_fg_color, text);
    }
}
