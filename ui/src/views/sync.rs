//! The *Sync with MLflow* dialog of the Runs screen: where to, what to push, a dry-run preview
//! of what would be created, progress while it goes, and a pull of an experiment's runs.

use eframe::egui;
use kiln_core::mlflow::{PullRequest, PushReport, PushRequest, RunSelection, SyncProgress};
use kiln_core::service::{Operation, Outcome};

use crate::screen::Frame;

#[derive(Default)]
pub struct SyncDialog {
    pub open: bool,
    pub url: String,
    pub experiment: String,
    /// `all`, `study:N` or `3,5,7-9`.
    pub runs: String,
    pub models: bool,
    /// The experiment to pull.
    pub pull_experiment: String,
    /// The dry run's answer for the settings it was asked with.
    pub preview: Option<(String, PushReport)>,
    pub progress: Option<SyncProgress>,
    /// The last push's or pull's summary.
    pub result: Option<String>,
    /// Filled from the project's remembered server once.
    filled: bool,
}

impl SyncDialog {
    /// Opens the dialog, filled with the server the project last synced with.
    pub fn open_with(&mut self, remembered: &(Option<String>, Option<String>), project: &str) {
        self.open = true;
        if !self.filled {
            self.url = remembered
                .0
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:5000".into());
            self.experiment = remembered.1.clone().unwrap_or_else(|| project.to_owned());
            self.runs = "all".into();
            self.models = true;
            self.filled = true;
        }
    }

    pub fn on_progress(&mut self, progress: &SyncProgress) {
        self.progress = Some(progress.clone());
    }

    /// A job ended, whatever it was, and the push's or pull's progress with it (a failed one
    /// sends no outcome).
    pub fn on_job_done(&mut self) {
        self.progress = None;
    }

    pub fn on_outcome(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Pushed(report) if report.dry_run => {
                self.preview = Some((self.settings(), (**report).clone()));
            }
            Outcome::Pushed(report) => {
                self.result = Some(report.summary());
                self.preview = None;
            }
            Outcome::Pulled(report) => {
                self.result = Some(report.summary());
            }
            _ => {}
        }
    }

    /// The settings a preview was made for, so that a stale preview is not shown as current.
    fn settings(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.url.trim(),
            self.experiment.trim(),
            self.runs.trim(),
            self.models
        )
    }

    fn push_request(&self, dry_run: bool) -> Result<PushRequest, String> {
        Ok(PushRequest {
            url: self.url.trim().to_owned(),
            experiment: Some(self.experiment.trim().to_owned()).filter(|e| !e.is_empty()),
            runs: self.runs.parse::<RunSelection>()?,
            models: self.models,
            dry_run,
        })
    }

    pub fn show(&mut self, ctx: &egui::Context, frame: &mut Frame<'_>) {
        if !self.open {
            return;
        }
        let mut open = self.open;
        egui::Window::new("Sync with MLflow")
            .pivot(egui::Align2::CENTER_TOP)
            .default_pos(ctx.content_rect().center_top() + egui::vec2(0.0, 120.0))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .default_width(460.0)
            .show(ctx, |ui| self.contents(ui, frame));
        self.open = open && self.open;
    }

    fn contents(&mut self, ui: &mut egui::Ui, frame: &mut Frame<'_>) {
        let busy = frame.busy();
        let writable = frame.writable();
        egui::Grid::new("sync_form").num_columns(2).show(ui, |ui| {
            let label = ui.label("Server URL");
            ui.add(egui::TextEdit::singleline(&mut self.url).desired_width(300.0))
                .labelled_by(label.id)
                .on_hover_text("The tracking server, such as http://127.0.0.1:5000. Logins come from MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN.");
            ui.end_row();
            let label = ui.label("Experiment");
            ui.add(egui::TextEdit::singleline(&mut self.experiment).desired_width(300.0))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Runs to push");
            ui.add(
                egui::TextEdit::singleline(&mut self.runs)
                    .hint_text("all, study:N or 3,5,7-9")
                    .desired_width(300.0),
            )
            .labelled_by(label.id);
            ui.end_row();
        });
        ui.checkbox(
            &mut self.models,
            "Registered models, their ONNX files and aliases",
        );
        let parsed = self.push_request(false);
        if let Err(e) = &parsed {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        ui.horizontal(|ui| {
            let ok = parsed.is_ok() && !busy;
            if ui
                .add_enabled(ok, egui::Button::new("Preview"))
                .on_hover_text("Asks the server what exists and says what a push would create; creates nothing")
                .clicked()
                && let Ok(request) = self.push_request(true)
            {
                self.result = None;
                frame.run(Operation::PushMlflow(Box::new(request)));
            }
            if ui
                .add_enabled(ok && writable, egui::Button::new("Push"))
                .on_hover_text("Sends what the server lacks; pushing again creates nothing twice")
                .clicked()
                && let Ok(request) = self.push_request(false)
            {
                self.result = None;
                self.progress = None;
                frame.run(Operation::PushMlflow(Box::new(request)));
            }
        });
        if let Some((settings, report)) = &self.preview {
            if *settings == self.settings() {
                ui.label(report.summary());
            } else {
                ui.weak("The settings changed since the preview: preview again.");
            }
        }
        if let Some(p) = &self.progress {
            let total = p.points_total.max(1) as f32;
            ui.add(
                egui::ProgressBar::new(p.points_done as f32 / total)
                    .text(p.line())
                    .show_percentage(),
            );
        }
        ui.separator();
        ui.horizontal(|ui| {
            let label = ui.label("Pull experiment");
            ui.add(egui::TextEdit::singleline(&mut self.pull_experiment).desired_width(200.0))
                .labelled_by(label.id);
            let ok = !busy && writable && !self.pull_experiment.trim().is_empty();
            if ui
                .add_enabled(ok, egui::Button::new("Pull"))
                .on_hover_text(
                    "Brings the experiment's runs in as read-only runs; pulling again updates them",
                )
                .clicked()
            {
                self.result = None;
                frame.run(Operation::PullMlflow(Box::new(PullRequest {
                    url: self.url.trim().to_owned(),
                    experiment: self.pull_experiment.trim().to_owned(),
                })));
            }
        });
        if let Some(result) = &self.result {
            ui.separator();
            ui.label(result);
        }
        if busy && let Some(job) = frame.job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(&job.title);
            });
        }
    }
}
