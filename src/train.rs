//! `kiln train` and `kiln resume`: run a study and show its progress as it goes.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kiln_core::events::{Event, EventSink};
use kiln_core::service::{Operation, Outcome};
use kiln_core::train::timings::Phase;
use kiln_core::train::{StudyOutcome, StudyRequest, StudyStatus, TrainOptions};
use kiln_core::{Project, StudyId};

pub fn train(
    file: &Path,
    request: StudyRequest,
    space_file: Option<&Path>,
    timings: bool,
) -> Result<ExitCode, String> {
    let started = Instant::now();
    let project = crate::project::open(file)?;
    // Settings that cannot work are refused before anything is written; what the space file
    // holds is refused naming that file.
    project.check_request(&request).map_err(|e| {
        use kiln_core::train::TrainError;
        let of_space = matches!(
            &e,
            kiln_core::Error::Train(
                TrainError::Space(_) | TrainError::EmptySpace | TrainError::TooManyTrials { .. }
            )
        );
        match space_file {
            Some(path) if of_space => format!("{}: {e}", path.display()),
            _ => e.to_string(),
        }
    })?;
    let timings = timings.then_some(started);
    follow(file, project, Operation::Train(Box::new(request)), timings)
}

pub fn resume(file: &Path, study: i64) -> Result<ExitCode, String> {
    let project = crate::project::open(file)?;
    follow(file, project, Operation::Resume(StudyId(study)), None)
}

/// Runs `operation` on a thread of its own and prints its events until it ends. Ctrl-C
/// cancels it. With `timings` (when the command started), it then says where the time went.
fn follow(
    file: &Path,
    mut project: Project,
    operation: Operation,
    timings: Option<Instant>,
) -> Result<ExitCode, String> {
    let (events, rx) = EventSink::channel();
    let options = TrainOptions {
        events,
        ..Default::default()
    };
    let phases = options.timings.clone();
    let study_started = Instant::now();
    crate::signals::install(crate::signals::OnInterrupt::Cancel(options.cancel.clone()));
    let worker = std::thread::spawn(move || operation.run(&mut project, &options));
    let mut progress = Progress::new(std::io::stdout().is_terminal());
    for event in rx {
        progress.show(&event);
    }
    let outcome = worker.join().map_err(|panic| {
        format!(
            "training stopped on an internal error ({}); the project is intact, and `kiln resume {} STUDY` continues the study",
            kiln_core::error::panic_text(panic.as_ref()),
            file.display()
        )
    })?;
    let outcome = match outcome.map_err(|e| e.to_string())? {
        Outcome::Trained(outcome) => outcome,
        other => return Err(crate::project::unexpected("the study", &other)),
    };
    progress.clear();
    print_outcome(&outcome);
    if let Some(started) = timings {
        print_timings(started, study_started, &phases.report());
    }
    if outcome.status == StudyStatus::Cancelled {
        println!(
            "resume it with: kiln resume {} {}",
            file.display(),
            outcome.study
        );
        return Ok(ExitCode::from(crate::signals::INTERRUPTED));
    }
    if outcome.best.is_none() {
        return Err(format!(
            "study {}: no trial finished; the reasons are above, and `kiln runs {}` lists every run",
            outcome.study,
            file.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Turns events into lines: one per trial started and ended, and on a terminal a live status
/// line with the epoch and the latest validation score.
struct Progress {
    live: bool,
    trials: usize,
    trial_of_run: HashMap<i64, usize>,
    latest: HashMap<i64, (String, f64)>,
    /// The study's objective, as its start said.
    objective: String,
}

impl Progress {
    fn new(live: bool) -> Progress {
        Progress {
            live,
            trials: 0,
            trial_of_run: HashMap::new(),
            latest: HashMap::new(),
            objective: kiln_core::objective::DEFAULT_OBJECTIVE.into(),
        }
    }

    fn show(&mut self, event: &Event) {
        match event {
            Event::StudyStarted {
                study,
                trials,
                strategy,
                device,
                objective,
            } => {
                self.trials = *trials;
                self.objective = objective.clone();
                println!("study {study}: {trials} trials ({strategy} search) on {device}");
            }
            Event::Notice {
                message,
                gpu_on_request,
            } => {
                self.clear();
                let hint = if *gpu_on_request {
                    ". Force it with --device gpu"
                } else {
                    ""
                };
                println!("note: {message}{hint}");
            }
            Event::TrialStarted {
                trial, run, params, ..
            } => {
                self.trial_of_run.insert(run.0, *trial);
                let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.line(&format!(
                    "trial {}/{} (run {run}): {}",
                    trial + 1,
                    self.trials,
                    params.join(" ")
                ));
            }
            Event::Metric {
                run, key, value, ..
            } if *key == self.objective => {
                self.latest.insert(run.0, (key.clone(), *value));
            }
            Event::Progress {
                run,
                trial,
                epoch,
                epochs,
            } if self.live => {
                let score = self
                    .latest
                    .get(&run.0)
                    .map(|(k, v)| format!("  {k} {v:.4}"))
                    .unwrap_or_default();
                print!(
                    "\r\x1b[2Ktrial {}/{}  epoch {epoch}/{epochs}{score}",
                    trial + 1,
                    self.trials
                );
                let _ = std::io::stdout().flush();
            }
            Event::TrialFinished {
                run,
                trial,
                status,
                objective,
                reason,
            } => {
                let score = objective
                    .map(|o| format!(", best objective {o:.4}"))
                    .unwrap_or_default();
                let why = reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                self.line(&format!(
                    "trial {}/{} (run {run}) {status}{score}{why}",
                    trial + 1,
                    self.trials
                ));
            }
            _ => {}
        }
    }

    fn line(&mut self, text: &str) {
        self.clear();
        println!("{text}");
    }

    fn clear(&mut self) {
        if self.live {
            print!("\r\x1b[2K");
            let _ = std::io::stdout().flush();
        }
    }
}

/// The phases of the command, with the part of the study that no phase covers (threads,
/// events, the study's own records) as "other".
fn print_timings(started: Instant, study_started: Instant, phases: &[(Phase, Duration)]) {
    let total = started.elapsed();
    let before = study_started.duration_since(started);
    let counted: Duration = phases.iter().map(|(_, d)| *d).sum();
    let other = total.saturating_sub(before + counted);
    println!("where the time went:");
    let share = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-9);
    let mut rows = vec![("open the project, check the request", before)];
    rows.extend(phases.iter().map(|(p, d)| (p.as_str(), *d)));
    rows.push(("other (threads, events, study records)", other));
    for (what, d) in rows {
        println!(
            "  {what:<40} {:>9.3} s {:>5.1} %",
            d.as_secs_f64(),
            share(d)
        );
    }
    println!(
        "  {:<40} {:>9.3} s",
        "total (after start-up)",
        total.as_secs_f64()
    );
}

fn print_outcome(outcome: &StudyOutcome) {
    let status = outcome.status;
    let kept = if outcome.kept > 0 {
        format!(", {} kept from before", outcome.kept)
    } else {
        String::new()
    };
    println!(
        "study {} {status}: {} trials, {} finished, {} failed{kept}; trained on {}",
        outcome.study, outcome.trials, outcome.finished, outcome.failed, outcome.device
    );
    match &outcome.best {
        Some(best) => {
            let params: Vec<String> = best
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let test = best
                .test_accuracy
                .map(|a| format!(", test accuracy {a:.4}"))
                .unwrap_or_default();
            println!(
                "best trial: {} (run {}), {} = {:.4}{test}\n  {}",
                best.trial + 1,
                best.run,
                outcome.objective.key,
                best.objective,
                params.join(" ")
            );
        }
        None => println!("no trial finished, so there is no best trial"),
    }
}
