//! `kiln import`, `kiln datasets` and `kiln check`: data commands over `kiln-core`.

use std::path::Path;
use std::process::ExitCode;

use kiln_core::data::{CheckReport, DatasetSchema, ExpectationSuite, ImportOptions};
use kiln_core::service::{Operation, Outcome};

use crate::project::{open_read_only, run_here, unexpected};

use crate::format::format_table;

/// The exit status of a check that found failing rows.
const CHECK_FAILED: u8 = 3;

pub fn import(file: &Path, path: &Path, options: ImportOptions) -> Result<(), String> {
    let operation = Operation::Import {
        path: path.to_owned(),
        options,
    };
    let out = match run_here(file, operation)? {
        Outcome::Imported(out) => out,
        other => return Err(unexpected("the import", &other)),
    };
    let hash = &out.content_hash.as_str()[..12];
    if out.already_imported {
        println!(
            "{} already holds this data (dataset {:?}, batch {}, sha256 {hash}); nothing imported",
            file.display(),
            out.name,
            out.batch.0
        );
        return Ok(());
    }
    let what = if out.added_batch {
        "a new batch of"
    } else {
        "dataset"
    };
    println!(
        "imported {} as {what} {:?}: {} rows, {} columns (batch {}, sha256 {hash})",
        path.display(),
        out.name,
        out.schema.rows,
        out.schema.columns.len(),
        out.batch.0
    );
    print!("{}", format_schema(&out.schema));
    for notice in &out.notices {
        println!("note: {notice}");
    }
    if !out.check.results.is_empty() {
        print!("{}", format_report(&out.check));
    }
    Ok(())
}

pub fn datasets(file: &Path, json: bool) -> Result<(), String> {
    let project = open_read_only(file)?;
    let datasets = project.datasets().map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&datasets).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    if datasets.is_empty() {
        println!(
            "no datasets yet in {}; add one with `kiln import`",
            file.display()
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = datasets
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                d.rows.to_string(),
                d.columns.to_string(),
                d.label.clone().unwrap_or_else(|| "-".into()),
                d.batches.to_string(),
                kiln_core::format_utc(d.created_at),
                d.content_hash[..12].to_owned(),
                d.source.clone(),
            ]
        })
        .collect();
    let header = [
        "NAME", "ROWS", "COLUMNS", "LABEL", "BATCHES", "IMPORTED", "SHA256", "SOURCE",
    ];
    print!("{}", format_table(&header, &rows));
    Ok(())
}

pub fn check(
    file: &Path,
    dataset: &str,
    rules: Option<&Path>,
    json: bool,
) -> Result<ExitCode, String> {
    let suite = match rules {
        Some(rules) => {
            let text =
                std::fs::read_to_string(rules).map_err(|e| crate::format::io_error(&rules, &e))?;
            Some(
                ExpectationSuite::from_toml(&text)
                    .map_err(|e| format!("{}: {e}", rules.display()))?,
            )
        }
        None => None,
    };
    let operation = Operation::Check {
        dataset: dataset.to_owned(),
        suite,
    };
    let report = match run_here(file, operation)? {
        Outcome::Checked { report, .. } => report,
        other => return Err(unexpected("the check", &other)),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else if report.results.is_empty() {
        println!(
            "{dataset:?} has no expectations yet; declare them with `kiln check --rules rules.toml`"
        );
    } else {
        print!("{}", format_report(&report));
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(CHECK_FAILED)
    })
}

fn format_schema(schema: &DatasetSchema) -> String {
    let rows: Vec<Vec<String>> = schema
        .columns
        .iter()
        .map(|c| {
            let inferred = if c.kind == c.inferred {
                String::new()
            } else {
                format!("(inferred {})", c.inferred)
            };
            vec![
                format!("  {}", c.name),
                c.kind.to_string(),
                c.distinct.to_string(),
                c.missing.to_string(),
                inferred,
            ]
        })
        .collect();
    format_table(&["  COLUMN", "TYPE", "DISTINCT", "MISSING", ""], &rows)
}

fn format_report(report: &CheckReport) -> String {
    let failed = report.failures().count();
    let mut out = if failed == 0 {
        format!(
            "expectations: all {} passed on {} rows\n",
            report.results.len(),
            report.rows
        )
    } else {
        format!(
            "expectations: {failed} of {} failed on {} rows\n",
            report.results.len(),
            report.rows
        )
    };
    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .map(|r| {
            let rows_listed: Vec<String> =
                r.first_failing_rows.iter().map(usize::to_string).collect();
            let more = if r.failing > r.first_failing_rows.len() {
                ", ..."
            } else {
                ""
            };
            vec![
                format!("  {}", if r.passed() { "ok" } else { "FAIL" }),
                r.rule.clone(),
                r.column.clone(),
                if r.passed() {
                    String::new()
                } else {
                    format!("{} rows: {}{more}", r.failing, rows_listed.join(", "))
                },
            ]
        })
        .collect();
    out.push_str(&format_table(&["", "RULE", "COLUMN", "FAILING"], &rows));
    out
}
