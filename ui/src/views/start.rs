//! The start screen: new, open, recent, and the one-click demo project.

use std::path::{Path, PathBuf};

use eframe::egui;
use kiln_core::service::Operation;

use crate::screen::{Command, Frame, Purpose};

#[derive(Default)]
pub struct StartView {
    /// The project path typed (or chosen by dialog).
    pub path: String,
}

impl StartView {
    /// A dialog's answer: the path goes into the field, and the project it names is created
    /// or opened.
    pub fn on_picked(&mut self, purpose: Purpose, path: &Path) -> Option<Operation> {
        let path = match purpose {
            Purpose::NewProject => kiln_core::store::with_project_extension(path),
            _ => path.to_owned(),
        };
        self.path = path.display().to_string();
        match purpose {
            Purpose::NewProject => Some(Operation::Create { path }),
            Purpose::OpenProject => Some(Operation::Open { path }),
            _ => None,
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
        show(self, ui, frame);
    }
}

fn show(view: &mut StartView, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
    crate::widgets::title(
        ui,
        "Welcome to Kiln",
        "One project file holds your data, runs, models and exports. Start one, open one, or try the demo.",
    );
    egui::Grid::new("start_actions")
        .num_columns(2)
        .spacing([12.0, 10.0])
        .show(ui, |ui| {
            let label = ui.label("Project file");
            ui.add(
                egui::TextEdit::singleline(&mut view.path)
                    .hint_text("path/to/project.kiln")
                    .desired_width(420.0),
            )
            .labelled_by(label.id);
            ui.end_row();

            ui.label("");
            ui.horizontal(|ui| {
                let typed = typed_path(&view.path);
                if ui
                    .add_enabled(typed.is_some(), egui::Button::new("Create"))
                    .on_hover_text("Create a new, empty project at this path")
                    .clicked()
                    && let Some(path) = &typed
                {
                    frame.run(Operation::Create { path: path.clone() });
                }
                if ui
                    .add_enabled(typed.is_some(), egui::Button::new("Open"))
                    .on_hover_text("Open the project at this path")
                    .clicked()
                    && let Some(path) = &typed
                {
                    frame.run(Operation::Open { path: path.clone() });
                }
                ui.separator();
                let ctx = ui.ctx().clone();
                if ui
                    .button("New project…")
                    .on_hover_text(format!(
                        "Choose where to create a project ({})",
                        ctx.format_shortcut(&crate::keys::NEW)
                    ))
                    .clicked()
                {
                    frame.send(Command::Pick(Purpose::NewProject));
                }
                if ui
                    .button("Open project…")
                    .on_hover_text(format!(
                        "Choose a project to open ({})",
                        ctx.format_shortcut(&crate::keys::OPEN)
                    ))
                    .clicked()
                {
                    frame.send(Command::Pick(Purpose::OpenProject));
                }
            });
            ui.end_row();
        });

    if let Some(open) = frame.project {
        ui.label(format!(
            "Open now: {} ({}){}",
            open.name,
            open.path.display(),
            if open.read_only { ", read-only" } else { "" }
        ));
    }
    ui.add_space(12.0);
    ui.group(|ui| {
        ui.strong("Demo project");
        ui.label(
            "Imports the Palmer penguins, grid-searches a small MLP, registers the best as \
             `penguins@champion`, evaluates it and exports it for Triton, all in one go \
             (seconds on a CPU). The drift demo trains on the penguins of two islands, checks the \
             third island's as a new batch (they drift) and decides on a retrain. Either uses the \
             path above if it is free, else a new file in Kiln's labs folder.",
        );
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!frame.busy(), egui::Button::new("Build the demo project"))
                .clicked()
            {
                start_demo(view, frame, false);
            }
            if ui
                .add_enabled(!frame.busy(), egui::Button::new("Build the drift demo"))
                .on_hover_text(
                    "Trains on the penguins of Biscoe and Dream, checks Torgersen's penguins as a new batch (they drift), and lets the continuous-training policy decide on a retrain; opens on the Monitor screen",
                )
                .clicked()
            {
                start_demo(view, frame, true);
            }
        });
    });

    ui.add_space(12.0);
    ui.strong("Recent projects");
    if frame.recent.is_empty() {
        ui.label(egui::RichText::new("None yet.").weak());
    }
    let mut chosen: Option<PathBuf> = None;
    let mut forget: Option<PathBuf> = None;
    for path in frame.recent {
        ui.horizontal(|ui| {
            let exists = path.exists();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if ui
                .add_enabled(exists, egui::Button::new(name))
                .on_hover_text(path.display().to_string())
                .clicked()
            {
                chosen = Some(path.clone());
            }
            ui.label(egui::RichText::new(path.display().to_string()).weak());
            if !exists {
                ui.label(egui::RichText::new("(missing)").weak());
            }
            if ui.small_button("Forget").clicked() {
                forget = Some(path.clone());
            }
        });
    }
    if let Some(path) = forget {
        frame.send(Command::Forget(path));
    }
    if let Some(path) = chosen {
        view.path = path.display().to_string();
        frame.run(Operation::Open { path });
    }
}

fn typed_path(text: &str) -> Option<PathBuf> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(kiln_core::store::with_project_extension(Path::new(text)))
}

/// A path for the demo project that does not exist yet: the typed one, or a numbered
/// `demo-N.kiln` in the labs folder that `kiln lab` uses too.
fn demo_path(typed: &str, stem: &str) -> Result<PathBuf, String> {
    if let Some(path) = typed_path(typed)
        && !path.exists()
    {
        return Ok(path);
    }
    kiln_core::lab::new_lab_file(stem).map_err(|e| {
        let dir = kiln_core::lab::labs_dir();
        format!("{}: {e}{}", dir.display(), kiln_core::store::io_advice(&e))
    })
}

fn start_demo(view: &mut StartView, frame: &mut Frame<'_>, drift: bool) {
    let path = match demo_path(&view.path, if drift { "drift" } else { "demo" }) {
        Ok(path) => path,
        Err(e) => {
            frame.fail("Cannot create the demo project", e);
            return;
        }
    };
    view.path = path.display().to_string();
    if drift {
        frame.run(Operation::DriftDemo { path });
        return;
    }
    let target = kiln_core::lab::lab_target(&path);
    frame.run(Operation::Demo { path, target });
}
