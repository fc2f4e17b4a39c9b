//! The service under every face: the operations a user can ask of a project, one job service
//! that runs them off the caller's thread and hands the project's single writer to one job at
//! a time, and a reader that keeps a snapshot of the project fresh and answers queries.
//!
//! The window starts operations through [`JobService`] and follows [`JobEvent`]s; the command
//! line runs the same [`Operation`]s in the foreground with [`Operation::run`]. Nothing here
//! knows about a GUI toolkit.

mod jobs;
mod reader;

use std::path::PathBuf;

pub use jobs::{JobEvent, JobId, JobInfo, JobService, Waker};
pub use reader::{Answer, DatasetView, Query, Reader, ReaderMessage, Snapshot};

use crate::Result;
use crate::data::{CheckReport, ColumnKind, ExpectationSuite, ImportOptions, ImportOutcome};
use crate::eval::{EvaluateOptions, ModelEvaluation};
use crate::export::{ExportOutcome, ExportPreview, TritonOptions};
use crate::lab::{DriftDemoReport, LabReport};
use crate::mlflow::{PullReport, PullRequest, PushReport, PushRequest};
use crate::monitor::retrain::{RetrainReport, RetrainRequest};
use crate::monitor::{DriftOptions, MonitorReport};
use crate::registry::{ModelVersion, VersionSelector};
use crate::store::Project;
use crate::tracking::{RunId, StudyId};
use crate::train::{StudyOutcome, StudyRequest, TrainOptions};

/// Something a user asks of a project: every write, and every read that may take long.
#[derive(Debug, Clone)]
pub enum Operation {
    /// Opens a project: for writing, or read-only when another process is writing it.
    Open {
        path: PathBuf,
    },
    /// Creates a new, empty project (named after its file) and opens it.
    Create {
        path: PathBuf,
    },
    /// Creates a project and runs the lab in it: import, search, evaluate, register, export.
    Demo {
        path: PathBuf,
        target: PathBuf,
    },
    /// Creates a project and runs the drift demo in it: train, a drifting batch, a retrain.
    DriftDemo {
        path: PathBuf,
    },
    Import {
        path: PathBuf,
        options: ImportOptions,
    },
    /// Imports the Palmer penguins that ship with Kiln.
    ImportDemo,
    SetColumnKind {
        dataset: String,
        column: String,
        kind: ColumnKind,
    },
    /// Checks a dataset's newest batch against its expectations, saving `suite` as them first
    /// when given.
    Check {
        dataset: String,
        suite: Option<ExpectationSuite>,
    },
    Train(Box<StudyRequest>),
    Resume(StudyId),
    Evaluate {
        model: String,
        selector: VersionSelector,
        options: EvaluateOptions,
    },
    PreviewExport {
        model: String,
        selector: VersionSelector,
        options: TritonOptions,
    },
    Export {
        model: String,
        selector: VersionSelector,
        target: PathBuf,
        options: TritonOptions,
    },
    /// Exports several versions of one model into one repository, served side by side.
    ExportVersions {
        model: String,
        selectors: Vec<VersionSelector>,
        target: PathBuf,
        options: TritonOptions,
    },
    /// Registers a run's model as a new version, and points `alias` at it when given.
    Register {
        model: String,
        run: RunId,
        alias: Option<String>,
    },
    SetAlias {
        model: String,
        alias: String,
        version: u32,
    },
    RemoveAlias {
        model: String,
        alias: String,
    },
    /// Imports a monitoring batch of a model's dataset and stores the model's report on it.
    Monitor {
        model: String,
        selector: VersionSelector,
        path: PathBuf,
        options: DriftOptions,
    },
    /// Retrains a model under its policy; a dry run only works out what it would do.
    Retrain(Box<RetrainRequest>),
    /// Replays traffic through two versions of a model, in shadow or A/B mode.
    Replay(Box<crate::replay::ReplayRequest>),
    /// Pushes runs (and models) to an MLflow server; a dry run only works out what it would send.
    PushMlflow(Box<PushRequest>),
    /// Pulls an MLflow experiment's runs in.
    PullMlflow(Box<PullRequest>),
}

/// What an operation needs of the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// None open yet, or a new one: it opens the project it names.
    Opens,
    /// The single writer.
    Writes,
    /// A read-only handle of its own: it runs on a project another process is writing too.
    Reads,
}

/// What an operation produced.
#[derive(Debug)]
pub enum Outcome {
    /// A project is open.
    Opened {
        path: PathBuf,
        name: String,
    },
    Imported(Box<ImportOutcome>),
    ColumnChanged {
        dataset: String,
        column: String,
        kind: ColumnKind,
    },
    Checked {
        dataset: String,
        report: Box<CheckReport>,
    },
    Trained(Box<StudyOutcome>),
    Evaluated(Box<ModelEvaluation>),
    Previewed(Box<ExportPreview>),
    Exported(Box<ExportOutcome>),
    ExportedVersions(Vec<ExportOutcome>),
    Registered(Box<ModelVersion>),
    AliasSet {
        model: String,
        alias: String,
        version: u32,
    },
    AliasRemoved {
        model: String,
        alias: String,
    },
    /// The demo project is built; it is the open project now.
    Demo(Box<LabReport>),
    /// The drift demo is built; it is the open project now.
    DriftDemo(Box<DriftDemoReport>),
    Monitored(Box<MonitorReport>),
    Retrained(Box<RetrainReport>),
    Replayed(Box<crate::replay::ReplayReport>),
    Pushed(Box<PushReport>),
    Pulled(Box<PullReport>),
}

impl Operation {
    /// What the operation is, for a progress line or a log: "Import of data.csv".
    pub fn title(&self) -> String {
        match self {
            Operation::Open { path } => format!("Opening {}", path.display()),
            Operation::Create { path } => format!("Creating {}", path.display()),
            Operation::Demo { .. } => "Demo project".into(),
            Operation::DriftDemo { .. } => "Drift demo".into(),
            Operation::Import { path, .. } => format!("Import of {}", path.display()),
            Operation::ImportDemo => "Import of the demo penguins".into(),
            Operation::SetColumnKind {
                dataset, column, ..
            } => format!("Type change of {dataset}.{column}"),
            Operation::Check { dataset, .. } => format!("Check of {dataset}"),
            Operation::Train(request) => format!("Training on {}", request.dataset),
            Operation::Resume(study) => format!("Resume of study {study}"),
            Operation::Evaluate { model, .. } => format!("Evaluation of {model}"),
            Operation::PreviewExport { model, .. } => format!("Export preview of {model}"),
            Operation::Export { model, .. } => format!("Export of {model}"),
            Operation::ExportVersions { model, .. } => format!("Export of versions of {model}"),
            Operation::Register { model, run, .. } => {
                format!("Registration of run {run} as {model}")
            }
            Operation::SetAlias { model, alias, .. } => format!("Alias {model}@{alias}"),
            Operation::RemoveAlias { model, alias } => format!("Removal of {model}@{alias}"),
            Operation::Monitor { model, path, .. } => {
                format!("Monitoring of {model} on {}", path.display())
            }
            Operation::Retrain(request) if request.dry_run => {
                format!("Retrain preview of {}", request.model)
            }
            Operation::Retrain(request) => format!("Retrain of {}", request.model),
            Operation::Replay(request) => format!(
                "{} replay of {} on {}",
                match request.mode {
                    crate::replay::ReplayMode::Shadow => "Shadow",
                    crate::replay::ReplayMode::Ab => "A/B",
                },
                request.model,
                request.traffic.display()
            ),
            Operation::PushMlflow(request) if request.dry_run => {
                format!("Push preview for {}", request.url)
            }
            Operation::PushMlflow(request) => format!("Push to {}", request.url),
            Operation::PullMlflow(request) => {
                format!("Pull of {} from {}", request.experiment, request.url)
            }
        }
    }

    pub fn access(&self) -> Access {
        match self {
            Operation::Open { .. }
            | Operation::Create { .. }
            | Operation::Demo { .. }
            | Operation::DriftDemo { .. } => Access::Opens,
            Operation::PreviewExport { .. } => Access::Reads,
            Operation::PushMlflow(request) if request.dry_run => Access::Reads,
            Operation::Retrain(request) if request.dry_run => Access::Reads,
            _ => Access::Writes,
        }
    }

    /// Whether the operation watches the cancel flag (a study does; an import or an export
    /// runs to its end, and its writes are one transaction either way).
    pub fn cancellable(&self) -> bool {
        matches!(
            self,
            Operation::Train(_)
                | Operation::Resume(_)
                | Operation::Demo { .. }
                | Operation::DriftDemo { .. }
                | Operation::Retrain(_)
                | Operation::Replay(_)
                | Operation::PushMlflow(_)
                | Operation::PullMlflow(_)
        )
    }

    /// Runs the operation on `project` in the caller's thread. Operations that open a project
    /// ([`Access::Opens`]) are run by [`Operation::open`] instead.
    pub fn run(self, project: &mut Project, options: &TrainOptions) -> Result<Outcome> {
        Ok(match self {
            Operation::Open { path } | Operation::Create { path } => Outcome::Opened {
                name: project.name()?,
                path,
            },
            Operation::Demo { target, .. } => {
                Outcome::Demo(Box::new(crate::lab::run_lab(project, &target, options)?))
            }
            Operation::DriftDemo { .. } => {
                Outcome::DriftDemo(Box::new(crate::lab::run_drift_demo(project, options)?))
            }
            Operation::Import { path, options } => {
                Outcome::Imported(Box::new(project.import(&path, &options)?))
            }
            Operation::ImportDemo => Outcome::Imported(Box::new(project.import_demo_penguins()?)),
            Operation::SetColumnKind {
                dataset,
                column,
                kind,
            } => {
                project.set_column_kind(&dataset, &column, kind)?;
                Outcome::ColumnChanged {
                    dataset,
                    column,
                    kind,
                }
            }
            Operation::Check { dataset, suite } => {
                let report = project.atomically(|p| {
                    if let Some(suite) = &suite {
                        p.set_expectations(&dataset, suite)?;
                    }
                    p.check_dataset(&dataset)
                })?;
                Outcome::Checked {
                    dataset,
                    report: Box::new(report),
                }
            }
            Operation::Train(request) => {
                Outcome::Trained(Box::new(project.run_study(&request, options)?))
            }
            Operation::Resume(study) => {
                Outcome::Trained(Box::new(project.resume_study(study, options)?))
            }
            Operation::Evaluate {
                model,
                selector,
                options,
            } => Outcome::Evaluated(Box::new(
                project.evaluate_model(&model, &selector, &options)?,
            )),
            Operation::PreviewExport {
                model,
                selector,
                options,
            } => Outcome::Previewed(Box::new(
                project.preview_triton(&model, &selector, &options)?,
            )),
            Operation::Export {
                model,
                selector,
                target,
                options,
            } => Outcome::Exported(Box::new(
                project.export_triton(&model, &selector, &target, &options)?,
            )),
            Operation::ExportVersions {
                model,
                selectors,
                target,
                options,
            } => Outcome::ExportedVersions(
                project.export_triton_versions(&model, &selectors, &target, &options)?,
            ),
            Operation::Register { model, run, alias } => Outcome::Registered(Box::new(
                project.register_model_as(&model, run, alias.as_deref())?,
            )),
            Operation::SetAlias {
                model,
                alias,
                version,
            } => {
                project.set_alias(&model, &alias, version)?;
                Outcome::AliasSet {
                    model,
                    alias,
                    version,
                }
            }
            Operation::RemoveAlias { model, alias } => {
                project.remove_alias(&model, &alias)?;
                Outcome::AliasRemoved { model, alias }
            }
            Operation::Monitor {
                model,
                selector,
                path,
                options,
            } => Outcome::Monitored(Box::new(
                project.monitor(&model, &selector, &path, &options)?,
            )),
            Operation::Retrain(request) => {
                Outcome::Retrained(Box::new(project.retrain(&request, options)?))
            }
            Operation::Replay(request) => {
                Outcome::Replayed(Box::new(project.replay(&request, options)?))
            }
            Operation::PushMlflow(request) => {
                Outcome::Pushed(Box::new(project.push_to_mlflow(&request, options)?))
            }
            Operation::PullMlflow(request) => {
                Outcome::Pulled(Box::new(project.pull_from_mlflow(&request, options)?))
            }
        })
    }

    /// For an operation that opens a project: opens (or creates) it, then runs the rest of the
    /// operation on it. The project comes back whenever it was opened, even if the rest failed
    /// (a demo that stopped halfway leaves its project open, with what it finished).
    pub fn open(self, options: &TrainOptions) -> (Option<Project>, Result<Outcome>) {
        let opened = match &self {
            Operation::Open { path } => match Project::open(path) {
                // Another process writing (a `kiln train` in a terminal) is fine: follow it.
                Err(crate::Error::Store(crate::StoreError::Locked { .. })) => {
                    Project::open_read_only(path)
                }
                opened => opened,
            },
            Operation::Create { path }
            | Operation::Demo { path, .. }
            | Operation::DriftDemo { path } => Project::create(path, &project_name(path)),
            _ => Err(crate::StoreError::NotOpen { what: self.title() }.into()),
        };
        match opened {
            Ok(mut project) => {
                let outcome = self.run(&mut project, options);
                (Some(project), outcome)
            }
            Err(e) => (None, Err(e)),
        }
    }
}

/// A new project's name: its file's stem.
pub fn project_name(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "project".into())
}
