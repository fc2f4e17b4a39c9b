//! The top-level app: which project is open, and the panels over it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui;
use kiln_core::{Project, RunSummary};

/// How often the runs are re-read, so that a run a `kiln` command is writing shows up live.
const REFRESH: Duration = Duration::from_millis(500);

/// The workbench.
pub struct KilnApp {
    project: Option<OpenProject>,
    path_input: String,
    error: Option<String>,
}

struct OpenProject {
    project: Project,
    name: String,
    runs: Vec<RunSummary>,
    read_only: bool,
    refreshed: Instant,
}

impl KilnApp {
    /// The app, with `project` open if given (an error opening it is shown, not fatal).
    pub fn new(project: Option<PathBuf>) -> KilnApp {
        let mut app = KilnApp {
            project: None,
            path_input: String::new(),
            error: None,
        };
        if let Some(path) = project {
            app.path_input = path.display().to_string();
            app.open(&path);
        }
        app
    }

    /// The open project's name, if one is open.
    pub fn project_name(&self) -> Option<&str> {
        self.project.as_ref().map(|p| p.name.as_str())
    }

    /// The message of the last failure, if it has not been dismissed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn open(&mut self, path: &Path) {
        // Another process writing (a `kiln train` in a terminal) is fine: follow it read-only.
        let opened = Project::open(path)
            .map(|p| (p, false))
            .or_else(|e| match e {
                kiln_core::Error::Store(kiln_core::StoreError::Locked { .. }) => {
                    Project::open_read_only(path).map(|p| (p, true))
                }
                other => Err(other),
            });
        match opened.and_then(|(project, read_only)| OpenProject::load(project, read_only)) {
            Ok(open) => {
                self.project = Some(open);
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn create(&mut self, path: &Path) {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match Project::create(path, &name).and_then(|p| OpenProject::load(p, false)) {
            Ok(open) => {
                self.project = Some(open);
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Kiln");
            ui.separator();
            match &self.project {
                Some(open) => {
                    ui.label(egui::RichText::new(&open.name).strong());
                    ui.label(open.project.path().display().to_string());
                    if open.read_only {
                        ui.label("(read-only: another process is writing)");
                    }
                }
                None => {
                    ui.label("No project open");
                }
            }
        });
    }

    fn project_picker(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("Project file:");
            ui.add(
                egui::TextEdit::singleline(&mut self.path_input).hint_text("path/to/project.kiln"),
            );
            let path = PathBuf::from(self.path_input.trim());
            let has_path = !self.path_input.trim().is_empty();
            if ui
                .add_enabled(has_path, egui::Button::new("Open"))
                .clicked()
            {
                self.open(&path);
            }
            if ui
                .add_enabled(has_path, egui::Button::new("Create"))
                .clicked()
            {
                self.create(&path);
            }
        });
        if let Some(error) = self.error.clone() {
            ui.horizontal(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, error);
                if ui.small_button("Dismiss").clicked() {
                    self.error = None;
                }
            });
        }
    }
}

impl OpenProject {
    fn load(project: Project, read_only: bool) -> kiln_core::Result<OpenProject> {
        let name = project.name()?;
        let runs = project.runs()?;
        Ok(OpenProject {
            project,
            name,
            runs,
            read_only,
            refreshed: Instant::now(),
        })
    }

    fn refresh(&mut self) -> kiln_core::Result<()> {
        self.runs = self.project.runs()?;
        self.refreshed = Instant::now();
        Ok(())
    }
}

impl eframe::App for KilnApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if let Some(open) = &mut self.project {
            if open.refreshed.elapsed() >= REFRESH
                && let Err(e) = open.refresh()
            {
                self.error = Some(e.to_string());
            }
            ctx.request_repaint_after(REFRESH);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            self.project_picker(ui);
            ui.separator();
            match &self.project {
                Some(open) => runs_table(ui, &open.runs),
                None => {
                    ui.label("Open a project file, or create one, to see its runs.");
                }
            }
        });
    }
}

fn runs_table(ui: &mut egui::Ui, runs: &[RunSummary]) {
    ui.heading(format!("Runs ({})", runs.len()));
    if runs.is_empty() {
        ui.label("No runs yet.");
        return;
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("runs")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                for title in ["ID", "Name", "Study", "Status", "Device", "Points"] {
                    ui.strong(title);
                }
                ui.end_row();
                for run in runs {
                    ui.label(run.id.to_string());
                    ui.label(&run.name);
                    ui.label(run.study.as_deref().unwrap_or("-"));
                    ui.label(run.status.to_string());
                    ui.label(run.device.as_deref().unwrap_or("-"));
                    ui.label(run.metric_points.to_string());
                    ui.end_row();
                }
            });
    });
}
