//! `kiln-core`: the engine behind every face of Kiln (the egui workbench and the `kiln` CLI).
//!
//! It owns the project file and everything that happens to a project: data, features, training
//! and search, tracking, evaluation, the registry and export. Long work runs through the job
//! service in [`service`], the same for every face. It has no GUI dependency; faces call it and
//! present what it returns.

pub mod data;
pub mod demo;
pub mod error;
pub mod eval;
pub mod events;
pub mod export;
pub mod features;
pub mod lab;
pub mod logger;
pub mod mlflow;
pub mod monitor;
pub mod objective;
pub mod output;
pub mod registry;
pub mod replay;
pub mod rng;
pub mod score;
pub mod series;
pub mod service;
pub mod store;
pub mod tracking;
pub mod train;

pub use error::{Error, Result};
pub use logger::RunLogger;
pub use objective::{Direction, Objective};
pub use store::{BlobHash, OpenMode, Project, ProjectInfo, StoreError};
pub use tracking::{
    ExperimentId, MetricPoint, MetricSummary, RunColumns, RunId, RunRow, RunSpec, RunStatus,
    RunSummary, StudyId,
};

/// The version of Kiln that is writing, recorded in every project file it touches.
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Kiln's folder of one XDG kind: `$VAR/kiln`, or `~/FALLBACK/kiln` when `VAR` is unset
/// (`kiln_dir("XDG_CONFIG_HOME", ".config")`); `None` without a home.
pub fn kiln_dir(var: &str, fallback: &str) -> Option<std::path::PathBuf> {
    let base = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(fallback)))?;
    Some(base.join("kiln"))
}

/// A TOML error as one line: `line 2, column 8: unexpected `=` in array`, where the parser's
/// own text draws the line and a caret over several.
pub fn toml_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {}", e.message().trim())
        }
        None => e.message().trim().to_owned(),
    }
}

/// Milliseconds since the Unix epoch: the wall-time unit of every timestamp in a project file,
/// as in MLflow.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`: how every face shows a timestamp.
pub fn format_utc(ms: i64) -> String {
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_toml_error_is_one_line_with_its_place() {
        let text = "learning_rate = [0.1,\nepochs = \"x\"\n";
        let e = toml::from_str::<toml::Table>(text).expect_err("bad toml");
        let message = super::toml_message(text, &e);
        assert!(message.starts_with("line 2, column "), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(super::format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            super::format_utc(951_782_400_000),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            super::format_utc(1_795_000_000_123),
            "2026-11-18 11:06:40 UTC"
        );
        assert_eq!(super::format_utc(-1_000), "1969-12-31 23:59:59 UTC");
    }
}
