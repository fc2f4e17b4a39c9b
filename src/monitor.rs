//! Monitoring on the command line: a new batch checked for drift and performance, and the
//! reports of a model version over its batches.

use std::path::Path;
use std::process::ExitCode;

use kiln_core::monitor::retrain::{Policy, RetrainReport, RetrainRequest};
use kiln_core::monitor::{ColumnDrift, DriftOptions, MonitorHistory, MonitorReport, StatTest};
use kiln_core::registry::VersionSelector;
use kiln_core::service::{Operation, Outcome};

use crate::format::format_table;
use crate::project::{open_read_only, run_here, unexpected};

/// The exit status when the batch's dataset drifts.
const DATASET_DRIFTS: u8 = 3;

/// The drift options from `--test`, `--threshold` and `--drift-share`.
pub fn options(
    tests: &[String],
    thresholds: &[String],
    drift_share: Option<f64>,
) -> Result<DriftOptions, String> {
    let mut options = DriftOptions {
        drift_share,
        ..Default::default()
    };
    let test = |name: &str| {
        StatTest::parse(name.trim()).ok_or_else(|| {
            format!(
                "--test {name:?}: unknown test; use one of {}",
                StatTest::ALL.map(StatTest::name).join(", ")
            )
        })
    };
    for t in tests {
        match t.split_once('=') {
            Some((column, name)) => {
                options.tests.insert(column.trim().to_owned(), test(name)?);
            }
            None => options.test = Some(test(t)?),
        }
    }
    let number = |text: &str| {
        text.trim()
            .parse::<f64>()
            .map_err(|_| format!("--threshold {text:?}: not a number"))
    };
    for t in thresholds {
        match t.split_once('=') {
            Some((column, x)) => {
                options
                    .thresholds
                    .insert(column.trim().to_owned(), number(x)?);
            }
            None => options.threshold = Some(number(t)?),
        }
    }
    options.validate()?;
    Ok(options)
}

pub fn monitor(
    file: &Path,
    reference: &str,
    batch: &Path,
    options: DriftOptions,
    json: bool,
) -> Result<ExitCode, String> {
    let (model, selector) = VersionSelector::parse(reference)?;
    let operation = Operation::Monitor {
        model,
        selector,
        path: batch.to_owned(),
        options,
    };
    let report = match run_here(file, operation)? {
        Outcome::Monitored(report) => report,
        other => return Err(unexpected("the monitoring", &other)),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", format_report(&report));
    }
    Ok(if report.drift.drifted {
        ExitCode::from(DATASET_DRIFTS)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn history(file: &Path, reference: &str, json: bool) -> Result<ExitCode, String> {
    let (model, selector) = VersionSelector::parse(reference)?;
    let project = open_read_only(file)?;
    let history = project
        .monitoring(&model, &selector)
        .map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&history).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", format_history(&history));
    }
    Ok(ExitCode::SUCCESS)
}

fn drift_word(drifted: bool) -> &'static str {
    if drifted { "DRIFT" } else { "ok" }
}

fn value(d: &ColumnDrift) -> String {
    match (d.test.is_p_value(), d.value) {
        (true, 0.0) => "p = 0".into(),
        (true, p) if p < 1e-3 => format!("p = {p:.2e}"),
        (true, p) => format!("p = {p:.4}"),
        (false, v) => format!("{v:.4}"),
    }
}

pub fn format_report(r: &MonitorReport) -> String {
    let mut out = format!(
        "{} v{} on batch {} of {} ({}): {} rows, {} scored, {} refused{}\n",
        r.model,
        r.version,
        r.batch,
        r.dataset,
        r.source,
        r.rows,
        r.scored_rows,
        r.refused_rows,
        if r.already_imported {
            " (already imported: only the report is new)"
        } else {
            ""
        }
    );
    out.push_str(&format!(
        "Reference: the model's {} training rows\n\n",
        r.reference_rows
    ));
    out.push_str(&format!(
        "Data drift: {} of {} columns drift (share {:.2}, the dataset drifts at {:.2}): {}\n",
        r.drift.drifted_columns,
        r.drift.columns,
        r.drift.share,
        r.drift.drift_share,
        if r.drift.drifted {
            "the dataset DRIFTS"
        } else {
            "no dataset drift"
        }
    ));
    let rows: Vec<Vec<String>> = r
        .columns
        .iter()
        .map(|d| {
            vec![
                d.column.clone(),
                d.kind.clone(),
                d.test.name().to_owned(),
                value(d),
                format!("{}", d.threshold),
                drift_word(d.drifted).to_owned(),
            ]
        })
        .collect();
    out.push_str(&format_table(
        &["column", "kind", "test", "value", "threshold", "drift"],
        &rows,
    ));
    for u in &r.untested {
        out.push_str(&format!("Not tested: {u}\n"));
    }
    for t in &r.text {
        out.push_str(&format!(
            "Text {}: {:.1}% of terms outside the vocabulary (reference {:.1}%)",
            t.column,
            100.0 * t.current_out_of_vocabulary,
            100.0 * t.reference_out_of_vocabulary
        ));
        if let Some(l) = &t.length {
            out.push_str(&format!(
                "; terms per document: {} {} ({})",
                l.test,
                value(l),
                drift_word(l.drifted)
            ));
        }
        out.push('\n');
    }
    if let Some(p) = &r.prediction {
        out.push_str(&format!(
            "Prediction drift: {} {} (threshold {}): {}\n",
            p.test,
            value(p),
            p.threshold,
            drift_word(p.drifted)
        ));
    }
    out.push('\n');
    match &r.performance {
        Some(p) => {
            let test = |v: Option<f64>| v.map_or(String::new(), |v| format!(" (test {v:.4})"));
            out.push_str(&format!(
                "Performance on {} labelled rows: accuracy {:.4}{}, macro-F1 {:.4}{}\n",
                p.labelled_rows,
                p.accuracy,
                test(p.test_accuracy),
                p.macro_f1,
                test(p.test_macro_f1)
            ));
            for (class, n) in &p.unseen_classes {
                out.push_str(&format!(
                    "Label {class:?} is a class the model never saw: {n} rows, each an error\n"
                ));
            }
        }
        None if r.scored_rows == 0 => {
            out.push_str("No row could be scored: there is no performance to report.\n")
        }
        None => out.push_str("No labels in this batch: performance is estimated below.\n"),
    }
    let e = &r.estimate;
    if let Some(estimated) = e.estimated_accuracy {
        out.push_str(&format!(
            "Estimated accuracy (mean top probability, as CBPE): {estimated:.4}"
        ));
        if let (Some(est), Some(real)) = (e.reference_estimated_accuracy, e.reference_accuracy) {
            out.push_str(&format!(
                "; on the test rows it estimated {est:.4} against a real {real:.4}"
            ));
        }
        if let Some(ece) = e.calibration_error {
            out.push_str(&format!(" (calibration error {ece:.4})"));
        }
        out.push_str(".\nThe estimate is only as good as the model's calibration.\n");
    }
    if r.refused_rows > 0 {
        out.push_str(&format!(
            "\n{} rows were refused and not scored:\n",
            r.refused_rows
        ));
        for (line, why) in &r.refusals {
            out.push_str(&format!("  line {line}: {why}\n"));
        }
    }
    for f in &r.failed_checks {
        out.push_str(&format!("Check failed: {f}\n"));
    }
    out
}

pub fn format_history(h: &MonitorHistory) -> String {
    if h.reports.is_empty() {
        return format!(
            "{} v{} has no monitoring reports yet: run `kiln monitor FILE {} BATCH.csv`\n",
            h.model, h.version, h.model
        );
    }
    let rows: Vec<Vec<String>> = h
        .reports
        .iter()
        .map(|r| {
            vec![
                r.batch.to_string(),
                r.source.clone(),
                r.rows.to_string(),
                format!("{}/{}", r.drift.drifted_columns, r.drift.columns),
                drift_word(r.drift.drifted).to_owned(),
                r.performance
                    .as_ref()
                    .map_or("-".into(), |p| format!("{:.4}", p.accuracy)),
                r.estimate
                    .estimated_accuracy
                    .map_or("-".into(), |a| format!("{a:.4}")),
            ]
        })
        .collect();
    let mut out = format!("{} v{}: {} reports\n", h.model, h.version, h.reports.len());
    out.push_str(&format_table(
        &[
            "batch",
            "source",
            "rows",
            "drifting columns",
            "dataset",
            "accuracy",
            "estimated",
        ],
        &rows,
    ));
    for (name, flags) in [("DDM", &h.ddm), ("ADWIN", &h.adwin)] {
        if flags.is_empty() {
            out.push_str(&format!(
                "{name}: no concept drift over the labelled rows\n"
            ));
            continue;
        }
        let said: Vec<String> = flags
            .iter()
            .map(|f| {
                let rows = if f.rows > 1 {
                    format!(" for {} rows", f.rows)
                } else {
                    String::new()
                };
                format!(
                    "{} at batch {} row {}{rows}",
                    f.kind, h.reports[f.report].batch, f.row_in_batch
                )
            })
            .collect();
        out.push_str(&format!("{name}: {}\n", said.join("; ")));
    }
    out
}

pub fn retrain(
    file: &Path,
    model: &str,
    policy: Option<&Path>,
    now: bool,
    dry_run: bool,
    json: bool,
) -> Result<ExitCode, String> {
    let policy = match policy {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| crate::format::io_error(&path, &e))?;
            Policy::from_toml(&text, path)?
        }
        None => Policy::default(),
    };
    let request = RetrainRequest {
        model: model.to_owned(),
        policy,
        by_hand: now,
        dry_run,
    };
    // Ctrl-C cancels the search at its next batch; nothing is decided then.
    let options = kiln_core::train::TrainOptions::default();
    crate::signals::install(crate::signals::OnInterrupt::Cancel(options.cancel.clone()));
    let mut project = if dry_run {
        open_read_only(file)?
    } else {
        crate::project::open(file)?
    };
    let report = match Operation::Retrain(Box::new(request)).run(&mut project, &options) {
        Ok(Outcome::Retrained(report)) => report,
        Ok(other) => return Err(unexpected("the retrain", &other)),
        Err(kiln_core::Error::Train(kiln_core::train::TrainError::Cancelled)) => {
            println!("retrain cancelled: nothing was decided, and {model}@champion is as it was");
            return Ok(ExitCode::from(crate::signals::INTERRUPTED));
        }
        Err(e) => return Err(e.to_string()),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", format_decision(&report));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn decisions(file: &Path, model: &str, json: bool) -> Result<ExitCode, String> {
    let project = open_read_only(file)?;
    let decisions = project
        .retrain_decisions(model)
        .map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&decisions).map_err(|e| e.to_string())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if decisions.is_empty() {
        println!("{model} has no retrain decisions yet: run `kiln retrain FILE {model}`");
    }
    for d in &decisions {
        println!("{}", format_decision(d));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn format_decision(r: &RetrainReport) -> String {
    let mut out = format!(
        "{}{} (champion v{}): {}\n",
        if r.id > 0 {
            format!("Decision {} on ", r.id)
        } else {
            String::new()
        },
        r.model,
        r.champion,
        r.decision.as_str().to_uppercase()
    );
    if r.triggers.is_empty() {
        out.push_str("Triggers: none fired\n");
    } else {
        out.push_str(&format!("Triggers: {}\n", r.triggers.join("; ")));
    }
    if !r.batches.is_empty() {
        out.push_str(&format!(
            "Data: {}{} labelled monitoring batch(es) {}: {} rows\n",
            if r.with_training_batch {
                "the training batch and "
            } else {
                ""
            },
            r.batches.len(),
            r.batches
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            r.training_rows
        ));
    }
    if let (Some(dataset), Some(study)) = (&r.dataset, r.study) {
        out.push_str(&format!(
            "Study {study} ({} trial(s), the champion's search) on dataset {dataset}\n",
            r.trials
        ));
    }
    if let Some(c) = &r.comparison {
        out.push_str(&format!(
            "Compared on {} held-out rows of batch {}: champion {:.4}, challenger v{} {:.4}\n",
            c.rows,
            c.batch,
            c.champion_accuracy,
            r.challenger.map_or("?".into(), |v| v.to_string()),
            c.challenger_accuracy
        ));
        out.push_str(&format!(
            "McNemar: {} rows only the champion got right, {} only the challenger; exact p = {:.4}, mid-p = {:.4}, α = {}\n",
            c.only_champion, c.only_challenger, c.p_exact, c.p_mid, c.alpha
        ));
    }
    out.push_str(&format!("Why: {}\n", r.reason));
    if let Some(dir) = &r.exported {
        out.push_str(&format!("Exported to {}\n", dir.display()));
    }
    if let Some(e) = &r.export_error {
        out.push_str(&format!("The export failed: {e}\n"));
    }
    out
}

/// `kiln lab --drift`: the drift demo in a new project.
pub fn drift_demo(file: Option<std::path::PathBuf>) -> Result<ExitCode, String> {
    let options = kiln_core::train::TrainOptions::default();
    crate::signals::install(crate::signals::OnInterrupt::Cancel(options.cancel.clone()));
    let file = match file {
        Some(f) => f,
        None => kiln_core::lab::new_lab_file("drift").map_err(|e| e.to_string())?,
    };
    let mut project = kiln_core::Project::create(&file, "drift-demo").map_err(|e| e.to_string())?;
    println!("drift demo project: {}", file.display());
    let report = match kiln_core::lab::run_drift_demo(&mut project, &options) {
        Ok(report) => report,
        Err(kiln_core::Error::Train(kiln_core::train::TrainError::Cancelled)) => {
            println!(
                "drift demo cancelled: what it finished is kept in {}",
                file.display()
            );
            return Ok(ExitCode::from(crate::signals::INTERRUPTED));
        }
        Err(e) => return Err(e.to_string()),
    };
    let m = &report.monitoring;
    println!(
        "1. imported the penguins of Biscoe and Dream ({} rows) as the training batch",
        report.training_rows
    );
    println!(
        "2. trained {} logistic regressions (study {}) and registered the best as {}@champion (version {})",
        report.study.trials,
        report.study.study,
        kiln_core::lab::LAB_MODEL,
        report.model_version
    );
    println!(
        "3. checked the {} penguins of {} as a new batch: {} of {} columns drift{}",
        m.rows,
        kiln_core::lab::DRIFT_ISLAND,
        m.drift.drifted_columns,
        m.drift.columns,
        if m.drift.drifted {
            ", so the dataset drifts"
        } else {
            ""
        }
    );
    println!(
        "4. retrain decision: {}: {}",
        report.retrain.decision.as_str(),
        report.retrain.reason
    );
    println!("done in {:.1} s\n", report.seconds);
    print!("{}", format_report(m));
    println!();
    print!("{}", format_decision(&report.retrain));
    println!(
        "\nOpen it in the window (kiln {}) and choose Monitor.",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}
