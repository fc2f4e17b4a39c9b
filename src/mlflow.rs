//! `kiln mlflow push` and `kiln mlflow pull`: sync with an MLflow tracking server, with progress
//! on stderr.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kiln_core::events::{Event, EventSink};
use kiln_core::mlflow::{PullRequest, PushRequest};
use kiln_core::service::{Operation, Outcome};
use kiln_core::train::TrainOptions;

pub fn push(file: &Path, request: PushRequest, json: bool) -> Result<ExitCode, String> {
    let project = if request.dry_run {
        crate::project::open_read_only(file)?
    } else {
        crate::project::open(file)?
    };
    let report = match follow(project, Operation::PushMlflow(Box::new(request)))? {
        Outcome::Pushed(report) => report,
        other => return Err(crate::project::unexpected("the push", &other)),
    };
    print(serde_json::to_value(&*report), &report.summary(), json)?;
    Ok(if report.cancelled {
        ExitCode::from(crate::signals::INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn pull(file: &Path, request: PullRequest, json: bool) -> Result<ExitCode, String> {
    let project = crate::project::open(file)?;
    let report = match follow(project, Operation::PullMlflow(Box::new(request)))? {
        Outcome::Pulled(report) => report,
        other => return Err(crate::project::unexpected("the pull", &other)),
    };
    print(serde_json::to_value(&*report), &report.summary(), json)?;
    Ok(ExitCode::SUCCESS)
}

/// A report on stdout: its JSON, or its summary.
fn print(
    report: serde_json::Result<serde_json::Value>,
    summary: &str,
    json: bool,
) -> Result<(), String> {
    if json {
        let text = report
            .and_then(|r| serde_json::to_string_pretty(&r))
            .map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        println!("{summary}");
    }
    Ok(())
}

/// Runs `operation` on a thread of its own, showing its progress on stderr at most twice a
/// second; Ctrl-C stops it between requests.
fn follow(mut project: kiln_core::Project, operation: Operation) -> Result<Outcome, String> {
    let (events, rx) = EventSink::channel();
    let options = TrainOptions {
        events,
        ..Default::default()
    };
    crate::signals::install(crate::signals::OnInterrupt::Cancel(options.cancel.clone()));
    let worker = std::thread::spawn(move || operation.run(&mut project, &options));
    let live = std::io::stderr().is_terminal();
    let mut shown = Instant::now() - Duration::from_secs(1);
    let mut last = None;
    for event in rx {
        if let Event::Sync(progress) = event {
            if shown.elapsed() >= Duration::from_millis(500) {
                crate::format::progress_line(&progress.line(), live);
                shown = Instant::now();
                last = None;
            } else {
                last = Some(progress);
            }
        }
    }
    if let Some(progress) = last {
        crate::format::progress_line(&progress.line(), live);
    }
    if live {
        eprintln!();
    }
    worker
        .join()
        .map_err(|panic| {
            format!(
                "the sync stopped on an internal error ({}); the project is intact, and running the command again completes it",
                kiln_core::error::panic_text(panic.as_ref())
            )
        })?
        .map_err(|e| e.to_string())
}
