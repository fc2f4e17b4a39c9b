//! Sync with an MLflow tracking server: push a project's runs, studies and registered models to
//! it, and pull an experiment's runs back, over MLflow's REST API.
//!
//! - **Push** creates, per study, a parent run whose trials are child runs
//!   (`mlflow.parentRunId`), with every param, tag and metric point, a card per run, and for
//!   registered versions the ONNX model and `pipeline.json`, then the versions and their aliases.
//! - **Idempotent.** Every object Kiln creates carries the tag `kiln.key`, and the project file
//!   remembers what each Kiln object became on the server (`mlflow_links`). Pushing again sends
//!   only what is missing; a lost record is rebuilt from the tags.
//! - **Resumable.** A run is created `RUNNING` and set `FINISHED` (or its real status) only after
//!   all of its points and files are on the server; a push killed halfway is completed by the next
//!   one, which first reads back what the server already has of an unfinished run.
//! - **Pull** brings an experiment's runs in as read-only runs marked with their server.
//!
//! MLflow truncates over-long keys and values without a word; Kiln checks them against
//! [`Limits`] first and refuses, naming each one.

mod batch;
mod client;
mod pull;
mod push;

use serde::Serialize;

pub use batch::{Limits, MetricBatcher, check_limits};
pub use client::{Client, authorization_from_env, base64, normalize_url};
pub use pull::{PullReport, PullRequest};
pub use push::{PushReport, PushRequest};

/// The tag on every run and model version Kiln creates: what it is in Kiln.
pub const KEY_TAG: &str = "kiln.key";

/// A failure to sync, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{url:?} is not a tracking server address Kiln can use: {why}")]
    BadUrl { url: String, why: String },

    #[error(
        "cannot reach the MLflow server at {url} ({detail}). Check that it runs (for example `mlflow server --host 127.0.0.1 --port 5000`) and that the address and port are right"
    )]
    Unreachable { url: String, detail: String },

    #[error(
        "{url} answered {endpoint} with something other than MLflow's JSON ({body:?}): is this address an MLflow tracking server?"
    )]
    NotMlflow {
        url: String,
        endpoint: String,
        body: String,
    },

    #[error("{}", login_advice(url, *had_credentials))]
    LoginNeeded { url: String, had_credentials: bool },

    #[error("{}", forbidden_advice(url, host, message, *had_credentials))]
    Forbidden {
        url: String,
        host: String,
        message: String,
        had_credentials: bool,
    },

    #[error(
        "the server at {url} runs MLflow {found}; Kiln needs MLflow 2.3 or newer (registered-model aliases came in 2.3). Upgrade the server, or push without --models"
    )]
    TooOld { url: String, found: String },

    #[error(
        "run {run:?} has the param {key:?} = {ours:?} here, but the server already holds another value for it, and MLflow never changes a param. Push into another experiment (--experiment NAME), or delete that run on the server and push again"
    )]
    ParamChanged {
        run: String,
        key: String,
        ours: String,
    },

    #[error(
        "nothing was sent: MLflow would cut these short without a word: {}. Shorten them in Kiln (rename the metric or param) and push again",
        .0.join("; ")
    )]
    TooLong(Vec<String>),

    #[error(
        "the experiment {name:?} on {url} is deleted; restore it there (`mlflow experiments restore`) or push into another name with --experiment"
    )]
    ExperimentDeleted { url: String, name: String },

    #[error("there is no experiment {name:?} on {url}{}", known_names(known))]
    NoExperiment {
        url: String,
        name: String,
        known: Vec<String>,
    },

    #[error("{0}")]
    Selection(String),

    #[error("the pull was cancelled before anything was written; the project is as it was")]
    Cancelled,

    #[error("{url} refused {endpoint} ({status} {code}): {message}")]
    Server {
        url: String,
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },

    #[error("{0}")]
    Internal(String),
}

fn login_advice(url: &str, had_credentials: bool) -> String {
    if had_credentials {
        format!(
            "the server at {url} did not accept the login (401): check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        )
    } else {
        format!(
            "the server at {url} needs a login (401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN, as for MLflow's own client, and try again"
        )
    }
}

fn forbidden_advice(url: &str, host: &str, message: &str, had_credentials: bool) -> String {
    let lower = message.to_lowercase();
    if lower.contains("permission") && had_credentials {
        return format!(
            "the server at {url} refused (403): the user logged in lacks permission ({message}); ask its administrator for edit rights on the experiment"
        );
    }
    format!(
        "the server at {url} refused the request (403 Forbidden: {message}). MLflow 3 accepts only the host names it was started for: start it with `--allowed-hosts {host}` (and `--cors-allowed-origins` for browsers), or reach it by a name it allows, such as localhost"
    )
}

fn known_names(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!("; it has: {}", known.join(", "))
    }
}

/// Which runs a push sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RunSelection {
    /// Every run trained in this project (pulled runs stay behind).
    #[default]
    All,
    /// The trials of one study.
    Study(i64),
    /// Runs by id.
    Ids(Vec<i64>),
}

impl std::str::FromStr for RunSelection {
    type Err = String;

    /// `all`, `study:N`, or ids and ranges: `3,5,7-9`.
    fn from_str(s: &str) -> Result<RunSelection, String> {
        let s = s.trim();
        if s.is_empty() || s == "all" {
            return Ok(RunSelection::All);
        }
        let bad = || {
            format!(
                "{s:?} is not a run selection: use all, study:N, or run ids and ranges such as 3,5,7-9"
            )
        };
        if let Some(study) = s.strip_prefix("study:") {
            return study
                .trim()
                .parse()
                .map(RunSelection::Study)
                .map_err(|_| bad());
        }
        let mut ids = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (i64, i64) = (
                        a.trim().parse().map_err(|_| bad())?,
                        b.trim().parse().map_err(|_| bad())?,
                    );
                    if b < a || b - a > 1_000_000 {
                        return Err(bad());
                    }
                    ids.extend(a..=b);
                }
                None => ids.push(part.parse().map_err(|_| bad())?),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(RunSelection::Ids(ids))
    }
}

/// Progress of a push or a pull, for the event stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncProgress {
    /// `push` or `pull`.
    pub direction: String,
    pub runs_done: u64,
    pub runs_total: u64,
    pub points_done: u64,
    pub points_total: u64,
    pub elapsed_ms: u64,
}

impl SyncProgress {
    /// Points per second so far.
    pub fn rate(&self) -> f64 {
        self.points_done as f64 / (self.elapsed_ms.max(1) as f64 / 1000.0)
    }

    /// "12/40 runs, 120,000/400,000 points, 85,000 points/s".
    pub fn line(&self) -> String {
        format!(
            "{}: {}/{} runs, {}/{} points, {:.0} points/s",
            self.direction,
            self.runs_done,
            self.runs_total,
            self.points_done,
            self.points_total,
            self.rate()
        )
    }
}

/// MLflow's name for a Kiln run status.
pub(crate) fn mlflow_status(status: &str) -> &'static str {
    match status {
        "finished" => "FINISHED",
        "failed" => "FAILED",
        "killed" | "cancelled" => "KILLED",
        _ => "RUNNING",
    }
}

#[cfg(test)]
mod tests;
