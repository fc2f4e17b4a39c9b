//! The top-level app: which project is open, the job in flight, the log, and the screens.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use eframe::egui;
use kiln_core::data::DatasetSummary;
use kiln_core::registry::ModelVersion;
use kiln_core::train::StudySummary;
use kiln_core::{Project, RunRow};

use crate::jobs::{Job, Message, Output};
use crate::settings::{Settings, Tab, ThemeChoice};
use crate::views;

/// How often the project is re-read, so that runs a `kiln` command or a job writes show up live.
const REFRESH: Duration = Duration::from_millis(500);

/// The workbench.
pub struct KilnApp {
    pub(crate) settings: Settings,
    settings_path: Option<PathBuf>,
    saved: Settings,
    pub(crate) project: Option<OpenProject>,
    pub(crate) job: Option<Job>,
    pub(crate) log: Vec<LogEntry>,
    /// The newest error, shown above every screen until dismissed.
    pub(crate) banner: Option<String>,
    pub(crate) dialog: Option<Dialog>,
    pub(crate) start: views::start::StartView,
    pub(crate) data: views::data::DataView,
    pub(crate) train: views::train::TrainView,
    pub(crate) runs: views::runs::RunsView,
    pub(crate) eval: views::evaluate::EvalView,
    pub(crate) models: views::models::ModelsView,
    applied_theme: Option<ThemeChoice>,
    /// The window's context, once the first frame has run: worker threads wake it.
    repaint: Option<egui::Context>,
}

/// An open project: a read-only handle for every view, and the writable one unless a job
/// holds it (or another process is writing the file).
pub(crate) struct OpenProject {
    pub path: PathBuf,
    pub name: String,
    pub writer: Option<Project>,
    pub reader: Project,
    /// Another process holds the write lock: this window only follows.
    pub read_only: bool,
    pub snapshot: Snapshot,
    reader_thread: Refresher,
    /// The reader thread stopped and that was reported: say it once, not every frame.
    reader_failed: bool,
}

/// Re-reads the project on its own thread (with its own read-only handle) every [`REFRESH`],
/// or at once when woken, so that a large project never stalls a frame.
struct Refresher {
    wake: std::sync::mpsc::Sender<()>,
    rx: Receiver<Result<Snapshot, String>>,
}

impl Refresher {
    fn spawn(path: &Path, ctx: Option<egui::Context>) -> std::io::Result<Refresher> {
        let (wake, woken) = std::sync::mpsc::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("kiln: project reader".into())
            .spawn(move || {
                let reader = match Project::open_read_only_unverified(&path) {
                    Ok(reader) => reader,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                loop {
                    let snapshot = Snapshot::read(&reader).map_err(|e| e.to_string());
                    if tx.send(snapshot).is_err() {
                        return;
                    }
                    if let Some(ctx) = &ctx {
                        ctx.request_repaint();
                    }
                    match woken.recv_timeout(REFRESH) {
                        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            // Several wake-ups at once need one read.
                            while woken.try_recv().is_ok() {}
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Refresher { wake, rx })
    }
}

/// What the views list, re-read every [`REFRESH`].
#[derive(Default)]
pub(crate) struct Snapshot {
    pub runs: Vec<RunRow>,
    pub datasets: Vec<DatasetSummary>,
    pub studies: Vec<StudySummary>,
    pub models: Vec<(String, Vec<ModelVersion>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Error,
}

#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub at: String,
    pub level: Level,
    pub text: String,
}

/// What a native file dialog was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    NewProject,
    OpenProject,
    ImportFile,
    ImportFolder,
    ExportFolder,
}

/// A native dialog running on its own thread, so the window keeps drawing.
pub(crate) struct Dialog {
    purpose: Purpose,
    opened: Instant,
    rx: Receiver<Option<PathBuf>>,
}

impl KilnApp {
    /// The app with the user's saved settings, and `project` open if given (an error opening
    /// it is shown, not fatal).
    pub fn new(project: Option<PathBuf>) -> KilnApp {
        KilnApp::with_settings(Settings::default_path(), project)
    }

    /// The app with its settings kept at `settings_path` (`None`: not kept at all).
    pub fn with_settings(settings_path: Option<PathBuf>, project: Option<PathBuf>) -> KilnApp {
        let settings = settings_path
            .as_deref()
            .map(Settings::load)
            .unwrap_or_default();
        let mut app = KilnApp {
            saved: settings.clone(),
            settings,
            settings_path,
            project: None,
            job: None,
            log: Vec::new(),
            banner: None,
            dialog: None,
            start: Default::default(),
            data: Default::default(),
            train: Default::default(),
            runs: Default::default(),
            eval: Default::default(),
            models: Default::default(),
            applied_theme: None,
            repaint: None,
        };
        if let Some(path) = project {
            app.start.path = path.display().to_string();
            app.open(&path);
        } else if app.settings.tab != Tab::Start {
            app.settings.tab = Tab::Start;
        }
        app
    }

    /// The open project's name, if one is open.
    pub fn project_name(&self) -> Option<&str> {
        self.project.as_ref().map(|p| p.name.as_str())
    }

    /// The message of the last failure, if it has not been dismissed.
    pub fn error(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// Whether a job (import, training, evaluation, export) is running.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// The open screen.
    pub fn tab(&self) -> Tab {
        self.settings.tab
    }

    /// Shows `tab` (a screen that needs a project shows a hint without one).
    pub fn set_tab(&mut self, tab: Tab) {
        self.settings.tab = tab;
    }

    pub fn theme(&self) -> ThemeChoice {
        self.settings.theme
    }

    /// The project's runs as the views last read them.
    pub fn runs(&self) -> &[RunRow] {
        self.project
            .as_ref()
            .map(|p| p.snapshot.runs.as_slice())
            .unwrap_or_default()
    }

    /// The project's datasets as the views last read them.
    pub fn datasets(&self) -> &[DatasetSummary] {
        self.project
            .as_ref()
            .map(|p| p.snapshot.datasets.as_slice())
            .unwrap_or_default()
    }

    /// Registered models and their versions, as the views last read them.
    pub fn models(&self) -> &[(String, Vec<ModelVersion>)] {
        self.project
            .as_ref()
            .map(|p| p.snapshot.models.as_slice())
            .unwrap_or_default()
    }

    /// The folder of the last successful export, if any.
    pub fn last_export(&self) -> Option<&Path> {
        self.models.last_export()
    }

    /// Why there is no writable project handle now, as advice to the user.
    pub(crate) fn why_no_writer(&self) -> &'static str {
        match &self.project {
            None => "open or create a project first",
            Some(_) if self.job.is_some() => "a job is running; wait for it to end, or cancel it",
            Some(_) => {
                "the project is open read-only because another process is writing it; close that process and reopen the project"
            }
        }
    }

    pub(crate) fn info(&mut self, text: impl Into<String>) {
        self.log.push(LogEntry {
            at: clock(),
            level: Level::Info,
            text: text.into(),
        });
    }

    /// Records an error in the log and shows it above the screens.
    pub(crate) fn fail(&mut self, context: &str, error: impl std::fmt::Display) {
        let text = format!("{context}: {error}");
        self.log.push(LogEntry {
            at: clock(),
            level: Level::Error,
            text: text.clone(),
        });
        self.banner = Some(text);
    }

    pub(crate) fn open(&mut self, path: &Path) {
        if let Some(open) = &self.project
            && same_file(&open.path, path)
        {
            self.info(format!("{} is already open", path.display()));
            return;
        }
        if self.job.is_some() {
            self.fail(
                "Cannot open another project",
                "wait for the running job to end, or cancel it",
            );
            return;
        }
        // Another process writing (a `kiln train` in a terminal) is fine: follow it read-only.
        let opened = Project::open(path).map(Some).or_else(|e| match e {
            kiln_core::Error::Store(kiln_core::StoreError::Locked { .. }) => Ok(None),
            other => Err(other),
        });
        match opened.and_then(|writer| OpenProject::load(path, writer, self.repaint.clone())) {
            Ok(open) => self.adopt(open),
            Err(e) => self.fail(&format!("Could not open {}", path.display()), e),
        }
    }

    /// Creates a project at `path` and opens it; whether that worked (a failure is shown).
    pub(crate) fn create(&mut self, path: &Path) -> bool {
        if self.job.is_some() {
            self.fail(
                "Cannot create a project",
                "wait for the running job to end, or cancel it",
            );
            return false;
        }
        if path.exists() {
            self.fail(
                &format!("Could not create {}", path.display()),
                "a file is already there: open it, or choose another name",
            );
            return false;
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".into());
        match Project::create(path, &name)
            .and_then(|p| OpenProject::load(path, Some(p), self.repaint.clone()))
        {
            Ok(open) => {
                self.adopt(open);
                true
            }
            Err(e) => {
                self.fail(&format!("Could not create {}", path.display()), e);
                false
            }
        }
    }

    fn adopt(&mut self, open: OpenProject) {
        self.settings.remember(&open.path);
        self.info(format!(
            "Opened {} ({}){}",
            open.name,
            open.path.display(),
            if open.read_only {
                ", read-only: another process is writing it"
            } else {
                ""
            }
        ));
        self.banner = None;
        self.data = Default::default();
        self.train = Default::default();
        self.runs = Default::default();
        self.eval = Default::default();
        self.models = Default::default();
        if self.settings.tab == Tab::Start {
            self.settings.tab = if open.snapshot.datasets.is_empty() {
                Tab::Data
            } else {
                Tab::Runs
            };
        }
        self.project = Some(open);
    }

    /// Starts `work` on the writable project, or says why it cannot start.
    pub(crate) fn start_job(
        &mut self,
        ctx: &egui::Context,
        title: &str,
        cancellable: bool,
        work: impl FnOnce(&mut Project, &kiln_core::train::TrainOptions) -> kiln_core::Result<Output>
        + Send
        + 'static,
    ) -> bool {
        self.launch(ctx, title, cancellable, false, work)
    }

    /// Starts `work` that only reads, on a read-only handle of its own: it runs on a project
    /// opened read-only too, and leaves the writable handle where it is.
    pub(crate) fn start_read_job(
        &mut self,
        ctx: &egui::Context,
        title: &str,
        work: impl FnOnce(&mut Project, &kiln_core::train::TrainOptions) -> kiln_core::Result<Output>
        + Send
        + 'static,
    ) -> bool {
        self.launch(ctx, title, false, true, work)
    }

    fn launch(
        &mut self,
        ctx: &egui::Context,
        title: &str,
        cancellable: bool,
        reader_only: bool,
        work: impl FnOnce(&mut Project, &kiln_core::train::TrainOptions) -> kiln_core::Result<Output>
        + Send
        + 'static,
    ) -> bool {
        let why = self.why_no_writer();
        let busy = self.job.is_some();
        let handle = match self.project.as_mut() {
            _ if busy => Err(why.to_owned()),
            None => Err(why.to_owned()),
            Some(open) if reader_only => {
                Project::open_read_only(&open.path).map_err(|e| e.to_string())
            }
            Some(open) => open.writer.take().ok_or_else(|| why.to_owned()),
        };
        match handle {
            Ok(project) => {
                self.info(format!("{title} started"));
                self.job = Some(Job::spawn(
                    title,
                    cancellable,
                    reader_only,
                    project,
                    ctx,
                    work,
                ));
                true
            }
            Err(e) => {
                self.fail(&format!("Cannot start {title}"), e);
                false
            }
        }
    }

    /// Hands every message of the running job to the views; on its end, takes the project
    /// handle back and reports the outcome.
    pub(crate) fn drain_job(&mut self) {
        let Some(job) = &self.job else { return };
        let messages = match job.drain() {
            Ok(messages) => messages,
            Err(e) => {
                let lost_writer = !job.reader_only;
                self.job = None;
                if lost_writer && let Some(open) = &mut self.project {
                    // The writable handle went with the worker: only reading is left.
                    open.read_only = true;
                }
                self.fail("The job failed", e);
                return;
            }
        };
        for message in messages {
            match message {
                Message::Event(event) => self.train.on_event(&event),
                Message::Done(project, outcome) => {
                    let (title, reader_only) = self
                        .job
                        .take()
                        .map(|j| (j.title, j.reader_only))
                        .unwrap_or_default();
                    if let Some(open) = &mut self.project {
                        // A read-only job's own handle is simply closed.
                        if !reader_only {
                            open.writer = Some(*project);
                        }
                        open.force_refresh();
                    }
                    match outcome {
                        Ok(output) => self.finished(&title, output),
                        Err(e) => {
                            self.train.on_failed();
                            self.fail(&format!("{title} failed"), e);
                        }
                    }
                }
            }
        }
    }

    fn finished(&mut self, title: &str, output: Output) {
        match output {
            Output::Imported(outcome) => {
                let text = views::data::describe_import(&outcome);
                self.info(format!("{title}: {text}"));
                for notice in &outcome.notices {
                    self.info(format!("Note: {notice}"));
                }
                self.data.on_imported(&outcome);
            }
            Output::Trained(outcome) => {
                let text = views::train::describe_study(&outcome);
                self.info(format!("{title}: {text}"));
                self.train.on_finished(&outcome);
                self.runs.show_study(outcome.study);
            }
            Output::Evaluated(evaluation) => {
                self.info(format!(
                    "{title}: {} v{}: accuracy {:.4}, macro F1 {:.4} on {} held-out rows",
                    evaluation.model,
                    evaluation.version,
                    evaluation.metrics.accuracy,
                    evaluation.metrics.macro_f1,
                    evaluation.metrics.rows
                ));
                self.eval.result = Some(*evaluation);
            }
            Output::Previewed(preview) => {
                self.info(format!(
                    "{title}: {} v{}: {}",
                    preview.model,
                    preview.model_version,
                    views::models::verdict(&preview)
                ));
                self.models.preview = Some(*preview);
            }
            Output::Exported(outcome) => {
                self.info(format!(
                    "{title}: {} v{} written to {} (Triton version {})",
                    outcome.model,
                    outcome.model_version,
                    outcome.version_dir.display(),
                    outcome.triton_version
                ));
                self.settings.export_dir = Some(outcome.target.clone());
                self.models.outcome = Some(*outcome);
            }
            Output::Demo(report) => {
                self.info(format!(
                    "{title}: trained {} trials on {}, registered {} v{} as champion (test accuracy {:.3}), exported to {} in {:.1} s",
                    report.study.trials,
                    report.study.device,
                    kiln_core::lab::LAB_MODEL,
                    report.model_version,
                    report.evaluation.metrics.accuracy,
                    report.export.target.display(),
                    report.seconds
                ));
                self.train.on_finished(&report.study);
                self.runs.show_study(report.study.study);
                self.eval.result = Some(report.evaluation.clone());
                self.models.outcome = Some(report.export.clone());
                self.settings.export_dir = Some(report.export.target.clone());
                self.settings.tab = Tab::Runs;
            }
        }
    }

    /// Opens a native dialog on its own thread; its answer arrives in [`Self::poll_dialog`].
    pub(crate) fn pick(&mut self, purpose: Purpose) {
        let (tx, rx) = std::sync::mpsc::channel();
        let start_dir = match purpose {
            Purpose::ExportFolder => self.settings.export_dir.clone(),
            _ => self
                .project
                .as_ref()
                .and_then(|p| p.path.parent().map(Path::to_owned)),
        };
        let spawned = std::thread::Builder::new()
            .name("kiln: file dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new();
                if let Some(dir) = start_dir {
                    dialog = dialog.set_directory(dir);
                }
                let picked = match purpose {
                    Purpose::NewProject => dialog
                        .add_filter("Kiln project", &["kiln"])
                        .set_file_name("project.kiln")
                        .save_file(),
                    Purpose::OpenProject => {
                        dialog.add_filter("Kiln project", &["kiln"]).pick_file()
                    }
                    Purpose::ImportFile => {
                        dialog.add_filter("CSV", &["csv", "tsv", "txt"]).pick_file()
                    }
                    Purpose::ImportFolder | Purpose::ExportFolder => dialog.pick_folder(),
                };
                let _ = tx.send(picked);
            });
        match spawned {
            Ok(_) => {
                self.dialog = Some(Dialog {
                    purpose,
                    opened: Instant::now(),
                    rx,
                })
            }
            Err(e) => self.fail("Could not open a file dialog", e),
        }
    }

    fn poll_dialog(&mut self) {
        let Some(dialog) = &self.dialog else { return };
        let answer = match dialog.rx.try_recv() {
            Ok(answer) => answer,
            Err(std::sync::mpsc::TryRecvError::Empty) => return,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => None,
        };
        let (purpose, opened) = (dialog.purpose, dialog.opened);
        self.dialog = None;
        let Some(path) = answer else {
            if opened.elapsed() < Duration::from_millis(400) {
                self.info(
                    "No file was chosen. If no dialog appeared, the desktop portal \
                     (xdg-desktop-portal) is not running: type the path in the field instead.",
                );
            }
            return;
        };
        match purpose {
            Purpose::NewProject => {
                let path = if path.extension().is_none() {
                    path.with_extension("kiln")
                } else {
                    path
                };
                self.start.path = path.display().to_string();
                self.create(&path);
            }
            Purpose::OpenProject => {
                self.start.path = path.display().to_string();
                self.open(&path);
            }
            Purpose::ImportFile | Purpose::ImportFolder => {
                self.data.import_path = path.display().to_string()
            }
            Purpose::ExportFolder => self.models.target = path.display().to_string(),
        }
    }

    /// Files dropped on the window: a project file opens, anything else is imported.
    fn take_dropped(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_owned())
                .collect()
        });
        for path in dropped {
            if path.extension().is_some_and(|e| e == "kiln") {
                self.open(&path);
            } else if self.project.is_some() {
                self.data.import_path = path.display().to_string();
                self.settings.tab = Tab::Data;
                views::data::start_import(self, ctx);
            } else {
                self.fail(
                    &format!("Cannot import {}", path.display()),
                    "open or create a project first, then drop the file again",
                );
            }
        }
    }

    fn apply_theme(&mut self, ctx: &egui::Context) {
        if self.applied_theme != Some(self.settings.theme) {
            ctx.set_theme(match self.settings.theme {
                ThemeChoice::Dark => egui::Theme::Dark,
                ThemeChoice::Light => egui::Theme::Light,
            });
            self.applied_theme = Some(self.settings.theme);
        }
    }

    fn persist(&mut self) {
        if self.settings == self.saved {
            return;
        }
        self.saved = self.settings.clone();
        if let Some(path) = &self.settings_path
            && let Err(e) = self.settings.save(path)
        {
            let path = path.display().to_string();
            self.fail(&format!("Could not save the window settings to {path}"), e);
        }
    }

    /// Per-frame work that is not drawing: the job's messages, dialogs, dropped files and the
    /// periodic re-read of the project.
    pub fn tick(&mut self, ctx: &egui::Context) {
        if self.repaint.is_none() {
            self.repaint = Some(ctx.clone());
        }
        self.apply_theme(ctx);
        self.drain_job();
        self.poll_dialog();
        self.take_dropped(ctx);
        if let Some(open) = &mut self.project
            && let Err(e) = open.take_snapshot()
        {
            self.fail("Could not re-read the project", e);
        }
        self.persist();
        if self.project.is_some() || self.job.is_some() || self.dialog.is_some() {
            let every = if self.job.is_some() {
                Duration::from_millis(100)
            } else {
                REFRESH
            };
            ctx.request_repaint_after(every);
        }
    }

    /// Draws the whole workbench into `ui`.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.tick(&ctx);
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar(ui));
        egui::Panel::left("nav")
            .resizable(false)
            .exact_size(150.0)
            .show(ui, |ui| self.nav(ui));
        if self.settings.show_log {
            egui::Panel::bottom("log")
                .resizable(true)
                .default_size(140.0)
                .show(ui, |ui| self.log_panel(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            self.banner_ui(ui);
            match self.settings.tab {
                Tab::Start => views::start::show(self, ui),
                Tab::Data => views::data::show(self, ui),
                Tab::Train => views::train::show(self, ui),
                Tab::Runs => views::runs::show(self, ui),
                Tab::Evaluate => views::evaluate::show(self, ui),
                Tab::Models => views::models::show(self, ui),
            }
        });
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Kiln");
            ui.separator();
            match &self.project {
                Some(open) => {
                    ui.label(egui::RichText::new(&open.name).strong());
                    ui.label(open.path.display().to_string());
                    if open.read_only {
                        ui.colored_label(
                            ui.visuals().warn_fg_color,
                            "read-only: another process is writing this project",
                        );
                    }
                }
                None => {
                    ui.label("No project open");
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let (label, next) = match self.settings.theme {
                    ThemeChoice::Dark => ("Light theme", ThemeChoice::Light),
                    ThemeChoice::Light => ("Dark theme", ThemeChoice::Dark),
                };
                if ui.button(label).clicked() {
                    self.settings.theme = next;
                }
                let log = if self.settings.show_log {
                    "Hide log"
                } else {
                    "Show log"
                };
                if ui.button(log).clicked() {
                    self.settings.show_log = !self.settings.show_log;
                }
                if let Some(job) = &self.job {
                    if job.cancellable
                        && ui
                            .add_enabled(!job.cancelling(), egui::Button::new("Cancel job"))
                            .on_hover_text("Stop the running study")
                            .clicked()
                    {
                        job.cancel();
                    }
                    ui.spinner();
                    ui.label(format!(
                        "{}… {:.0} s",
                        job.title,
                        job.started.elapsed().as_secs_f64()
                    ));
                }
            });
        });
    }

    fn nav(&mut self, ui: &mut egui::Ui) {
        ui.add_space(6.0);
        for tab in Tab::ALL {
            let enabled = tab == Tab::Start || self.project.is_some();
            let selected = self.settings.tab == tab;
            let button = egui::Button::selectable(selected, tab.title())
                .min_size(egui::vec2(ui.available_width(), 28.0));
            if ui.add_enabled(enabled, button).clicked() {
                self.settings.tab = tab;
            }
        }
    }

    fn banner_ui(&mut self, ui: &mut egui::Ui) {
        let Some(text) = self.banner.clone() else {
            return;
        };
        egui::Frame::new()
            .fill(ui.visuals().extreme_bg_color)
            .stroke(egui::Stroke::new(1.0, ui.visuals().error_fg_color))
            .inner_margin(6.0)
            .corner_radius(4.0)
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.colored_label(ui.visuals().error_fg_color, text);
                    if ui.small_button("Dismiss").clicked() {
                        self.banner = None;
                    }
                    if !self.settings.show_log && ui.small_button("Show log").clicked() {
                        self.settings.show_log = true;
                    }
                });
            });
        ui.add_space(4.0);
    }

    fn log_panel(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong(format!("Log ({})", self.log.len()));
            if ui.small_button("Clear").clicked() {
                self.log.clear();
            }
        });
        egui::ScrollArea::vertical()
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for entry in &self.log {
                    let color = match entry.level {
                        Level::Info => ui.visuals().text_color(),
                        Level::Error => ui.visuals().error_fg_color,
                    };
                    ui.horizontal_wrapped(|ui| {
                        ui.monospace(&entry.at);
                        ui.colored_label(color, &entry.text);
                    });
                }
            });
    }
}

impl OpenProject {
    /// Opens the views' handle and reads the first snapshot here, so a project that cannot be
    /// read fails at once; later snapshots come from the reader thread.
    fn load(
        path: &Path,
        writer: Option<Project>,
        ctx: Option<egui::Context>,
    ) -> kiln_core::Result<OpenProject> {
        // The writer's open has just checked the file for damage; a reader alone checks it here.
        let reader = match &writer {
            Some(_) => Project::open_read_only_unverified(path)?,
            None => Project::open_read_only(path)?,
        };
        let name = reader.name()?;
        let snapshot = Snapshot::read(&reader)?;
        let reader_thread = Refresher::spawn(path, ctx).map_err(|e| kiln_core::StoreError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Ok(OpenProject {
            path: path.to_owned(),
            name,
            read_only: writer.is_none(),
            writer,
            reader,
            snapshot,
            reader_thread,
            reader_failed: false,
        })
    }

    /// Asks the reader thread for a fresh snapshot now (after a write or a job).
    pub(crate) fn force_refresh(&mut self) {
        let _ = self.reader_thread.wake.send(());
    }

    /// Takes the newest snapshot the reader thread has sent, if any.
    fn take_snapshot(&mut self) -> Result<(), String> {
        let mut newest = None;
        loop {
            match self.reader_thread.rx.try_recv() {
                Ok(snapshot) => newest = Some(snapshot),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    if self.reader_failed {
                        break;
                    }
                    self.reader_failed = true;
                    return Err(
                        "the project reader stopped, so the lists no longer update; reopen the project"
                            .into(),
                    );
                }
            }
        }
        match newest {
            Some(Ok(snapshot)) => self.snapshot = snapshot,
            // The thread ends after an error (its handle could not be opened): report it once.
            Some(Err(e)) => {
                self.reader_failed = true;
                return Err(e);
            }
            None => {}
        }
        Ok(())
    }
}

impl Snapshot {
    fn read(p: &Project) -> kiln_core::Result<Snapshot> {
        let models = p
            .registered_models()?
            .into_iter()
            .map(|name| {
                let versions = p.model_versions(&name)?;
                Ok((name, versions))
            })
            .collect::<kiln_core::Result<Vec<_>>>()?;
        Ok(Snapshot {
            runs: p.run_rows()?,
            datasets: p.datasets()?,
            studies: p.study_summaries()?,
            models,
        })
    }
}

impl eframe::App for KilnApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn on_exit(&mut self) {
        // A study stops within a batch of each trial: wait for it (briefly), so that its runs
        // are marked cancelled rather than left running.
        if let Some(job) = &self.job {
            job.cancel();
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.job.is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                self.drain_job();
            }
        }
        self.persist();
    }
}

/// Whether `a` and `b` name the same file (the same path when either cannot be resolved).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The wall-clock time of day, UTC, for log lines.
fn clock() -> String {
    let secs = kiln_core::now_ms() / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}
