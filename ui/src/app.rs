//! The top-level app: the project's job service and reader, the log, and the screens.
//!
//! Each frame, [`KilnApp::logic`] advances everything that is not drawing: job events and
//! outcomes, query answers, fresh snapshots, dialogs and dropped files. Screens then draw and
//! push [`Command`]s, which the app carries out after they are done. Nothing here waits on the
//! project file: every write is a job, and every read that may scan is a query.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use eframe::egui;
use kiln_core::RunRow;
use kiln_core::data::DatasetSummary;
use kiln_core::registry::ModelVersion;
use kiln_core::service::{
    JobEvent, JobService, Operation, Outcome, Query, Reader, ReaderMessage, Snapshot,
};

use kiln_core::store::PROJECT_EXTENSION;

use crate::keys;
use crate::screen::{Command, Frame, ProjectRef, Purpose};
use crate::settings::{Settings, Tab, ThemeChoice};
use crate::views;

/// How often the project is re-read, so that runs a `kiln` command or a job writes show up live.
const REFRESH: Duration = Duration::from_millis(500);

/// The workbench.
pub struct KilnApp {
    pub(crate) settings: Settings,
    settings_path: Option<PathBuf>,
    saved: Settings,
    service: JobService,
    reader: Option<Reader>,
    /// The screen to show is picked when the first snapshot of a newly opened project arrives.
    choose_tab: bool,
    /// The reader's last error, said once until it reads again.
    reader_error: Option<String>,
    /// Queries asked and not answered yet.
    queries: usize,
    snapshot: Snapshot,
    /// Counts the snapshots taken in (and the lists emptied).
    generation: u64,
    log: Vec<LogEntry>,
    /// The newest error, shown above every screen until dismissed.
    banner: Option<String>,
    dialog: Option<Dialog>,
    commands: Vec<Command>,
    start: views::start::StartView,
    pub(crate) data: views::data::DataView,
    pub(crate) train: views::train::TrainView,
    runs: views::runs::RunsView,
    pub(crate) eval: views::evaluate::EvalView,
    models: views::models::ModelsView,
    monitor: views::monitor::MonitorView,
    deploy: views::deploy::DeployView,
    applied_theme: Option<ThemeChoice>,
    /// The window's context, once the first frame has run: worker threads wake it.
    repaint: Option<egui::Context>,
    /// How the user picks a path.
    chooser: Chooser,
    /// Esc asked to stop the running job: the confirmation shows.
    confirm_cancel: bool,
    /// Where to go after the step just finished.
    next: Option<NextStep>,
}

/// One line after a finished step that says where to go next, with buttons that go there.
#[derive(Debug, Clone)]
struct NextStep {
    text: String,
    actions: Vec<(String, Go)>,
}

/// Where a next-step button goes.
#[derive(Debug, Clone)]
enum Go {
    /// The Train screen, with this dataset in the form.
    Train {
        dataset: String,
    },
    /// The Runs screen, showing this study (and this run ticked, if given).
    Runs {
        study: kiln_core::StudyId,
        run: Option<kiln_core::RunId>,
    },
    Evaluate {
        model: String,
        version: u32,
    },
    Export {
        model: String,
        version: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Info,
    Error,
}

#[derive(Debug, Clone)]
struct LogEntry {
    at: String,
    level: Level,
    text: String,
}

/// A native dialog running on its own thread, so the window keeps drawing.
struct Dialog {
    purpose: Purpose,
    opened: Instant,
    rx: Receiver<Option<PathBuf>>,
}

impl KilnApp {
    /// The app with the user's saved settings, and `project` opening if given (an error
    /// opening it is shown, not fatal).
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
            service: JobService::new(None),
            reader: None,
            choose_tab: false,
            reader_error: None,
            queries: 0,
            snapshot: Snapshot::default(),
            generation: 0,
            log: Vec::new(),
            banner: None,
            dialog: None,
            commands: Vec::new(),
            start: Default::default(),
            data: Default::default(),
            train: Default::default(),
            runs: Default::default(),
            eval: Default::default(),
            models: Default::default(),
            monitor: Default::default(),
            deploy: Default::default(),
            applied_theme: None,
            repaint: None,
            chooser: Arc::new(native_dialog),
            confirm_cancel: false,
            next: None,
        };
        if let Some(path) = project {
            // The saved screen shows as soon as the project is open.
            app.start.path = path.display().to_string();
            app.execute(Command::Run(Operation::Open { path }));
        } else {
            app.settings.tab = Tab::Start;
        }
        app
    }

    /// The app with `chooser` in place of the desktop's file dialog.
    pub fn with_chooser(mut self, chooser: Chooser) -> KilnApp {
        self.chooser = chooser;
        self
    }

    /// The open project's name, if one is open.
    pub fn project_name(&self) -> Option<&str> {
        self.service.name()
    }

    /// The message of the last failure, if it has not been dismissed.
    pub fn error(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// Whether a job (opening, import, training, evaluation, export…) is running.
    pub fn busy(&self) -> bool {
        self.service.busy()
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

    /// The project's runs as the screens last read them.
    pub fn runs(&self) -> &[RunRow] {
        &self.snapshot.runs
    }

    /// The project's datasets as the screens last read them.
    pub fn datasets(&self) -> &[DatasetSummary] {
        &self.snapshot.datasets
    }

    /// Registered models and their versions, as the screens last read them.
    pub fn models(&self) -> &[(String, Vec<ModelVersion>)] {
        &self.snapshot.models
    }

    /// The next-step line's text, if one shows.
    pub fn next_step(&self) -> Option<&str> {
        self.next.as_ref().map(|n| n.text.as_str())
    }

    /// What the open native file dialog was opened for, if one is open.
    pub fn picking(&self) -> Option<Purpose> {
        self.dialog.as_ref().map(|d| d.purpose)
    }

    /// Whether the confirmation to stop the running job shows.
    pub fn confirming_cancel(&self) -> bool {
        self.confirm_cancel
    }

    /// The folder of the last successful export, if any.
    pub fn last_export(&self) -> Option<&Path> {
        self.models.last_export()
    }

    /// Whether nothing is in flight: no job, no query, no queued command, and no snapshot
    /// asked for after a write. For tests and benchmarks that step frames.
    pub fn settled(&self) -> bool {
        !self.service.busy()
            && self.commands.is_empty()
            && self.queries == 0
            && !self.reader.as_ref().is_some_and(Reader::pending)
    }

    /// Starts `operation` as a screen's button would.
    pub fn run(&mut self, operation: Operation) {
        self.commands.push(Command::Run(operation));
    }

    fn info(&mut self, text: impl Into<String>) {
        self.log.push(LogEntry {
            at: clock(),
            level: Level::Info,
            text: crate::widgets::window_words(&text.into()),
        });
    }

    /// Records an error in the log and shows it above the screens.
    fn fail(&mut self, context: &str, error: impl std::fmt::Display) {
        let text = crate::widgets::window_words(&format!("{context}: {error}"));
        self.log.push(LogEntry {
            at: clock(),
            level: Level::Error,
            text: text.clone(),
        });
        self.banner = Some(text);
    }

    /// Carries out one command a screen sent.
    fn execute(&mut self, command: Command) {
        match command {
            Command::Run(operation) => self.start_job(operation),
            Command::Ask(query) => match &self.reader {
                Some(reader) => {
                    self.queries += 1;
                    reader.ask(query);
                }
                None => self.fail("Cannot read", "open or create a project first"),
            },
            Command::Pick(purpose) => self.pick(purpose),
            Command::Cancel => self.service.cancel(),
            Command::OpenFolder(folder) => match open_in_file_manager(&folder) {
                Ok(()) => self.info(format!("Opened {}", folder.display())),
                Err(e) => self.fail(&format!("Could not open {}", folder.display()), e),
            },
            Command::Forget(path) => self.settings.recent.retain(|p| *p != path),
            Command::Fail { context, error } => self.fail(&context, error),
        }
    }

    fn start_job(&mut self, operation: Operation) {
        if let Operation::Open { path } = &operation
            && let Some(open) = self.service.path()
            && kiln_core::store::same_file(open, path)
        {
            self.info(format!("{} is already open", path.display()));
            return;
        }
        let title = operation.title();
        let studies = matches!(
            operation,
            Operation::Train(_) | Operation::Resume(_) | Operation::Demo { .. }
        );
        let demo = matches!(operation, Operation::Demo { .. });
        match self.service.start(operation) {
            Ok(_) => {
                self.info(format!("{title} started"));
                // A step is under way: the line that pointed to the last one is done.
                self.next = None;
                if studies {
                    self.train.prepare_live();
                }
                if demo {
                    self.settings.tab = Tab::Train;
                }
            }
            Err(e) => self.fail(&format!("Cannot start {title}"), e),
        }
    }

    /// What the job service said since the last frame.
    fn drain_jobs(&mut self) {
        for event in self.service.poll() {
            match event {
                JobEvent::Progress(_, event) => {
                    if let kiln_core::events::Event::Sync(progress) = &event {
                        self.runs.sync.on_progress(progress);
                    }
                    if let kiln_core::events::Event::Replay(progress) = &event {
                        self.deploy.on_progress(progress);
                    }
                    self.train.on_event(&event)
                }
                JobEvent::Done { title, outcome, .. } => {
                    self.deploy.on_job_done();
                    self.runs.sync.on_job_done();
                    // A project opened by the job is followed even when the rest of the job
                    // failed (a demo cancelled halfway).
                    if self.project_changed() {
                        self.adopt();
                    }
                    if let Some(reader) = &mut self.reader {
                        reader.refresh();
                    }
                    match outcome {
                        Ok(outcome) => self.finished(&title, outcome),
                        Err(e) => {
                            self.train.on_failed();
                            self.next = None;
                            self.fail(&format!("{title} failed"), e);
                        }
                    }
                }
            }
        }
    }

    fn finished(&mut self, title: &str, outcome: Outcome) {
        self.next = next_step(&outcome);
        match &outcome {
            Outcome::Opened { .. } => {}
            Outcome::Imported(imported) => {
                let text = views::data::describe_import(imported);
                self.info(format!("{title}: {text}"));
                for notice in &imported.notices {
                    self.info(format!("Note: {notice}"));
                }
            }
            Outcome::ColumnChanged {
                dataset,
                column,
                kind,
            } => self.info(format!("{dataset}: column {column} is now {kind}")),
            Outcome::Checked { dataset, report } => {
                let text = if report.passed() {
                    "all checks pass".to_owned()
                } else {
                    format!("{} check(s) fail", report.failures().count())
                };
                self.info(format!("{dataset}: expectations saved; {text}"));
            }
            Outcome::Trained(study) => {
                let text = views::train::describe_study(study);
                self.info(format!("{title}: {text}"));
            }
            Outcome::Evaluated(evaluation) => self.info(format!(
                "{title}: {} v{}: accuracy {:.4}, macro F1 {:.4} on {} held-out rows",
                evaluation.model,
                evaluation.version,
                evaluation.metrics.accuracy,
                evaluation.metrics.macro_f1,
                evaluation.metrics.rows
            )),
            Outcome::Previewed(preview) => self.info(format!(
                "{title}: {} v{}: {}",
                preview.model,
                preview.model_version,
                views::models::verdict(preview)
            )),
            Outcome::Exported(exported) => {
                self.info(format!(
                    "{title}: {} v{} written to {} (Triton version {})",
                    exported.model,
                    exported.model_version,
                    exported.version_dir.display(),
                    exported.triton_version
                ));
                self.settings.export_dir = Some(exported.target.clone());
            }
            Outcome::ExportedVersions(exported) => {
                let versions: Vec<String> = exported
                    .iter()
                    .map(|e| {
                        format!(
                            "v{} as Triton version {}",
                            e.model_version, e.triton_version
                        )
                    })
                    .collect();
                if let Some(first) = exported.first() {
                    self.info(format!(
                        "{title}: {} {} side by side in {}",
                        first.model,
                        versions.join(" and "),
                        first.target.display()
                    ));
                    self.settings.export_dir = Some(first.target.clone());
                }
            }
            Outcome::Registered(version) => self.info(format!(
                "Registered run {} as {} v{}",
                version.run, version.model, version.version
            )),
            Outcome::AliasSet {
                model,
                alias,
                version,
            } => self.info(format!("{model}@{alias} now points at v{version}")),
            Outcome::AliasRemoved { model, alias } => {
                self.info(format!("Removed alias @{alias} of {model}"))
            }
            Outcome::Demo(report) => {
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
                self.settings.export_dir = Some(report.export.target.clone());
                self.settings.tab = Tab::Runs;
            }
            Outcome::DriftDemo(report) => {
                self.info(format!(
                    "{title}: {} of {} columns of Torgersen's penguins drift; retrain {}: {}",
                    report.monitoring.drift.drifted_columns,
                    report.monitoring.drift.columns,
                    report.retrain.decision.as_str(),
                    report.retrain.reason
                ));
                self.settings.tab = Tab::Monitor;
            }
            Outcome::Monitored(report) => self.info(format!(
                "{title}: {} of {} columns drift{}{}",
                report.drift.drifted_columns,
                report.drift.columns,
                if report.drift.drifted {
                    " (the dataset drifts)"
                } else {
                    ""
                },
                report
                    .performance
                    .as_ref()
                    .map_or(String::new(), |p| format!(", accuracy {:.4}", p.accuracy))
            )),
            Outcome::Retrained(report) => self.info(format!(
                "{title}: {}: {}",
                report.decision.as_str(),
                report.reason
            )),
            Outcome::Replayed(report) => self.info(format!(
                "{title}: {}: {}",
                report.verdict.decision.as_str(),
                report.verdict.reason
            )),
            // The log holds the report's summary on one line; the Sync dialog shows it whole.
            Outcome::Pushed(report) => {
                self.info(format!("{title}: {}", report.summary().replace('\n', "; ")))
            }
            Outcome::Pulled(report) => {
                self.info(format!("{title}: {}", report.summary().replace('\n', "; ")))
            }
        }
        // Every screen hears the outcome; each takes what concerns it.
        self.data.on_outcome(&outcome);
        self.train.on_outcome(&outcome);
        self.runs.on_outcome(&outcome);
        self.eval.on_outcome(&outcome);
        self.models.on_outcome(&outcome);
        self.monitor.on_outcome(&outcome);
        self.deploy.on_outcome(&outcome);
    }

    /// Whether the service holds another project than the reader follows.
    fn project_changed(&self) -> bool {
        match (self.service.path(), &self.reader) {
            (Some(path), Some(reader)) => reader.path() != path,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// A project was opened: the screens start afresh and a reader follows it.
    fn adopt(&mut self) {
        let Some(path) = self.service.path().map(Path::to_owned) else {
            return;
        };
        let waker = self
            .repaint
            .clone()
            .map(|ctx| Arc::new(move || ctx.request_repaint()) as kiln_core::service::Waker);
        // The lists fill when the reader's first snapshot arrives; nothing is read here.
        crate::widgets::drop_elsewhere(std::mem::take(&mut self.snapshot));
        self.generation += 1;
        self.reader = None;
        self.queries = 0;
        self.reader_error = None;
        match Reader::spawn(&path, REFRESH, waker) {
            Ok(reader) => self.reader = Some(reader),
            Err(e) => self.fail("Could not follow the project", e),
        }
        self.choose_tab = true;
        self.settings.remember(&path);
        let read_only = self.service.read_only();
        self.info(format!(
            "Opened {} ({}){}",
            self.service.name().unwrap_or_default(),
            path.display(),
            if read_only {
                ", read-only: another process is writing it"
            } else {
                ""
            }
        ));
        self.banner = None;
        self.next = None;
        self.data = Default::default();
        self.train = Default::default();
        self.runs = Default::default();
        self.eval = Default::default();
        self.models = Default::default();
        self.monitor = Default::default();
    }

    /// Fresh snapshots and query answers from the reader.
    fn drain_reader(&mut self) {
        let Some(reader) = &mut self.reader else {
            return;
        };
        for message in reader.poll() {
            match message {
                ReaderMessage::Snapshot(Ok(snapshot)) => {
                    let old = std::mem::replace(&mut self.snapshot, *snapshot);
                    self.generation += 1;
                    crate::widgets::drop_elsewhere(old);
                    self.reader_error = None;
                    if std::mem::take(&mut self.choose_tab) && self.settings.tab == Tab::Start {
                        // A new project starts with its data; one with data, with its runs.
                        self.settings.tab = if self.snapshot.datasets.is_empty() {
                            Tab::Data
                        } else {
                            Tab::Runs
                        };
                    }
                }
                ReaderMessage::Snapshot(Err(e)) => {
                    // The reader tries again every so often: say a failure once, not each time.
                    if self.reader_error.as_ref() != Some(&e) {
                        self.fail("Could not re-read the project", &e);
                        self.reader_error = Some(e);
                    }
                }
                ReaderMessage::Answer(query, answer) => {
                    self.queries = self.queries.saturating_sub(1);
                    if let Err(e) = &answer {
                        self.fail(&format!("Could not read {}", query.what()), e);
                    }
                    match query {
                        Query::Dataset { .. } => self.data.on_answer(&query, answer),
                        Query::MetricHistory { .. } => self.runs.on_answer(&query, answer),
                        Query::Monitoring { .. } => self.monitor.on_answer(&query, answer),
                        Query::Replays { .. } => self.deploy.on_answer(&query, answer),
                    }
                }
            }
        }
    }

    /// Opens a native dialog on its own thread; its answer arrives in [`Self::poll_dialog`].
    fn pick(&mut self, purpose: Purpose) {
        let (tx, rx) = std::sync::mpsc::channel();
        let start_dir = match purpose {
            Purpose::ExportFolder => self.settings.export_dir.clone(),
            _ => self
                .service
                .path()
                .and_then(|p| p.parent().map(Path::to_owned)),
        };
        let chooser = self.chooser.clone();
        let spawned = std::thread::Builder::new()
            .name("kiln: file dialog".into())
            .spawn(move || {
                let picked = chooser(purpose, start_dir);
                // The window may have closed meanwhile.
                let _ignored = tx.send(picked);
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
            Purpose::NewProject | Purpose::OpenProject => {
                if let Some(operation) = self.start.on_picked(purpose, &path) {
                    self.execute(Command::Run(operation));
                }
            }
            Purpose::ImportFile | Purpose::ImportFolder => self.data.on_picked(&path),
            Purpose::ExportFolder => self.models.on_picked(&path),
            Purpose::MonitorBatch => self.monitor.on_picked(&path),
            Purpose::ReplayTraffic => self.deploy.on_picked(&path),
        }
    }

    /// Files dropped on the window: a project file opens; on the Monitor screen a file is
    /// checked as a new batch of the model shown; anything else is imported.
    fn take_dropped(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_owned())
                .collect()
        });
        for path in dropped {
            if kiln_core::store::has_project_extension(&path) {
                self.execute(Command::Run(Operation::Open { path }));
            } else if self.settings.tab == Tab::Deploy && self.service.path().is_some() {
                // Traffic dropped on the Deploy screen fills the form; the replay waits for a
                // click, since it names two versions.
                self.deploy.on_picked(&path);
            } else if self.settings.tab == Tab::Monitor
                && let Some(operation) = self.monitor.check_dropped(&path)
            {
                match operation {
                    Ok(operation) => self.execute(Command::Run(operation)),
                    Err(e) => self.fail("The drift tests are not valid", e),
                }
            } else if self.service.path().is_some() {
                self.data.import_path = path.display().to_string();
                self.settings.tab = Tab::Data;
                match views::data::import_of(&self.data.import_path, "", "") {
                    Ok(operation) => self.execute(Command::Run(operation)),
                    Err(e) => self.fail("Cannot import", e),
                }
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

    /// Everything of a frame that is not drawing: the job's events and outcome, the reader's
    /// snapshots and answers, dialogs and dropped files, and the commands the screens sent.
    pub fn logic(&mut self, ctx: &egui::Context) {
        if self.repaint.is_none() {
            self.repaint = Some(ctx.clone());
            let ctx = ctx.clone();
            self.service
                .set_waker(Arc::new(move || ctx.request_repaint()));
        }
        self.apply_theme(ctx);
        self.shortcuts(ctx);
        for command in std::mem::take(&mut self.commands) {
            self.execute(command);
        }
        self.drain_jobs();
        self.drain_reader();
        self.poll_dialog();
        self.take_dropped(ctx);
        self.persist();
        if self.service.path().is_some() || self.service.busy() || self.dialog.is_some() {
            let every = if self.service.busy() {
                Duration::from_millis(100)
            } else {
                REFRESH
            };
            ctx.request_repaint_after(every);
        }
    }

    /// Runs [`Self::logic`] and draws: one whole frame, for a host that has no separate logic
    /// pass (tests, benchmarks).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.logic(&ctx);
        self.draw(ui);
    }

    /// Draws the whole workbench into `ui`.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
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
        self.confirm_cancel_ui(ui.ctx());
        egui::CentralPanel::default().show(ui, |ui| {
            self.banner_ui(ui);
            self.next_ui(ui);
            let mut commands = std::mem::take(&mut self.commands);
            let project = self.service.path().map(|path| ProjectRef {
                path,
                name: self.service.name().unwrap_or_default(),
                read_only: self.service.read_only(),
            });
            let mut frame = Frame::new(
                project,
                (&self.snapshot, self.generation),
                self.service.running(),
                &self.settings.recent,
                self.settings.export_dir.as_deref(),
                &mut commands,
            );
            match self.settings.tab {
                Tab::Start => self.start.show(ui, &mut frame),
                Tab::Data => self.data.show(ui, &mut frame),
                Tab::Train => self.train.show(ui, &mut frame),
                Tab::Runs => self.runs.show(ui, &mut frame),
                Tab::Evaluate => self.eval.show(ui, &mut frame),
                Tab::Models => self.models.show(ui, &mut frame),
                Tab::Monitor => self.monitor.show(ui, &mut frame),
                Tab::Deploy => self.deploy.show(ui, &mut frame),
            }
            self.commands = commands;
        });
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Kiln");
            ui.separator();
            match self.service.path() {
                Some(path) => {
                    ui.label(egui::RichText::new(self.service.name().unwrap_or_default()).strong());
                    ui.label(path.display().to_string());
                    if self.service.read_only() {
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
                if let Some(job) = self.service.running() {
                    if job.cancellable
                        && ui
                            .add_enabled(!job.cancelling, egui::Button::new("Cancel job"))
                            .on_hover_text(format!(
                                "Stop the running study ({})",
                                ui.ctx().format_shortcut(&keys::CANCEL)
                            ))
                            .clicked()
                    {
                        self.commands.push(Command::Cancel);
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
        for (tab, key) in Tab::ALL.into_iter().zip(keys::SCREENS) {
            let enabled = self.can_show(tab);
            let selected = self.settings.tab == tab;
            let button = egui::Button::selectable(selected, tab.title())
                .min_size(egui::vec2(ui.available_width(), 28.0));
            let hint = ui.ctx().format_shortcut(&key);
            if ui
                .add_enabled(enabled, button)
                .on_hover_text(hint)
                .clicked()
            {
                self.settings.tab = tab;
            }
        }
    }

    /// Whether `tab` can show: every screen but Home needs a project.
    fn can_show(&self, tab: Tab) -> bool {
        tab == Tab::Start || self.service.path().is_some()
    }

    /// The keyboard's shortcuts, taken before any widget sees the keys.
    fn shortcuts(&mut self, ctx: &egui::Context) {
        let cancellable = self
            .service
            .running()
            .is_some_and(|j| j.cancellable && !j.cancelling);
        let confirming = self.confirm_cancel;
        // Esc is taken only when there is a job to stop and no field or pop-up of the page
        // would take it (to leave a field, to close a list).
        let widget_wants_escape = ctx.text_edit_focused() || egui::Popup::is_any_open(ctx);
        let take_escape = cancellable && !confirming && !widget_wants_escape;
        // A new or another project cannot open while a job holds this one.
        let can_open = !self.service.busy() && !confirming && self.dialog.is_none();
        let (new, open, escape, screen) = ctx.input_mut(|i| {
            (
                can_open && i.consume_shortcut(&keys::NEW),
                can_open && i.consume_shortcut(&keys::OPEN),
                take_escape && i.consume_shortcut(&keys::CANCEL),
                keys::SCREENS.iter().position(|k| i.consume_shortcut(k)),
            )
        });
        for (wanted, purpose) in [(new, Purpose::NewProject), (open, Purpose::OpenProject)] {
            if wanted {
                self.settings.tab = Tab::Start;
                self.pick(purpose);
            }
        }
        if escape {
            self.confirm_cancel = true;
        }
        if let Some(tab) = screen.map(|i| Tab::ALL[i])
            && self.can_show(tab)
        {
            self.settings.tab = tab;
        }
    }

    /// Asks before Esc stops the running job.
    fn confirm_cancel_ui(&mut self, ctx: &egui::Context) {
        if !self.confirm_cancel {
            return;
        }
        let Some(job) = self
            .service
            .running()
            .filter(|j| j.cancellable && !j.cancelling)
        else {
            self.confirm_cancel = false;
            return;
        };
        let title = job.title.clone();
        let (mut stop, mut keep) = (false, false);
        let modal = egui::Modal::new(egui::Id::unique("kiln confirm cancel")).show(ctx, |ui| {
            ui.heading("Stop the running job?");
            ui.label(format!(
                "{title} stops after each trial's current batch. Finished trials are kept."
            ));
            ui.horizontal(|ui| {
                stop = ui.button("Stop the job").clicked();
                keep = ui.button("Keep it running").clicked();
            });
        });
        if stop {
            self.commands.push(Command::Cancel);
        }
        if stop || keep || modal.should_close() {
            self.confirm_cancel = false;
        }
    }

    /// The line that says where to go after the step that just finished.
    fn next_ui(&mut self, ui: &mut egui::Ui) {
        let Some(next) = self.next.clone() else {
            return;
        };
        let mut go = None;
        let mut dismiss = false;
        egui::Frame::new()
            .fill(ui.visuals().faint_bg_color)
            .stroke(egui::Stroke::new(1.0, ui.visuals().selection.bg_fill))
            .inner_margin(6.0)
            .corner_radius(4.0)
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(&next.text);
                    for (label, target) in &next.actions {
                        if ui.button(label).clicked() {
                            go = Some(target.clone());
                        }
                    }
                    dismiss = ui
                        .small_button("×")
                        .on_hover_text("Hide this hint")
                        .clicked();
                });
            });
        ui.add_space(4.0);
        if dismiss {
            self.next = None;
        }
        if let Some(go) = go {
            self.next = None;
            self.go(go);
        }
    }

    /// Takes the user where a next-step button points.
    fn go(&mut self, go: Go) {
        match go {
            Go::Train { dataset } => {
                self.train.choose_dataset(dataset);
                self.settings.tab = Tab::Train;
            }
            Go::Runs { study, run } => {
                self.runs.show_study(study);
                if let Some(run) = run {
                    self.runs.pick(run);
                }
                self.settings.tab = Tab::Runs;
            }
            Go::Evaluate { model, version } => {
                self.eval.model = model;
                self.eval.version = version.to_string();
                self.settings.tab = Tab::Evaluate;
            }
            Go::Export { model, version } => {
                self.models.select(&model, version);
                self.settings.tab = Tab::Models;
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

impl eframe::App for KilnApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        KilnApp::logic(self, ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn on_exit(&mut self) {
        // A study stops within a batch of each trial: wait for it (briefly), so that its runs
        // are marked cancelled rather than left running.
        let said = self.service.stop(Duration::from_secs(5));
        drop(said);
        self.persist();
    }
}

/// Asks the user for a path, for `purpose`, starting in a folder: the desktop's file dialog,
/// or another chooser where there is no desktop (a test drives the window).
pub type Chooser = Arc<dyn Fn(Purpose, Option<PathBuf>) -> Option<PathBuf> + Send + Sync>;

/// The desktop's native file dialog (through its portal on Linux).
fn native_dialog(purpose: Purpose, start_dir: Option<PathBuf>) -> Option<PathBuf> {
    let mut dialog = rfd::FileDialog::new();
    if let Some(dir) = start_dir {
        dialog = dialog.set_directory(dir);
    }
    match purpose {
        Purpose::NewProject => dialog
            .add_filter("Kiln project", &[PROJECT_EXTENSION])
            .set_file_name("project.kiln")
            .save_file(),
        Purpose::OpenProject => dialog
            .add_filter("Kiln project", &[PROJECT_EXTENSION])
            .pick_file(),
        Purpose::ImportFile | Purpose::MonitorBatch | Purpose::ReplayTraffic => {
            dialog.add_filter("CSV", &["csv", "tsv", "txt"]).pick_file()
        }
        Purpose::ImportFolder | Purpose::ExportFolder => dialog.pick_folder(),
    }
}

/// Where to go after `outcome`: the newcomer's path from data to a served model.
fn next_step(outcome: &Outcome) -> Option<NextStep> {
    let step = |text: String, actions: Vec<(&str, Go)>| NextStep {
        text,
        actions: actions
            .into_iter()
            .map(|(label, go)| (label.to_owned(), go))
            .collect(),
    };
    match outcome {
        Outcome::Imported(imported) => Some(step(
            format!("Imported {}. Next:", imported.name),
            vec![(
                "Train a model on it",
                Go::Train {
                    dataset: imported.name.clone(),
                },
            )],
        )),
        Outcome::Trained(study) => {
            let best = study.best.as_ref()?;
            Some(step(
                format!(
                    "Study {} {}; its best run is {}. Next:",
                    study.study, study.status, best.run
                ),
                vec![
                    (
                        "Compare the runs",
                        Go::Runs {
                            study: study.study,
                            run: None,
                        },
                    ),
                    (
                        "Register the best",
                        Go::Runs {
                            study: study.study,
                            run: Some(best.run),
                        },
                    ),
                ],
            ))
        }
        Outcome::Registered(version) => Some(step(
            format!("Registered {} v{}. Next:", version.model, version.version),
            vec![
                (
                    "Evaluate it",
                    Go::Evaluate {
                        model: version.model.clone(),
                        version: version.version,
                    },
                ),
                (
                    "Export it",
                    Go::Export {
                        model: version.model.clone(),
                        version: version.version,
                    },
                ),
            ],
        )),
        Outcome::Evaluated(evaluation) => Some(step(
            format!(
                "Evaluated {} v{}. Next:",
                evaluation.model, evaluation.version
            ),
            vec![(
                "Export it",
                Go::Export {
                    model: evaluation.model.clone(),
                    version: evaluation.version,
                },
            )],
        )),
        Outcome::Demo(report) => {
            let model = kiln_core::lab::LAB_MODEL.to_owned();
            Some(step(
                format!(
                    "The demo imported the penguins, trained {} trials, registered {model} v{} as champion and exported it. Next:",
                    report.study.trials, report.model_version
                ),
                vec![
                    (
                        "Compare the runs",
                        Go::Runs {
                            study: report.study.study,
                            run: None,
                        },
                    ),
                    (
                        "Evaluate the champion",
                        Go::Evaluate {
                            model: model.clone(),
                            version: report.model_version,
                        },
                    ),
                    (
                        "Export it again",
                        Go::Export {
                            model,
                            version: report.model_version,
                        },
                    ),
                ],
            ))
        }
        _ => None,
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

/// Opens `folder` in the desktop's file manager.
fn open_in_file_manager(folder: &Path) -> Result<(), String> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(folder)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("{opener} could not be started ({e}); open the folder by hand"))
}
