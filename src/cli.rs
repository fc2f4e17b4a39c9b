//! The command line: parses, calls `kiln-core`, and prints. No business logic lives here.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln_core::data::{ColumnKind, ImportOptions};
use kiln_core::export::{InputChoice, InstanceKind, TritonOptions, VersionPolicy};
use kiln_core::replay::ReplayMode;
use kiln_core::train::{DevicePreference, ModelFamily, SearchSpace, Strategy, StudyRequest};
use kiln_core::{Project, ProjectInfo, RunSummary};

use crate::data;
use crate::format::{format_bytes, format_duration, format_table};
use crate::{deploy, gui, mlflow, models, monitor, serve, signals, train};

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
    /// Train models: a search over a space of hyperparameters, one run per trial, in one study.
    Train {
        file: PathBuf,
        /// The dataset to train on (see `kiln datasets`).
        #[arg(long)]
        dataset: String,
        /// The model family.
        #[arg(long, default_value = "mlp")]
        model: ModelFamily,
        /// The search space, as TOML (see the README). Without it, one trial with the defaults.
        #[arg(long)]
        space: Option<PathBuf>,
        /// How to search the space.
        #[arg(long, default_value = "grid")]
        strategy: Strategy,
        /// Trials trained at once.
        #[arg(long, default_value_t = 1)]
        parallel: usize,
        /// Where to train: auto (a real GPU if there is one), gpu (wgpu, even on a software
        /// adapter) or cpu.
        #[arg(long, default_value = "auto")]
        device: DevicePreference,
        /// Allow a search of up to this many trials (without it, more than 10,000 is refused).
        #[arg(long)]
        max_trials: Option<usize>,
        /// Then print where the time went, phase by phase.
        #[arg(long)]
        timings: bool,
    },
    /// Continue a study after a crash or a kill: finished trials are kept, the rest run again.
    Resume {
        file: PathBuf,
        /// The study's id, as `kiln train` printed it.
        study: i64,
    },
    /// Register a run's model as the next version of a named model.
    Register {
        file: PathBuf,
        /// The run whose model to register (see `kiln runs`).
        run: i64,
        /// The model's name.
        #[arg(long)]
        model: String,
        /// Also point this alias (for example `champion`) at the new version.
        #[arg(long)]
        alias: Option<String>,
    },
    /// Point an alias of a model at a version, moving it from wherever it was.
    Alias {
        file: PathBuf,
        model: String,
        alias: String,
        version: u32,
    },
    /// List registered models and their versions, or print their model cards.
    Models {
        file: PathBuf,
        model: Option<String>,
        /// Print each version's model card (Markdown) instead of the table.
        #[arg(long)]
        card: bool,
    },
    /// Evaluate a model version on its held-out test split: metrics, fairness, behaviour.
    Evaluate {
        file: PathBuf,
        /// MODEL, MODEL:VERSION or MODEL@ALIAS.
        model: String,
        /// A column to compare groups by (a feature, or a column kept out of the features).
        #[arg(long)]
        sensitive: Option<String>,
        /// The favourable class for the fairness report.
        #[arg(long)]
        positive: Option<String>,
        /// Behavioural tests (TOML) to run.
        #[arg(long)]
        behaviour: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Export a model version as ONNX into a Triton model repository.
    Export {
        file: PathBuf,
        /// MODEL, MODEL:VERSION or MODEL@ALIAS. Name two or more versions of one model (say
        /// MODEL@champion MODEL@challenger) to serve them side by side from one configuration.
        #[arg(required = true, num_args = 1..)]
        models: Vec<String>,
        /// The model repository folder.
        #[arg(long)]
        target: PathBuf,
        #[arg(long, default_value_t = 32)]
        max_batch_size: u32,
        /// Where Triton runs the model: gpu or cpu.
        #[arg(long, default_value = "cpu")]
        instance: InstanceKind,
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Preferred dynamic batch sizes, comma separated.
        #[arg(long, value_delimiter = ',')]
        preferred: Vec<u32>,
        #[arg(long, default_value_t = 100)]
        queue_delay_us: u64,
        /// Which versions Triton serves: N (the newest N), all, or a list such as 1,3.
        #[arg(long, default_value = "1")]
        versions: VersionPolicyArg,
        /// What the graph reads: raw (one input per column, the pipeline inside the graph),
        /// features (the pipeline's output) or auto (raw where the pipeline allows).
        #[arg(long, default_value = "auto")]
        input: InputChoice,
    },
    /// Score a CSV with a registered model version, through its feature pipeline.
    Predict {
        file: PathBuf,
        /// MODEL, MODEL:VERSION or MODEL@ALIAS.
        model: String,
        input: PathBuf,
        /// Where to write the predictions (default: standard output). Never a project or the
        /// input; another existing file only with --force.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check a new batch of a model's dataset: import it as a monitoring batch, score it, and
    /// report data drift (Evidently's default tests), prediction drift and, with labels,
    /// performance against the rows the model was trained on. Without a batch, list the model's
    /// reports, with DDM and ADWIN over their labelled rows.
    ///
    /// Exits with status 3 when the batch's dataset drifts.
    Monitor {
        file: PathBuf,
        /// MODEL, MODEL:VERSION or MODEL@ALIAS.
        model: String,
        /// The new batch (CSV, with the dataset's columns; the label is optional).
        batch: Option<PathBuf>,
        /// The test for every column (TEST) or for one (COLUMN=TEST): ks, chisquare, z,
        /// wasserstein, jensenshannon or psi. Repeatable.
        #[arg(long = "test", value_name = "[COLUMN=]TEST")]
        tests: Vec<String>,
        /// The drift threshold for every column (X) or for one (COLUMN=X). Repeatable.
        #[arg(long = "threshold", value_name = "[COLUMN=]X")]
        thresholds: Vec<String>,
        /// The share of drifting columns at which the dataset drifts (default 0.5).
        #[arg(long)]
        drift_share: Option<f64>,
        /// Print JSON instead of a report.
        #[arg(long)]
        json: bool,
    },
    /// Retrain a model under a continuous-training policy: when a trigger fires (dataset
    /// drift, an accuracy drop, DDM or ADWIN, or --now), re-run the champion's search on the
    /// policy's data, compare the challenger with the champion on held-out rows of the newest
    /// labelled batch (McNemar), and promote it only when it is better and p is under α.
    /// With --list, show the model's earlier decisions instead.
    Retrain {
        file: PathBuf,
        model: String,
        /// The policy (TOML: [trigger], [data], [decision], [export]); default: every
        /// trigger, the training batch plus the newest labelled batch, α = 0.05.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Retrain whatever the triggers say.
        #[arg(long)]
        now: bool,
        /// Say what would happen, and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// List the recorded decisions instead.
        #[arg(long)]
        list: bool,
        /// Print JSON instead of a report.
        #[arg(long)]
        json: bool,
    },
    /// Replay a traffic CSV through two versions of a model, offline: shadow (both score every
    /// row, compared on the same rows) or A/B (each row goes to one, by a seeded hash of its
    /// key), with latency, throughput and a verdict. Exits with 3 when the verdict is to
    /// promote B and --promote was not given.
    Replay {
        file: PathBuf,
        #[arg(required_unless_present = "list")]
        traffic: Option<PathBuf>,
        /// The version in service: MODEL@ALIAS or MODEL:VERSION. Its alias moves on --promote.
        #[arg(long)]
        a: Option<String>,
        /// The candidate: MODEL@ALIAS or MODEL:VERSION.
        #[arg(long)]
        b: Option<String>,
        /// shadow or ab.
        #[arg(long, default_value = "shadow")]
        mode: ReplayMode,
        /// A/B: the share of rows sent to B.
        #[arg(long, default_value_t = 0.5)]
        split: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A/B: the column whose value assigns a row to an arm (default: the row number).
        #[arg(long)]
        key: Option<String>,
        /// The verdict's significance level.
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        /// Move A's alias (champion when A is named by number) to B if the verdict says so.
        #[arg(long)]
        promote: bool,
        /// List the model's replay reports instead (MODEL as --a).
        #[arg(long)]
        list: bool,
        /// Print JSON instead of a report.
        #[arg(long)]
        json: bool,
    },
    /// Copy everything still readable of a damaged project into a new project file, and say
    /// what was lost. The damaged file is only read.
    Repair {
        /// The damaged project.
        file: PathBuf,
        /// The new project file; it must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// The course lab in one command: import, grid search, evaluate, register, export.
    Lab {
        /// The project file (default: a new one under ~/.local/share/kiln/labs).
        file: Option<PathBuf>,
        /// The Triton repository folder (default: beside the project file).
        #[arg(long)]
        target: Option<PathBuf>,
        /// The drift demo instead, in a new project: train on the penguins of two islands,
        /// check the third island's penguins as a new batch (they drift), and let the default
        /// continuous-training policy decide on a retrain.
        #[arg(long, conflicts_with = "target")]
        drift: bool,
    },
    /// Sync with an MLflow tracking server: push runs and models, or pull an experiment's runs.
    #[command(subcommand)]
    Mlflow(MlflowCommand),
    /// Serve projects over HTTP: a JSON API, live events and the web dashboard.
    ///
    /// Loopback only by default. Any other address needs a token: Kiln makes one and prints it
    /// once, unless --token gives it. Writes (start and cancel studies, register, move aliases,
    /// export) need --allow-writes and the token.
    Serve {
        /// The project files to serve.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The address and port to listen on; 0.0.0.0:7860 serves every machine that can reach
        /// this one.
        #[arg(long, default_value = "127.0.0.1:7860")]
        bind: std::net::SocketAddr,
        /// The token clients send (at least 16 characters); made for you when needed.
        #[arg(long)]
        token: Option<String>,
        /// Let clients with the token start and cancel studies, register runs, move aliases and
        /// export. The projects' writer is then held by the server.
        #[arg(long)]
        allow_writes: bool,
        /// Where exports go: a Triton model repository (default: PROJECT-triton beside each
        /// project file).
        #[arg(long)]
        exports: Option<PathBuf>,
        /// Stop when standard input reaches its end: a program that starts kiln serve (Kiln
        /// Remote does) keeps a pipe open, and the server stops when that program goes.
        #[arg(long)]
        stop_on_eof: bool,
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

#[derive(Debug, Subcommand)]
enum MlflowCommand {
    /// Push runs (each study as a parent run with its trials as children), and with --models
    /// the registered versions and their aliases. Pushing again sends only what is missing.
    Push {
        file: PathBuf,
        /// The tracking server, such as http://127.0.0.1:5000 (default: the last one used).
        #[arg(long)]
        to: Option<String>,
        /// The experiment on the server (default: the last one used, else the project's name).
        #[arg(long)]
        experiment: Option<String>,
        /// Which runs: all, study:N, or ids and ranges such as 3,5,7-9.
        #[arg(long, default_value = "all")]
        runs: kiln_core::mlflow::RunSelection,
        /// Also the registered versions of those runs: ONNX model, pipeline.json, aliases.
        #[arg(long)]
        models: bool,
        /// Say what would be created, and create nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Pull an experiment's runs in, as read-only runs marked with their server.
    Pull {
        file: PathBuf,
        /// The tracking server (default: the last one used).
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        experiment: String,
        #[arg(long)]
        json: bool,
    },
}

impl Command {
    /// Whether the command writes as one transaction (or one file), so that stopping it at
    /// once on Ctrl-C is safe. Training commands cancel cleanly instead; reading commands keep
    /// the default action.
    fn writes_at_once(&self) -> bool {
        matches!(
            self,
            Command::New { .. }
                | Command::Import { .. }
                | Command::Register { .. }
                | Command::Alias { .. }
                | Command::Evaluate { .. }
                | Command::Export { .. }
                | Command::Predict { .. }
                | Command::Check { .. }
                | Command::Monitor { .. }
                | Command::Repair { .. }
        )
    }
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
    if let Some(command) = &cli.command
        && command.writes_at_once()
    {
        signals::install(signals::OnInterrupt::Exit);
    }
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
        Some(Command::Train {
            file,
            dataset,
            model,
            space,
            strategy,
            parallel,
            device,
            max_trials,
            timings,
        }) => {
            let space_file = space;
            let space = match &space_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| crate::format::io_error(&path, &e))?;
                    SearchSpace::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => SearchSpace::default(),
            };
            let request = StudyRequest {
                dataset,
                family: model,
                strategy,
                space,
                parallel,
                device,
                max_trials,
            };
            return train::train(&file, request, space_file.as_deref(), timings);
        }
        Some(Command::Resume { file, study }) => return train::resume(&file, study),
        Some(Command::Register {
            file,
            run,
            model,
            alias,
        }) => models::register(&file, run, &model, alias.as_deref())?,
        Some(Command::Alias {
            file,
            model,
            alias,
            version,
        }) => models::alias(&file, &model, &alias, version)?,
        Some(Command::Models { file, model, card }) => {
            models::models(&file, model.as_deref(), card)?
        }
        Some(Command::Evaluate {
            file,
            model,
            sensitive,
            positive,
            behaviour,
            json,
        }) => models::evaluate(&file, &model, sensitive, positive, behaviour, json)?,
        Some(Command::Export {
            file,
            models,
            target,
            max_batch_size,
            instance,
            count,
            preferred,
            queue_delay_us,
            versions,
            input,
        }) => models::export(
            &file,
            &models,
            &target,
            TritonOptions {
                max_batch_size,
                max_queue_delay_microseconds: queue_delay_us,
                preferred_batch_sizes: preferred,
                instance_kind: instance,
                instance_count: count,
                version_policy: versions.0,
                input,
            },
        )?,
        Some(Command::Predict {
            file,
            model,
            input,
            out,
            force,
        }) => {
            return models::predict(&file, &model, &input, out.as_deref(), force);
        }
        Some(Command::Lab {
            file, drift: true, ..
        }) => return monitor::drift_demo(file),
        Some(Command::Lab { file, target, .. }) => return models::lab(file, target),
        Some(Command::Repair { file, out }) => return repair(&file, &out),
        Some(Command::Serve {
            files,
            bind,
            token,
            allow_writes,
            exports,
            stop_on_eof,
        }) => return serve::serve(files, bind, token, allow_writes, exports, stop_on_eof),
        Some(Command::Check {
            file,
            dataset,
            rules,
            json,
        }) => {
            return data::check(&file, &dataset, rules.as_deref(), json);
        }
        Some(Command::Monitor {
            file,
            model,
            batch,
            tests,
            thresholds,
            drift_share,
            json,
        }) => {
            let options = monitor::options(&tests, &thresholds, drift_share)?;
            return match batch {
                Some(batch) => monitor::monitor(&file, &model, &batch, options, json),
                None => monitor::history(&file, &model, json),
            };
        }
        Some(Command::Replay {
            file,
            traffic,
            a,
            b,
            mode,
            split,
            seed,
            key,
            alpha,
            promote,
            list,
            json,
        }) => {
            return deploy::replay(
                &file,
                traffic.as_deref(),
                deploy::ReplayArgs {
                    a,
                    b,
                    mode,
                    split,
                    seed,
                    key,
                    alpha,
                    promote,
                    list,
                    json,
                },
            );
        }
        Some(Command::Retrain {
            file,
            model,
            policy,
            now,
            dry_run,
            list,
            json,
        }) => {
            if list {
                return monitor::decisions(&file, &model, json);
            }
            return monitor::retrain(&file, &model, policy.as_deref(), now, dry_run, json);
        }
        Some(Command::Mlflow(MlflowCommand::Push {
            file,
            to,
            experiment,
            runs,
            models,
            dry_run,
            json,
        })) => {
            let (url, remembered) = server(&file, to, "--to")?;
            let request = kiln_core::mlflow::PushRequest {
                url,
                experiment: experiment.or(remembered),
                runs,
                models,
                dry_run,
            };
            return mlflow::push(&file, request, json);
        }
        Some(Command::Mlflow(MlflowCommand::Pull {
            file,
            from,
            experiment,
            json,
        })) => {
            let (url, _) = server(&file, from, "--from")?;
            let request = kiln_core::mlflow::PullRequest { url, experiment };
            return mlflow::pull(&file, request, json);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The server a sync command names, or the one the project remembers, with the remembered
/// experiment.
fn server(
    file: &std::path::Path,
    given: Option<String>,
    flag: &str,
) -> Result<(String, Option<String>), String> {
    // A file of an older format cannot be read without a writer's upgrade; it has synced with
    // no server yet either way.
    let (url, experiment) = crate::project::open_read_only(file)
        .and_then(|p| p.mlflow_remembered().map_err(|e| e.to_string()))
        .unwrap_or((None, None));
    match given.or(url) {
        Some(url) => Ok((url, experiment)),
        None => Err(format!(
            "{} has not synced with an MLflow server yet: name one, as in {flag} http://127.0.0.1:5000",
            file.display()
        )),
    }
}

fn parse_kind(arg: &str) -> Result<(String, ColumnKind), String> {
    let (column, kind) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected COLUMN=TYPE, got {arg:?}"))?;
    Ok((column.trim().to_owned(), kind.parse()?))
}

fn new(file: PathBuf, name: Option<String>) -> Result<(), String> {
    let name = name.unwrap_or_else(|| kiln_core::service::project_name(&file));
    Project::create(&file, &name).map_err(|e| e.to_string())?;
    println!("created project {name:?} in {}", file.display());
    Ok(())
}

fn info(file: PathBuf, json: bool) -> Result<(), String> {
    let project = crate::project::open_read_only(&file)?;
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
        kiln_core::format_utc(i.created_at),
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
    let project = crate::project::open_read_only(&file)?;
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
                match &r.origin {
                    Some(_) => format!("{} (pulled)", r.name),
                    None => r.name.clone(),
                },
                r.experiment.clone(),
                r.study.clone().unwrap_or_else(|| "-".into()),
                r.status.to_string(),
                kiln_core::format_utc(r.start_time),
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

fn repair(file: &std::path::Path, out: &std::path::Path) -> Result<ExitCode, String> {
    let report = kiln_core::store::repair(file, out).map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = report
        .tables
        .iter()
        .filter(|t| t.recovered > 0 || t.lost > 0 || t.unreadable_after.is_some())
        .map(|t| {
            vec![
                format!("  {}", t.table),
                t.recovered.to_string(),
                t.lost.to_string(),
            ]
        })
        .collect();
    println!(
        "repaired {} into {}",
        report.source.display(),
        report.out.display()
    );
    print!("{}", format_table(&["  TABLE", "RECOVERED", "LOST"], &rows));
    for t in &report.tables {
        if let Some(key) = t.unreadable_after {
            println!(
                "{}: nothing could be read from key {key} on; how many rows were there is unknown",
                t.table
            );
        }
    }
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    println!(
        "runs that could not be read, or lost their model: {}",
        list(report.lost_runs.iter().map(i64::to_string).collect())
    );
    println!(
        "model versions that could not be read, or lost their weights: {}",
        list(report.lost_models.clone())
    );
    if report.lost_anything() {
        println!(
            "{} was not changed; check the new project, then use it in its place",
            report.source.display()
        );
        Ok(ExitCode::from(REPAIR_LOST))
    } else {
        println!("nothing was lost");
        Ok(ExitCode::SUCCESS)
    }
}

/// The exit status of a repair that could not recover everything.
const REPAIR_LOST: u8 = 3;

/// `--versions`: N (the newest N), `all`, or a list of version numbers.
#[derive(Debug, Clone)]
pub struct VersionPolicyArg(pub VersionPolicy);

impl std::str::FromStr for VersionPolicyArg {
    type Err = String;

    fn from_str(s: &str) -> Result<VersionPolicyArg, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(VersionPolicyArg(VersionPolicy::All));
        }
        let numbers: Vec<u32> = s
            .split(',')
            .map(|n| {
                n.trim().parse().map_err(|_| {
                    format!(
                        "{n:?} is not a version: use N (the newest N), all, or a list such as 1,3"
                    )
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(VersionPolicyArg(match numbers[..] {
            [n] if !s.contains(',') => VersionPolicy::Latest(n),
            _ => VersionPolicy::Specific(numbers),
        }))
    }
}
