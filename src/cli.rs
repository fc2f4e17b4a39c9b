//! The command line: parses, calls `kiln-core`, and prints. No business logic lives here.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln_core::data::{ColumnKind, ImportOptions};
use kiln_core::{Project, ProjectInfo, RunSummary};

use crate::data;
use crate::format::{format_bytes, format_duration, format_table, format_time};
use crate::gui;

/// Kiln: an offline workbench for the whole machine-learning lifecycle.
///
/// With no command, opens the workbench window (on PROJECT, if given).
#[derive(Debug, Parser)]
#[command(name = "kiln", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// A project file to open in the window.
    project: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new, empty project file.
    New {
        /// Where to create it, for example `lab.kiln`. An existing file is never replaced.
        file: PathBuf,
        /// The project's display name (default: the file name without `.kiln`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Show what a project holds: datasets, runs, metric points, models.
    Info {
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List a project's runs, newest first.
    Runs {
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Import a CSV file, or a text corpus (a folder with one sub-folder of .txt files per class).
    ///
    /// Importing under the name of an existing dataset adds a new batch to it (for drift checks
    /// or scoring), checked against the dataset's schema and expectations.
    Import {
        file: PathBuf,
        /// The CSV file or corpus folder.
        path: PathBuf,
        /// The dataset's name (default: the file or folder name).
        #[arg(long)]
        name: Option<String>,
        /// The label column (default: one named label, class, target, species, ...).
        #[arg(long)]
        label: Option<String>,
        /// Override a column's type: COLUMN=numeric|categorical|text|label|ignored. Repeatable.
        #[arg(long = "type", value_name = "COLUMN=TYPE", value_parser = parse_kind)]
        types: Vec<(String, ColumnKind)>,
    },
    /// List a project's datasets.
    Datasets {
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a dataset's expectations and schema check on its newest batch.
    ///
    /// Exits with status 3 when an expectation fails.
    Check {
        file: PathBuf,
        dataset: String,
        /// First declare the dataset's expectations from this TOML file (replacing earlier ones).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Print JSON instead of a report.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line; `Err` is a one-line message for stderr.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<ExitCode, String> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; usage errors to stderr.
            let _ = e.print();
            return Ok(if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            });
        }
    };
    match cli.command {
        None => gui::open(cli.project)?,
        Some(Command::New { file, name }) => new(file, name)?,
        Some(Command::Info { file, json }) => info(file, json)?,
        Some(Command::Runs { file, json }) => runs(file, json)?,
        Some(Command::Import {
            file,
            path,
            name,
            label,
            types,
        }) => data::import(
            &file,
            &path,
            ImportOptions {
                name,
                label,
                kinds: types,
            },
        )?,
        Some(Command::Datasets { file, json }) => data::datasets(&file, json)?,
        Some(Command::Check {
            file,
            dataset,
            rules,
            json,
        }) => {
            return data::check(&file, &dataset, rules.as_deref(), json);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_kind(arg: &str) -> Result<(String, ColumnKind), String> {
    let (column, kind) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected COLUMN=TYPE, got {arg:?}"))?;
    Ok((column.trim().to_owned(), kind.parse()?))
}

fn new(file: PathBuf, name: Option<String>) -> Result<(), String> {
    let name = name.unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".into())
    });
    Project::create(&file, &name).map_err(|e| e.to_string())?;
    println!("created project {name:?} in {}", file.display());
    Ok(())
}

fn info(file: PathBuf, json: bool) -> Result<(), String> {
    let project = Project::open_read_only(&file).map_err(|e| e.to_string())?;
    let info = project.info().map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", format_info(&file, &info));
    }
    Ok(())
}

fn format_info(file: &std::path::Path, i: &ProjectInfo) -> String {
    format!(
        "project   {} ({})\n\
         format    {} (last written by Kiln {})\n\
         created   {}\n\
         datasets  {} ({} batches)\n\
         runs      {} in {} experiments and {} studies\n\
         points    {} metric points\n\
         models    {} ({} versions, {} exports)\n\
         blobs     {} ({})\n",
        i.name,
        file.display(),
        i.format,
        i.written_by,
        format_time(i.created_at),
        i.datasets,
        i.dataset_batches,
        i.runs,
        i.experiments,
        i.studies,
        i.metric_points,
        i.models,
        i.model_versions,
        i.exports,
        i.blobs,
        format_bytes(i.blob_bytes),
    )
}

fn runs(file: PathBuf, json: bool) -> Result<(), String> {
    let project = Project::open_read_only(&file).map_err(|e| e.to_string())?;
    let runs = project.runs().map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).map_err(|e| e.to_string())?
        );
    } else if runs.is_empty() {
        println!("no runs yet in {}", file.display());
    } else {
        print!("{}", format_runs(&runs));
    }
    Ok(())
}

fn format_runs(runs: &[RunSummary]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.name.clone(),
                r.experiment.clone(),
                r.study.clone().unwrap_or_else(|| "-".into()),
                r.status.to_string(),
                format_time(r.start_time),
                r.end_time
                    .map(|end| format_duration(end - r.start_time))
                    .unwrap_or_else(|| "-".into()),
                r.device.clone().unwrap_or_else(|| "-".into()),
                r.metric_points.to_string(),
            ]
        })
        .collect();
    let header = [
        "ID",
        "NAME",
        "EXPERIMENT",
        "STUDY",
        "STATUS",
        "STARTED",
        "DURATION",
        "DEVICE",
        "POINTS",
    ];
    format_table(&header, &rows)
}
