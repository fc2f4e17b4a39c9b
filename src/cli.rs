//! The command line: parses, calls `kiln-core`, and prints. No business logic lives here.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln_core::{Project, ProjectInfo, RunSummary};

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
    }
    Ok(ExitCode::SUCCESS)
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
    let rows: Vec<[String; 9]> = runs
        .iter()
        .map(|r| {
            [
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
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&header.map(String::from));
    rows.iter().for_each(|r| line(r));
    out
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
    }
}

fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_as_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_795_000_000_123), "2026-11-18 11:06:40 UTC");
    }

    #[test]
    fn formats_durations_and_sizes() {
        assert_eq!(format_duration(250), "250 ms");
        assert_eq!(format_duration(12_340), "12.3 s");
        assert_eq!(format_duration(125_000), "2m05s");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
