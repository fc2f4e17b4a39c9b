//! Registry, evaluation, export, scoring and the lab, on the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_core::data::parse_csv;
use kiln_core::eval::{BehaviourSpec, EvaluateOptions, ModelEvaluation};
use kiln_core::export::{ExportOutcome, TritonOptions};
use kiln_core::output::OutputFile;
use kiln_core::registry::VersionSelector;
use kiln_core::service::{Operation, Outcome};
use kiln_core::train::TrainOptions;
use kiln_core::{Project, RunId};

use crate::format::format_table;
use crate::project::{open, open_read_only, run_here, unexpected};

/// The exit status when some rows could not be scored.
const ROWS_FAILED: u8 = 3;

pub fn register(file: &Path, run: i64, model: &str, alias: Option<&str>) -> Result<(), String> {
    let operation = Operation::Register {
        model: model.to_owned(),
        run: RunId(run),
        alias: alias.map(str::to_owned),
    };
    let version = match run_here(file, operation)? {
        Outcome::Registered(version) => version,
        other => return Err(unexpected("the registration", &other)),
    };
    let alias = alias.map(|a| format!(" as @{a}")).unwrap_or_default();
    println!(
        "registered run {run} as {model} version {}{alias}",
        version.version
    );
    Ok(())
}

pub fn alias(file: &Path, model: &str, alias: &str, version: u32) -> Result<(), String> {
    let operation = Operation::SetAlias {
        model: model.to_owned(),
        alias: alias.to_owned(),
        version,
    };
    run_here(file, operation)?;
    println!("{model}@{alias} now points at version {version}");
    Ok(())
}

pub fn models(file: &Path, model: Option<&str>, card: bool) -> Result<(), String> {
    let project = open_read_only(file)?;
    let names = match model {
        Some(m) => vec![m.to_owned()],
        None => project.registered_models().map_err(|e| e.to_string())?,
    };
    if names.is_empty() {
        println!(
            "no registered models yet in {}; register a run with `kiln register`",
            file.display()
        );
        return Ok(());
    }
    let mut rows = Vec::new();
    for name in &names {
        for v in project.model_versions(name).map_err(|e| e.to_string())? {
            if card {
                println!("{}", v.card);
                continue;
            }
            rows.push(vec![
                name.clone(),
                v.version.to_string(),
                v.aliases
                    .iter()
                    .map(|a| format!("@{a}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                v.run.to_string(),
                v.lineage.dataset.clone().unwrap_or_default(),
                v.lineage.device.clone().unwrap_or_default(),
                kiln_core::format_utc(v.created_at),
            ]);
        }
    }
    if !card {
        print!(
            "{}",
            format_table(
                &[
                    "MODEL",
                    "VERSION",
                    "ALIASES",
                    "RUN",
                    "DATASET",
                    "DEVICE",
                    "REGISTERED"
                ],
                &rows
            )
        );
    }
    Ok(())
}

pub fn evaluate(
    file: &Path,
    reference: &str,
    sensitive: Option<String>,
    positive: Option<String>,
    behaviour: Option<PathBuf>,
    json: bool,
) -> Result<(), String> {
    let (model, sel) = VersionSelector::parse(reference)?;
    let behaviour = match behaviour {
        Some(path) => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| crate::format::io_error(&path, &e))?;
            Some(BehaviourSpec::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let operation = Operation::Evaluate {
        model,
        selector: sel,
        options: EvaluateOptions {
            sensitive,
            positive,
            behaviour,
        },
    };
    let evaluation = match run_here(file, operation)? {
        Outcome::Evaluated(evaluation) => evaluation,
        other => return Err(unexpected("the evaluation", &other)),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&evaluation).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", format_evaluation(&evaluation));
    }
    Ok(())
}

pub fn format_evaluation(e: &ModelEvaluation) -> String {
    let m = &e.metrics;
    let auc = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    let mut out = format!(
        "{} version {} (run {}) on {} held-out rows: accuracy {:.4}, macro-F1 {:.4}, micro-F1 {:.4}, weighted-F1 {:.4}, ROC-AUC {}, PR-AUC {}\n",
        e.model,
        e.version,
        e.run,
        m.rows,
        m.accuracy,
        m.macro_f1,
        m.micro_f1,
        m.weighted_f1,
        auc(m.roc_auc),
        auc(m.pr_auc)
    );
    let rows: Vec<Vec<String>> = m
        .per_class
        .iter()
        .map(|c| {
            vec![
                format!("  {}", c.class),
                format!("{:.4}", c.precision),
                format!("{:.4}", c.recall),
                format!("{:.4}", c.f1),
                c.support.to_string(),
            ]
        })
        .collect();
    out.push_str(&format_table(
        &["  CLASS", "PRECISION", "RECALL", "F1", "SUPPORT"],
        &rows,
    ));
    out.push_str("confusion (rows: true, columns: predicted)\n");
    for (class, row) in m.classes.iter().zip(&m.confusion) {
        let cells: Vec<String> = row.iter().map(|n| format!("{n:>5}")).collect();
        out.push_str(&format!("  {class:<12}{}\n", cells.join("")));
    }
    if let Some(f) = &e.fairness {
        out.push_str(&format!(
            "fairness by {} (favourable: {}): demographic-parity difference {:.4}, ratio {:.4}, equalized-odds difference {}\n",
            f.column, f.positive, f.demographic_parity_difference, f.demographic_parity_ratio, auc(f.equalized_odds_difference)
        ));
        for g in &f.groups {
            out.push_str(&format!(
                "  {:<12} n={:<4} accuracy {:.4}  selection rate {:.4}\n",
                g.group, g.count, g.accuracy, g.selection_rate
            ));
        }
    }
    for b in &e.behaviour {
        out.push_str(&format!(
            "{} \"{}\": {}/{} passed ({:.1}%)\n",
            b.kind,
            b.description,
            b.passed,
            b.tested,
            b.pass_rate * 100.0
        ));
        for f in &b.failures {
            out.push_str(&format!("  row {}: {} -> {}\n", f.row, f.before, f.after));
        }
    }
    out
}

pub fn export(
    file: &Path,
    references: &[String],
    target: &Path,
    options: TritonOptions,
) -> Result<(), String> {
    let mut model = String::new();
    let mut selectors = Vec::new();
    for reference in references {
        let (name, sel) = VersionSelector::parse(reference)?;
        if !model.is_empty() && name != model {
            return Err(format!(
                "{reference}: the versions served side by side must be of one model ({model}); export {name} separately"
            ));
        }
        model = name;
        selectors.push(sel);
    }
    let operation = match <[VersionSelector; 1]>::try_from(selectors) {
        Ok([selector]) => Operation::Export {
            model,
            selector,
            target: target.to_owned(),
            options,
        },
        Err(selectors) => Operation::ExportVersions {
            model,
            selectors,
            target: target.to_owned(),
            options,
        },
    };
    match run_here(file, operation)? {
        Outcome::Exported(outcome) => print!("{}", format_export(&outcome)),
        Outcome::ExportedVersions(outcomes) => {
            for outcome in &outcomes {
                print!("{}", format_export(outcome));
            }
            let versions: Vec<String> = outcomes
                .iter()
                .map(|o| o.triton_version.to_string())
                .collect();
            println!(
                "Triton serves versions {} of {} side by side: /v2/models/{}/versions/N/infer",
                versions.join(" and "),
                outcomes[0].model,
                outcomes[0].model
            );
        }
        other => return Err(unexpected("the export", &other)),
    }
    Ok(())
}

pub fn format_export(o: &ExportOutcome) -> String {
    use kiln_core::export::InputForm;
    let raw = o.input_form == InputForm::RawRows;
    let mut out = format!(
        "exported {} version {} to {} (Triton version {})\n  parity in tract on {} {}: {} {} mismatches, max |difference| {:.2e}\n",
        o.model,
        o.model_version,
        o.version_dir.display(),
        o.triton_version,
        o.parity.rows,
        if raw {
            "held-out rows read raw"
        } else {
            "test rows"
        },
        o.parity.argmax_mismatches,
        if raw { "label" } else { "argmax" },
        o.parity.max_abs_diff,
    );
    let describe = |tensors: &[kiln_core::export::GraphTensor]| {
        tensors
            .iter()
            .map(|t| format!("{} ({}, {:?})", t.name, t.elem_type.to_lowercase(), t.dims))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let form = match o.input_form {
        InputForm::RawRows => "one per column",
        InputForm::RawNumeric => "raw numbers: standardisation folded into the first layer",
        InputForm::Features => "pipeline features: apply pipeline.json first",
    };
    out.push_str(&format!(
        "  inputs, {form}: {}\n  outputs: {}\n",
        describe(&o.inputs),
        describe(&o.outputs)
    ));
    if let Some(why) = &o.raw_refused {
        out.push_str(&format!("  not the raw-rows form: {why}\n"));
    }
    out
}

pub fn predict(
    file: &Path,
    reference: &str,
    input: &Path,
    out: Option<&Path>,
    force: bool,
) -> Result<ExitCode, String> {
    let (model, sel) = VersionSelector::parse(reference)?;
    // The output is checked before any work: never the project, never the input.
    let output = out
        .map(|path| OutputFile::create(path, force, &[file, input]).map_err(|e| e.to_string()))
        .transpose()?;
    let project = open_read_only(file)?;
    let bytes = std::fs::read(input).map_err(|e| crate::format::io_error(&input, &e))?;
    let (table, _) = parse_csv(&bytes, input, None).map_err(|e| e.to_string())?;
    let scoring = project
        .score(&model, &sel, &table, input)
        .map_err(|e| e.to_string())?;
    for row in &scoring.rows {
        if let Some(why) = &row.error {
            eprintln!("{}: line {}: not scored: {why}", input.display(), row.line);
        }
    }
    match output {
        Some(output) => {
            let to = out.unwrap_or(Path::new("the output"));
            let output = write_predictions(output, to, &scoring)?;
            output.commit().map_err(|e| e.to_string())?;
        }
        None => {
            let to = Path::new("standard output");
            let mut sink = write_predictions(std::io::stdout().lock(), to, &scoring)?;
            std::io::Write::flush(&mut sink).map_err(|e| crate::format::io_error(&to, &e))?;
        }
    }
    let failed = scoring.failed();
    eprintln!(
        "scored {} of {} rows with {model} version {}",
        scoring.rows.len() - failed,
        scoring.rows.len(),
        scoring.version
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(ROWS_FAILED)
    })
}

/// Writes one CSV row per scored row to `sink` (named `to` in errors), and hands the sink back.
fn write_predictions<W: std::io::Write>(
    sink: W,
    to: &Path,
    scoring: &kiln_core::score::Scoring,
) -> Result<W, String> {
    // A write that fails is an I/O error of the output: name it, and say what to do.
    let failed = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(io) => crate::format::io_error(&to, &io),
        other => format!("{}: {other:?}", to.display()),
    };
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(sink);
    let mut header = vec!["line".to_string(), "prediction".to_string()];
    header.extend(scoring.classes.iter().map(|c| format!("p_{c}")));
    header.push("error".into());
    writer.write_record(&header).map_err(failed)?;
    for row in &scoring.rows {
        let mut cells = vec![
            row.line.to_string(),
            row.prediction.clone().unwrap_or_default(),
        ];
        if row.probabilities.is_empty() {
            cells.extend(scoring.classes.iter().map(|_| String::new()));
        } else {
            cells.extend(row.probabilities.iter().map(|v| format!("{v:.6}")));
        }
        cells.push(row.error.clone().unwrap_or_default());
        writer.write_record(&cells).map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| crate::format::io_error(&to, e.error()))
}

pub fn lab(file: Option<PathBuf>, target: Option<PathBuf>) -> Result<ExitCode, String> {
    // From the start: a Ctrl-C while the project is made or the data imported still cancels
    // the lab cleanly, at its first batch.
    let options = TrainOptions::default();
    crate::signals::install(crate::signals::OnInterrupt::Cancel(options.cancel.clone()));
    let file = match file {
        Some(f) => f,
        None => default_lab_file()?,
    };
    let mut project = if file.exists() {
        open(&file)?
    } else {
        Project::create(&file, "lab").map_err(|e| e.to_string())?
    };
    let target = target.unwrap_or_else(|| kiln_core::lab::lab_target(&file));
    println!(
        "lab project: {}\nTriton repository: {}",
        file.display(),
        target.display()
    );
    let report = match kiln_core::lab::run_lab(&mut project, &target, &options) {
        Ok(report) => report,
        Err(kiln_core::Error::Train(kiln_core::train::TrainError::Cancelled)) => {
            println!(
                "lab cancelled: what it finished is kept in {}; run `kiln lab {}` again to start over",
                file.display(),
                file.display()
            );
            return Ok(ExitCode::from(crate::signals::INTERRUPTED));
        }
        Err(e) => return Err(e.to_string()),
    };
    let best = report.study.best.as_ref();
    println!("1. imported {} ({} rows)", report.dataset, report.rows);
    println!(
        "2. grid search: study {}, {} trials on {}; best trial {} (run {}), {} = {:.4}",
        report.study.study,
        report.study.trials,
        report.study.device,
        best.map_or(0, |b| b.trial + 1),
        best.map_or(0, |b| b.run.0),
        report.study.objective.key,
        best.map_or(0.0, |b| b.objective)
    );
    let m = &report.evaluation.metrics;
    println!(
        "3. evaluated on {} held-out rows: accuracy {:.4}, macro-F1 {:.4}",
        m.rows, m.accuracy, m.macro_f1
    );
    if let Some(f) = &report.evaluation.fairness {
        println!(
            "   fairness by {}: demographic-parity difference {:.4}",
            f.column, f.demographic_parity_difference
        );
    }
    println!(
        "4. registered as {}@champion (version {})",
        kiln_core::lab::LAB_MODEL,
        report.model_version
    );
    print!("5. {}", format_export(&report.export));
    println!("done in {:.1} s", report.seconds);
    Ok(ExitCode::SUCCESS)
}

/// `$XDG_DATA_HOME/kiln/labs/lab-N.kiln` (or under `~/.local/share`), the first N free.
fn default_lab_file() -> Result<PathBuf, String> {
    kiln_core::lab::new_lab_file("lab")
        .map_err(|e| crate::format::io_error(&kiln_core::lab::labs_dir(), &e))
}
