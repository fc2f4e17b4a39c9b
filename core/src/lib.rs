//! `kiln-core`: the engine behind every face of Kiln (the egui workbench and the `kiln` CLI).
//!
//! It owns the project file and everything that happens to a project: tracking runs and their
//! metrics, and (as they land) data, training, evaluation, the registry, export and monitoring.
//! It has no GUI dependency; faces call it and present what it returns.

pub mod data;
pub mod demo;
pub mod error;
pub mod eval;
pub mod events;
pub mod export;
pub mod features;
pub mod lab;
pub mod logger;
pub mod registry;
pub mod rng;
pub mod score;
pub mod store;
pub mod tracking;
pub mod train;

pub use error::{Error, Result};
pub use logger::RunLogger;
pub use store::{BlobHash, OpenMode, Project, ProjectInfo, StoreError};
pub use tracking::{
    ExperimentId, MetricPoint, MetricSummary, RunId, RunRow, RunSpec, RunStatus, RunSummary,
    StudyId,
};

/// The version of Kiln that is writing, recorded in every project file it touches.
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Milliseconds since the Unix epoch: the wall-time unit of every timestamp in a project file,
/// as in MLflow.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
