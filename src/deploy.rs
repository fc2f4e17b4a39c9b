//! `kiln replay`: traffic through two versions of a model, shadow or A/B, with a verdict.

use std::path::Path;
use std::process::ExitCode;

use kiln_core::registry::VersionSelector;
use kiln_core::replay::{Decision, ReplayMode, ReplayPhase, ReplayReport, ReplayRequest};
use kiln_core::service::{Operation, Outcome};

use crate::project::{open_read_only, unexpected};

/// The flags of `kiln replay`.
pub struct ReplayArgs {
    pub a: Option<String>,
    pub b: Option<String>,
    pub mode: ReplayMode,
    pub split: f64,
    pub seed: u64,
    pub key: Option<String>,
    pub alpha: f64,
    pub promote: bool,
    pub list: bool,
    pub json: bool,
}

/// The exit status when B should be promoted and was not: a script can act on it.
pub const PROMOTE_SUGGESTED: u8 = 3;

pub fn replay(file: &Path, traffic: Option<&Path>, args: ReplayArgs) -> Result<ExitCode, String> {
    let a = args
        .a
        .as_deref()
        .ok_or("name the version in service with --a MODEL@ALIAS (say --a penguins@champion)")?;
    let (model, a_selector) = VersionSelector::parse(a)?;
    if args.list {
        return list(file, &model, args.json);
    }
    let b = args
        .b
        .as_deref()
        .ok_or("name the candidate with --b MODEL@ALIAS (say --b penguins@challenger)")?;
    let (b_model, b_selector) = VersionSelector::parse(b)?;
    if b_model != model {
        return Err(format!(
            "--a names {model} and --b names {b_model}: a replay compares two versions of one model"
        ));
    }
    let traffic = traffic.ok_or("name the traffic CSV to replay")?;
    let request = ReplayRequest {
        mode: args.mode,
        split: args.split,
        seed: args.seed,
        key: args.key,
        alpha: args.alpha,
        promote: args.promote,
        ..ReplayRequest::new(&model, a_selector, b_selector, traffic.to_owned())
    };
    // Ctrl-C stops the scoring at its next batch; nothing is stored then.
    let mut options = kiln_core::train::TrainOptions::default();
    crate::signals::install(crate::signals::OnInterrupt::Cancel(options.cancel.clone()));
    if !args.json {
        // Progress on stderr, five times a second at most, so that stdout stays the report.
        let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let last = std::sync::Mutex::new(std::time::Instant::now());
        options.events.on_event(std::sync::Arc::new(move |event| {
            if let kiln_core::events::Event::Replay(progress) = event
                && let Ok(mut last) = last.lock()
                && (last.elapsed().as_millis() >= 200 || progress.phase == ReplayPhase::Latency)
            {
                *last = std::time::Instant::now();
                let line = progress.line();
                crate::format::progress_line(&line, live);
                if progress.phase == ReplayPhase::Latency && live {
                    eprintln!();
                }
            }
        }));
    }
    let mut project = crate::project::open(file)?;
    let report = match Operation::Replay(Box::new(request)).run(&mut project, &options) {
        Ok(Outcome::Replayed(report)) => report,
        Ok(other) => return Err(unexpected("the replay", &other)),
        Err(kiln_core::Error::Train(kiln_core::train::TrainError::Cancelled)) => {
            println!("replay cancelled: nothing was stored, and the aliases are as they were");
            return Ok(ExitCode::from(crate::signals::INTERRUPTED));
        }
        Err(e) => return Err(e.to_string()),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", format_report(&report));
    }
    Ok(
        if report.verdict.decision == Decision::Promote && report.promoted.is_none() {
            ExitCode::from(PROMOTE_SUGGESTED)
        } else {
            ExitCode::SUCCESS
        },
    )
}

fn list(file: &Path, model: &str, json: bool) -> Result<ExitCode, String> {
    let project = open_read_only(file)?;
    let reports = project.replays(model).map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).map_err(|e| e.to_string())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if reports.is_empty() {
        println!(
            "{model} has no replay reports: run kiln replay FILE TRAFFIC.csv --a {model}@champion --b {model}@challenger"
        );
    }
    for r in &reports {
        println!(
            "#{} {} v{} against v{} on {} ({} rows): {}{}",
            r.id,
            r.mode,
            r.a.version,
            r.b.version,
            r.traffic,
            r.scored,
            r.verdict.decision.as_str(),
            r.promoted
                .as_ref()
                .map(|a| format!(", promoted to @{a}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn version_name(arm: &kiln_core::replay::Arm) -> String {
    match &arm.alias {
        Some(alias) => format!("v{} (@{alias})", arm.version),
        None => format!("v{}", arm.version),
    }
}

pub fn format_report(r: &ReplayReport) -> String {
    let mut out = String::new();
    let mode = match r.mode {
        ReplayMode::Shadow => "shadow".to_string(),
        ReplayMode::Ab => format!("A/B, {:.0} % to B", r.split * 100.0),
    };
    out.push_str(&format!(
        "replay #{} of {} ({mode}) on {}: {} rows, {} scored, {} refused\n",
        r.id, r.model, r.traffic, r.rows, r.scored, r.refused_rows
    ));
    for row in r.refused.iter().take(5) {
        out.push_str(&format!("  refused line {}: {}\n", row.line, row.reason));
    }
    if r.refused_rows > 5 {
        out.push_str(&format!(
            "  ... and {} more refused rows\n",
            r.refused_rows - 5
        ));
    }
    for (name, arm) in [("A", &r.a), ("B", &r.b)] {
        out.push_str(&format!(
            "  {name} {}: {} rows, {}, {:.0} rows/s\n",
            version_name(arm),
            arm.rows,
            match arm.accuracy {
                Some(acc) => format!("accuracy {acc:.4} on {} labelled", arm.labelled),
                None => "no labels".into(),
            },
            arm.rows_per_second
        ));
        for l in &arm.latency {
            out.push_str(&format!(
                "    batch {:>2}: p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms ({:.1} µs a row at p50)\n",
                l.batch, l.p50_ms, l.p95_ms, l.p99_ms, l.per_row_p50_us
            ));
        }
    }
    if let Some(g) = &r.agreement {
        out.push_str(&format!(
            "  disagreement: {} of {} rows ({:.2} %)\n",
            g.disagreements,
            g.rows,
            g.rate * 100.0
        ));
        let worst = g.worst();
        for d in worst.iter().take(5) {
            out.push_str(&format!(
                "    {}: {} of {} rows\n",
                d.group, d.disagreements, d.rows
            ));
        }
    }
    if let Some(p) = &r.paired {
        out.push_str(&format!(
            "  on {} labelled rows: both right {}, only A right {}, only B right {}, both wrong {}\n  McNemar: exact p {:.4}, mid-p {:.4}\n",
            p.rows,
            p.both_right,
            p.only_a_right,
            p.only_b_right,
            p.both_wrong,
            p.mcnemar.p_exact,
            p.mcnemar.p_mid
        ));
    }
    if let Some(t) = &r.arms {
        out.push_str(&format!(
            "  two-proportion z-test: z {:.3}, p {:.4}\n",
            t.z, t.p
        ));
    }
    if let Some(i) = &r.interval {
        out.push_str(&format!(
            "  B - A accuracy: {:+.4}, {:.0} % bootstrap interval [{:+.4}, {:+.4}] ({} resamples)\n",
            i.difference,
            i.level * 100.0,
            i.low,
            i.high,
            i.resamples
        ));
    }
    out.push_str(&format!(
        "verdict: {} ({})\n  rule: {}\n",
        r.verdict.decision.as_str().to_uppercase(),
        r.verdict.reason,
        r.verdict.rule
    ));
    match (&r.promoted, r.verdict.decision) {
        (Some(alias), _) => out.push_str(&format!(
            "promoted: {}@{alias} now points at v{}\n",
            r.model, r.b.version
        )),
        (None, Decision::Promote) => match &r.a.alias {
            Some(alias) => out.push_str(&format!(
                "to promote: kiln alias FILE {} {alias} {} (or replay again with --promote)\n",
                r.model, r.b.version
            )),
            None => out.push_str(&format!(
                "to promote: point the alias in service at v{} with kiln alias FILE {} ALIAS {}\n",
                r.b.version, r.model, r.b.version
            )),
        },
        _ => {}
    }
    out
}
